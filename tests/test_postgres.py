"""grantflow on PostgreSQL: migrations from empty, the whole lifecycle, the audit chain and its lock.

Each test runs on a fresh database of the session's own throwaway server (tests/pg.py),
selected the way a deployment selects it: ``GRANTFLOW_DATABASE_URL``.
"""

from __future__ import annotations

from datetime import datetime
from pathlib import Path

import psycopg
import pytest
from sqlalchemy import Engine, delete, func, inspect, select, text, update
from typer.testing import CliRunner

from grantflow.cli.main import app
from grantflow.config import reset_settings
from grantflow.db import audit
from grantflow.db.apply import fire
from grantflow.db.audit import verify
from grantflow.db.migrate import is_up_to_date, upgrade
from grantflow.db.models import AuditEvent, AuditHead, OutboxMessage, Programme
from grantflow.db.session import dispose_engines, make_engine
from grantflow.db.workflows import clear_cache
from grantflow.services.bootstrap import init_database
from grantflow.states.channels import CODE
from tests.conftest import People
from tests.factories import make_project, state_of
from tests.pg import PgServer

pytestmark = [pytest.mark.postgres, pytest.mark.slow]

runner = CliRunner()


def test_migrations_upgrade_an_empty_database(pg_server: PgServer, tmp_path: Path, monkeypatch: pytest.MonkeyPatch):
    monkeypatch.setenv("GRANTFLOW_HOME", str(tmp_path / "home"))  # the audit key goes there
    reset_settings()
    name = pg_server.create_database()
    engine = make_engine(pg_server.url(name))
    try:
        assert not is_up_to_date(engine)
        upgrade(engine)
        assert is_up_to_date(engine)
        tables = set(inspect(engine).get_table_names())
        assert {"projects", "calls", "programmes", "audit_events", "audit_head", "outbox", "users"} <= tables
        with engine.connect() as conn:
            heads = conn.execute(select(AuditHead.id, AuditHead.last_event_id, AuditHead.last_hash, AuditHead.last_seq))
            assert set(heads) == {(c, 0, audit.GENESIS, 0) for c in range(1, audit.CHAINS + 1)}
        first = init_database(engine, demo=True)
        again = init_database(engine, demo=True)
        assert first.added > 0 and again.added == 0
        with engine.connect() as conn:
            assert conn.execute(select(func.count()).select_from(Programme)).scalar_one() == 12
            assert verify(conn).ok
    finally:
        engine.dispose()
        pg_server.drop_database(name)
        reset_settings()


def test_a_project_is_driven_to_closed(pg_engine: Engine, now: datetime):
    people = People(pg_engine)
    pid = make_project(pg_engine, people, now, state="closed")
    assert state_of(pg_engine, pid) == "closed"
    with pg_engine.connect() as conn:
        result = verify(conn)
        actions = conn.execute(
            select(AuditEvent.action).where(AuditEvent.subject == "project", AuditEvent.subject_id == pid)
        ).scalars()
        assert result.ok and result.checked > 10
        assert "close" in set(actions)
        # times come back as aware UTC, as on SQLite
        created = conn.execute(select(AuditEvent.created_at).order_by(AuditEvent.id.desc()).limit(1)).scalar_one()
        assert created == now
        assert conn.execute(select(func.count()).select_from(OutboxMessage)).scalar_one() > 0


@pytest.fixture
def story(pg_engine: Engine, now: datetime) -> int:
    people = People(pg_engine)
    make_project(pg_engine, people, now, state="under_review")
    make_project(pg_engine, people, now, applicant="applicant2", state="returned")
    with pg_engine.connect() as conn:
        return int(conn.execute(select(func.max(AuditEvent.id))).scalar_one())


def _verify_cli() -> tuple[int, str]:
    result = runner.invoke(app, ["audit", "verify", "--lang", "en"])
    return result.exit_code, result.output


def test_audit_verify_names_an_edited_event(pg_engine: Engine, story: int):
    code, out = _verify_cli()
    assert code == 0 and f"audit chain intact: {story} events; 0 anchors match" in out
    target = story // 2
    with pg_engine.begin() as conn:
        conn.execute(update(AuditEvent).where(AuditEvent.id == target).values(actor_name="someone else"))
    code, out = _verify_cli()
    assert code == 1
    assert f"event {target} rewritten" in out


