"""Sign-in state kept on the server: web sessions and the counters that throttle sign-in and the
public questionnaire (see docs/security.md)."""

from __future__ import annotations

from datetime import datetime
from typing import Any

from sqlalchemy import JSON, ForeignKey, Index, String
from sqlalchemy.orm import Mapped, mapped_column

from grantflow.db.models.base import ID, Base, utcnow


class WebSession(Base):
    """One browser's sign-in. The cookie holds a random token; only its SHA-256 is stored, so a
    copy of this table cannot be replayed as cookies."""

    __tablename__ = "web_sessions"
    __table_args__ = (Index("ix_web_sessions_user", "user_id"), Index("ix_web_sessions_expires", "expires_at"))

    id: Mapped[str] = mapped_column(String(64), primary_key=True)  # sha256 hex of the cookie token
    user_id: Mapped[int | None] = mapped_column(ForeignKey("users.id", ondelete="CASCADE"))
    data: Mapped[dict[str, Any]] = mapped_column(JSON, default=dict)
    created_at: Mapped[datetime] = mapped_column(default=utcnow)
    last_seen_at: Mapped[datetime] = mapped_column(default=utcnow)
    expires_at: Mapped[datetime] = mapped_column()


class ThrottleEvent(Base):
    """One counted attempt (a failed sign-in, a questionnaire answer) for a key in a bucket;
    counted over a sliding window, removed by housekeeping once older than every window."""

    __tablename__ = "throttle_events"
    __table_args__ = (Index("ix_throttle_events_bucket_key_at", "bucket", "key", "at"),)

    id: Mapped[int] = mapped_column(ID, primary_key=True, autoincrement=True)
    bucket: Mapped[str] = mapped_column(String(40))
    key: Mapped[str] = mapped_column(String(200))
    at: Mapped[datetime] = mapped_column(default=utcnow)


class CalendarToken(Base):
    """A person's private calendar-feed address. The URL holds a random token; only its SHA-256 is
    stored (a copy of this table does not open anyone's feed). One per person: resetting replaces
    it, so the old address stops working at once."""

    __tablename__ = "calendar_tokens"

    user_id: Mapped[int] = mapped_column(ForeignKey("users.id", ondelete="CASCADE"), primary_key=True)
    token_hash: Mapped[str] = mapped_column(String(64), unique=True)
    created_at: Mapped[datetime] = mapped_column(default=utcnow)


class SiteFlag(Base):
    """A fact about this installation recorded once, e.g. ``demo``: ``grantflow init --demo`` seeded
    demo people with a known password, so the sign-in page may list them (never in production)."""

    __tablename__ = "site_flags"

    name: Mapped[str] = mapped_column(String(40), primary_key=True)
    value: Mapped[str] = mapped_column(String(200))
    set_at: Mapped[datetime] = mapped_column(default=utcnow)
