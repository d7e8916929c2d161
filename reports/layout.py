"""Long documents in parts: plan the pages, lay the parts out in a process pool, join them.

One WeasyPrint process lays out a 1,000-row table in 9–10 s, almost all of it layout. So a
disclosure's project table is planned page by page here (rows estimated from the table's
column measures in ``static/print.css``), cut into parts of whole pages, and each part is laid
out in a worker process with its first page number passed in (``@page:first { counter-reset }``).
The parts are joined with pypdf. After layout each part's page count is compared with the plan;
if a row turned out taller than estimated, the whole document is laid out again in one piece
(slower, never wrong), so page numbers and the table of contents are always right.
"""

from __future__ import annotations

import atexit
import io
import logging
import math
import multiprocessing
import os
import unicodedata
from collections.abc import Callable, Iterable, Iterator, Sequence
from concurrent.futures import Executor, ProcessPoolExecutor
from contextlib import contextmanager
from dataclasses import dataclass, field, replace
from datetime import datetime
from typing import Any
from urllib.parse import unquote

from pypdf import PdfReader, PdfWriter
from pypdf.generic import ArrayObject, DictionaryObject, Fit, IndirectObject, NameObject, TextStringObject

from grantflow.reports.render import Rendered, html_to_pdf

# --- measures mirrored from print.css (table.projects) ----------------------------------------
PT_MM = 25.4 / 72
FONT_MM = 8 * PT_MM
LINE_MM = FONT_MM * 1.35
CODE_LINE_MM = 7 * PT_MM * 1.35
CELL_PAD_MM = 2 * 1.1 + 0.4  # padding above and below, borders
COLUMNS_MM = {"title": 58, "unit": 34, "kind": 26, "budget": 36, "state": 34, "targets": 41, "extra": 28}
PAGE_BODY_MM = 210 - 18 - 16  # A4 landscape less the page margins
HEADING_MM = 8 + 2
THEAD_MM = 2 * LINE_MM + CELL_PAD_MM
SAFETY = 0.95  # row estimates come out 0–2% above the laid-out rows (measured); a page keeps some slack
FRONT_PAGES = 3  # cover, contents, overview: one page each (print.css breaks after each)


def text_width_em(text: str) -> float:
    """Width in em of a line of text: CJK, full-width and ambiguous characters (◇, —, “) 1 em, as the
    CJK fonts draw them; others about 0.6 em."""
    return sum(1.0 if unicodedata.east_asian_width(ch) in ("W", "F", "A") else 0.6 for ch in text)


def lines_for(texts: Iterable[str], column_mm: float) -> int:
    """Lines a cell needs: each text is its own paragraph (list item or line break)."""
    per_line = (column_mm - 2 * 1.2) / FONT_MM
    return sum(max(1, math.ceil(text_width_em(t) / per_line)) for t in texts) or 1


def row_height_mm(cells: dict[str, list[str]]) -> float:
    """The tallest cell of the row. Only the title cell carries the project code's line above its
    text: counting that line in every cell (as an earlier estimate did) planned ~40% more pages
    than the rows fill (119 instead of ~85 for 1,000 projects)."""
    return (
        max(
            lines_for(texts, COLUMNS_MM[name]) * LINE_MM + (CODE_LINE_MM if name == "title" else 0)
            for name, texts in cells.items()
        )
        + CELL_PAD_MM
    )


@dataclass
class PlannedPage:
    lines: list[tuple[int, Any]] = field(default_factory=list)
    heading: str = ""
    anchor: str = ""


def plan_pages(
    groups: Sequence[tuple[str, str, Sequence[Any]]],
    cells: Callable[[Any], dict[str, list[str]]],
) -> list[PlannedPage]:
    """Pack rows into pages: each group (heading, anchor, rows) starts on a new page."""
    capacity = (PAGE_BODY_MM - HEADING_MM - THEAD_MM) * SAFETY
    pages: list[PlannedPage] = []
    n = 0
    for heading, anchor, rows in groups:
        page = PlannedPage(heading=heading, anchor=anchor)
        used = 0.0
        for row in rows:
            h = row_height_mm(cells(row))
            if page.lines and used + h > capacity:
                pages.append(page)
                page, used = PlannedPage(), 0.0
            n += 1
            page.lines.append((n, row))
            used += h
        pages.append(page)
    return pages


