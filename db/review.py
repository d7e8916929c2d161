"""Expert review on stored data: panels, rubrics, assignment, conflict statements, reviews,
visibility, ranking, and gate decisions in batches.

The rules are in ``states.review_rules``; this module loads their facts and writes what they
allow. Every write is audited on the project it concerns. Helpers that take a ``Connection``
run in the caller's transaction; the ``*_batch`` functions take the engine and give each item
its own transaction, so one failing item does not roll back the others.
"""

from __future__ import annotations

from collections.abc import Iterable, Mapping, Sequence
from dataclasses import dataclass, field
from datetime import datetime
from decimal import Decimal
from typing import Any

from sqlalchemy import Connection, Engine, and_, delete, func, insert, select, update

from grantflow.db import audit
from grantflow.db.apply import apply_trigger
from grantflow.db.models import Call, Organisation, Programme, Project, Review, User, UserRole
from grantflow.db.records import record_review
from grantflow.db.review_models import (
    ConflictStatement,
    CriterionScore,
    PanelMember,
    ProjectPartner,
    ProjectTag,
    ReviewAssignment,
    ReviewPanel,
    ReviewRubric,
)
from grantflow.db.settings import get_settings
from grantflow.states.enums import Role
from grantflow.states.errors import Forbidden, GrantflowError, NotFound, PayloadInvalid
from grantflow.states.lifecycle import REVIEW_STAGE_BY_STATE
from grantflow.states.permissions import SYSTEM, Actor
from grantflow.states.review_rules import (
    DEFAULT_RUBRICS,
    MANAGE_FORBIDDEN,
    ItemParties,
    Ranked,
    ReviewerProfile,
    ReviewView,
    Rubric,
    RubricInvalid,
    VisibleReview,
    choose_reviewers,
    may_manage,
    rank,
    rubric_from_list,
    score_problems,
    unassignable,
    visible_reviews,
    weighted_total,
)
from grantflow.states.text import Text, join

_p = Project.__table__
_c = Call.__table__
_g = Programme.__table__
_o = Organisation.__table__
_u = User.__table__
_ur = UserRole.__table__
_r = Review.__table__
_panel = ReviewPanel.__table__
_member = PanelMember.__table__
_rubric = ReviewRubric.__table__
_a = ReviewAssignment.__table__
_cs = ConflictStatement.__table__
_score = CriterionScore.__table__
_partner = ProjectPartner.__table__
_tag = ProjectTag.__table__

STAGES: dict[str, Text] = {
    "concept": Text("项目概要评审", "concept review"),
    "proposal": Text("立项评审", "proposal review"),
    "midterm": Text("中期评估", "mid-term review"),
    "acceptance": Text("验收评审", "acceptance review"),
}

RECOMMENDATIONS: dict[str, Text] = {
    "support": Text("建议支持（通过）", "recommend (pass)"),
    "revise": Text("修改后支持", "recommend after changes"),
    "oppose": Text("不建议支持", "do not recommend"),
}


class ReviewError(PayloadInvalid):
    """A review request refused with every reason at once."""

    code = "review_invalid"

    def __init__(self, reasons: list[Text]) -> None:
        body = join(reasons)
        super().__init__(
            Text("评审意见未保存：" + body.zh, "The review was not saved: " + body.en),
            details={"reasons": [r.as_dict() for r in reasons]},
        )
        self.reasons = reasons


def _stage_ok(stage: str) -> None:
    if stage not in STAGES:
        raise PayloadInvalid(Text(f"未知的评审阶段“{stage}”", f"unknown review stage '{stage}'"))


@dataclass(frozen=True)
class ItemContext:
    project_id: int
    code: str
    title: str
    state: str
    call_id: int | None
    organising_unit_id: int | None
    undertaking_unit_id: int
    quorum: int


def item(conn: Connection, project_id: int) -> ItemContext:
    row = conn.execute(
        select(
            _p.c.id,
            _p.c.code,
            _p.c.title,
            _p.c.state,
            _p.c.call_id,
            _g.c.organising_unit_id,
            _p.c.undertaking_unit_id,
            func.coalesce(_c.c.quorum, 3).label("quorum"),
        )
        .select_from(_p.join(_g, _p.c.programme_id == _g.c.id).outerjoin(_c, _p.c.call_id == _c.c.id))
        .where(_p.c.id == project_id)
    ).one_or_none()
    if row is None:
        raise NotFound(Text(f"项目 {project_id} 不存在", f"project {project_id} does not exist"))
    return ItemContext(*row)


