"""Deadlines as rows: report schedules and due items the deadline flows poll."""

from __future__ import annotations

from datetime import datetime
from typing import Any

from sqlalchemy import (
    JSON,
    ForeignKey,
    Index,
    Integer,
    String,
    UniqueConstraint,
)
from sqlalchemy.orm import Mapped, mapped_column

from grantflow.db.models.base import ID, Base


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

    id: Mapped[int] = mapped_column(ID, primary_key=True)
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
