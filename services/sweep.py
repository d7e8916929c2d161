"""The database half of the scheduled sweeps: plain functions of an engine, ``now`` and settings.

``flows.sweep`` composes them into the flows' steps; Prefect wraps those (``flows.prefect_flows``).
Which calls open and close, which projects are reminded and which items are paused or cancelled
is asked of the workflow tables (the rows the scheduler fires, the states' ``reminders``), never
decided here by a state's name.
Every query reads a range of an index on a date (``due_items(status, due_at)``, the calls'
dates), so a sweep's time grows with the items due, not with the number of projects.
Nothing here writes a state column: calls open and close and bids open through the engine.
Running any of them twice for the same ``now`` changes nothing the second time: state
changes are guarded by the lifecycle, due items move forward only, and every message has a
dedupe key naming its item, step and date.
"""

from __future__ import annotations

from collections.abc import Iterable, Sequence
from dataclasses import dataclass, field
from datetime import datetime, timedelta
from typing import Any

from sqlalchemy import (
    ColumnElement,
    Connection,
    Engine,
    String,
    and_,
    cast,
    exists,
    false,
    literal,
    or_,
    select,
    update,
)

from grantflow.db.apply import fire
from grantflow.db.models import Call, DueItem, OutboxMessage, Project, ReviewAssignment, Submission, UserRole, table
from grantflow.db.workflows import get_registry
from grantflow.services.deadlines import assignment_item, insert_ignoring_duplicates
from grantflow.services.outbox import enqueue, message
from grantflow.services.tenders import open_due_bids
from grantflow.states.attributes import CALL_CLOSING
from grantflow.states.deadlines import (
    STEP_AUDIENCES,
    DueStatus,
    escalation_step_due,
    escalation_window,
    reminder_horizon,
    reminder_offset_due,
)
from grantflow.states.enums import Role, SubmissionStatus
from grantflow.states.errors import GrantflowError
from grantflow.states.permissions import SYSTEM, Actor
from grantflow.states.workflow import Registry

_due = table(DueItem)
_p = table(Project)
_c = table(Call)
_s = table(Submission)
_a = table(ReviewAssignment)
_ur = table(UserRole)
_outbox = table(OutboxMessage)

BATCH = 500
"""Rows per query round-trip when checking items (keeps SQLite's variable limit and memory low)."""


@dataclass
class SweepReport:
    calls_opened: list[int] = field(default_factory=list)
    calls_closed: list[int] = field(default_factory=list)
    bids_opened: list[int] = field(default_factory=list)
    items_scanned: int = 0
    items_done: int = 0
    items_cancelled: int = 0
    items_overdue: int = 0
    assignments_added: int = 0
    messages: int = 0
    errors: list[str] = field(default_factory=list)

    @property
    def rows_touched(self) -> int:
        """Rows read or written by the sweep (due items, calls fired, messages written)."""
        return (
            self.items_scanned
            + self.items_done
            + self.items_cancelled
            + self.items_overdue
            + self.assignments_added
            + self.messages
            + len(self.calls_opened)
            + len(self.calls_closed)
            + len(self.bids_opened)
        )

    def merge(self, other: SweepReport) -> SweepReport:
        for name, value in other.__dict__.items():
            mine = getattr(self, name)
            setattr(self, name, mine + value)
        return self

    def as_dict(self) -> dict[str, Any]:
        return {**self.__dict__, "errors": self.errors[:5], "rows_touched": self.rows_touched}


# --- calls and bids ------------------------------------------------------------------------------


def _fire_each(
    engine: Engine, ids: Iterable[int], trigger: str, now: datetime, report: SweepReport, actor: Actor
) -> list[int]:
    fired = []
    for call_id in ids:
        try:
            fire(engine, subject="call", subject_id=call_id, trigger=trigger, actor=actor, now=now)
            fired.append(call_id)
        except GrantflowError as exc:  # e.g. another sweep or a person got there first
            report.errors.append(f"call {call_id} {trigger}: {exc.text('en')}")
    return fired


# the call's date each timed guard waits for, and whether the moment itself already counts
# (at the deadline itself a submission is still on time: a call closes strictly after it)
_CALL_MOMENTS: dict[str, tuple[Any, bool]] = {
    "call_opens_at": (_c.c.opens_at, True),
    "call_closes_at": (_c.c.closes_at, False),
}


