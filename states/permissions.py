"""Who may act: named permission presets, kept apart from the guards (may this happen).

A transition row names the presets that may fire it; an actor passes if any preset
admits them. Separation of duties (the decider did not score the item) is a flag on the
row, checked here too, because it is about the person, not about the project. Some presets
need an assignment (an expert reviewer, a third-party evaluator) read from the facts.

Every other "who may" of the system is decided here too (who sees a project, who edits a
form in a state, who opens and reads bids, who sees and answers complaints, who resends an
e-mail), so a page, the API, the CLI and the flows refuse the same person for the same reason
(docs/lifecycle.md, "Who may act").
"""

from __future__ import annotations

from collections.abc import Callable, Iterable
from dataclasses import dataclass, field, replace
from enum import StrEnum

from grantflow.states.attributes import StateDef
from grantflow.states.channels import CODE, Channel
from grantflow.states.enums import Role
from grantflow.states.errors import Forbidden, GrantflowError
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
    channel: Channel = CODE
    """Where the act comes from (page, API, CLI, flow, demo, migration); recorded in the audit."""

    def has(self, role: str) -> bool:
        return role in self.roles

    def via(self, channel: Channel) -> Actor:
        """The same person acting through ``channel``."""
        return replace(self, channel=channel)


SYSTEM = Actor(user_id=None, organisation_id=None, roles=frozenset({"system"}), name="system")
"""The scheduler itself (deadline sweeps). Only rows that name the ``system`` preset admit it."""


Admits = Callable[[Actor, Facts, "StateDef | None"], bool]


@dataclass(frozen=True)
class Preset:
    """A named kind of person. ``admits`` reads the actor, the subject's facts and the state the
    subject is in (assignment-bound presets admit only for the stages in force there)."""

    name: str
    label: Text
    admits: Admits
    needs_assignment: bool = False


def _applicant_own(actor: Actor, facts: Facts, here: StateDef | None = None) -> bool:
    return (
        actor.has(Role.APPLICANT)
        and actor.organisation_id is not None
        and actor.organisation_id == facts.undertaking_unit_id
    )


def _organiser_own(actor: Actor, facts: Facts, here: StateDef | None = None) -> bool:
    return (
        actor.has(Role.ORGANISING_UNIT)
        and actor.organisation_id is not None
        and actor.organisation_id == facts.organising_unit_id
    )


def _reviewer_assigned(actor: Actor, facts: Facts, here: StateDef | None) -> bool:
    """An expert with a live assignment to this item for a review stage in force in its state."""
    if not actor.has(Role.REVIEWER) or actor.user_id is None or here is None or not here.stages_in_force:
        return False
    mine = {stage for uid, stage in facts.assignments if uid == actor.user_id}
    return any(stage in mine for stage in here.stages_in_force)


def _evaluator_assigned(actor: Actor, facts: Facts, here: StateDef | None) -> bool:
    """A third-party evaluator engaged for this project: a member of an evaluation organisation
    the office engaged (and has not withdrawn), or a person assigned to one of its review stages.
    Being in the evaluator role is not enough; the office engages evaluators per project."""
    if not actor.has(Role.EVALUATOR) or actor.user_id is None:
        return False
    if actor.organisation_id is not None and actor.organisation_id in facts.evaluator_orgs:
        return True
    return any(uid == actor.user_id for uid, _ in facts.assignments)


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
        channel=actor.channel,  # the page, API or shell the request was applied from
    )


