"""Creating a call for proposals as its selection mode and category allow (DESIGN rules 3 and 4).

``create_call`` checks the plan with ``states.selection.call_problems`` (every problem at
once), stores the call through ``db.apply.create`` and, for a public tender, sets up the
sealing of its bids (``db.bids.set_up_tender``).
"""

from __future__ import annotations

from collections.abc import Mapping
from datetime import datetime
from typing import Any

from sqlalchemy import Connection, select

from grantflow.db.apply import create
from grantflow.db.models import Call, Organisation, Programme, table
from grantflow.services.records import create_project, next_project_code
from grantflow.services.tenders import set_up_tender
from grantflow.states.enums import Role, SelectionMode
from grantflow.states.errors import Forbidden, PayloadInvalid
from grantflow.states.permissions import Actor
from grantflow.states.review_rules import MANAGE_FORBIDDEN, may_manage
from grantflow.states.selection import CallPlan, call_problems
from grantflow.states.text import Text, clean_line, join

_o = table(Organisation)
_g = table(Programme)


class CallInvalid(PayloadInvalid):
    code = "call_invalid"

    def __init__(self, problems: list[Text]) -> None:
        body = join(problems)
        super().__init__(
            Text("申报指南设置有误：" + body.zh, "The call is not valid: " + body.en),
            details={"problems": [p.as_dict() for p in problems]},
        )
        self.problems = problems


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
        quorum=int(values.get("quorum", 3)),
        eligibility=values.get("eligibility") or {},
        opens_at=values.get("opens_at"),
        closes_at=values.get("closes_at"),
        bids_open_at=bids_open_at,
    )


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
    problems = call_problems(plan_from(conn, values, bids_open_at))
    if problems:
        raise CallInvalid(problems)
    cleaned = {**values, "title": clean_line(values["title"])} if isinstance(values.get("title"), str) else values
    call_id = create(conn, subject="call", values=dict(cleaned), actor=actor, now=now)
    if values.get("selection_mode") == SelectionMode.TENDER and bids_open_at is not None:
        set_up_tender(conn, call_id=call_id, bids_open_at=bids_open_at)
    return call_id


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

    Anyone of an undertaking unit may draft; eligibility (including a directed call's
    designated unit) is checked when the draft is submitted, where every reason is shown.
    """
    c = table(Call)
    row = conn.execute(
        select(c.c.programme_id, c.c.category, c.c.selection_mode, c.c.project_workflow, _g.c.code)
        .select_from(c.join(_g, c.c.programme_id == _g.c.id))
        .where(c.c.id == call_id)
    ).one_or_none()
    if row is None:
        raise PayloadInvalid(Text(f"申报指南 {call_id} 不存在", f"call {call_id} does not exist"))
    if actor.organisation_id is None or not actor.has(Role.APPLICANT):
        raise Forbidden([Text("只有承担单位的申报人可以申报", "only an applicant of an undertaking unit may apply")])
    return create_project(
        conn,
        actor=actor,
        now=now,
        values={
            "code": next_project_code(conn, programme_code=row.code, year=now.year),
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
