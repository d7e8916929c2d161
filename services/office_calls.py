"""The call desk of the office and the organising units: the calls they manage, one call with
the buttons its workflow table offers this person, and firing those buttons.

Creating a call is ``services.calls.create_call`` (the same function as ``grantflow review
call-create``); a call's state moves only through ``db.apply`` (as ``grantflow fire --subject
call``). Who sees what is asked of ``states`` (``selection.may_run_calls``,
``review_rules.may_manage``); which buttons exist and whether they are pressable, of the call's
workflow table (``Workflow.available``).
"""

from __future__ import annotations

from dataclasses import dataclass
from datetime import datetime
from typing import Any

from sqlalchemy import ColumnElement, Connection, and_, func, select

from grantflow.db.apply import Transitioned, apply_trigger
from grantflow.db.facts import load_facts
from grantflow.db.models import Call, Organisation, Programme, table
from grantflow.db.workflows import get_registry
from grantflow.services.queries import HistoryEntry, history
from grantflow.services.tenders import tender_status
from grantflow.states.eligibility import describe, parse_rules
from grantflow.states.errors import Forbidden, NotFound
from grantflow.states.permissions import Actor
from grantflow.states.review_rules import MANAGE_FORBIDDEN, may_manage
from grantflow.states.selection import CALLS_FORBIDDEN, may_run_calls
from grantflow.states.text import Text
from grantflow.states.workflow import Availability, Workflow

_c = table(Call)
_g = table(Programme)
_o = table(Organisation)

PER_PAGE = 20
SORTS = ("closes_asc", "closes_desc")


def require_desk(actor: Actor) -> None:
    if not may_run_calls(actor):
        raise Forbidden([CALLS_FORBIDDEN])


@dataclass(frozen=True)
class ProgrammeChoice:
    id: int
    code: int
    name: Text


def programmes_for(conn: Connection, actor: Actor) -> list[ProgrammeChoice]:
    """The programmes this person may open calls in (the office: all; a unit: those it organises)."""
    require_desk(actor)
    rows = conn.execute(
        select(_g.c.id, _g.c.code, _g.c.name, _g.c.name_en, _g.c.organising_unit_id).order_by(_g.c.code)
    )
    return [
        ProgrammeChoice(r.id, r.code, Text(r.name, r.name_en or r.name))
        for r in rows
        if may_manage(actor, r.organising_unit_id)
    ]


@dataclass(frozen=True)
class StateChoice:
    name: str
    label: Text


def state_choices() -> list[StateChoice]:
    """Every state a call can be in, named as its table names it (the filter's options)."""
    seen: dict[str, StateChoice] = {}
    registry = get_registry()
    for name in registry.names("call"):
        wf = registry.get(name)
        for s in wf.states.values():
            seen.setdefault(s.name, StateChoice(s.name, s.label))
    return list(seen.values())


@dataclass(frozen=True)
class CallRow:
    id: int
    title: Text
    programme: Text
    category: str
    selection_mode: str
    state_label: Text
    opens_at: datetime | None
    closes_at: datetime | None


@dataclass(frozen=True)
class CallPage:
    rows: list[CallRow]
    total: int
    page: int
    pages: int


