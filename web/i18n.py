"""Interface strings through Babel: msgids are Simplified Chinese (the default language), the
English catalogue translates them. Each area of the page keeps its own ``.po`` file in
``translations/en/LC_MESSAGES``; they are read at start-up and merged, so no compile step
is needed and no build artefact is committed."""

from __future__ import annotations

import gettext
from functools import lru_cache
from io import BytesIO
from pathlib import Path

from babel.messages.mofile import write_mo
from babel.messages.pofile import read_po
from babel.support import Translations

from grantflow.states.text import Lang

TRANSLATIONS = Path(__file__).parent / "translations"


@lru_cache(maxsize=4)
def translations(lang: Lang) -> gettext.NullTranslations:
    if lang == "zh":
        return gettext.NullTranslations()
    merged = Translations()
    for po in sorted((TRANSLATIONS / lang / "LC_MESSAGES").glob("*.po")):
        with po.open("rb") as fh:
            catalog = read_po(fh, locale=lang)
        buf = BytesIO()
        write_mo(buf, catalog)
        buf.seek(0)
        merged.merge(Translations(buf))
    return merged


def gettext_for(lang: Lang) -> gettext.NullTranslations:
    return translations(lang)
