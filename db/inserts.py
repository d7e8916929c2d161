"""Idempotent inserts: rows with a natural unique key go in once, however often they are written."""

from __future__ import annotations

from collections.abc import Mapping, Sequence
from typing import Any

from sqlalchemy import Connection, Table
from sqlalchemy.dialects import postgresql, sqlite


def insert_ignoring_duplicates(conn: Connection, table: Table, rows: Sequence[Mapping[str, Any]]) -> int:
    """Insert rows, skipping any that a unique constraint already holds; returns how many went in."""
    if not rows:
        return 0
    dialect = conn.dialect.name
    if dialect == "sqlite":
        stmt: Any = sqlite.insert(table).on_conflict_do_nothing()
    elif dialect == "postgresql":
        stmt = postgresql.insert(table).on_conflict_do_nothing()
    else:  # pragma: no cover - grantflow runs on SQLite and PostgreSQL only
        raise NotImplementedError(dialect)
    return int(conn.execute(stmt, list(rows)).rowcount or 0)
