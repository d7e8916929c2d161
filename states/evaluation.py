"""Third-party evaluation (第三方评估), pure: qualifications, independence, rubrics, grades.

An evaluator is an organisation. It may be engaged for a programme or a project only if, on
the day (and, when a due date is given, up to that day) it holds a valid qualification for
that kind of subject, and it is independent of what it evaluates: it is not the undertaking
unit, not the organising unit, not a collaborating unit, and it shares no people with any of
them. Every rule that fails is named, in both languages, so the office sees all of them at
once (docs/evaluation.md).
"""

from __future__ import annotations

from collections.abc import Mapping
from dataclasses import dataclass
from datetime import date
from decimal import Decimal

from grantflow.states.enums import OrgKind, Role
from grantflow.states.errors import GrantflowError, GuardFailed
from grantflow.states.permissions import Actor
from grantflow.states.text import Text, join

# --- what is evaluated, when ----------------------------------------------------------------------

SUBJECTS: dict[str, Text] = {
    "project": Text("项目", "project"),
    "programme": Text("重大专项", "programme"),
}

STAGES: dict[str, Text] = {
    "midterm": Text("中期评估", "mid-term evaluation"),
    "acceptance": Text("验收评估", "acceptance evaluation"),
    "post_evaluation": Text("后评估", "post-evaluation"),
}
YEARLY_STAGES = frozenset({"post_evaluation"})
"""Stages evaluated once per year (the acceptance year and the three after it)."""

QUALIFICATIONS: dict[str, Text] = {
    "project_evaluation": Text("项目第三方评估资质", "qualified to evaluate projects"),
    "programme_evaluation": Text("重大专项第三方评估资质", "qualified to evaluate programmes"),
}
QUALIFICATION_FOR_SUBJECT = {"project": "project_evaluation", "programme": "programme_evaluation"}

# --- rubrics: organising units are judged on their programme, undertaking units on their project --

DIMENSIONS: dict[str, Text] = {
    "execution": Text("执行情况", "execution"),
    "organisation": Text("组织管理", "organisation and management"),
    "support": Text("支撑条件", "support conditions"),
    "funds": Text("经费管理", "fund management"),
    "prospects": Text("预期前景", "expected prospects"),
}


@dataclass(frozen=True)
class Criterion:
    key: str
    label: Text
    dimension: str
    max_score: Decimal


@dataclass(frozen=True)
class Rubric:
    key: str
    label: Text
    criteria: tuple[Criterion, ...]

    @property
    def max_total(self) -> Decimal:
        return sum((c.max_score for c in self.criteria), Decimal(0))

    def criterion(self, key: str) -> Criterion | None:
        return next((c for c in self.criteria if c.key == key), None)


def _c(key: str, zh: str, en: str, dimension: str, max_score: int) -> Criterion:
    return Criterion(key, Text(zh, en), dimension, Decimal(max_score))


RUBRICS: dict[str, Rubric] = {
    "organising_unit": Rubric(
        "organising_unit",
        Text("组织单位评估指标", "rubric for organising units"),
        (
            _c("plan_drafting", "实施方案编制", "drafting of the implementation plan", "organisation", 20),
            _c("plan_progress", "实施方案推进", "progress of the implementation plan", "execution", 25),
            _c("coordination", "统筹协调", "coordination", "organisation", 20),
            _c("supporting_policies", "配套政策", "supporting policies", "support", 15),
            _c("commercialisation", "支持成果转化", "support for commercialising results", "prospects", 20),
        ),
    ),
    "undertaking_unit": Rubric(
        "undertaking_unit",
        Text("承担单位评估指标", "rubric for undertaking units"),
        (
            _c("execution", "项目执行", "project execution", "execution", 35),
            _c("fund_management", "经费管理", "fund management", "funds", 25),
            _c("obligations", "义务履行", "fulfilment of obligations", "support", 20),
            _c(
                "reporting",
                "重大成果报告与信息反馈",
                "reporting of major results and information feedback",
                "organisation",
                20,
            ),
        ),
    ),
}
RUBRIC_FOR_SUBJECT = {"programme": "organising_unit", "project": "undertaking_unit"}

