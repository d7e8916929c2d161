"""The public documents: a disclosure (cover, contents, overview with charts, project tables,
notes) and a project's S&T report (basic-information sheet, main text, back matter)."""

from __future__ import annotations

import hashlib
from collections.abc import Mapping
from concurrent.futures import Executor
from dataclasses import dataclass
from datetime import datetime, timedelta
from typing import Any

from markupsafe import Markup

from grantflow.reports import charts, layout
from grantflow.reports.render import Rendered, render_html, render_pdf
from grantflow.services.disclosures import Disclosure, Line
from grantflow.services.st_reports import StReport
from grantflow.states.disclosure import KIND_LABELS
from grantflow.states.enums import LABELS, Category
from grantflow.states.text import Text

FRONT_COST_PAGES = 2
"""Layout time of the cover, contents and overview, in project-table pages. Measured with the
collector paused (``render.gc_paused``): a disclosure of 12 projects (front, three sparse table
pages, notes) takes 0.7 s and each further table page ~0.27 s, so the front costs about 1.5
pages; the 4 measured before left the first part ~0.7 s lighter than the others."""

SINGLE_PART_PAGES = 12
"""Documents up to this many planned pages are laid out in one piece (a pool would only add overhead)."""

PARTS = 4
"""Parts a long disclosure is cut into: twice the two workers of a 2-core machine. The pool hands
the next part to whichever worker is free, so a part that runs late (a busy core, a misjudged
front matter) no longer holds the whole document back: measured under load, 1,000 projects took
23–28 s in 4 parts against 40–42 s in 2. Each part embeds its own font subsets (~+100 KiB a part)."""

_CN_NUMBERS = "一二三四五六七八九十"
LIST_TITLE = "二、项目一览"


@dataclass(frozen=True)
class Document:
    pdf: bytes
    pages: int
    title: str
    parts: int = 1
    replanned: bool = False  # the plan was off and the document was laid out again in one piece
    refused: tuple[str, ...] = ()


def _identifier(*key: object) -> bytes:
    """A repeatable PDF file identifier: the same document renders to the same id."""
    return hashlib.sha256(":".join(str(k) for k in key).encode()).digest()[:16]


def _cells(line: Line) -> dict[str, list[str]]:
    budget = [f"{s.zh} {a / 10_000:,.2f}" for s, a in line.budget] or ["—"]
    extra = [x for x in (line.event.zh if line.event else "", "0000-00-00", line.note) if x]
    return {
        "title": [line.title],
        "unit": [line.unit],
        "kind": [line.category.zh, line.selection_mode.zh],
        "budget": budget,
        "state": [line.state.zh],
        "targets": [f"◇ {x}" for x in line.targets] + [f"◆ {x}" for x in line.results] or ["—"],
        "extra": extra,
    }


def _groups(d: Disclosure) -> list[tuple[str, str, list[Line]]]:
    by_category: dict[str, list[Line]] = {}
    for line in d.lines:
        key = next((c.value for c in Category if LABELS[c] == line.category), line.category.zh)
        by_category.setdefault(key, []).append(line)
    order = [c.value for c in Category] + sorted(k for k in by_category if k not in {c.value for c in Category})
    groups = []
    for i, key in enumerate(k for k in order if k in by_category):
        label = LABELS[Category(key)].zh if key in {c.value for c in Category} else key
        groups.append((f"{LIST_TITLE}　（{_CN_NUMBERS[i % 10]}）{label}", f"group-{i + 1}", by_category[key]))
    if not groups:
        groups.append((LIST_TITLE, "group-1", []))
    return groups


def _meta(d: Disclosure, issued_at: datetime) -> dict[str, str]:
    kind = KIND_LABELS[d.kind]
    return {
        "title": d.title.zh,
        "author": d.publisher.zh,
        "description": f"{d.programme.zh} {d.period.label().zh} {kind.zh}",
        "keywords": f"科技报告; 信息公开; {kind.zh}; {d.programme.zh}",
        "created": issued_at.isoformat(timespec="seconds"),
        "issued": issued_at.strftime("%Y年%m月%d日"),
        "header": f"{d.programme.zh} · {kind.zh}公开 · {d.period.label().zh}",
    }


