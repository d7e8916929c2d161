"""`grantflow audit …`: verify the keyed chain and its anchors, anchor the head, list events."""

from __future__ import annotations

from datetime import datetime
from typing import Annotated
from zoneinfo import ZoneInfo

import typer
from rich.console import Console
from rich.table import Table

from grantflow import clock
from grantflow.cli.common import cli_lang, use_lang
from grantflow.config import get_settings
from grantflow.db.audit import anchor, events, verify
from grantflow.db.session import get_engine
from grantflow.states.channels import CHANNEL_LABELS
from grantflow.states.errors import GrantflowError
from grantflow.states.text import Text

audit_app = typer.Typer(help="the audit trail: verify, anchor, list (审计日志)")
console = Console()
err = Console(stderr=True)

LangOpt = Annotated[str, typer.Option("--lang", help="zh or en (default: GRANTFLOW_LANGUAGE)")]

HEADINGS = {
    "zh": ("编号", "时间", "操作人", "渠道", "操作", "对象", "原状态", "新状态"),
    "en": ("#", "time", "who", "channel", "action", "subject", "from", "to"),
}
NOT_RECORDED = Text("未记录", "not recorded")


def _lang(value: str) -> str:
    use_lang(value)  # so that an error the group reports speaks it too
    return cli_lang()


def _local(moment: datetime, tz: str) -> str:
    return moment.astimezone(ZoneInfo(tz)).strftime("%Y-%m-%d %H:%M:%S %Z")


@audit_app.command("verify")
def audit_verify(lang: LangOpt = "") -> None:
    """Check every keyed hash, the links, the head and every anchor; name what was rewritten,
    deleted or truncated (exit 1)."""
    language = _lang(lang)
    settings = get_settings()
    try:
        with get_engine().connect() as conn:
            result = verify(conn)
    except GrantflowError as exc:
        err.print(f"[red]{exc.text(language)}[/red]")
        raise typer.Exit(code=2) from None
    if result.ok:
        console.print(
            f"审计链完整，共 {result.checked} 条事件；"
            f"{result.anchors_checked} 个锚点相符（{settings.audit_anchor_path}）"
            if language == "zh"
            else f"audit chain intact: {result.checked} events; {result.anchors_checked} anchors match "
            f"({settings.audit_anchor_path})"
        )
        return
    for problem in result.problems:
        err.print(f"[red]{problem.text.get(language)}[/red]", soft_wrap=True)
    n = len(result.problems)
    err.print(
        f"审计链未通过校验：{n} 处问题；处理办法见 docs/audit.md"
        if language == "zh"
        else f"audit chain FAILED verification: {n} problem{'s' if n != 1 else ''}; see docs/audit.md for what to do",
        soft_wrap=True,
    )
    raise typer.Exit(code=1)


@audit_app.command("anchor")
def audit_anchor(lang: LangOpt = "") -> None:
    """Append every audit chain's head (place, event id, hash; their digest; time; keyed MAC) to the anchor log."""
    language = _lang(lang)
    settings = get_settings()
    try:
        with get_engine().connect() as conn:
            record = anchor(conn, now=clock.now())
    except GrantflowError as exc:
        err.print(f"[red]{exc.text(language)}[/red]")
        raise typer.Exit(code=2) from None
    when = _local(record.anchored_at, settings.timezone)
    console.print(
        f"已锚定：第 {record.event_id} 号事件 {record.hash}，{when} → {settings.audit_anchor_path}"
        if language == "zh"
        else f"anchored: event {record.event_id} {record.hash} at {when} → {settings.audit_anchor_path}",
        soft_wrap=True,
    )


@audit_app.command("list")
def audit_list(
    channel: Annotated[
        str | None, typer.Option("--channel", help=f"only events of this channel: {', '.join(CHANNEL_LABELS)}")
    ] = None,
    subject: Annotated[str | None, typer.Option("--subject", help="project, call, programme or audit")] = None,
    subject_id: Annotated[int | None, typer.Option("--id", help="the subject's id (with --subject)")] = None,
    limit: Annotated[int, typer.Option("--limit", min=1, max=10_000, help="how many, newest first")] = 50,
    lang: LangOpt = "",
) -> None:
    """List audit events, newest first, with the channel each came through."""
    language = _lang(lang)
    settings = get_settings()
    if channel is not None and channel not in CHANNEL_LABELS:
        known = ", ".join(CHANNEL_LABELS)
        err.print(
            f"[red]未知渠道“{channel}”；可选：{known}[/red]"
            if language == "zh"
            else f"[red]unknown channel '{channel}'; known: {known}[/red]"
        )
        raise typer.Exit(code=2)
    if subject_id is not None and subject is None:
        err.print("[red]--id 需与 --subject 同用[/red]" if language == "zh" else "[red]--id needs --subject[/red]")
        raise typer.Exit(code=2)
    with get_engine().connect() as conn:
        rows = events(conn, channel=channel, subject=subject, subject_id=subject_id, limit=limit)
    table = Table(title="审计日志" if language == "zh" else "audit log")
    for heading in HEADINGS["zh" if language == "zh" else "en"]:
        table.add_column(heading)
    for e in rows:
        if e.channel:
            label = CHANNEL_LABELS.get(e.channel, Text(e.channel, e.channel)).get(language)
            shown = f"{label} ({e.channel_detail})" if e.channel_detail else label
        else:
            shown = NOT_RECORDED.get(language)
        table.add_row(
            str(e.id),
            _local(e.created_at, settings.timezone),
            e.actor_name,
            shown,
            e.action,
            f"{e.subject} {e.subject_id}",
            e.from_state or "",
            e.to_state or "",
        )
    console.print(table)
