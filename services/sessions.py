"""Web sessions kept on the server: the browser's cookie holds only a random token.

A session row is found by the token's SHA-256, so the table itself holds nothing a reader could
present as a cookie. A session ends when it is older than its absolute lifetime, when it has
been idle too long, when its person signs out, and for every browser of a person whose password
changes or whose account is deactivated (``end_for_user``).
"""

from __future__ import annotations

import hashlib
import secrets
from dataclasses import dataclass, field
from datetime import datetime, timedelta
from typing import Any

from sqlalchemy import Connection, bindparam, delete, insert, select, update

from grantflow.db.models import WebSession, table

_s = table(WebSession)
_BY_ID = select(_s).where(_s.c.id == bindparam("sid"))  # every request's: built once

TOUCH_EVERY = timedelta(seconds=60)
"""How stale ``last_seen_at`` may get before a request writes it again (one write a minute, not
one per request: the idle timeout is measured to within this)."""


def new_token() -> str:
    return secrets.token_urlsafe(32)


def token_id(token: str) -> str:
    return hashlib.sha256(token.encode("ascii", "replace")).hexdigest()


@dataclass
class StoredSession:
    token: str
    user_id: int | None
    data: dict[str, Any] = field(default_factory=dict)
    created_at: datetime | None = None
    last_seen_at: datetime | None = None
    expires_at: datetime | None = None


@dataclass(frozen=True)
class Lifetimes:
    max_age: timedelta
    idle: timedelta


def load(conn: Connection, *, token: str, now: datetime, lifetimes: Lifetimes) -> StoredSession | None:
    """The live session for this token, or None; an expired or idle one is deleted on sight."""
    if not token or len(token) > 200:
        return None
    row = conn.execute(_BY_ID, {"sid": token_id(token)}).one_or_none()
    if row is None:
        return None
    if row.expires_at <= now or row.last_seen_at + lifetimes.idle <= now:
        conn.execute(delete(_s).where(_s.c.id == row.id))
        return None
    return StoredSession(
        token=token,
        user_id=row.user_id,
        data=dict(row.data or {}),
        created_at=row.created_at,
        last_seen_at=row.last_seen_at,
        expires_at=row.expires_at,
    )


def create(
    conn: Connection, *, user_id: int | None, data: dict[str, Any], now: datetime, lifetimes: Lifetimes
) -> StoredSession:
    """A new session under a fresh token (a sign-in never keeps the token it arrived with)."""
    token = new_token()
    expires = now + lifetimes.max_age
    conn.execute(
        insert(_s).values(
            id=token_id(token), user_id=user_id, data=data, created_at=now, last_seen_at=now, expires_at=expires
        )
    )
    return StoredSession(token=token, user_id=user_id, data=data, created_at=now, last_seen_at=now, expires_at=expires)


def save(conn: Connection, *, token: str, data: dict[str, Any], now: datetime) -> None:
    conn.execute(update(_s).where(_s.c.id == token_id(token)).values(data=data, last_seen_at=now))


def touch(conn: Connection, *, session: StoredSession, now: datetime) -> bool:
    """Note activity, at most once a minute; True when a write was made."""
    if session.last_seen_at is not None and now - session.last_seen_at < TOUCH_EVERY:
        return False
    conn.execute(update(_s).where(_s.c.id == token_id(session.token)).values(last_seen_at=now))
    return True


def end(conn: Connection, *, token: str) -> None:
    conn.execute(delete(_s).where(_s.c.id == token_id(token)))


def end_for_user(conn: Connection, *, user_id: int) -> int:
    """End every session of one person (password changed, account deactivated); returns how many."""
    return conn.execute(delete(_s).where(_s.c.user_id == user_id)).rowcount or 0


def purge_expired(conn: Connection, *, now: datetime, lifetimes: Lifetimes) -> int:
    """Remove sessions past their lifetime or idle limit (housekeeping)."""
    result = conn.execute(delete(_s).where((_s.c.expires_at <= now) | (_s.c.last_seen_at <= now - lifetimes.idle)))
    return result.rowcount or 0


def count_for_user(conn: Connection, *, user_id: int) -> int:
    return len(conn.execute(select(_s.c.id).where(_s.c.user_id == user_id)).all())
