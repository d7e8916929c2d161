"""Writing the documents the guards look at: form submissions and expert reviews.

These write data, never a subject's state; a state changes only through ``db.apply``.
The caller owns the transaction.
"""

from __future__ import annotations

from collections.abc import Mapping
from datetime import datetime
from decimal import Decimal
from typing import Any

from sqlalchemy import Connection, func, insert, select, update

from grantflow import clock
from grantflow.db import audit
from grantflow.db.apply import create
from grantflow.db.models import Project, Review, Submission, table
from grantflow.states.enums import SubmissionStatus
from grantflow.states.permissions import Actor

_s = table(Submission)
_r = table(Review)
_p = table(Project)


def next_project_code(conn: Connection, *, programme_code: int, year: int) -> str:
    n = conn.execute(select(func.coalesce(func.max(_p.c.id), 0))).scalar_one() + 1
    return f"ZX{programme_code:02d}-{year}-{n:05d}"


def create_project(
    conn: Connection,
    *,
    actor: Actor,
    values: Mapping[str, Any],
    now: datetime | None = None,
) -> int:
    return create(conn, subject="project", values=values, actor=actor, now=now)


def save_submission(
    conn: Connection,
    *,
    project_id: int,
    form_key: str,
    data: Mapping[str, Any],
    actor: Actor,
    submit: bool,
    form_version: int = 1,
    period: int | None = None,
    now: datetime | None = None,
) -> int:
    """Create or update the project's current submission of a form (one per form and period)."""
    moment = now or clock.now()
    stored, _ = audit.normalise(data)
    existing = conn.execute(
        select(_s.c.id, _s.c.status).where(
            _s.c.project_id == project_id,
            _s.c.form_key == form_key,
            _s.c.period.is_(None) if period is None else _s.c.period == period,
        )
    ).one_or_none()
    status = SubmissionStatus.SUBMITTED if submit else SubmissionStatus.DRAFT
    values = {
        "data": stored,
        "form_version": form_version,
        "status": status,
        "updated_at": moment,
        "submitted_at": moment if submit else None,
    }
    if existing is None:
        sid = int(
            conn.execute(
                insert(_s).returning(_s.c.id),
                {
                    "project_id": project_id,
                    "form_key": form_key,
                    "period": period,
                    "created_by": actor.user_id,
                    "created_at": moment,
                    **values,
                },
            ).scalar_one()
        )
    else:
        sid = existing.id
        conn.execute(update(_s).where(_s.c.id == sid).values(**values))
    if submit:
        audit.note(
            conn,
            subject_id=project_id,
            actor=actor,
            action=f"submit_form:{form_key}",
            payload={"form": form_key, "version": form_version, "period": period, "data": stored},
            now=moment,
        )
    return sid


def record_review(
    conn: Connection,
    *,
    project_id: int,
    stage: str,
    reviewer: Actor,
    score: Decimal,
    recommendation: str,
    comments: str,
    no_conflict_declared: bool,
    now: datetime | None = None,
) -> int:
    moment = now or clock.now()
    rid = int(
        conn.execute(
            insert(_r).returning(_r.c.id),
            {
                "project_id": project_id,
                "stage": stage,
                "reviewer_id": reviewer.user_id,
                "score": score,
                "recommendation": recommendation,
                "comments": comments,
                "no_conflict_declared": no_conflict_declared,
                "submitted_at": moment,
                "created_at": moment,
            },
        ).scalar_one()
    )
    audit.note(
        conn,
        subject_id=project_id,
        actor=reviewer,
        action=f"review:{stage}",
        payload={"score": str(score), "recommendation": recommendation},
        now=moment,
    )
    return rid