def split(pages: Sequence[PlannedPage], parts: int, *, head_start: int = 0) -> list[list[PlannedPage]]:
    """Whole pages in ``parts`` runs of nearly equal work, in order; the first run already carries
    ``head_start`` pages' worth of other work (the front matter)."""
    parts = max(1, min(parts, len(pages)))
    total = len(pages) + head_start
    out, start = [], 0
    for i in range(parts):
        end = len(pages) if i == parts - 1 else max(start, min(len(pages), round(total * (i + 1) / parts) - head_start))
        out.append(list(pages[start:end]))
        start = end
    return [p for p in out if p]


# --- rendering parts in worker processes --------------------------------------------------------


def render_part(html: str, first_page: int, variant: str | None, identifier: bytes | None) -> Rendered:
    """Lay out one part whose first page carries number ``first_page``; runs in a worker."""
    numbering = f"@page:first {{ counter-reset: page {int(first_page)} }}"
    return html_to_pdf(html, variant=variant, identifier=identifier, css=numbering)


def _warm() -> None:
    """Load WeasyPrint's fonts in a fresh worker, so the first real part does not pay for it."""
    render_part('<html lang="zh-CN"><body><p>预热 warm-up</p></body></html>', 1, None, None)


_POOL: ProcessPoolExecutor | None = None
_POOL_SIZE = 0


def pool(workers: int | None = None) -> ProcessPoolExecutor:
    """The shared worker pool (forkserver: safe beside threads, workers forked from a preloaded parent)."""
    global _POOL, _POOL_SIZE
    size = workers or min(2, os.cpu_count() or 1)
    if _POOL is None or size != _POOL_SIZE:
        shutdown_pool()
        ctx = multiprocessing.get_context("forkserver")
        ctx.set_forkserver_preload(["grantflow.reports.layout"])
        _POOL = ProcessPoolExecutor(max_workers=size, mp_context=ctx)
        _POOL_SIZE = size
        for f in [_POOL.submit(_warm) for _ in range(size)]:
            f.result()
    return _POOL


def shutdown_pool() -> None:
    global _POOL
    if _POOL is not None:
        _POOL.shutdown(wait=True, cancel_futures=True)
        _POOL = None


atexit.register(shutdown_pool)


@dataclass(frozen=True)
class Metadata:
    title: str
    author: str
    subject: str
    keywords: str
    created: datetime


ANCHOR_LINK = "grantflow-anchor:"
"""How a part links to a section: WeasyPrint drops a link to an anchor that is not in the same
part, so a part's contents link to ``grantflow-anchor:<id>`` instead, and ``join`` turns each into
a link to the named destination ``<id>`` of the joined document (pypdf merges the parts' names)."""


@dataclass(frozen=True)
class OutlineEntry:
    level: int
    title: str
    page: int  # 0-based, in the joined document
    fit: Fit


def outline_entries(reader: PdfReader, first_page: int = 0) -> list[OutlineEntry]:
    """A PDF's bookmarks in reading order with their depth (1 = top), pages counted from ``first_page``."""
    out: list[OutlineEntry] = []

    def walk(items: list[Any], level: int) -> None:
        for item in items:
            if isinstance(item, list):
                walk(item, level + 1)
                continue
            page = reader.get_destination_page_number(item)
            if page is not None and page >= 0:
                fit = Fit.xyz(item.left, item.top, item.zoom) if item.typ == "/XYZ" else Fit.fit()
                out.append(OutlineEntry(level, str(item.title), first_page + page, fit))

    walk(reader.outline, 1)
    return out


