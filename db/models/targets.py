"""Targets of projects and programmes, and the results reported against them per period.

Planned and achieved values are whole hundredths (``states.amounts``), so every sum is exact.
"""

from __future__ import annotations

from datetime import date, datetime

from sqlalchemy import BigInteger, Date, ForeignKey, Index, Integer, String, Text, UniqueConstraint
from sqlalchemy.orm import Mapped, mapped_column

from grantflow.db.models.base import ID, Base


class Target(Base):
    """A target of a project (``project_id`` set) or of a programme (``project_id`` empty): the one
    place for both, which the programme lifecycle and the roll-ups read.

    ``achieved_hundredths`` is the sum of the target's results, written by ``services.targets``
    in the same transaction as the results, so roll-ups over many projects read one row per target.
    A replaced target is retired, never deleted: the results reported against it stay readable.
    """

    __tablename__ = "targets"
    __table_args__ = (
        Index("ix_targets_programme_project", "programme_id", "project_id"),
        Index("ix_targets_project", "project_id"),
    )

    id: Mapped[int] = mapped_column(ID, primary_key=True)
    programme_id: Mapped[int] = mapped_column(ForeignKey("programmes.id"))
    project_id: Mapped[int | None] = mapped_column(ForeignKey("projects.id", ondelete="CASCADE"))
    kind: Mapped[str] = mapped_column(String(20))  # states.targets.TARGET_KINDS
    custom_kind: Mapped[str | None] = mapped_column(String(60))
    description: Mapped[str] = mapped_column(Text)
    description_en: Mapped[str | None] = mapped_column(Text)  # programme targets are set in both languages
    unit: Mapped[str | None] = mapped_column(String(40))
    unit_en: Mapped[str | None] = mapped_column(String(40))
    planned_hundredths: Mapped[int] = mapped_column(BigInteger)
    achieved_hundredths: Mapped[int] = mapped_column(BigInteger, default=0)
    weight_hundredths: Mapped[int | None] = mapped_column(BigInteger)
    due_on: Mapped[date | None] = mapped_column(Date)
    position: Mapped[int] = mapped_column(Integer, default=0)
    created_at: Mapped[datetime] = mapped_column()
    retired_at: Mapped[datetime | None] = mapped_column()


class TargetResult(Base):
    """What was achieved of one target in one reporting period, as a stage report stated it."""

    __tablename__ = "target_results"
    __table_args__ = (
        UniqueConstraint("target_id", "form_key", "period"),
        Index("ix_target_results_project", "project_id"),
    )

    id: Mapped[int] = mapped_column(ID, primary_key=True)
    target_id: Mapped[int] = mapped_column(ForeignKey("targets.id", ondelete="CASCADE"))
    project_id: Mapped[int] = mapped_column(ForeignKey("projects.id", ondelete="CASCADE"))
    form_key: Mapped[str] = mapped_column(String(60))  # the stage report it came with
    period: Mapped[int] = mapped_column(Integer, default=0)  # the report's year; 0 for one-off reports
    submission_id: Mapped[int | None] = mapped_column(ForeignKey("submissions.id", ondelete="SET NULL"))
    value_hundredths: Mapped[int] = mapped_column(BigInteger)
    note: Mapped[str | None] = mapped_column(Text)
    reported_at: Mapped[datetime] = mapped_column()
