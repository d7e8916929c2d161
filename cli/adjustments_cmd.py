"""`grantflow adjustments …`: dynamic adjustment requests on behalf of a user (``--as``).

Every command calls the same service as the web page (``services.adjustments``), so a refusal
here reads exactly as it does on the page and in the API.
"""

from __future__ import annotations

import json
from typing import Annotated, Any

import typer
from rich.console import Console
from rich.table import Table
from sqlalchemy import select

from grantflow.cli.common import cli_lang
from grantflow.config import get_settings
from grantflow.db.models import Programme
from grantflow.db.session import get_engine
from grantflow.services import adjustments as service
from grantflow.services.actors import actor_for
from grantflow.states.adjustments import AdjustmentKind, kind_label
from grantflow.states.errors import GrantflowError, PayloadInvalid
from grantflow.states.permissions import Actor
from grantflow.states.text import Text
from grantflow.states.workflow import event_label

adjustments_app = typer.Typer(help="dynamic adjustment requests (动态调整): request, decide, apply, list")
console = Console()
err = Console(stderr=True)

AsOpt = Annotated[str, typer.Option("--as", help="e-mail of the user acting")]
LangOpt = Annotated[str, typer.Option("--lang", help="zh or en (default: the user's language)")]
ReasonOpt = Annotated[str, typer.Option("--reason", help="the reason (审核意见) recorded with the decision")]

KINDS = ", ".join(k.value for k in AdjustmentKind)


def _who(email: str) -> Actor:
    with get_engine().connect() as conn:
        return actor_for(conn, email=email)


def _lang(value: str, actor: Actor | None = None) -> str:
    return cli_lang(value or (actor.lang if actor else None))


def _run(lang: str, work: Any) -> Any:
    try:
        return work()
    except GrantflowError as exc:
        err.print(f"[red]{exc.text(lang)}[/red]")
        raise typer.Exit(code=2) from None


def _start(email: str, lang: str) -> tuple[Actor, str]:
    try:
        actor = _who(email)
    except GrantflowError as exc:
        err.print(f"[red]{exc.text(lang or get_settings().language)}[/red]")
        raise typer.Exit(code=2) from None
    return actor, _lang(lang, actor)


def _data(value: str | None) -> dict[str, Any]:
    if not value:
        return {}
    try:
        parsed = json.loads(value)
    except json.JSONDecodeError as exc:
        raise PayloadInvalid(
            Text(f"--data 不是有效的 JSON：{exc.msg}", f"--data is not valid JSON: {exc.msg}")
        ) from None
    if not isinstance(parsed, dict):
        raise PayloadInvalid(Text("--data 须为 JSON 对象", "--data must be a JSON object"))
    return parsed


@adjustments_app.command("request")
def request_cmd(
    project_id: int,
    kind: Annotated[str, typer.Option("--kind", help=f"one of: {KINDS}")],
    as_: AsOpt,
    reason: Annotated[str, typer.Option("--reason", help="why the change is needed")] = "",
    data: Annotated[
        str | None,
        typer.Option(
            "--data",
            help='the request\'s other fields as JSON, e.g. \'{"new_end_date": "2028-06-30", "no_cost": "yes"}\'',
        ),
    ] = None,
    submit: Annotated[bool, typer.Option("--submit", help="submit it at once")] = False,
    lang: LangOpt = "",
) -> None:
    """Start a request for a project (its unit's applicant, or the office); optionally submit it."""
    actor, language = _start(as_, lang)
    engine = get_engine()

    def work() -> int:
        raw = {**_data(data), **({"reason": reason} if reason else {})}
        with engine.begin() as conn:
            return service.start(conn, project_id=project_id, kind=kind, actor=actor, raw=raw)

    aid = _run(language, work)
    console.print(f"adjustment {aid}: {kind_label(kind).get(language)} (project {project_id})")
    if submit:
        _submit(aid, actor, language)


def _submit(aid: int, actor: Actor, lang: str) -> None:
    result = _run(lang, lambda: service.submit(get_engine(), adjustment_id=aid, actor=actor))
    if not result.ok:
        for key, messages in result.messages(lang).items():
            for m in messages:
                err.print(f"[red]{key}: {m}[/red]")
        err.print("[red]未能提交，已保存为草稿[/red]" if lang == "zh" else "[red]not submitted; kept as a draft[/red]")
        raise typer.Exit(code=2)
    t = result.transition
    console.print(f"adjustment {aid}: {t.from_state} → {t.to_state} (event {t.event_id})")


@adjustments_app.command("submit")
def submit_cmd(adjustment_id: int, as_: AsOpt, lang: LangOpt = "") -> None:
    """Submit a drafted or returned request (its form is checked first)."""
    actor, language = _start(as_, lang)
    _submit(adjustment_id, actor, language)


def _decide(action: str, adjustment_id: int, email: str, reason: str, lang: str) -> None:
    actor, language = _start(email, lang)
    engine = get_engine()

    def work() -> Any:
        with engine.begin() as conn:
            return service.decide(conn, adjustment_id=adjustment_id, action=action, actor=actor, reason=reason)

    t = _run(language, work)
    console.print(f"adjustment {adjustment_id}: {t.from_state} → {t.to_state} (event {t.event_id})")


