"""May this happen: guards are pure functions of the facts and ``now``, each with its reason.

A transition row names its guards; the reason is what the user reads when one fails.
"""

from __future__ import annotations

from collections.abc import Callable
from dataclasses import dataclass
from datetime import datetime

from grantflow.states.adjustments import problems as adjustment_problems
from grantflow.states.eligibility import problems as eligibility_problems
from grantflow.states.facts import Facts
from grantflow.states.programmes import readiness_problems
from grantflow.states.text import Text

POST_EVALUATION_YEARS = 4  # the acceptance year and the three after it (docs/lifecycle.md, "Post-evaluation")


@dataclass(frozen=True)
class Guard:
    name: str
    check: Callable[[Facts, datetime], bool]
    reason: Text
    # a guard that bundles several conditions lists each failed one instead of its summary
    explain: Callable[[Facts, datetime], list[Text]] | None = None
    # the form whose submission it needs (``has_*``): the table keeps that form editable where it fires
    form: str | None = None
    # the fact holding the moment it waits for: the scheduler fires such rows once the moment has come
    after: str | None = None

    def reasons(self, facts: Facts, now: datetime) -> list[Text]:
        detailed = self.explain(facts, now) if self.explain is not None else []
        return detailed or [self.reason]


def _has_form(key: str) -> Callable[[Facts, datetime], bool]:
    return lambda facts, now: key in facts.submitted_forms


def post_evaluation_years(accepted_at: datetime) -> list[int]:
    return [accepted_at.year + i for i in range(POST_EVALUATION_YEARS)]


def _post_evaluation_complete(facts: Facts, now: datetime) -> bool:
    if facts.accepted_at is None:
        return False
    return set(post_evaluation_years(facts.accepted_at)) <= facts.post_evaluation_years_reported


def _call_open(facts: Facts, now: datetime) -> bool:
    if facts.call_state is not None and facts.call_state != "open":
        return False
    if facts.call_opens_at is not None and now < facts.call_opens_at:
        return False
    return facts.call_closes_at is None or now <= facts.call_closes_at


def _eligibility_reasons(facts: Facts, now: datetime) -> list[Text]:
    # Facts that do not carry eligibility (a hand-built snapshot) mean no rules: nothing to refuse.
    found = getattr(facts, "eligibility", None)
    return [] if found is None else eligibility_problems(found[0], found[1], now)


def _eligible(facts: Facts, now: datetime) -> bool:
    return not _eligibility_reasons(facts, now)


def _bid_not_sealed(facts: Facts, now: datetime) -> bool:
    return not getattr(facts, "bid_sealed", False)


def _after(attr: str) -> Callable[[Facts, datetime], bool]:
    def check(facts: Facts, now: datetime) -> bool:
        moment = getattr(facts, attr)
        return moment is not None and now >= moment

    return check


def _adjustment_reasons(facts: Facts, now: datetime) -> list[Text]:
    adj = getattr(facts, "adjustment", None)
    if adj is None:
        return [Text("没有可审查的调整申请", "there is no adjustment request to check")]
    return adjustment_problems(adj)


def _adjustment_major(facts: Facts, now: datetime) -> bool:
    adj = getattr(facts, "adjustment", None)
    return adj is not None and bool(adj.major)


def _programme_reasons(facts: Facts, now: datetime) -> list[Text]:
    return readiness_problems(getattr(facts, "programme_readiness", None))


