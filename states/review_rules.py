"""Expert review, pure: conflicts of interest, rubrics, assignment, aggregation, visibility,
complaint windows. The database layer loads the facts; these functions decide.

决策、执行、监督相对分离: nobody reviews work of their own organisation, of a collaborating
unit, or of a unit sharing their e-mail domain; the person who decides a gate did not score
it (that one is enforced on the lifecycle rows, ``separate_from_scorers``).
"""

from __future__ import annotations

import math
from collections.abc import Iterable, Mapping, Sequence
from dataclasses import dataclass, field
from datetime import datetime, timedelta
from decimal import ROUND_HALF_UP, Decimal

from grantflow.states.enums import Role
from grantflow.states.permissions import Actor
from grantflow.states.text import Text

# --- conflicts of interest ---------------------------------------------------------------------


def email_domain(email: str) -> str:
    return email.rsplit("@", 1)[-1].strip().lower() if "@" in email else ""


def canonical_domain(domain: str, aliases: Mapping[str, str]) -> str:
    """The organisation-level domain: aliases mapped, sub-domains folded into a known parent.

    ``aliases`` maps an alias domain to its canonical one (e.g. an old university domain to
    the current one); a sub-domain of a mapped domain maps too (``mail.old.edu`` → canonical).
    """
    d = domain.strip().lower().rstrip(".")
    for alias, canonical in aliases.items():
        a = alias.strip().lower()
        if d == a or d.endswith("." + a):
            return canonical.strip().lower()
    return d


def _domains_overlap(a: str, b: str) -> bool:
    # a sub-domain belongs to its parent organisation: dept.uni.edu shares uni.edu
    return bool(a) and bool(b) and (a == b or a.endswith("." + b) or b.endswith("." + a))


@dataclass(frozen=True)
class ReviewerProfile:
    user_id: int
    name: str
    email: str
    organisation_id: int | None
    org_email_domains: frozenset[str] = frozenset()
    expertise: frozenset[str] = frozenset()
    is_reviewer: bool = True
    active: bool = True
    load: int = 0  # open and submitted assignments in the current round


@dataclass(frozen=True)
class ItemParties:
    """The organisations behind a reviewed item: the applicant and its collaborating units."""

    project_id: int
    applicant_org_id: int
    partner_org_ids: frozenset[int] = frozenset()
    email_domains: frozenset[str] = frozenset()  # of the applicant and every partner
    tags: frozenset[str] = frozenset()


CONFLICT_OWN_ORG = Text("评审专家来自申报单位", "the reviewer belongs to the applying organisation")
CONFLICT_PARTNER = Text("评审专家来自合作单位", "the reviewer belongs to a collaborating unit")
CONFLICT_DOMAIN = Text(
    "评审专家的邮箱域名与申报单位或合作单位相同", "the reviewer shares an e-mail domain with the applicant or a partner"
)


def conflicts(reviewer: ReviewerProfile, item: ItemParties, aliases: Mapping[str, str]) -> list[Text]:
    """Why this reviewer may never be assigned this item; empty when there is no known conflict."""
    out: list[Text] = []
    if reviewer.organisation_id is not None and reviewer.organisation_id == item.applicant_org_id:
        out.append(CONFLICT_OWN_ORG)
    if reviewer.organisation_id is not None and reviewer.organisation_id in item.partner_org_ids:
        out.append(CONFLICT_PARTNER)
    mine = {canonical_domain(d, aliases) for d in reviewer.org_email_domains}
    mine.add(canonical_domain(email_domain(reviewer.email), aliases))
    theirs = {canonical_domain(d, aliases) for d in item.email_domains}
    if any(_domains_overlap(a, b) for a in mine for b in theirs):
        out.append(CONFLICT_DOMAIN)
    return out


def unassignable(reviewer: ReviewerProfile, item: ItemParties, aliases: Mapping[str, str]) -> list[Text]:
    """Conflicts plus anything else that keeps a person off an item (no reviewer role, inactive)."""
    out = conflicts(reviewer, item, aliases)
    if not reviewer.is_reviewer:
        out.append(Text(f"{reviewer.name} 不是评审专家", f"{reviewer.name} is not a reviewer"))
    if not reviewer.active:
        out.append(Text(f"{reviewer.name} 的账号已停用", f"{reviewer.name}'s account is inactive"))
    return out


