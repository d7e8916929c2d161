"""Every row of every project workflow, through the engine on a real database file:
allowed from its source state, refused from every other state, refused for the wrong person."""

from __future__ import annotations

from datetime import datetime

import pytest
from sqlalchemy import Engine, func, select

from grantflow.db.apply import fire
from grantflow.db.models import AuditEvent, OutboxMessage
from grantflow.db.workflows import SHIPPED, read_documents
from grantflow.states.errors import Forbidden, InvalidTrigger
from grantflow.states.facts import StaticFacts
from grantflow.states.permissions import Actor, acting_for_adjustment
from grantflow.states.workflow import Registry, TransitionDef, registry_from_documents
from tests.conftest import People
from tests.factories import actor_for_rule, make_project, satisfy, state_of

PROJECT_WORKFLOWS = ["standard", "short", "concept"]


def _shipped() -> Registry:
    """The registry as shipped (no configured variants), built at import for parametrisation."""
    return registry_from_documents(read_documents(SHIPPED))


SHIPPED_REGISTRY = _shipped()
ROWS = [(name, row) for name in PROJECT_WORKFLOWS for row in SHIPPED_REGISTRY.get(name).transitions]
IDS = [f"{wf}:{r.trigger}:{r.source}->{r.dest}" for wf, r in ROWS]


def _events(engine: Engine) -> int:
    with engine.connect() as conn:
        return int(conn.execute(select(func.count()).select_from(AuditEvent)).scalar_one())


def _project_in(engine: Engine, people: People, now: datetime, workflow: str, state: str) -> int:
    """A project in ``state``; a resume row needs it suspended from that row's destination."""
    return make_project(engine, people, now, workflow=workflow, state=state)


def _prepare(engine: Engine, people: People, now: datetime, workflow: str, row: TransitionDef) -> int:
    if row.trigger == "resume":
        pid = make_project(engine, people, now, workflow=workflow, state=row.dest)
        fire(
            engine,
            subject_id=pid,
            trigger="suspend",
            actor=acting_for_adjustment(people["office"]),
            payload={"reason": "调整"},
            now=now,
        )
        return pid
    return _project_in(engine, people, now, workflow, row.source)


@pytest.mark.both_databases  # every row's guard, effects, audit event and outbox row, on PostgreSQL too
@pytest.mark.parametrize(("workflow", "row"), ROWS, ids=IDS)
def test_row_fires_from_its_source(engine: Engine, people: People, now: datetime, workflow: str, row: TransitionDef):
    pid = _prepare(engine, people, now, workflow, row)
    assert state_of(engine, pid) == row.source
    satisfy(engine, people, pid, row, now)
    before = _events(engine)
    result = fire(
        engine,
        subject_id=pid,
        trigger=row.trigger,
        actor=actor_for_rule(people, row),
        payload={k: "理由" for k in row.requires},
        now=now,
    )
    assert (result.from_state, result.to_state) == (row.source, row.dest)
    assert state_of(engine, pid) == row.dest
    assert _events(engine) == before + 1
    with engine.connect() as conn:
        event = conn.execute(select(AuditEvent).where(AuditEvent.id == result.event_id)).one()
        outbox = conn.execute(select(OutboxMessage).where(OutboxMessage.event_id == result.event_id)).all()
    assert (event.action, event.from_state, event.to_state) == (row.trigger, row.source, row.dest)
    assert len(outbox) == (1 if row.notify else 0)
    if row.notify:
        assert outbox[0].audiences == list(row.notify)


@pytest.mark.parametrize(("workflow", "row"), ROWS, ids=IDS)
def test_row_refused_from_every_other_state(workflow: str, row: TransitionDef, now: datetime):
    """Pure: the table answers for every state, and the error names the state and what is allowed."""
    wf = SHIPPED_REGISTRY.get(workflow)
    sources = {t.source for t in wf.transitions if t.trigger == row.trigger}
    office = Actor(1, 1, frozenset({"office", "leadership_group", "organising_unit", "applicant", "evaluator"}))
    for state in wf.states:
        if state in sources:
            continue
        facts = StaticFacts(state=state, workflow=workflow, undertaking_unit_id=1, organising_unit_id=1)
        with pytest.raises(InvalidTrigger) as caught:
            wf.decide(facts=facts, actor=office, trigger=row.trigger, payload={"reason": "x"}, now=now)
        assert caught.value.state == state
        assert caught.value.allowed == wf.triggers_from(state)
        assert state in caught.value.message.en
        assert wf.states[state].label.zh in caught.value.message.zh


def _wrong_people(people: People, row: TransitionDef) -> list[Actor]:
    """People the row must refuse: every demo role the row does not name, and the right role
    in the wrong organisation."""
    wrong = []
    if "applicant" in row.who:
        wrong.append(people["applicant2"])  # an applicant, but of another unit
    else:
        wrong.append(people["applicant"])
    if "organiser" in row.who:
        wrong.append(people["other_organiser"])  # organising unit of another programme
    else:
        wrong.append(people["organiser"])
    if "office" not in row.who:
        wrong.append(people["office"])
    if "leadership" not in row.who:
        wrong.append(people["leader"])
    if "evaluator" not in row.who:
        wrong.append(people["evaluator"])
    wrong.append(people["expert1"])  # reviewers fire no lifecycle trigger
    return wrong


# SQLite only: a refusal is decided before anything is written, on facts the row above
# already reads on both databases; doubling these 123 would add PostgreSQL time and no coverage
@pytest.mark.parametrize(("workflow", "row"), ROWS, ids=IDS)
def test_row_refused_for_the_wrong_person(
    engine: Engine, people: People, now: datetime, workflow: str, row: TransitionDef
):
    pid = _prepare(engine, people, now, workflow, row)
    satisfy(engine, people, pid, row, now)
    before = _events(engine)
    for actor in _wrong_people(people, row):
        with pytest.raises(Forbidden) as caught:
            fire(engine, subject_id=pid, trigger=row.trigger, actor=actor, payload={"reason": "理由"}, now=now)
        assert caught.value.message.zh.startswith("无权执行此操作")
    assert state_of(engine, pid) == row.source
    assert _events(engine) == before


@pytest.mark.both_databases
def test_invalid_trigger_through_the_engine_names_state_and_allowed(engine: Engine, people: People, now: datetime):
    pid = make_project(engine, people, now, state="submitted")
    with pytest.raises(InvalidTrigger) as caught:
        fire(engine, subject_id=pid, trigger="approve", actor=people["office"], now=now)
    err = caught.value
    assert err.state == "submitted"
    assert err.allowed == ["return_for_correction", "accept_formal", "withdraw"]
    assert "已提交，待形式审查" in err.message.zh and "accept_formal" in err.message.zh
    assert "Allowed from here: return_for_correction" in err.message.en
