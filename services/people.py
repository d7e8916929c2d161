"""The office's directory: organisations and people, listed page by page, registered, and
people's accounts switched off and on again.

The checks are ``states.people``; who may do this is ``states.permissions.may_manage_people``.
Every registration and every change of an account is an audit event (on the organisation or
the person). The caller owns the transaction. ``grantflow orgs add`` / ``users add`` stay
operator commands without an acting person: the first office account has to come from somewhere.
"""

from __future__ import annotations

from collections.abc import Iterable, Mapping, Sequence
from dataclasses import dataclass
from datetime import datetime
from typing import Any
from urllib.parse import urlencode

from sqlalchemy import Connection, exists, func, insert, or_, select, update

from grantflow.db import audit
from grantflow.db.models import Organisation, User, UserRole, table
from grantflow.services import sessions
from grantflow.services.passwords import hash_password
from grantflow.services.signin import check_new_password
from grantflow.states.errors import Forbidden, NotFound, PayloadInvalid
from grantflow.states.people import Problems, organisation_problems, user_problems
from grantflow.states.permissions import PEOPLE_FORBIDDEN, Actor, may_manage_people
from grantflow.states.text import Text, clean_line, join

_o = table(Organisation)
_u = table(User)
_r = table(UserRole)

PER_PAGE = 25


class PeopleInvalid(PayloadInvalid):
    """A registration refused, with the problems by field; nothing was written."""

    code = "people_invalid"

    def __init__(self, problems: Problems) -> None:
        flat = [p for texts in problems.values() for p in texts]
        body = join(flat)
        super().__init__(
            Text("未登记：" + body.zh, "Not registered: " + body.en),
            details={"fields": {k: [t.as_dict() for t in v] for k, v in problems.items()}},
        )
        self.problems = problems

    def shown(self, lang: str) -> dict[str, list[str]]:
        """The problems by field, in one language (what a page prints beside each field)."""
        return {k: [t.get(lang) for t in v] for k, v in self.problems.items()}


