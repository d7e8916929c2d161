"""Resolve the person behind a request (web session, CLI ``--as``) into a ``states.Actor``."""

from __future__ import annotations

from sqlalchemy import Connection, bindparam, select

from grantflow.db.models import User, UserRole, table
from grantflow.states.errors import NotFound
from grantflow.states.permissions import Actor
from grantflow.states.text import Text

_u = table(User)
_r = table(UserRole)
# every signed-in request reads its person by id: built once, a statement is neither rebuilt nor
# re-keyed for SQLAlchemy's statement cache on each request
_COLUMNS = select(_u.c.id, _u.c.name, _u.c.organisation_id, _u.c.language, _u.c.active)
_BY_ID = _COLUMNS.where(_u.c.id == bindparam("uid"))
_ROLES = select(_r.c.role).where(_r.c.user_id == bindparam("uid"))


def actor_for(conn: Connection, *, user_id: int | None = None, email: str | None = None) -> Actor:
    if user_id is not None:
        row = conn.execute(_BY_ID, {"uid": user_id}).one_or_none()
    elif email is not None:
        row = conn.execute(_COLUMNS.where(_u.c.email == email.strip().lower())).one_or_none()
    else:
        raise ValueError("user_id or email is required")
    if row is None or not row.active:
        who = email if email is not None else f"#{user_id}"
        raise NotFound(Text(f"用户 {who} 不存在或已停用", f"user {who} does not exist or is inactive"))
    roles = frozenset(conn.execute(_ROLES, {"uid": row.id}).scalars())
    return Actor(user_id=row.id, organisation_id=row.organisation_id, roles=roles, name=row.name, lang=row.language)
