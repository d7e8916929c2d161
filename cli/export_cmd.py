"""`grantflow export TABLE`: any table of the office overview as CSV or XLSX, streamed to a file.

Refused to anyone but the office and the leadership group, exactly as the page refuses them
(``states.overview.may_view_overview``), so the acting person is named with ``--as``.
"""

from __future__ import annotations

import sys
from pathlib import Path
from typing import Annotated

import typer
from rich.console import Console

from grantflow import clock
from grantflow.cli.common import cli_lang
from grantflow.db.session import get_engine
from grantflow.services.actors import actor_for
from grantflow.services.exports import FORMATS, unknown_format, write_csv, write_xlsx
from grantflow.services.overview import TABLE_NAMES, open_scope, table_stream, table_title
from grantflow.states.errors import GrantflowError
from grantflow.states.text import normalise_lang

err = Console(stderr=True)


def export(
    table: Annotated[str, typer.Argument(help=f"one of: {', '.join(TABLE_NAMES)}")],
    as_: Annotated[str, typer.Option("--as", help="e-mail of the person exporting (office or leadership group)")],
    fmt: Annotated[str, typer.Option("--format", help="csv or xlsx")] = "csv",
    programme: Annotated[int | None, typer.Option("--programme", help="only this programme (its number, 1–12)")] = None,
    output: Annotated[Path | None, typer.Option("-o", "--output", help="file to write (default: stdout)")] = None,
    lang: Annotated[str, typer.Option("--lang", help="zh or en (default: the person's language)")] = "",
) -> None:
    """Export one overview table (CSV with a UTF-8 BOM, or XLSX), every row."""
    engine = get_engine()
    language = normalise_lang(lang or None)
    try:
        with engine.connect() as conn:
            actor = actor_for(conn, email=as_)
        language = cli_lang(lang or actor.lang)
        if fmt not in FORMATS:
            raise typer.BadParameter(unknown_format(fmt).get(language), param_hint="--format")
        scope = open_scope(engine, lang=language, now=clock.now(), programme_code=programme)
        if fmt == "xlsx" and output is None:
            raise typer.BadParameter("XLSX needs --output PATH", param_hint="--output")
        with engine.connect() as conn:
            columns, rows = table_stream(conn, table, actor=actor, scope=scope)
            if fmt == "csv":
                if output is None:
                    write_csv(columns, rows, sys.stdout.buffer, lang=language)
                    sys.stdout.buffer.flush()
                else:
                    with output.open("wb") as fh:
                        write_csv(columns, rows, fh, lang=language)
            else:
                assert output is not None
                write_xlsx(columns, rows, output, lang=language, title=table_title(table).get(language))
    except GrantflowError as exc:
        err.print(f"[red]{exc.text(language)}[/red]")
        raise typer.Exit(code=2) from None
    if output is not None:
        err.print(str(output))


def register(app: typer.Typer) -> None:
    app.command("export")(export)
