"""``grantflow publish`` (publish now) and ``grantflow publications ...`` (what is published, due,
blocked; the office's override; deliveries to the S&T reporting system)."""

from __future__ import annotations

import json
from typing import Annotated

import typer
from rich.console import Console
from rich.table import Table

from grantflow import clock
from grantflow.cli.common import cli_lang
from grantflow.config import get_settings
from grantflow.db.session import get_engine
from grantflow.states.errors import GrantflowError
from grantflow.states.permissions import SYSTEM, Actor
from grantflow.states.text import Text

DUE_COLUMNS = ("类别", "专项", "期间", "状态")
NOTHING_DUE = Text("没有待发布的信息", "nothing due")

publications_app = typer.Typer(help="public disclosures: published, due, blocked by the content guard, deliveries")
console = Console()
err = Console(stderr=True)


def _actor(email: str | None) -> Actor:
    if not email:
        return SYSTEM
    from grantflow.services.actors import actor_for

    with get_engine().connect() as conn:
        return actor_for(conn, email=email)


def _fail(exc: GrantflowError) -> None:
    err.print(f"[red]{exc.text(cli_lang())}[/red]")
    raise typer.Exit(code=2)


def publish_cmd(
    kind: Annotated[str, typer.Option("--kind", help="establishment, progress, adjustments, evaluations, or reports")],
    programme: Annotated[int | None, typer.Option("--programme", help="programme code, 1–12")] = None,
    period: Annotated[str | None, typer.Option("--period", help="2026-03 (month), 2026-Q1 (quarter) or 2026")] = None,
    as_: Annotated[str | None, typer.Option("--as", help="e-mail of the office member publishing")] = None,
) -> None:
    """Publish now: one disclosure (exactly once; a second call reports it is already published),
    or with --kind reports, check submitted S&T reports and publish what is ready."""
    from grantflow.reports import layout
    from grantflow.reports.publish import publish_disclosure, publish_reports

    settings = get_settings()
    engine = get_engine(settings)
    now = clock.now()
    try:
        actor = _actor(as_)
        if kind == "reports":
            report = publish_reports(engine, settings, now=now, actor=actor)
        else:
            if programme is None or period is None:
                raise typer.BadParameter("--programme and --period are needed for a disclosure")
            executor = layout.pool(settings.publish_workers) if settings.publish_workers > 1 else None
            report = publish_disclosure(
                engine,
                settings,
                kind=kind,
                programme=programme,
                period=period,
                now=now,
                actor=actor,
                executor=executor,
            ).as_dict()
    except GrantflowError as exc:
        _fail(exc)
        return
    console.print_json(json.dumps(report, ensure_ascii=False, default=str))
    if isinstance(report, dict) and report.get("status") == "blocked":
        raise typer.Exit(code=3)


@publications_app.command("list")
def publications_list() -> None:
    """What is published: one line per file (kind, programme, period, published at, file, SHA-256)."""
    from grantflow.services import publications

    with get_engine().connect() as conn:
        rows = publications.published(conn)
        for r in rows:
            stamp = r.published_at.strftime("%Y-%m-%dT%H:%MZ") if r.published_at else "-"
            for d in publications.documents_of(conn, r.id):
                # plain lines, never wrapped or cut: hashes are copied from here
                typer.echo(f"{r.kind}\t{r.programme_code}\t{r.period}\t{stamp}\t{d.name}\t{d.sha256}")
    if not rows:
        typer.echo("nothing published yet")
    typer.echo(f"directory: {get_settings().publications_dir}", err=True)


@publications_app.command("due")
def publications_due() -> None:
    """Completed periods whose disclosures are not published yet."""
    from grantflow.services.publications import due
    from grantflow.states.disclosure import DEFAULT_GRANULARITY

    settings = get_settings()
    with get_engine(settings).connect() as conn:
        rows = due(
            conn,
            now=clock.now(),
            tz=settings.timezone,
            granularity=DEFAULT_GRANULARITY,
            since=settings.publish_since,
        )
    lang = cli_lang()
    table = Table()
    for col in DUE_COLUMNS if lang == "zh" else ("kind", "programme", "period", "status"):
        table.add_column(col)
    for d in rows:
        table.add_row(d.kind, f"{d.programme_code} {d.programme.get(lang)}", d.period.key, d.status_label.get(lang))
    console.print(table if rows else NOTHING_DUE.get(lang))


@publications_app.command("blocked")
def publications_blocked() -> None:
    """What the content guard blocked, with each suspicious passage."""
    from grantflow.services.publications import blocked

    with get_engine().connect() as conn:
        rows = blocked(conn)
    for r in rows:
        console.print(f"[bold]#{r.id}[/bold] {r.kind} {r.programme_name} {r.period}")
        for f in (r.guard or {}).get("findings", []):
            console.print(f"  - {f.get('document', '')}: {f.get('passage') or f.get('match') or f}")
    if not rows:
        console.print("nothing blocked")


@publications_app.command("override")
def publications_override(
    publication_id: int,
    reason: Annotated[str, typer.Option("--reason", help="why the blocked content may be published (audited)")],
    as_: Annotated[str, typer.Option("--as", help="e-mail of the office member deciding")],
) -> None:
    """Release a publication the content guard blocked; the next run (or publish now) publishes it."""
    from grantflow.services.publications import override

    try:
        actor = _actor(as_)
        with get_engine().begin() as conn:
            override(conn, publication_id=publication_id, actor=actor, reason=reason, now=clock.now())
    except GrantflowError as exc:
        _fail(exc)
    console.print(f"publication {publication_id} released; publish it again to write it out")


@publications_app.command("submit")
def publications_submit() -> None:
    """Deliver due documents to the S&T reporting system now (GRANTFLOW_STRS_ENDPOINT)."""
    from grantflow.reports.submit import submit_pending

    settings = get_settings()
    report = submit_pending(get_engine(settings), settings, now=clock.now())
    console.print_json(json.dumps(report.as_dict(), ensure_ascii=False))


def register(app: typer.Typer) -> None:
    app.command("publish")(publish_cmd)
    app.add_typer(publications_app, name="publications")
