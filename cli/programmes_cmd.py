"""`grantflow programmes …`: the twelve programmes, their particulars and their own lifecycle."""

from __future__ import annotations

from pathlib import Path
from typing import Annotated, Any

import typer
from rich.console import Console
from rich.table import Table

from grantflow.config import get_settings
from grantflow.db.session import get_engine
from grantflow.db.workflows import get_registry
from grantflow.services import programmes as service
from grantflow.services.actors import actor_for
from grantflow.states.errors import GrantflowError
from grantflow.states.permissions import Actor
from grantflow.states.programmes import CLASS_LABELS
from grantflow.states.text import Text, normalise_lang
from grantflow.states.workflow import event_label

programmes_app = typer.Typer(help="the twelve programmes (重大专项): particulars, launch, adjustment, conclusion")
console = Console()
err = Console(stderr=True)

AsOpt = Annotated[str, typer.Option("--as", help="e-mail of the user acting")]
LangOpt = Annotated[str, typer.Option("--lang", help="zh or en (default: the user's language)")]


def _lang(value: str, actor: Actor | None = None) -> str:
    return normalise_lang(value or (actor.lang if actor else None) or get_settings().language)


def _run(lang: str, work: Any) -> Any:
    try:
        return work()
    except GrantflowError as exc:
        err.print(f"[red]{exc.text(lang)}[/red]")
        raise typer.Exit(code=2) from None


def _who(email: str, lang: str) -> tuple[Actor, str]:
    def find() -> Actor:
        with get_engine().connect() as conn:
            return actor_for(conn, email=email)

    actor = _run(_lang(lang), find)
    return actor, _lang(lang, actor)


@programmes_app.command("list")
def list_cmd(lang: LangOpt = "") -> None:
    """The twelve programmes with their class, state, lead organising unit, key tasks and targets."""
    language = _lang(lang)
    with get_engine().connect() as conn:
        rows = service.list_programmes(conn)
    wf = get_registry().get("programme")
    table = Table()
    for col in ("code", "name", "class", "state", "lead unit", "key tasks", "targets"):
        table.add_column(col)
    for r in rows:
        table.add_row(
            str(r.code),
            r.name if language == "zh" else r.name_en,
            str(r.programme_class),
            f"{r.state} ({wf.state_label(r.state).get(language)})",
            (r.lead_unit if language == "zh" else r.lead_unit_en or r.lead_unit) or "",
            str(r.key_tasks),
            str(r.targets_count),
        )
    console.print(table)


@programmes_app.command("show")
def show_cmd(code: int, as_: AsOpt, lang: LangOpt = "") -> None:
    """One programme: particulars, targets, history, and what you may do now."""
    actor, language = _who(as_, lang)

    def work() -> service.ProgrammeView:
        with get_engine().connect() as conn:
            return service.show(conn, code=code, actor=actor)

    v = _run(language, work)
    r = v.row
    console.print(f"[bold]{r.code} {r.name if language == 'zh' else r.name_en}[/bold]")
    console.print(CLASS_LABELS.get(r.programme_class, Text("", "")).get(language))
    console.print(f"state: {r.state} ({v.workflow.state_label(r.state).get(language)})")
    console.print(f"lead organising unit: {v.lead_unit.get(language) if v.lead_unit else '—'}")
    for u in v.other_units:
        console.print(f"  organising unit: {u.get(language)}")
    if r.implementation_plan:
        console.print(f"implementation plan: {r.implementation_plan}")
    for i, t in enumerate(v.key_tasks, start=1):
        console.print(f"  key task {i}: {t.get(language)}")
    for target in v.targets:
        console.print(f"  target ({target.kind}): {target.reads(language)}")
    for e in v.events:
        console.print(f"  {e.created_at:%Y-%m-%d %H:%M} {e.actor.get(language)}: {event_label(e.action).get(language)}")
    for b in v.buttons:
        reasons = "; ".join(x.get(language) for x in b.reasons)
        console.print(
            f"  {'✓' if b.allowed else '✗'} {b.trigger} ({b.label.get(language)}){' — ' + reasons if reasons else ''}"
        )


@programmes_app.command("fire")
def fire_cmd(
    code: int,
    trigger: Annotated[str, typer.Argument(help="launch, start_implementation, adjust, conclude or stop")],
    as_: AsOpt,
    reason: Annotated[str, typer.Option("--reason", help="why (an adjustment, a conclusion, a stop)")] = "",
    plan: Annotated[
        str, typer.Option("--plan", help="the implementation plan (text, or @FILE to read it from a file)")
    ] = "",
    lang: LangOpt = "",
) -> None:
    """Fire a programme's trigger on behalf of a user, through the engine."""
    actor, language = _who(as_, lang)
    text = Path(plan[1:]).read_text(encoding="utf-8") if plan.startswith("@") else plan

    def work() -> Any:
        with get_engine().begin() as conn:
            return service.fire(conn, code=code, trigger=trigger, actor=actor, reason=reason, implementation_plan=text)

    t = _run(language, work)
    console.print(f"programme {code}: {t.from_state} → {t.to_state} (event {t.event_id})")


@programmes_app.command("add-task")
def add_task_cmd(code: int, title: str, as_: AsOpt, title_en: str = "", lang: LangOpt = "") -> None:
    """Add a key task (the office)."""
    actor, language = _who(as_, lang)

    def work() -> int:
        with get_engine().begin() as conn:
            return service.add_key_task(conn, code=code, title=title, title_en=title_en, actor=actor)

    console.print(f"key task {_run(language, work)} added to programme {code}")


@programmes_app.command("add-target")
def add_target_cmd(
    code: int,
    as_: AsOpt,
    kind: Annotated[str, typer.Option(help="standard, patent, talent, paper, product, revenue, … or your own")],
    description: Annotated[str, typer.Option(help="what is to be reached (Chinese)")],
    quantity: Annotated[str, typer.Option(help="how many (at least)")],
    unit: Annotated[str, typer.Option(help="the unit (项, 个, 万元 …)")],
    description_en: str = "",
    unit_en: str = "",
    due_year: Annotated[int | None, typer.Option(help="by which year")] = None,
    weight: Annotated[str | None, typer.Option(help="weight in roll-ups")] = None,
    lang: LangOpt = "",
) -> None:
    """Add a programme target (the office)."""
    actor, language = _who(as_, lang)

    def work() -> int:
        with get_engine().begin() as conn:
            return service.add_target(
                conn,
                code=code,
                kind=kind,
                description=description,
                description_en=description_en,
                quantity=quantity,
                unit=unit,
                unit_en=unit_en,
                due_year=due_year,
                weight=weight,
                actor=actor,
            )

    console.print(f"target {_run(language, work)} added to programme {code}")


@programmes_app.command("add-unit")
def add_unit_cmd(
    code: int,
    organisation_id: int,
    as_: AsOpt,
    lead: Annotated[bool, typer.Option("--lead", help="make it the lead organising unit")] = False,
    lang: LangOpt = "",
) -> None:
    """Name an organising unit of a programme (the office)."""
    actor, language = _who(as_, lang)

    def work() -> None:
        with get_engine().begin() as conn:
            service.add_organising_unit(conn, code=code, organisation_id=organisation_id, actor=actor, lead=lead)

    _run(language, work)
    console.print(f"organisation {organisation_id} organises programme {code}{' (lead)' if lead else ''}")
