"""Bilingual text: every user-visible string exists in Simplified Chinese and English.

Texts that belong to a rule (a guard's reason, a state's label) sit beside the rule as
`Text` values, so the reason a user reads and the check that produced it cannot drift
apart. Interface strings of the web page live in its Babel catalogue instead.
"""

from __future__ import annotations

import re
import unicodedata
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


# Characters that change how text is shown without being seen: bidirectional controls (an RTL
# override turns "exe.pdf" around), zero-width spaces and joiners, the byte-order mark, invisible
# operators and the soft hyphen. A title or a name carrying them can impersonate another.
HIDDEN = frozenset(
    "\u00ad\u061c\u180e\u200b\u200c\u200d\u200e\u200f\u202a\u202b\u202c\u202d\u202e"
    "\u2060\u2061\u2062\u2063\u2064\u2066\u2067\u2068\u2069\ufeff"
)
_SPACES = re.compile(r"\s+")


def _visible(ch: str, *, keep: str) -> bool:
    if ch in keep:
        return True
    if ch in HIDDEN:
        return False
    # controls, format characters and lone surrogates (which no encoding can store)
    return unicodedata.category(ch) not in ("Cc", "Cf", "Cs")


def clean_line(value: str) -> str:
    """A name or a title as stored: NFC, no hidden or control characters, one space between words.

    The one normalisation every form field and service applies to single-line text.
    """
    text = unicodedata.normalize("NFC", value.replace("\t", " ").replace("\n", " ").replace("\r", " "))
    text = "".join(ch for ch in text if _visible(ch, keep=""))
    return _SPACES.sub(" ", text).strip()


def clean_text(value: str) -> str:
    """Longer text as stored: like ``clean_line`` but keeping line breaks and tabs."""
    text = unicodedata.normalize("NFC", value.replace("\r\n", "\n").replace("\r", "\n"))
    return "".join(ch for ch in text if _visible(ch, keep="\n\t")).strip()