def _require_manager(actor: Actor, organising_unit_id: int | None) -> None:
    if not may_manage(actor, organising_unit_id):
        raise Forbidden([MANAGE_FORBIDDEN])


def _call_organiser(conn: Connection, call_id: int) -> int | None:
    row = conn.execute(
        select(_g.c.organising_unit_id).select_from(_c.join(_g, _c.c.programme_id == _g.c.id)).where(_c.c.id == call_id)
    ).one_or_none()
    if row is None:
        raise NotFound(Text(f"申报指南 {call_id} 不存在", f"call {call_id} does not exist"))
    return row.organising_unit_id


# --- panels, rubrics, project facts ---------------------------------------------------------------


def create_panel(
    conn: Connection,
    *,
    call_id: int,
    stage: str,
    name: str,
    members: Iterable[int],
    actor: Actor,
    now: datetime,
    tags: Iterable[str] = (),
    peers_after_submit: bool = True,
    trim: int = 1,
) -> int:
    """A call's panel for a stage (one per call and stage); members must be reviewers."""
    _stage_ok(stage)
    _require_manager(actor, _call_organiser(conn, call_id))
    member_ids = list(dict.fromkeys(members))
    reviewers = set(
        conn.execute(select(_ur.c.user_id).where(_ur.c.user_id.in_(member_ids), _ur.c.role == Role.REVIEWER)).scalars()
    )
    missing = [m for m in member_ids if m not in reviewers]
    if missing:
        raise PayloadInvalid(
            Text(f"以下用户不是评审专家：{missing}", f"these users are not reviewers: {missing}"),
            details={"users": missing},
        )
    if trim < 0:
        raise PayloadInvalid(Text("去掉的最高/最低分个数不能为负", "the trim count cannot be negative"))
    existing = conn.execute(
        select(_panel.c.id).where(_panel.c.call_id == call_id, _panel.c.stage == stage)
    ).scalar_one_or_none()
    values = {"name": name, "tags": sorted(set(tags)), "peers_after_submit": peers_after_submit, "trim": trim}
    if existing is None:
        panel_id = int(
            conn.execute(
                insert(_panel).returning(_panel.c.id), {"call_id": call_id, "stage": stage, "created_at": now, **values}
            ).scalar_one()
        )
    else:
        panel_id = existing
        conn.execute(update(_panel).where(_panel.c.id == panel_id).values(**values))
        conn.execute(delete(_member).where(_member.c.panel_id == panel_id))
    if member_ids:
        conn.execute(insert(_member), [{"panel_id": panel_id, "user_id": m} for m in member_ids])
    audit.note(
        conn,
        subject="call",
        subject_id=call_id,
        actor=actor,
        action=f"panel:{stage}",
        payload={"panel": panel_id, "members": member_ids, **values},
        now=now,
    )
    return panel_id


@dataclass(frozen=True)
class PanelInfo:
    panel_id: int
    call_id: int
    stage: str
    name: str
    tags: tuple[str, ...]
    peers_after_submit: bool
    trim: int
    members: tuple[int, ...]


def panel_for(conn: Connection, *, call_id: int | None, stage: str) -> PanelInfo | None:
    if call_id is None:
        return None
    row = conn.execute(select(_panel).where(_panel.c.call_id == call_id, _panel.c.stage == stage)).one_or_none()
    if row is None:
        return None
    members = tuple(conn.execute(select(_member.c.user_id).where(_member.c.panel_id == row.id)).scalars())
    return PanelInfo(
        row.id, row.call_id, row.stage, row.name, tuple(row.tags or ()), row.peers_after_submit, row.trim, members
    )


def set_rubric(
    conn: Connection, *, call_id: int, stage: str, criteria: Sequence[Mapping[str, Any]], actor: Actor, now: datetime
) -> Rubric:
    _stage_ok(stage)
    _require_manager(actor, _call_organiser(conn, call_id))
    try:
        rubric = rubric_from_list(stage, criteria)
    except RubricInvalid as exc:
        body = join(exc.problems)
        raise PayloadInvalid(Text("评分标准有误：" + body.zh, "The rubric is invalid: " + body.en)) from exc
    conn.execute(delete(_rubric).where(_rubric.c.call_id == call_id, _rubric.c.stage == stage))
    conn.execute(insert(_rubric), {"call_id": call_id, "stage": stage, "criteria": rubric.as_list()})
    audit.note(
        conn,
        subject="call",
        subject_id=call_id,
        actor=actor,
        action=f"rubric:{stage}",
        payload={"criteria": rubric.as_list()},
        now=now,
    )
    return rubric