def test_audit_verify_names_a_deleted_event(pg_engine: Engine, story: int):
    target = story - 3
    with pg_engine.connect() as conn:
        chain, seq = conn.execute(select(AuditEvent.chain, AuditEvent.seq).where(AuditEvent.id == target)).one()
    with pg_engine.begin() as conn:
        # as a tamperer with superuser rights would: foreign keys (the outbox) not enforced
        conn.execute(text("SET LOCAL session_replication_role = replica"))
        conn.execute(delete(AuditEvent).where(AuditEvent.id == target))
    code, out = _verify_cli()
    assert code == 1
    assert f"at place {seq} of chain {chain} is missing (deleted)" in out or f"place {seq} of chain {chain}" in out


def test_appending_locks_its_chains_head_row_until_commit(pg_engine: Engine, pg_url: str, now: datetime):
    """One appender at a time per chain: the chain's head row stays locked from the append to the
    commit; another chain's head is free meanwhile."""
    dsn = pg_url.replace("postgresql+psycopg://", "postgresql://")
    with pg_engine.connect() as conn:
        audit.append(
            conn,
            subject="project",
            subject_id=1,
            actor_id=None,
            actor_name="test",
            action="note",
            from_state=None,
            to_state=None,
            payload={},
            now=now,
            channel=CODE,
        )
        mine, elsewhere = audit.chain_of(1), audit.chain_of(2)
        with psycopg.connect(dsn) as other:
            with pytest.raises(psycopg.errors.LockNotAvailable):
                other.execute("SELECT last_seq FROM audit_head WHERE id = %s FOR UPDATE NOWAIT", (mine,))
            other.rollback()
            assert other.execute(
                "SELECT last_seq FROM audit_head WHERE id = %s FOR UPDATE NOWAIT", (elsewhere,)
            ).fetchone() == (0,)
        conn.commit()
    with psycopg.connect(dsn) as other:
        sql = "SELECT last_seq FROM audit_head WHERE id = %s FOR UPDATE NOWAIT"
        assert other.execute(sql, (mine,)).fetchone() == (1,)


def test_fire_raises_domain_errors_on_postgres(pg_engine: Engine, now: datetime):
    from grantflow.states.errors import InvalidTrigger

    people = People(pg_engine)
    pid = make_project(pg_engine, people, now, state="in_execution")
    with pytest.raises(InvalidTrigger) as refused:
        fire(pg_engine, subject_id=pid, trigger="close", actor=people["office"], now=now)
    assert refused.value.state == "in_execution"
    with pg_engine.connect() as conn:
        assert verify(conn).ok


def test_cli_init_demo_and_verify_on_postgres(pg_server: PgServer, tmp_path: Path, monkeypatch: pytest.MonkeyPatch):
    """The deployment path: only GRANTFLOW_DATABASE_URL says PostgreSQL; the CLI migrates an empty database."""
    name = pg_server.create_database()
    monkeypatch.setenv("GRANTFLOW_HOME", str(tmp_path / "home"))
    monkeypatch.setenv("GRANTFLOW_DATABASE_URL", pg_server.url(name))
    monkeypatch.delenv("GRANTFLOW_CONFIG", raising=False)
    monkeypatch.delenv("GRANTFLOW_WORKFLOWS_DIR", raising=False)
    reset_settings()
    clear_cache()
    try:
        init = runner.invoke(app, ["init", "--demo"])
        assert init.exit_code == 0, init.output
        assert "postgresql+psycopg" in init.output
        demo = runner.invoke(app, ["--lang", "en", "demo"])
        assert demo.exit_code == 0, demo.output
        assert "closed" in demo.output
        check = runner.invoke(app, ["audit", "verify", "--lang", "en"])
        assert check.exit_code == 0 and "audit chain intact" in check.output
    finally:
        dispose_engines()
        reset_settings()
        clear_cache()
        pg_server.drop_database(name)
