"""What a call's review desk shows: the panel with every expert's known conflicts, who reviews
each item, and the ranking with the decisions the engine would take from this person.

Read-only: panels are formed by ``panels.create_panel``, reviewers assigned by
``assignment.assign``/``assign_batch``, decisions fired by ``decisions.decide_batch`` (the same
functions as ``grantflow review panel|assign|decide``). Conflicts come from
``states.review_rules.unassignable``; decision buttons from the project's workflow table.
"""

from __future__ import annotations

from dataclasses import dataclass
from datetime import datetime
from decimal import Decimal

from sqlalchemy import Connection, select

from grantflow.config import get_settings
from grantflow.db.facts import load_facts
from grantflow.db.workflows import get_registry
from grantflow.services.review.assignment import ItemAssignment, assignments_for
from grantflow.services.review.common import _call_organiser, _p, _require_manager, _stage_ok, _u, _ur, item
from grantflow.services.review.decisions import RankRow, ranking
from grantflow.services.review.panels import PanelInfo, panel_for
from grantflow.services.review.parties import parties, profiles
from grantflow.states.enums import Role
from grantflow.states.permissions import Actor
from grantflow.states.review_rules import unassignable
from grantflow.states.text import Text
from grantflow.states.workflow import Availability

DECISION_TRIGGERS = ("approve", "reject")
"""The gate decisions the ranking form offers (the batch form posts these trigger names)."""


@dataclass(frozen=True)
class Conflict:
    project_code: str
    reasons: tuple[Text, ...]


@dataclass(frozen=True)
class Expert:
    user_id: int
    name: str
    email: str
    expertise: tuple[str, ...]
    on_panel: bool
    load: int
    conflicts: tuple[Conflict, ...]


@dataclass(frozen=True)
class Candidate:
    user_id: int
    name: str
    reasons: tuple[Text, ...]  # empty: may be assigned


@dataclass(frozen=True)
class DeskItem:
    project_id: int
    code: str
    title: str
    state_label: Text
    quorum: int
    assigned: list[ItemAssignment]
    live: int
    candidates: list[Candidate]


@dataclass(frozen=True)
class PanelDesk:
    panel: PanelInfo | None
    experts: list[Expert]
    items: list[DeskItem]


def _stage_items(conn: Connection, call_id: int, stage: str) -> list[int]:
    """The call's items taking reviewers at this stage now (the stage is in force in their state)."""
    registry = get_registry()
    rows = conn.execute(select(_p.c.id, _p.c.workflow, _p.c.state).where(_p.c.call_id == call_id).order_by(_p.c.id))
    return [
        r.id
        for r in rows
        if r.workflow in registry and stage in registry.get(r.workflow).state(r.state).stages_in_force
    ]


def panel_desk(conn: Connection, *, call_id: int, stage: str, actor: Actor) -> PanelDesk:
    _stage_ok(stage)
    _require_manager(actor, _call_organiser(conn, call_id))
    panel = panel_for(conn, call_id=call_id, stage=stage)
    members = set(panel.members) if panel else set()
    reviewer_ids = list(
        conn.execute(
            select(_ur.c.user_id)
            .join(_u, _u.c.id == _ur.c.user_id)
            .where(_ur.c.role == Role.REVIEWER, _u.c.active.is_(True))
            .order_by(_ur.c.user_id)
        ).scalars()
    )
    everyone = {p.user_id: p for p in profiles(conn, sorted(set(reviewer_ids) | members), call_id=call_id, stage=stage)}
    aliases = get_settings().email_domain_aliases
    registry = get_registry()
    contexts = [item(conn, pid) for pid in _stage_items(conn, call_id, stage)]
    item_parties = {ctx.project_id: parties(conn, ctx, default_tags=panel.tags if panel else ()) for ctx in contexts}
    experts = []
    for uid in reviewer_ids:
        p = everyone[uid]
        found = []
        for ctx in contexts:
            reasons = unassignable(p, item_parties[ctx.project_id], aliases)
            if reasons:
                found.append(Conflict(ctx.code, tuple(reasons)))
        experts.append(Expert(uid, p.name, p.email, tuple(sorted(p.expertise)), uid in members, p.load, tuple(found)))
    items = []
    for ctx in contexts:
        assigned = assignments_for(conn, project_id=ctx.project_id, stage=stage, actor=actor)
        taken = {a.reviewer_id for a in assigned}
        candidates = []
        for uid in sorted(members):
            member = everyone.get(uid)
            if member is None:
                continue
            reasons = list(unassignable(member, item_parties[ctx.project_id], aliases))
            if uid in taken:
                reasons.append(Text(f"{member.name} 已分配过此项目", f"{member.name} was already given this item"))
            candidates.append(Candidate(uid, member.name, tuple(reasons)))
        items.append(
            DeskItem(
                ctx.project_id,
                ctx.code,
                ctx.title,
                registry.get(ctx.workflow).state_label(ctx.state),
                ctx.quorum,
                assigned,
                sum(1 for a in assigned if not a.conflict),
                candidates,
            )
        )
    return PanelDesk(panel, experts, items)


@dataclass(frozen=True)
class RankedItem:
    row: RankRow
    state_label: Text
    scores: tuple[Decimal, ...]
    choices: dict[str, Availability]
    """The decisions the table lets this person take on the item: pressable now (``allowed``), or
    not yet, with the reason (a guard waits, e.g. the quorum). Absent: never theirs, or not here."""


def ranking_desk(conn: Connection, *, call_id: int, stage: str, actor: Actor, now: datetime) -> list[RankedItem]:
    """The ranking, each item with its state in words, its scores, and its decision choices."""
    registry = get_registry()
    out = []
    for r in ranking(conn, call_id=call_id, stage=stage, actor=actor):
        facts = load_facts(conn, "project", r.project_id)
        wf = registry.get(facts.workflow)
        choices = {
            b.trigger: b
            for b in wf.available(facts=facts, actor=actor, now=now)
            if b.trigger in DECISION_TRIGGERS and b.permitted
        }
        out.append(RankedItem(r, wf.state_label(r.state), tuple(r.ranked.scores), choices))
    return out
