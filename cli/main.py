"""`grantflow`: set-up, the demo story, diagrams, the audit check, firing triggers by hand."""

from __future__ import annotations

import json
import sys
from pathlib import Path
from typing import Annotated

import typer
from rich.console import Console
from rich.table import Table
from sqlalchemy import select

from grantflow.cli import export_cmd, flows_cmd, guard_cmd, publish_cmd
from grantflow.cli.adjustments_cmd import adjustments_app
from grantflow.cli.admin_cmd import orgs_app, users_app
from grantflow.cli.audit_cmd import audit_app
from grantflow.cli.backup_cmd import register as register_backup
from grantflow.cli.channels import cli_channel
from grantflow.cli.common import GrantflowGroup, cli_lang, fail, start_command, use_lang
from grantflow.cli.doctor_cmd import register as register_doctor
from grantflow.cli.evaluation_cmd import evaluation_app
from grantflow.cli.programmes_cmd import programmes_app
from grantflow.cli.review_cmd import review_app
from grantflow.config import get_settings
from grantflow.db.apply import fire as fire_trigger
from grantflow.db.audit import verify
from grantflow.db.migrate import is_up_to_date
from grantflow.db.models import AuditEvent, Project
from grantflow.db.session import get_engine
from grantflow.db.workflows import get_registry
from grantflow.services.actors import actor_for
from grantflow.services.bootstrap import init_database
from grantflow.states.diagram import mermaid, render
from grantflow.states.errors import GrantflowError
from grantflow.states.text import Text

app = typer.Typer(
    help="grantflow: workflow and approval engine for major special programmes (重大专项)", cls=GrantflowGroup
)
db_app = typer.Typer(help="database schema")
workflows_app = typer.Typer(help="workflow definitions and variants")
app.add_typer(db_app, name="db")
app.add_typer(audit_app, name="audit")
app.add_typer(workflows_app, name="workflows")
app.add_typer(orgs_app, name="orgs")
app.add_typer(users_app, name="users")
app.add_typer(review_app, name="review")
app.add_typer(evaluation_app, name="evaluation")
app.add_typer(adjustments_app, name="adjustments")
app.add_typer(programmes_app, name="programmes")
flows_cmd.register(app)  # serve, deploy, flows, notifications
guard_cmd.register(app)  # guard: the content guard on text files
publish_cmd.register(app)  # publish, publications
export_cmd.register(app)  # export TABLE: the office overview's tables as CSV or XLSX
register_backup(app)  # backup PATH, restore PATH
register_doctor(app)  # doctor: can this installation do its work?

console = Console()
err = Console(stderr=True)

LangOpt = Annotated[str, typer.Option("--lang", help="zh or en (default: GRANTFLOW_LANGUAGE)")]


def _lang(value: str | None) -> str:
    use_lang(value)
    return cli_lang()


def _fail(exc: GrantflowError, lang: str) -> None:
    fail(exc.message, lang=lang)


@app.command()
def init(demo: Annotated[bool, typer.Option("--demo", help="add demo organisations and users")] = False) -> None:
    """Create and migrate the database, seed the twelve programmes (idempotent)."""
    settings = get_settings()
    report = init_database(get_engine(settings), demo=demo)
    console.print(f"database ready: {settings.url}  (rows added: {report.added}, states remapped: {report.remapped})")
    console.print(f"audit key: {settings.audit_key_path}  anchor log: {settings.audit_anchor_path}")


@db_app.command("upgrade")
def db_upgrade() -> None:
    """Apply pending migrations and map renamed workflow states."""
    settings = get_settings()
    report = init_database(get_engine(settings))
    console.print(
        Text(
            f"数据库结构已是最新：{settings.url}（状态重映射 {report.remapped} 个）",
            f"schema is current: {settings.url} (states remapped: {report.remapped})",
        ).get(cli_lang())
    )


@db_app.command("status")
def db_status() -> None:
    """Say whether the schema is current."""
    engine = get_engine()
    ok = is_up_to_date(engine)
    said = (
        Text("数据库结构已是最新", "up to date")
        if ok
        else Text("有待执行的迁移：请运行 grantflow db upgrade", "migrations pending: run `grantflow db upgrade`")
    )
    console.print(said.get(cli_lang()))
    raise typer.Exit(code=0 if ok else 1)


TIMELINE_COLUMNS = (
    Text("#", "#"),
    Text("时间（UTC）", "when (UTC)"),
    Text("操作人", "who"),
    Text("事项", "what"),
    Text("对象", "subject"),
    Text("原状态", "from"),
    Text("新状态", "to"),
)


