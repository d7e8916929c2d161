"""What the engine does when an adjustment request is submitted and when it is applied.

Both run inside the engine's transaction, as effects of the request's own transitions
(``assess_adjustment`` on submission, ``apply_adjustment`` on application): the request's state,
the project's change, the audit events and the outbox rows commit together or not at all.

Applying a request of a kind that has a project trigger (suspension, resumption, withdrawal,
termination) fires that trigger through ``db.apply`` as the person applying it, acting for the
adjustment (``states.permissions.acting_for_adjustment``): the project's own table decides
whether it may happen. The other kinds change the project's columns with a versioned update and
its task agreement, each recorded as an audit event on the project. The request keeps the
project's terms before and after as JSON documents (``db.project_documents``).
"""

from __future__ import annotations

from datetime import date, datetime
from decimal import Decimal
from typing import TYPE_CHECKING, Any

from sqlalchemy import Connection, select, update

from grantflow.config import get_settings
from grantflow.db import audit
from grantflow.db.adjustment_facts import person_by_email
from grantflow.db.apply import apply_trigger
from grantflow.db.models import Adjustment, DueItem, Project, table
from grantflow.db.project_documents import (
    budget_lines,
    day_start,
    project_row,
    snapshot,
    support_modes,
    task_agreement,
    with_budget_lines,
    with_targets,
    write_task_agreement,
)
from grantflow.states.adjustments import (
    PROJECT_TRIGGER,
    AdjustmentKind,
    budget_after,
    is_major,
    major_reason,
)
from grantflow.states.deadlines import stage_report_dates
from grantflow.states.errors import Conflict
from grantflow.states.permissions import Actor, acting_for_adjustment

if TYPE_CHECKING:
    from grantflow.db.facts import DbFacts

_a = table(Adjustment)
_p = table(Project)
_due = table(DueItem)


def assess(conn: Connection, *, facts: DbFacts) -> None:
    """Record whether the submitted request is major (it then needs the leadership group), and why."""
    adj = facts.adjustment
    if adj is None:  # pragma: no cover - the row names this effect on adjustment requests only
        return
    reason = major_reason(adj)
    conn.execute(
        update(_a)
        .where(_a.c.id == facts.subject_id)
        .values(major=is_major(adj), major_reason=None if reason is None else reason.as_dict())
    )


def _load(conn: Connection, adjustment_id: int) -> Any:
    return conn.execute(select(_a).where(_a.c.id == adjustment_id)).one()


def _change_project(
    conn: Connection,
    *,
    project_id: int,
    values: dict[str, Any],
    adjustment: Any,
    actor: Actor,
    now: datetime,
    changes: dict[str, Any],
) -> None:
    """A versioned update of the project's columns, with its audit event (the project's history)."""
    row = project_row(conn, project_id)
    if values:
        result = conn.execute(
            update(_p)
            .where(_p.c.id == project_id, _p.c.version == row.version)
            .values(**values, version=row.version + 1)
        )
        if result.rowcount != 1:
            raise Conflict(subject="project", subject_id=project_id)
    audit.note(
        conn,
        subject="project",
        subject_id=project_id,
        actor=actor,
        action=f"adjusted:{adjustment.kind}",
        payload={"adjustment_id": adjustment.id, "reason": (adjustment.request or {}).get("reason"), **changes},
        now=now,
    )


def _move_acceptance_report(conn: Connection, *, project_id: int, start: datetime | None, end: datetime) -> None:
    """An extension moves the open acceptance-report task to the new end (mid-term stays as it was)."""
    if start is None or end <= start:
        return
    due = stage_report_dates(start, end)["acceptance_report"]
    conn.execute(
        update(_due)
        .where(
            _due.c.key == f"project:{project_id}:acceptance_report",
            _due.c.status.in_(("open", "overdue")),
        )
        .values(due_at=due, status="open", overdue_at=None)
    )


def apply_request(conn: Connection, *, adjustment_id: int, actor: Actor, now: datetime) -> None:
    """Change the project as the approved request says; keep the before and after documents."""
    tz = get_settings().timezone
    adj = _load(conn, adjustment_id)
    req = dict(adj.request or {})
    pid = adj.project_id
    before = snapshot(conn, pid, tz=tz)
    trigger = PROJECT_TRIGGER.get(adj.kind)
    if trigger is not None:
        apply_trigger(
            conn,
            subject="project",
            subject_id=pid,
            trigger=trigger,
            actor=acting_for_adjustment(actor),
            payload={"reason": req.get("reason"), "adjustment_id": adj.id},
            now=now,
        )
    else:
        values, ta_data = _column_changes(conn, adj, req, tz)
        ta = task_agreement(conn, pid)
        if ta is not None and ta_data is not None:
            write_task_agreement(conn, submission_id=ta.id, data=ta_data, now=now)
        _change_project(
            conn,
            project_id=pid,
            values=values,
            adjustment=adj,
            actor=actor,
            now=now,
            changes={"columns": sorted(values), "task_agreement_changed": ta_data is not None},
        )
        if adj.kind == AdjustmentKind.EXTENSION and "end_date" in values:
            row = project_row(conn, pid)
            _move_acceptance_report(conn, project_id=pid, start=row.start_date, end=values["end_date"])
    after = snapshot(conn, pid, tz=tz)
    conn.execute(update(_a).where(_a.c.id == adj.id).values(before=before, after=after))


def _column_changes(conn: Connection, adj: Any, req: dict[str, Any], tz: str) -> tuple[dict[str, Any], Any]:
    """(project columns to set, the task agreement's new data or None) for a kind without a trigger."""
    pid = adj.project_id
    project = project_row(conn, pid)
    ta = task_agreement(conn, pid)
    data = dict(ta.data or {}) if ta is not None else None
    kind = adj.kind
    if kind == AdjustmentKind.CATEGORY:
        modes = list(req.get("new_support_modes") or []) or support_modes(project)
        return {"category": req["new_category"], "support_modes": modes}, None
    if kind == AdjustmentKind.BUDGET:
        assert data is not None  # the guard refuses a budget change without a task agreement
        budget = with_budget_lines(data, budget_after(budget_lines(data), req))
        return {"budget_yuan": Decimal(budget["total_budget"])}, budget
    if kind == AdjustmentKind.EXTENSION:
        new_end = date.fromisoformat(str(req["new_end_date"])[:10])
        extended = {**data, "end_date": new_end.isoformat()} if data is not None else None
        return {"end_date": day_start(new_end, tz)}, extended
    if kind == AdjustmentKind.UNDERTAKING_UNIT:
        return {"undertaking_unit_id": int(req["new_unit"])}, None
    if kind == AdjustmentKind.PRINCIPAL_INVESTIGATOR:
        found = person_by_email(conn, req.get("new_pi_email"))
        assert found is not None  # the guard refuses an unknown person
        return {"principal_investigator_id": found[0]}, None
    if kind == AdjustmentKind.TARGETS:
        assert data is not None
        return {}, with_targets(data, req.get("new_targets") or [])
    raise ValueError(f"no column change for kind {kind!r}")  # pragma: no cover - kinds are closed
