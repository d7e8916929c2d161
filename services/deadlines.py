"""Due items and report schedules: writing the rows that the deadline flows poll.

Every writer takes the caller's connection and never commits. Creation is idempotent: each
item has a natural ``key`` (unique), inserted with "on conflict do nothing", so an effect
re-run, a flow retried or two sweeps racing create each item once.
"""

from __future__ import annotations

from collections.abc import Iterable
from datetime import datetime
from typing import Any

from sqlalchemy import Connection, select, update

from grantflow.db.effects import report_row
from grantflow.db.inserts import insert_ignoring_duplicates
from grantflow.db.models import DueItem, ReportSchedule, table
from grantflow.states.deadlines import DueStatus, expand_schedule

_due = table(DueItem)
_sched = table(ReportSchedule)


def set_report_schedule(
    conn: Connection,
    *,
    project_id: int,
    form_key: str,
    kind: str,
    now: datetime,
    tz: str,
    first_due: datetime | None = None,
    every: str | None = None,
    count: int | None = None,
    milestones: Iterable[tuple[str, str, datetime]] = (),
) -> int:
    """Create or change a project's schedule for one report; returns the schedule's id.

    Its open items are rewritten to match: a date that moved keeps its item (same ``seq``)
    with the new date, so the reminders follow it (a reminder is keyed by item, offset and
    date); dates no longer in the schedule are cancelled; new ones are added. Items already
    done stay as they are.
    """
    stones = list(milestones)
    dates = expand_schedule(kind=kind, first_due=first_due, every=every, count=count, milestones=stones, tz=tz)
    values = {
        "kind": kind,
        "every": every,
        "count": count,
        "first_due": first_due,
        "milestones": [{"zh": zh, "en": en, "due_at": due.isoformat()} for zh, en, due in stones],
        "updated_at": now,
    }
    existing = conn.execute(
        select(_sched.c.id, _sched.c.version).where(_sched.c.project_id == project_id, _sched.c.form_key == form_key)
    ).one_or_none()
    if existing is None:
        sid = int(
            conn.execute(
                _sched.insert().returning(_sched.c.id),
                {"project_id": project_id, "form_key": form_key, "version": 1, **values},
            ).scalar_one()
        )
    else:
        sid = existing.id
        conn.execute(update(_sched).where(_sched.c.id == sid).values(version=existing.version + 1, **values))
    items = {
        r.seq: r
        for r in conn.execute(
            select(_due.c.id, _due.c.seq, _due.c.due_at, _due.c.status).where(_due.c.schedule_id == sid)
        )
    }
    wanted = {d.seq: d for d in dates}
    for seq, row in items.items():
        if row.status not in (DueStatus.OPEN, DueStatus.OVERDUE):
            continue
        d = wanted.get(seq)
        if d is None:
            conn.execute(update(_due).where(_due.c.id == row.id).values(status=DueStatus.CANCELLED, closed_at=now))
        elif d.due_at != row.due_at:
            # a moved date is open again until it passes; the sweep marks it overdue if it already has
            conn.execute(
                update(_due)
                .where(_due.c.id == row.id)
                .values(
                    due_at=d.due_at,
                    period=d.period,
                    label=d.label.as_dict() if d.label else None,
                    status=DueStatus.OPEN,
                    overdue_at=None,
                )
            )
    new = [
        report_row(key=f"schedule:{sid}:{seq}", project_id=project_id, form_key=form_key, d=d, now=now, schedule_id=sid)
        for seq, d in wanted.items()
        if seq not in items
    ]
    insert_ignoring_duplicates(conn, _due, new)
    return sid


def assignment_item(
    *,
    assignment_id: int,
    project_id: int,
    stage: str,
    reviewer_id: int,
    evaluator: bool,
    due_at: datetime,
    now: datetime,
) -> dict[str, Any]:
    """The due-item row for one review (or evaluation) assignment."""
    return {
        "key": f"assignment:{assignment_id}",
        "kind": "evaluation" if evaluator else "review",
        "subject": "project",
        "subject_id": project_id,
        "schedule_id": None,
        "seq": None,
        "form_key": None,
        "stage": stage,
        "period": None,
        "label": None,
        "assignee_id": reviewer_id,
        "due_at": due_at,
        "status": DueStatus.OPEN,
        "overdue_at": None,
        "closed_at": None,
        "created_at": now,
    }
