"""Tables of eligibility, selection and expert review (issue 3).

Imported at the bottom of ``db.models`` so every table shares one metadata (and Alembic sees
them). None of these rows is a lifecycle state: a project, call or programme changes state
only through ``db.apply``; these record facts the rules read (qualifications, partners,
reviews), what reviewers said, sealed bids and complaints.
"""

from __future__ import annotations

from datetime import datetime
from decimal import Decimal
from typing import Any

from sqlalchemy import JSON, Boolean, ForeignKey, Index, Integer, LargeBinary, Numeric, String, Text, UniqueConstraint
from sqlalchemy.orm import Mapped, mapped_column

from grantflow.db.models import Base, utcnow


class OrganisationQualification(Base):
    """A qualification a unit holds (高新技术企业, GMP, ...), read by eligibility rules."""

    __tablename__ = "organisation_qualifications"
    __table_args__ = (UniqueConstraint("organisation_id", "code"),)

    id: Mapped[int] = mapped_column(primary_key=True)
    organisation_id: Mapped[int] = mapped_column(ForeignKey("organisations.id", ondelete="CASCADE"))
    code: Mapped[str] = mapped_column(String(60))  # states.eligibility.QUALIFICATIONS
    valid_until: Mapped[datetime | None] = mapped_column()
    created_at: Mapped[datetime] = mapped_column(default=utcnow)


class ProjectPartner(Base):
    """A collaborating unit of a project: its people never review the project."""

    __tablename__ = "project_partners"

    project_id: Mapped[int] = mapped_column(ForeignKey("projects.id", ondelete="CASCADE"), primary_key=True)
    organisation_id: Mapped[int] = mapped_column(ForeignKey("organisations.id"), primary_key=True)


class ProjectTag(Base):
    """A subject tag of a project, matched against reviewers' expertise when assigning."""

    __tablename__ = "project_tags"

    project_id: Mapped[int] = mapped_column(ForeignKey("projects.id", ondelete="CASCADE"), primary_key=True)
    tag: Mapped[str] = mapped_column(String(60), primary_key=True)


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


class CriterionScore(Base):
    __tablename__ = "criterion_scores"

    review_id: Mapped[int] = mapped_column(ForeignKey("reviews.id", ondelete="CASCADE"), primary_key=True)
    criterion: Mapped[str] = mapped_column(String(60), primary_key=True)
    score: Mapped[Decimal] = mapped_column(Numeric(6, 2))


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
