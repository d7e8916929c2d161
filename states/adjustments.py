"""Dynamic adjustment (动态调整) as its own lifecycle, and the rules an adjustment is checked against.

Reading order: the kinds of adjustment, the states and transitions of a request, then the
pure checks the guards name (``adjustment_valid``, ``major_adjustment``, ``minor_adjustment``)
and what counts as a major adjustment. ``docs/adjustments.md`` says the same in prose.

A request is drafted by the undertaking unit's applicant or by the office (for example after a
poor mid-term review), submitted, reviewed by the programme's organising unit, approved by the
office (and, for a major adjustment, by the leadership group), then applied. Applying changes
the project inside the engine's transaction: suspension, resumption, withdrawal and
termination fire the project's own triggers; the other kinds change the project's columns and
its task agreement, recorded before and after as JSON documents on the request.

Nothing here touches a database: the facts an adjustment is judged on (``AdjustmentFacts``)
are read by ``db.facts`` and passed in.
"""

from __future__ import annotations

from collections.abc import Iterable, Mapping
from dataclasses import dataclass, field
from datetime import date, datetime
from decimal import Decimal, InvalidOperation
from enum import StrEnum
from typing import Any

from grantflow.states.enums import LABELS, SUPPORT_MODES_BY_CATEGORY, Category, SupportMode
from grantflow.states.permissions import forbidden_reasons
from grantflow.states.text import Text

Row = dict[str, Any]


class AdjustmentKind(StrEnum):
    """The kinds of change a request asks for. Stored by name."""

    CATEGORY = "category"
    BUDGET = "budget"
    EXTENSION = "extension"
    UNDERTAKING_UNIT = "undertaking_unit"
    PRINCIPAL_INVESTIGATOR = "principal_investigator"
    TARGETS = "targets"
    SUSPENSION = "suspension"
    RESUMPTION = "resumption"
    WITHDRAWAL = "withdrawal"
    TERMINATION = "termination"


KIND_LABELS: dict[str, Text] = {
    AdjustmentKind.CATEGORY: Text("调整项目类别", "category change"),
    AdjustmentKind.BUDGET: Text("调整经费预算（按来源）", "budget change per funding source"),
    AdjustmentKind.EXTENSION: Text("延长执行期", "schedule extension"),
    AdjustmentKind.UNDERTAKING_UNIT: Text("变更承担单位", "change of undertaking unit"),
    AdjustmentKind.PRINCIPAL_INVESTIGATOR: Text("变更项目负责人", "change of principal investigator"),
    AdjustmentKind.TARGETS: Text("调整考核指标", "change of targets"),
    AdjustmentKind.SUSPENSION: Text("暂停项目", "suspension"),
    AdjustmentKind.RESUMPTION: Text("恢复执行", "resumption"),
    AdjustmentKind.WITHDRAWAL: Text("撤销项目（承担单位撤回）", "withdrawal"),
    AdjustmentKind.TERMINATION: Text("终止项目", "termination"),
}

# The project trigger an applied adjustment of this kind fires (the others change columns).
PROJECT_TRIGGER: dict[str, str] = {
    AdjustmentKind.SUSPENSION: "suspend",
    AdjustmentKind.RESUMPTION: "resume",
    AdjustmentKind.WITHDRAWAL: "withdraw",
    AdjustmentKind.TERMINATION: "terminate",
}

# A project can be adjusted while its own table lets it be terminated: from the task agreement
# until acceptance is decided (suspended included). Asking the table keeps state names out of here.
ADJUSTABLE_WHILE = "terminate"

# Kinds that always need the leadership group; a budget change needs it above the configured share.
ALWAYS_MAJOR = frozenset({AdjustmentKind.TERMINATION, AdjustmentKind.CATEGORY})
DEFAULT_MAJOR_BUDGET_SHARE = Decimal("0.10")

# Who may start a request (``initiator`` on the stored row): the undertaking unit or the office.
INITIATORS: dict[str, Text] = {
    "applicant": Text("承担单位", "the undertaking unit"),
    "office": Text("领导小组办公室", "the office"),
}