GRADES: tuple[tuple[Decimal, str, Text], ...] = (
    (Decimal(85), "excellent", Text("优秀", "excellent")),
    (Decimal(70), "good", Text("良好", "good")),
    (Decimal(60), "pass", Text("合格", "pass")),
    (Decimal(0), "fail", Text("不合格", "fail")),
)
GRADE_LABELS: dict[str, Text] = {code: text for _, code, text in GRADES}


def grade(total: Decimal, max_total: Decimal = Decimal(100)) -> str:
    """The grade of a total, measured against the rubric's maximum scaled to 100."""
    scaled = total * 100 / max_total if max_total else Decimal(0)
    return next(code for floor, code, _ in GRADES if scaled >= floor)


def score_problems(rubric: Rubric, scores: Mapping[str, Decimal]) -> list[Text]:
    """Everything wrong with a set of scores: missing, unknown, out of range, more than two decimals."""
    problems: list[Text] = []
    for c in rubric.criteria:
        if c.key not in scores:
            problems.append(Text(f"缺少“{c.label.zh}”的评分", f"no score for '{c.label.en}'"))
    for key, value in scores.items():
        crit = rubric.criterion(key)
        if crit is None:
            problems.append(
                Text(f"“{key}”不是{rubric.label.zh}中的指标", f"'{key}' is not a criterion of the {rubric.label.en}")
            )
        elif not (Decimal(0) <= value <= crit.max_score) or value != value.quantize(Decimal("0.01")):
            problems.append(
                Text(
                    f"“{crit.label.zh}”的评分须在 0 至 {crit.max_score} 之间（最多两位小数），收到 {value}",
                    f"the score for '{crit.label.en}' must be between 0 and {crit.max_score} "
                    f"(at most two decimals); got {value}",
                )
            )
    return problems


def dimension_totals(rubric: Rubric, scores: Mapping[str, Decimal]) -> dict[str, Decimal]:
    """Scores summed by the five dimensions of an evaluation (only those the rubric covers)."""
    out: dict[str, Decimal] = {}
    for c in rubric.criteria:
        out[c.dimension] = out.get(c.dimension, Decimal(0)) + scores.get(c.key, Decimal(0))
    return out


# --- independence and qualification ------------------------------------------------------------------


@dataclass(frozen=True)
class Qualification:
    code: str
    valid_from: date
    valid_until: date | None  # None: no end date

    def covers(self, day: date) -> bool:
        return self.valid_from <= day and (self.valid_until is None or day <= self.valid_until)


@dataclass(frozen=True)
class Person:
    user_id: int
    name: str
    email: str
    organisation_id: int | None

    @property
    def domain(self) -> str:
        return self.email.rsplit("@", 1)[-1].lower()


@dataclass(frozen=True)
class EvaluatorProfile:
    organisation_id: int
    name: str
    kind: str
    domains: frozenset[str] = frozenset()
    qualifications: tuple[Qualification, ...] = ()
    people: tuple[Person, ...] = ()


@dataclass(frozen=True)
class EvaluatedParties:
    """Who stands on the evaluated side: units and the people who work for them."""

    subject: str
    subject_id: int
    undertaking_unit_ids: frozenset[int] = frozenset()
    organising_unit_id: int | None = None
    partner_ids: frozenset[int] = frozenset()
    domains: frozenset[str] = frozenset()  # e-mail domains of every unit above
    people: tuple[Person, ...] = ()  # their users, and the principal investigator(s)


@dataclass(frozen=True)
class Refusal:
    rule: str
    text: Text


