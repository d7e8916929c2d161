"""Counting attempts per key over a sliding window, in the database every web process shares.

Used for failed sign-ins (per account and per address) and the public questionnaire (per
address). Counters live in ``throttle_events`` rather than in process memory so that several web
processes behind a proxy enforce one limit together, with no extra service to run.
"""

from __future__ import annotations

from dataclasses import dataclass
from datetime import datetime, timedelta

from sqlalchemy import Connection, delete, func, insert, select

from grantflow.db.models import ThrottleEvent, table

_t = table(ThrottleEvent)


@dataclass(frozen=True)
class Policy:
    bucket: str
    limit: int
    window: timedelta


def _key(value: str) -> str:
    return value.strip().lower()[:200]


def retry_after(conn: Connection, policy: Policy, key: str, *, now: datetime) -> int:
    """Seconds until one more attempt is allowed; 0 when it is allowed now."""
    since = now - policy.window
    where = (_t.c.bucket == policy.bucket) & (_t.c.key == _key(key)) & (_t.c.at > since)
    count, oldest = conn.execute(select(func.count(), func.min(_t.c.at)).where(where)).one()
    if count < policy.limit or oldest is None:
        return 0
    # the window slides: one attempt frees up when the oldest counted one leaves it
    return max(1, int((oldest + policy.window - now).total_seconds()) + 1)


def record(conn: Connection, policy: Policy, key: str, *, now: datetime) -> int:
    """Count one attempt; returns how many are in the window now."""
    conn.execute(insert(_t).values(bucket=policy.bucket, key=_key(key), at=now))
    since = now - policy.window
    where = (_t.c.bucket == policy.bucket) & (_t.c.key == _key(key)) & (_t.c.at > since)
    return int(conn.execute(select(func.count()).where(where)).scalar_one())


def clear(conn: Connection, policy: Policy, key: str) -> None:
    conn.execute(delete(_t).where((_t.c.bucket == policy.bucket) & (_t.c.key == _key(key))))


def purge(conn: Connection, *, now: datetime, older_than: timedelta) -> int:
    """Forget attempts older than every window (housekeeping)."""
    return conn.execute(delete(_t).where(_t.c.at <= now - older_than)).rowcount or 0
