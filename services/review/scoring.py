"""The reviewer's side: conflict statements and reviews with their rubric scores, and who may read them."""

from __future__ import annotations

from collections.abc import Mapping
from datetime import datetime
from decimal import Decimal
from typing import Any

from sqlalchemy import Connection, insert, select, update

from grantflow.db import audit
from grantflow.services.records import record_review
from grantflow.services.review.assignment import _stage_open, auto_assign
from grantflow.services.review.common import RECOMMENDATIONS, STAGES, ReviewError, _a, _cs, _r, _score, _u, item
from grantflow.services.review.panels import panel_for, rubric_for
from grantflow.states.errors import Forbidden, NotFound, PayloadInvalid
from grantflow.states.permissions import SYSTEM, Actor, own_unit
from grantflow.states.review_rules import (
    ReviewView,
    VisibleReview,
    may_manage,
    score_problems,
    visible_reviews,
    weighted_total,
)
from grantflow.states.text import Text


def _live_assignment(conn: Connection, *, project_id: int, stage: str, reviewer_id: int | None) -> Any:
    row = conn.execute(
        select(_a).where(_a.c.project_id == project_id, _a.c.stage == stage, _a.c.reviewer_id == reviewer_id)
    ).one_or_none()
    if row is None or row.conflict_declared_at is not None:
        raise Forbidden([Text("此项目未分配给您评审", "this item is not assigned to you")])
    return row


def declare_conflict(
    conn: Connection, *, project_id: int, stage: str, reviewer: Actor, statement: str, now: datetime
) -> list[int]:
    """The reviewer declares a conflict: the assignment closes and the item goes to someone
    else from the panel (returns who; empty when the panel has nobody left)."""
    row = _live_assignment(conn, project_id=project_id, stage=stage, reviewer_id=reviewer.user_id)
    if row.review_id is not None:
        raise Forbidden([Text("评审意见已提交，不能再声明利益冲突", "the review is already submitted")])
    if not statement.strip():
        raise ReviewError([Text("请说明利益冲突的情况", "please describe the conflict of interest")])
    conn.execute(
        insert(_cs), {"assignment_id": row.id, "has_conflict": True, "statement": statement.strip(), "declared_at": now}
    )
    conn.execute(update(_a).where(_a.c.id == row.id).values(conflict_declared_at=now))
    audit.note(
        conn,
        subject_id=project_id,
        actor=reviewer,
        action=f"conflict_declared:{stage}",
        payload={"assignment": row.id},
        now=now,
    )
    try:
        # the system reassigns, through the channel the reviewer used
        return auto_assign(
            conn, project_id=project_id, stage=stage, actor=SYSTEM.via(reviewer.channel), now=now, needed=1
        )
    except (NotFound, PayloadInvalid):
        # no panel, or nobody free of conflicts: the office assigns by hand (the item shows short)
        return []


def submit_review(
    conn: Connection,
    *,
    project_id: int,
    stage: str,
    reviewer: Actor,
    scores: Mapping[str, object],
    recommendation: str,
    comments: str,
    no_conflict: bool | None,
    statement: str = "",
    now: datetime,
) -> int:
    """Submit a review with its explicit conflict statement; refused with every reason."""
    row = _live_assignment(conn, project_id=project_id, stage=stage, reviewer_id=reviewer.user_id)
    ctx = item(conn, project_id)
    reasons: list[Text] = []
    if row.review_id is not None:
        reasons.append(Text("您已提交过本项目的评审意见", "you have already submitted a review of this item"))
    here = ctx.here
    if stage != here.review_stage and stage in here.assign_stages:
        # assigned early (panels are formed during the formal check): reviews wait for the stage
        reasons.append(
            Text(
                f"项目当前处于“{here.label.zh}”，进入评审阶段后才能评审",
                f"the item is {here.label.en}: it can be reviewed once its review stage starts",
            )
        )
    elif stage != here.review_stage:
        reasons += _stage_open(ctx, stage) or [
            Text(
                f"项目 {ctx.code} 当前不在{STAGES[stage].zh}阶段",
                f"project {ctx.code} is not at the {STAGES[stage].en} stage",
            )
        ]
    if no_conflict is not True:
        reasons.append(
            Text(
                "请明确声明与本项目不存在利益冲突（如有冲突，请声明冲突，项目将改派）",
                "state explicitly that you have no conflict of interest (if you have one, declare it and the item is"
                " reassigned)",
            )
        )
    rubric = rubric_for(conn, call_id=ctx.call_id, stage=stage)
    parsed, problems = score_problems(rubric, scores)
    reasons += problems
    if recommendation not in RECOMMENDATIONS:
        reasons.append(Text("请选择评审建议", "choose a recommendation"))
    if not comments.strip():
        reasons.append(Text("请填写评审意见", "please write your comments"))
    if reasons:
        raise ReviewError(reasons)
    conn.execute(
        insert(_cs),
        {
            "assignment_id": row.id,
            "has_conflict": False,
            "statement": statement.strip() or "本人与该项目不存在利益冲突 / I have no conflict of interest",
            "declared_at": now,
        },
    )
    total = weighted_total(rubric, parsed)
    review_id = record_review(
        conn,
        project_id=project_id,
        stage=stage,
        reviewer=reviewer,
        score=total,
        recommendation=recommendation,
        comments=comments.strip(),
        no_conflict_declared=True,
        now=now,
    )
    conn.execute(insert(_score), [{"review_id": review_id, "criterion": k, "score": v} for k, v in parsed.items()])
    conn.execute(update(_a).where(_a.c.id == row.id).values(review_id=review_id))
    return review_id


def _valid_reviews(conn: Connection, project_id: int, stage: str) -> list[ReviewView]:
    """Submitted reviews that carry a no-conflict statement: the same ones the quorum counts."""
    rows = conn.execute(
        select(_r.c.id, _r.c.reviewer_id, _u.c.name, _r.c.score, _r.c.recommendation, _r.c.comments)
        .select_from(_r.join(_u, _r.c.reviewer_id == _u.c.id))
        .where(
            _r.c.project_id == project_id,
            _r.c.stage == stage,
            _r.c.submitted_at.is_not(None),
            _r.c.no_conflict_declared.is_(True),
        )
        .order_by(_r.c.id)
    ).all()
    ids = [r.id for r in rows]
    per: dict[int, dict[str, Decimal]] = {}
    if ids:
        for s in conn.execute(select(_score).where(_score.c.review_id.in_(ids))):
            per.setdefault(s.review_id, {})[s.criterion] = s.score
    return [
        ReviewView(r.id, r.reviewer_id, r.name, r.score, r.recommendation, r.comments, per.get(r.id, {})) for r in rows
    ]


def reviews_for(conn: Connection, *, project_id: int, stage: str, actor: Actor) -> list[VisibleReview]:
    """An item's reviews as this person may read them (``states.review_rules.visible_reviews``)."""
    ctx = item(conn, project_id)
    panel = panel_for(conn, call_id=ctx.call_id, stage=stage)
    return visible_reviews(
        _valid_reviews(conn, project_id, stage),
        actor=actor,
        may_manage_item=may_manage(actor, ctx.organising_unit_id),
        is_applicant=own_unit(actor, ctx.undertaking_unit_id),
        decided=stage in ctx.here.decided_stages,
        peers_after_submit=panel.peers_after_submit if panel else True,
    )