RULES: dict[str, Text] = {
    "not_an_evaluator": Text("不是第三方评估机构", "not a third-party evaluation institution"),
    "not_qualified": Text("评估资质在评估期内无效", "not qualified on the dates of the evaluation"),
    "undertaking_unit": Text("是被评估项目的承担单位", "is the undertaking unit"),
    "organising_unit": Text("是被评估专项的组织单位", "is the organising unit"),
    "partner": Text("是被评估项目的合作单位", "is a collaborating unit"),
    "shared_people": Text("与被评估方存在共同人员", "shares people with the evaluated side"),
}


_PARTY_RULES = frozenset({"undertaking_unit", "organising_unit", "partner"})


def _qualified(profile: EvaluatorProfile, code: str, on: date, until: date | None) -> Refusal | None:
    held = [q for q in profile.qualifications if q.code == code]
    needed = QUALIFICATIONS[code]
    if any(q.covers(on) and (until is None or q.covers(until)) for q in held):
        return None
    span_zh = f"{on.isoformat()}" + (f" 至 {until.isoformat()}" if until else "")
    span_en = f"{on.isoformat()}" + (f" to {until.isoformat()}" if until else "")
    if held:
        periods_zh = "；".join(
            f"{q.valid_from.isoformat()} 至 {q.valid_until.isoformat() if q.valid_until else '长期'}" for q in held
        )
        periods_en = "; ".join(
            f"{q.valid_from.isoformat()} to {q.valid_until.isoformat() if q.valid_until else 'open-ended'}"
            for q in held
        )
        text = Text(
            f"资质不符：“{needed.zh}”在 {span_zh} 无效（有效期：{periods_zh}）",
            f"not qualified: '{needed.en}' is not valid on {span_en} (valid: {periods_en})",
        )
    else:
        text = Text(
            f"资质不符：{profile.name} 不具备“{needed.zh}”",
            f"not qualified: {profile.name} does not hold '{needed.en}'",
        )
    return Refusal("not_qualified", text)


def shared_people(profile: EvaluatorProfile, parties: EvaluatedParties) -> list[Person]:
    """People who belong to both sides: an evaluator's staff member who is also the evaluated side's
    (by e-mail domain, or named as principal investigator), or an evaluated unit's user whose
    address is the evaluator's."""
    found: dict[int, Person] = {}
    for p in profile.people:
        if p.domain in parties.domains:
            found[p.user_id] = p
    for p in parties.people:
        if p.organisation_id == profile.organisation_id or p.domain in profile.domains:
            found[p.user_id] = p
    return sorted(found.values(), key=lambda p: p.user_id)


def assignment_refusals(
    profile: EvaluatorProfile, parties: EvaluatedParties, *, on: date, until: date | None = None
) -> list[Refusal]:
    """Every reason this evaluator may not evaluate this subject; empty when it may."""
    refusals: list[Refusal] = []
    if profile.kind != OrgKind.EVALUATOR:
        refusals.append(
            Refusal(
                "not_an_evaluator",
                Text(
                    f"{profile.name} 不是第三方评估机构", f"{profile.name} is not a third-party evaluation institution"
                ),
            )
        )
    qualification = _qualified(profile, QUALIFICATION_FOR_SUBJECT[parties.subject], on, until)
    if qualification is not None:
        refusals.append(qualification)
    org = profile.organisation_id
    if org in parties.undertaking_unit_ids:
        what = (
            Text("被评估项目", "the project evaluated")
            if parties.subject == "project"
            else Text("该专项下的项目", "a project of the programme")
        )
        refusals.append(
            Refusal(
                "undertaking_unit",
                Text(
                    f"不独立：{profile.name} 是{what.zh}的承担单位",
                    f"not independent: {profile.name} is the undertaking unit of {what.en}",
                ),
            )
        )
    if parties.organising_unit_id is not None and org == parties.organising_unit_id:
        refusals.append(
            Refusal(
                "organising_unit",
                Text(
                    f"不独立：{profile.name} 是该专项的组织单位",
                    f"not independent: {profile.name} is the programme's organising unit",
                ),
            )
        )
    if org in parties.partner_ids:
        refusals.append(
            Refusal(
                "partner",
                Text(
                    f"不独立：{profile.name} 是被评估项目的合作单位",
                    f"not independent: {profile.name} is a collaborating unit of the project evaluated",
                ),
            )
        )
    # an evaluator that is itself a party shares every one of its people: that is said above already
    shared = [] if any(r.rule in _PARTY_RULES for r in refusals) else shared_people(profile, parties)
    if shared:
        names = "、".join(p.name for p in shared)
        names_en = ", ".join(p.name for p in shared)
        refusals.append(
            Refusal(
                "shared_people",
                Text(
                    f"不独立：{profile.name} 与被评估方存在共同人员（{names}）",
                    f"not independent: {profile.name} shares people with the evaluated side ({names_en})",
                ),
            )
        )
    return refusals


