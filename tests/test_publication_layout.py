"""A long disclosure laid out in parts by worker processes reads as one document: continuous page
numbers, a table of contents that points at the right pages, the metadata and language kept."""

from __future__ import annotations

import io
import re
from datetime import datetime, timedelta, timezone
from decimal import Decimal

from pypdf import PdfReader

from grantflow.reports import documents, layout
from grantflow.services.disclosures import Disclosure, Line
from grantflow.states.disclosure import Period
from grantflow.states.enums import LABELS, Category, FundingSource, SelectionMode
from grantflow.states.text import Text

BEIJING = timezone(timedelta(hours=8))


def _disclosure(n: int) -> Disclosure:
    cats = list(Category)
    lines = [
        Line(
            project_id=i,
            code=f"ZX07-2026-{i:05d}",
            title=f"第{i}号数字化车间关键技术研究" + ("与示范应用推广" * (i % 4)),
            unit="京华智造科技有限公司",
            category=LABELS[cats[((i - 1) * 3) // n]],
            selection_mode=LABELS[SelectionMode.MERIT],
            budget=[(LABELS[FundingSource.MUNICIPAL_BUDGET], Decimal(1_000_000 + i))],
            total=Decimal(1_000_000 + i),
            state=Text("执行中", "in execution"),
            targets=["形成国家标准草案：1项"],
            event_at=datetime(2026, 3, 5, tzinfo=BEIJING),
        )
        for i in range(1, n + 1)
    ]
    return Disclosure(
        kind="establishment",
        programme_id=7,
        programme_code=7,
        programme=Text("数字化制造技术创新及产业培育", "Digital manufacturing"),
        organiser="市经济和信息化委员会",
        publisher=Text("领导小组办公室（市科委）", "the office"),
        period=Period.parse("2026-03"),
        lines=lines,
    )


def test_parts_laid_out_by_workers_join_into_one_consistent_document() -> None:
    d = _disclosure(160)
    issued = datetime(2026, 4, 1, 9, tzinfo=BEIJING)
    doc = documents.disclosure_pdf(d, issued_at=issued, number="N", executor=layout.pool(2), parts=2)
    assert doc.parts == 2 and not doc.replanned
    reader = PdfReader(io.BytesIO(doc.pdf))
    texts = [p.extract_text() for p in reader.pages]
    numbers = [int(m.group(1)) if (m := re.search(r"第 (\d+) 页", t)) else None for t in texts]
    assert numbers[0] is None and numbers[1:] == list(range(2, len(texts) + 1))  # the cover has none
    # the contents' page numbers (floated right, so extracted first, in order) point at the sections
    toc_pages = [int(x) for x in re.findall(r"^(\d+)$", texts[1], flags=re.MULTILINE)]
    sections = ["一、概述", "二、项目一览", "政府直接组织开展", "政府支持开展", "政府鼓励开展", "三、说明"]
    assert len(toc_pages) == len(sections)
    for label, page in zip(sections, toc_pages, strict=True):
        assert label in texts[page - 1], (label, page)
    assert all(f"第{i}号数字化车间" in "".join(texts).replace("\n", "") for i in (1, 80, 160))
    info = reader.metadata
    assert info is not None and info["/Title"].startswith("数字化制造") and info["/Author"]
    assert str(reader.trailer["/Root"]["/Lang"]) == "zh-CN"
    single = documents.disclosure_pdf(d, issued_at=issued, number="N")
    assert single.pages == doc.pages
    # one tree of bookmarks, the same as the document laid out in one piece: the groups under the
    # project list, however the parts were cut, and no bookmark for a page that continues a group
    expected = [
        (1, "目\u3000录", 1),
        (1, "一、概述", 2),
        (2, "经费来源构成（万元）", 2),
        (2, "项目状态分布（项）", 2),
        (1, "二、项目一览", toc_pages[1] - 1),
        (2, "（一）政府直接组织开展", toc_pages[2] - 1),
        (2, "（二）政府支持开展", toc_pages[3] - 1),
        (2, "（三）政府鼓励开展", toc_pages[4] - 1),
        (1, "三、说明", toc_pages[5] - 1),
    ]
    for pdf in (doc.pdf, single.pdf):
        assert [(e.level, e.title, e.page) for e in layout.outline_entries(PdfReader(io.BytesIO(pdf)))] == expected
    # every entry of the contents is a link to its section, wherever a part laid that section out
    targets = []
    for ref in reader.pages[1]["/Annots"]:
        annot = ref.get_object()
        dest = annot["/A"]["/D"] if "/A" in annot else annot["/Dest"]
        targets.append(reader.get_destination_page_number(reader.named_destinations[str(dest)]) + 1)
    assert sorted(set(targets)) == sorted(set(toc_pages))


def test_rendering_pauses_the_cycle_collector_and_leaves_it_as_it_was() -> None:
    import gc
    import threading

    from grantflow.reports import render

    seen: list[bool] = []
    started, release = threading.Event(), threading.Event()

    def long_render() -> None:
        with render.gc_paused():
            seen.append(gc.isenabled())
            started.set()
            release.wait(10)

    assert gc.isenabled()
    other = threading.Thread(target=long_render)
    other.start()
    assert started.wait(10)
    # a render in this thread ends while the other is still laying out: the collector stays off
    rendered = render.html_to_pdf('<html lang="zh-CN"><body><p>暂停回收</p></body></html>')
    assert rendered.pages == 1
    assert not gc.isenabled()
    release.set()
    other.join()
    assert seen == [False]
    assert gc.isenabled()

    gc.disable()
    try:
        render.html_to_pdf('<html lang="zh-CN"><body><p>本就关闭</p></body></html>')
        assert not gc.isenabled()  # a caller that had it off keeps it off
    finally:
        gc.enable()
