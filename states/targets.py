"""Targets and their progress, pure: kinds, checks, who may set them, and the roll-up arithmetic.

A target belongs to a project or to a programme and has a kind (a known kind or a free-form
one), a planned value and an optional weight. Results are reported per period in the stage
reports; a target's progress is what was achieved over what was planned. A programme's
progress on one of its own targets counts everything its projects achieved of the same kind.
All arithmetic is Decimal, rounded once, at the end (docs/targets-and-funding.md).
"""

from __future__ import annotations

from collections.abc import Iterable
from dataclasses import dataclass
from decimal import ROUND_HALF_UP, Decimal

from grantflow.states.amounts import CENT
from grantflow.states.enums import Role
from grantflow.states.permissions import Actor
from grantflow.states.text import Text

CUSTOM = "custom"
"""The kind of a free-form target; its name is in ``custom_kind``."""

TARGET_KINDS: dict[str, Text] = {
    "standard": Text("技术标准", "technical standards"),
    "ip": Text("专利及其他知识产权", "patents and other IP"),
    "talent": Text("人才培养", "talent trained"),
    "paper": Text("论文", "papers"),
    "product": Text("产品", "products"),
    "revenue": Text("收入（元）", "revenue (yuan)"),
    "result": Text("重大成果", "major results"),
    "discipline": Text("优势学科", "leading disciplines"),
    CUSTOM: Text("其他", "other"),
}
DEFAULT_UNITS: dict[str, Text] = {
    "standard": Text("项", "items"),
    "ip": Text("项", "items"),
    "talent": Text("人", "people"),
    "paper": Text("篇", "papers"),
    "product": Text("项", "items"),
    "revenue": Text("元", "yuan"),
    "result": Text("项", "results"),
    "discipline": Text("个", "disciplines"),
}
MAX_WEIGHT = Decimal(100)


def kind_label(kind: str, custom_kind: str | None = None) -> Text:
    """A kind as people read it; a free-form kind is shown as it was named (in both languages)."""
    if kind == CUSTOM:
        return Text(custom_kind or TARGET_KINDS[CUSTOM].zh, custom_kind or TARGET_KINDS[CUSTOM].en)
    return TARGET_KINDS.get(kind, Text(kind, kind))


def target_problems(*, kind: str, custom_kind: str | None, planned: Decimal, weight: Decimal | None) -> list[Text]:
    problems: list[Text] = []
    if kind not in TARGET_KINDS:
        allowed = ", ".join(TARGET_KINDS)
        problems.append(
            Text(f"未知指标类别“{kind}”（可选：{allowed}）", f"unknown target kind '{kind}' (one of: {allowed})")
        )
    if kind == CUSTOM and not (custom_kind or "").strip():
        problems.append(Text("自定义指标须填写类别名称", "a free-form target needs the name of its kind"))
    if kind != CUSTOM and (custom_kind or "").strip():
        problems.append(
            Text("只有“其他”类指标可以自定义类别名称", "only targets of kind 'custom' carry a free-form kind name")
        )
    if len((custom_kind or "").strip()) > 60:
        problems.append(Text("类别名称不能超过 60 个字", "a kind name has at most 60 characters"))
    if planned <= 0:
        problems.append(
            Text(f"指标值须大于 0，收到 {planned}", f"a target's planned value must be above 0; got {planned}")
        )
    if weight is not None and not (Decimal(0) < weight <= MAX_WEIGHT):
        problems.append(
            Text(
                f"权重须大于 0 且不超过 {MAX_WEIGHT}，收到 {weight}",
                f"a weight must be in (0, {MAX_WEIGHT}]; got {weight}",
            )
        )
    return problems


def duplicate_kind_problems(keys: Iterable[tuple[str, str | None]]) -> list[Text]:
    """A programme has at most one target per kind, so its projects' results roll up to one figure."""
    seen: set[tuple[str, str]] = set()
    problems: list[Text] = []
    for kind, custom in keys:
        key = (kind, (custom or "").strip())
        if key in seen:
            label = kind_label(kind, custom)
            problems.append(
                Text(f"专项指标“{label.zh}”重复：每类只设一个", f"programme target '{label.en}' repeated: one per kind")
            )
        seen.add(key)
    return problems


# --- progress ---------------------------------------------------------------------------------------


@dataclass(frozen=True)
class Progress:
    planned: Decimal
    achieved: Decimal
    weight: Decimal | None = None

    @property
    def share(self) -> Decimal | None:
        """Achieved over planned, unrounded; may exceed 1 (over-achievement is shown as it is)."""
        return None if not self.planned else self.achieved / self.planned

    @property
    def capped(self) -> Decimal | None:
        """The share counted towards an overall figure: over-achieving one target never hides another's shortfall."""
        share = self.share
        return None if share is None else min(share, Decimal(1))


def as_percent(share: Decimal | None) -> Decimal | None:
    return None if share is None else (share * 100).quantize(CENT, rounding=ROUND_HALF_UP)


def overall(lines: Iterable[Progress]) -> tuple[Decimal | None, bool]:
    """(overall progress in per cent, whether it is weighted).

    Weighted where weights exist: when any target carries a weight, the figure is the
    weighted mean of the capped shares of the targets that carry one; otherwise the plain
    mean of every target's capped share. None when there is no target.
    """
    items = [p for p in lines if p.capped is not None]
    weighted = [p for p in items if p.weight is not None]
    if weighted:
        total_weight = sum((p.weight for p in weighted if p.weight is not None), Decimal(0))
        acc = sum((p.weight * p.capped for p in weighted if p.weight is not None and p.capped is not None), Decimal(0))
        return as_percent(acc / total_weight), True
    if not items:
        return None, False
    acc = sum((p.capped for p in items if p.capped is not None), Decimal(0))
    return as_percent(acc / len(items)), False


# --- who may set targets and record results ------------------------------------------------------------

SET_FORBIDDEN = Text(
    "只有领导小组办公室或本专项组织单位可以设定指标和预算",
    "only the office or the programme's organising unit may set targets and budgets",
)


def may_set(actor: Actor, *, organising_unit_id: int | None) -> bool:
    """Targets and budgets are fixed by the office or the programme's organising unit (the task agreement's
    other party); changes later go through dynamic adjustment, which calls the same services."""
    if actor.has(Role.OFFICE) or actor.has(Role.LEADERSHIP_GROUP) or actor.has("system"):
        return True
    return (
        actor.has(Role.ORGANISING_UNIT)
        and actor.organisation_id is not None
        and actor.organisation_id == organising_unit_id
    )
