"""Public tenders: one per call in tender mode, and its sealed bids (encrypted at rest)."""

from __future__ import annotations

from datetime import datetime

from sqlalchemy import (
    ForeignKey,
    LargeBinary,
    String,
)
from sqlalchemy.orm import Mapped, mapped_column

from grantflow.db.models.base import Base


class Tender(Base):
    """A public-tender call's sealing: when bids open, and its data key, wrapped by the master key."""

    __tablename__ = "tenders"

    call_id: Mapped[int] = mapped_column(ForeignKey("calls.id", ondelete="CASCADE"), primary_key=True)
    bids_open_at: Mapped[datetime] = mapped_column()
    wrapped_key: Mapped[bytes] = mapped_column(LargeBinary)
    master_key_id: Mapped[str] = mapped_column(String(16))  # which master key wrapped it
    opened_at: Mapped[datetime | None] = mapped_column()
    opened_by: Mapped[str | None] = mapped_column(String(100))


class Bid(Base):
    """A sealed bid: the proposal's contents, encrypted with the call's data key (AES-256-GCM)."""

    __tablename__ = "bids"

    id: Mapped[int] = mapped_column(primary_key=True)
    call_id: Mapped[int] = mapped_column(ForeignKey("tenders.call_id", ondelete="CASCADE"))
    project_id: Mapped[int] = mapped_column(ForeignKey("projects.id", ondelete="CASCADE"), unique=True)
    organisation_id: Mapped[int] = mapped_column(ForeignKey("organisations.id"))
    nonce: Mapped[bytes] = mapped_column(LargeBinary)
    ciphertext: Mapped[bytes] = mapped_column(LargeBinary)
    ciphertext_sha256: Mapped[str] = mapped_column(String(64))  # a receipt that reveals nothing
    submitted_by: Mapped[int | None] = mapped_column(ForeignKey("users.id"))
    submitted_at: Mapped[datetime] = mapped_column()