@app.command()
def demo(
    lang: LangOpt = "",
    if_empty: Annotated[bool, typer.Option("--if-empty", help="only when the database has no project yet")] = False,
) -> None:
    """Run a complete story (launch, call, applications, review, execution, acceptance, post-evaluation)."""
    from grantflow.cli.demo import run_demo

    language = _lang(lang)
    engine = get_engine()
    if if_empty:
        init_database(engine, demo=True)
        with engine.connect() as conn:
            if conn.execute(select(Project.id).limit(1)).first() is not None:
                console.print(
                    Text("已有项目：跳过演示故事", "projects exist already: demo story skipped").get(language)
                )
                return
    try:
        story = run_demo(engine, on_step=lambda line: console.print(f"  {line}"), lang=language)
    except GrantflowError as exc:
        _fail(exc, language)
        return
    table = Table(title=Text("时间线", "timeline").get(language))
    for col in TIMELINE_COLUMNS:
        table.add_column(col.get(language))
    with engine.connect() as conn:
        rows = conn.execute(
            select(AuditEvent).where(AuditEvent.id > story.first_event_id).order_by(AuditEvent.id)
        ).all()
    for e in rows:
        table.add_row(
            str(e.id),
            e.created_at.strftime("%Y-%m-%d %H:%M"),
            e.actor_name,
            e.action,
            f"{e.subject} {e.subject_id}",
            e.from_state or "",
            e.to_state or "",
        )
    console.print(table)
    with engine.connect() as conn:
        check = verify(conn)
    if check.ok:
        console.print(
            Text(f"审计链完整，共 {check.checked} 条事件", f"audit chain: intact ({check.checked} events)").get(
                language
            )
        )
    else:
        console.print((check.problem_zh if language == "zh" else check.problem) or "")


@app.command()
def diagram(
    workflow: Annotated[str, typer.Option(help="workflow name")] = "standard",
    fmt: Annotated[str, typer.Option("--format", help="mermaid, svg or png")] = "mermaid",
    output: Annotated[Path | None, typer.Option("-o", "--output", help="file to write (default: stdout)")] = None,
    lang: LangOpt = "en",
) -> None:
    """Draw a lifecycle from its table."""
    wf = get_registry().get(workflow)
    language = _lang(lang)
    if fmt == "mermaid":
        text = mermaid(wf, lang=language)
        if output:
            output.write_text(text, encoding="utf-8")
        else:
            sys.stdout.write(text)
        return
    if fmt not in ("svg", "png"):
        raise typer.BadParameter("format must be mermaid, svg or png")
    data = render(wf, fmt=fmt, lang=language)
    if output:
        output.write_bytes(data)
    else:
        sys.stdout.buffer.write(data)


@workflows_app.command("list")
def workflows_list(lang: LangOpt = "") -> None:
    """List the workflows in force (built-ins and configured variants), each validated."""
    language = _lang(lang)
    table = Table()
    for col in ("name", "subject", "base", "states", "transitions", "label"):
        table.add_column(col)
    for wf in get_registry():
        table.add_row(
            wf.name, wf.subject, wf.base or "", str(len(wf.states)), str(len(wf.transitions)), wf.label.get(language)
        )
    console.print(table)


@workflows_app.command("show")
def workflows_show(name: str, lang: LangOpt = "") -> None:
    """Print a workflow's effective table: every state with what it allows, every transition with
    its labels in both languages (a variant as derived from its base, validated)."""
    from grantflow.cli.workflows_cmd import show

    language = _lang(lang)
    try:
        wf = get_registry().get(name)
    except GrantflowError as exc:
        _fail(exc, language)
    show(wf, Console(width=max(console.width, 200)), language)


@app.command("fire")
def fire_cmd(
    project_id: int,
    trigger: str,
    as_: Annotated[str, typer.Option("--as", help="e-mail of the user acting")],
    reason: Annotated[str | None, typer.Option(help="reason, where the transition requires one")] = None,
    subject: Annotated[str, typer.Option(help="project, call or programme")] = "project",
    payload: Annotated[str | None, typer.Option(help="extra payload as JSON")] = None,
    lang: LangOpt = "",
) -> None:
    """Fire a trigger on a stored subject on behalf of a user, through the engine."""
    language = _lang(lang)
    engine = get_engine()
    try:
        body = json.loads(payload) if payload else {}
    except ValueError:
        fail(
            Text(
                '--payload 必须是 JSON 对象，例如 \'{"reason": "..."}\'',
                '--payload must be a JSON object, e.g. \'{"reason": "..."}\'',
            )
        )
    if not isinstance(body, dict):
        fail(Text("--payload 必须是 JSON 对象", "--payload must be a JSON object"))
    if reason:
        body["reason"] = reason
    try:
        with engine.connect() as conn:
            actor = actor_for(conn, email=as_).via(cli_channel())
        t = fire_trigger(engine, subject=subject, subject_id=project_id, trigger=trigger, actor=actor, payload=body)
    except GrantflowError as exc:
        _fail(exc, language)
        return
    console.print(f"{t.subject} {t.subject_id}: {t.from_state} → {t.to_state} (event {t.event_id})")


@app.command("projects")
def projects_list(lang: LangOpt = "") -> None:
    """List projects with their state."""
    language = _lang(lang)
    registry = get_registry()
    table = Table()
    for col in ("id", "code", "title", "state", "version"):
        table.add_column(col)
    with get_engine().connect() as conn:
        for p in conn.execute(select(Project).order_by(Project.id)):
            label = registry.get(p.workflow).state_label(p.state).get(language) if p.workflow in registry else p.state
            table.add_row(str(p.id), p.code, p.title, f"{p.state} ({label})", str(p.version))
    console.print(table)


@app.callback()
def _main(
    lang: Annotated[
        str, typer.Option("--lang", help="language of every message: zh or en (default: GRANTFLOW_LANGUAGE)")
    ] = "",
) -> None:
    """grantflow — 重大专项全过程管理."""
    start_command(lang)


def run() -> None:  # pragma: no cover - console entry for `python -m grantflow`
    app()


if __name__ == "__main__":  # pragma: no cover
    run()


__all__ = ["app"]
