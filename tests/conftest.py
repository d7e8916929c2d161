"""Shared fixtures: a real SQLite database file per test, demo people, a fixed clock (``now``,
and ``clock`` to stop the process clock at the same moment for the CLI and the web).

The schema is migrated once per session into a template file (Alembic, exactly as
`grantflow init --demo` does); each test gets its own copy, so tests never share rows.
"""

from __future__ import annotations

import shutil
from collections.abc import Iterator
from datetime import UTC, datetime
from pathlib import Path
from typing import ClassVar

import pytest
from sqlalchemy import Engine

from grantflow.clock import SimulatedClock, use_clock
from grantflow.config import reset_settings
from grantflow.db.session import dispose_engines, get_engine, make_engine
from grantflow.db.workflows import clear_cache
from grantflow.services.actors import actor_for
from grantflow.services.bootstrap import init_database
from grantflow.states.permissions import Actor
from tests.pg import pg_engine, pg_server, pg_template, pg_url  # noqa: F401 - PostgreSQL fixtures (tests/pg.py)

T0 = datetime(2026, 3, 2, 1, 0, tzinfo=UTC)
"""The tests' fixed 'now': a Monday morning in Beijing (09:00 +08:00)."""


@pytest.fixture(scope="session")
def template_db(tmp_path_factory: pytest.TempPathFactory) -> Path:
    path = tmp_path_factory.mktemp("template") / "grantflow.db"
    engine = make_engine(f"sqlite:///{path}")
    with pytest.MonkeyPatch.context() as mp:  # its audit key goes beside it, never to ~/.grantflow
        mp.setenv("GRANTFLOW_HOME", str(path.parent))
        reset_settings()
        init_database(engine, demo=True)
    reset_settings()
    with engine.connect() as conn:
        conn.exec_driver_sql("PRAGMA wal_checkpoint(TRUNCATE)")
    engine.dispose()
    return path


@pytest.fixture
def home(tmp_path: Path, monkeypatch: pytest.MonkeyPatch, template_db: Path) -> Iterator[Path]:
    """GRANTFLOW_HOME for this test, holding a migrated, demo-seeded database file."""
    home = tmp_path / "home"
    home.mkdir()
    shutil.copy(template_db, home / "grantflow.db")
    monkeypatch.setenv("GRANTFLOW_HOME", str(home))
    monkeypatch.delenv("GRANTFLOW_DATABASE_URL", raising=False)
    monkeypatch.delenv("GRANTFLOW_WORKFLOWS_DIR", raising=False)
    monkeypatch.delenv("GRANTFLOW_CONFIG", raising=False)
    reset_settings()
    clear_cache()
    yield home
    dispose_engines()
    reset_settings()
    clear_cache()


@pytest.fixture
def engine(home: Path) -> Engine:
    return get_engine()


@pytest.fixture
def now() -> datetime:
    return T0


@pytest.fixture
def clock() -> Iterator[SimulatedClock]:
    """The process clock stopped at ``T0`` for this test (CLI commands and routes read it);
    move it with ``clock.set(moment)`` or ``clock.advance(days=1)``."""
    with use_clock(SimulatedClock(T0)) as installed:
        assert isinstance(installed, SimulatedClock)
        yield installed


class People:
    """The demo people as actors, by e-mail or by a short name."""

    SHORT: ClassVar[dict[str, str]] = {
        "leader": "leader@kw.example.cn",
        "office": "office@kw.example.cn",
        "clerk": "clerk@kw.example.cn",
        "organiser": "organiser@jxw.example.cn",
        "other_organiser": "organiser@hbj.example.cn",
        "applicant": "pi@jinghua.example.com",
        "applicant2": "pi@yanyuan.example.edu",
        "applicant3": "pi@cies.example.cn",
        "expert1": "expert1@yanyuan.example.edu",
        "expert2": "expert2@cies.example.cn",
        "expert3": "expert3@qingyuan.example.cn",
        "expert4": "expert4@jinghua.example.com",
        "evaluator": "evaluator@qingyuan.example.cn",
    }

    def __init__(self, engine: Engine) -> None:
        self._engine = engine
        self._cache: dict[str, Actor] = {}

    def __getitem__(self, key: str) -> Actor:
        email = self.SHORT.get(key, key)
        if email not in self._cache:
            with self._engine.connect() as conn:
                self._cache[email] = actor_for(conn, email=email)
        return self._cache[email]


@pytest.fixture
def people(engine: Engine) -> People:
    return People(engine)
