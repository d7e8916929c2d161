"""How undertaking units are chosen (docs/domain.md, rules 3 and 4), pure: what a call may be.

A call's category decides its support modes (``states.enums.SUPPORT_MODES_BY_CATEGORY``)
and, through them, the selection modes it may use:

- organised (政府直接组织开展): direct commission combined with tender → directed or tender;
- supported (政府支持开展): competitive projects, procurement of new technology, demonstration
  → merit-based commission (competitive, demonstration) or tender (procurement);
- encouraged (政府鼓励开展): competitive tender, common platforms, post-subsidy, equity
  → tender or merit-based commission (platforms, post-subsidy and equity are awarded on merit).

Each support mode is awarded through particular selection modes; a call's support modes
must all fit its selection mode, so "direct commission" never appears on an open tender.
"""

from __future__ import annotations

from collections.abc import Iterable, Mapping
from dataclasses import dataclass
from datetime import datetime
from typing import Any

from grantflow.states.eligibility import RulesInvalid, parse_rules
from grantflow.states.enums import SUPPORT_MODES_BY_CATEGORY, Category, Role, SelectionMode, SupportMode, label
from grantflow.states.lifecycle import DEFAULT_QUORUM
from grantflow.states.permissions import Actor
from grantflow.states.text import Text

SELECTION_MODES_BY_CATEGORY: dict[Category, frozenset[SelectionMode]] = {
    Category.ORGANISED: frozenset({SelectionMode.DIRECTED, SelectionMode.TENDER}),
    Category.SUPPORTED: frozenset({SelectionMode.MERIT, SelectionMode.TENDER}),
    Category.ENCOURAGED: frozenset({SelectionMode.TENDER, SelectionMode.MERIT}),
}

# Which selection modes can award each support mode.
SELECTION_FOR_SUPPORT: dict[SupportMode, frozenset[SelectionMode]] = {
    SupportMode.DIRECT_COMMISSION: frozenset({SelectionMode.DIRECTED}),
    SupportMode.TENDER: frozenset({SelectionMode.TENDER}),
    SupportMode.COMPETITIVE: frozenset({SelectionMode.MERIT}),
    SupportMode.PROCUREMENT: frozenset({SelectionMode.TENDER}),
    SupportMode.DEMONSTRATION: frozenset({SelectionMode.MERIT, SelectionMode.DIRECTED}),
    SupportMode.COMMON_PLATFORM: frozenset({SelectionMode.MERIT, SelectionMode.TENDER}),
    SupportMode.POST_SUBSIDY: frozenset({SelectionMode.MERIT}),
    SupportMode.EQUITY_INVESTMENT: frozenset({SelectionMode.MERIT}),
}


@dataclass(frozen=True)
class CallPlan:
    """What a call is about to be: checked before it is stored."""

    category: str
    selection_mode: str
    support_modes: tuple[str, ...]
    designated_unit_id: int | None = None
    designated_unit_kind: str | None = None
    quorum: int = DEFAULT_QUORUM
    eligibility: Mapping[str, Any] | None = None
    opens_at: datetime | None = None
    closes_at: datetime | None = None
    bids_open_at: datetime | None = None


def _unknown(what_zh: str, what_en: str, given: object, kind: Any) -> Text:
    valid = [m.value for m in kind]
    return Text(
        f"未知的{what_zh}“{given}”；可选：{'、'.join(valid)}",
        f"unknown {what_en} '{given}'; valid: {', '.join(valid)}",
    )


def _join(values: Iterable[str], lang: str) -> str:
    sep = "、" if lang == "zh" else ", "
    return sep.join(label(v, lang) for v in sorted(values))


def call_problems(plan: CallPlan) -> list[Text]:
    """Every reason the call may not be created as planned; empty when it may."""
    return [text for _, text in call_field_problems(plan)]


