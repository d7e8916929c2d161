"""HTML to PDF, safely: autoescaped Jinja2 templates, print CSS from static files, and a URL
fetcher that serves only this package's own assets.

User-entered text (project titles, report bodies) reaches the page only through autoescaped
template variables, so it can never add markup or styles. WeasyPrint's default fetcher would
read any ``file://`` path and any ``http://`` address; ``AssetFetcher`` refuses everything that
is not a file under ``reports/static`` (real paths compared, so ``..`` and symbolic links
cannot leave it), and records what it refused.
"""

from __future__ import annotations

import gc
import io
import os
import threading
from collections.abc import Iterator, Mapping
from contextlib import contextmanager
from dataclasses import dataclass
from datetime import datetime
from pathlib import Path
from typing import Any
from urllib.parse import unquote, urlsplit

from jinja2 import Environment, FileSystemLoader, StrictUndefined
from markupsafe import Markup
from weasyprint import CSS, HTML
from weasyprint.document import Document as LaidOut
from weasyprint.text.fonts import FontConfiguration
from weasyprint.urls import URLFetcher, URLFetcherResponse

from grantflow.reports import charts, fonts
from grantflow.states.text import Text

HERE = Path(__file__).resolve().parent
TEMPLATES = HERE / "templates"
ASSETS = HERE / "static"

PDF_VARIANTS = ("pdf/a-1b", "pdf/a-2b", "pdf/a-2u", "pdf/a-3b", "pdf/a-3u", "pdf/a-4", "pdf/ua-1")
"""Archival variants WeasyPrint 70 writes that we offer (``GRANTFLOW_PUBLISH_PDF_VARIANT``)."""


class AssetFetcher(URLFetcher):
    """Serves files under ``root`` and nothing else: no other path, no network, no data URLs."""

    def __init__(self, root: Path = ASSETS, files: tuple[Path, ...] = ()) -> None:
        super().__init__(allowed_protocols={"file"}, allow_redirects=False, fail_on_errors=False)
        self.root = root.resolve()
        # single files outside the root that may be served too: the trimmed fonts (reports/fonts.py)
        self.files = frozenset(Path(os.path.realpath(f)) for f in files)
        self.served: list[str] = []
        self.refused: list[str] = []
        self._lock = threading.Lock()

    def fetch(self, url: str, headers: Mapping[str, str] | None = None) -> URLFetcherResponse:
        path = self._local_path(url)
        if path is None:
            with self._lock:
                self.refused.append(url)
            # a plain error: WeasyPrint leaves the resource out and goes on with the page
            raise ValueError(f"resource refused (only the report assets are served): {url[:200]}")
        with self._lock:
            self.served.append(url)
        mime = {".css": "text/css", ".svg": "image/svg+xml", ".png": "image/png", ".otf": "font/otf"}.get(
            path.suffix, ""
        )
        return URLFetcherResponse(url, path.read_bytes(), {"Content-Type": mime} if mime else None)

    def _local_path(self, url: str) -> Path | None:
        parts = urlsplit(url)
        if parts.scheme != "file" or parts.netloc not in ("", "localhost"):
            return None
        candidate = Path(os.path.realpath(unquote(parts.path)))
        if candidate in self.files and candidate.is_file():
            return candidate
        if not candidate.is_relative_to(self.root) or not candidate.is_file():
            return None
        return candidate


def _money(value: Any) -> str:
    """Yuan as 万元 with two decimals (the unit public tables use)."""
    if value is None or value == "":
        return "—"
    return f"{float(value) / 10_000:,.2f}"


def _date(value: datetime | None, fmt: str = "%Y年%m月%d日") -> str:
    return value.strftime(fmt) if value else ""


def environment() -> Environment:
    env = Environment(
        loader=FileSystemLoader(TEMPLATES),
        autoescape=True,  # every template, whatever its name: user text is never markup
        undefined=StrictUndefined,
        trim_blocks=True,
        lstrip_blocks=True,
    )
    env.filters["wan"] = _money
    env.filters["date_zh"] = _date
    env.globals["t"] = lambda text, lang="zh": text.get(lang) if isinstance(text, Text) else text
    env.globals["bar_chart"] = lambda *a, **k: Markup(charts.bar_chart(*a, **k))
    return env


_ENV: Environment | None = None


def get_environment() -> Environment:
    global _ENV
    if _ENV is None:
        _ENV = environment()
    return _ENV


def render_html(template: str, context: Mapping[str, Any]) -> str:
    return get_environment().get_template(template).render(**context)


@dataclass(frozen=True)
class Rendered:
    pdf: bytes
    pages: int
    refused: tuple[str, ...] = ()
    bookmark_levels: tuple[int, ...] = ()
    """The ``bookmark-level`` of each of the PDF's bookmarks, in order. Its outline nests them, but a
    part of a longer document whose first bookmark is a subsection has it at the top: joining the
    parts (reports/layout.py) needs the levels the style sheet gave."""


_LOCAL = threading.local()


