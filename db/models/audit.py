"""The engine's own records: the hash-chained audit log, its head, and the outbox of messages a transition leaves."""

from __future__ import annotations

from datetime import datetime
from typing import Any

from sqlalchemy import (
    JSON,
    BigInteger,
    ForeignKey,
    Index,
    Integer,
    String,
    Text,
)
from sqlalchemy.orm import Mapped, mapped_column

from grantflow.db.models.base import Base


class AuditEvent(Base):
    """Append-only; each row's keyed hash covers its content, its channel, its place in its chain
    and the hash of the event before it in that chain."""

    __tablename__ = "audit_events"
    __table_args__ = (
        Index("ix_audit_subject", "subject", "subject_id"),
        # the office overview counts events by action (starts, suspensions…) over every project:
        # this covering index makes that a range scan instead of a pass over the whole log
        Index("ix_audit_action", "action", "subject", "subject_id", "created_at"),
        # one event per place in a chain; verify walks each chain in this order
        Index("ux_audit_chain_seq", "chain", "seq", unique=True),
    )

    id: Mapped[int] = mapped_column(BigInteger().with_variant(Integer, "sqlite"), primary_key=True)
    subject: Mapped[str] = mapped_column(String(20))
    subject_id: Mapped[int] = mapped_column(Integer)
    actor_id: Mapped[int | None] = mapped_column(Integer)
    actor_name: Mapped[str] = mapped_column(String(100))
    action: Mapped[str] = mapped_column(String(60))
    from_state: Mapped[str | None] = mapped_column(String(40))
    to_state: Mapped[str | None] = mapped_column(String(40))
    payload: Mapped[dict[str, Any]] = mapped_column(JSON)
    payload_digest: Mapped[str] = mapped_column(String(64))
    created_at: Mapped[datetime] = mapped_column()
    prev_hash: Mapped[str] = mapped_column(String(64))
    hash: Mapped[str] = mapped_column(String(64))
    # where the act came from (page, api, cli, flow, demo, migration, code) and what identifies
    # it there (the OS user, the flow run id); NULL on events written before channels were kept
    channel: Mapped[str | None] = mapped_column(String(20))
    channel_detail: Mapped[str | None] = mapped_column(String(200))
    # which audit key made ``hash`` (an HMAC-SHA256); see docs/audit.md
    key_id: Mapped[str] = mapped_column(String(16))
    # which chain the event is in (``audit_head.id``) and its place there, from 1 (docs/audit.md)
    chain: Mapped[int] = mapped_column(Integer)
    seq: Mapped[int] = mapped_column(BigInteger().with_variant(Integer, "sqlite"))


class AuditHead(Base):
    """One row per chain: its newest event's id, hash and place, so deleting a tail is detected too."""

    __tablename__ = "audit_head"

    id: Mapped[int] = mapped_column(Integer, primary_key=True)
    last_event_id: Mapped[int] = mapped_column(BigInteger().with_variant(Integer, "sqlite"), default=0)
    last_hash: Mapped[str] = mapped_column(String(64))
    last_seq: Mapped[int] = mapped_column(BigInteger().with_variant(Integer, "sqlite"), default=0)


class OutboxMessage(Base):
    """A notification to deliver after the transaction commits; written with the audit event."""

    __tablename__ = "outbox"
    __table_args__ = (Index("ix_outbox_status_due", "status", "next_attempt_at"),)

    id: Mapped[int] = mapped_column(BigInteger().with_variant(Integer, "sqlite"), primary_key=True)
    kind: Mapped[str] = mapped_column(String(80))
    subject: Mapped[str] = mapped_column(String(20))
    subject_id: Mapped[int] = mapped_column(Integer)
    audiences: Mapped[list[Any]] = mapped_column(JSON)
    payload: Mapped[dict[str, Any]] = mapped_column(JSON)
    event_id: Mapped[int | None] = mapped_column(ForeignKey("audit_events.id"))
    dedupe_key: Mapped[str | None] = mapped_column(String(200), unique=True)
    status: Mapped[str] = mapped_column(String(20), default="pending")  # pending | done | failed
    attempts: Mapped[int] = mapped_column(Integer, default=0)
    next_attempt_at: Mapped[datetime | None] = mapped_column()
    last_error: Mapped[str | None] = mapped_column(Text)
    created_at: Mapped[datetime] = mapped_column()
    processed_at: Mapped[datetime | None] = mapped_column()


# The other areas' tables live in their own modules; importing them here puts every table on
# Base.metadata, which Alembic and the tests compare against the migrations.
