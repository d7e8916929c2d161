"""Complaints about review outcomes (the office keeps a complaint channel: docs/lifecycle.md).

An applicant appeals the latest review outcome of its own project within the configured
number of days (``GRANTFLOW_COMPLAINT_DAYS``); the office answers. A complaint is open until
answered; the dashboard counts open and closed ones.
"""

from __future__ import annotations

from dataclasses import asdict, dataclass
from datetime import datetime
from typing import Any

from sqlalchemy import Connection, desc, func, insert, select, update

from grantflow.config import get_settings
from grantflow.db import audit
from grantflow.db.models import AuditEvent, Complaint, Project, table
from grantflow.states.errors import Forbidden, NotFound, PayloadInvalid
from grantflow.states.permissions import (
    ANSWER_FORBIDDEN,
    APPEAL_FORBIDDEN,
    COMPLAINTS_FORBIDDEN,
    Actor,
    ComplaintScope,
    complaint_scope,
    may_answer_complaints,
    may_appeal,
)
from grantflow.states.review_rules import APPEALABLE_DECISIONS, complaint_problems
from grantflow.states.text import Text, join

_cp = table(Complaint)
_e = table(AuditEvent)
_p = table(Project)


@dataclass(frozen=True)
class ComplaintRow:
    complaint_id: int
    project_id: int
    project_code: str
    decision: str
    grounds: str
    filed_at: datetime
    answer: str | None
    answered_at: datetime | None
    open: bool  # until answered

    def as_json(self) -> dict[str, Any]:
        """The row for the JSON API (every field, the project's code as ``code``, times as ISO)."""
        out = asdict(self)
        out.update(id=self.complaint_id, code=self.project_code, filed_at=self.filed_at.isoformat())
        out.update(answered_at=self.answered_at.isoformat() if self.answered_at else None)
        return out


@dataclass(frozen=True)
class ComplaintCounts:
    open: int
    closed: int

    def as_dict(self) -> dict[str, int]:
        return asdict(self)


@dataclass(frozen=True)
class ComplaintOverview:
    """What a person's complaint list shows: the rows they may see and the counts (the office's
    dashboard counts every complaint; anyone else counts their own)."""

    rows: list[ComplaintRow]
    counts: ComplaintCounts


def latest_outcome(conn: Connection, project_id: int) -> tuple[int, str, datetime] | None:
    """The project's latest appealable decision: (audit event id, trigger, when)."""
    row = conn.execute(
        select(_e.c.id, _e.c.action, _e.c.created_at)
        .where(_e.c.subject == "project", _e.c.subject_id == project_id, _e.c.action.in_(APPEALABLE_DECISIONS))
        .order_by(desc(_e.c.id))
        .limit(1)
    ).one_or_none()
    return None if row is None else (row.id, row.action, row.created_at)


def file_complaint(conn: Connection, *, project_id: int, actor: Actor, grounds: str, now: datetime) -> int:
    unit = conn.execute(select(_p.c.undertaking_unit_id).where(_p.c.id == project_id)).scalar_one_or_none()
    if unit is None:
        raise NotFound(Text(f"项目 {project_id} 不存在", f"project {project_id} does not exist"))
    if not may_appeal(actor, undertaking_unit_id=unit):
        raise Forbidden([APPEAL_FORBIDDEN])
    outcome = latest_outcome(conn, project_id)
    reasons = complaint_problems(
        decided_at=outcome[2] if outcome else None, now=now, days=get_settings().complaint_days
    )
    if not grounds.strip():
        reasons.append(Text("请写明申诉理由", "please state the grounds of the appeal"))
    if outcome is not None:
        dup = conn.execute(
            select(_cp.c.id).where(_cp.c.project_id == project_id, _cp.c.decision_event_id == outcome[0])
        ).first()
        if dup is not None:
            reasons.append(Text("已就该评审结果提出过申诉", "this outcome has already been appealed"))
    if reasons:
        body = join(reasons)
        raise PayloadInvalid(Text("申诉未受理：" + body.zh, "The appeal was not accepted: " + body.en))
    assert outcome is not None
    cid = int(
        conn.execute(
            insert(_cp).returning(_cp.c.id),
            {
                "project_id": project_id,
                "decision": outcome[1],
                "decision_event_id": outcome[0],
                "complainant_id": actor.user_id,
                "grounds": grounds.strip(),
                "filed_at": now,
            },
        ).scalar_one()
    )
    audit.note(
        conn,
        subject_id=project_id,
        actor=actor,
        action="complaint_filed",
        payload={"complaint": cid, "decision": outcome[1]},
        now=now,
    )
    return cid


