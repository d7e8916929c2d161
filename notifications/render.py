"""Rendering a message for one recipient: a Jinja2 template per kind and language.

Templates live in ``notifications/templates/<lang>/<name>.txt.j2`` with two blocks,
``subject`` and ``body``; e-mails are plain text, so autoescaping is off (the in-app page
escapes when it shows them).
"""

from __future__ import annotations

from dataclasses import dataclass
from functools import lru_cache
from pathlib import Path
from typing import Any

from jinja2 import Environment, FileSystemLoader, StrictUndefined

from grantflow.states.text import normalise_lang

TEMPLATES = Path(__file__).parent / "templates"


@dataclass(frozen=True)
class Rendered:
    title: str
    body: str


@lru_cache(maxsize=1)
def environment() -> Environment:
    # StrictUndefined: a template naming a value the context lacks fails loudly at dispatch
    # (the outbox row is retried and shows the error) instead of mailing a blank
    return Environment(
        loader=FileSystemLoader(TEMPLATES),
        autoescape=False,
        undefined=StrictUndefined,
        keep_trailing_newline=False,
        trim_blocks=True,
    )


def render(template: str, lang: str, context: dict[str, Any]) -> Rendered:
    tmpl = environment().get_template(f"{normalise_lang(lang)}/{template}.txt.j2")
    ctx = tmpl.new_context(context)
    title = "".join(tmpl.blocks["subject"](ctx)).strip()
    body = "".join(tmpl.blocks["body"](ctx)).strip() + "\n"
    return Rendered(title=" ".join(title.split()), body=body)