def rubric_for(conn: Connection, *, call_id: int | None, stage: str) -> Rubric:
    """The call's own rubric for the stage, else the default (DESIGN rule 6 for evaluations)."""
    if call_id is not None:
        rows = conn.execute(
            select(_rubric.c.criteria).where(_rubric.c.call_id == call_id, _rubric.c.stage == stage)
        ).scalar_one_or_none()
        if rows:
            return rubric_from_list(stage, rows)
    _stage_ok(stage)
    return DEFAULT_RUBRICS[stage]


def set_partners(conn: Connection, *, project_id: int, organisation_ids: Iterable[int]) -> None:
    """The project's collaborating units (from its proposal); their people never review it."""
    conn.execute(delete(_partner).where(_partner.c.project_id == project_id))
    ids = sorted(set(organisation_ids))
    if ids:
        conn.execute(insert(_partner), [{"project_id": project_id, "organisation_id": o} for o in ids])


def set_tags(conn: Connection, *, project_id: int, tags: Iterable[str]) -> None:
    conn.execute(delete(_tag).where(_tag.c.project_id == project_id))
    clean = sorted({t.strip().lower() for t in tags if t.strip()})
    if clean:
        conn.execute(insert(_tag), [{"project_id": project_id, "tag": t} for t in clean])


def parties(conn: Connection, ctx: ItemContext, *, default_tags: Iterable[str] = ()) -> ItemParties:
    partners = frozenset(
        conn.execute(select(_partner.c.organisation_id).where(_partner.c.project_id == ctx.project_id)).scalars()
    )
    orgs = [ctx.undertaking_unit_id, *partners]
    domains: set[str] = set()
    for ds in conn.execute(select(_o.c.email_domains).where(_o.c.id.in_(orgs))).scalars():
        domains.update(d for d in (ds or []) if isinstance(d, str))
    tags = frozenset(conn.execute(select(_tag.c.tag).where(_tag.c.project_id == ctx.project_id)).scalars())
    return ItemParties(
        ctx.project_id,
        ctx.undertaking_unit_id,
        partners,
        frozenset(domains),
        tags or frozenset(t.lower() for t in default_tags),
    )


def profiles(conn: Connection, user_ids: Iterable[int], *, call_id: int | None, stage: str) -> list[ReviewerProfile]:
    """Reviewers as the rules see them, with their load: live items of this call and stage."""
    ids = list(user_ids)
    if not ids:
        return []
    rows = conn.execute(
        select(_u.c.id, _u.c.name, _u.c.email, _u.c.organisation_id, _u.c.expertise, _u.c.active, _o.c.email_domains)
        .select_from(_u.outerjoin(_o, _u.c.organisation_id == _o.c.id))
        .where(_u.c.id.in_(ids))
    ).all()
    reviewers = set(
        conn.execute(select(_ur.c.user_id).where(_ur.c.user_id.in_(ids), _ur.c.role == Role.REVIEWER)).scalars()
    )
    load_q = (
        select(_a.c.reviewer_id, func.count())
        .select_from(_a.join(_p, _a.c.project_id == _p.c.id))
        .where(_a.c.reviewer_id.in_(ids), _a.c.stage == stage, _a.c.conflict_declared_at.is_(None))
        .group_by(_a.c.reviewer_id)
    )
    if call_id is not None:
        load_q = load_q.where(_p.c.call_id == call_id)
    loads = dict(conn.execute(load_q).tuples().all())
    return [
        ReviewerProfile(
            r.id,
            r.name,
            r.email,
            r.organisation_id,
            frozenset(r.email_domains or ()),
            frozenset(str(t).lower() for t in (r.expertise or ())),
            r.id in reviewers,
            bool(r.active),
            int(loads.get(r.id, 0)),
        )
        for r in rows
    ]


# --- assignment ---------------------------------------------------------------------------------


def _stage_open(ctx: ItemContext, stage: str) -> list[Text]:
    """An item takes reviewers for a stage while it is in (or about to enter) that stage."""
    if REVIEW_STAGE_BY_STATE.get(ctx.state) == stage:
        return []
    if stage == "proposal" and ctx.state == "submitted":  # panels are often formed during the formal check
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


