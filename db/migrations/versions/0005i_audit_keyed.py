"""audit: keyed hashes (HMAC-SHA256 under the audit key), the channel of each event

Existing chains are re-keyed here, once: the unkeyed chain is first checked with its plain
SHA-256 hashes, then every event's hash is recomputed as an HMAC under the audit key (with no
channel: it was not recorded then), and a ``audit_rekeyed`` event (channel ``migration``)
records how many events were re-keyed, the old head (id and plain hash) and whether the old
chain was intact. From then on one algorithm covers the whole log, so nobody can pass off a
forged event as an "old, unkeyed" one. See docs/audit.md.

Revision ID: 0005i
Revises: 0004
Create Date: 2026-11-24
"""

from __future__ import annotations

import hashlib
import hmac
import json
from collections.abc import Sequence
from typing import Any

import sqlalchemy as sa
from alembic import op

import grantflow.db.models

revision: str = "0005i"
down_revision: str | Sequence[str] | None = "0004"
branch_labels: str | Sequence[str] | None = None
depends_on: str | Sequence[str] | None = None

GENESIS = "0" * 64
BATCH = 1000

_events = sa.table(
    "audit_events",
    sa.column("id", sa.Integer()),
    sa.column("subject", sa.String()),
    sa.column("subject_id", sa.Integer()),
    sa.column("actor_id", sa.Integer()),
    sa.column("actor_name", sa.String()),
    sa.column("action", sa.String()),
    sa.column("from_state", sa.String()),
    sa.column("to_state", sa.String()),
    sa.column("payload", sa.JSON()),
    sa.column("payload_digest", sa.String()),
    sa.column("created_at", grantflow.db.models.UTCDateTime()),
    sa.column("prev_hash", sa.String()),
    sa.column("hash", sa.String()),
    sa.column("channel", sa.String()),
    sa.column("channel_detail", sa.String()),
    sa.column("key_id", sa.String()),
)
_head = sa.table("audit_head", sa.column("id", sa.Integer()), sa.column("last_event_id", sa.Integer()), sa.column("last_hash", sa.String()))


def _canonical(value: Any) -> str:
    return json.dumps(value, sort_keys=True, ensure_ascii=False, separators=(",", ":"), default=str)


def _base_fields(row: Any, prev: str) -> list[Any]:
    return [
        row.id, row.subject, row.subject_id, row.actor_id, row.actor_name, row.action, row.from_state,
        row.to_state, row.payload_digest, row.created_at.isoformat(timespec="microseconds"), prev,
    ]


def _plain(row: Any, prev: str) -> str:
    """The hash as written before this revision: SHA-256, no key, no channel."""
    return hashlib.sha256(_canonical({"e": _base_fields(row, prev)}).encode()).hexdigest()


def _keyed(secret: bytes, key_id: str, fields: list[Any], channel: str | None, detail: str | None) -> str:
    """The hash as written from this revision on (the same as grantflow.db.audit.event_hash)."""
    body = _canonical({"e": [*fields, channel, detail, key_id]})
    return hmac.new(secret, body.encode(), hashlib.sha256).hexdigest()


def _rows(conn: sa.Connection) -> list[Any]:
    return list(conn.execute(sa.select(_events).order_by(_events.c.id)))


def upgrade() -> None:
    with op.batch_alter_table("audit_events", schema=None) as batch_op:
        batch_op.add_column(sa.Column("channel", sa.String(length=20), nullable=True))
        batch_op.add_column(sa.Column("channel_detail", sa.String(length=200), nullable=True))
        batch_op.add_column(sa.Column("key_id", sa.String(length=16), nullable=True))
    conn = op.get_bind()
    rows = _rows(conn)
    if rows:
        _rekey(conn, rows)
    with op.batch_alter_table("audit_events", schema=None) as batch_op:
        batch_op.alter_column("key_id", existing_type=sa.String(length=16), nullable=False)


