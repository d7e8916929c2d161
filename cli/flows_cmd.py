"""CLI for the scheduled side: ``grantflow serve``, ``grantflow deploy``, ``grantflow flows ...``,
``grantflow notifications ...``. Registered on the main app by ``register(app)``."""

from __future__ import annotations

import json
import os
from datetime import UTC, datetime
from pathlib import Path
from typing import Annotated
from zoneinfo import ZoneInfo

import typer
from rich.console import Console
from rich.table import Table

from grantflow.cli.channels import flows_by_hand_channel
from grantflow.cli.common import cli_lang, fail
from grantflow.config import get_settings
from grantflow.db.session import get_engine
from grantflow.states.errors import GrantflowError
from grantflow.states.permissions import SYSTEM

flows_app = typer.Typer(help="the scheduled flows: deadlines, reminders, delivery, digests")
notifications_app = typer.Typer(help="notification delivery: problems and resending")
console = Console()
err = Console(stderr=True)


def parse_at(value: str, tz: str) -> datetime:
    """An ISO moment; without an offset it is read in the configured time zone."""
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
    at: Annotated[
        str | None,
        typer.Option("--at", help="simulate at this moment (ISO); only with --dry-run or --scratch"),
    ] = None,
    dry_run: Annotated[
        bool, typer.Option("--dry-run", help="run on a throwaway copy of the database: nothing is kept")
    ] = False,
    scratch: Annotated[
        Path | None, typer.Option("--scratch", help="run on a copy of the database at this path (made if missing)")
    ] = None,
    prefect: Annotated[
        bool, typer.Option("--prefect/--direct", help="as a Prefect flow run (default: if PREFECT_API_URL is set)")
    ] = bool(os.environ.get("PREFECT_API_URL")),
    lang: Annotated[str, typer.Option("--lang", help="zh or en (default: GRANTFLOW_LANGUAGE)")] = "",
) -> None:
    """Run one flow by hand, now; running it twice in a row changes nothing the second time.

    To see what a flow would do at another moment, simulate it on a copy: --at T with --dry-run
    or --scratch PATH (always run directly, never on the Prefect server). The real database is
    only ever acted on at the current time.
    """
    from grantflow import clock
    from grantflow.flows import jobs
    from grantflow.flows.simulate import simulate

    settings = get_settings()
    language = cli_lang(lang or None)
    if name not in jobs.STEPS:
        raise typer.BadParameter(f"unknown flow {name!r}; known: {', '.join(jobs.STEPS)}")
    simulated = at is not None or dry_run or scratch is not None
    if simulated:
        moment = parse_at(at, settings.timezone) if at else clock.now()
        try:
            result = simulate(name, settings, at=moment, scratch=scratch, dry_run=dry_run)
        except GrantflowError as exc:
            err.print(f"[red]{exc.text(language)}[/red]")
            raise typer.Exit(code=2) from None
        out = {"flow": name, "at": moment.isoformat(), "simulated": True, "dry_run": dry_run}
        out["scratch"] = str(result.database) if result.database else None
        console.print_json(json.dumps({**out, "steps": result.report}, default=str))
        return
    moment = clock.now()
    if prefect:
        from grantflow.flows.prefect_flows import FLOWS

        report = FLOWS[name]()
    else:
        actor = SYSTEM.via(flows_by_hand_channel())
        report = jobs.run(name, get_engine(settings), moment, settings, actor)
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
def notifications_resend(
    delivery_id: int,
    as_: Annotated[str, typer.Option("--as", help="e-mail of the office member deciding to resend")],
) -> None:
    """Send a failed or possibly-sent e-mail again (the office's decision, as on the inbox page)."""
    from grantflow import clock
    from grantflow.cli.channels import cli_channel
    from grantflow.notifications.dispatch import resend
    from grantflow.services.actors import actor_for
    from grantflow.states.errors import GrantflowError

    try:
        with get_engine().begin() as conn:
            actor = actor_for(conn, email=as_).via(cli_channel())
            ok = resend(conn, delivery_id=delivery_id, actor=actor, now=clock.now())
    except GrantflowError as exc:
        Console(stderr=True).print(f"[red]{exc.text(get_settings().language)}[/red]")
        raise typer.Exit(code=2) from None
    console.print("queued again" if ok else "no failed or uncertain delivery with that id")
    raise typer.Exit(code=0 if ok else 1)


def register(app: typer.Typer) -> None:
    app.add_typer(flows_app, name="flows")
    app.add_typer(notifications_app, name="notifications")
    app.command("serve")(serve_cmd)
    app.command("deploy")(deploy_cmd)
