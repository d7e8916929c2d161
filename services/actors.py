"""Resolve the person behind a request (web session, CLI ``--as``) into a ``states.Actor``."""

from __future__ import annotations

from sqlalchemy import Connection, select

from grantflow.db.models import User, UserRole, table
from grantflow.states.errors import NotFound
from grantflow.states.permissions import Actor
from grantflow.states.text import Text

_u = table(User)
_r = table(UserRole)


def actor_for(conn: Connection, *, user_id: int | None = None, email: str | None = None) -> Actor:
    stmt = select(_u.c.id, _u.c.name, _u.c.organisation_id, _u.c.language, _u.c.active)
    if user_id is not None:
        stmt = stmt.where(_u.c.id == user_id)
    elif email is not None:
        stmt = stmt.where(_u.c.email == email.strip().lower())
    else:
        raise ValueError("user_id or email is required")
    row = conn.execute(stmt).one_or_none()
    if row is None or not row.active:
        who = email if email is not None else f"#{user_id}"
        raise NotFound(Text(f"用户 {who} 不存在或已停用", f"user {who} does not exist or is inactive"))
    roles = frozenset(conn.execute(select(_r.c.role).where(_r.c.user_id == row.id)).scalars())
    return Actor(user_id=row.id, organisation_id=row.organisation_id, roles=roles, name=row.name, lang=row.language)
