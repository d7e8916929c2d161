"""What every part of expert review shares: tables, stages, the item under review, refusals, batches."""

from __future__ import annotations

from collections.abc import Iterable, Mapping
from dataclasses import dataclass, field
from typing import Any

from sqlalchemy import Connection, Engine, func, select

from grantflow.db.models import (
    Call,
    ConflictStatement,
    CriterionScore,
    Organisation,
    PanelMember,
    Programme,
    Project,
    ProjectPartner,
    ProjectTag,
    Review,
    ReviewAssignment,
    ReviewPanel,
    ReviewRubric,
    User,
    UserRole,
    table,
)
from grantflow.db.workflows import get_registry
from grantflow.states.attributes import StateDef
from grantflow.states.deadlines import stage_label
from grantflow.states.errors import Forbidden, GrantflowError, NotFound, PayloadInvalid
from grantflow.states.lifecycle import DEFAULT_QUORUM, REVIEW_STAGES
from grantflow.states.permissions import Actor
from grantflow.states.review_rules import (
    MANAGE_FORBIDDEN,
    may_manage,
)
from grantflow.states.text import Text, join

_p = table(Project)


_c = table(Call)


_g = table(Programme)


_o = table(Organisation)


_u = table(User)


_ur = table(UserRole)


_r = table(Review)


_panel = table(ReviewPanel)


_member = table(PanelMember)


_rubric = table(ReviewRubric)


_a = table(ReviewAssignment)


_cs = table(ConflictStatement)


_score = table(CriterionScore)


_partner = table(ProjectPartner)


_tag = table(ProjectTag)


STAGES: dict[str, Text] = {stage: stage_label(stage) for stage in REVIEW_STAGES}


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
    workflow: str

    @property
    def here(self) -> StateDef:
        """What the item's state allows (its review stage, the stages taking assignments)."""
        return get_registry().get(self.workflow).state(self.state)


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
            func.coalesce(_c.c.quorum, DEFAULT_QUORUM).label("quorum"),
            _p.c.workflow,
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
            results.append(ItemResult(pid, False, exc.message, {**exc.details, "error": exc.code}))
    return results
