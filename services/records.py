"""Writing the documents the guards look at: form submissions and expert reviews; project codes.

These write data, never a subject's state; a state changes only through ``db.apply``.
The caller owns the transaction.
"""

from __future__ import annotations

from collections.abc import Mapping
from datetime import datetime
from decimal import Decimal
from typing import Any

from sqlalchemy import Connection, insert, select, update

from grantflow import clock
from grantflow.db import audit
from grantflow.db.apply import create
from grantflow.db.inserts import insert_ignoring_duplicates
from grantflow.db.models import CodeCounter, Project, Review, Submission, table
from grantflow.forms import FORMS, FormDefinition
from grantflow.services.partners import record_partners_from
from grantflow.states.enums import SubmissionStatus
from grantflow.states.permissions import Actor

_s = table(Submission)
_r = table(Review)
_p = table(Project)
_counter = table(CodeCounter)


def take_number(conn: Connection, scope: str) -> int:
    """The next number of a numbering scope, in the caller's transaction.

    One ``UPDATE … RETURNING`` on the scope's counter row: on PostgreSQL a concurrent caller
    waits on the row lock until this transaction ends and then reads the committed value; on
    SQLite writers are serialised by the database lock. A rolled-back transaction gives its
    number back. Take numbers before other writes in the transaction, so that the counter's
    lock is always taken before the audit log's (one order, no deadlock).
    """
    insert_ignoring_duplicates(conn, _counter, [{"scope": scope, "value": 0}])
    stmt = (
        update(_counter).where(_counter.c.scope == scope).values(value=_counter.c.value + 1).returning(_counter.c.value)
    )
    return int(conn.execute(stmt).scalar_one())


def next_project_code(conn: Connection, *, programme_code: int, year: int) -> str:
    """A new project code, ``ZX<programme>-<year>-<n>``, numbered per programme and year.

    Safe under concurrent creation (see ``take_number``); a code already taken by a row the
    counter did not hand out (imported data) is skipped rather than collided with.
    """
    scope = f"project:{programme_code:02d}:{year}"
    while True:
        code = f"ZX{programme_code:02d}-{year}-{take_number(conn, scope):05d}"
        if conn.execute(select(_p.c.id).where(_p.c.code == code)).first() is None:
            return code


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
    form: FormDefinition | None = None,
) -> int:
    """Create or update the project's current submission of a form (one per form and period).

    Submitting a form that names the project's partners (the proposal) makes the organisations
    it names the project's partners (``services.partners``), in the same transaction. ``form``
    is the definition the data was made with (default: ``form_key`` at ``form_version``).
    """
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
        definition = form or FORMS.find(form_key, form_version)
        if definition is not None:
            record_partners_from(conn, project_id=project_id, form=definition, data=stored, actor=actor, now=moment)
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
