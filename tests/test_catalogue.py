"""Every interface string a template marks for translation has its English in the Babel catalogue."""

from __future__ import annotations

import re
from pathlib import Path

from babel.messages.pofile import read_po

WEB = Path(__file__).resolve().parent.parent / "web"
MARKED = re.compile(r"""_\(\s*(["'])(.+?)\1""")


def test_every_marked_template_string_has_an_english_translation() -> None:
    translated: set[str] = set()
    for po in (WEB / "translations" / "en" / "LC_MESSAGES").glob("*.po"):
        with po.open("rb") as fh:
            translated |= {str(m.id) for m in read_po(fh, locale="en") if m.id and m.string}
    missing = [
        f"{template.relative_to(WEB)}: {text}"
        for template in sorted((WEB / "templates").rglob("*.html"))
        for _, text in MARKED.findall(template.read_text(encoding="utf-8"))
        if text not in translated
    ]
    assert missing == []
