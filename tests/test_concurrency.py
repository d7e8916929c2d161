"""Two sessions firing conflicting triggers on one project: exactly one wins, the other gets a
conflict, and the audit log has exactly one event. On SQLite and on PostgreSQL.

The interleaving is forced, not hoped for: both sessions ``plan`` (read and decide) before
either ``write``s, so both decided from the same version.
"""

from __future__ import annotations

import threading
from collections.abc import Callable
from datetime import datetime
from typing import Any

import pytest
from sqlalchemy import Engine, func, select

import grantflow.db.apply
from grantflow.db.apply import Transitioned, apply_trigger, fire, plan, write
from grantflow.db.audit import verify
from grantflow.db.models import AuditEvent, OutboxMessage
from grantflow.db.workflows import get_registry
from grantflow.states.errors import Conflict
from grantflow.states.permissions import acting_for_adjustment
from tests.conftest import People
from tests.factories import make_project, state_of


@pytest.fixture(params=["sqlite", pytest.param("postgres", marks=[pytest.mark.postgres, pytest.mark.slow])])
def db_engine(request: pytest.FixtureRequest) -> Engine:
    """The test's database on each backend."""
    return request.getfixturevalue("engine" if request.param == "sqlite" else "pg_engine")


def _events(engine: Engine, pid: int) -> list[str]:
    with engine.connect() as conn:
        return list(
            conn.execute(
                select(AuditEvent.action)
                .where(AuditEvent.subject == "project", AuditEvent.subject_id == pid)
                .order_by(AuditEvent.id)
            ).scalars()
        )


def _chain_ok(engine: Engine) -> None:
    with engine.connect() as conn:
        result = verify(conn)
    assert result.ok, result.problem


def test_second_writer_of_the_same_version_gets_a_conflict(db_engine: Engine, now: datetime):
    people = People(db_engine)
    pid = make_project(db_engine, people, now, state="in_execution")
    before = _events(db_engine, pid)
    office, leader = acting_for_adjustment(people["office"]), acting_for_adjustment(people["leader"])
    registry = get_registry()
    with db_engine.connect() as a, db_engine.connect() as b:
        facts_a, rule_a = plan(
            a,
            subject="project",
            subject_id=pid,
            trigger="suspend",
            actor=office,
            payload={"reason": "A"},
            now=now,
            registry=registry,
        )
        facts_b, rule_b = plan(
            b,
            subject="project",
            subject_id=pid,
            trigger="terminate",
            actor=leader,
            payload={"reason": "B"},
            now=now,
            registry=registry,
        )
        assert facts_a.version == facts_b.version
        won = write(a, facts=facts_a, rule=rule_a, actor=office, payload={"reason": "A"}, now=now)
        a.commit()
        with pytest.raises(Conflict):
            write(b, facts=facts_b, rule=rule_b, actor=leader, payload={"reason": "B"}, now=now)
        b.rollback()
    assert won.to_state == "suspended"
    assert state_of(db_engine, pid) == "suspended"
    assert _events(db_engine, pid) == [*before, "suspend"]
    with db_engine.connect() as conn:
        kinds = conn.execute(select(OutboxMessage.kind).where(OutboxMessage.subject_id == pid)).scalars()
        assert "project.terminate" not in set(kinds)
    _chain_ok(db_engine)


@pytest.mark.postgres
@pytest.mark.slow
def test_postgres_second_writer_waits_for_the_first_then_conflicts(pg_engine: Engine, now: datetime):
    """On PostgreSQL the loser's update waits on the winner's row lock, then finds the version moved."""
    people = People(pg_engine)
    pid = make_project(pg_engine, people, now, state="in_execution")
    before = _events(pg_engine, pid)
    office, leader = acting_for_adjustment(people["office"]), acting_for_adjustment(people["leader"])
    registry = get_registry()
    outcome: dict[str, Any] = {}
    with pg_engine.connect() as a, pg_engine.connect() as b:
        facts_a, rule_a = plan(
            a,
            subject="project",
            subject_id=pid,
            trigger="suspend",
            actor=office,
            payload={"reason": "A"},
            now=now,
            registry=registry,
        )
        facts_b, rule_b = plan(
            b,
            subject="project",
            subject_id=pid,
            trigger="terminate",
            actor=leader,
            payload={"reason": "B"},
            now=now,
            registry=registry,
        )
        write(a, facts=facts_a, rule=rule_a, actor=office, payload={"reason": "A"}, now=now)

        def loser() -> None:  # blocks on the row A updated until A commits
            try:
                write(b, facts=facts_b, rule=rule_b, actor=leader, payload={"reason": "B"}, now=now)
                outcome["b"] = "won"
            except Conflict:
                outcome["b"] = "conflict"
                b.rollback()

        thread = threading.Thread(target=loser)
        thread.start()
        a.commit()
        thread.join(timeout=60)
        assert not thread.is_alive()
    assert outcome["b"] == "conflict"
    assert state_of(pg_engine, pid) == "suspended"
    assert _events(pg_engine, pid) == [*before, "suspend"]
    _chain_ok(pg_engine)