# Targets a task agreement must keep after any change (the task agreement's own rule).
REQUIRED_TARGET_KINDS: dict[str, Text] = {
    "standard": Text("技术标准", "technical standard"),
    "ip": Text("知识产权", "intellectual property"),
    "talent": Text("人才培养", "talent training"),
}


def kind_label(kind: str) -> Text:
    return KIND_LABELS.get(kind, Text(kind, kind.replace("_", " ")))


# --- the lifecycle of a request -----------------------------------------------------------------

ADJUSTMENT_STATES: list[Row] = [
    {"name": "drafted", "zh": "起草中", "en": "being drafted"},
    {"name": "submitted", "zh": "已提交，待组织单位审核", "en": "submitted, awaiting the organising unit"},
    {"name": "returned", "zh": "退回修改", "en": "returned for changes"},
    {
        "name": "unit_reviewed",
        "zh": "组织单位已审核，待办公室审批",
        "en": "reviewed by the organising unit, awaiting the office",
    },
    {
        "name": "awaiting_leadership",
        "zh": "办公室已同意，待领导小组决定（重大调整）",
        "en": "approved by the office, awaiting the leadership group (major adjustment)",
    },
    {"name": "approved", "zh": "已批准，待执行", "en": "approved, to be applied"},
    {"name": "applied", "zh": "已执行", "en": "applied", "terminal": True},
    {"name": "rejected", "zh": "未予批准", "en": "rejected", "terminal": True},
    {"name": "cancelled", "zh": "已撤销申请", "en": "cancelled by the requester", "terminal": True},
]

# Each decision is recorded with its reason (审核意见): who decided at each step, and why.
_DECISION = ["reason"]
# Who decides at each step, and so who may return or reject the request there.
_DECIDER_AT = (("submitted", "organiser"), ("unit_reviewed", "office"), ("awaiting_leadership", "leadership"))

ADJUSTMENT_TRANSITIONS: list[Row] = [
    {
        "trigger": "submit_adjustment",
        "source": ["drafted", "returned"],
        "dest": "submitted",
        "who": ["initiator"],
        "guards": ["adjustment_valid"],
        "effects": ["assess_adjustment"],
        "notify": ["organiser"],
    },
    {
        "trigger": "cancel_adjustment",
        "source": ["drafted", "returned"],
        "dest": "cancelled",
        "who": ["initiator"],
    },
    # the organising unit reviews first
    {
        "trigger": "review_adjustment",
        "source": "submitted",
        "dest": "unit_reviewed",
        "who": ["organiser"],
        "requires": _DECISION,
        "notify": ["office"],
    },
    # then the office: a minor adjustment is approved here, a major one goes to the leadership group
    {
        "trigger": "approve_adjustment",
        "source": "unit_reviewed",
        "dest": "approved",
        "who": ["office"],
        "guards": ["minor_adjustment"],
        "requires": _DECISION,
        "notify": ["applicant", "organiser"],
    },
    {
        "trigger": "approve_adjustment",
        "source": "unit_reviewed",
        "dest": "awaiting_leadership",
        "who": ["office"],
        "guards": ["major_adjustment"],
        "requires": _DECISION,
        "notify": ["leadership"],
    },
    {
        "trigger": "approve_adjustment",
        "source": "awaiting_leadership",
        "dest": "approved",
        "who": ["leadership"],
        "requires": _DECISION,
        "notify": ["applicant", "organiser", "office"],
    },
    # returned or rejected at each step, by whoever decides that step
    *[
        {
            "trigger": trigger,
            "source": source,
            "dest": dest,
            "who": [who],
            "requires": _DECISION,
            "notify": ["applicant", "office"] if who != "office" else ["applicant", "organiser"],
        }
        for trigger, dest in (("return_adjustment", "returned"), ("reject_adjustment", "rejected"))
        for source, who in _DECIDER_AT
    ],
    # applying changes the project in the same transaction; the request is checked again first
    {
        "trigger": "apply_adjustment",
        "source": "approved",
        "dest": "applied",
        "who": ["office"],
        "guards": ["adjustment_valid"],
        "effects": ["record_application", "apply_adjustment"],
        "notify": ["applicant", "organiser"],
    },
]