def answer_complaint(conn: Connection, *, complaint_id: int, actor: Actor, answer: str, now: datetime) -> None:
    if not may_answer_complaints(actor):
        raise Forbidden([ANSWER_FORBIDDEN])
    if not answer.strip():
        raise PayloadInvalid(Text("请填写答复内容", "please write the answer"))
    row = conn.execute(select(_cp.c.project_id, _cp.c.answered_at).where(_cp.c.id == complaint_id)).one_or_none()
    if row is None:
        raise NotFound(Text(f"申诉 {complaint_id} 不存在", f"complaint {complaint_id} does not exist"))
    done = conn.execute(
        update(_cp)
        .where(_cp.c.id == complaint_id, _cp.c.answered_at.is_(None))
        .values(answer=answer.strip(), answered_by=actor.user_id, answered_at=now)
    ).rowcount
    if done != 1:
        raise PayloadInvalid(Text("该申诉已答复", "this complaint has already been answered"))
    audit.note(
        conn,
        subject_id=row.project_id,
        actor=actor,
        action="complaint_answered",
        payload={"complaint": complaint_id},
        now=now,
    )


def list_complaints(conn: Connection, *, actor: Actor, project_id: int | None = None) -> list[ComplaintRow]:
    """The office sees every complaint; an applicant its own unit's."""
    stmt = (
        select(_cp, _p.c.code, _p.c.undertaking_unit_id)
        .select_from(_cp.join(_p, _cp.c.project_id == _p.c.id))
        .order_by(_cp.c.id)
    )
    if project_id is not None:
        stmt = stmt.where(_cp.c.project_id == project_id)
    scope = complaint_scope(actor)
    if scope is None:
        raise Forbidden([COMPLAINTS_FORBIDDEN])
    if scope is ComplaintScope.OWN_UNIT:
        stmt = stmt.where(_p.c.undertaking_unit_id == actor.organisation_id)
    return [
        ComplaintRow(
            r.id,
            r.project_id,
            r.code,
            r.decision,
            r.grounds,
            r.filed_at,
            r.answer,
            r.answered_at,
            r.answered_at is None,
        )
        for r in conn.execute(stmt)
    ]


def complaint_counts(conn: Connection) -> dict[str, int]:
    """Open and closed complaints, all of them, for the office's dashboard."""
    open_n = conn.execute(select(func.count()).where(_cp.c.answered_at.is_(None))).scalar_one()
    closed_n = conn.execute(select(func.count()).where(_cp.c.answered_at.is_not(None))).scalar_one()
    return ComplaintCounts(int(open_n), int(closed_n)).as_dict()


def complaints_for(conn: Connection, *, actor: Actor, project_id: int | None = None) -> ComplaintOverview:
    """The complaints this person may see, with the counts they may see: one answer for the pages,
    the API and the CLI (``states.permissions.complaint_scope`` decides)."""
    rows = list_complaints(conn, actor=actor, project_id=project_id)
    if complaint_scope(actor) is ComplaintScope.ALL and project_id is None:
        counts = ComplaintCounts(**complaint_counts(conn))
    else:
        counts = ComplaintCounts(sum(r.open for r in rows), sum(not r.open for r in rows))
    return ComplaintOverview(rows, counts)


def may_list_complaints(actor: Actor) -> bool:
    """Whether a page should show a complaint section to this person at all."""
    return complaint_scope(actor) is not None