def list_calls(
    conn: Connection,
    *,
    actor: Actor,
    programme_id: int | None = None,
    state: str | None = None,
    sort: str = "closes_asc",
    page: int = 1,
    per_page: int = PER_PAGE,
) -> CallPage:
    """The calls this person manages, filtered and sorted by closing date, one page of them."""
    require_desk(actor)
    managed = [p.id for p in programmes_for(conn, actor)]
    where: list[ColumnElement[bool]] = [_c.c.programme_id.in_(managed)]
    if programme_id is not None:
        where.append(_c.c.programme_id == programme_id)
    if state:
        where.append(_c.c.state == state)
    total = int(conn.execute(select(func.count()).select_from(_c).where(and_(*where))).scalar_one())
    pages = max(1, -(-total // per_page))
    page = min(max(page, 1), pages)
    closes = _c.c.closes_at.desc() if sort == "closes_desc" else _c.c.closes_at.asc()
    rows = conn.execute(
        select(_c, _g.c.name.label("g_name"), _g.c.name_en.label("g_name_en"))
        .select_from(_c.join(_g, _c.c.programme_id == _g.c.id))
        .where(and_(*where))
        .order_by(_c.c.closes_at.is_(None), closes, _c.c.id)
        .limit(per_page)
        .offset((page - 1) * per_page)
    ).all()
    registry = get_registry()
    return CallPage(
        [
            CallRow(
                r.id,
                Text(r.title, r.title_en or r.title),
                Text(r.g_name, r.g_name_en or r.g_name),
                r.category,
                r.selection_mode,
                registry.get(r.workflow).state_label(r.state),
                r.opens_at,
                r.closes_at,
            )
            for r in rows
        ],
        total,
        page,
        pages,
    )


@dataclass(frozen=True)
class CallDesk:
    call: Any
    programme: Text
    designated_unit: Text | None
    workflow: Workflow
    buttons: list[Availability]
    rules: list[Text]
    tender: tuple[datetime, datetime | None] | None
    events: list[HistoryEntry]


def _call_row(conn: Connection, call_id: int) -> Any:
    row = conn.execute(
        select(_c, _g.c.name.label("g_name"), _g.c.name_en.label("g_name_en"), _g.c.organising_unit_id)
        .select_from(_c.join(_g, _c.c.programme_id == _g.c.id))
        .where(_c.c.id == call_id)
    ).one_or_none()
    if row is None:
        raise NotFound(Text(f"申报指南 {call_id} 不存在", f"call {call_id} does not exist"))
    return row


def require_call_manager(conn: Connection, *, call_id: int, actor: Actor) -> None:
    """Refused (404 if no such call, 403 if not theirs) before anything on a call's desk is tried."""
    if not may_manage(actor, _call_row(conn, call_id).organising_unit_id):
        raise Forbidden([MANAGE_FORBIDDEN])


def call_desk(conn: Connection, *, call_id: int, actor: Actor, now: datetime) -> CallDesk:
    """One call as its managers see it, with the buttons its table offers this person: the ones
    they may press now, and, disabled with the reason, the ones they may press later (a guard
    waits); never the ones the table gives only to others."""
    row = _call_row(conn, call_id)
    if not may_manage(actor, row.organising_unit_id):
        raise Forbidden([MANAGE_FORBIDDEN])
    wf = get_registry().get(row.workflow)
    facts = load_facts(conn, "call", call_id)
    buttons = [b for b in wf.available(facts=facts, actor=actor, now=now) if b.permitted]
    unit = None
    if row.designated_unit_id is not None:
        o = conn.execute(select(_o.c.name, _o.c.name_en).where(_o.c.id == row.designated_unit_id)).one_or_none()
        unit = Text(o.name, o.name_en or o.name) if o is not None else None
    rules = describe(parse_rules(row.eligibility)) if row.eligibility else []
    return CallDesk(
        call=row,
        programme=Text(row.g_name, row.g_name_en or row.g_name),
        designated_unit=unit,
        workflow=wf,
        buttons=buttons,
        rules=rules,
        tender=tender_status(conn, call_id=call_id),
        events=history(conn, "call", call_id, viewer=actor),
    )


def fire_call(
    conn: Connection, *, call_id: int, trigger: str, actor: Actor, now: datetime, reason: str | None = None
) -> Transitioned:
    """Press one of the call's buttons: the engine decides (who, guards, required reason)."""
    require_call_manager(conn, call_id=call_id, actor=actor)
    payload = {"reason": reason.strip()} if reason and reason.strip() else {}
    return apply_trigger(
        conn, subject="call", subject_id=call_id, trigger=trigger, actor=actor, payload=payload, now=now
    )