def _initiator(actor: Actor, facts: Facts, here: StateDef | None) -> bool:
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
        Preset("office", Text("领导小组办公室", "the office"), lambda a, f, h: a.has(Role.OFFICE)),
        Preset(
            "leadership",
            Text("领导小组", "the leadership group"),
            lambda a, f, h: a.has(Role.LEADERSHIP_GROUP),
        ),
        Preset(
            "evaluator",
            Text("受托评估本项目的第三方评估机构", "a third-party evaluator assigned to the project"),
            _evaluator_assigned,
            needs_assignment=True,
        ),
        Preset(
            "reviewer",
            Text("分配评审本项目当前阶段的评审专家", "an expert reviewer assigned to the project's current stage"),
            _reviewer_assigned,
            needs_assignment=True,
        ),
        Preset("system", Text("系统定时任务", "the scheduler"), lambda a, f, h: a.has("system")),
        Preset(
            "adjustment",
            Text("经批准并执行的动态调整", "an approved dynamic adjustment, when applied"),
            lambda a, f, h: a.has(ADJUSTMENT_ROLE),
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


def admitted(who: Iterable[str], actor: Actor, facts: Facts, here: StateDef | None) -> bool:
    """Whether any of these presets admits the actor (the one test every interface asks)."""
    return any(PRESETS[name].admits(actor, facts, here) for name in who)


def may_ever_fire(who: Iterable[str], actor: Actor, facts: Facts, here: StateDef | None) -> bool:
    """Whether the row is for this person at all: one of its presets admits them, whatever its guards
    and separation of duties say now. A page offers such a row (greyed out, with reasons, until its
    conditions hold) and leaves out the others: a row only an applied adjustment (``adjustment``)
    or the scheduler fires is never a person's button."""
    return admitted(who, actor, facts, here)


def adjustment_only(who: Iterable[str]) -> bool:
    """A row that only an applied dynamic-adjustment request fires: a person asks for it through
    the project's adjustment requests instead."""
    names = set(who)
    return bool(names) and names <= {ADJUSTMENT_ROLE}


def forbidden_reasons(
    *, who: tuple[str, ...], separate_from_scorers: bool, actor: Actor, facts: Facts, here: StateDef | None = None
) -> list[Text]:
    """Empty when the actor may fire a row with these settings; otherwise why not."""
    reasons: list[Text] = []
    if not admitted(who, actor, facts, here):
        allowed = "、".join(PRESETS[n].label.zh for n in who)
        allowed_en = ", ".join(PRESETS[n].label.en for n in who)
        reasons.append(Text(f"只有{allowed}可以执行此操作", f"only {allowed_en} may do this"))
    if separate_from_scorers and actor.user_id is not None and actor.user_id in facts.scorer_ids:
        reasons.append(SEPARATION_OF_DUTIES)
    return reasons


def may_view(actor: Actor, facts: Facts, here: StateDef) -> bool:
    """Who may see a project at all (its page, its forms and files, its history).

    The state's ``viewers`` decide: by default the project's own unit, its programme's
    organising unit, the office, the leadership group, an expert assigned to a review stage in
    force, and an evaluator assigned to the project (docs/lifecycle.md, "Who sees a project").
    """
    return admitted(here.viewers, actor, facts, here)


# --- forms ----------------------------------------------------------------------------------------


class FormLocked(Forbidden):
    """A form the project's state does not let this person edit: says why, and where it could be."""

    code = "form_locked"

    def __init__(self, message: Text, reasons: list[Text]) -> None:
        GrantflowError.__init__(self, message, details={"reasons": [r.as_dict() for r in reasons]})
        self.reasons = reasons


def form_refusal(
    *,
    form_key: str,
    form_title: Text,
    actor: Actor,
    facts: Facts,
    here: StateDef,
    editable_in: list[Text],
) -> FormLocked | None:
    """None when the actor may edit the form in this state; otherwise the refusal, in both languages.

    ``editable_in`` names the states of the workflow where the form can be edited (for the message).
    """
    editors = here.editors(form_key)
    state = here.label
    if not editors:
        where_zh = "、".join(t.zh for t in editable_in) or "无"
        where_en = ", ".join(t.en for t in editable_in) or "none"
        reason = Text(
            f"项目处于“{state.zh}”状态，“{form_title.zh}”已锁定，不能修改（可修改的状态：{where_zh}）",
            f"the project is {state.en} ({here.name}): the {form_title.en} is locked and cannot be edited "
            f"(it can be edited while the project is: {where_en})",
        )
        return FormLocked(Text("表单已锁定：" + reason.zh, "Form locked: " + reason.en), [reason])
    if admitted(editors, actor, facts, here):
        return None
    who_zh = "、".join(PRESETS[p].label.zh for p in editors)
    who_en = ", ".join(PRESETS[p].label.en for p in editors)
    reason = Text(
        f"项目处于“{state.zh}”状态，只有{who_zh}可以填写“{form_title.zh}”",
        f"while the project is {state.en} ({here.name}), only {who_en} may fill in the {form_title.en}",
    )
    return FormLocked(Text("无权填写此表单：" + reason.zh, "You may not fill in this form: " + reason.en), [reason])


# --- bids, complaints, notifications: who may, decided once -------------------------------------------


def may_open_bids(actor: Actor) -> bool:
    """Opening a tender's bids: the office, or the scheduler at the opening time."""
    return actor.has(Role.OFFICE) or actor.has("system")


OPEN_BIDS_FORBIDDEN = Text("只有领导小组办公室可以开标", "only the office may open bids")


def may_read_bids(actor: Actor, *, organising_unit_id: int | None, assigned: bool) -> bool:
    """Reading opened bids: the office, the programme's organising unit, an expert assigned to the item."""
    if actor.has(Role.OFFICE):
        return True
    own_programme = actor.organisation_id is not None and actor.organisation_id == organising_unit_id
    if actor.has(Role.ORGANISING_UNIT) and own_programme:
        return True
    return assigned


class ComplaintScope(StrEnum):
    ALL = "all"  # the office keeps the complaint channel: every complaint, and the counts
    OWN_UNIT = "own_unit"  # an applicant: its own unit's complaints


COMPLAINTS_FORBIDDEN = Text("无权查看申诉", "you may not see complaints")
ANSWER_FORBIDDEN = Text("只有领导小组办公室可以答复申诉", "only the office answers appeals")
APPEAL_FORBIDDEN = Text("只有本项目的申报单位可以申诉", "only the project's applicant may appeal")


def complaint_scope(actor: Actor) -> ComplaintScope | None:
    """Which complaints this person may list; None: none at all."""
    if actor.has(Role.OFFICE):
        return ComplaintScope.ALL
    if actor.has(Role.APPLICANT) and actor.organisation_id is not None:
        return ComplaintScope.OWN_UNIT
    return None


def may_answer_complaints(actor: Actor) -> bool:
    return actor.has(Role.OFFICE)


def own_unit(actor: Actor, undertaking_unit_id: int | None) -> bool:
    """An applicant of the project's own undertaking unit (the ``applicant`` preset, without facts)."""
    return _own_unit(actor, undertaking_unit_id)


def _own_unit(actor: Actor, undertaking_unit_id: int | None) -> bool:
    return (
        actor.has(Role.APPLICANT) and actor.organisation_id is not None and actor.organisation_id == undertaking_unit_id
    )


def may_appeal(actor: Actor, *, undertaking_unit_id: int | None) -> bool:
    """Appealing a review outcome: the project's own unit."""
    return _own_unit(actor, undertaking_unit_id)


def may_bid(actor: Actor, *, undertaking_unit_id: int | None) -> bool:
    """Sealing a tender bid: the bidding unit itself (where the state allows bids, ``StateDef.bids``)."""
    return _own_unit(actor, undertaking_unit_id)


RESEND_FORBIDDEN = Text("只有领导小组办公室可以重新发送邮件", "only the office may resend e-mails")


def may_resend(actor: Actor) -> bool:
    """Resending a failed or possibly-sent e-mail is the office's decision (it may reach someone twice)."""
    return actor.has(Role.OFFICE)


def may_see_delivery_problems(actor: Actor) -> bool:
    return actor.has(Role.OFFICE)


# Audit actions whose actor is a reviewer: their names are hidden from applicants.
REVIEWER_ACTIONS = ("review:", "conflict_declared:")
ANONYMOUS_REVIEWER = Text("评审专家", "an expert reviewer")


def may_see_reviewer_names(actor: Actor) -> bool:
    """Reviewer names are for those who run the review, never for the reviewed."""
    return actor.has(Role.OFFICE) or actor.has(Role.LEADERSHIP_GROUP) or actor.has(Role.ORGANISING_UNIT)


def shown_actor(viewer: Actor, *, action: str, name: str) -> Text:
    if action.startswith(REVIEWER_ACTIONS) and not may_see_reviewer_names(viewer):
        return ANONYMOUS_REVIEWER
    return Text(name, name)


# --- applications and qualifications -----------------------------------------------------------

APPLY_FORBIDDEN = Text("只有承担单位的申报人可以申报", "only an applicant of an undertaking unit may apply")


def may_apply(actor: Actor) -> bool:
    """Who may start an application (a draft project of their own unit) in a call."""
    return actor.has(Role.APPLICANT) and actor.organisation_id is not None


QUALIFICATIONS_FORBIDDEN = Text(
    "只有领导小组办公室可以登记或撤销单位资质", "only the office may grant or revoke a unit's qualifications"
)
QUALIFICATIONS_HIDDEN = Text(
    "只有领导小组办公室、组织单位和本单位人员可以查看单位资质",
    "only the office, organising units and the unit's own people may see its qualifications",
)


PEOPLE_FORBIDDEN = Text("只有领导小组办公室可以登记单位和人员", "only the office registers organisations and people")


def may_manage_people(actor: Actor) -> bool:
    """Registering organisations and people, granting roles, deactivating accounts: the office."""
    return actor.has(Role.OFFICE)


def may_manage_qualifications(actor: Actor) -> bool:
    """Qualifications are recorded from certificates by the office, the system's keeper of record."""
    return actor.has(Role.OFFICE)


def may_view_qualifications(actor: Actor, organisation_id: int) -> bool:
    """The office, organising units (they write the eligibility rules) and the unit itself."""
    return (
        may_manage_qualifications(actor)
        or actor.has(Role.ORGANISING_UNIT)
        or (actor.organisation_id is not None and actor.organisation_id == organisation_id)
    )


# --- which pages a person's navigation offers ------------------------------------------------------
# Each link is offered to those its page serves; the page itself still refuses anyone else.


def may_review(actor: Actor) -> bool:
    """Experts have a review queue (``/review/mine``)."""
    return actor.has(Role.REVIEWER)


def may_run_calls(actor: Actor) -> bool:
    """The office's desk for calls (``/office/calls``): drafting, publishing and closing calls."""
    return actor.has(Role.OFFICE)


def may_follow_adjustments(actor: Actor) -> bool:
    """Those who request, review or approve dynamic adjustments: the project's unit (the ``applicant``
    preset), the organising unit, the office and, for a major adjustment, the leadership group."""
    return any(actor.has(r) for r in (Role.APPLICANT, Role.ORGANISING_UNIT, Role.OFFICE, Role.LEADERSHIP_GROUP))


def may_follow_programmes(actor: Actor) -> bool:
    """Those who launch, organise and run the programmes (the programme pages are their desk)."""
    return any(actor.has(r) for r in (Role.ORGANISING_UNIT, Role.OFFICE, Role.LEADERSHIP_GROUP))


def may_list_units(actor: Actor) -> bool:
    """Who has a use for the list of units and their qualifications (``may_view_qualifications``):
    the office, organising units, and an applicant for its own unit."""
    return may_manage_qualifications(actor) or actor.has(Role.ORGANISING_UNIT) or actor.has(Role.APPLICANT)
