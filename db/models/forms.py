"""What applicants write: submitted forms (a row per submission, naming its form version),
drafts kept as typed, attachments, public questionnaire answers."""

from __future__ import annotations

from datetime import datetime
from typing import Any

from sqlalchemy import (
    JSON,
    ForeignKey,
    Index,
    Integer,
    String,
)
from sqlalchemy.orm import Mapped, mapped_column

from grantflow.db.models.base import Base, utcnow


class Submission(Base):
    """A filled-in form for a project: proposal, task agreement, reports. Issue-3 forms build on it."""

    __tablename__ = "submissions"
    __table_args__ = (Index("ix_submissions_project_form", "project_id", "form_key"),)

    id: Mapped[int] = mapped_column(primary_key=True)
    project_id: Mapped[int] = mapped_column(ForeignKey("projects.id", ondelete="CASCADE"))
    form_key: Mapped[str] = mapped_column(String(60))
    form_version: Mapped[int] = mapped_column(Integer, default=1)
    period: Mapped[int | None] = mapped_column(Integer)  # e.g. the year of an annual report
    data: Mapped[dict[str, Any]] = mapped_column(JSON, default=dict)
    status: Mapped[str] = mapped_column(String(20), default="draft")  # states.enums.SubmissionStatus
    created_by: Mapped[int | None] = mapped_column(ForeignKey("users.id"))
    created_at: Mapped[datetime] = mapped_column(default=utcnow)
    updated_at: Mapped[datetime] = mapped_column(default=utcnow)
    submitted_at: Mapped[datetime | None] = mapped_column()


class FormDraft(Base):
    """The working copy of one form of one project (and period): raw values and the last errors."""

    __tablename__ = "form_drafts"
    __table_args__ = (Index("ix_form_drafts_project_form", "project_id", "form_key", "period"),)

    id: Mapped[int] = mapped_column(primary_key=True)
    project_id: Mapped[int] = mapped_column(ForeignKey("projects.id", ondelete="CASCADE"))
    form_key: Mapped[str] = mapped_column(String(60))
    form_version: Mapped[int] = mapped_column(Integer)
    period: Mapped[int | None] = mapped_column(Integer)
    data: Mapped[dict[str, Any]] = mapped_column(JSON, default=dict)  # as typed, strings included
    errors: Mapped[list[Any]] = mapped_column(JSON, default=list)  # of the last submit attempt
    updated_by: Mapped[int | None] = mapped_column(ForeignKey("users.id"))
    created_at: Mapped[datetime] = mapped_column(default=utcnow)
    updated_at: Mapped[datetime] = mapped_column(default=utcnow)


class Attachment(Base):
    """A file in the file store (``GRANTFLOW_HOME/files``), named by its SHA-256; never a blob here."""

    __tablename__ = "attachments"
    __table_args__ = (Index("ix_attachments_project", "project_id"), Index("ix_attachments_sha256", "sha256"))

    id: Mapped[int] = mapped_column(primary_key=True)
    project_id: Mapped[int] = mapped_column(ForeignKey("projects.id", ondelete="CASCADE"))
    form_key: Mapped[str] = mapped_column(String(60))
    field: Mapped[str] = mapped_column(String(60))
    filename: Mapped[str] = mapped_column(String(255))
    kind: Mapped[str] = mapped_column(String(20))  # detected from content (forms.files)
    content_type: Mapped[str] = mapped_column(String(120))
    size: Mapped[int] = mapped_column(Integer)
    sha256: Mapped[str] = mapped_column(String(64))
    storage_key: Mapped[str] = mapped_column(String(200))  # path under the file store
    uploaded_by: Mapped[int | None] = mapped_column(ForeignKey("users.id"))
    uploaded_at: Mapped[datetime] = mapped_column(default=utcnow)


class QuestionnaireResponse(Base):
    """An answer to a public form (the needs-solicitation questionnaire): no project, no account."""

    __tablename__ = "questionnaire_responses"
    __table_args__ = (Index("ix_questionnaire_form", "form_key", "submitted_at"),)

    id: Mapped[int] = mapped_column(primary_key=True)
    form_key: Mapped[str] = mapped_column(String(60))
    form_version: Mapped[int] = mapped_column(Integer)
    data: Mapped[dict[str, Any]] = mapped_column(JSON)
    submitted_by: Mapped[int | None] = mapped_column(ForeignKey("users.id"))
    submitted_at: Mapped[datetime] = mapped_column(default=utcnow)