ADJUSTMENT_TRIGGER_LABELS: dict[str, tuple[str, str]] = {
    "submit_adjustment": ("提交调整申请", "submit adjustment request"),
    "cancel_adjustment": ("撤销调整申请", "cancel adjustment request"),
    "review_adjustment": ("组织单位审核同意", "review (organising unit)"),
    "approve_adjustment": ("批准调整", "approve adjustment"),
    "return_adjustment": ("退回调整申请", "return adjustment request"),
    "reject_adjustment": ("不予批准", "reject adjustment"),
    "apply_adjustment": ("执行调整", "apply adjustment"),
}

ADJUSTMENT_WORKFLOW: Row = {
    "name": "adjustment",
    "subject": "adjustment",
    "zh": "动态调整",
    "en": "dynamic adjustment",
    "initial": "drafted",
    "states": ADJUSTMENT_STATES,
    "transitions": ADJUSTMENT_TRANSITIONS,
}

# What a person asks for, mapped to the trigger (the CLI's verbs and the pages' buttons).
ACTIONS: dict[str, str] = {
    "submit": "submit_adjustment",
    "cancel": "cancel_adjustment",
    "review": "review_adjustment",
    "approve": "approve_adjustment",
    "return": "return_adjustment",
    "reject": "reject_adjustment",
    "apply": "apply_adjustment",
}


# --- the facts an adjustment is judged on -------------------------------------------------------


@dataclass(frozen=True)
class BudgetLine:
    source: str
    head: str
    amount: Decimal


@dataclass(frozen=True)
class AdjustmentFacts:
    """The request and the project as they stand: read by ``db.facts``, judged here."""

    kind: str
    initiator: str
    request: Mapping[str, Any]  # the request form's values as stored (JSON: dates and money as text)
    major: bool
    project_state: str
    project_state_label: Text
    project_triggers: frozenset[str]  # triggers the project's table offers from its current state
    category: str | None
    support_modes: tuple[str, ...]
    end_date: date | None
    undertaking_unit_id: int | None
    principal_investigator_id: int | None
    budget_lines: tuple[BudgetLine, ...] = ()
    total_budget: Decimal | None = None
    new_unit_kind: str | None = None  # the kind of the organisation named as new undertaking unit
    new_pi: tuple[int, int | None] | None = None  # (user id, organisation id) of the named new PI
    major_budget_share: Decimal = DEFAULT_MAJOR_BUDGET_SHARE
    notes: tuple[Text, ...] = field(default_factory=tuple)


def _decimal(value: Any) -> Decimal | None:
    if value is None or value == "":
        return None
    try:
        return Decimal(str(value))
    except InvalidOperation:
        return None


def _date(value: Any) -> date | None:
    if isinstance(value, datetime):
        return value.date()
    if isinstance(value, date):
        return value
    if isinstance(value, str) and value:
        try:
            return date.fromisoformat(value[:10])
        except ValueError:
            return None
    return None


def _join(values: Iterable[str], lang: str) -> str:
    sep = "、" if lang == "zh" else ", "
    return sep.join(LABELS[v].get(lang) if v in LABELS else v for v in values)


def support_mode_problems(category: str, support_modes: Iterable[str]) -> list[Text]:
    """Why these support modes do not fit this category (the category→support-mode rule)."""
    try:
        cat = Category(category)
    except ValueError:
        return [Text(f"未知的项目类别“{category}”", f"unknown category '{category}'")]
    modes = list(support_modes)
    if not modes:
        return [Text("请至少保留一种支持方式", "keep at least one support mode")]
    allowed = SUPPORT_MODES_BY_CATEGORY[cat]
    out = []
    for m in modes:
        if m in {s.value for s in SupportMode} and SupportMode(m) in allowed:
            continue
        out.append(
            Text(
                f"{LABELS[cat].zh}类项目不能采用支持方式“{LABELS[m].zh if m in LABELS else m}”"
                f"（可选：{_join(sorted(allowed), 'zh')}），类别与支持方式不相容",
                f"{LABELS[cat].en} projects cannot use support mode '{LABELS[m].en if m in LABELS else m}'"
                f" (allowed: {_join(sorted(allowed), 'en')}): category and support mode are incompatible",
            )
        )
    return out