def font_config(faces: tuple[Path, ...]) -> FontConfiguration:
    """This thread's font configuration for the trimmed fonts ``faces``, shared by every document
    it lays out: their ``@font-face`` files are copied and scanned by fontconfig once, not once per
    document. Other faces (rebuilt, or gone) get a fresh configuration, so a font once loaded is
    never used after it was removed."""
    cached: tuple[tuple[Path, ...], FontConfiguration] | None = getattr(_LOCAL, "font_config", None)
    if cached is None or cached[0] != faces:
        cached = (faces, FontConfiguration())
        _LOCAL.font_config = cached
    return cached[1]


PRINT_CSS = ASSETS / "print.css"


def stylesheets(faces: tuple[tuple[fonts.Face, Path], ...], config: FontConfiguration) -> tuple[CSS, CSS]:
    """print.css and the ``@font-face`` rules of the trimmed fonts ``faces``, parsed once per
    thread and font configuration, and again when print.css changes. Parsing them took ~55 ms of
    every document (a 3-page report lays out in ~250 ms); a parsed stylesheet is only read when
    it is applied, so every document of the thread can share it."""
    stat = PRINT_CSS.stat()
    key = (faces, id(config), stat.st_mtime_ns, stat.st_size)
    cached: tuple[Any, tuple[CSS, CSS]] | None = getattr(_LOCAL, "stylesheets", None)
    if cached is None or cached[0] != key:
        # the font files come through a fetcher of their own: a document's fetcher still serves
        # only the assets (and records what the document itself asked for)
        font_fetcher = AssetFetcher(files=tuple(path for _, path in faces))
        base = ASSETS.as_uri() + "/"
        sheets = (
            CSS(filename=str(PRINT_CSS), base_url=base, url_fetcher=AssetFetcher(), font_config=config),
            CSS(string=fonts.font_face_css(faces), base_url=base, url_fetcher=font_fetcher, font_config=config),
        )
        cached = (key, sheets)
        _LOCAL.stylesheets = cached
    return cached[1]


def lay_out(html: str, *, fetcher: AssetFetcher, css: str = "") -> LaidOut:
    """Lay out ``html`` with print.css, the trimmed CJK fonts when they are built
    (reports/fonts.py) and ``css`` (our own rules, never user text)."""
    faces = tuple(fonts.available())
    config = font_config(tuple(path for _, path in faces))
    sheets: list[CSS] = list(stylesheets(faces, config))
    if css:
        sheets.append(CSS(string=css, base_url=ASSETS.as_uri() + "/", url_fetcher=AssetFetcher(), font_config=config))
    document = HTML(string=html, base_url=ASSETS.as_uri() + "/", url_fetcher=fetcher)
    return document.render(stylesheets=sheets, font_config=config)


_GC_LOCK = threading.Lock()
_GC_PAUSES = 0
_GC_WAS_ENABLED = True


@contextmanager
def gc_paused() -> Iterator[None]:
    """Python's cycle collector off while a document is laid out and written, back as it was (and
    run once) when the last render of the process ends. A layout builds hundreds of thousands of
    boxes, styles and text objects, nearly all alive until the PDF is written, so every full
    collection on the way rescans them for nothing: measured on a 250-project disclosure, 15–25%
    of its CPU time, for ~7 MiB more at the peak. Counted, because the web process may render in
    several threads and the collector is one switch for the whole process."""
    global _GC_PAUSES, _GC_WAS_ENABLED
    with _GC_LOCK:
        _GC_PAUSES += 1
        if _GC_PAUSES == 1:
            _GC_WAS_ENABLED = gc.isenabled()
            gc.disable()
    try:
        yield
    finally:
        with _GC_LOCK:
            _GC_PAUSES -= 1
            restore = _GC_PAUSES == 0 and _GC_WAS_ENABLED
            if restore:
                gc.enable()
        if restore:
            gc.collect(0)


def html_to_pdf(
    html: str,
    *,
    variant: str | None = None,
    identifier: bytes | None = None,
    fetcher: AssetFetcher | None = None,
    css: str = "",
) -> Rendered:
    """Lay out and write one document. ``identifier`` makes the PDF's file id repeatable."""
    fetch = fetcher or AssetFetcher()
    out = io.BytesIO()
    with gc_paused():
        document = lay_out(html, fetcher=fetch, css=css)
        document.write_pdf(out, pdf_variant=variant or None, pdf_identifier=identifier)
        pages = len(document.pages)
        levels = tuple(int(level) for page in document.pages for level, *_ in page.bookmarks)
        del document
    return Rendered(out.getvalue(), pages, tuple(fetch.refused), levels)


def render_pdf(
    template: str,
    context: Mapping[str, Any],
    *,
    variant: str | None = None,
    identifier: bytes | None = None,
    fetcher: AssetFetcher | None = None,
) -> Rendered:
    return html_to_pdf(render_html(template, context), variant=variant, identifier=identifier, fetcher=fetcher)