def disclosure_pdf(
    d: Disclosure,
    *,
    issued_at: datetime,
    number: str,
    variant: str | None = None,
    executor: Executor | None = None,
    parts: int = PARTS,
) -> Document:
    """Render a disclosure; with an executor and enough pages, in ``parts`` pieces laid out in parallel."""
    meta = _meta(d, issued_at)
    groups = _groups(d)
    pages = layout.plan_pages(groups, _cells)
    first_body = layout.FRONT_PAGES + 1
    # a group's own name, without the list's: its entry in the contents and its bookmark
    group_labels = {anchor: heading.split("　")[-1] for heading, anchor, rows in groups if rows}
    group_pages: dict[str, int] = {}
    for i, page in enumerate(pages):
        if page.anchor:
            group_pages[page.anchor] = first_body + i
    notes_page = first_body + len(pages)
    toc = [
        {"title": "一、概述", "anchor": "overview", "page": layout.FRONT_PAGES, "sub": False},
        {"title": LIST_TITLE, "anchor": groups[0][1], "page": first_body, "sub": False},
        *[
            {"title": label, "anchor": anchor, "page": group_pages[anchor], "sub": True}
            for anchor, label in group_labels.items()
        ],
        {"title": "三、说明", "anchor": "notes", "page": notes_page, "sub": False},
    ]
    identifier = _identifier(d.kind, d.programme_id, d.period.key)
    context: dict[str, Any] = {
        "d": d,
        "meta": meta,
        "number": number,
        "kind_label": KIND_LABELS[d.kind],
        "list_title": LIST_TITLE,
        "list_anchor": groups[0][1],
        "group_bookmarks": group_labels,
        "anchor_link": "#",
        "extra_heading": (d.columns.get("event") or d.columns.get("event_at") or Text("日期", "Date")).zh,
        "period_last_day": d.period.next_first_day - timedelta(days=1),
        "budget_chart": Markup(
            charts.bar_chart([(s.zh, float(a) / 10_000) for s, a in d.budget_by_source()], unit=" 万元")
        ),
        "state_chart": Markup(charts.bar_chart([(s.zh, float(n)) for s, n in d.projects_by_state()], decimals=0)),
    }
    total_planned = layout.FRONT_PAGES + len(pages) + 1
    if executor is None or total_planned <= SINGLE_PART_PAGES:
        return _single(context, pages, toc, identifier, variant, expected=total_planned)
    # the front matter (cover, contents, charts) costs about as much as a few table pages: it goes
    # with the first run, which gets that many pages fewer, so the parts take about equally long
    runs = layout.split(pages, parts, head_start=FRONT_COST_PAGES)
    html_parts = []
    start = 1
    for i, run in enumerate(runs):
        first, last = i == 0, i == len(runs) - 1
        html = render_html(
            "disclosure_part.html",
            {
                **context,
                "front": first,
                "notes": last,
                "pages": run,
                "toc": toc,
                # the contents link to sections that other parts lay out: join() makes these links whole
                "anchor_link": layout.ANCHOR_LINK,
            },
        )
        html_parts.append((html, start))
        start += len(run) + (layout.FRONT_PAGES if first else 0)
    rendered = layout.render_parts(html_parts, variant=variant, identifier=identifier, executor=executor)
    expected = [
        len(r) + (layout.FRONT_PAGES if i == 0 else 0) + (1 if i == len(runs) - 1 else 0) for i, r in enumerate(runs)
    ]
    if [r.pages for r in rendered] != expected:
        single = _single(context, pages, None, identifier, variant, expected=None)
        return Document(single.pdf, single.pages, single.title, 1, True, single.refused)
    pdf = layout.join(
        rendered,
        layout.Metadata(
            title=meta["title"],
            author=meta["author"],
            subject=meta["description"],
            keywords=meta["keywords"],
            created=issued_at,
        ),
    )
    refused = tuple(u for r in rendered for u in r.refused)
    return Document(pdf, sum(r.pages for r in rendered), meta["title"], len(rendered), False, refused)


def _single(
    context: Mapping[str, Any],
    pages: list[layout.PlannedPage],
    toc: list[dict[str, Any]] | None,
    identifier: bytes,
    variant: str | None,
    *,
    expected: int | None,
) -> Document:
    """The whole document laid out in one piece. With ``toc=None`` the contents take their page
    numbers from the layout itself (``target-counter``), so they are right whatever the plan said."""
    entries = toc
    if entries is None:
        entries = [
            {"title": "一、概述", "anchor": "overview", "page": None, "sub": False},
            {"title": LIST_TITLE, "anchor": context["list_anchor"], "page": None, "sub": False},
            {"title": "三、说明", "anchor": "notes", "page": None, "sub": False},
        ]
    r = render_pdf(
        "disclosure_part.html",
        {**context, "front": True, "notes": True, "pages": pages, "toc": entries},
        variant=variant,
        identifier=identifier,
    )
    if expected is not None and r.pages != expected:
        # the plan was off: lay out again with page numbers taken from the layout
        return _single(context, pages, None, identifier, variant, expected=None)
    return Document(r.pdf, r.pages, str(context["meta"]["title"]), 1, expected is None and toc is not None, r.refused)


# --- S&T reports --------------------------------------------------------------------------------


def st_report_context(report: StReport, *, issued_at: datetime, sheet_only: bool) -> dict[str, Any]:
    title = report.title
    return {
        "r": report,
        "sheet_only": sheet_only,
        "meta": {
            "title": title,
            "author": "；".join(a["name"] for a in report.authors) or report.unit,
            "description": f"科技报告 {report.report_number}",
            "keywords": "; ".join(report.keywords),
            "created": issued_at.isoformat(timespec="seconds"),
            "issued": issued_at.strftime("%Y年%m月%d日"),
            "header": f"科技报告 · {report.report_number}",
        },
    }


def st_report_pdf(report: StReport, *, issued_at: datetime, sheet_only: bool, variant: str | None = None) -> Document:
    r: Rendered = render_pdf(
        "st_report.html",
        st_report_context(report, issued_at=issued_at, sheet_only=sheet_only),
        variant=variant,
        identifier=_identifier("st", report.report_number, sheet_only),
    )
    return Document(r.pdf, r.pages, report.title, refused=r.refused)


def render_st_report_job(
    report: StReport, issued_at: datetime, sheet_only: bool, variant: str | None
) -> tuple[bytes, int]:
    """For a process pool: one report's PDF and page count."""
    doc = st_report_pdf(report, issued_at=issued_at, sheet_only=sheet_only, variant=variant)
    return doc.pdf, doc.pages
