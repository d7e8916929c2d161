"""Tables for deadlines and notifications (issue 4). Imported at the bottom of ``db.models``.

- ``due_items``: one row per thing someone must deliver by a date (a report, a review, an
  evaluation). The scheduled flows poll them by ``(status, due_at)``; nothing sleeps.
- ``report_schedules``: how a project's reports fall due (periodic, one-off, milestones);
  changing one rewrites its open due items.
- ``inbox_messages``: the in-app copy of every notification, one per recipient.
- ``notification_deliveries``: one e-mail (immediate or in a digest) per recipient and
  message, with the claim-before-send status that makes sending at most once.
- ``notification_digests``: one daily digest e-mail per user and day.
- ``notification_preferences``: per user and kind of message: immediate, digest or in-app.
"""

from __future__ import annotations

from datetime import datetime
from typing import Any

from sqlalchemy import JSON, BigInteger, ForeignKey, Index, Integer, String, Text, UniqueConstraint
from sqlalchemy.orm import Mapped, mapped_column

from grantflow.db.models import Base

_ID = BigInteger().with_variant(Integer, "sqlite")


class ReportSchedule(Base):
    __tablename__ = "report_schedules"
    __table_args__ = (UniqueConstraint("project_id", "form_key"),)

    id: Mapped[int] = mapped_column(primary_key=True)
    project_id: Mapped[int] = mapped_column(ForeignKey("projects.id", ondelete="CASCADE"))
    form_key: Mapped[str] = mapped_column(String(60))
    kind: Mapped[str] = mapped_column(String(20))  # states.deadlines.SCHEDULE_KINDS
    every: Mapped[str | None] = mapped_column(String(10))  # month | quarter | year
    count: Mapped[int | None] = mapped_column(Integer)
    first_due: Mapped[datetime | None] = mapped_column()
    milestones: Mapped[list[Any]] = mapped_column(JSON, default=list)  # [{"zh", "en", "due_at"}]
    version: Mapped[int] = mapped_column(Integer, default=1)
    updated_at: Mapped[datetime] = mapped_column()


class DueItem(Base):
    __tablename__ = "due_items"
    __table_args__ = (
        # the sweeps read ranges of this index only: time grows with items due, not with projects
        Index("ix_due_items_status_due", "status", "due_at"),
        Index("ix_due_items_subject", "subject", "subject_id"),
    )

    id: Mapped[int] = mapped_column(_ID, primary_key=True)
    key: Mapped[str] = mapped_column(String(200), unique=True)  # idempotent creation
    kind: Mapped[str] = mapped_column(String(20))  # report | review | evaluation
    subject: Mapped[str] = mapped_column(String(20), default="project")
    subject_id: Mapped[int] = mapped_column(Integer)
    schedule_id: Mapped[int | None] = mapped_column(ForeignKey("report_schedules.id", ondelete="SET NULL"))
    seq: Mapped[int | None] = mapped_column(Integer)
    form_key: Mapped[str | None] = mapped_column(String(60))
    stage: Mapped[str | None] = mapped_column(String(40))
    period: Mapped[int | None] = mapped_column(Integer)
    label: Mapped[dict[str, Any] | None] = mapped_column(JSON)  # {"zh", "en"} e.g. a milestone's name
    assignee_id: Mapped[int | None] = mapped_column(ForeignKey("users.id"))  # None: the project's applicants
    due_at: Mapped[datetime] = mapped_column()
    status: Mapped[str] = mapped_column(String(20), default="open")  # open | overdue | done | cancelled
    overdue_at: Mapped[datetime | None] = mapped_column()
    closed_at: Mapped[datetime | None] = mapped_column()
    created_at: Mapped[datetime] = mapped_column()


class NotificationPreference(Base):
    __tablename__ = "notification_preferences"

    user_id: Mapped[int] = mapped_column(ForeignKey("users.id", ondelete="CASCADE"), primary_key=True)
    kind: Mapped[str] = mapped_column(String(80), primary_key=True)  # a catalogue kind, or "*" for all
    mode: Mapped[str] = mapped_column(String(20))  # immediate | digest | in_app


class InboxMessage(Base):
    __tablename__ = "inbox_messages"
    __table_args__ = (
        UniqueConstraint("outbox_id", "user_id"),
        Index("ix_inbox_user_created", "user_id", "created_at"),
    )

    id: Mapped[int] = mapped_column(_ID, primary_key=True)
    outbox_id: Mapped[int] = mapped_column(ForeignKey("outbox.id", ondelete="CASCADE"))
    user_id: Mapped[int] = mapped_column(ForeignKey("users.id", ondelete="CASCADE"))
    kind: Mapped[str] = mapped_column(String(80))
    language: Mapped[str] = mapped_column(String(5))
    title: Mapped[str] = mapped_column(String(300))
    body: Mapped[str] = mapped_column(Text)
    subject: Mapped[str] = mapped_column(String(20))
    subject_id: Mapped[int] = mapped_column(Integer)
    created_at: Mapped[datetime] = mapped_column()
    read_at: Mapped[datetime | None] = mapped_column()


class NotificationDigest(Base):
    __tablename__ = "notification_digests"
    __table_args__ = (UniqueConstraint("user_id", "day"),)

    id: Mapped[int] = mapped_column(_ID, primary_key=True)
    user_id: Mapped[int] = mapped_column(ForeignKey("users.id", ondelete="CASCADE"))
    day: Mapped[str] = mapped_column(String(10))  # local date, ISO
    status: Mapped[str] = mapped_column(String(20), default="sending")  # sending | sent | uncertain | failed
    message_id: Mapped[str | None] = mapped_column(String(200))
    claimed_at: Mapped[datetime] = mapped_column()
    sent_at: Mapped[datetime | None] = mapped_column()
    last_error: Mapped[str | None] = mapped_column(Text)


class NotificationDelivery(Base):
    __tablename__ = "notification_deliveries"
    __table_args__ = (
        UniqueConstraint("inbox_id", "channel"),
        Index("ix_deliveries_status_next", "status", "next_attempt_at"),
    )

    id: Mapped[int] = mapped_column(_ID, primary_key=True)
    inbox_id: Mapped[int] = mapped_column(ForeignKey("inbox_messages.id", ondelete="CASCADE"))
    user_id: Mapped[int] = mapped_column(ForeignKey("users.id", ondelete="CASCADE"))
    channel: Mapped[str] = mapped_column(String(20))  # email | digest
    # pending → sending → sent; pending (backoff) on a refusal; failed after the last attempt;
    # uncertain when a claim outlived its lease (the process died mid-send): never resent by itself
    status: Mapped[str] = mapped_column(String(20), default="pending")
    attempts: Mapped[int] = mapped_column(Integer, default=0)
    next_attempt_at: Mapped[datetime | None] = mapped_column()
    claimed_at: Mapped[datetime | None] = mapped_column()
    sent_at: Mapped[datetime | None] = mapped_column()
    message_id: Mapped[str | None] = mapped_column(String(200))
    digest_id: Mapped[int | None] = mapped_column(ForeignKey("notification_digests.id", ondelete="SET NULL"))
    last_error: Mapped[str | None] = mapped_column(Text)
    created_at: Mapped[datetime] = mapped_column()
