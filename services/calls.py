"""Creating a call for proposals as its selection mode and category allow, and applications in it.

``create_call`` checks the plan with ``states.selection.call_problems`` (every problem at
once), stores the call through ``db.apply.create`` and, for a public tender, sets up the
sealing of its bids (``services.tenders.set_up_tender``). ``new_project`` starts an
application only where ``states.applications`` says the call takes one (docs/domain.md,
docs/review-and-eligibility.md).
"""

from __future__ import annotations

from collections.abc import Mapping
from dataclasses import dataclass
from datetime import datetime
from typing import Any

from sqlalchemy import ColumnElement, Connection, and_, false, func, or_, select

from grantflow.config import get_settings
from grantflow.db.applicant_facts import load_for_applicant
from grantflow.db.apply import create
from grantflow.db.models import Call, Organisation, Programme, Project, table
from grantflow.db.workflows import get_registry
from grantflow.services.records import create_project, next_project_code
from grantflow.services.tenders import set_up_tender
from grantflow.states.applications import (
    ApplicationRefused,
    CallStanding,
    ExistingApplication,
    call_refusals,
    limit_refusals,
    max_applications_problems,
)
from grantflow.states.eligibility import RulesInvalid, describe, parse_rules
from grantflow.states.eligibility import problems as rule_problems
from grantflow.states.enums import SelectionMode
from grantflow.states.errors import Forbidden, NotFound, PayloadInvalid
from grantflow.states.lifecycle import DEFAULT_QUORUM
from grantflow.states.permissions import APPLY_FORBIDDEN, Actor, may_apply
from grantflow.states.review_rules import MANAGE_FORBIDDEN, may_manage
from grantflow.states.selection import CallPlan, call_field_problems
from grantflow.states.text import Text, clean_line, join

_o = table(Organisation)
_g = table(Programme)
_c = table(Call)
_p = table(Project)


class CallInvalid(PayloadInvalid):
    code = "call_invalid"

    def __init__(self, problems: list[Text], fields: Mapping[str, list[Text]] | None = None) -> None:
        body = join(problems)
        super().__init__(
            Text("申报指南设置有误：" + body.zh, "The call is not valid: " + body.en),
            details={"problems": [p.as_dict() for p in problems]},
        )
        self.problems = problems
        self.fields: dict[str, list[Text]] = dict(fields or {})
        """The same problems by the field they are about (a form shows each beside its field)."""


TITLE_MISSING = Text("请填写指南名称", "enter the call's title")


def call_invalid(problems: list[tuple[str, Text]]) -> CallInvalid:
    """One refusal for every problem of a plan, keeping which field each is about."""
    fields: dict[str, list[Text]] = {}
    for name, text in problems:
        fields.setdefault(name, []).append(text)
    return CallInvalid([text for _, text in problems], fields)


def plan_from(conn: Connection, values: Mapping[str, Any], bids_open_at: datetime | None) -> CallPlan:
    unit_id = values.get("designated_unit_id")
    kind = None
    if unit_id is not None:
        kind = conn.execute(select(_o.c.kind).where(_o.c.id == unit_id)).scalar_one_or_none() or "missing"
    return CallPlan(
        category=str(values.get("category", "")),
        selection_mode=str(values.get("selection_mode", "")),
        support_modes=tuple(values.get("support_modes") or ()),
        designated_unit_id=unit_id,
        designated_unit_kind=kind,
        quorum=int(values.get("quorum", DEFAULT_QUORUM)),
        eligibility=values.get("eligibility") or {},
        opens_at=values.get("opens_at"),
        closes_at=values.get("closes_at"),
        bids_open_at=bids_open_at,
    )


def check_call(
    conn: Connection, *, values: Mapping[str, Any], bids_open_at: datetime | None = None
) -> list[tuple[str, Text]]:
    """Every problem of a planned call, each with the field it is about; writes nothing."""
    problems = call_field_problems(plan_from(conn, values, bids_open_at))
    if not (isinstance(values.get("title"), str) and clean_line(values["title"])):
        problems.insert(0, ("title", TITLE_MISSING))
    if "max_applications_per_unit" in values:
        limit = max_applications_problems(values["max_applications_per_unit"])
        problems += [("max_applications_per_unit", p) for p in limit]
    return problems


def create_call(
    conn: Connection,
    *,
    values: Mapping[str, Any],
    actor: Actor,
    now: datetime,
    bids_open_at: datetime | None = None,
) -> int:
    """A new call in its workflow's initial state, refused with every problem of its plan."""
    organiser = conn.execute(
        select(_g.c.organising_unit_id).where(_g.c.id == values.get("programme_id"))
    ).scalar_one_or_none()
    if not may_manage(actor, organiser):
        raise Forbidden([MANAGE_FORBIDDEN])
    problems = check_call(conn, values=values, bids_open_at=bids_open_at)
    if problems:
        raise call_invalid(problems)
    cleaned = {**values, "title": clean_line(values["title"])} if isinstance(values.get("title"), str) else values
    call_id = create(conn, subject="call", values=dict(cleaned), actor=actor, now=now)
    if values.get("selection_mode") == SelectionMode.TENDER and bids_open_at is not None:
        set_up_tender(conn, call_id=call_id, bids_open_at=bids_open_at)
    return call_id