@adjustments_app.command("review")
def review_cmd(adjustment_id: int, as_: AsOpt, reason: ReasonOpt = "", lang: LangOpt = "") -> None:
    """The organising unit reviews a submitted request and passes it to the office."""
    _decide("review", adjustment_id, as_, reason, lang)


@adjustments_app.command("approve")
def approve_cmd(adjustment_id: int, as_: AsOpt, reason: ReasonOpt = "", lang: LangOpt = "") -> None:
    """The office approves (a major request then goes to the leadership group, which approves it)."""
    _decide("approve", adjustment_id, as_, reason, lang)


@adjustments_app.command("reject")
def reject_cmd(adjustment_id: int, as_: AsOpt, reason: ReasonOpt = "", lang: LangOpt = "") -> None:
    """Reject a request at the current step, with the reason."""
    _decide("reject", adjustment_id, as_, reason, lang)


@adjustments_app.command("return")
def return_cmd(adjustment_id: int, as_: AsOpt, reason: ReasonOpt = "", lang: LangOpt = "") -> None:
    """Return a request to its requester for changes, with the reason."""
    _decide("return", adjustment_id, as_, reason, lang)


@adjustments_app.command("apply")
def apply_cmd(adjustment_id: int, as_: AsOpt, reason: ReasonOpt = "", lang: LangOpt = "") -> None:
    """Apply an approved request: the project changes through the engine, before and after kept."""
    _decide("apply", adjustment_id, as_, reason, lang)


@adjustments_app.command("cancel")
def cancel_cmd(adjustment_id: int, as_: AsOpt, lang: LangOpt = "") -> None:
    """The requester withdraws a drafted or returned request."""
    _decide("cancel", adjustment_id, as_, "", lang)


@adjustments_app.command("list")
def list_cmd(
    as_: AsOpt,
    project: Annotated[int | None, typer.Option("--project", help="only this project")] = None,
    programme: Annotated[int | None, typer.Option("--programme", help="only this programme (its code, 1-12)")] = None,
    waiting: Annotated[bool, typer.Option("--queue", help="only those waiting for me")] = False,
    lang: LangOpt = "",
) -> None:
    """Requests you may see, newest first (or your queue)."""
    actor, language = _start(as_, lang)
    engine = get_engine()
    wf = service.workflow()

    def work() -> list[Any]:
        with engine.connect() as conn:
            if waiting:
                return service.queue(conn, actor)
            programme_id = None
            if programme is not None:
                programme_id = conn.execute(
                    select(Programme.id).where(Programme.code == programme)
                ).scalar_one_or_none()
                if programme_id is None:
                    return []
            return service.list_for(conn, actor, project_id=project, programme_id=programme_id)

    rows = _run(language, work)
    table = Table()
    for col in ("id", "project", "kind", "state", "major", "applied"):  # not a workflow state
        table.add_column(col)
    for r in rows:
        table.add_row(
            str(r.id),
            r.project_code,
            kind_label(r.kind).get(language),
            f"{r.state} ({wf.state_label(r.state).get(language)})",
            "" if r.major is None else ("yes" if r.major else "no"),
            r.applied_at.strftime("%Y-%m-%d") if r.applied_at else "",
        )
    console.print(table)


@adjustments_app.command("show")
def show_cmd(adjustment_id: int, as_: AsOpt, lang: LangOpt = "") -> None:
    """One request: what it asks, who decided what and why, what changed, and what you may do now."""
    actor, language = _start(as_, lang)
    engine = get_engine()

    def work() -> service.AdjustmentView:
        with engine.connect() as conn:
            return service.show(conn, adjustment_id=adjustment_id, actor=actor)

    v = _run(language, work)
    r = v.row
    console.print(f"[bold]adjustment {r.id}[/bold] · {v.kind.get(language)} · {v.project.code} {v.project.title}")
    console.print(f"state: {r.state} ({v.workflow.state_label(r.state).get(language)})")
    console.print(f"started by: {v.initiator.get(language)}")
    if r.major_reason:
        console.print(f"major: {r.major_reason[language] if language in r.major_reason else r.major_reason['zh']}")
    values = r.request if r.request is not None else r.draft
    console.print(json.dumps(values, ensure_ascii=False, indent=2))
    for d in v.decisions:
        label = event_label(d["action"]).get(language)
        why = f" — {d['reason']}" if d["reason"] else ""
        console.print(f"  {d['at']:%Y-%m-%d %H:%M} {d['actor']}: {label} ({d['from']} → {d['to']}){why}")
    for key, change in v.changes.items():
        console.print(f"  {key}: {change['before']} → {change['after']}")
    for b in v.buttons:
        mark = "✓" if b.allowed else "✗"
        reasons = "; ".join(x.get(language) for x in b.reasons)
        console.print(f"  {mark} {b.trigger} ({b.label.get(language)}){' — ' + reasons if reasons else ''}")
