"""The engine's statements run on the DBAPI cursor (db/prepared.py): what they store must read
back through SQLAlchemy exactly as if Core had written it, and they must live in the caller's
transaction (committed by its commit, gone with its rollback). On SQLite and on PostgreSQL."""

from __future__ import annotations

from datetime import datetime, timedelta

import pytest
from sqlalchemy import Engine, select

from grantflow.db.apply import apply_trigger, fire
from grantflow.db.models import AuditEvent, OutboxMessage, Project
from grantflow.states.permissions import acting_for_adjustment
from tests.conftest import People
from tests.factories import make_project, state_of


@pytest.fixture(params=["sqlite", pytest.param("postgres", marks=[pytest.mark.postgres, pytest.mark.slow])])
def db_engine(request: pytest.FixtureRequest) -> Engine:
    return request.getfixturevalue("engine" if request.param == "sqlite" else "pg_engine")


def test_written_values_read_back_as_core_wrote_them(db_engine: Engine, now: datetime):
    people = People(db_engine)
    pid = make_project(db_engine, people, now, state="in_execution")
    later = now + timedelta(hours=3, microseconds=123456)
    done = fire(
        db_engine,
        subject_id=pid,
        trigger="suspend",
        actor=acting_for_adjustment(people["office"]),
        payload={"reason": "核查 check"},
        now=later,
    )
    with db_engine.connect() as conn:
        project = conn.execute(select(Project).where(Project.id == pid)).one()
        event = conn.execute(select(AuditEvent).where(AuditEvent.id == done.event_id)).one()
        outbox = conn.execute(select(OutboxMessage).where(OutboxMessage.event_id == done.event_id)).one()
    assert (project.state, project.version, project.suspended_from) == ("suspended", done.version, "in_execution")
    assert project.state_entered_at == later and project.state_entered_at.tzinfo is not None
    assert event.created_at == later and event.payload == {"reason": "核查 check"}
    assert (event.actor_name, event.from_state, event.to_state) == (people["office"].name, "in_execution", "suspended")
    assert outbox.audiences == ["applicant", "organiser"]
    assert outbox.payload == {
        "from": "in_execution",
        "to": "suspended",
        "actor": people["office"].name,
        "reason": "核查 check",
    }
    assert outbox.next_attempt_at == later and outbox.created_at == later


def test_sqlite_stores_times_in_sqlalchemys_text_format(engine: Engine, people: People, now: datetime):
    pid = make_project(engine, people, now, state="in_execution")
    done = fire(
        engine,
        subject_id=pid,
        trigger="suspend",
        actor=acting_for_adjustment(people["office"]),
        payload={"reason": "x"},
        now=now,
    )
    with engine.connect() as conn:
        stored = conn.exec_driver_sql("SELECT created_at FROM audit_events WHERE id = ?", (done.event_id,)).scalar_one()
    assert stored == "2026-03-02 01:00:00.000000"


def test_apply_trigger_lives_in_the_callers_transaction(db_engine: Engine, now: datetime):
    people = People(db_engine)
    pid = make_project(db_engine, people, now, state="in_execution")
    office = acting_for_adjustment(people["office"])
    with db_engine.connect() as conn:  # nothing executed yet: the engine must begin the transaction
        apply_trigger(conn, subject_id=pid, trigger="suspend", actor=office, payload={"reason": "x"}, now=now)
        conn.rollback()
    assert state_of(db_engine, pid) == "in_execution"
    with db_engine.connect() as conn:
        apply_trigger(conn, subject_id=pid, trigger="suspend", actor=office, payload={"reason": "x"}, now=now)
        conn.commit()
    assert state_of(db_engine, pid) == "suspended"
