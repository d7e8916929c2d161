"""What needs this person now: the home page's to-do list and the navigation's counts.

Nothing here decides who may do what: the project actions are the engine's own buttons
(``Workflow.available`` on the projects this person may see), the review items are their live
assignments at the stage the project is in, the adjustment requests are those where one of
their buttons is pressable (``services.adjustments.queue``), complaints are listed for whoever
``states.permissions`` lets answer them, and due items are the reports their unit owes (or
the evaluations and reviews assigned to them).
"""

from __future__ import annotations

from dataclasses import dataclass
from datetime import datetime, timedelta

from sqlalchemy import Connection, and_, or_, select

from grantflow.db.facts import load_facts
from grantflow.db.models import DueItem, Project, table
from grantflow.db.workflows import get_registry
from grantflow.notifications.inbox import unread_count
from grantflow.services import adjustments
from grantflow.services.complaints import complaints_for
from grantflow.services.queries import visible_projects
from grantflow.services.review.assignment import assignments_of
from grantflow.states.adjustments import KIND_LABELS
from grantflow.states.deadlines import form_label, stage_label
from grantflow.states.enums import Role
from grantflow.states.overview import LIVE_DUE_STATUSES
from grantflow.states.permissions import Actor, may_answer_complaints
from grantflow.states.text import Text

_due = table(DueItem)
_p = table(Project)

DUE_HORIZON = timedelta(days=120)
"""How far ahead a due item counts as "needs me now" (a report due next quarter is worth starting;
those of later years are on the project's own page)."""

SCANNED_PROJECTS = 300
"""Projects whose buttons are read for one to-do list (the most recent the person may see): a home
page stays quick for the office of a large programme; the project list has every one."""


@dataclass(frozen=True)
class Todo:
    """One line of "needs me now": what to do, on what, where to do it, and by when."""

    kind: str  # action | finish | review | adjustment | complaint | due
    what: Text
    subject: str
    href: str
    due_at: datetime | None = None
    overdue: bool = False


def todo_for(conn: Connection, actor: Actor, *, now: datetime) -> list[Todo]:
    """Everything waiting for this person, overdue first, then by date, then the rest."""
    items = [
        *_project_actions(conn, actor, now),
        *_reviews(conn, actor, now),
        *_adjustments(conn, actor, now),
        *_complaints(conn, actor),
        *_due_items(conn, actor, now),
    ]
    far = datetime.max.replace(tzinfo=now.tzinfo)
    return sorted(items, key=lambda t: (not t.overdue, t.due_at or far))


def unread(conn: Connection, actor: Actor) -> int:
    return unread_count(conn, user_id=actor.user_id) if actor.user_id is not None else 0


def _project_actions(conn: Connection, actor: Actor, now: datetime) -> list[Todo]:
    registry = get_registry()
    out: list[Todo] = []
    for p in visible_projects(conn, actor, limit=SCANNED_PROJECTS):
        if p.workflow not in registry:
            continue
        wf = registry.get(p.workflow)
        if wf.state(p.state).terminal:
            continue
        facts = load_facts(conn, "project", p.id)
        subject = f"{p.code} {p.title}"
        buttons = wf.available(facts=facts, actor=actor, now=now)
        # one line per project, naming every step this person can take there now
        tasks = [b.label for b in buttons if b.allowed and wf.is_task(b.trigger, p.state)]
        if tasks:
            what = Text(" / ".join(t.zh for t in tasks), " / ".join(t.en for t in tasks))
            out.append(Todo("action", what, subject, f"/projects/{p.id}"))
        for b in buttons:
            if not b.allowed and b.offered and b.trigger == wf.submit_trigger(p.state):
                # the person's own next step, waiting for their form: finish it, then submit
                out.append(
                    Todo(
                        "finish",
                        Text(f"完善表单后{b.label.zh}", f"complete the form, then {b.label.en}"),
                        subject,
                        f"/projects/{p.id}/forms",
                    )
                )
    return out


