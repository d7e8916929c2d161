"""Dynamic adjustment requests: their own subject with a lifecycle (``states.adjustments``).

``state`` and ``version`` are written only by ``grantflow.db.apply``. The request is kept as
typed while it is drafted (``draft``) and as checked once submitted (``request``); applying it
stores the project as it was before and after (``before``/``after``): JSON documents that do not
depend on which tables held the values, so a history survives later schema changes.
"""

from __future__ import annotations

from datetime import datetime
from typing import Any

from sqlalchemy import JSON, Boolean, ForeignKey, Index, Integer, String
from sqlalchemy.orm import Mapped, mapped_column

from grantflow.db.models.base import Base, utcnow


class Adjustment(Base):
    __tablename__ = "adjustments"
    __table_args__ = (
        Index("ix_adjustments_project", "project_id"),
        Index("ix_adjustments_state", "state"),
        # the disclosure lists a programme's applied adjustments by period
        Index("ix_adjustments_programme_applied", "programme_id", "applied_at"),
    )

    id: Mapped[int] = mapped_column(primary_key=True)
    project_id: Mapped[int] = mapped_column(ForeignKey("projects.id"))
    programme_id: Mapped[int] = mapped_column(ForeignKey("programmes.id"))
    kind: Mapped[str] = mapped_column(String(30))  # states.adjustments.AdjustmentKind
    initiator: Mapped[str] = mapped_column(String(20))  # applicant | office
    requested_by: Mapped[int | None] = mapped_column(ForeignKey("users.id"))
    form_version: Mapped[int] = mapped_column(Integer)
    draft: Mapped[dict[str, Any]] = mapped_column(JSON, default=dict)  # as typed
    draft_errors: Mapped[list[Any]] = mapped_column(JSON, default=list)  # of the last rejected submit
    request: Mapped[dict[str, Any] | None] = mapped_column(JSON)  # as checked, once submitted
    major: Mapped[bool | None] = mapped_column(Boolean)  # assessed at each submission
    major_reason: Mapped[dict[str, Any] | None] = mapped_column(JSON)  # {"zh", "en"}
    before: Mapped[dict[str, Any] | None] = mapped_column(JSON)
    after: Mapped[dict[str, Any] | None] = mapped_column(JSON)
    applied_at: Mapped[datetime | None] = mapped_column()
    workflow: Mapped[str] = mapped_column(String(60), default="adjustment")
    state: Mapped[str] = mapped_column(String(40), default="drafted")
    version: Mapped[int] = mapped_column(Integer, default=1)
    state_entered_at: Mapped[datetime] = mapped_column(default=utcnow)
    created_at: Mapped[datetime] = mapped_column(default=utcnow)