@dataclass(frozen=True)
class Page:
    """One page of a list: its rows, where it is, and how many there are in all."""

    rows: list[Any]
    page: int
    per_page: int
    total: int

    @property
    def pages(self) -> int:
        return max(1, -(-self.total // self.per_page))


def page_prefix(base: str, filters: Mapping[str, object]) -> str:
    """A list's address with its filters, ready for ``page=N`` (empty filters left out)."""
    kept = {k: v for k, v in filters.items() if v not in (None, "")}
    return f"{base}?{urlencode(kept)}&" if kept else f"{base}?"


def _page(number: int, total: int, per_page: int) -> int:
    return min(max(1, number), max(1, -(-total // per_page)))


def _require(actor: Actor) -> None:
    if not may_manage_people(actor):
        raise Forbidden([PEOPLE_FORBIDDEN])


def _like(q: str) -> str:
    escaped = q.replace("\\", "\\\\").replace("%", "\\%").replace("_", "\\_")
    return f"%{escaped}%"


# --- organisations --------------------------------------------------------------------------------------

ORG_SORTS = {"name": _o.c.name, "kind": _o.c.kind, "newest": _o.c.id.desc(), "id": _o.c.id}


def organisations(conn: Connection, *, q: str = "", kind: str = "", sort: str = "name") -> list[Any]:
    """Every organisation matching the name filter and kind, in the chosen order (with head counts)."""
    people = select(_u.c.organisation_id, func.count().label("people")).group_by(_u.c.organisation_id).subquery()
    stmt = select(_o, func.coalesce(people.c.people, 0).label("people")).outerjoin(
        people, people.c.organisation_id == _o.c.id
    )
    if q.strip():
        pattern = _like(q.strip())
        stmt = stmt.where(or_(_o.c.name.like(pattern, escape="\\"), _o.c.name_en.like(pattern, escape="\\")))
    if kind:
        stmt = stmt.where(_o.c.kind == kind)
    return list(conn.execute(stmt.order_by(ORG_SORTS.get(sort, _o.c.name), _o.c.id)))


def paginate_count(total: int, page: int, per_page: int = PER_PAGE) -> Page:
    """Where page ``page`` of ``total`` rows falls (past the end: the last page); rows to be read."""
    return Page([], _page(page, total, per_page), per_page, total)


def paginate(rows: Sequence[Any], page: int, per_page: int = PER_PAGE) -> Page:
    number = _page(page, len(rows), per_page)
    start = (number - 1) * per_page
    return Page(list(rows[start : start + per_page]), number, per_page, len(rows))


def add_organisation(
    conn: Connection,
    *,
    name: str,
    kind: str,
    actor: Actor,
    now: datetime,
    name_en: str = "",
    region: str = "",
    domains: Iterable[str] = (),
) -> int:
    _require(actor)
    name, name_en, region = clean_line(name), clean_line(name_en), clean_line(region)
    cleaned = [d.strip().lower().lstrip("@") for d in domains if d.strip()]
    taken = bool(name) and conn.execute(select(exists().where(_o.c.name == name))).scalar_one()
    problems = organisation_problems(name=name, kind=kind, domains=cleaned, name_taken=taken)
    if problems:
        raise PeopleInvalid(problems)
    values = {
        "name": name,
        "name_en": name_en or None,
        "kind": kind,
        "region": region or None,
        "email_domains": cleaned,
        "created_at": now,
    }
    org_id = int(conn.execute(insert(_o).returning(_o.c.id), values).scalar_one())
    logged = {k: v for k, v in values.items() if k != "created_at"}
    audit.note(
        conn, subject="organisation", subject_id=org_id, actor=actor, action="registered", payload=logged, now=now
    )
    return org_id


# --- people -----------------------------------------------------------------------------------------------


def users(
    conn: Connection,
    *,
    actor: Actor,
    q: str = "",
    organisation_id: int | None = None,
    role: str = "",
    page: int = 1,
    per_page: int = PER_PAGE,
) -> Page:
    """People matching the filters (name or e-mail, organisation, role), newest first, one page."""
    _require(actor)
    where: list[Any] = []
    if q.strip():
        pattern = _like(q.strip().lower())
        where.append(or_(func.lower(_u.c.name).like(pattern, escape="\\"), _u.c.email.like(pattern, escape="\\")))
    if organisation_id is not None:
        where.append(_u.c.organisation_id == organisation_id)
    if role:
        where.append(exists().where(_r.c.user_id == _u.c.id, _r.c.role == role))
    total = int(conn.execute(select(func.count()).select_from(_u).where(*where)).scalar_one())
    number = _page(page, total, per_page)
    rows = conn.execute(
        select(_u.c.id, _u.c.name, _u.c.email, _u.c.language, _u.c.active, _u.c.created_at, _o.c.name.label("org"))
        .outerjoin(_o, _o.c.id == _u.c.organisation_id)
        .where(*where)
        .order_by(_u.c.id.desc())
        .limit(per_page)
        .offset((number - 1) * per_page)
    ).all()
    ids = [r.id for r in rows]
    roles: dict[int, list[str]] = {i: [] for i in ids}
    if ids:
        for uid, r in conn.execute(select(_r.c.user_id, _r.c.role).where(_r.c.user_id.in_(ids)).order_by(_r.c.role)):
            roles[uid].append(r)
    return Page([{**r._mapping, "roles": roles[r.id]} for r in rows], number, per_page, total)


def add_user(
    conn: Connection,
    *,
    email: str,
    name: str,
    organisation_id: int | None,
    roles: Sequence[str],
    password: str,
    actor: Actor,
    now: datetime,
    language: str = "zh",
) -> int:
    """Register a person with their roles and a first password (they change it after signing in)."""
    _require(actor)
    email, name = email.strip().lower(), clean_line(name)
    known = (
        organisation_id is not None and conn.execute(select(exists().where(_o.c.id == organisation_id))).scalar_one()
    )
    taken = bool(email) and conn.execute(select(exists().where(_u.c.email == email))).scalar_one()
    problems = user_problems(
        email=email,
        name=name,
        organisation_known=bool(known),
        roles=roles,
        language=language,
        email_taken=bool(taken),
    )
    password_issues = check_new_password(password, email=email)
    if password_issues:
        problems["password"] = password_issues
    if problems:
        raise PeopleInvalid(problems)
    uid = int(
        conn.execute(
            insert(_u).returning(_u.c.id),
            {
                "email": email,
                "name": name,
                "organisation_id": organisation_id,
                "language": language,
                "password_hash": hash_password(password),
                "expertise": [],
                "created_at": now,
            },
        ).scalar_one()
    )
    chosen = sorted(set(roles))
    conn.execute(insert(_r), [{"user_id": uid, "role": r} for r in chosen])
    payload = {"email": email, "name": name, "organisation_id": organisation_id, "roles": chosen}
    audit.note(conn, subject="user", subject_id=uid, actor=actor, action="registered", payload=payload, now=now)
    return uid


def set_active(conn: Connection, *, user_id: int, active: bool, actor: Actor, now: datetime) -> int:
    """Switch an account off (every sign-in of that person ends at once) or on again; returns
    how many sign-ins ended. The office cannot switch off its own account."""
    _require(actor)
    found = conn.execute(select(_u.c.id, _u.c.active).where(_u.c.id == user_id)).one_or_none()
    if found is None:
        raise NotFound(Text(f"用户 {user_id} 不存在", f"user {user_id} does not exist"))
    if not active and user_id == actor.user_id:
        raise PayloadInvalid(Text("不能停用自己的账号", "you cannot switch off your own account"))
    if bool(found.active) == active:
        return 0
    conn.execute(update(_u).where(_u.c.id == user_id).values(active=active))
    ended = sessions.end_for_user(conn, user_id=user_id) if not active else 0
    action = "reactivated" if active else "deactivated"
    audit.note(conn, subject="user", subject_id=user_id, actor=actor, action=action, payload=None, now=now)
    return ended