# --- automatic assignment ----------------------------------------------------------------------------


def choose_reviewers(
    candidates: Sequence[ReviewerProfile],
    item: ItemParties,
    *,
    needed: int,
    exclude: Iterable[int] = (),
    aliases: Mapping[str, str],
) -> list[ReviewerProfile]:
    """Up to ``needed`` reviewers for the item: never one with a conflict or already excluded
    (assigned, or who declared a conflict), best expertise match first, then the lightest load.
    Ties break on user id so the choice is reproducible."""
    excluded = set(exclude)
    fit = [c for c in candidates if c.user_id not in excluded and not unassignable(c, item, aliases)]
    fit.sort(key=lambda c: (-len(c.expertise & item.tags), c.load, c.user_id))
    return fit[: max(needed, 0)]


# --- rubrics -----------------------------------------------------------------------------------------


@dataclass(frozen=True)
class Criterion:
    key: str
    label: Text
    weight: Decimal
    max_score: Decimal = Decimal(100)


@dataclass(frozen=True)
class Rubric:
    stage: str
    criteria: tuple[Criterion, ...]

    def as_list(self) -> list[dict[str, object]]:
        return [
            {"key": c.key, "zh": c.label.zh, "en": c.label.en, "weight": str(c.weight), "max": str(c.max_score)}
            for c in self.criteria
        ]


def _c(key: str, zh: str, en: str, weight: int) -> Criterion:
    return Criterion(key, Text(zh, en), Decimal(weight))


# docs/domain.md, rule 6: third-party evaluation covers execution, organisation and management, support
# conditions, fund management and expected prospects. They are the default for evaluation stages.
EVALUATION_CRITERIA = (
    _c("execution", "项目执行情况", "project execution", 30),
    _c("management", "组织管理", "organisation and management", 20),
    _c("conditions", "支撑条件", "support conditions", 15),
    _c("funds", "经费管理", "fund management", 20),
    _c("prospects", "预期前景", "expected prospects", 15),
)

DEFAULT_RUBRICS: dict[str, Rubric] = {
    "proposal": Rubric(
        "proposal",
        (
            _c("innovation", "创新性与先进性", "innovation", 30),
            _c("feasibility", "技术路线可行性", "feasibility of the technical approach", 25),
            _c("team", "团队与支撑条件", "team and conditions", 20),
            _c("outcomes", "预期成果（技术标准、知识产权、人才培养）", "expected results (standards, IP, talent)", 15),
            _c("budget", "经费预算合理性", "soundness of the budget", 10),
        ),
    ),
    "concept": Rubric(
        "concept",
        (
            _c("relevance", "与专项目标的契合度", "fit with the programme's aims", 40),
            _c("innovation", "创新性", "innovation", 35),
            _c("feasibility", "可行性", "feasibility", 25),
        ),
    ),
    "midterm": Rubric("midterm", EVALUATION_CRITERIA),
    "acceptance": Rubric("acceptance", EVALUATION_CRITERIA),
}


def rubric_from_list(stage: str, rows: Sequence[Mapping[str, object]]) -> Rubric:
    """A rubric from its stored form; raises ``ValueError`` with a bilingual message list."""
    problems: list[Text] = []
    criteria = []
    seen: set[str] = set()
    for i, row in enumerate(rows, 1):
        key = str(row.get("key", "")).strip()
        try:
            weight = Decimal(str(row.get("weight", "")))
            top = Decimal(str(row.get("max", 100)))
        except ArithmeticError:
            problems.append(Text(f"第 {i} 项评分标准的权重无效", f"criterion {i} has an invalid weight"))
            continue
        if not key or key in seen:
            problems.append(Text(f"第 {i} 项评分标准缺少唯一标识", f"criterion {i} needs a unique key"))
        if not weight.is_finite() or weight <= 0 or not top.is_finite() or top <= 0:
            problems.append(Text(f"评分标准“{key}”的权重和满分须为正数", f"criterion '{key}' needs a positive weight"))
        seen.add(key)
        criteria.append(Criterion(key, Text(str(row.get("zh", key)), str(row.get("en", key))), weight, top))
    if not criteria:
        problems.append(Text("评分标准不能为空", "a rubric needs at least one criterion"))
    if problems:
        raise RubricInvalid(problems)
    return Rubric(stage, tuple(criteria))


