"""Database-side effects of a transition, run by the engine inside its transaction.

``states.effects.RECORDED_EFFECTS`` names them (so tables can say which row has which);
this module says how each is written. A handler writes rows, never a subject's state.
"""

from __future__ import annotations

from datetime import datetime
from typing import TYPE_CHECKING, Any, Protocol

from sqlalchemy import Connection, select

from grantflow.config import get_settings
from grantflow.db.inserts import insert_ignoring_duplicates
from grantflow.db.models import DueItem, Project, table
from grantflow.states.deadlines import DueDate, DueStatus, post_evaluation_due_dates, stage_report_dates

if TYPE_CHECKING:
    from grantflow.db.facts import DbFacts
    from grantflow.states.workflow import TransitionDef


_due = table(DueItem)


def report_row(
    *, key: str, project_id: int, form_key: str, d: DueDate, now: datetime, schedule_id: int | None = None
) -> dict[str, Any]:
    return {
        "key": key,
        "kind": "report",
        "subject": "project",
        "subject_id": project_id,
        "schedule_id": schedule_id,
        "seq": d.seq,
        "form_key": form_key,
        "stage": None,
        "period": d.period,
        "label": d.label.as_dict() if d.label else None,
        "assignee_id": None,
        "due_at": d.due_at,
        "status": DueStatus.OPEN,
        "overdue_at": None,
        "closed_at": None,
        "created_at": now,
    }


def schedule_post_evaluation(
    conn: Connection, *, project_id: int, accepted_at: datetime, tz: str, now: datetime
) -> int:
    """The four annual post-evaluation report tasks (DESIGN rule 7), each with its date."""
    rows = [
        report_row(
            key=f"project:{project_id}:post_evaluation_report:{d.period}",
            project_id=project_id,
            form_key="post_evaluation_report",
            d=d,
            now=now,
        )
        for d in post_evaluation_due_dates(accepted_at, tz)
    ]
    return insert_ignoring_duplicates(conn, _due, rows)


def schedule_stage_reports(conn: Connection, *, project_id: int, start: datetime, end: datetime, now: datetime) -> int:
    """Mid-term and acceptance report tasks from the project's execution period."""
    rows = [
        report_row(
            key=f"project:{project_id}:{form_key}", project_id=project_id, form_key=form_key, d=DueDate(0, due), now=now
        )
        for form_key, due in stage_report_dates(start, end).items()
    ]
    return insert_ignoring_duplicates(conn, _due, rows)


class EffectHandler(Protocol):
    def __call__(self, conn: Connection, *, facts: DbFacts, rule: TransitionDef, now: datetime) -> None: ...


def _schedule_post_evaluation(conn: Connection, *, facts: DbFacts, rule: TransitionDef, now: datetime) -> None:
    # the acceptance is being recorded in this same transaction (``record_acceptance`` sets
    # accepted_at = now), so ``now`` is the acceptance date
    schedule_post_evaluation(conn, project_id=facts.subject_id, accepted_at=now, tz=get_settings().timezone, now=now)


def _schedule_stage_reports(conn: Connection, *, facts: DbFacts, rule: TransitionDef, now: datetime) -> None:
    # without an execution period there is nothing to derive; the office sets a schedule by hand
    p = table(Project)
    row = conn.execute(select(p.c.start_date, p.c.end_date).where(p.c.id == facts.subject_id)).one()
    if row.start_date is not None and row.end_date is not None and row.end_date > row.start_date:
        schedule_stage_reports(conn, project_id=facts.subject_id, start=row.start_date, end=row.end_date, now=now)


RECORDED_EFFECT_HANDLERS: dict[str, EffectHandler] = {
    "schedule_post_evaluation": _schedule_post_evaluation,
    "schedule_stage_reports": _schedule_stage_reports,
}
