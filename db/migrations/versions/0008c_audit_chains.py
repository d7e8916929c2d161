"""Several audit chains: each event belongs to one chain (``chain``) at a place in it (``seq``), and
``audit_head`` holds one row per chain. The existing log becomes chain 1 unchanged (place = id,
hashes as they are); chains 2..64 start empty. On PostgreSQL event ids come from the sequence
``audit_event_ids`` from now on, so writers on different chains never wait for one another.

Revision ID: 0008c
Revises: 0007s
Create Date: 2026-12-02
"""

from __future__ import annotations

from collections.abc import Sequence

import sqlalchemy as sa
from alembic import op

import grantflow.db.models

revision: str = "0008c"
down_revision: str | Sequence[str] | None = "0007s"
branch_labels: str | Sequence[str] | None = None
depends_on: str | Sequence[str] | None = None

CHAINS = 64  # as grantflow.db.audit.CHAINS when this revision was written
GENESIS = "0" * 64
_ids = sa.BigInteger().with_variant(sa.Integer(), "sqlite")


def upgrade() -> None:
    with op.batch_alter_table("audit_events", schema=None) as batch_op:
        batch_op.add_column(sa.Column("chain", sa.Integer(), nullable=True))
        batch_op.add_column(sa.Column("seq", _ids, nullable=True))
    op.execute("UPDATE audit_events SET chain = 1, seq = id")
    with op.batch_alter_table("audit_events", schema=None) as batch_op:
        batch_op.alter_column("chain", existing_type=sa.Integer(), nullable=False)
        batch_op.alter_column("seq", existing_type=_ids, nullable=False)
        batch_op.create_index("ux_audit_chain_seq", ["chain", "seq"], unique=True)
    with op.batch_alter_table("audit_head", schema=None) as batch_op:
        batch_op.add_column(sa.Column("last_seq", _ids, nullable=True))
    op.execute("UPDATE audit_head SET last_seq = last_event_id")
    with op.batch_alter_table("audit_head", schema=None) as batch_op:
        batch_op.alter_column("last_seq", existing_type=_ids, nullable=False)
    head = sa.table(
        "audit_head",
        sa.column("id", sa.Integer),
        sa.column("last_event_id", sa.Integer),
        sa.column("last_hash", sa.String),
        sa.column("last_seq", sa.Integer),
    )
    op.bulk_insert(
        head, [{"id": c, "last_event_id": 0, "last_hash": GENESIS, "last_seq": 0} for c in range(2, CHAINS + 1)]
    )
    if op.get_bind().dialect.name == "postgresql":
        op.execute("CREATE SEQUENCE audit_event_ids AS BIGINT")
        op.execute("SELECT setval('audit_event_ids', (SELECT coalesce(max(id), 0) + 1 FROM audit_events), false)")


def downgrade() -> None:
    """Back to one chain: every event, in id order, renumbered from 1 where the sequence left gaps
    (the outbox follows), linked to the one before and re-hashed with the audit key as one chain."""
    from grantflow.db.audit import current_key, event_hash

    bind = op.get_bind()
    events = sa.table(
        "audit_events",
        *(sa.column(c) for c in ("id", "subject", "subject_id", "actor_id", "actor_name", "action", "from_state")),
        *(sa.column(c) for c in ("to_state", "payload_digest", "prev_hash", "hash", "channel", "channel_detail")),
        sa.column("key_id"),
        sa.column("created_at", grantflow.db.models.base.UTCDateTime()),
    )
    outbox = sa.table("outbox", sa.column("id"), sa.column("event_id"))
    rows = bind.execute(sa.select(events).order_by(events.c.id)).all()
    moved = {row.id: n for n, row in enumerate(rows, 1) if row.id != n}
    if moved:
        refs = bind.execute(sa.select(outbox.c.id, outbox.c.event_id).where(outbox.c.event_id.in_(moved))).all()
        bind.execute(outbox.update().where(outbox.c.event_id.in_(moved)).values(event_id=None))
        for old, new in sorted(moved.items()):  # ascending: each new id is free by then
            bind.execute(events.update().where(events.c.id == old).values(id=new))
        for ref_id, old in refs:
            bind.execute(outbox.update().where(outbox.c.id == ref_id).values(event_id=moved[old]))
    prev = GENESIS
    if rows:
        key = current_key()
        for n, row in enumerate(rows, 1):
            fields = {c: getattr(row, c) for c in row._fields if c not in ("id", "hash", "prev_hash")}
            h = event_hash(key.secret, **{**fields, "id": n, "prev_hash": prev})
            bind.execute(events.update().where(events.c.id == n).values(prev_hash=prev, hash=h))
            prev = h
    if bind.dialect.name == "postgresql":
        op.execute("DROP SEQUENCE IF EXISTS audit_event_ids")
    op.execute("DELETE FROM audit_head WHERE id <> 1")
    head = sa.table("audit_head", sa.column("id"), sa.column("last_event_id"), sa.column("last_hash"))
    bind.execute(head.update().where(head.c.id == 1).values(last_event_id=len(rows), last_hash=prev))
    with op.batch_alter_table("audit_head", schema=None) as batch_op:
        batch_op.drop_column("last_seq")
    with op.batch_alter_table("audit_events", schema=None) as batch_op:
        batch_op.drop_index("ux_audit_chain_seq")
        batch_op.drop_column("seq")
        batch_op.drop_column("chain")
