"""Shared fixtures: a real database per test, demo people, a fixed clock (``now``, and
``clock`` to stop the process clock at the same moment for the CLI and the web).

The schema is migrated once per session into a template (Alembic, exactly as
`grantflow init --demo` does); each test gets its own copy, so tests never share rows.

Which database: SQLite (a file in the test's GRANTFLOW_HOME) unless the test asks for both.
A module (``pytestmark = pytest.mark.both_databases``) or a test marked ``both_databases``
runs every test that uses ``home``/``engine`` twice, ``[sqlite]`` and ``[postgresql]``; the
PostgreSQL copy is a fresh database of the session's throwaway server (tests/pg.py), chosen
the way a deployment chooses it: ``GRANTFLOW_DATABASE_URL``. ``--databases=sqlite,postgresql``
(or ``postgresql``) does the same for every selected test without editing it.
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

DATABASES = ("sqlite", "postgresql")

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


def pytest_addoption(parser: pytest.Parser) -> None:
    parser.addoption(
        "--databases",
        default=None,
        help="comma-separated databases (sqlite, postgresql) every test using `home`/`engine` runs on; "
        "default: sqlite, or both for tests marked both_databases",
    )


def _database_param(name: str) -> object:
    # the PostgreSQL copy needs the server, so `-m "not postgres"` leaves it out as it does tests/test_postgres.py
    return pytest.param(name, marks=[pytest.mark.postgres, pytest.mark.slow]) if name == "postgresql" else name


def pytest_generate_tests(metafunc: pytest.Metafunc) -> None:
    if "database" not in metafunc.fixturenames:
        return
    chosen = metafunc.config.getoption("--databases")
    if chosen:
        names = [n.strip() for n in str(chosen).split(",") if n.strip()]
        unknown = set(names) - set(DATABASES)
        if unknown:
            raise pytest.UsageError(f"--databases: unknown {sorted(unknown)}; choose from {', '.join(DATABASES)}")
    elif metafunc.definition.get_closest_marker("both_databases") is not None:
        names = list(DATABASES)
    else:
        return
    metafunc.parametrize("database", [_database_param(n) for n in names], indirect=True)


@pytest.fixture
def database(request: pytest.FixtureRequest) -> str:
    """``sqlite`` or ``postgresql``: which database this test's ``home``/``engine`` stores in."""
    return str(getattr(request, "param", "sqlite"))


@pytest.fixture
def home(
    tmp_path: Path, monkeypatch: pytest.MonkeyPatch, request: pytest.FixtureRequest, database: str
) -> Iterator[Path]:
    """GRANTFLOW_HOME for this test; its database is a migrated, demo-seeded copy of the template:
    a file in this directory (SQLite) or a fresh database on the session's server (PostgreSQL)."""
    home = tmp_path / "home"
    home.mkdir()
    if database == "postgresql":
        # asked for lazily: a SQLite-only run never starts the PostgreSQL server
        monkeypatch.setenv("GRANTFLOW_DATABASE_URL", request.getfixturevalue("pg_url"))
    else:
        shutil.copy(request.getfixturevalue("template_db"), home / "grantflow.db")
        monkeypatch.delenv("GRANTFLOW_DATABASE_URL", raising=False)
    monkeypatch.setenv("GRANTFLOW_HOME", str(home))
    monkeypatch.delenv("GRANTFLOW_WORKFLOWS_DIR", raising=False)
    monkeypatch.delenv("GRANTFLOW_CONFIG", raising=False)
    reset_settings()
    clear_cache()
    yield home
    dispose_engines()
    reset_settings()
    clear_cache()


@pytest.fixture
def engine(home: Path, database: str) -> Engine:
    engine = get_engine()
    assert engine.dialect.name == database
    return engine


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