def call_field_problems(plan: CallPlan) -> list[tuple[str, Text]]:
    """The same reasons, each with the field of the plan it is about (a form shows it there)."""
    out: list[tuple[str, Text]] = []
    try:
        category = Category(plan.category)
    except ValueError:
        out.append(("category", _unknown("项目类别", "category", plan.category, Category)))
        category = None
    try:
        mode = SelectionMode(plan.selection_mode)
    except ValueError:
        out.append(("selection_mode", _unknown("遴选方式", "selection mode", plan.selection_mode, SelectionMode)))
        mode = None
    supports: list[SupportMode] = []
    for s in plan.support_modes:
        try:
            supports.append(SupportMode(s))
        except ValueError:
            out.append(("support_modes", _unknown("支持方式", "support mode", s, SupportMode)))
    if category is not None and mode is not None and mode not in SELECTION_MODES_BY_CATEGORY[category]:
        allowed = SELECTION_MODES_BY_CATEGORY[category]
        out.append(
            (
                "selection_mode",
                Text(
                    f"{label(category, 'zh')}类项目只能采用{_join(allowed, 'zh')}，不能采用{label(mode, 'zh')}",
                    f"{label(category, 'en')} projects may use {_join(allowed, 'en')} only, not {label(mode, 'en')}",
                ),
            )
        )
    if not plan.support_modes:
        out.append(("support_modes", Text("请至少选择一种支持方式", "choose at least one support mode")))
    if category is not None:
        allowed_support = SUPPORT_MODES_BY_CATEGORY[category]
        for s in supports:
            if s not in allowed_support:
                out.append(
                    (
                        "support_modes",
                        Text(
                            f"{label(category, 'zh')}类项目不能采用支持方式“{label(s, 'zh')}”"
                            f"（可选：{_join(allowed_support, 'zh')}）",
                            f"{label(category, 'en')} projects cannot use support mode '{label(s, 'en')}'"
                            f" (allowed: {_join(allowed_support, 'en')})",
                        ),
                    )
                )
    if mode is not None:
        for s in supports:
            if mode not in SELECTION_FOR_SUPPORT[s]:
                out.append(
                    (
                        "support_modes",
                        Text(
                            f"支持方式“{label(s, 'zh')}”不能通过{label(mode, 'zh')}确定承担单位",
                            f"support mode '{label(s, 'en')}' cannot be awarded by {label(mode, 'en')}",
                        ),
                    )
                )
    if mode == SelectionMode.DIRECTED:
        if plan.designated_unit_id is None:
            out.append(
                (
                    "designated_unit_id",
                    Text("定向委托须指定承担单位", "a directed commission must name the undertaking unit"),
                )
            )
        elif plan.designated_unit_kind is not None and plan.designated_unit_kind != "undertaking_unit":
            out.append(
                (
                    "designated_unit_id",
                    Text("指定的单位不是承担单位", "the designated organisation is not an undertaking unit"),
                )
            )
    elif plan.designated_unit_id is not None:
        out.append(
            (
                "designated_unit_id",
                Text(
                    "只有定向委托才能指定承担单位", "only a directed commission names its undertaking unit in advance"
                ),
            )
        )
    if mode == SelectionMode.TENDER:
        if plan.bids_open_at is None:
            out.append(("bids_open_at", Text("招标须设定开标时间", "a tender needs a bid-opening time")))
        elif plan.closes_at is not None and plan.bids_open_at < plan.closes_at:
            out.append(
                (
                    "bids_open_at",
                    Text("开标时间不能早于投标截止时间", "bids cannot be opened before the bidding deadline"),
                )
            )
    elif plan.bids_open_at is not None:
        out.append(("bids_open_at", Text("只有招标才设定开标时间", "only a tender has a bid-opening time")))
    if plan.opens_at is not None and plan.closes_at is not None and plan.closes_at <= plan.opens_at:
        out.append(("closes_at", Text("截止时间须晚于开始时间", "the deadline must come after the opening")))
    if plan.quorum < 1:
        out.append(("quorum", Text("每个项目的评审专家人数至少为 1", "the review quorum must be at least 1")))
    try:
        parse_rules(plan.eligibility)
    except RulesInvalid as exc:
        out.extend(("eligibility", p) for p in exc.problems)
    return out


def may_run_calls(actor: Actor) -> bool:
    """Who keeps a call desk at all (lists calls, drafts new ones): the office and organising
    units. Which calls each may manage is ``review_rules.may_manage`` (its own programmes)."""
    return actor.has(Role.OFFICE) or actor.has(Role.ORGANISING_UNIT)


CALLS_FORBIDDEN = Text(
    "只有领导小组办公室或组织单位可以管理申报指南",
    "only the office or an organising unit manages calls for proposals",
)