def budget_changes(request: Mapping[str, Any]) -> list[tuple[str, str, Decimal]]:
    out = []
    for row in request.get("budget_changes") or []:
        change = _decimal(row.get("change"))
        if row.get("source") and row.get("head") and change is not None:
            out.append((str(row["source"]), str(row["head"]), change))
    return out


def budget_moved(request: Mapping[str, Any]) -> Decimal:
    """The size of a budget change: money moved between lines counts once (the larger of the total
    increase and the total decrease)."""
    changes = [c for _, _, c in budget_changes(request)]
    up = sum((c for c in changes if c > 0), Decimal(0))
    down = -sum((c for c in changes if c < 0), Decimal(0))
    return max(up, down)


def budget_after(lines: Iterable[BudgetLine], request: Mapping[str, Any]) -> list[BudgetLine]:
    """The budget lines once the request's changes are added (new lines for new source/head pairs)."""
    result = {(b.source, b.head): b.amount for b in lines}
    for source, head, change in budget_changes(request):
        result[(source, head)] = result.get((source, head), Decimal(0)) + change
    return [BudgetLine(s, h, a) for (s, h), a in result.items()]


def is_major(adj: AdjustmentFacts) -> bool:
    """Major adjustments need the leadership group: termination, category change, and a budget
    change whose size exceeds the configured share of the current total (any, if no total is known)."""
    if adj.kind in ALWAYS_MAJOR:
        return True
    if adj.kind != AdjustmentKind.BUDGET:
        return False
    moved = budget_moved(adj.request)
    total = adj.total_budget
    if total is None or total <= 0:
        return moved > 0
    return moved / total > adj.major_budget_share


def major_reason(adj: AdjustmentFacts) -> Text | None:
    if adj.kind in ALWAYS_MAJOR:
        return Text(f"{kind_label(adj.kind).zh}属于重大调整", f"a {kind_label(adj.kind).en} is a major adjustment")
    if is_major(adj):
        share = f"{(adj.major_budget_share * 100).normalize():f}%"
        return Text(
            f"预算调整金额超过总经费的 {share}，属于重大调整",
            f"the budget change exceeds {share} of the total budget: a major adjustment",
        )
    return None