def sweep_calls(engine: Engine, *, now: datetime, actor: Actor = SYSTEM) -> SweepReport:
    """Fire the call rows the scheduler fires once their moment has come (the call workflow's
    timed rows: opening at its opening time, closing after its deadline), then open tenders'
    sealed bids at their opening time. ``actor`` is the scheduler, carrying the channel it runs
    through (a flow run, a run by hand)."""
    report = SweepReport()
    registry = get_registry()
    due: list[tuple[str, list[int], str]] = []
    with engine.connect() as conn:
        for name in registry.names("call"):
            for rule, guard in registry.get(name).scheduled():
                column, inclusive = _CALL_MOMENTS[str(guard.after)]
                reached = column <= now if inclusive else column < now
                where = and_(_c.c.workflow == name, _c.c.state == rule.source, reached)
                due.append((rule.trigger, list(conn.execute(select(_c.c.id).where(where)).scalars()), str(guard.after)))
    for trigger, ids, after in due:
        fired = _fire_each(engine, ids, trigger, now, report, actor)
        (report.calls_opened if after == "call_opens_at" else report.calls_closed).extend(fired)
    try:
        report.bids_opened = open_due_bids(engine, now, actor=actor)
    except GrantflowError as exc:
        report.errors.append(f"bids: {exc.text('en')}")
    return report


# --- due items: completion ---------------------------------------------------------------------------


def _completed(conn: Connection, items: Sequence[Any]) -> tuple[set[int], set[int], set[int]]:
    """Of these items: (done, cancelled, paused). Done: the report was submitted or the assignment
    closed; cancelled: the project ended (terminal state); paused: the project's state sends no
    reminders of the item's kind (the table's ``reminders``: a suspended project gets none)."""
    done: set[int] = set()
    cancelled: set[int] = set()
    paused: set[int] = set()
    registry = get_registry()
    project_ids = sorted({i.subject_id for i in items if i.subject == "project"})
    states: dict[int, tuple[str, str]] = {}
    for chunk in _chunks(project_ids):
        found = conn.execute(select(_p.c.id, _p.c.workflow, _p.c.state).where(_p.c.id.in_(chunk)))
        states |= {r.id: (r.workflow, r.state) for r in found}
    reports = [i for i in items if i.kind == "report"]
    submitted: set[tuple[int, str, int | None]] = set()
    for chunk in _chunks(sorted({i.subject_id for i in reports})):
        submitted |= {
            (r.project_id, r.form_key, r.period)
            for r in conn.execute(
                select(_s.c.project_id, _s.c.form_key, _s.c.period).where(
                    _s.c.project_id.in_(chunk), _s.c.status == SubmissionStatus.SUBMITTED
                )
            )
        }
    assignment_ids = [int(i.key.partition(":")[2]) for i in items if i.key.startswith("assignment:")]
    open_assignments: set[int] = set()
    for chunk in _chunks(assignment_ids):
        open_assignments |= set(
            conn.execute(
                select(_a.c.id).where(_a.c.id.in_(chunk), _a.c.review_id.is_(None), _a.c.conflict_declared_at.is_(None))
            ).scalars()
        )
    for item in items:
        wf_state = states.get(item.subject_id)
        if wf_state is not None:
            workflow, state = wf_state
            here = registry.get(workflow).state(state) if workflow in registry else None
            if here is not None and here.terminal:
                cancelled.add(item.id)
                continue
            if here is not None and item.kind not in here.reminders:
                paused.add(item.id)
                continue
        report_in = item.kind == "report" and (item.subject_id, item.form_key, item.period) in submitted
        assignment_closed = (
            item.key.startswith("assignment:") and int(item.key.partition(":")[2]) not in open_assignments
        )
        if report_in or assignment_closed:
            done.add(item.id)
    return done, cancelled, paused


def _chunks(values: list[Any]) -> Iterable[list[Any]]:
    for i in range(0, len(values), BATCH):
        yield values[i : i + BATCH]


def _close(conn: Connection, ids: set[int], status: DueStatus, now: datetime) -> None:
    for chunk in _chunks(sorted(ids)):
        conn.execute(update(_due).where(_due.c.id.in_(chunk)).values(status=status, closed_at=now))


_ITEM_COLUMNS = (
    _due.c.id,
    _due.c.key,
    _due.c.kind,
    _due.c.subject,
    _due.c.subject_id,
    _due.c.form_key,
    _due.c.stage,
    _due.c.period,
    _due.c.label,
    _due.c.assignee_id,
    _due.c.due_at,
    _due.c.status,
)


