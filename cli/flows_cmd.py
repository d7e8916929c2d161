"""CLI for the scheduled side: ``grantflow serve``, ``grantflow deploy``, ``grantflow flows ...``,
``grantflow notifications ...``. Registered on the main app by ``register(app)``."""

from __future__ import annotations

import json
import os
from datetime import UTC, datetime
from typing import Annotated
from zoneinfo import ZoneInfo

import typer
from rich.console import Console
from rich.table import Table

from grantflow.cli.common import fail
from grantflow.config import get_settings
from grantflow.db.session import get_engine

flows_app = typer.Typer(help="the scheduled flows: deadlines, reminders, delivery, digests")
notifications_app = typer.Typer(help="notification delivery: problems and resending")
console = Console()


def parse_at(value: str | None, tz: str) -> datetime:
    """An ISO moment; without an offset it is read in the configured time zone."""
    if not value:
        return datetime.now(UTC)
    moment = datetime.fromisoformat(value)
    return (moment if moment.tzinfo else moment.replace(tzinfo=ZoneInfo(tz))).astimezone(UTC)


@flows_app.command("list")
def flows_list() -> None:
    """The flows and their schedules (from configuration)."""
    from grantflow.flows.jobs import SCHEDULE_SETTING, STEPS

    settings = get_settings()
    table = Table()
    for col in ("flow", "steps", "schedule", "setting"):
        table.add_column(col)
    for name, steps in STEPS.items():
        key = SCHEDULE_SETTING[name]
        table.add_row(name, ", ".join(s for s, _ in steps), getattr(settings, key), f"GRANTFLOW_{key.upper()}")
    console.print(table)
    console.print(f"time zone: {settings.timezone}")


@flows_app.command("run")
def flows_run(
    name: Annotated[str, typer.Argument(help="deadlines, reminders, dispatch, digest or housekeeping")],
    at: Annotated[str | None, typer.Option("--at", help="act as of this moment (ISO; default now)")] = None,
    prefect: Annotated[
        bool, typer.Option("--prefect/--direct", help="as a Prefect flow run (default: if PREFECT_API_URL is set)")
    ] = bool(os.environ.get("PREFECT_API_URL")),
) -> None:
    """Run one flow by hand, for a given moment; running it twice for the same moment changes nothing."""
    from grantflow.flows import jobs

    settings = get_settings()
    if name not in jobs.STEPS:
        raise typer.BadParameter(f"unknown flow {name!r}; known: {', '.join(jobs.STEPS)}")
    moment = parse_at(at, settings.timezone)
    if prefect:
        from grantflow.flows.prefect_flows import FLOWS

        report = FLOWS[name](at=moment)
    else:
        report = jobs.run(name, get_engine(settings), moment, settings)
    console.print_json(json.dumps({"flow": name, "at": moment.isoformat(), "steps": report}, default=str))


def serve_cmd(
    host: Annotated[str, typer.Option(help="web page address")] = "127.0.0.1",
    port: Annotated[int, typer.Option(help="web page port", envvar="PORT")] = 8000,
    web: Annotated[bool, typer.Option("--web/--no-web", help="also serve the web page")] = True,
    only: Annotated[list[str] | None, typer.Option("--only", help="serve only these flows")] = None,
) -> None:
    """Serve the web page and the scheduled flows (a local Prefect server unless PREFECT_API_URL is set)."""
    from grantflow.config import ConfigurationError, check_production
    from grantflow.flows.serve import port_problem, serve
    from grantflow.services.bootstrap import init_database

    settings = get_settings()
    try:
        check_production(settings)
    except ConfigurationError as exc:
        fail(exc.message)
    if web and (problem := port_problem(host, port)):
        fail(problem)
    init_database(get_engine(settings))
    code = serve(settings, web=web, host=host, port=port, only=only, say=console.print)
    raise typer.Exit(code=code)


def deploy_cmd(
    pool: Annotated[str, typer.Option(help="Prefect work pool (created as a process pool if missing)")] = "grantflow",
    source: Annotated[
        str | None, typer.Option(help="where workers get the code: a directory they all have, or a git URL")
    ] = None,
    only: Annotated[list[str] | None, typer.Option("--only", help="deploy only these flows")] = None,
    env: Annotated[list[str] | None, typer.Option("--env", help="KEY=VALUE for the flow runs' environment")] = None,
    paused: Annotated[bool, typer.Option(help="register with schedules paused")] = False,
) -> None:
    """Register the flows as deployments on the Prefect server at PREFECT_API_URL, on a work pool."""
    from grantflow.flows.deploy import REPO_SOURCE, deploy

    if not os.environ.get("PREFECT_API_URL"):
        console.print("[red]PREFECT_API_URL is not set: point it at your Prefect server (…/api)[/red]")
        raise typer.Exit(code=2)
    pairs = dict(item.split("=", 1) for item in env or [])
    ids = deploy(get_settings(), pool=pool, source=source or REPO_SOURCE, only=only, env=pairs, paused=paused)
    for name, deployment_id in ids.items():
        console.print(f"{name}/grantflow  {deployment_id}")
    console.print(f"start workers with: prefect worker start --pool {pool}")


@notifications_app.command("problems")
def notifications_problems() -> None:
    """E-mails that failed, are retrying, or may have been sent (the process stopped mid-send)."""
    from grantflow.notifications.dispatch import problems

    with get_engine().connect() as conn:
        rows = problems(conn)
    table = Table()
    for col in ("what", "id", "status", "attempts", "about", "last error"):
        table.add_column(col)
    for r in rows:
        about = r.get("email") or r.get("kind") or ""
        table.add_row(r["what"], str(r["id"]), r["status"], str(r["attempts"]), about, (r["last_error"] or "")[:80])
    console.print(table if rows else "nothing to look at")


@notifications_app.command("resend")
def notifications_resend(delivery_id: int) -> None:
    """Send a failed or possibly-sent e-mail again (the office's decision)."""
    from grantflow.notifications.dispatch import resend

    with get_engine().begin() as conn:
        ok = resend(conn, delivery_id=delivery_id, now=datetime.now(UTC))
    console.print("queued again" if ok else "no failed or uncertain delivery with that id")
    raise typer.Exit(code=0 if ok else 1)


def register(app: typer.Typer) -> None:
    app.add_typer(flows_app, name="flows")
    app.add_typer(notifications_app, name="notifications")
    app.command("serve")(serve_cmd)
    app.command("deploy")(deploy_cmd)