def problems(adj: AdjustmentFacts) -> list[Text]:
    """Every reason the request cannot be carried out on the project as it stands; empty if it can."""
    out: list[Text] = list(adj.notes)
    req = adj.request
    kind = adj.kind
    if kind not in KIND_LABELS:
        return [Text(f"未知的调整类型“{kind}”", f"unknown kind of adjustment '{kind}'")]
    label = kind_label(kind)
    if not str(req.get("reason") or "").strip():
        out.append(Text("请说明调整理由", "give the reason for the adjustment"))
    if ADJUSTABLE_WHILE not in adj.project_triggers:
        out.append(
            Text(
                f"项目当前状态为“{adj.project_state_label.zh}”，不在可调整的阶段（签订任务书后至验收结论前）",
                f"the project is {adj.project_state_label.en}: projects are adjusted between the task agreement "
                "and the acceptance decision",
            )
        )
        return out
    trigger = PROJECT_TRIGGER.get(kind)
    if trigger is not None and trigger not in adj.project_triggers:
        out.append(
            Text(
                f"项目当前状态为“{adj.project_state_label.zh}”，不能{label.zh}",
                f"the project is {adj.project_state_label.en}: a {label.en} is not possible from there",
            )
        )
    if kind == AdjustmentKind.CATEGORY:
        new = req.get("new_category")
        if not new:
            out.append(Text("请选择调整后的项目类别", "choose the new category"))
        else:
            if new == adj.category:
                out.append(Text("调整后的类别与现有类别相同", "the new category is the project's category already"))
            modes = tuple(req.get("new_support_modes") or ()) or adj.support_modes
            out.extend(support_mode_problems(str(new), modes))
    elif kind == AdjustmentKind.BUDGET:
        changes = budget_changes(req)
        if not changes:
            out.append(Text("请填写预算调整（按经费来源和科目）", "list the budget changes by funding source and head"))
        if any(c == 0 for _, _, c in changes):
            out.append(Text("调整金额不能为零", "a change cannot be zero"))
        for line in budget_after(adj.budget_lines, req):
            if line.amount < 0:
                src = LABELS[line.source] if line.source in LABELS else Text(line.source, line.source)
                out.append(
                    Text(
                        f"经费来源“{src.zh}”的科目“{line.head}”调整后为负数（{line.amount} 元）",
                        f"funding source '{src.en}', head '{line.head}' would be negative ({line.amount} yuan)",
                    )
                )
    elif kind == AdjustmentKind.EXTENSION:
        new_end = _date(req.get("new_end_date"))
        if new_end is None:
            out.append(Text("请填写调整后的结束日期", "give the new end date"))
        elif adj.end_date is not None and new_end <= adj.end_date:
            out.append(
                Text(
                    f"调整后的结束日期须晚于现有结束日期 {adj.end_date}",
                    f"the new end date must be later than the current end date, {adj.end_date}",
                )
            )
        if req.get("no_cost") == "yes" and budget_changes(req):
            out.append(
                Text(
                    "不增加经费的延期不能同时调整预算",
                    "a no-cost extension cannot change the budget",
                )
            )
    elif kind == AdjustmentKind.UNDERTAKING_UNIT:
        new_unit = req.get("new_unit")
        if new_unit in (None, ""):
            out.append(Text("请选择新的承担单位", "choose the new undertaking unit"))
        elif int(new_unit) == adj.undertaking_unit_id:
            out.append(Text("新的承担单位与现有承担单位相同", "the new undertaking unit is the current one"))
        elif adj.new_unit_kind != "undertaking_unit":
            out.append(Text("所选单位不是承担单位", "the chosen organisation is not an undertaking unit"))
    elif kind == AdjustmentKind.PRINCIPAL_INVESTIGATOR:
        if not str(req.get("new_pi_email") or "").strip():
            out.append(Text("请填写新项目负责人的邮箱", "give the new principal investigator's e-mail"))
        elif adj.new_pi is None:
            out.append(
                Text(
                    "新项目负责人不是本系统的有效用户",
                    "the new principal investigator is not an active user of this system",
                )
            )
        elif adj.new_pi[0] == adj.principal_investigator_id:
            out.append(Text("新项目负责人与现负责人相同", "the new principal investigator is the current one"))
        elif adj.new_pi[1] != adj.undertaking_unit_id:
            out.append(
                Text(
                    "新项目负责人须为承担单位的人员",
                    "the new principal investigator must belong to the undertaking unit",
                )
            )
    elif kind == AdjustmentKind.TARGETS:
        rows = req.get("new_targets") or []
        if not rows:
            out.append(Text("请填写调整后的考核指标", "list the targets as they will be"))
        kinds = {r.get("kind") for r in rows}
        for key, what in REQUIRED_TARGET_KINDS.items():
            if rows and key not in kinds:
                out.append(
                    Text(
                        f"调整后的考核指标仍须包括{what.zh}指标",
                        f"the targets must still include a {what.en} target",
                    )
                )
    return out


# --- how an applied adjustment reads (for the history and the disclosure) -----------------------

# Which part of the before/after documents each kind changes.
SUMMARY_KEYS: dict[str, tuple[str, ...]] = {
    AdjustmentKind.CATEGORY: ("project.category", "project.support_modes"),
    AdjustmentKind.BUDGET: ("budget.total", "budget.by_source"),
    AdjustmentKind.EXTENSION: ("project.end_date",),
    AdjustmentKind.UNDERTAKING_UNIT: ("project.undertaking_unit",),
    AdjustmentKind.PRINCIPAL_INVESTIGATOR: ("project.principal_investigator",),
    AdjustmentKind.TARGETS: ("targets",),
    AdjustmentKind.SUSPENSION: ("project.state",),
    AdjustmentKind.RESUMPTION: ("project.state",),
    AdjustmentKind.WITHDRAWAL: ("project.state",),
    AdjustmentKind.TERMINATION: ("project.state",),
}


