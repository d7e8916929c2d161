"""The office overview page (tables and server-drawn charts) and its CSV and XLSX exports.

Only the office and the leadership group see it: ``states.overview.may_view_overview``, asked
through ``services.overview`` by the page, the JSON API, the exports and the CLI alike.
"""

from __future__ import annotations

import os
import tempfile
from datetime import datetime
from pathlib import Path
from typing import Annotated, Any

from fastapi import APIRouter, Depends, Request
from fastapi.responses import FileResponse, Response, StreamingResponse
from starlette.background import BackgroundTask

from grantflow.clock import now as clock_now
from grantflow.services.exports import FORMATS, MEDIA_TYPES, csv_chunks, unknown_format, write_xlsx
from grantflow.services.overview import (
    DECIMAL,
    INT,
    PERCENT,
    TABLE_NAMES,
    Scope,
    build_overview,
    open_scope,
    programme_choices,
    require_overview,
    table_stream,
    table_title,
    unknown_table,
)
from grantflow.states.errors import NotFound
from grantflow.web.charts import bar_chart
from grantflow.web.deps import CurrentActor, EngineDep, LangDep, render

router = APIRouter()


def clock() -> datetime:
    """Now, as a dependency: tests replace it; nobody else can move the overview's clock."""
    return clock_now()


NowDep = Annotated[datetime, Depends(clock)]


def _scope(engine: Any, lang: str, now: datetime, programme: int | None) -> Scope:
    return open_scope(engine, lang=lang, now=now, programme_code=programme)


@router.get("/office/overview")
def overview_page(
    request: Request, engine: EngineDep, actor: CurrentActor, lang: LangDep, now: NowDep, programme: int | None = None
) -> Response:
    require_overview(actor)
    scope = _scope(engine, lang, now, programme)
    with engine.connect() as conn:
        tables = build_overview(conn, actor=actor, scope=scope)
        programmes = programme_choices(conn, lang)
    charts = {t.name: bar_chart(t.chart, title=t.title.get(lang)) if t.chart else "" for t in tables}
    return render(
        request,
        "office/overview.html",
        {
            "tables": tables,
            "charts": charts,
            "programmes": programmes,
            "selected": programme,
            "query": f"?programme={programme}" if programme is not None else "",
            "cell": shown,
        },
    )


@router.get("/api/office/overview")
def overview_api(
    engine: EngineDep, actor: CurrentActor, lang: LangDep, now: NowDep, programme: int | None = None
) -> dict[str, Any]:
    require_overview(actor)
    scope = _scope(engine, lang, now, programme)
    with engine.connect() as conn:
        tables = build_overview(conn, actor=actor, scope=scope)
    return {
        "tables": [
            {
                "name": t.name,
                "title": t.title.as_dict(),
                "columns": [{"key": c.key, "label": c.label.as_dict(), "type": c.type} for c in t.columns],
                "rows": [[_json(v) for v in row] for row in t.rows],
                "total_rows": t.total_rows,
            }
            for t in tables
        ]
    }


def shown(value: Any, kind: str) -> str:
    """A cell as the page shows it: thousands separated, two decimals for money, a dash when empty."""
    if value is None or value == "":
        return "—"
    if kind == DECIMAL:
        return f"{value:,.2f}"
    if kind == PERCENT:
        return f"{value:,.2f}%"
    if kind == INT and isinstance(value, int):
        return f"{value:,}"
    if hasattr(value, "isoformat"):
        return str(value.isoformat())
    return str(value)


def _json(value: Any) -> Any:
    if value is None or isinstance(value, int | str | bool):
        return value
    return str(value) if not hasattr(value, "isoformat") else value.isoformat()


@router.get("/office/overview/{name}.{fmt}")
def overview_export(
    engine: EngineDep,
    actor: CurrentActor,
    lang: LangDep,
    now: NowDep,
    name: str,
    fmt: str,
    programme: int | None = None,
) -> Response:
    require_overview(actor)
    if name not in TABLE_NAMES:
        raise unknown_table(name)
    if fmt not in FORMATS:
        raise NotFound(unknown_format(fmt))
    scope = _scope(engine, lang, now, programme)
    suffix = f"-programme-{programme}" if programme is not None else ""
    filename = f"{name}{suffix}.{fmt}"
    headers = {"Content-Disposition": f'attachment; filename="{filename}"'}
    if fmt == "csv":
        return StreamingResponse(_csv(engine, name, actor, scope), media_type=MEDIA_TYPES["csv"], headers=headers)
    # a workbook is a zip whose directory comes last: write it to a temporary file, then send that
    fd, name_on_disk = tempfile.mkstemp(prefix="grantflow-", suffix=".xlsx")
    os.close(fd)
    path = Path(name_on_disk)
    try:
        with engine.connect() as conn:
            columns, rows = table_stream(conn, name, actor=actor, scope=scope)
            write_xlsx(columns, rows, path, lang=lang, title=table_title(name).get(lang))
    except BaseException:
        path.unlink(missing_ok=True)
        raise
    return FileResponse(
        path,
        media_type=MEDIA_TYPES["xlsx"],
        filename=filename,
        background=BackgroundTask(path.unlink, missing_ok=True),
    )


def _csv(engine: Any, name: str, actor: Any, scope: Scope) -> Any:
    with engine.connect() as conn:
        columns, rows = table_stream(conn, name, actor=actor, scope=scope)
        yield from csv_chunks(columns, rows, lang=scope.lang)