def _rekey(conn: sa.Connection, rows: list[Any]) -> None:
    from grantflow.db.audit import current_key  # the key file, created if this is its first use

    key = current_key(create=True)
    # 1. check the unkeyed chain as it was, so the record says whether it was intact
    problem = None
    prev = GENESIS
    for expected, row in enumerate(rows, 1):
        digest = hashlib.sha256(_canonical(row.payload or {}).encode()).hexdigest()
        if row.id != expected:
            problem = f"event {expected} missing (deleted)"
        elif digest != row.payload_digest or _plain(row, row.prev_hash) != row.hash:
            problem = f"event {row.id} altered: its content does not match its hash"
        elif row.prev_hash != prev:
            problem = f"event {row.id - 1} altered or replaced: event {row.id} does not follow it"
        if problem:
            break
        prev = row.hash
    head_id, head_hash = conn.execute(sa.select(_head.c.last_event_id, _head.c.last_hash).where(_head.c.id == 1)).one()
    if problem is None and (head_id != rows[-1].id or head_hash != rows[-1].hash):
        problem = f"the recorded head (event {head_id}) does not match the last stored event {rows[-1].id}"
    # 2. re-key, in order, each event linked to its re-keyed predecessor
    prev = GENESIS
    updates = []
    for row in rows:
        h = _keyed(key.secret, key.id, _base_fields(row, prev), None, None)
        updates.append({"b_id": row.id, "b_prev": prev, "b_hash": h, "b_key": key.id})
        prev = h
    stmt = (
        _events.update()
        .where(_events.c.id == sa.bindparam("b_id"))
        .values(prev_hash=sa.bindparam("b_prev"), hash=sa.bindparam("b_hash"), key_id=sa.bindparam("b_key"))
    )
    for start in range(0, len(updates), BATCH):
        conn.execute(stmt, updates[start : start + BATCH])
    # 3. the record of it, keyed like any other event
    from grantflow.clock import now

    new_id = rows[-1].id + 1
    payload = {
        "rekeyed_events": len(rows),
        "key_id": key.id,
        "unkeyed_head": {"event_id": head_id, "hash": head_hash},
        "unkeyed_chain_intact": problem is None,
        "unkeyed_chain_problem": problem,
    }
    text = _canonical(payload)
    event = {
        "id": new_id,
        "subject": "audit",
        "subject_id": 0,
        "actor_id": None,
        "actor_name": "migration",
        "action": "audit_rekeyed",
        "from_state": None,
        "to_state": None,
        "payload_digest": hashlib.sha256(text.encode()).hexdigest(),
        "created_at": now(),
        "prev_hash": prev,
        "channel": "migration",
        "channel_detail": "schema revision 0005i: keyed audit hashes",
        "key_id": key.id,
    }
    fields = [
        new_id, "audit", 0, None, "migration", "audit_rekeyed", None, None, event["payload_digest"],
        event["created_at"].isoformat(timespec="microseconds"), prev,
    ]
    event["hash"] = _keyed(key.secret, key.id, fields, event["channel"], event["channel_detail"])
    event["payload"] = json.loads(text)
    conn.execute(_events.insert(), event)
    conn.execute(_head.update().where(_head.c.id == 1).values(last_event_id=new_id, last_hash=event["hash"]))


def downgrade() -> None:
    """Back to plain SHA-256 hashes (the key's protection is given up), channels dropped."""
    conn = op.get_bind()
    prev = GENESIS
    updates = []
    for row in _rows(conn):
        h = _plain(row, prev)
        updates.append({"b_id": row.id, "b_prev": prev, "b_hash": h})
        prev = h
    stmt = (
        _events.update()
        .where(_events.c.id == sa.bindparam("b_id"))
        .values(prev_hash=sa.bindparam("b_prev"), hash=sa.bindparam("b_hash"))
    )
    for start in range(0, len(updates), BATCH):
        conn.execute(stmt, updates[start : start + BATCH])
    if updates:
        conn.execute(_head.update().where(_head.c.id == 1).values(last_event_id=updates[-1]["b_id"], last_hash=prev))
    with op.batch_alter_table("audit_events", schema=None) as batch_op:
        batch_op.drop_column("key_id")
        batch_op.drop_column("channel_detail")
        batch_op.drop_column("channel")