def join(parts: Sequence[Rendered], meta: Metadata) -> bytes:
    """One PDF from the parts, in order. The first part is the base (its XMP metadata and output
    intent, which a PDF/A variant carries, are kept); the information dictionary and language are
    set. The bookmarks are made again from all parts', as one tree: a group whose heading is laid
    out in one part sits under its section even when that section's bookmark is in an earlier part
    (appended as they come, each part's would stand at the top level on its own)."""
    readers = [PdfReader(io.BytesIO(part.pdf)) for part in parts]
    outline: list[OutlineEntry] = []
    first = 0
    for part, reader in zip(parts, readers, strict=True):
        entries = outline_entries(reader, first)
        if len(entries) == len(part.bookmark_levels):
            entries = [replace(e, level=level) for e, level in zip(entries, part.bookmark_levels, strict=True)]
        outline += entries
        first += len(reader.pages)
    with _quiet_clone_warning():
        writer = PdfWriter(clone_from=readers[0])
    writer._root_object.pop(NameObject("/Outlines"), None)
    for reader in readers[1:]:
        writer.append(reader, import_outline=False)
    _add_outline(writer, outline)
    _resolve_anchor_links(writer)
    stamp = "D:" + meta.created.strftime("%Y%m%d%H%M%S") + _offset(meta.created)
    writer.add_metadata(
        {
            "/Title": meta.title,
            "/Author": meta.author,
            "/Subject": meta.subject,
            "/Keywords": meta.keywords,
            "/Creator": "grantflow",
            "/Producer": "grantflow (WeasyPrint, pypdf)",
            "/CreationDate": stamp,
            "/ModDate": stamp,
        }
    )
    writer._root_object[NameObject("/Lang")] = TextStringObject("zh-CN")
    out = io.BytesIO()
    writer.write(out)
    return out.getvalue()


def _add_outline(writer: PdfWriter, entries: Sequence[OutlineEntry]) -> None:
    parents: list[tuple[int, IndirectObject]] = []  # the open bookmarks above the next one, by depth
    for entry in entries:
        while parents and parents[-1][0] >= entry.level:
            parents.pop()
        ref = writer.add_outline_item(
            title=entry.title, page_number=entry.page, parent=parents[-1][1] if parents else None, fit=entry.fit
        )
        parents.append((entry.level, ref))


def _resolve_anchor_links(writer: PdfWriter) -> None:
    """Each ``grantflow-anchor:`` link becomes a link to its named destination; a link to a name
    no part has is removed rather than left pointing nowhere."""
    names = set(writer.named_destinations)
    for page in writer.pages:
        annots = page.get("/Annots")
        if annots is None:
            continue
        kept = ArrayObject()
        for ref in annots.get_object():
            annot = ref.get_object()
            action = annot.get("/A")
            uri = str(action.get_object().get("/URI", "")) if action is not None else ""
            if uri.startswith(ANCHOR_LINK):
                name = unquote(uri.removeprefix(ANCHOR_LINK))
                if name not in names:
                    continue
                annot[NameObject("/A")] = DictionaryObject(
                    {NameObject("/S"): NameObject("/GoTo"), NameObject("/D"): TextStringObject(name)}
                )
            kept.append(ref)
        page[NameObject("/Annots")] = kept


@contextmanager
def _quiet_clone_warning() -> Iterator[None]:
    """pypdf warns that a clone holds more objects than its source's trailer counts: it made new
    ones of its own while copying, so the warning says nothing about our PDFs; other warnings pass."""
    log = logging.getLogger("pypdf._writer")

    def keep(record: logging.LogRecord) -> bool:
        return not record.getMessage().startswith("Object count")

    log.addFilter(keep)
    try:
        yield
    finally:
        log.removeFilter(keep)


def _offset(moment: datetime) -> str:
    delta = moment.utcoffset()
    if delta is None:
        return "Z"
    minutes = int(delta.total_seconds() // 60)
    sign = "+" if minutes >= 0 else "-"
    return f"{sign}{abs(minutes) // 60:02d}'{abs(minutes) % 60:02d}'"


def render_parts(
    parts: Sequence[tuple[str, int]],
    *,
    variant: str | None,
    identifier: bytes | None,
    executor: Executor | None,
) -> list[Rendered]:
    """Each (html, first page number) laid out; in ``executor`` when given, else here."""
    if executor is None or len(parts) == 1:
        return [render_part(html, first, variant, identifier) for html, first in parts]
    futures = [executor.submit(render_part, html, first, variant, identifier) for html, first in parts]
    return [f.result() for f in futures]
