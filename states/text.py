"""Bilingual text: every user-visible string exists in Simplified Chinese and English.

Texts that belong to a rule (a guard's reason, a state's label) sit beside the rule as
`Text` values, so the reason a user reads and the check that produced it cannot drift
apart. Interface strings of the web page live in its Babel catalogue instead.
"""

from __future__ import annotations

from typing import Literal, NamedTuple

Lang = Literal["zh", "en"]
LANGUAGES: tuple[Lang, ...] = ("zh", "en")
DEFAULT_LANG: Lang = "zh"


def normalise_lang(value: str | None) -> Lang:
    """Map any language tag (``zh-CN``, ``en_GB``, ``EN``) to a supported language."""
    if value and value.strip().lower().startswith("en"):
        return "en"
    return "zh"


class Text(NamedTuple):
    zh: str
    en: str

    def get(self, lang: str | None = None) -> str:
        return self.en if normalise_lang(lang) == "en" else self.zh

    def format(self, **values: object) -> Text:
        return Text(self.zh.format(**values), self.en.format(**values))

    def as_dict(self) -> dict[str, str]:
        return {"zh": self.zh, "en": self.en}


def join(texts: list[Text], sep_zh: str = "；", sep_en: str = "; ") -> Text:
    return Text(sep_zh.join(t.zh for t in texts), sep_en.join(t.en for t in texts))
