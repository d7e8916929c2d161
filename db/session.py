"""Engine and session set-up. SQLite gets WAL, foreign keys and a busy timeout on every connection."""

from __future__ import annotations

from collections.abc import Iterator
from contextlib import contextmanager
from typing import Any

from sqlalchemy import Engine, create_engine, event
from sqlalchemy.orm import Session, sessionmaker

from grantflow.config import Settings, get_settings


def make_engine(url: str, *, busy_timeout_ms: int = 10_000, echo: bool = False) -> Engine:
    if url.startswith("sqlite"):
        # No cap on connections: a web request may hold two at once (its own, and the page's
        # unread badge while rendering), and with the server's 40 worker threads a capped pool
        # (5 + 10) was emptied by requests each holding one and waiting for a second: every
        # page stalled until the pool timeout, then failed (500s under a deadline rush). An
        # SQLite connection is a file handle; the worker threads already bound how many are open,
        # and the pool keeps ``pool_size`` of them for reuse.
        engine = create_engine(
            url,
            echo=echo,
            connect_args={"timeout": busy_timeout_ms / 1000},
            pool_size=20,
            max_overflow=-1,
        )

        @event.listens_for(engine, "connect")
        def _sqlite_pragmas(dbapi_conn: Any, _record: Any) -> None:
            cur = dbapi_conn.cursor()
            cur.execute("PRAGMA journal_mode=WAL")
            cur.execute("PRAGMA synchronous=NORMAL")
            cur.execute("PRAGMA foreign_keys=ON")
            cur.execute(f"PRAGMA busy_timeout={int(busy_timeout_ms)}")
            cur.close()

        return engine
    return create_engine(url, echo=echo, pool_pre_ping=True)


_ENGINES: dict[str, Engine] = {}


def get_engine(settings: Settings | None = None) -> Engine:
    """The process-wide engine for the configured database (one pool per URL)."""
    s = settings or get_settings()
    if s.url.startswith("sqlite"):
        s.ensure_dirs()
    engine = _ENGINES.get(s.url)
    if engine is None:
        engine = _ENGINES[s.url] = make_engine(s.url, busy_timeout_ms=s.sqlite_busy_timeout_ms)
    return engine


def dispose_engines() -> None:
    """Close every pool; the CLI and tests call it when they switch databases."""
    while _ENGINES:
        _ENGINES.popitem()[1].dispose()


def session_factory(engine: Engine) -> sessionmaker[Session]:
    return sessionmaker(engine, expire_on_commit=False)


@contextmanager
def session_scope(engine: Engine | None = None) -> Iterator[Session]:
    """A session whose transaction commits on success and rolls back on error (for entry points)."""
    with session_factory(engine or get_engine())() as session, session.begin():
        yield session
