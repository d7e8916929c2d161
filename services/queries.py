"""Read models for pages and the API: what a person may list and see."""

from __future__ import annotations

from dataclasses import dataclass
from datetime import datetime
from typing import Any

from sqlalchemy import ColumnElement, Connection, Select, and_, bindparam, exists, or_, select, true

from grantflow.db.facts import DbFacts, load_facts
from grantflow.db.models import AuditEvent, Programme, Project, ReviewAssignment, table
from grantflow.db.workflows import get_registry
from grantflow.states.attributes import StateDef
from grantflow.states.enums import Role
from grantflow.states.errors import NotFound
from grantflow.states.permissions import Actor, FormLocked, shown_actor
from grantflow.states.text import Text


def _assigned(actor: Actor, stages: tuple[str, ...] | None) -> ColumnElement[bool]:
    """A live assignment of this person to the listed project (for these stages; None: any)."""
    clause = exists().where(
        ReviewAssignment.project_id == Project.id,
        ReviewAssignment.reviewer_id == actor.user_id,
        ReviewAssignment.conflict_declared_at.is_(None),
    )
    if stages is not None:
        clause = clause.where(ReviewAssignment.stage.in_(stages))
    return clause


def _admits(preset: str, actor: Actor, here: StateDef) -> ColumnElement[bool] | None:
    """The SQL form of one permission preset for listed projects (``states.permissions.PRESETS``)."""
    org = actor.organisation_id
    if preset == "applicant" and actor.has(Role.APPLICANT) and org is not None:
        return Project.undertaking_unit_id == org
    if preset == "organiser" and actor.has(Role.ORGANISING_UNIT) and org is not None:
        return Programme.organising_unit_id == org
    if (preset == "office" and actor.has(Role.OFFICE)) or (preset == "leadership" and actor.has(Role.LEADERSHIP_GROUP)):
        return true()
    if preset == "reviewer" and actor.has(Role.REVIEWER) and actor.user_id is not None and here.stages_in_force:
        return _assigned(actor, here.stages_in_force)
    if preset == "evaluator" and actor.has(Role.EVALUATOR) and actor.user_id is not None:
        return _assigned(actor, None)
    return None


def visible_projects_query(actor: Actor) -> Select[Any]:
    """The SQL form of ``states.permissions.may_view`` for listings (a test keeps them in step):
    per workflow and state, any of the state's viewer presets that admits this person."""
    stmt = select(Project).join(Programme, Project.programme_id == Programme.id).order_by(Project.id.desc())
    # states that admit the same way share one clause
    groups: dict[tuple[tuple[str, ...], tuple[str, ...]], list[ColumnElement[bool]]] = {}
    shape: dict[tuple[tuple[str, ...], tuple[str, ...]], StateDef] = {}
    registry = get_registry()
    for name in registry.names("project"):
        wf = registry.get(name)
        for here in wf.states.values():
            key = (here.viewers, here.stages_in_force)
            shape.setdefault(key, here)
            groups.setdefault(key, []).append(and_(Project.workflow == name, Project.state == here.name))
    clauses = []
    for key, where in groups.items():
        admits = [c for c in (_admits(p, actor, shape[key]) for p in key[0]) if c is not None]
        if admits:
            clauses.append(and_(or_(*where), or_(*admits)))
    return stmt.where(or_(*clauses) if clauses else Project.id.is_(None))


def visible_projects(conn: Connection, actor: Actor, *, limit: int = 200) -> list[Any]:
    return list(conn.execute(visible_projects_query(actor).limit(limit)).all())


NOT_FOUND = "项目 {id} 不存在", "project {id} does not exist"


def viewable_facts(conn: Connection, actor: Actor, project_id: int) -> DbFacts:
    """The project's facts if this person may see it; otherwise NotFound, exactly as for a project
    that does not exist (existence is not disclosed). The state's ``viewers`` decide."""
    facts = load_facts(conn, "project", project_id)
    registry = get_registry()
    if facts.workflow not in registry or not registry.get(facts.workflow).may_view(facts, actor):
        raise NotFound(Text(NOT_FOUND[0].format(id=project_id), NOT_FOUND[1].format(id=project_id)))
    return facts


def form_refusal(facts: DbFacts, actor: Actor, form_key: str) -> FormLocked | None:
    """Why this person may not edit the form in the project's current state, or None: the one
    answer the form store, the attachment store, the page, the API and the CLI all use."""
    return get_registry().get(facts.workflow).form_refusal(facts, actor, form_key)


def editable_facts(conn: Connection, actor: Actor, project_id: int, form_key: str) -> DbFacts:
    """The project's facts if this person may edit the form now; NotFound if they may not see the
    project, ``FormLocked`` (both languages, naming the state) if the state locks the form for them."""
    facts = viewable_facts(conn, actor, project_id)
    refusal = form_refusal(facts, actor, form_key)
    if refusal is not None:
        raise refusal
    return facts


def project_for(conn: Connection, actor: Actor, project_id: int) -> Any:
    """The project row if this person may see it; otherwise NotFound (existence is not disclosed)."""
    viewable_facts(conn, actor, project_id)
    return conn.execute(_PROJECT, {"pid": project_id}).one()


# every project page and form reads its project: built once, not per request
_PROJECT = select(table(Project)).where(table(Project).c.id == bindparam("pid"))


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