_GUARD_LIST: list[Guard] = [
    Guard(
        "call_open",
        _call_open,
        Text("申报指南不在征集期内", "the call is not open for submissions"),
    ),
    Guard(
        "has_proposal",
        _has_form("proposal"),
        Text("尚未提交申报书", "the proposal form has not been submitted"),
        form="proposal",
    ),
    Guard(
        "has_task_agreement",
        _has_form("task_agreement"),
        Text("尚未提交任务书", "the task agreement has not been submitted"),
        form="task_agreement",
    ),
    Guard(
        "has_midterm_report",
        _has_form("midterm_report"),
        Text("尚未提交中期报告", "the mid-term report has not been submitted"),
        form="midterm_report",
    ),
    Guard(
        "has_acceptance_report",
        _has_form("acceptance_report"),
        Text("尚未提交验收报告", "the acceptance report has not been submitted"),
        form="acceptance_report",
    ),
    Guard(
        "has_concept_note",
        _has_form("concept_note"),
        Text("尚未提交项目概要", "the concept note has not been submitted"),
        form="concept_note",
    ),
    Guard(
        "quorum_reached",
        lambda facts, now: facts.reviews_submitted >= max(facts.quorum, 1),
        Text("已提交的专家评审意见未达到法定人数", "not enough expert reviews have been submitted"),
    ),
    Guard(
        # the submission path (db.eligibility.submit_checked) lists every failed condition;
        # this guard keeps any other path from submitting past them
        "eligible",
        _eligible,
        Text(
            "申报单位不符合本指南的准入条件（详见各项原因）",
            "the applicant does not meet the call's eligibility conditions (see each reason)",
        ),
        _eligibility_reasons,
    ),
    Guard(
        "bid_opened",
        _bid_not_sealed,
        Text("投标文件尚未开标，不能进行形式审查", "the bid is still sealed: it cannot be checked before opening"),
    ),
    Guard(
        "post_evaluation_complete",
        _post_evaluation_complete,
        Text(
            "验收当年及其后三年的后评估报告尚未全部提交",
            "post-evaluation reports for the acceptance year and the three years after are not all submitted",
        ),
    ),
    Guard(
        "call_deadline_passed",
        _after("call_closes_at"),
        Text("申报截止时间尚未到", "the call's deadline has not passed yet"),
        after="call_closes_at",
    ),
    Guard(
        "call_opening_reached",
        _after("call_opens_at"),
        Text("尚未到征集开始时间", "the call's opening time has not come yet"),
        after="call_opens_at",
    ),
    # dynamic adjustment (states.adjustments): the request fits the project as it stands
    Guard(
        "adjustment_valid",
        lambda facts, now: not _adjustment_reasons(facts, now),
        Text("调整申请不符合要求（详见各项原因）", "the adjustment request cannot be carried out (see each reason)"),
        _adjustment_reasons,
    ),
    Guard(
        "major_adjustment",
        _adjustment_major,
        Text("这不是重大调整，由办公室直接批准", "this is not a major adjustment: the office approves it"),
    ),
    Guard(
        "minor_adjustment",
        lambda facts, now: not _adjustment_major(facts, now),
        Text("重大调整须报领导小组决定", "a major adjustment is decided by the leadership group"),
    ),
    # a programme is launched when it is ready (states.programmes)
    Guard(
        "programme_ready",
        lambda facts, now: not _programme_reasons(facts, now),
        Text("专项尚不具备启动条件（详见各项原因）", "the programme is not ready to launch (see each reason)"),
        _programme_reasons,
    ),
]


def resume_guard_name(state: str) -> str:
    return f"suspended_from_{state}"


def resume_guard(state: str) -> Guard:
    """Resuming returns a project to where it was suspended from: one guard per such state."""
    return Guard(
        resume_guard_name(state),
        lambda facts, now: facts.suspended_from == state,
        Text(f"项目不是从“{state}”暂停的", f"the project was not suspended from {state}"),
    )


GUARDS: dict[str, Guard] = {g.name: g for g in _GUARD_LIST}


def get_guard(name: str) -> Guard:
    if name in GUARDS:
        return GUARDS[name]
    prefix = resume_guard_name("")
    if name.startswith(prefix):
        return resume_guard(name[len(prefix) :])
    raise KeyError(name)


def form_of(name: str) -> str | None:
    """The form a guard needs submitted, if it is a ``has_*`` guard."""
    guard = GUARDS.get(name)
    return guard.form if guard is not None else None


def known_guard(name: str) -> bool:
    try:
        get_guard(name)
    except KeyError:
        return False
    return True
