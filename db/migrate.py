"""Schema migrations with Alembic, run programmatically (``grantflow db upgrade``, first start)."""

from __future__ import annotations

from collections.abc import Callable
from pathlib import Path

from alembic import command
from alembic.config import Config
from alembic.runtime.migration import MigrationContext
from alembic.script import ScriptDirectory
from sqlalchemy import Engine

MIGRATIONS = Path(__file__).parent / "migrations"


def alembic_config(url: str | None = None) -> Config:
    cfg = Config()
    cfg.set_main_option("script_location", str(MIGRATIONS))
    if url:
        cfg.set_main_option("sqlalchemy.url", url)
    return cfg


def _migrate(engine: Engine, step: Callable[[Config], None]) -> None:
    """Run ``step`` in one transaction on one connection.

    SQLite changes most columns by copying a table into a new one and dropping the old
    (Alembic's batch mode); with foreign keys enforced, dropping a table that other rows
    point at fails (a downgrade of a database holding projects did). So on SQLite the
    enforcement is off while the schema changes, the whole database is checked before the
    commit, and it is on again before the connection goes back to the pool.
    """
    cfg = alembic_config()
    with engine.connect() as conn:
        sqlite = conn.dialect.name == "sqlite"
        if sqlite:
            # no transaction is open yet (the driver begins one only before a write): it takes effect
            conn.exec_driver_sql("PRAGMA foreign_keys=OFF")
            conn.commit()
        try:
            with conn.begin():
                cfg.attributes["connection"] = conn
                step(cfg)
                if sqlite:
                    broken = conn.exec_driver_sql("PRAGMA foreign_key_check").fetchall()
                    if broken:
                        raise RuntimeError(f"the migration left rows pointing at nothing: {broken[:5]}")
        finally:
            if sqlite:
                conn.exec_driver_sql("PRAGMA foreign_keys=ON")
                conn.commit()


def upgrade(engine: Engine, revision: str = "heads") -> None:
    _migrate(engine, lambda cfg: command.upgrade(cfg, revision))


def current_heads(engine: Engine) -> set[str]:
    with engine.connect() as conn:
        return set(MigrationContext.configure(conn).get_current_heads())


def is_up_to_date(engine: Engine) -> bool:
    script = ScriptDirectory.from_config(alembic_config())
    return current_heads(engine) == set(script.get_heads())


def downgrade(engine: Engine, revision: str) -> None:
    """Step the schema back to ``revision`` (``base``: nothing left but Alembic's own table)."""
    _migrate(engine, lambda cfg: command.downgrade(cfg, revision))


def revisions() -> list[str]:
    """Every revision from the first to the head, in the order an upgrade applies them."""
    script = ScriptDirectory.from_config(alembic_config())
    return [r.revision for r in reversed(list(script.walk_revisions("base", "heads")))]
