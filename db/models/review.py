"""Expert review: panels, rubrics, assignments, conflict statements, reviews and their scores, complaints."""

from __future__ import annotations

from datetime import datetime
from decimal import Decimal
from typing import Any

from sqlalchemy import (
    JSON,
    Boolean,
    ForeignKey,
    Index,
    Integer,
    Numeric,
    String,
    Text,
    UniqueConstraint,
)
from sqlalchemy.orm import Mapped, mapped_column

from grantflow.db.models.base import Base, utcnow


class ReviewPanel(Base):
    """The experts invited for one call and stage, and how their review is shown."""

    __tablename__ = "review_panels"
    __table_args__ = (UniqueConstraint("call_id", "stage"),)

    id: Mapped[int] = mapped_column(primary_key=True)
    call_id: Mapped[int] = mapped_column(ForeignKey("calls.id", ondelete="CASCADE"))
    stage: Mapped[str] = mapped_column(String(40))
    name: Mapped[str] = mapped_column(String(200))
    tags: Mapped[list[Any]] = mapped_column(JSON, default=list)  # used when a project has none
    peers_after_submit: Mapped[bool] = mapped_column(Boolean, default=True)
    trim: Mapped[int] = mapped_column(Integer, default=1)  # highest/lowest dropped for the trimmed mean
    created_at: Mapped[datetime] = mapped_column(default=utcnow)


class PanelMember(Base):
    __tablename__ = "panel_members"

    panel_id: Mapped[int] = mapped_column(ForeignKey("review_panels.id", ondelete="CASCADE"), primary_key=True)
    user_id: Mapped[int] = mapped_column(ForeignKey("users.id"), primary_key=True)


class ReviewRubric(Base):
    """A call's own rubric for a stage; without one, ``states.review_rules.DEFAULT_RUBRICS``."""

    __tablename__ = "review_rubrics"
    __table_args__ = (UniqueConstraint("call_id", "stage"),)

    id: Mapped[int] = mapped_column(primary_key=True)
    call_id: Mapped[int] = mapped_column(ForeignKey("calls.id", ondelete="CASCADE"))
    stage: Mapped[str] = mapped_column(String(40))
    criteria: Mapped[list[Any]] = mapped_column(JSON)  # [{key, zh, en, weight, max}]


class ReviewAssignment(Base):
    """An item given to a reviewer. A declared conflict closes it (``conflict_declared_at``)
    and the item goes to someone else; a submitted review closes it (``review_id``)."""

    __tablename__ = "review_assignments"
    __table_args__ = (
        UniqueConstraint("project_id", "stage", "reviewer_id"),
        Index("ix_review_assignments_reviewer", "reviewer_id"),
    )

    id: Mapped[int] = mapped_column(primary_key=True)
    project_id: Mapped[int] = mapped_column(ForeignKey("projects.id", ondelete="CASCADE"))
    stage: Mapped[str] = mapped_column(String(40))
    reviewer_id: Mapped[int] = mapped_column(ForeignKey("users.id"))
    panel_id: Mapped[int | None] = mapped_column(ForeignKey("review_panels.id"))
    automatic: Mapped[bool] = mapped_column(Boolean, default=False)
    assigned_by: Mapped[int | None] = mapped_column(ForeignKey("users.id"))
    assigned_at: Mapped[datetime] = mapped_column()
    conflict_declared_at: Mapped[datetime | None] = mapped_column()
    review_id: Mapped[int | None] = mapped_column(ForeignKey("reviews.id"))


class ConflictStatement(Base):
    """The reviewer's explicit statement for one assignment: no review is valid without one."""

    __tablename__ = "conflict_statements"

    id: Mapped[int] = mapped_column(primary_key=True)
    assignment_id: Mapped[int] = mapped_column(ForeignKey("review_assignments.id", ondelete="CASCADE"), unique=True)
    has_conflict: Mapped[bool] = mapped_column(Boolean)
    statement: Mapped[str] = mapped_column(Text)
    declared_at: Mapped[datetime] = mapped_column()


class Review(Base):
    """An expert's review of a project at a stage. Issue-3 review panels build on it."""

    __tablename__ = "reviews"
    __table_args__ = (UniqueConstraint("project_id", "stage", "reviewer_id"),)

    id: Mapped[int] = mapped_column(primary_key=True)
    project_id: Mapped[int] = mapped_column(ForeignKey("projects.id", ondelete="CASCADE"))
    stage: Mapped[str] = mapped_column(String(40))
    reviewer_id: Mapped[int] = mapped_column(ForeignKey("users.id"))
    score: Mapped[Decimal | None] = mapped_column(Numeric(6, 2))
    recommendation: Mapped[str | None] = mapped_column(String(20))
    comments: Mapped[str | None] = mapped_column(Text)
    no_conflict_declared: Mapped[bool] = mapped_column(Boolean, default=False)
    submitted_at: Mapped[datetime | None] = mapped_column()
    created_at: Mapped[datetime] = mapped_column(default=utcnow)


class CriterionScore(Base):
    __tablename__ = "criterion_scores"

    review_id: Mapped[int] = mapped_column(ForeignKey("reviews.id", ondelete="CASCADE"), primary_key=True)
    criterion: Mapped[str] = mapped_column(String(60), primary_key=True)
    score: Mapped[Decimal] = mapped_column(Numeric(6, 2))


class Complaint(Base):
    """An applicant's appeal of a review outcome. Open while ``answered_at`` is empty."""

    __tablename__ = "complaints"
    __table_args__ = (Index("ix_complaints_answered", "answered_at"),)

    id: Mapped[int] = mapped_column(primary_key=True)
    project_id: Mapped[int] = mapped_column(ForeignKey("projects.id", ondelete="CASCADE"))
    decision: Mapped[str] = mapped_column(String(40))  # the trigger appealed against
    decision_event_id: Mapped[int] = mapped_column(ForeignKey("audit_events.id"))
    complainant_id: Mapped[int] = mapped_column(ForeignKey("users.id"))
    grounds: Mapped[str] = mapped_column(Text)
    filed_at: Mapped[datetime] = mapped_column()
    answer: Mapped[str | None] = mapped_column(Text)
    answered_by: Mapped[int | None] = mapped_column(ForeignKey("users.id"))
    answered_at: Mapped[datetime | None] = mapped_column()
