"""Database-side effects of a transition, run by the engine inside its transaction.

``states.effects.RECORDED_EFFECTS`` names them (so tables can say which row has which);
this module says how each is written. A handler writes rows, never a subject's state.
"""

from __future__ import annotations

from collections.abc import Mapping
from datetime import date, datetime
from typing import TYPE_CHECKING, Any, Protocol

from sqlalchemy import Connection, select, update

from grantflow.config import get_settings
from grantflow.db.inserts import insert_ignoring_duplicates
from grantflow.db.models import DueItem, Programme, Project, table
from grantflow.db.project_documents import day_start, task_agreement
from grantflow.states.deadlines import DueDate, DueStatus, post_evaluation_due_dates, stage_report_dates

if TYPE_CHECKING:
    from grantflow.db.facts import DbFacts
    from grantflow.states.permissions import Actor
    from grantflow.states.workflow import TransitionDef, Workflow


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
    """The four annual post-evaluation report tasks (docs/domain.md, rule 7), each with its date."""
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


def schedule_stage_reports(
    conn: Connection,
    *,
    project_id: int,
    start: datetime,
    end: datetime,
    now: datetime,
    workflow: Workflow | None = None,
) -> int:
    """Mid-term and acceptance report tasks from the project's execution period: those of its
    ``workflow`` (a report no state of it lets anyone hand in, such as the mid-term report of a
    lifecycle without a mid-term review, would be a task nobody can ever finish)."""
    rows = [
        report_row(
            key=f"project:{project_id}:{form_key}", project_id=project_id, form_key=form_key, d=DueDate(0, due), now=now
        )
        for form_key, due in stage_report_dates(start, end).items()
        if workflow is None or workflow.editable_in(form_key)
    ]
    return insert_ignoring_duplicates(conn, _due, rows)


OPEN_STATUSES = ("open", "overdue")


def close_due_items(conn: Connection, *, project_id: int, now: datetime) -> int:
    """Cancel the project's open due items: nothing more falls due, no reminder goes out."""
    result = conn.execute(
        update(_due)
        .where(_due.c.subject == "project", _due.c.subject_id == project_id, _due.c.status.in_(OPEN_STATUSES))
        .values(status="cancelled", closed_at=now)
    )
    return int(result.rowcount or 0)


class EffectHandler(Protocol):
    def __call__(
        self,
        conn: Connection,
        *,
        facts: DbFacts,
        rule: TransitionDef,
        actor: Actor,
        payload: Mapping[str, Any],
        now: datetime,
    ) -> None: ...


def _schedule_post_evaluation(
    conn: Connection, *, facts: DbFacts, rule: TransitionDef, actor: Actor, payload: Mapping[str, Any], now: datetime
) -> None:
    # the acceptance is being recorded in this same transaction (``record_acceptance`` sets
    # accepted_at = now), so ``now`` is the acceptance date
    schedule_post_evaluation(conn, project_id=facts.subject_id, accepted_at=now, tz=get_settings().timezone, now=now)


def _schedule_stage_reports(
    conn: Connection, *, facts: DbFacts, rule: TransitionDef, actor: Actor, payload: Mapping[str, Any], now: datetime
) -> None:
    # the signed task agreement is the contract: its execution period becomes the project's
    # (later changed only by an approved extension); without a period there is nothing to derive,
    # and the office sets a schedule by hand
    p = table(Project)
    tz = get_settings().timezone
    period = _agreed_period(conn, facts.subject_id, tz)
    if period is not None:
        conn.execute(update(p).where(p.c.id == facts.subject_id).values(start_date=period[0], end_date=period[1]))
    row = conn.execute(select(p.c.start_date, p.c.end_date).where(p.c.id == facts.subject_id)).one()
    if row.start_date is not None and row.end_date is not None and row.end_date > row.start_date:
        schedule_stage_reports(
            conn,
            project_id=facts.subject_id,
            start=row.start_date,
            end=row.end_date,
            now=now,
            workflow=facts.workflow_table,
        )


def _agreed_period(conn: Connection, project_id: int, tz: str) -> tuple[datetime, datetime] | None:
    """The submitted task agreement's execution period (local midnights of its two dates), if it has one."""
    agreement = task_agreement(conn, project_id)
    data = (agreement.data if agreement is not None else None) or {}
    try:
        start = date.fromisoformat(str(data.get("start_date") or "")[:10])
        end = date.fromisoformat(str(data.get("end_date") or "")[:10])
    except ValueError:
        return None
    return day_start(start, tz), day_start(end, tz)


def _close_due_items(
    conn: Connection, *, facts: DbFacts, rule: TransitionDef, actor: Actor, payload: Mapping[str, Any], now: datetime
) -> None:
    close_due_items(conn, project_id=facts.subject_id, now=now)


def _record_implementation_plan(
    conn: Connection, *, facts: DbFacts, rule: TransitionDef, actor: Actor, payload: Mapping[str, Any], now: datetime
) -> None:
    # an adjustment of a programme may leave its plan as it is; the audit event keeps every version
    plan = str(payload.get("implementation_plan") or "").strip()
    if plan:
        g = table(Programme)
        conn.execute(update(g).where(g.c.id == facts.subject_id).values(implementation_plan=plan))


def _assess_adjustment(
    conn: Connection, *, facts: DbFacts, rule: TransitionDef, actor: Actor, payload: Mapping[str, Any], now: datetime
) -> None:
    from grantflow.db.adjustments import assess  # the adjustment module fires project triggers (db.apply)

    assess(conn, facts=facts)


def _apply_adjustment(
    conn: Connection, *, facts: DbFacts, rule: TransitionDef, actor: Actor, payload: Mapping[str, Any], now: datetime
) -> None:
    from grantflow.db.adjustments import apply_request

    apply_request(conn, adjustment_id=facts.subject_id, actor=actor, now=now)


RECORDED_EFFECT_HANDLERS: dict[str, EffectHandler] = {
    "schedule_post_evaluation": _schedule_post_evaluation,
    "schedule_stage_reports": _schedule_stage_reports,
    "close_due_items": _close_due_items,
    "record_implementation_plan": _record_implementation_plan,
    "assess_adjustment": _assess_adjustment,
    "apply_adjustment": _apply_adjustment,
}
