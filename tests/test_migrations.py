"""The migration chain runs both ways on both databases: an empty database is migrated up to
the head, down to nothing, and up again; and each revision undoes cleanly what it did."""

from __future__ import annotations

from collections.abc import Iterator
from datetime import datetime
from pathlib import Path

import pytest
from alembic.script import ScriptDirectory
from sqlalchemy import Engine, func, inspect, select

from grantflow.config import reset_settings
from grantflow.db.audit import verify
from grantflow.db.migrate import alembic_config, current_heads, downgrade, is_up_to_date, revisions, upgrade
from grantflow.db.models import Base, Programme
from grantflow.db.session import make_engine
from grantflow.services.bootstrap import init_database
from tests.conftest import People
from tests.factories import make_project, state_of

pytestmark = pytest.mark.both_databases

HEAD = ScriptDirectory.from_config(alembic_config()).get_current_head()  # one head: the chain is linear from here on


@pytest.fixture
def empty(
    database: str, tmp_path: Path, monkeypatch: pytest.MonkeyPatch, request: pytest.FixtureRequest
) -> Iterator[Engine]:
    """An engine on a database with no tables at all (a new SQLite file, a new PostgreSQL database)."""
    monkeypatch.setenv("GRANTFLOW_HOME", str(tmp_path / "home"))  # the audit key goes there
    reset_settings()
    if database == "postgresql":
        server = request.getfixturevalue("pg_server")
        name = server.create_database()
        engine = make_engine(server.url(name))
    else:
        engine = make_engine(f"sqlite:///{tmp_path / 'empty.db'}")
    try:
        assert inspect(engine).get_table_names() == []
        yield engine
    finally:
        engine.dispose()
        if database == "postgresql":
            server.drop_database(name)
        reset_settings()


def _tables(engine: Engine) -> set[str]:
    return set(inspect(engine).get_table_names()) - {"alembic_version"}


def test_the_chain_starts_at_0001_and_ends_at_the_head() -> None:
    chain = revisions()
    assert HEAD is not None
    assert chain[0] == "0001" and chain[-1] == HEAD
    assert len(chain) == len(set(chain))


def test_up_to_head_down_to_base_and_up_again_with_data(empty: Engine, now: datetime, database: str) -> None:
    upgrade(empty)
    assert current_heads(empty) == {HEAD}
    assert _tables(empty) == set(Base.metadata.tables)  # the migrations build what the models describe
    init_database(empty, demo=True)
    pid = make_project(empty, People(empty), now, state="in_execution")  # rows in most tables, audit events
    assert state_of(empty, pid) == "in_execution"

    downgrade(empty, "base")
    assert current_heads(empty) == set()
    assert _tables(empty) == set()  # nothing left behind: no table (nor, on PostgreSQL, type or sequence in the way)

    upgrade(empty)
    assert is_up_to_date(empty)
    init_database(empty, demo=True)
    with empty.connect() as conn:
        assert conn.execute(select(func.count()).select_from(Programme)).scalar_one() == 12
        assert verify(conn).ok
    assert state_of(empty, make_project(empty, People(empty), now, state="submitted")) == "submitted"
    if database == "sqlite":
        with empty.connect() as conn:  # the migration switched it off for its own work only
            assert conn.exec_driver_sql("PRAGMA foreign_keys").scalar_one() == 1


def _one_down(revision: str) -> str:
    """The target that undoes just ``revision``: its parent on its own branch (``rev@-1``), or for
    a merge one of its parents (the other branches stay where they are)."""
    parents = ScriptDirectory.from_config(alembic_config()).get_revision(revision).down_revision
    return parents[0] if isinstance(parents, tuple) else f"{revision}@-1"


def test_each_revision_undoes_what_it_did(empty: Engine) -> None:
    """A stairway: up one revision, down one, up again; a downgrade that leaves anything behind
    (a table, an index, a constraint) breaks the next upgrade."""
    for revision in revisions():
        upgrade(empty, revision)
        before, heads = _tables(empty), current_heads(empty)
        downgrade(empty, _one_down(revision))
        assert revision not in current_heads(empty)
        upgrade(empty, revision)
        assert (_tables(empty), current_heads(empty)) == (before, heads), revision
    assert current_heads(empty) == {HEAD}
    downgrade(empty, "base")
    assert _tables(empty) == set()