class RubricInvalid(ValueError):
    def __init__(self, problems: list[Text]) -> None:
        super().__init__("; ".join(p.en for p in problems))
        self.problems = problems


TWO_PLACES = Decimal("0.01")


def score_problems(rubric: Rubric, scores: Mapping[str, object]) -> tuple[dict[str, Decimal], list[Text]]:
    """Parsed scores per criterion and every problem with them (missing, unknown, out of range)."""
    parsed: dict[str, Decimal] = {}
    problems: list[Text] = []
    keys = {c.key for c in rubric.criteria}
    for extra in sorted(set(scores) - keys):
        problems.append(Text(f"评分标准中没有“{extra}”", f"'{extra}' is not a criterion of this rubric"))
    for c in rubric.criteria:
        raw = scores.get(c.key)
        if raw is None or (isinstance(raw, str) and not raw.strip()):
            problems.append(Text(f"请为“{c.label.zh}”打分", f"please score '{c.label.en}'"))
            continue
        try:
            value = Decimal(str(raw).strip())
        except ArithmeticError:
            problems.append(Text(f"“{c.label.zh}”的分数不是数字", f"the score for '{c.label.en}' is not a number"))
            continue
        if not value.is_finite() or value < 0 or value > c.max_score:
            problems.append(
                Text(
                    f"“{c.label.zh}”的分数须在 0 到 {c.max_score} 之间",
                    f"the score for '{c.label.en}' must be between 0 and {c.max_score}",
                )
            )
            continue
        parsed[c.key] = value
    return parsed, problems


def weighted_total(rubric: Rubric, scores: Mapping[str, Decimal]) -> Decimal:
    """The review's score on a 0–100 scale: each criterion normalised to its maximum, weighted."""
    total_weight = sum((c.weight for c in rubric.criteria), Decimal(0))
    acc = sum((c.weight * scores[c.key] / c.max_score for c in rubric.criteria), Decimal(0))
    return (Decimal(100) * acc / total_weight).quantize(TWO_PLACES, ROUND_HALF_UP)


# --- aggregation and ranking --------------------------------------------------------------------------


def mean(scores: Sequence[Decimal]) -> Decimal | None:
    if not scores:
        return None
    return (sum(scores, Decimal(0)) / len(scores)).quantize(TWO_PLACES, ROUND_HALF_UP)


def trimmed_mean(scores: Sequence[Decimal], trim: int = 1) -> Decimal | None:
    """去掉最高分和最低分: drop ``trim`` highest and lowest scores when at least one remains
    beyond them; otherwise the plain mean (too few scores to trim fairly)."""
    if not scores:
        return None
    ordered = sorted(scores)
    if trim > 0 and len(ordered) > 2 * trim:
        ordered = ordered[trim:-trim]
    return mean(ordered)


@dataclass(frozen=True)
class Ranked:
    project_id: int
    scores: tuple[Decimal, ...]
    mean: Decimal | None
    trimmed_mean: Decimal | None
    rank: int | None
    quorum_reached: bool


def rank(items: Mapping[int, Sequence[Decimal]], *, quorum: int, trim: int = 1) -> list[Ranked]:
    """Items ordered by trimmed mean, then mean (both descending), then id; standard competition
    ranking (1, 2, 2, 4). Items short of the quorum are listed last, unranked."""
    rows = []
    for pid, scores in items.items():
        rows.append(
            Ranked(
                pid,
                tuple(scores),
                mean(scores),
                trimmed_mean(scores, trim),
                None,
                len(scores) >= max(quorum, 1),
            )
        )
    ready = sorted(
        (r for r in rows if r.quorum_reached),
        key=lambda r: (-(r.trimmed_mean or 0), -(r.mean or 0), r.project_id),
    )
    out: list[Ranked] = []
    prev: tuple[Decimal | None, Decimal | None] | None = None
    position = 0
    for i, r in enumerate(ready, 1):
        key = (r.trimmed_mean, r.mean)
        if key != prev:
            position = i
            prev = key
        out.append(Ranked(r.project_id, r.scores, r.mean, r.trimmed_mean, position, True))
    out.extend(sorted((r for r in rows if not r.quorum_reached), key=lambda r: r.project_id))
    return out


