"""Assigning reviewers to items, by hand or automatically, never with a conflict of interest."""

from __future__ import annotations

from collections.abc import Iterable
from dataclasses import dataclass
from datetime import datetime

from sqlalchemy import Connection, Engine, insert, select

from grantflow.config import get_settings
from grantflow.db import audit
from grantflow.services.review.common import (
    STAGES,
    ItemContext,
    ItemResult,
    _a,
    _batch,
    _p,
    _require_manager,
    _stage_ok,
    _u,
    item,
)
from grantflow.services.review.panels import panel_for
from grantflow.services.review.parties import parties, profiles
from grantflow.states.errors import Forbidden, NotFound, PayloadInvalid
from grantflow.states.permissions import Actor
from grantflow.states.review_rules import (
    ReviewerProfile,
    choose_reviewers,
    unassignable,
)
from grantflow.states.text import Text


def _stage_open(ctx: ItemContext, stage: str) -> list[Text]:
    """An item takes reviewers for a stage while it is in (or about to enter) that stage: the
    stages in force in its state (``review_stage`` and ``assign_stages`` of the workflow table)."""
    if stage in ctx.here.stages_in_force:
        return []
    return [
        Text(
            f"项目 {ctx.code} 当前不在{STAGES[stage].zh}阶段",
            f"project {ctx.code} is not at the {STAGES[stage].en} stage",
        )
    ]


def _taken(conn: Connection, project_id: int, stage: str) -> tuple[set[int], int]:
    """Reviewers ever given this item at this stage (never again), and how many still count."""
    rows = conn.execute(
        select(_a.c.reviewer_id, _a.c.conflict_declared_at).where(_a.c.project_id == project_id, _a.c.stage == stage)
    ).all()
    return {r.reviewer_id for r in rows}, sum(1 for r in rows if r.conflict_declared_at is None)


def _insert_assignment(
    conn: Connection,
    *,
    ctx: ItemContext,
    stage: str,
    reviewer: ReviewerProfile,
    panel_id: int | None,
    actor: Actor,
    automatic: bool,
    now: datetime,
) -> int:
    aid = int(
        conn.execute(
            insert(_a).returning(_a.c.id),
            {
                "project_id": ctx.project_id,
                "stage": stage,
                "reviewer_id": reviewer.user_id,
                "panel_id": panel_id,
                "automatic": automatic,
                "assigned_by": actor.user_id,
                "assigned_at": now,
            },
        ).scalar_one()
    )
    audit.note(
        conn,
        subject_id=ctx.project_id,
        actor=actor,
        action=f"assign:{stage}",
        payload={"assignment": aid, "reviewer": reviewer.user_id, "automatic": automatic},
        now=now,
    )
    return aid


def assign(conn: Connection, *, project_id: int, stage: str, reviewer_id: int, actor: Actor, now: datetime) -> int:
    """Assign by hand. Refused, with every reason, if the reviewer has a conflict: never assigned."""
    _stage_ok(stage)
    ctx = item(conn, project_id)
    _require_manager(actor, ctx.organising_unit_id)
    reasons = _stage_open(ctx, stage)
    found = profiles(conn, [reviewer_id], call_id=ctx.call_id, stage=stage)
    if not found:
        raise NotFound(Text(f"用户 {reviewer_id} 不存在", f"user {reviewer_id} does not exist"))
    reviewer = found[0]
    aliases = get_settings().email_domain_aliases
    reasons += unassignable(reviewer, parties(conn, ctx), aliases)
    taken, _ = _taken(conn, project_id, stage)
    if reviewer_id in taken:
        reasons.append(Text(f"{reviewer.name} 已分配过此项目", f"{reviewer.name} was already given this item"))
    if reasons:
        raise Forbidden(reasons)
    panel = panel_for(conn, call_id=ctx.call_id, stage=stage)
    return _insert_assignment(
        conn,
        ctx=ctx,
        stage=stage,
        reviewer=reviewer,
        panel_id=panel.panel_id if panel else None,
        actor=actor,
        automatic=False,
        now=now,
    )


