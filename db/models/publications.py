"""Public disclosures: one row per kind, programme and period (claimed before any work), the
documents it published with their SHA-256, their submission to the S&T reporting system, and
the formal compliance checks of S&T reports."""

from __future__ import annotations

from datetime import datetime
from typing import Any

from sqlalchemy import (
    JSON,
    Boolean,
    ForeignKey,
    Index,
    Integer,
    String,
    Text,
    UniqueConstraint,
)
from sqlalchemy.orm import Mapped, mapped_column

from grantflow.db.models.base import ID, Base


class Publication(Base):
    """The unique key (kind, programme, period) is claimed in its own commit before rendering, so
    a retried or crashed run finds the row instead of publishing a second copy."""

    __tablename__ = "publications"
    __table_args__ = (
        UniqueConstraint("kind", "programme_id", "period"),
        Index("ix_publications_status", "status"),
    )

    id: Mapped[int] = mapped_column(ID, primary_key=True)
    kind: Mapped[str] = mapped_column(String(20))  # states.disclosure kinds
    programme_id: Mapped[int] = mapped_column(ForeignKey("programmes.id"))
    period: Mapped[str] = mapped_column(String(80))  # 2026-03, 2026-Q1, 2026, or an S&T report number
    project_id: Mapped[int | None] = mapped_column(ForeignKey("projects.id"))  # S&T reports only
    # claimed | blocked | recorded | published (a process record, like an e-mail delivery's status)
    status: Mapped[str] = mapped_column(String(20), default="claimed")
    token: Mapped[str] = mapped_column(String(40))  # the claim of the run working on it
    attempts: Mapped[int] = mapped_column(Integer, default=1)
    claimed_at: Mapped[datetime] = mapped_column()
    lease_until: Mapped[datetime] = mapped_column()
    title: Mapped[str | None] = mapped_column(String(300))
    issued_at: Mapped[datetime | None] = mapped_column()  # the issue date printed on the documents
    guard: Mapped[dict[str, Any] | None] = mapped_column(JSON)  # the content guard's findings when it blocked
    override_reason: Mapped[str | None] = mapped_column(Text)
    override_by: Mapped[int | None] = mapped_column(ForeignKey("users.id"))
    override_at: Mapped[datetime | None] = mapped_column()
    audit_event_id: Mapped[int | None] = mapped_column(Integer)  # the event recording the publication
    audit_head_id: Mapped[int | None] = mapped_column(Integer)  # the audit chain's head at publication
    audit_head_hash: Mapped[str | None] = mapped_column(String(64))
    audit_anchored_at: Mapped[datetime | None] = mapped_column()
    published_at: Mapped[datetime | None] = mapped_column()
    last_error: Mapped[str | None] = mapped_column(Text)


class PublicationDocument(Base):
    """A published file (a path under the publication directory) and its SHA-256."""

    __tablename__ = "publication_documents"
    __table_args__ = (UniqueConstraint("name"), Index("ix_publication_documents_publication", "publication_id"))

    id: Mapped[int] = mapped_column(ID, primary_key=True)
    publication_id: Mapped[int] = mapped_column(ForeignKey("publications.id", ondelete="CASCADE"))
    name: Mapped[str] = mapped_column(String(300))  # relative to the publication directory
    title: Mapped[str] = mapped_column(String(300))
    sha256: Mapped[str] = mapped_column(String(64))
    size: Mapped[int] = mapped_column(Integer)
    pages: Mapped[int] = mapped_column(Integer)


class PublicationSubmission(Base):
    """A document's delivery to the external S&T reporting system, with the receipt it returned."""

    __tablename__ = "publication_submissions"
    __table_args__ = (
        UniqueConstraint("document_id"),
        Index("ix_publication_submissions_status_due", "status", "next_attempt_at"),
    )

    id: Mapped[int] = mapped_column(ID, primary_key=True)
    document_id: Mapped[int] = mapped_column(ForeignKey("publication_documents.id", ondelete="CASCADE"))
    status: Mapped[str] = mapped_column(String(20), default="pending")  # pending | sent | failed
    attempts: Mapped[int] = mapped_column(Integer, default=0)
    next_attempt_at: Mapped[datetime] = mapped_column()
    receipt: Mapped[dict[str, Any] | None] = mapped_column(JSON)
    last_error: Mapped[str | None] = mapped_column(Text)
    sent_at: Mapped[datetime | None] = mapped_column()
    created_at: Mapped[datetime] = mapped_column()


class StReportCheck(Base):
    """The formal compliance check of one submitted version of a project's S&T report."""

    __tablename__ = "st_report_checks"
    __table_args__ = (
        UniqueConstraint("submission_id", "submitted_at"),
        Index("ix_st_report_checks_project", "project_id", "seq"),
    )

    id: Mapped[int] = mapped_column(ID, primary_key=True)
    submission_id: Mapped[int] = mapped_column(ForeignKey("submissions.id", ondelete="CASCADE"))
    project_id: Mapped[int] = mapped_column(ForeignKey("projects.id", ondelete="CASCADE"))
    seq: Mapped[int] = mapped_column(Integer)
    submitted_at: Mapped[datetime] = mapped_column()  # the version checked
    ok: Mapped[bool] = mapped_column(Boolean)
    problems: Mapped[list[Any]] = mapped_column(JSON, default=list)  # [{"zh", "en"}]
    report_number: Mapped[str | None] = mapped_column(String(120))
    release_on: Mapped[datetime | None] = mapped_column()  # when the full text may be published
    checked_at: Mapped[datetime] = mapped_column()