@dataclass(frozen=True)
class ItemResult:
    """One item of a batch: done or refused, and why, in both languages."""

    project_id: int
    ok: bool
    message: Text
    detail: Mapping[str, Any] = field(default_factory=dict)


def _batch(engine: Engine, project_ids: Iterable[int], work: Any) -> list[ItemResult]:
    results = []
    for pid in project_ids:
        try:
            with engine.begin() as conn:
                results.append(work(conn, pid))
        except GrantflowError as exc:
            results.append(ItemResult(pid, False, exc.message, exc.details))
    return results


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


# --- the reviewer's side --------------------------------------------------------------------------


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
        return auto_assign(conn, project_id=project_id, stage=stage, actor=SYSTEM, now=now, needed=1)
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
    if ctx.state == "submitted":
        reasons.append(Text("形式审查通过后才能评审", "the item can be reviewed once it passes the formal check"))
    else:
        reasons += _stage_open(ctx, stage)
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


# --- reading reviews ---------------------------------------------------------------------------------

DECIDED_AFTER = {
    "proposal": {"commissioning", "rejected", "in_execution"},
    "concept": {"draft", "concept_declined"},
    "midterm": {"midterm_passed", "in_execution"},
    "acceptance": {"post_evaluation", "rectification", "closed"},
}


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
        is_applicant=actor.has(Role.APPLICANT) and actor.organisation_id == ctx.undertaking_unit_id,
        decided=ctx.state in DECIDED_AFTER.get(stage, set()),
        peers_after_submit=panel.peers_after_submit if panel else True,
    )


# --- ranking and decisions ------------------------------------------------------------------------------


@dataclass(frozen=True)
class RankRow:
    project_id: int
    code: str
    title: str
    state: str
    ranked: Ranked


def ranking(conn: Connection, *, call_id: int, stage: str, actor: Actor) -> list[RankRow]:
    """The call's items at this stage by trimmed mean: what the office decides from."""
    _require_manager(actor, _call_organiser(conn, call_id))
    quorum = conn.execute(select(_c.c.quorum).where(_c.c.id == call_id)).scalar_one()
    panel = panel_for(conn, call_id=call_id, stage=stage)
    projects = conn.execute(
        select(_p.c.id, _p.c.code, _p.c.title, _p.c.state).where(
            _p.c.call_id == call_id, _p.c.state.not_in(("draft", "withdrawn", "concept"))
        )
    ).all()
    info = {p.id: p for p in projects}
    scores: dict[int, list[Decimal]] = {p.id: [] for p in projects}
    for r in conn.execute(
        select(_r.c.project_id, _r.c.score).where(
            and_(
                _r.c.project_id.in_(list(info)),
                _r.c.stage == stage,
                _r.c.submitted_at.is_not(None),
                _r.c.no_conflict_declared.is_(True),
                _r.c.score.is_not(None),
            )
        )
    ):
        scores[r.project_id].append(Decimal(r.score))
    ranked = rank(scores, quorum=quorum, trim=panel.trim if panel else 1)
    return [
        RankRow(x.project_id, info[x.project_id].code, info[x.project_id].title, info[x.project_id].state, x)
        for x in ranked
    ]


@dataclass(frozen=True)
class Decision:
    project_id: int
    trigger: str
    reason: str | None = None


def decide_batch(engine: Engine, *, decisions: Sequence[Decision], actor: Actor, now: datetime) -> list[ItemResult]:
    """Gate decisions for many items: each fired through the engine in its own transaction, so
    each is checked (quorum, separation from scorers) and audited on its own."""
    by_id = {d.project_id: d for d in decisions}

    def one(conn: Connection, pid: int) -> ItemResult:
        d = by_id[pid]
        payload = {"reason": d.reason} if d.reason else {}
        t = apply_trigger(conn, subject_id=pid, trigger=d.trigger, actor=actor, payload=payload, now=now)
        return ItemResult(
            pid,
            True,
            Text(f"{t.from_state} → {t.to_state}", f"{t.from_state} → {t.to_state}"),
            {"to": t.to_state, "event": t.event_id},
        )

    return _batch(engine, [d.project_id for d in decisions], one)


__all__ = [
    "RECOMMENDATIONS",
    "STAGES",
    "Decision",
    "ItemResult",
    "ReviewError",
    "assign",
    "assign_batch",
    "auto_assign",
    "create_panel",
    "decide_batch",
    "declare_conflict",
    "ranking",
    "reviews_for",
    "set_partners",
    "set_rubric",
    "set_tags",
    "submit_review",
]