# --- who may do what in review ------------------------------------------------------------------------


def may_manage(actor: Actor, organising_unit_id: int | None) -> bool:
    """Panels, rubrics and assignments: the office, or the programme's organising unit."""
    if actor.has(Role.OFFICE):
        return True
    return (
        actor.has(Role.ORGANISING_UNIT)
        and actor.organisation_id is not None
        and actor.organisation_id == organising_unit_id
    )


MANAGE_FORBIDDEN = Text(
    "只有领导小组办公室或本专项组织单位可以管理评审",
    "only the office or the programme's organising unit manages review",
)


@dataclass(frozen=True)
class ReviewView:
    """One review as stored, before visibility is applied."""

    review_id: int
    reviewer_id: int
    reviewer_name: str
    score: Decimal | None
    recommendation: str | None
    comments: str | None
    criteria: Mapping[str, Decimal] = field(default_factory=dict)


@dataclass(frozen=True)
class VisibleReview:
    label: Text  # the reviewer's name, or "专家 1 / Expert 1" where names are hidden
    reviewer_id: int | None  # None where the name is hidden
    score: Decimal | None
    recommendation: str | None
    comments: str | None
    criteria: Mapping[str, Decimal]
    own: bool = False


def visible_reviews(
    reviews: Sequence[ReviewView],
    *,
    actor: Actor,
    may_manage_item: bool,
    is_applicant: bool,
    decided: bool,
    peers_after_submit: bool,
) -> list[VisibleReview]:
    """What this person may read of an item's reviews.

    Managers (office, organising unit) read everything with names. Applicants never see a
    reviewer's name, and see the anonymised reviews only once the gate is decided. A reviewer
    reads their own review; other reviews only after submitting theirs, and only if the panel
    allows it (``peers_after_submit``), and then without names.
    """
    ordered = sorted(reviews, key=lambda r: r.review_id)

    def anon(i: int, r: ReviewView, own: bool = False) -> VisibleReview:
        return VisibleReview(
            Text(f"专家 {i}", f"Expert {i}"), None, r.score, r.recommendation, r.comments, r.criteria, own
        )

    if may_manage_item:
        return [
            VisibleReview(
                Text(r.reviewer_name, r.reviewer_name),
                r.reviewer_id,
                r.score,
                r.recommendation,
                r.comments,
                r.criteria,
                r.reviewer_id == actor.user_id,
            )
            for r in ordered
        ]
    mine = [r for r in ordered if r.reviewer_id == actor.user_id]
    if mine:
        out = [
            VisibleReview(
                Text(r.reviewer_name, r.reviewer_name),
                r.reviewer_id,
                r.score,
                r.recommendation,
                r.comments,
                r.criteria,
                True,
            )
            for r in mine
        ]
        if peers_after_submit:
            out += [anon(i, r) for i, r in enumerate(ordered, 1) if r.reviewer_id != actor.user_id]
        return out
    if is_applicant and decided:
        return [anon(i, r) for i, r in enumerate(ordered, 1)]
    return []


# --- complaints ----------------------------------------------------------------------------------------

# Decisions an applicant may appeal: the outcome of a review stage.
APPEALABLE_DECISIONS = frozenset(
    {
        "approve",
        "reject",
        "decline_concept",
        "invite_proposal",
        "pass_midterm",
        "return_midterm",
        "pass_acceptance",
        "require_rectification",
    }
)


def complaint_problems(*, decided_at: datetime | None, now: datetime, days: int) -> list[Text]:
    if decided_at is None:
        return [Text("本项目尚无可申诉的评审结果", "this project has no review outcome to appeal")]
    deadline = decided_at + timedelta(days=days)
    if now > deadline:
        return [
            Text(
                f"申诉期已过：评审结果公布后 {days} 日内可以申诉",
                f"the appeal period is over: appeals are accepted within {days} days of the outcome",
            )
        ]
    return []


def days_left(decided_at: datetime, now: datetime, days: int) -> int:
    return max(0, math.ceil((decided_at + timedelta(days=days) - now).total_seconds() / 86400))
