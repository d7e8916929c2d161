"""Reading the in-app inbox: a user's messages, unread count, marking read (own messages only)."""

from __future__ import annotations

from datetime import datetime
from typing import Any

from sqlalchemy import Connection, bindparam, func, select, update

from grantflow.db.models import InboxMessage, table

_inbox = table(InboxMessage)
# every page's unread badge: built once
_UNREAD = select(func.count()).where(_inbox.c.user_id == bindparam("uid"), _inbox.c.read_at.is_(None))


def messages_for(conn: Connection, *, user_id: int, limit: int = 100) -> list[Any]:
    return list(
        conn.execute(
            select(_inbox)
            .where(_inbox.c.user_id == user_id)
            .order_by(_inbox.c.created_at.desc(), _inbox.c.id.desc())
            .limit(limit)
        ).all()
    )


def unread_count(conn: Connection, *, user_id: int) -> int:
    return int(conn.execute(_UNREAD, {"uid": user_id}).scalar_one())


def mark_read(conn: Connection, *, user_id: int, message_id: int | None, now: datetime) -> int:
    """Mark one message (or, with ``message_id=None``, all) as read; another user's id changes nothing."""
    stmt = update(_inbox).where(_inbox.c.user_id == user_id, _inbox.c.read_at.is_(None))
    if message_id is not None:
        stmt = stmt.where(_inbox.c.id == message_id)
    return int(conn.execute(stmt.values(read_at=now)).rowcount or 0)
