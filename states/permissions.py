"""Who may act: named permission presets, kept apart from the guards (may this happen).

A transition row names the presets that may fire it; an actor passes if any preset
admits them. Separation of duties (the decider did not score the item) is a flag on the
row, checked here too, because it is about the person, not about the project.
"""

from __future__ import annotations

from collections.abc import Callable
from dataclasses import dataclass, field

from grantflow.states.enums import Role
from grantflow.states.facts import Facts
from grantflow.states.text import Text


@dataclass(frozen=True)
class Actor:
    """The person on whose behalf a trigger is fired; resolved by the caller (web, CLI, flow)."""

    user_id: int | None
    organisation_id: int | None
    roles: frozenset[str] = field(default_factory=frozenset)
    name: str = ""
    lang: str = "zh"

    def has(self, role: str) -> bool:
        return role in self.roles


SYSTEM = Actor(user_id=None, organisation_id=None, roles=frozenset({"system"}), name="system")
"""The scheduler itself (deadline sweeps). Only rows that name the ``system`` preset admit it."""


@dataclass(frozen=True)
class Preset:
    name: str
    label: Text
    admits: Callable[[Actor, Facts], bool]


def _applicant_own(actor: Actor, facts: Facts) -> bool:
    return (
        actor.has(Role.APPLICANT)
        and actor.organisation_id is not None
        and actor.organisation_id == facts.undertaking_unit_id
    )


def _organiser_own(actor: Actor, facts: Facts) -> bool:
    return (
        actor.has(Role.ORGANISING_UNIT)
        and actor.organisation_id is not None
        and actor.organisation_id == facts.organising_unit_id
    )


ADJUSTMENT_ROLE = "adjustment"


def acting_for_adjustment(actor: Actor) -> Actor:
    """The person applying an approved adjustment request, acting through it on the project.

    Only ``db`` builds this actor, inside the transaction that applies the request; no user holds
    the role (roles come from ``states.enums.Role``), so the project rows that name the
    ``adjustment`` preset cannot be fired any other way."""
    return Actor(
        user_id=actor.user_id,
        organisation_id=actor.organisation_id,
        roles=frozenset({ADJUSTMENT_ROLE}),
        name=actor.name,
        lang=actor.lang,
    )


def _initiator(actor: Actor, facts: Facts) -> bool:
    """The side that started an adjustment request: its undertaking unit, or the office."""
    adj = getattr(facts, "adjustment", None)
    if adj is None:
        return False
    if adj.initiator == "office":
        return actor.has(Role.OFFICE)
    return _applicant_own(actor, facts)


PRESETS: dict[str, Preset] = {
    p.name: p
    for p in (
        Preset(
            "applicant",
            Text("本项目承担单位的申报人", "an applicant of the project's undertaking unit"),
            _applicant_own,
        ),
        Preset(
            "organiser",
            Text("本专项组织单位的人员", "a member of the programme's organising unit"),
            _organiser_own,
        ),
        Preset("office", Text("领导小组办公室", "the office"), lambda a, f: a.has(Role.OFFICE)),
        Preset(
            "leadership",
            Text("领导小组", "the leadership group"),
            lambda a, f: a.has(Role.LEADERSHIP_GROUP),
        ),
        Preset(
            "evaluator",
            Text("第三方评估机构", "a third-party evaluator"),
            lambda a, f: a.has(Role.EVALUATOR),
        ),
        Preset("system", Text("系统定时任务", "the scheduler"), lambda a, f: a.has("system")),
        Preset(
            "adjustment",
            Text("经批准并执行的动态调整", "an approved dynamic adjustment, when applied"),
            lambda a, f: a.has(ADJUSTMENT_ROLE),
        ),
        Preset(
            "initiator",
            Text("调整申请的发起方（承担单位或办公室）", "the side that started the request (its unit or the office)"),
            _initiator,
        ),
    )
}

SEPARATION_OF_DUTIES = Text(
    "您已为本项目评分，不能对其作出决定（决策与评审相分离）",
    "you scored this project, so you cannot decide it (decision and review are separated)",
)


def forbidden_reasons(*, who: tuple[str, ...], separate_from_scorers: bool, actor: Actor, facts: Facts) -> list[Text]:
    """Empty when the actor may fire a row with these settings; otherwise why not."""
    reasons: list[Text] = []
    if not any(PRESETS[name].admits(actor, facts) for name in who):
        allowed = "、".join(PRESETS[n].label.zh for n in who)
        allowed_en = ", ".join(PRESETS[n].label.en for n in who)
        reasons.append(Text(f"只有{allowed}可以执行此操作", f"only {allowed_en} may do this"))
    if separate_from_scorers and actor.user_id is not None and actor.user_id in facts.scorer_ids:
        reasons.append(SEPARATION_OF_DUTIES)
    return reasons


def may_view(actor: Actor, facts: Facts) -> bool:
    """Who may see a project at all (its page, its files, its history).

    Applicants see their own unit's projects only; organising units their programmes'; the
    office and the leadership group everything. Reviewers and evaluators see what they are
    assigned to, decided where assignments are stored.
    """
    if actor.has(Role.OFFICE) or actor.has(Role.LEADERSHIP_GROUP):
        return True
    return _applicant_own(actor, facts) or _organiser_own(actor, facts)


# Audit actions whose actor is a reviewer: their names are hidden from applicants.
REVIEWER_ACTIONS = ("review:", "conflict_declared:")
ANONYMOUS_REVIEWER = Text("评审专家", "an expert reviewer")


def may_see_reviewer_names(actor: Actor) -> bool:
    """Reviewer names are for those who run the review, never for the reviewed (issue 3)."""
    return actor.has(Role.OFFICE) or actor.has(Role.LEADERSHIP_GROUP) or actor.has(Role.ORGANISING_UNIT)


def shown_actor(viewer: Actor, *, action: str, name: str) -> Text:
    if action.startswith(REVIEWER_ACTIONS) and not may_see_reviewer_names(viewer):
        return ANONYMOUS_REVIEWER
    return Text(name, name)
