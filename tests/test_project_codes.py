"""Project codes come from a counter row per programme and year: sequential, never shared, safe
when two applications are created at the same moment (PostgreSQL), seeded from existing codes."""

from __future__ import annotations

import threading
import time
from datetime import UTC, datetime
from pathlib import Path
from typing import Any

import pytest
from sqlalchemy import Connection, Engine, insert, select, text

import grantflow.services.records
from grantflow.db.migrate import upgrade
from grantflow.db.models import CodeCounter, Organisation, Programme, Project, table
from grantflow.db.session import make_engine
from grantflow.services.calls import new_project
from grantflow.services.records import next_project_code
from tests.conftest import People
from tests.factories import make_project
from tests.test_review_helpers import call


def _code(engine: Engine, pid: int) -> str:
    with engine.connect() as conn:
        return str(conn.execute(select(Project.code).where(Project.id == pid)).scalar_one())


def test_codes_count_per_programme_and_year_and_skip_a_code_already_taken(
    engine: Engine, people: People, now: datetime
) -> None:
    first = make_project(engine, people, now)
    second = make_project(engine, people, now, applicant="applicant2")
    assert (_code(engine, first), _code(engine, second)) == ("ZX07-2026-00001", "ZX07-2026-00002")
    with engine.begin() as conn:
        conn.execute(
            table(Project).update().where(table(Project).c.id == second).values(code="ZX07-2026-00003")
        )  # as an import might have written it
        assert next_project_code(conn, programme_code=7, year=2026) == "ZX07-2026-00004"
        assert next_project_code(conn, programme_code=7, year=2027) == "ZX07-2027-00001"
        assert next_project_code(conn, programme_code=3, year=2026) == "ZX03-2026-00001"
        conn.rollback()  # numbers taken in a rolled-back transaction are given back
    with engine.begin() as conn:
        assert next_project_code(conn, programme_code=7, year=2027) == "ZX07-2027-00001"


def _waiting_on_a_lock(engine: Engine, backend: int) -> bool:
    with engine.connect() as conn:
        wait = conn.execute(
            text("SELECT wait_event_type FROM pg_stat_activity WHERE pid = :pid"), {"pid": backend}
        ).scalar_one_or_none()
    return wait == "Lock"


@pytest.mark.postgres
@pytest.mark.slow
def test_two_concurrent_applications_on_postgres_both_get_distinct_codes(
    pg_engine: Engine, now: datetime, monkeypatch: pytest.MonkeyPatch
) -> None:
    """Forced interleaving: each creator, holding its code, waits before inserting the project until
    the other holds one too, or is waiting on a lock for it (then only one can go first)."""
    people = People(pg_engine)
    call_id = call(pg_engine, people, now)
    names = ("applicant", "applicant2")
    backends: dict[str, int] = {}
    arrived: set[str] = set()
    ready = threading.Barrier(2, timeout=60)
    original = grantflow.services.records.create

    def create_when_both_have_codes(conn: Connection, **kwargs: Any) -> int:
        me = threading.current_thread().name
        other = next(n for n in names if n != me)
        arrived.add(me)
        give_up = time.monotonic() + 60
        while other not in arrived and not _waiting_on_a_lock(pg_engine, backends[other]):
            assert time.monotonic() < give_up, "the other creator neither took a code nor waited for one"
            time.sleep(0.01)
        return original(conn, **kwargs)

    monkeypatch.setattr(grantflow.services.records, "create", create_when_both_have_codes)
    results: dict[str, Any] = {}

    def apply(who: str) -> None:
        try:
            with pg_engine.connect() as conn:
                backends[who] = int(conn.execute(text("SELECT pg_backend_pid()")).scalar_one())
                conn.commit()
                ready.wait()
                results[who] = new_project(conn, call_id=call_id, actor=people[who], title=f"{who} 的项目", now=now)
                conn.commit()
        except Exception as exc:
            results[who] = exc

    threads = [threading.Thread(target=apply, args=(n,), name=n) for n in names]
    for t in threads:
        t.start()
    for t in threads:
        t.join(timeout=120)
    assert not any(t.is_alive() for t in threads)
    assert all(isinstance(results[n], int) for n in names), results
    codes = {_code(pg_engine, results[n]) for n in names}
    assert codes == {"ZX07-2026-00001", "ZX07-2026-00002"}


def test_upgrading_seeds_the_counters_from_the_codes_already_given(tmp_path: Path) -> None:
    engine = make_engine(f"sqlite:///{tmp_path / 'old.db'}")
    try:
        upgrade(engine, "0004")  # a database from before the counters
        moment = datetime(2026, 1, 5, tzinfo=UTC)
        with engine.begin() as conn:
            org = conn.execute(
                insert(table(Organisation)).returning(table(Organisation).c.id),
                {"name": "单位", "kind": "undertaking_unit", "email_domains": [], "created_at": moment},
            ).scalar_one()
            programme = conn.execute(
                insert(table(Programme)).returning(table(Programme).c.id),
                {
                    "code": 7,
                    "name": "专项",
                    "name_en": "programme",
                    "programme_class": 2,
                    "workflow": "programme",
                    "state": "launched",
                    "version": 1,
                    "state_entered_at": moment,
                    "created_at": moment,
                },
            ).scalar_one()
            for code in ("ZX07-2026-00005", "ZX07-2026-00012", "ZX03-2026-00013", "ZX07-2025-00002", "导入-1"):
                conn.execute(
                    insert(table(Project)),
                    {
                        "code": code,
                        "title": code,
                        "programme_id": programme,
                        "undertaking_unit_id": org,
                        "category": "supported",
                        "selection_mode": "merit",
                        "workflow": "standard",
                        "state": "draft",
                        "version": 1,
                        "state_entered_at": moment,
                        "created_at": moment,
                    },
                )
        upgrade(engine)
        with engine.begin() as conn:
            counters = dict(conn.execute(select(CodeCounter.scope, CodeCounter.value)).tuples().all())
            assert counters == {"project:03:2026": 13, "project:07:2025": 2, "project:07:2026": 12}
            assert next_project_code(conn, programme_code=7, year=2026) == "ZX07-2026-00013"
    finally:
        engine.dispose()
