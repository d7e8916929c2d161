"""Funding: a project's budget by source and support mode, and what was spent per period.

Amounts are whole fen (``states.amounts``), so totals over many projects are exact.
"""

from __future__ import annotations

from datetime import datetime

from sqlalchemy import BigInteger, ForeignKey, Index, Integer, String, Text, UniqueConstraint
from sqlalchemy.orm import Mapped, mapped_column

from grantflow.db.models.base import ID, Base


class BudgetLine(Base):
    """One line of a project's budget: how much from which source, given how, for which expense head."""

    __tablename__ = "budget_lines"
    __table_args__ = (
        Index("ix_budget_lines_project", "project_id"),
        Index("ix_budget_lines_programme", "programme_id"),
    )

    id: Mapped[int] = mapped_column(ID, primary_key=True)
    project_id: Mapped[int] = mapped_column(ForeignKey("projects.id", ondelete="CASCADE"))
    programme_id: Mapped[int] = mapped_column(ForeignKey("programmes.id"))
    source: Mapped[str] = mapped_column(String(30))  # states.enums.FundingSource
    support_mode: Mapped[str | None] = mapped_column(String(30))  # states.enums.SupportMode
    head: Mapped[str | None] = mapped_column(String(30))  # expense head, as in the task agreement
    amount_fen: Mapped[int] = mapped_column(BigInteger)
    note: Mapped[str | None] = mapped_column(Text)
    position: Mapped[int] = mapped_column(Integer, default=0)
    created_at: Mapped[datetime] = mapped_column()


class Spending(Base):
    """What a project spent from one source in one reporting period, as its stage report stated it."""

    __tablename__ = "spending"
    __table_args__ = (
        UniqueConstraint("project_id", "source", "form_key", "period"),
        Index("ix_spending_programme", "programme_id"),
    )

    id: Mapped[int] = mapped_column(ID, primary_key=True)
    project_id: Mapped[int] = mapped_column(ForeignKey("projects.id", ondelete="CASCADE"))
    programme_id: Mapped[int] = mapped_column(ForeignKey("programmes.id"))
    source: Mapped[str] = mapped_column(String(30))
    form_key: Mapped[str] = mapped_column(String(60))
    period: Mapped[int] = mapped_column(Integer, default=0)
    submission_id: Mapped[int | None] = mapped_column(ForeignKey("submissions.id", ondelete="SET NULL"))
    amount_fen: Mapped[int] = mapped_column(BigInteger)
    reported_at: Mapped[datetime] = mapped_column()