def mark_overdue(engine: Engine, *, now: datetime) -> SweepReport:
    """Items whose date has passed: done if the work is in, cancelled if the project ended, else overdue."""
    report = SweepReport()
    with engine.begin() as conn:
        items = conn.execute(select(*_ITEM_COLUMNS).where(_due.c.status == DueStatus.OPEN, _due.c.due_at <= now)).all()
        report.items_scanned += len(items)
        done, cancelled, _paused = _completed(conn, items)
        late = {i.id for i in items} - done - cancelled
        _close(conn, done, DueStatus.DONE, now)
        _close(conn, cancelled, DueStatus.CANCELLED, now)
        for chunk in _chunks(sorted(late)):
            conn.execute(
                update(_due)
                .where(_due.c.id.in_(chunk), _due.c.status == DueStatus.OPEN)
                .values(status=DueStatus.OVERDUE, overdue_at=now)
            )
    report.items_done, report.items_cancelled, report.items_overdue = len(done), len(cancelled), len(late)
    return report


# --- review and evaluation assignments -----------------------------------------------------------------


def sync_assignments(engine: Engine, *, now: datetime, review_days: int) -> int:
    """A due item for each open review or evaluation assignment that has none yet.

    Due ``review_days`` after assignment; evaluation when the assignee is a third-party evaluator.
    """
    key = literal("assignment:") + cast(_a.c.id, String)
    is_evaluator = exists().where(_ur.c.user_id == _a.c.reviewer_id, _ur.c.role == Role.EVALUATOR)
    with engine.begin() as conn:
        rows = conn.execute(
            select(_a.c.id, _a.c.project_id, _a.c.stage, _a.c.reviewer_id, _a.c.assigned_at, is_evaluator.label("ev"))
            .where(_a.c.review_id.is_(None), _a.c.conflict_declared_at.is_(None))
            .where(~exists().where(_due.c.key == key))
        ).all()
        return insert_ignoring_duplicates(
            conn,
            _due,
            [
                assignment_item(
                    assignment_id=r.id,
                    project_id=r.project_id,
                    stage=r.stage,
                    reviewer_id=r.reviewer_id,
                    evaluator=bool(r.ev),
                    due_at=r.assigned_at + timedelta(days=review_days),
                    now=now,
                )
                for r in rows
            ],
        )


# --- reminders and escalation ---------------------------------------------------------------------------


def _payload(item: Any, **extra: Any) -> dict[str, Any]:
    return {
        "due_item_id": item.id,
        "item_kind": item.kind,
        "form_key": item.form_key,
        "stage": item.stage,
        "period": item.period,
        "label": item.label,
        "due_at": item.due_at.isoformat(),
        "assignee_id": item.assignee_id,
        **extra,
    }


def _actors(item: Any) -> tuple[list[str], list[int]]:
    """Who must act: the assignee if the item has one, else the project's applicants."""
    return ([], [item.assignee_id]) if item.assignee_id else (["applicant"], [])


def remind(engine: Engine, *, now: datetime, offsets_days: list[int], escalation_days: list[int]) -> SweepReport:
    """Reminders before each due date, and after it the overdue notice and the escalations."""
    report = SweepReport()
    rows: list[dict[str, Any]] = []
    with engine.begin() as conn:
        # before the date: open items within the largest offset
        ahead = conn.execute(
            select(*_ITEM_COLUMNS).where(
                _due.c.status == DueStatus.OPEN,
                _due.c.due_at > now,
                _due.c.due_at <= now + reminder_horizon(offsets_days),
            )
        ).all()
        # after the date: items overdue recently enough to reach a new escalation step
        behind = conn.execute(
            select(*_ITEM_COLUMNS).where(
                _due.c.status == DueStatus.OVERDUE,
                _due.c.due_at <= now,
                _due.c.due_at > now - escalation_window(escalation_days),
            )
        ).all()
        report.items_scanned = len(ahead) + len(behind)
        stamp = lambda item: item.due_at.strftime("%Y%m%dT%H%M")  # noqa: E731 - the date is part of every key
        wanted: list[tuple[Any, str, str | int]] = [
            (i, f"due:{i.id}:before:{d}d:{stamp(i)}", d)
            for i in ahead
            if (d := reminder_offset_due(i.due_at, now, offsets_days)) is not None
        ]
        wanted += [
            (i, f"due:{i.id}:after:{s}:{stamp(i)}", s)
            for i in behind
            if (s := escalation_step_due(i.due_at, now, escalation_days))
        ]
        # most of these were written by an earlier sweep: one indexed look-up of their keys keeps
        # a daily sweep from rebuilding (and re-checking) thousands of messages it already wrote
        sent = _existing_keys(conn, [key for _, key, _ in wanted])
        wanted = [w for w in wanted if w[1] not in sent]
        done, cancelled, paused = _completed(conn, [i for i, _, _ in wanted])
        _close(conn, done, DueStatus.DONE, now)
        _close(conn, cancelled, DueStatus.CANCELLED, now)
        report.items_done, report.items_cancelled = len(done), len(cancelled)
        skip = done | cancelled | paused
        for item, key, what in wanted:
            if item.id in skip:
                continue
            if isinstance(what, int):  # days before the date
                audiences, users = _actors(item)
                kind, payload = "reminder.due_soon", _payload(item, days=what, user_ids=users)
            else:  # the step after it
                first = what == DueStatus.OVERDUE
                audiences, users = _actors(item) if first else (list(STEP_AUDIENCES[what]), [])
                kind = f"reminder.{DueStatus.OVERDUE}" if first else f"escalation.{what}"
                payload = _payload(item, days_overdue=max((now - item.due_at).days, 0), user_ids=users)
            rows.append(
                message(
                    kind=kind,
                    subject=item.subject,
                    subject_id=item.subject_id,
                    audiences=audiences,
                    payload=payload,
                    dedupe_key=key,
                    now=now,
                )
            )
        rows += _call_closing(conn, now=now, offsets_days=offsets_days, report=report)
        report.messages = enqueue(conn, rows)
    return report