def _reviews(conn: Connection, actor: Actor, now: datetime) -> list[Todo]:
    if actor.user_id is None or not actor.has(Role.REVIEWER):
        return []
    registry = get_registry()
    out = []
    for a in assignments_of(conn, reviewer_id=actor.user_id):
        if a.submitted:
            continue
        workflow = conn.execute(select(_p.c.workflow).where(_p.c.id == a.project_id)).scalar_one()
        if workflow not in registry or registry.get(workflow).review_stage(a.state) != a.stage:
            continue  # assigned early: the review opens when the project reaches the stage
        stage = stage_label(a.stage)
        what = Text(f"评审：{stage.zh}", f"review: {stage.en}")
        # the assignment's own due item (``services.sweep.sync_assignments``) dates it
        due = conn.execute(
            select(_due.c.due_at).where(_due.c.key == f"assignment:{a.assignment_id}")
        ).scalar_one_or_none()
        href = f"/review/projects/{a.project_id}/{a.stage}"
        late = due is not None and due < now
        out.append(Todo("review", what, f"{a.code} {a.title}", href, due_at=due, overdue=late))
    return out


def _adjustments(conn: Connection, actor: Actor, now: datetime) -> list[Todo]:
    wf = adjustments.workflow()
    out = []
    for r in adjustments.queue(conn, actor, now=now, limit=50):
        kind = KIND_LABELS.get(r.kind, Text(r.kind, r.kind))
        state = wf.state(r.state).label
        what = Text(f"动态调整：{kind.zh}（{state.zh}）", f"dynamic adjustment: {kind.en} ({state.en})")
        out.append(Todo("adjustment", what, f"{r.project_code} {r.project_title}", f"/adjustments/{r.id}"))
    return out


def _complaints(conn: Connection, actor: Actor) -> list[Todo]:
    if not may_answer_complaints(actor):
        return []
    what = Text("答复申诉", "answer the appeal")
    return [
        Todo("complaint", what, r.project_code, "/review/complaints")
        for r in complaints_for(conn, actor=actor).rows
        if r.open
    ]


def _due_items(conn: Connection, actor: Actor, now: datetime) -> list[Todo]:
    """Reports the person's own unit owes (items with no named assignee) and items named for them."""
    if actor.user_id is None:
        return []
    mine = _due.c.assignee_id == actor.user_id
    if actor.has(Role.APPLICANT) and actor.organisation_id is not None:
        # the ``applicant`` preset, as SQL: the project's own undertaking unit
        mine = or_(mine, and_(_due.c.assignee_id.is_(None), _p.c.undertaking_unit_id == actor.organisation_id))
    rows = conn.execute(
        select(_due.c.form_key, _due.c.stage, _due.c.kind, _due.c.period, _due.c.label, _due.c.due_at)
        .add_columns(_p.c.id, _p.c.code, _p.c.title)
        .select_from(_due.join(_p, and_(_due.c.subject == "project", _due.c.subject_id == _p.c.id)))
        .where(_due.c.status.in_(LIVE_DUE_STATUSES), _due.c.due_at <= now + DUE_HORIZON, mine)
        # a reviewer's assignments are listed as reviews, dated by their items
        .where(or_(_due.c.kind != "review", ~_due.c.key.startswith("assignment:")))
        .order_by(_due.c.due_at)
        .limit(50)
    ).all()
    out = []
    for r in rows:
        if r.form_key:
            name = form_label(r.form_key)
            # a report written once per period opens at its period
            href = f"/projects/{r.id}/forms/{r.form_key}" + (f"?period={r.period}" if r.period else "")
        else:
            name = stage_label(r.stage) if r.stage else Text(r.kind, r.kind)
            href = f"/projects/{r.id}"
        if r.label:
            name = Text(f"{name.zh}：{r.label.get('zh', '')}", f"{name.en}: {r.label.get('en', '')}")
        if r.period:
            name = Text(f"{name.zh}（{r.period}）", f"{name.en} ({r.period})")
        overdue = r.due_at < now
        what = Text(f"逾期：{name.zh}", f"overdue: {name.en}") if overdue else name
        out.append(Todo("due", what, f"{r.code} {r.title}", href, due_at=r.due_at, overdue=overdue))
    return out
