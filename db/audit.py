"""The append-only audit log, chained by hash.

Each event's hash covers its own fields and the previous event's hash; ``audit_head`` holds
the newest id and hash, so an edited row, a deleted row and a deleted tail are all found.
Events get consecutive ids under the head row's lock, which also serialises writers on
PostgreSQL (SQLite serialises writers by itself).
"""

from __future__ import annotations

import hashlib
import json
from collections.abc import Iterator, Mapping
from dataclasses import dataclass
from datetime import datetime
from typing import Any

from sqlalchemy import Connection, insert, select, update
from sqlalchemy.engine import Dialect

from grantflow.db.models import AuditEvent, AuditHead, table
from grantflow.db.prepared import Prepared, Statements, cursor
from grantflow.states.permissions import Actor

GENESIS = "0" * 64

_events = table(AuditEvent)
_head = table(AuditHead)

_READ_HEAD = select(_head.c.last_event_id, _head.c.last_hash).where(_head.c.id == 1).with_for_update()
_WRITE_HEAD = update(_head).where(_head.c.id == 1)
_INSERT = insert(_events)
_INSERT_KEYS = (
    "id",
    "subject",
    "subject_id",
    "actor_id",
    "actor_name",
    "action",
    "from_state",
    "to_state",
    "payload_digest",
    "created_at",
    "prev_hash",
    "payload",
    "hash",
)


def _build(name: str, dialect: Dialect) -> Prepared:
    if name == "read_head":
        return Prepared(_READ_HEAD, dialect)
    if name == "write_head":
        return Prepared(_WRITE_HEAD, dialect, ("last_event_id", "last_hash"))
    return Prepared(_INSERT, dialect, _INSERT_KEYS)


STATEMENTS = Statements(_build)
"""The three statements of ``append``, compiled per dialect (see ``db.prepared``)."""


def canonical(payload: Mapping[str, Any]) -> str:
    """One text for one payload: sorted keys, no spaces, non-JSON values as strings."""
    return json.dumps(payload, sort_keys=True, ensure_ascii=False, separators=(",", ":"), default=str)


def normalise(payload: Mapping[str, Any] | None) -> tuple[dict[str, Any], str]:
    """The payload as stored (plain JSON types) and its digest."""
    text = canonical(payload or {})
    return json.loads(text), hashlib.sha256(text.encode()).hexdigest()


def event_hash(
    *,
    id: int,
    subject: str,
    subject_id: int,
    actor_id: int | None,
    actor_name: str,
    action: str,
    from_state: str | None,
    to_state: str | None,
    payload_digest: str,
    created_at: datetime,
    prev_hash: str,
) -> str:
    fields = [
        id,
        subject,
        subject_id,
        actor_id,
        actor_name,
        action,
        from_state,
        to_state,
        payload_digest,
        created_at.isoformat(timespec="microseconds"),
        prev_hash,
    ]
    return hashlib.sha256(canonical({"e": fields}).encode()).hexdigest()


def append(
    conn: Connection,
    *,
    subject: str,
    subject_id: int,
    actor_id: int | None,
    actor_name: str,
    action: str,
    from_state: str | None,
    to_state: str | None,
    payload: Mapping[str, Any] | None,
    now: datetime,
) -> int:
    """Append one event inside the caller's transaction; returns its id."""
    stored, digest = normalise(payload)
    dialect = conn.dialect
    cur = cursor(conn)
    # the head row's lock (FOR UPDATE on PostgreSQL) serialises appenders until commit
    read_head = STATEMENTS.get(dialect, "read_head")
    head = read_head.row(read_head.execute(cur).fetchone())
    if head is None:
        raise RuntimeError("the audit_head row is missing: run `grantflow db upgrade`")
    last_id, prev = head
    new_id = last_id + 1
    row = {
        "id": new_id,
        "subject": subject,
        "subject_id": subject_id,
        "actor_id": actor_id,
        "actor_name": actor_name,
        "action": action,
        "from_state": from_state,
        "to_state": to_state,
        "payload_digest": digest,
        "created_at": now,
        "prev_hash": prev,
    }
    h = event_hash(**row)
    row["payload"] = stored
    row["hash"] = h
    STATEMENTS.get(dialect, "insert").execute(cur, row)
    STATEMENTS.get(dialect, "write_head").execute(cur, {"last_event_id": new_id, "last_hash": h})
    return new_id


def note(
    conn: Connection,
    *,
    subject: str = "project",
    subject_id: int,
    actor: Actor,
    action: str,
    payload: Mapping[str, Any] | None,
    now: datetime,
) -> int:
    """Append an event that changes no state (a form submitted, a review recorded, a bid sealed)."""
    return append(
        conn,
        subject=subject,
        subject_id=subject_id,
        actor_id=actor.user_id,
        actor_name=actor.name,
        action=action,
        from_state=None,
        to_state=None,
        payload=payload,
        now=now,
    )


@dataclass(frozen=True)
class Verification:
    ok: bool
    checked: int
    broken_event_id: int | None = None
    problem: str | None = None
    problem_zh: str | None = None


def _rows(conn: Connection) -> Iterator[Any]:
    result = conn.execution_options(yield_per=2000).execute(select(_events).order_by(_events.c.id))
    yield from result


def verify(conn: Connection) -> Verification:
    """Walk the chain from the start; name the first event that is altered or missing."""
    expected_id = 1
    prev = GENESIS
    checked = 0
    for row in _rows(conn):
        if row.id != expected_id:
            return Verification(
                False,
                checked,
                expected_id,
                f"event {expected_id} is missing (deleted); the next stored event is {row.id}",
                f"第 {expected_id} 号事件缺失（已被删除）；其后存储的事件为第 {row.id} 号",
            )
        _, digest = normalise(row.payload)
        recomputed = event_hash(
            id=row.id,
            subject=row.subject,
            subject_id=row.subject_id,
            actor_id=row.actor_id,
            actor_name=row.actor_name,
            action=row.action,
            from_state=row.from_state,
            to_state=row.to_state,
            payload_digest=row.payload_digest,
            created_at=row.created_at,
            prev_hash=row.prev_hash,
        )
        if digest != row.payload_digest or recomputed != row.hash:
            return Verification(
                False,
                checked,
                row.id,
                f"event {row.id} was altered: its content does not match its hash",
                f"第 {row.id} 号事件被篡改：内容与其哈希不符",
            )
        if row.prev_hash != prev:
            return Verification(
                False,
                checked,
                row.id - 1,
                f"event {row.id - 1} was altered or replaced: event {row.id} does not follow it",
                f"第 {row.id - 1} 号事件被篡改或替换：第 {row.id} 号事件与其不衔接",
            )
        prev = row.hash
        expected_id += 1
        checked += 1
    last_id, last_hash = conn.execute(select(_head.c.last_event_id, _head.c.last_hash)).one()
    if last_id != expected_id - 1 or last_hash != prev:
        if last_id >= expected_id:
            return Verification(
                False,
                checked,
                expected_id,
                f"event {expected_id} is missing (deleted); the log should end at event {last_id}",
                f"第 {expected_id} 号事件缺失（已被删除）；日志应截止于第 {last_id} 号事件",
            )
        return Verification(
            False,
            checked,
            expected_id - 1,
            f"event {expected_id - 1} does not match the recorded head of the log",
            f"第 {expected_id - 1} 号事件与日志记录的末端不符",
        )
    return Verification(True, checked)