def _standing(row: Any) -> CallStanding:
    wf = get_registry().get(row.workflow)
    return CallStanding(
        title=Text(row.title, row.title_en or row.title),
        state_label=wf.state_label(row.state),
        accepting=wf.state(row.state).accepting,
        accepting_labels=tuple(wf.state_label(s) for s in wf.states_where(lambda s: s.accepting)),
        closes_at=row.closes_at,
        max_applications_per_unit=row.max_applications_per_unit,
    )


def _applications_of(conn: Connection, *, call_id: int, unit_id: int) -> list[ExistingApplication]:
    registry = get_registry()
    rows = conn.execute(
        select(_p.c.code, _p.c.workflow, _p.c.state)
        .where(_p.c.call_id == call_id, _p.c.undertaking_unit_id == unit_id)
        .order_by(_p.c.id)
    ).all()
    return [
        ExistingApplication(r.code, r.workflow in registry and registry.get(r.workflow).state(r.state).terminal)
        for r in rows
    ]


def new_project(
    conn: Connection,
    *,
    call_id: int,
    actor: Actor,
    title: str,
    now: datetime,
    budget_yuan: Any = None,
) -> int:
    """A draft project of the actor's unit in a call, carrying the call's category and mode.

    Refused (``ApplicationRefused``, every reason in both languages) unless the call's table
    says its state accepts applications and its deadline has not passed, and unless the unit
    has fewer live applications in the call than the call allows (one by default).
    Eligibility (including a directed call's designated unit) is checked when the draft is
    submitted, where every reason is shown.
    """
    if not may_apply(actor):
        raise Forbidden([APPLY_FORBIDDEN])
    assert actor.organisation_id is not None  # may_apply
    row = conn.execute(
        select(
            _c.c.programme_id,
            _c.c.category,
            _c.c.selection_mode,
            _c.c.project_workflow,
            _c.c.title,
            _c.c.title_en,
            _c.c.workflow,
            _c.c.state,
            _c.c.closes_at,
            _c.c.max_applications_per_unit,
            _g.c.code,
        )
        .select_from(_c.join(_g, _c.c.programme_id == _g.c.id))
        .where(_c.c.id == call_id)
    ).one_or_none()
    if row is None:
        raise NotFound(Text(f"申报指南 {call_id} 不存在", f"call {call_id} does not exist"))
    standing = _standing(row)
    refused = call_refusals(standing, now=now, tz=get_settings().timezone)
    if refused:
        raise ApplicationRefused(refused)
    # the code's counter row serialises concurrent creators, so the count below sees every
    # application committed before this one (see services.records.take_number)
    code = next_project_code(conn, programme_code=row.code, year=now.year)
    refused = limit_refusals(standing, _applications_of(conn, call_id=call_id, unit_id=actor.organisation_id))
    if refused:
        raise ApplicationRefused(refused)
    return create_project(
        conn,
        actor=actor,
        now=now,
        values={
            "code": code,
            "title": clean_line(title),
            "call_id": call_id,
            "programme_id": row.programme_id,
            "undertaking_unit_id": actor.organisation_id,
            "principal_investigator_id": actor.user_id,
            "category": row.category,
            "selection_mode": row.selection_mode,
            "budget_yuan": budget_yuan,
            "workflow": row.project_workflow,
        },
    )


# --- the public list of open calls, and starting an application from it --------------------------------


def accepting_clause() -> ColumnElement[bool]:
    """Calls in a state their own workflow table marks ``accepting`` (asked of each call workflow)."""
    registry = get_registry()
    clauses = []
    for name in registry.names("call"):
        states = registry.get(name).states_where(lambda s: s.accepting)
        if states:
            clauses.append(and_(_c.c.workflow == name, _c.c.state.in_(states)))
    return or_(*clauses) if clauses else false()


_LISTED = (
    _c.c.id,
    _c.c.title,
    _c.c.title_en,
    _c.c.category,
    _c.c.selection_mode,
    _c.c.support_modes,
    _c.c.eligibility,
    _c.c.opens_at,
    _c.c.closes_at,
    _c.c.workflow,
    _c.c.state,
    _c.c.max_applications_per_unit,
    _c.c.designated_unit_id,
    _c.c.project_workflow,
    _g.c.code.label("programme_code"),
    _g.c.name.label("programme_name"),
    _g.c.name_en.label("programme_name_en"),
    _g.c.implementation_plan,
)


@dataclass(frozen=True)
class CallSummary:
    """A call as an applicant reads it: its terms in words, both languages kept."""

    row: Any
    accepting: bool
    conditions: list[Text]  # the eligibility rules and the per-unit limit, as sentences
    designated_unit: str | None