def pick(document: Mapping[str, Any] | None, path: str) -> Any:
    node: Any = document or {}
    for part in path.split("."):
        if not isinstance(node, Mapping):
            return None
        node = node.get(part)
    return node


def summary(kind: str, before: Mapping[str, Any] | None, after: Mapping[str, Any] | None) -> dict[str, Any]:
    """The changed part of the documents: {"project.end_date": {"before": ..., "after": ...}}."""
    return {key: {"before": pick(before, key), "after": pick(after, key)} for key in SUMMARY_KEYS.get(kind, ())}


SUMMARY_LABELS: dict[str, Text] = {
    "project.category": Text("项目类别", "category"),
    "project.support_modes": Text("支持方式", "support modes"),
    "budget.total": Text("总经费（元）", "total budget (yuan)"),
    "budget.by_source": Text("经费来源（元）", "funding by source (yuan)"),
    "project.end_date": Text("结束日期", "end date"),
    "project.undertaking_unit": Text("承担单位", "undertaking unit"),
    "project.principal_investigator": Text("项目负责人", "principal investigator"),
    "targets": Text("考核指标", "targets"),
    "project.state": Text("项目状态", "project state"),
}
NOT_SET = Text("未设定", "not set")


@dataclass(frozen=True)
class ChangeRow:
    """One line of "before and after", in both languages."""

    label: Text
    before: Text
    after: Text


def _shown(key: str, value: Any, state_label: Any) -> Text:
    """A stored value as a reader sees it: labels for codes, names for units, "not set" for nothing."""
    if value is None or value == "" or value == [] or value == {}:
        return NOT_SET
    if key == "project.state":
        return state_label(str(value))
    if key == "project.category" or key == "project.support_modes":
        codes = value if isinstance(value, list) else [value]
        labels = [LABELS.get(str(c), Text(str(c), str(c))) for c in codes]
        return Text("、".join(t.zh for t in labels), ", ".join(t.en for t in labels))
    if key == "project.undertaking_unit" and isinstance(value, Mapping):
        zh = str(value.get("name") or "")
        return Text(zh, str(value.get("name_en") or zh))
    if key == "project.principal_investigator" and isinstance(value, Mapping):
        name = str(value.get("name") or "")
        return Text(name, name)
    if key == "budget.by_source" and isinstance(value, Mapping):
        parts = [(LABELS.get(str(k), Text(str(k), str(k))), v) for k, v in value.items()]
        return Text("；".join(f"{t.zh} {v}" for t, v in parts), "; ".join(f"{t.en} {v}" for t, v in parts))
    if key == "targets" and isinstance(value, list):
        items = [str(t.get("text") or t) if isinstance(t, Mapping) else str(t) for t in value]
        return Text("；".join(items), "; ".join(items))
    return Text(str(value), str(value))


def change_rows(
    kind: str, before: Mapping[str, Any] | None, after: Mapping[str, Any] | None, *, state_label: Any
) -> list[ChangeRow]:
    """``summary`` for a reader: each changed item's name and its values before and after.
    ``state_label(name) -> Text`` names the project's states (from its workflow)."""
    return [
        ChangeRow(
            SUMMARY_LABELS.get(key, Text(key, key)),
            _shown(key, c["before"], state_label),
            _shown(key, c["after"], state_label),
        )
        for key, c in summary(kind, before, after).items()
    ]


# --- who may edit a request ----------------------------------------------------------------------


def editing_refusal(workflow: Any, facts: Any, actor: Any) -> list[Text]:
    """Empty if the actor may edit the request now: in a state it can be submitted from, by the
    side allowed to submit it (the same preset as ``submit_adjustment``); else why not."""
    rules = workflow.rules_for(ACTIONS["submit"], facts.state)
    if not rules:
        return [
            Text(
                f"调整申请处于“{workflow.state_label(facts.state).zh}”，不能再修改",
                f"the request is {workflow.state_label(facts.state).en}: it can no longer be changed",
            )
        ]
    return forbidden_reasons(who=rules[0].who, separate_from_scorers=False, actor=actor, facts=facts)