def _race(engine: Engine, calls: list[Callable[[], Transitioned]], monkeypatch: pytest.MonkeyPatch) -> list[Any]:
    """Run the calls in threads that all plan, wait for each other, then all write."""
    barrier = threading.Barrier(len(calls), timeout=60)
    original = grantflow.db.apply.write

    def write_after_everyone_planned(*args: Any, **kwargs: Any) -> Transitioned:
        barrier.wait()
        return original(*args, **kwargs)

    monkeypatch.setattr(grantflow.db.apply, "write", write_after_everyone_planned)
    results: list[Any] = [None] * len(calls)

    def run(i: int) -> None:
        try:
            results[i] = calls[i]()
        except Exception as exc:
            results[i] = exc

    threads = [threading.Thread(target=run, args=(i,)) for i in range(len(calls))]
    for t in threads:
        t.start()
    for t in threads:
        t.join(timeout=120)
    assert not any(t.is_alive() for t in threads)
    return results


def test_threaded_race_on_one_project_has_one_winner(db_engine: Engine, now: datetime, monkeypatch: pytest.MonkeyPatch):
    people = People(db_engine)
    pid = make_project(db_engine, people, now, state="in_execution")
    before = _events(db_engine, pid)
    office, leader = acting_for_adjustment(people["office"]), acting_for_adjustment(people["leader"])
    calls: list[Callable[[], Transitioned]] = []
    for i in range(6):
        trigger, actor = ("suspend", office) if i % 2 else ("terminate", leader)
        calls.append(
            lambda trigger=trigger, actor=actor, i=i: fire(
                db_engine, subject_id=pid, trigger=trigger, actor=actor, payload={"reason": f"racer {i}"}, now=now
            )
        )
    results = _race(db_engine, calls, monkeypatch)
    winners = [r for r in results if isinstance(r, Transitioned)]
    losers = [r for r in results if not isinstance(r, Transitioned)]
    assert len(winners) == 1, results
    assert all(isinstance(r, Conflict) for r in losers), losers
    assert state_of(db_engine, pid) == winners[0].to_state
    assert _events(db_engine, pid) == [*before, winners[0].trigger]
    _chain_ok(db_engine)


def test_concurrent_writers_on_different_projects_keep_one_chain(
    db_engine: Engine, now: datetime, monkeypatch: pytest.MonkeyPatch
):
    """Everyone succeeds; the events get consecutive ids and one unbroken chain."""
    people = People(db_engine)
    call_id = None
    pids = []
    for _ in range(4):
        pid = make_project(db_engine, people, now, call_id=call_id, state="in_execution")
        if call_id is None:
            with db_engine.connect() as conn:
                from grantflow.db.models import Project

                call_id = conn.execute(select(Project.call_id).where(Project.id == pid)).scalar_one()
        pids.append(pid)
    with db_engine.connect() as conn:
        first_new = conn.execute(select(func.max(AuditEvent.id))).scalar_one() + 1
    office, reason = acting_for_adjustment(people["office"]), {"reason": "x"}
    calls = [
        lambda pid=pid: fire(db_engine, subject_id=pid, trigger="suspend", actor=office, payload=reason, now=now)
        for pid in pids
    ]
    results = _race(db_engine, calls, monkeypatch)
    assert all(isinstance(r, Transitioned) for r in results), results
    assert sorted(r.event_id for r in results) == list(range(first_new, first_new + len(pids)))
    assert all(state_of(db_engine, pid) == "suspended" for pid in pids)
    _chain_ok(db_engine)


@pytest.mark.postgres
@pytest.mark.slow
def test_postgres_writer_whose_head_read_went_stale_appends_after_the_other(
    pg_engine: Engine, now: datetime, monkeypatch: pytest.MonkeyPatch
):
    """Two projects in one audit chain: the second transition reads the chain's head with its
    update while the first is not yet committed, so its head is stale by the time it appends; it
    waits for the first, reads the head again and appends after it. Both succeed, one chain."""
    import grantflow.db.audit

    monkeypatch.setattr(grantflow.db.audit, "chain_of", lambda subject_id: 1)
    people = People(pg_engine)
    first, second = (make_project(pg_engine, people, now, state="in_execution") for _ in range(2))
    office = acting_for_adjustment(people["office"])
    outcome: dict[str, Any] = {}
    with pg_engine.connect() as a, pg_engine.connect() as b:
        won_a = apply_trigger(a, subject_id=first, trigger="suspend", actor=office, payload={"reason": "A"}, now=now)

        def second_writer() -> None:  # its append waits on the head row A moved, then finds it moved
            outcome["b"] = apply_trigger(
                b, subject_id=second, trigger="suspend", actor=office, payload={"reason": "B"}, now=now
            )
            b.commit()

        thread = threading.Thread(target=second_writer)
        thread.start()
        thread.join(timeout=1)
        assert thread.is_alive()  # waiting for A's head row
        a.commit()
        thread.join(timeout=60)
        assert not thread.is_alive()
    won_b = outcome["b"]
    assert isinstance(won_b, Transitioned) and won_b.event_id != won_a.event_id
    assert state_of(pg_engine, first) == state_of(pg_engine, second) == "suspended"
    with pg_engine.connect() as conn:
        places = conn.execute(
            select(AuditEvent.id, AuditEvent.seq).where(AuditEvent.id.in_([won_a.event_id, won_b.event_id]))
        ).all()
    seq = dict(places)
    assert seq[won_b.event_id] == seq[won_a.event_id] + 1
    _chain_ok(pg_engine)
