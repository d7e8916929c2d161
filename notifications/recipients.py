"""Who receives a message: audiences named in the lifecycle table, resolved against the subject.

``applicant``: applicants of the project's undertaking unit; ``organiser``: members of the
programme's organising unit; ``office``, ``leadership``, ``evaluator``: everyone with that
role; ``reviewers``: the experts who reviewed the project; ``public`` has no mailbox (public
disclosures are published, not mailed). A message may also name users directly
(``payload["user_ids"]``: e.g. the reviewer whose assignment is due).
"""

from __future__ import annotations

from collections.abc import Iterable, Mapping
from dataclasses import dataclass
from typing import Any

from sqlalchemy import Connection, distinct, null, select

from grantflow.db.models import Adjustment, Call, Programme, Project, Review, User, UserRole, table
from grantflow.states.enums import Role

_u = table(User)
_ur = table(UserRole)
_p = table(Project)
_c = table(Call)
_g = table(Programme)
_r = table(Review)
_a = table(Adjustment)

ROLE_OF_AUDIENCE = {
    "applicant": Role.APPLICANT,
    "organiser": Role.ORGANISING_UNIT,
    "office": Role.OFFICE,
    "leadership": Role.LEADERSHIP_GROUP,
    "evaluator": Role.EVALUATOR,
}


@dataclass(frozen=True)
class Recipient:
    user_id: int
    name: str
    email: str
    language: str


@dataclass(frozen=True)
class Owners:
    undertaking_unit_id: int | None
    organising_unit_id: int | None


def owners(conn: Connection, subject: str, subject_id: int) -> Owners:
    if subject == "project":
        row = conn.execute(
            select(_p.c.undertaking_unit_id, _g.c.organising_unit_id)
            .select_from(_p.join(_g, _p.c.programme_id == _g.c.id))
            .where(_p.c.id == subject_id)
        ).one_or_none()
    elif subject == "adjustment":  # a request belongs to its project's unit and programme
        row = conn.execute(
            select(_p.c.undertaking_unit_id, _g.c.organising_unit_id)
            .select_from(_a.join(_p, _a.c.project_id == _p.c.id).join(_g, _p.c.programme_id == _g.c.id))
            .where(_a.c.id == subject_id)
        ).one_or_none()
    elif subject == "call":
        row = conn.execute(
            select(null(), _g.c.organising_unit_id)
            .select_from(_c.join(_g, _c.c.programme_id == _g.c.id))
            .where(_c.c.id == subject_id)
        ).one_or_none()
    else:
        row = conn.execute(select(null(), _g.c.organising_unit_id).where(_g.c.id == subject_id)).one_or_none()
    return Owners(None, None) if row is None else Owners(row[0], row[1])


def _users(conn: Connection, ids: Iterable[int]) -> list[Recipient]:
    wanted = sorted(set(ids))
    if not wanted:
        return []
    rows = conn.execute(
        select(_u.c.id, _u.c.name, _u.c.email, _u.c.language).where(_u.c.id.in_(wanted), _u.c.active.is_(True))
    )
    return [Recipient(r.id, r.name, r.email, r.language) for r in rows]


def _with_role(conn: Connection, role: str, organisation_id: int | None, scoped: bool) -> list[int]:
    stmt = select(_u.c.id).join(_ur, _ur.c.user_id == _u.c.id).where(_ur.c.role == role, _u.c.active.is_(True))
    if scoped:
        if organisation_id is None:
            return []
        stmt = stmt.where(_u.c.organisation_id == organisation_id)
    return list(conn.execute(stmt).scalars())


def resolve(
    conn: Connection, *, subject: str, subject_id: int, audiences: Iterable[str], payload: Mapping[str, Any]
) -> list[Recipient]:
    """Every distinct active user the message is for, in id order."""
    found = owners(conn, subject, subject_id)
    ids: list[int] = [int(i) for i in payload.get("user_ids") or []]
    for audience in audiences:
        if audience == "applicant":
            ids += _with_role(conn, Role.APPLICANT, found.undertaking_unit_id, scoped=True)
        elif audience == "organiser":
            ids += _with_role(conn, Role.ORGANISING_UNIT, found.organising_unit_id, scoped=True)
        elif audience in ROLE_OF_AUDIENCE:
            ids += _with_role(conn, ROLE_OF_AUDIENCE[audience], None, scoped=False)
        elif audience == "reviewers" and subject == "project":
            ids += conn.execute(select(distinct(_r.c.reviewer_id)).where(_r.c.project_id == subject_id)).scalars()
    return _users(conn, ids)
