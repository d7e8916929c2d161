"""`grantflow evaluation …`: the evaluator register, engagements and results, on behalf of a person (``--as``).

The same services as every other interface: a refused engagement names the same rules here.
"""

from __future__ import annotations

from datetime import date
from typing import Annotated, Any

import typer
from rich.console import Console

from grantflow import clock
from grantflow.cli.common import cli_lang
from grantflow.db.session import get_engine
from grantflow.services.actors import actor_for
from grantflow.services.evaluation import (
    add_qualification,
    assign_evaluator,
    assignments_of,
    record_result,
    results_for,
    withdraw_assignment,
)
from grantflow.services.overview import programme_for_code
from grantflow.states.errors import GrantflowError
from grantflow.states.evaluation import GRADE_LABELS, STAGES, EvaluatorRefused
from grantflow.states.permissions import Actor
from grantflow.states.text import normalise_lang

evaluation_app = typer.Typer(help="third-party evaluation: qualifications, engagements, results (第三方评估)")
console = Console()
err = Console(stderr=True)

AsOpt = Annotated[str, typer.Option("--as", help="e-mail of the person acting")]
LangOpt = Annotated[str, typer.Option("--lang", help="zh or en (default: the person's language)")]
ProjectOpt = Annotated[int | None, typer.Option("--project", help="project id")]
ProgrammeOpt = Annotated[int | None, typer.Option("--programme", help="programme number (1–12)")]


def _who(email: str) -> Actor:
    with get_engine().connect() as conn:
        return actor_for(conn, email=email)


def _run(email: str, lang: str, work: Any) -> Any:
    language = normalise_lang(lang or None)
    try:
        actor = _who(email)
        language = cli_lang(lang or actor.lang)
        with get_engine().begin() as conn:
            return work(conn, actor, language)
    except EvaluatorRefused as exc:
        err.print(f"[red]{exc.text(language)}[/red]")
        err.print(f"rules: {', '.join(exc.rules)}")
        raise typer.Exit(code=2) from None
    except GrantflowError as exc:
        err.print(f"[red]{exc.text(language)}[/red]")
        raise typer.Exit(code=2) from None


def _subject(conn: Any, project: int | None, programme: int | None) -> tuple[str, int]:
    if (project is None) == (programme is None):
        raise typer.BadParameter("give exactly one of --project or --programme")
    if project is not None:
        return "project", project
    pid = programme_for_code(conn, programme)
    assert pid is not None
    return "programme", pid


@evaluation_app.command("qualify")
def qualify_cmd(
    organisation: int,
    as_: AsOpt,
    code: Annotated[str, typer.Option(help="project_evaluation or programme_evaluation")] = "project_evaluation",
    valid_from: Annotated[str, typer.Option("--from", help="first valid day, YYYY-MM-DD")] = "",
    valid_until: Annotated[str, typer.Option("--until", help="last valid day (default: no end)")] = "",
    issuer: Annotated[str, typer.Option(help="who granted it")] = "",
    reference: Annotated[str, typer.Option(help="certificate number")] = "",
    lang: LangOpt = "",
) -> None:
    """Record one period of an evaluator's qualification (the office keeps the register)."""

    def work(conn: Any, actor: Actor, language: str) -> int:
        return add_qualification(
            conn,
            organisation_id=organisation,
            code=code,
            valid_from=date.fromisoformat(valid_from) if valid_from else clock.now().date(),
            valid_until=date.fromisoformat(valid_until) if valid_until else None,
            issuer=issuer or None,
            reference=reference or None,
            actor=actor,
            now=clock.now(),
        )

    console.print(f"qualification {_run(as_, lang, work)} recorded")


@evaluation_app.command("assign")
def assign_cmd(
    evaluator: int,
    as_: AsOpt,
    stage: Annotated[str, typer.Option(help=", ".join(STAGES))],
    project: ProjectOpt = None,
    programme: ProgrammeOpt = None,
    year: Annotated[int | None, typer.Option(help="the year, for a post-evaluation")] = None,
    due: Annotated[str, typer.Option(help="day the evaluation is due, YYYY-MM-DD")] = "",
    lang: LangOpt = "",
) -> None:
    """Engage an evaluator, if it is qualified on the dates and independent (else: every rule it fails)."""

    def work(conn: Any, actor: Actor, language: str) -> int:
        subject, subject_id = _subject(conn, project, programme)
        return assign_evaluator(
            conn,
            evaluator_id=evaluator,
            subject=subject,
            subject_id=subject_id,
            stage=stage,
            year=year,
            due_on=date.fromisoformat(due) if due else None,
            actor=actor,
            now=clock.now(),
        )

    console.print(f"engagement {_run(as_, lang, work)}")


@evaluation_app.command("withdraw")
def withdraw_cmd(
    assignment: int, as_: AsOpt, reason: Annotated[str, typer.Option(help="why")], lang: LangOpt = ""
) -> None:
    """Withdraw an engagement (the reason is kept)."""

    def work(conn: Any, actor: Actor, language: str) -> None:
        withdraw_assignment(conn, assignment_id=assignment, reason=reason, actor=actor, now=clock.now())

    _run(as_, lang, work)
    console.print(f"engagement {assignment} withdrawn")


@evaluation_app.command("record")
def record_cmd(
    assignment: int,
    as_: AsOpt,
    score: Annotated[list[str], typer.Option(help="criterion=score, once per criterion")],
    conclusion: Annotated[str, typer.Option(help="the written conclusion")],
    recommendations: Annotated[str, typer.Option(help="recommendations")] = "",
    lang: LangOpt = "",
) -> None:
    """The engaged evaluator records its scores and conclusion."""
    scores = dict(item.split("=", 1) for item in score if "=" in item)

    def work(conn: Any, actor: Actor, language: str) -> int:
        return record_result(
            conn,
            assignment_id=assignment,
            scores=scores,
            conclusion=conclusion,
            recommendations=recommendations or None,
            actor=actor,
            now=clock.now(),
        )

    console.print(f"result {_run(as_, lang, work)} recorded")


@evaluation_app.command("list")
def list_cmd(as_: AsOpt, project: ProjectOpt = None, programme: ProgrammeOpt = None, lang: LangOpt = "") -> None:
    """A subject's engagements and the results this person may read."""

    def work(conn: Any, actor: Actor, language: str) -> tuple[Any, Any, str]:
        subject, subject_id = _subject(conn, project, programme)
        return (
            assignments_of(conn, subject=subject, subject_id=subject_id),
            results_for(conn, subject=subject, subject_id=subject_id, actor=actor),
            language,
        )

    engagements, results, language = _run(as_, lang, work)
    by_assignment = {r.assignment_id: r for r in results}
    # one tab-separated line per engagement: readable, and usable by scripts
    print("engagement\tevaluator\tstage\tyear\tqualified_on\tdue\tstatus\ttotal\tgrade")
    for a in engagements:
        r = by_assignment.get(a.assignment_id)
        fields = [
            str(a.assignment_id),
            a.evaluator_name,
            STAGES[a.stage].get(language),
            str(a.year or ""),
            a.qualified_on.isoformat(),
            a.due_on.isoformat() if a.due_on else "",
            "withdrawn" if a.withdrawn else "live",  # not a workflow state
            str(r.total) if r else "",
            GRADE_LABELS[r.grade].get(language) if r else "",
        ]
        print("\t".join(fields))
