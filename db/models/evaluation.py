"""Third-party evaluation: evaluators' qualifications, their engagements and the results they record."""

from __future__ import annotations

from datetime import date, datetime
from decimal import Decimal

from sqlalchemy import Date, ForeignKey, Index, Integer, Numeric, String, Text, UniqueConstraint
from sqlalchemy.orm import Mapped, mapped_column

from grantflow.db.models.base import Base


class EvaluatorQualification(Base):
    """One period during which an evaluator holds a qualification (states.evaluation.QUALIFICATIONS).

    Kept apart from ``organisation_qualifications`` (one row per code, an end date only) because
    an evaluator's accreditation is renewed and may lapse: whether it was qualified on the day of
    an engagement must stay answerable after a renewal, so every period is its own row.
    """

    __tablename__ = "evaluator_qualifications"
    __table_args__ = (Index("ix_evaluator_qualifications_org", "organisation_id", "code"),)

    id: Mapped[int] = mapped_column(primary_key=True)
    organisation_id: Mapped[int] = mapped_column(ForeignKey("organisations.id", ondelete="CASCADE"))
    code: Mapped[str] = mapped_column(String(60))
    valid_from: Mapped[date] = mapped_column(Date)
    valid_until: Mapped[date | None] = mapped_column(Date)
    issuer: Mapped[str | None] = mapped_column(String(200))
    reference: Mapped[str | None] = mapped_column(String(100))
    recorded_by: Mapped[int | None] = mapped_column(ForeignKey("users.id"))
    created_at: Mapped[datetime] = mapped_column()


class EvaluationAssignment(Base):
    """An evaluator engaged for one evaluation of a programme or a project (stage, and year for post-evaluation)."""

    __tablename__ = "evaluation_assignments"
    __table_args__ = (
        UniqueConstraint("subject", "subject_id", "stage", "year", "evaluator_id"),
        Index("ix_evaluation_assignments_subject", "subject", "subject_id"),
        Index("ix_evaluation_assignments_programme", "programme_id"),
    )

    id: Mapped[int] = mapped_column(primary_key=True)
    evaluator_id: Mapped[int] = mapped_column(ForeignKey("organisations.id"))
    subject: Mapped[str] = mapped_column(String(20))  # states.evaluation.SUBJECTS
    subject_id: Mapped[int] = mapped_column(Integer)
    programme_id: Mapped[int] = mapped_column(ForeignKey("programmes.id"))
    stage: Mapped[str] = mapped_column(String(30))  # states.evaluation.STAGES
    year: Mapped[int | None] = mapped_column(Integer)
    qualified_on: Mapped[date] = mapped_column(Date)  # the day the qualification was checked
    due_on: Mapped[date | None] = mapped_column(Date)
    assigned_by: Mapped[int | None] = mapped_column(ForeignKey("users.id"))
    assigned_at: Mapped[datetime] = mapped_column()
    withdrawn_at: Mapped[datetime | None] = mapped_column()
    withdrawn_reason: Mapped[str | None] = mapped_column(Text)


class EvaluationResult(Base):
    """What the evaluator concluded: the total, the grade it gives, and its written conclusion."""

    __tablename__ = "evaluation_results"
    __table_args__ = (Index("ix_evaluation_results_programme_submitted", "programme_id", "submitted_at"),)

    id: Mapped[int] = mapped_column(primary_key=True)
    assignment_id: Mapped[int] = mapped_column(ForeignKey("evaluation_assignments.id", ondelete="CASCADE"), unique=True)
    programme_id: Mapped[int] = mapped_column(ForeignKey("programmes.id"))
    rubric: Mapped[str] = mapped_column(String(30))  # states.evaluation.RUBRICS
    total: Mapped[Decimal] = mapped_column(Numeric(7, 2))
    grade: Mapped[str] = mapped_column(String(20))  # states.evaluation.GRADES
    conclusion: Mapped[str] = mapped_column(Text)
    recommendations: Mapped[str | None] = mapped_column(Text)
    submitted_by: Mapped[int | None] = mapped_column(ForeignKey("users.id"))
    submitted_at: Mapped[datetime] = mapped_column()


class EvaluationScore(Base):
    __tablename__ = "evaluation_scores"

    result_id: Mapped[int] = mapped_column(ForeignKey("evaluation_results.id", ondelete="CASCADE"), primary_key=True)
    criterion: Mapped[str] = mapped_column(String(60), primary_key=True)
    score: Mapped[Decimal] = mapped_column(Numeric(6, 2))
