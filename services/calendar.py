"""Each person's "my deadlines" calendar feed (iCalendar), read by calendar apps without signing in.

The feed's address carries a random token; only its SHA-256 is stored (``calendar_tokens``), so
the address is shown once, when it is made, and resetting it makes the old one stop working.
The feed holds the due items the person must act on (their own assignments, and as an
applicant those of their unit's projects) and the deadlines of the calls their unit is
drafting an application for (a project in a state its table marks ``applying``).
Times are written in UTC; each event's UID is the item's own, so calendar apps update an event
whose date moved instead of adding another.
"""

from __future__ import annotations

import hashlib
import secrets
from dataclasses import dataclass
from datetime import datetime

from icalendar import Calendar, Event
from sqlalchemy import ColumnElement, Connection, and_, delete, false, insert, or_, select

from grantflow.db.models import CalendarToken, Call, DueItem, Project, User, UserRole, table
from grantflow.db.workflows import get_registry
from grantflow.services.lifecycle_view import due_item_label
from grantflow.states.deadlines import DueStatus
from grantflow.states.enums import Role
from grantflow.states.text import Text, normalise_lang

_t = table(CalendarToken)
_due = table(DueItem)
_p = table(Project)
_c = table(Call)
_u = table(User)
_ur = table(UserRole)

UID_DOMAIN = "grantflow"


def _hash(token: str) -> str:
    return hashlib.sha256(token.encode("utf-8")).hexdigest()


def issue_token(conn: Connection, *, user_id: int, now: datetime) -> str:
    """A new feed token for the person, replacing any earlier one; returned once, never stored."""
    token = secrets.token_urlsafe(32)
    conn.execute(delete(_t).where(_t.c.user_id == user_id))
    conn.execute(insert(_t).values(user_id=user_id, token_hash=_hash(token), created_at=now))
    return token


def token_created(conn: Connection, *, user_id: int) -> datetime | None:
    """When the person's current feed address was made; None if they have none."""
    return conn.execute(select(_t.c.created_at).where(_t.c.user_id == user_id)).scalar_one_or_none()


def user_for_token(conn: Connection, token: str) -> int | None:
    """Whose feed a token opens; None for an unknown or replaced one."""
    if not token or len(token) > 200:
        return None
    return conn.execute(select(_t.c.user_id).where(_t.c.token_hash == _hash(token))).scalar_one_or_none()


@dataclass(frozen=True)
class Deadline:
    uid: str
    summary: Text
    due_at: datetime
    project_id: int | None
    call_id: int | None


def _applying_clause() -> ColumnElement[bool]:
    registry = get_registry()
    clauses = []
    for name in registry.names("project"):
        states = registry.get(name).states_where(lambda s: s.applying)
        if states:
            clauses.append(and_(_p.c.workflow == name, _p.c.state.in_(states)))
    return or_(*clauses) if clauses else false()


def my_deadlines(conn: Connection, *, user_id: int) -> list[Deadline]:
    """The person's open and overdue due items and the closing dates of the calls they are
    drafting for, soonest first."""
    user = conn.execute(select(_u.c.organisation_id).where(_u.c.id == user_id)).one()
    roles = set(conn.execute(select(_ur.c.role).where(_ur.c.user_id == user_id)).scalars())
    unit = user.organisation_id if Role.APPLICANT in roles else None
    mine = _due.c.assignee_id == user_id
    if unit is not None:
        # an item with no assignee is the applicants' of the project's unit (as its reminders are)
        ours = select(_p.c.id).where(_p.c.undertaking_unit_id == unit)
        mine = or_(mine, and_(_due.c.assignee_id.is_(None), _due.c.subject_id.in_(ours)))
    rows = conn.execute(
        select(
            _due.c.id,
            _due.c.kind,
            _due.c.label,
            _due.c.form_key,
            _due.c.stage,
            _due.c.period,
            _due.c.due_at,
            _p.c.id.label("project_id"),
            _p.c.code,
        )
        .select_from(_due.join(_p, _due.c.subject_id == _p.c.id))
        .where(_due.c.subject == "project", _due.c.status.in_([DueStatus.OPEN, DueStatus.OVERDUE]), mine)
    ).all()
    out = [
        Deadline(
            uid=f"due-{r.id}@{UID_DOMAIN}",
            summary=_prefixed(r.code, due_item_label(r)),
            due_at=r.due_at,
            project_id=r.project_id,
            call_id=None,
        )
        for r in rows
    ]
    if unit is not None:
        calls = conn.execute(
            select(_c.c.id, _c.c.title, _c.c.title_en, _c.c.closes_at)
            .where(_c.c.closes_at.is_not(None))
            .where(_c.c.id.in_(select(_p.c.call_id).where(_p.c.undertaking_unit_id == unit, _applying_clause())))
        ).all()
        out += [
            Deadline(
                uid=f"call-{c.id}-closes@{UID_DOMAIN}",
                summary=Text(f"申报截止：{c.title}", f"Applications close: {c.title_en or c.title}"),
                due_at=c.closes_at,
                project_id=None,
                call_id=c.id,
            )
            for c in calls
        ]
    return sorted(out, key=lambda d: (d.due_at, d.uid))


def _prefixed(code: str, label: Text) -> Text:
    return Text(f"{code} {label.zh}截止", f"{code}: {label.en} due")


def feed(conn: Connection, *, user_id: int, now: datetime, base_url: str) -> bytes:
    """The person's deadlines as an iCalendar document, in their own language."""
    lang = normalise_lang(conn.execute(select(_u.c.language).where(_u.c.id == user_id)).scalar_one() or "zh")
    cal = Calendar()
    cal.add("prodid", "-//grantflow//my deadlines//EN")
    cal.add("version", "2.0")
    cal.add("calscale", "GREGORIAN")
    cal.add("x-wr-calname", "我的截止日期 · grantflow" if lang == "zh" else "My deadlines · grantflow")
    for d in my_deadlines(conn, user_id=user_id):
        event = Event()
        event.add("uid", d.uid)
        event.add("dtstamp", now)
        # aware UTC, written as UTC ("...Z"); no end: a deadline is a moment (RFC 5545 3.6.1)
        event.add("dtstart", d.due_at)
        event.add("summary", d.summary.get(lang))
        link = f"/projects/{d.project_id}" if d.project_id is not None else f"/calls/{d.call_id}"
        event.add("url", base_url.rstrip("/") + link)
        event.add("transp", "TRANSPARENT")  # a deadline, not time taken
        cal.add_component(event)
    return cal.to_ical()