def auto_assign(
    conn: Connection, *, project_id: int, stage: str, actor: Actor, now: datetime, needed: int | None = None
) -> list[int]:
    """Fill the item up to its quorum from the stage's panel: no conflicts, expertise first,
    lightest load next. Returns the reviewers added; refuses when the panel cannot fill it."""
    _stage_ok(stage)
    ctx = item(conn, project_id)
    if not actor.has("system"):
        _require_manager(actor, ctx.organising_unit_id)
    reasons = _stage_open(ctx, stage)
    if reasons:
        raise Forbidden(reasons)
    panel = panel_for(conn, call_id=ctx.call_id, stage=stage)
    if panel is None:
        raise NotFound(Text(f"本指南尚未组建{STAGES[stage].zh}专家组", f"the call has no panel for {STAGES[stage].en}"))
    taken, live = _taken(conn, project_id, stage)
    want = max(ctx.quorum, 1) - live if needed is None else needed
    if want <= 0:
        return []
    candidates = profiles(conn, panel.members, call_id=ctx.call_id, stage=stage)
    chosen = choose_reviewers(
        candidates,
        parties(conn, ctx, default_tags=panel.tags),
        needed=want,
        exclude=taken,
        aliases=get_settings().email_domain_aliases,
    )
    if len(chosen) < want:
        raise PayloadInvalid(
            Text(
                f"专家组中无利益冲突的可用专家不足：还需 {want} 人，只有 {len(chosen)} 人",
                f"the panel has too few reviewers free of conflicts: {want} needed, {len(chosen)} available",
            ),
            details={"needed": want, "available": len(chosen)},
        )
    for reviewer in chosen:
        _insert_assignment(
            conn, ctx=ctx, stage=stage, reviewer=reviewer, panel_id=panel.panel_id, actor=actor, automatic=True, now=now
        )
    return [r.user_id for r in chosen]


def assign_batch(
    engine: Engine,
    *,
    project_ids: Iterable[int],
    stage: str,
    actor: Actor,
    now: datetime,
    reviewer_id: int | None = None,
) -> list[ItemResult]:
    """Assign many items, each in its own transaction and audited on its own: by hand (one
    reviewer for every item) or automatically (each item filled to its quorum)."""

    def one(conn: Connection, pid: int) -> ItemResult:
        if reviewer_id is not None:
            assign(conn, project_id=pid, stage=stage, reviewer_id=reviewer_id, actor=actor, now=now)
            added = [reviewer_id]
        else:
            added = auto_assign(conn, project_id=pid, stage=stage, actor=actor, now=now)
        return ItemResult(
            pid, True, Text(f"已分配 {len(added)} 位专家", f"{len(added)} reviewers assigned"), {"reviewers": added}
        )

    return _batch(engine, project_ids, one)


@dataclass(frozen=True)
class AssignmentRow:
    assignment_id: int
    project_id: int
    code: str
    title: str
    stage: str
    state: str
    submitted: bool


def assignments_of(conn: Connection, *, reviewer_id: int) -> list[AssignmentRow]:
    rows = conn.execute(
        select(_a.c.id, _a.c.project_id, _p.c.code, _p.c.title, _a.c.stage, _p.c.state, _a.c.review_id)
        .select_from(_a.join(_p, _a.c.project_id == _p.c.id))
        .where(_a.c.reviewer_id == reviewer_id, _a.c.conflict_declared_at.is_(None))
        .order_by(_a.c.id)
    ).all()
    return [AssignmentRow(r.id, r.project_id, r.code, r.title, r.stage, r.state, r.review_id is not None) for r in rows]


NOT_ASSIGNED = Text("此项目未分配给您评审", "this item is not assigned to you")


def my_assignment(conn: Connection, *, actor: Actor, project_id: int, stage: str) -> AssignmentRow:
    """The person's live assignment to this item and stage; refused (the same way on the page, the
    API and the CLI) when there is none."""
    for row in assignments_of(conn, reviewer_id=actor.user_id or 0):
        if row.project_id == project_id and row.stage == stage:
            return row
    raise Forbidden([NOT_ASSIGNED])


@dataclass(frozen=True)
class ItemAssignment:
    reviewer_id: int
    reviewer_name: str
    automatic: bool
    conflict: bool
    submitted: bool


def assignments_for(conn: Connection, *, project_id: int, stage: str, actor: Actor) -> list[ItemAssignment]:
    """Who reviews an item: for managers only (names are never shown to applicants)."""
    ctx = item(conn, project_id)
    _require_manager(actor, ctx.organising_unit_id)
    rows = conn.execute(
        select(_a.c.reviewer_id, _u.c.name, _a.c.automatic, _a.c.conflict_declared_at, _a.c.review_id)
        .select_from(_a.join(_u, _a.c.reviewer_id == _u.c.id))
        .where(_a.c.project_id == project_id, _a.c.stage == stage)
        .order_by(_a.c.id)
    ).all()
    return [
        ItemAssignment(r.reviewer_id, r.name, r.automatic, r.conflict_declared_at is not None, r.review_id is not None)
        for r in rows
    ]