def _in_states(table_: Any, registry: Registry, subject: str, test: Any) -> ColumnElement[bool]:
    """Rows whose (workflow, state) has an attribute, for every workflow of the subject kind."""
    clauses = []
    for name in registry.names(subject):
        states = registry.get(name).states_where(test)
        if states:
            clauses.append(and_(table_.c.workflow == name, table_.c.state.in_(states)))
    return or_(*clauses) if clauses else false()


def _existing_keys(conn: Connection, keys: list[str]) -> set[str]:
    found: set[str] = set()
    for chunk in _chunks(keys):
        found.update(conn.execute(select(_outbox.c.dedupe_key).where(_outbox.c.dedupe_key.in_(chunk))).scalars())
    return found


def _call_closing(
    conn: Connection, *, now: datetime, offsets_days: list[int], report: SweepReport
) -> list[dict[str, Any]]:
    """Applicants still preparing their application (a project state whose ``reminders`` include
    the call-closing one: a draft, a returned proposal, a concept note) before their call closes."""
    registry = get_registry()
    preparing = _in_states(_p, registry, "project", lambda s: CALL_CLOSING in s.reminders)
    calls = conn.execute(
        select(_c.c.id, _c.c.title, _c.c.title_en, _c.c.closes_at).where(
            _in_states(_c, registry, "call", lambda s: s.accepting),
            _c.c.closes_at > now,
            _c.c.closes_at <= now + reminder_horizon(offsets_days),
        )
    ).all()
    out = []
    for call in calls:
        days = reminder_offset_due(call.closes_at, now, offsets_days)
        if days is None:
            continue
        projects = conn.execute(select(_p.c.id).where(_p.c.call_id == call.id, preparing)).scalars()
        for pid in projects:
            report.items_scanned += 1
            out.append(
                message(
                    kind="reminder.call_closing",
                    subject="project",
                    subject_id=pid,
                    audiences=["applicant"],
                    payload={
                        "call_id": call.id,
                        "call_title": {"zh": call.title, "en": call.title_en or call.title},
                        "due_at": call.closes_at.isoformat(),
                        "days": days,
                    },
                    dedupe_key=f"call:{call.id}:project:{pid}:before:{days}d:{call.closes_at.strftime('%Y%m%dT%H%M')}",
                    now=now,
                )
            )
    return out


# --- housekeeping ---------------------------------------------------------------------------------------


_PENDING = (DueStatus.OPEN, DueStatus.OVERDUE)


def reconcile(engine: Engine, *, now: datetime) -> int:
    """Close every open or overdue report item whose report is in (daily; the sweeps only look at
    items near a date, so one submitted long after its escalations would otherwise stay overdue)."""
    period_matches = or_(
        and_(_due.c.period.is_(None), _s.c.period.is_(None)),
        _s.c.period == _due.c.period,
    )
    submitted = (
        exists()
        .where(
            _s.c.project_id == _due.c.subject_id,
            _s.c.form_key == _due.c.form_key,
            _s.c.status == SubmissionStatus.SUBMITTED,
        )
        .where(period_matches)
    )
    closed_assignment = exists().where(
        literal("assignment:") + cast(_a.c.id, String) == _due.c.key,
        or_(_a.c.review_id.is_not(None), _a.c.conflict_declared_at.is_not(None)),
    )
    with engine.begin() as conn:
        n = conn.execute(
            update(_due)
            .where(_due.c.status.in_(_PENDING), _due.c.kind == "report", submitted)
            .values(status=DueStatus.DONE, closed_at=now)
        ).rowcount
        n += conn.execute(
            update(_due)
            .where(_due.c.status.in_(_PENDING), _due.c.kind != "report", closed_assignment)
            .values(status=DueStatus.DONE, closed_at=now)
        ).rowcount
    return int(n or 0)