# --- who may do what ------------------------------------------------------------------------------------

ASSIGN_FORBIDDEN = Text(
    "只有领导小组办公室或领导小组可以委托第三方评估", "only the office or the leadership group may engage an evaluator"
)
RECORD_FORBIDDEN = Text(
    "只有受托的第三方评估机构可以录入评估结果", "only the evaluator engaged for this evaluation may record its result"
)


def may_assign(actor: Actor) -> bool:
    """Engaging an evaluator is the office's decision (or the leadership group's), never the evaluated side's."""
    return actor.has(Role.OFFICE) or actor.has(Role.LEADERSHIP_GROUP)


def may_record(actor: Actor, evaluator_id: int) -> bool:
    return actor.has(Role.EVALUATOR) and actor.organisation_id == evaluator_id


def may_read_results(actor: Actor, evaluator_id: int | None = None) -> bool:
    """Results are read by the office and the leadership group, and by the evaluator that wrote them."""
    if actor.has(Role.OFFICE) or actor.has(Role.LEADERSHIP_GROUP):
        return True
    return evaluator_id is not None and may_record(actor, evaluator_id)


def stage_problems(
    subject: str, stage: str, year: int | None, *, post_evaluation_years: tuple[int, ...] = ()
) -> list[Text]:
    """Is (stage, year) an evaluation this subject can have? Post-evaluation needs one of its years."""
    problems: list[Text] = []
    if subject not in SUBJECTS:
        problems.append(Text(f"未知评估对象“{subject}”", f"unknown subject '{subject}'"))
    if stage not in STAGES:
        allowed = "、".join(t.zh for t in STAGES.values())
        problems.append(
            Text(f"未知评估阶段“{stage}”（可选：{allowed}）", f"unknown stage '{stage}' (one of: {', '.join(STAGES)})")
        )
    elif stage in YEARLY_STAGES:
        if year is None:
            problems.append(Text("后评估须注明年度", "a post-evaluation needs its year"))
        elif post_evaluation_years and year not in post_evaluation_years:
            years = ", ".join(str(y) for y in post_evaluation_years)
            problems.append(
                Text(
                    f"{year} 年不在后评估期内（{years}）",
                    f"{year} is not a post-evaluation year of this item ({years})",
                )
            )
    elif year is not None:
        problems.append(Text(f"{STAGES[stage].zh}不按年度进行", f"a {STAGES[stage].en} has no year"))
    return problems


class EvaluatorRefused(GuardFailed):
    """An engagement refused: every failed rule, each with its code (``rules``) and its text."""

    code = "evaluator_refused"

    def __init__(self, refusals: list[Refusal]) -> None:
        body = join([r.text for r in refusals])
        GrantflowError.__init__(
            self,
            Text("不能委托该评估机构：" + body.zh, "This evaluator cannot be engaged: " + body.en),
            details={"rules": [r.rule for r in refusals], "reasons": [r.text.as_dict() for r in refusals]},
        )
        self.reasons = [r.text for r in refusals]
        self.rules = [r.rule for r in refusals]
