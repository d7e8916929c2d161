"""Read models for pages and the API: what a person may list and see."""

from __future__ import annotations

from dataclasses import dataclass
from datetime import datetime
from typing import Any

from sqlalchemy import Connection, Select, or_, select, true

from grantflow.db.facts import load_facts
from grantflow.db.models import AuditEvent, Programme, Project
from grantflow.states.enums import Role
from grantflow.states.errors import NotFound
from grantflow.states.permissions import Actor, may_view, shown_actor
from grantflow.states.text import Text


def visible_projects_query(actor: Actor) -> Select[Any]:
    """The SQL form of ``states.permissions.may_view`` for listings (a test keeps them in step)."""
    stmt = select(Project).join(Programme, Project.programme_id == Programme.id).order_by(Project.id.desc())
    if actor.has(Role.OFFICE) or actor.has(Role.LEADERSHIP_GROUP):
        return stmt.where(true())
    clauses = []
    if actor.has(Role.APPLICANT) and actor.organisation_id is not None:
        clauses.append(Project.undertaking_unit_id == actor.organisation_id)
    if actor.has(Role.ORGANISING_UNIT) and actor.organisation_id is not None:
        clauses.append(Programme.organising_unit_id == actor.organisation_id)
    if not clauses:
        return stmt.where(Project.id.is_(None))
    return stmt.where(or_(*clauses))


def visible_projects(conn: Connection, actor: Actor, *, limit: int = 200) -> list[Any]:
    return list(conn.execute(visible_projects_query(actor).limit(limit)).all())


def project_for(conn: Connection, actor: Actor, project_id: int) -> Any:
    """The project row if this person may see it; otherwise NotFound (existence is not disclosed)."""
    facts = load_facts(conn, "project", project_id)
    if not may_view(actor, facts):
        raise NotFound(Text(f"项目 {project_id} 不存在", f"project {project_id} does not exist"))
    return conn.execute(select(Project).where(Project.id == project_id)).one()


@dataclass(frozen=True)
class HistoryEntry:
    id: int
    created_at: datetime
    actor: Text
    action: str
    from_state: str | None
    to_state: str | None


def history(conn: Connection, subject: str, subject_id: int, *, viewer: Actor) -> list[HistoryEntry]:
    """A subject's audit events as this viewer may read them (reviewer names hidden from applicants)."""
    rows = conn.execute(
        select(AuditEvent)
        .where(AuditEvent.subject == subject, AuditEvent.subject_id == subject_id)
        .order_by(AuditEvent.id)
    ).all()
    return [
        HistoryEntry(
            r.id,
            r.created_at,
            shown_actor(viewer, action=r.action, name=r.actor_name),
            r.action,
            r.from_state,
            r.to_state,
        )
        for r in rows
    ]