def _summary(conn: Connection, row: Any) -> CallSummary:
    try:
        conditions = describe(parse_rules(row.eligibility)) if row.eligibility else []
    except RulesInvalid:
        conditions = []  # stored through create_call, which validated it; never shown broken
    designated = None
    if row.designated_unit_id is not None:
        designated = conn.execute(select(_o.c.name).where(_o.c.id == row.designated_unit_id)).scalar_one_or_none()
        name = designated or str(row.designated_unit_id)
        conditions.insert(0, Text(f"定向委托：仅限“{name}”申报", f"directed commission: only {name} may apply"))
    n = row.max_applications_per_unit
    conditions.append(Text(f"每个单位最多申报 {n} 项", f"at most {n} application(s) per unit"))
    registry = get_registry()
    accepting = row.workflow in registry and registry.get(row.workflow).state(row.state).accepting
    return CallSummary(row=row, accepting=accepting, conditions=conditions, designated_unit=designated)


def open_calls(conn: Connection, *, page: int = 1, size: int = 20) -> tuple[list[CallSummary], int]:
    """One page of the calls taking applications, soonest deadline first, and how many there are."""
    where = accepting_clause()
    total = int(conn.execute(select(func.count()).select_from(_c).where(where)).scalar_one())
    rows = conn.execute(
        select(*_LISTED)
        .select_from(_c.join(_g, _c.c.programme_id == _g.c.id))
        .where(where)
        .order_by(_c.c.closes_at.is_(None), _c.c.closes_at, _c.c.id)
        .offset((max(page, 1) - 1) * size)
        .limit(size)
    ).all()
    return [_summary(conn, r) for r in rows], total


def call_summary(conn: Connection, call_id: int) -> CallSummary:
    """A call's public terms. Only a call taking applications is public: any other is NotFound
    (a call being drafted is not disclosed before it is published and opened)."""
    row = conn.execute(
        select(*_LISTED)
        .select_from(_c.join(_g, _c.c.programme_id == _g.c.id))
        .where(_c.c.id == call_id, accepting_clause())
    ).one_or_none()
    if row is None:
        raise NotFound(
            Text(f"申报指南 {call_id} 不存在或未在受理申报", f"call {call_id} does not exist or is not open")
        )
    return _summary(conn, row)


def applicant_refusals(conn: Connection, *, call_id: int, actor: Actor, now: datetime) -> list[Text]:
    """Every eligibility condition of the call the actor's unit fails today, as the submission
    check would name them; empty when it meets them all (or the call sets none)."""
    if actor.organisation_id is None:
        return []
    found = load_for_applicant(conn, call_id=call_id, unit_id=actor.organisation_id, pi=actor.user_id)
    return [] if found is None else rule_problems(found[0], found[1], now)


def apply_to_call(conn: Connection, *, call_id: int, actor: Actor, title: str, now: datetime) -> int:
    """Start an application as the page and ``grantflow review apply`` do: refused with every
    eligibility reason first (a draft the unit could not submit is not started), then
    ``new_project`` with its own checks (the call accepts applications, the per-unit limit)."""
    if not may_apply(actor):
        raise Forbidden([APPLY_FORBIDDEN])
    cleaned = clean_line(title)
    if not cleaned:
        raise ApplicationRefused([TITLE_MISSING])
    if len(cleaned) > TITLE_MAX:
        raise ApplicationRefused([TITLE_TOO_LONG])
    refused = applicant_refusals(conn, call_id=call_id, actor=actor, now=now)
    if refused:
        raise ApplicationRefused(refused)
    return new_project(conn, call_id=call_id, actor=actor, title=title, now=now)


TITLE_MAX = 300  # projects.title
TITLE_MISSING = Text("请填写项目名称", "the project needs a title")
TITLE_TOO_LONG = Text(
    f"项目名称不能超过 {TITLE_MAX} 个字符", f"the project title may be at most {TITLE_MAX} characters"
)


@dataclass(frozen=True)
class OwnApplication:
    project_id: int
    code: str
    title: str
    state_label: Text


def unit_applications(conn: Connection, *, call_id: int, unit_id: int) -> list[OwnApplication]:
    """The unit's applications in the call that have not ended, so its people continue one instead
    of starting another (their unit's projects are theirs to see)."""
    registry = get_registry()
    rows = conn.execute(
        select(_p.c.id, _p.c.code, _p.c.title, _p.c.workflow, _p.c.state)
        .where(_p.c.call_id == call_id, _p.c.undertaking_unit_id == unit_id)
        .order_by(_p.c.id)
    ).all()
    out = []
    for r in rows:
        wf = registry.get(r.workflow) if r.workflow in registry else None
        if wf is not None and not wf.state(r.state).terminal:
            out.append(OwnApplication(r.id, r.code, r.title, wf.state_label(r.state)))
    return out
