"""Programmes, calls and projects: the subjects whose state the lifecycle tables govern.

Their ``state`` and ``version`` columns are written only by ``grantflow.db.apply``."""

from __future__ import annotations

from datetime import datetime
from decimal import Decimal
from typing import TYPE_CHECKING, Any

from sqlalchemy import (
    JSON,
    BigInteger,
    ForeignKey,
    Index,
    Integer,
    Numeric,
    String,
    Text,
)
from sqlalchemy.orm import Mapped, mapped_column, relationship

from grantflow.db.models.base import Base, utcnow
from grantflow.states.lifecycle import DEFAULT_QUORUM

if TYPE_CHECKING:
    from grantflow.db.models.people import Organisation


class Programme(Base):
    __tablename__ = "programmes"

    id: Mapped[int] = mapped_column(primary_key=True)
    code: Mapped[int] = mapped_column(Integer, unique=True)
    name: Mapped[str] = mapped_column(String(200))
    name_en: Mapped[str] = mapped_column(String(200))
    programme_class: Mapped[int] = mapped_column(Integer)
    organising_unit_id: Mapped[int | None] = mapped_column(ForeignKey("organisations.id"))
    implementation_plan: Mapped[str | None] = mapped_column(Text)
    targets: Mapped[str | None] = mapped_column(Text)
    workflow: Mapped[str] = mapped_column(String(60), default="programme")
    state: Mapped[str] = mapped_column(String(40), default="planned")
    version: Mapped[int] = mapped_column(Integer, default=1)
    state_entered_at: Mapped[datetime] = mapped_column(default=utcnow)
    created_at: Mapped[datetime] = mapped_column(default=utcnow)

    organising_unit: Mapped[Organisation | None] = relationship()


class ProgrammeUnit(Base):
    """An organising unit taking part in a programme besides its lead unit (``organising_unit_id``)."""

    __tablename__ = "programme_units"

    programme_id: Mapped[int] = mapped_column(ForeignKey("programmes.id", ondelete="CASCADE"), primary_key=True)
    organisation_id: Mapped[int] = mapped_column(ForeignKey("organisations.id"), primary_key=True)


class ProgrammeKeyTask(Base):
    """A key task (重点任务) of a programme, in its order."""

    __tablename__ = "programme_key_tasks"
    __table_args__ = (Index("ix_programme_key_tasks_programme", "programme_id", "seq"),)

    id: Mapped[int] = mapped_column(primary_key=True)
    programme_id: Mapped[int] = mapped_column(ForeignKey("programmes.id", ondelete="CASCADE"))
    seq: Mapped[int] = mapped_column(Integer)
    title: Mapped[str] = mapped_column(String(300))
    title_en: Mapped[str] = mapped_column(String(300))


class Call(Base):
    __tablename__ = "calls"

    id: Mapped[int] = mapped_column(primary_key=True)
    programme_id: Mapped[int] = mapped_column(ForeignKey("programmes.id"))
    title: Mapped[str] = mapped_column(String(300))
    title_en: Mapped[str | None] = mapped_column(String(300))
    category: Mapped[str] = mapped_column(String(20))  # states.enums.Category
    selection_mode: Mapped[str] = mapped_column(String(20))  # states.enums.SelectionMode
    support_modes: Mapped[list[Any]] = mapped_column(JSON, default=list)
    project_workflow: Mapped[str] = mapped_column(String(60), default="standard")
    opens_at: Mapped[datetime | None] = mapped_column()
    closes_at: Mapped[datetime | None] = mapped_column()
    quorum: Mapped[int] = mapped_column(Integer, default=DEFAULT_QUORUM)
    # how many live applications one undertaking unit may have in this call (ended ones do not count)
    max_applications_per_unit: Mapped[int] = mapped_column(Integer, default=1, server_default="1")
    eligibility: Mapped[dict[str, Any]] = mapped_column(JSON, default=dict)
    designated_unit_id: Mapped[int | None] = mapped_column(ForeignKey("organisations.id"))
    workflow: Mapped[str] = mapped_column(String(60), default="call")
    state: Mapped[str] = mapped_column(String(40), default="draft")
    version: Mapped[int] = mapped_column(Integer, default=1)
    state_entered_at: Mapped[datetime] = mapped_column(default=utcnow)
    created_at: Mapped[datetime] = mapped_column(default=utcnow)

    programme: Mapped[Programme] = relationship()


class Project(Base):
    __tablename__ = "projects"
    __table_args__ = (Index("ix_projects_state", "state"), Index("ix_projects_unit", "undertaking_unit_id"))

    id: Mapped[int] = mapped_column(primary_key=True)
    code: Mapped[str] = mapped_column(String(40), unique=True)
    title: Mapped[str] = mapped_column(String(300))
    call_id: Mapped[int | None] = mapped_column(ForeignKey("calls.id"))
    programme_id: Mapped[int] = mapped_column(ForeignKey("programmes.id"))
    undertaking_unit_id: Mapped[int] = mapped_column(ForeignKey("organisations.id"))
    principal_investigator_id: Mapped[int | None] = mapped_column(ForeignKey("users.id"))
    category: Mapped[str] = mapped_column(String(20))
    selection_mode: Mapped[str] = mapped_column(String(20))
    budget_yuan: Mapped[Decimal | None] = mapped_column(Numeric(16, 2))
    start_date: Mapped[datetime | None] = mapped_column()
    end_date: Mapped[datetime | None] = mapped_column()
    # None: the support modes of its call; set when a category change re-chose them
    support_modes: Mapped[list[Any] | None] = mapped_column(JSON)
    workflow: Mapped[str] = mapped_column(String(60), default="standard")
    state: Mapped[str] = mapped_column(String(40), default="draft")
    version: Mapped[int] = mapped_column(Integer, default=1)
    suspended_from: Mapped[str | None] = mapped_column(String(40))
    accepted_at: Mapped[datetime | None] = mapped_column()
    state_entered_at: Mapped[datetime] = mapped_column(default=utcnow)
    created_at: Mapped[datetime] = mapped_column(default=utcnow)

    call: Mapped[Call | None] = relationship()
    programme: Mapped[Programme] = relationship()
    undertaking_unit: Mapped[Organisation] = relationship()


class ProjectPartner(Base):
    """A collaborating unit of a project: its people never review the project."""

    __tablename__ = "project_partners"

    project_id: Mapped[int] = mapped_column(ForeignKey("projects.id", ondelete="CASCADE"), primary_key=True)
    organisation_id: Mapped[int] = mapped_column(ForeignKey("organisations.id"), primary_key=True)


class CodeCounter(Base):
    """The last number handed out in a numbering scope (``project:07:2026`` → ZX07-2026-00042).

    Taking a number is one ``UPDATE … RETURNING`` on this row: concurrent creators wait for
    each other's commit on it instead of reading the same maximum and colliding.
    """

    __tablename__ = "code_counters"

    scope: Mapped[str] = mapped_column(String(80), primary_key=True)
    value: Mapped[int] = mapped_column(BigInteger, default=0)


class ProjectTag(Base):
    """A subject tag of a project, matched against reviewers' expertise when assigning."""

    __tablename__ = "project_tags"

    project_id: Mapped[int] = mapped_column(ForeignKey("projects.id", ondelete="CASCADE"), primary_key=True)
    tag: Mapped[str] = mapped_column(String(60), primary_key=True)
