"""Core statements compiled once per dialect and run straight on the DBAPI cursor.

The engine's hot path (one transition = a read, a versioned update, the audit head, an audit
insert, an outbox insert) spent about 40 µs in ``Connection.execute`` per statement, against
6 µs for the driver itself: execution contexts, cache-key generation, result wrapping and
events, repeated for statements whose SQL never changes. Here the SQL is still written as
SQLAlchemy Core (so it follows the models and each dialect's rendering: ``?`` or
``%(name)s``, ``FOR UPDATE``, PostgreSQL's bind casts), compiled once per dialect, and each
value goes through the very bind and result processors SQLAlchemy would use, so what is
stored and read back is the same as through ``Connection.execute``.

The statements run on the connection's own DBAPI connection, inside the transaction the
caller's ``Connection`` holds; ``ensure_begun`` makes sure SQLAlchemy knows a transaction is
open, so the caller's ``commit()`` really commits. Statement events (``echo``,
``before_cursor_execute``) do not see these statements.
"""

from __future__ import annotations

import weakref
from collections.abc import Callable, Mapping, Sequence
from typing import Any

from sqlalchemy import Connection
from sqlalchemy.engine import Dialect
from sqlalchemy.sql import ClauseElement, Select

from grantflow.db.models import UTCDateTime

Processor = Callable[[Any], Any] | None


class Prepared:
    """One statement for one dialect: its SQL text, and how to turn values into parameters."""

    __slots__ = ("_plan", "_positional", "_results", "sql")

    def __init__(self, stmt: ClauseElement, dialect: Dialect, column_keys: Sequence[str] | None = None) -> None:
        # SQLCompiler's attributes (positional, bind_names, positiontup) are not on the Compiled type
        compiled: Any = stmt.compile(dialect=dialect, column_keys=list(column_keys) if column_keys else None)
        if getattr(compiled, "insert_prefetch", None) or getattr(compiled, "update_prefetch", None):
            # a Python-side column default would be computed by the execution context we skip
            raise ValueError(f"pass every defaulted column explicitly: {compiled.string}")
        self.sql: str = compiled.string
        self._positional: bool = bool(compiled.positional)
        by_name = {name: bind for bind, name in compiled.bind_names.items()}
        if any(b.expanding for b in by_name.values()):
            raise ValueError(f"IN lists are expanded per execution, not supported here: {compiled.string}")
        names = list(compiled.positiontup or []) if self._positional else list(dict.fromkeys(by_name))
        # (name, processor, whether the statement carries the value itself, that value):
        # ``literal(0)`` and ``id == 1`` are fixed; everything else comes from the caller
        self._plan: tuple[tuple[str, Processor, bool, Any], ...] = tuple(
            (
                n,
                _bind_processor(by_name[n].type, dialect),
                not by_name[n].required and by_name[n].callable is None,
                by_name[n].effective_value,
            )
            for n in names
        )
        self._results: tuple[Processor, ...] | None = None
        if isinstance(stmt, Select):
            results = tuple(
                col.type.dialect_impl(dialect).result_processor(dialect, None) for col in stmt.selected_columns
            )
            # None when no column needs converting: rows are then used as the driver returns them
            self._results = results if any(results) else None

    def params(self, values: Mapping[str, Any]) -> Sequence[Any] | dict[str, Any]:
        out: list[Any] = []
        for name, proc, fixed, fixed_value in self._plan:
            v = fixed_value if fixed else values[name]
            out.append(v if proc is None or v is None else proc(v))
        if self._positional:
            return out
        return {p[0]: v for p, v in zip(self._plan, out, strict=True)}

    def execute(self, cursor: Any, values: Mapping[str, Any] | None = None) -> Any:
        cursor.execute(self.sql, self.params(values or {}))
        return cursor

    def row(self, raw: Sequence[Any] | None) -> tuple[Any, ...] | None:
        """A fetched row with SQLAlchemy's result processing (e.g. aware UTC datetimes)."""
        if raw is None or self._results is None:
            return None if raw is None else tuple(raw)
        return tuple(v if p is None or v is None else p(v) for p, v in zip(self._results, raw, strict=True))


_SHARED_UTC: weakref.WeakKeyDictionary[Dialect, Processor] = weakref.WeakKeyDictionary()


def _bind_processor(type_: Any, dialect: Dialect) -> Processor:
    """SQLAlchemy's bind processor for the type; for ``UTCDateTime``, one remembering its last value.

    A transition binds the same ``now`` four times (state change, audit event, outbox row
    twice) and converting an aware datetime costs about 5 µs each time. ``UTCDateTime`` has
    no parameters, so one processor per dialect serves every such column; datetimes are
    immutable, so the same object always converts to the same value.
    """
    proc = type_.dialect_impl(dialect).bind_processor(dialect)
    if proc is None or not isinstance(type_, UTCDateTime):
        return proc
    shared = _SHARED_UTC.get(dialect)
    if shared is None:
        shared = _SHARED_UTC[dialect] = _remember_last(proc)
    return shared


def _remember_last(proc: Callable[[Any], Any]) -> Callable[[Any], Any]:
    # (input, output) replaced in one assignment, so threads never see a mismatched pair;
    # holding the input keeps its id from being reused by another object
    last: tuple[Any, Any] = (object(), None)

    def run(value: Any) -> Any:
        nonlocal last
        seen = last
        if seen[0] is value:
            return seen[1]
        out = proc(value)
        last = (value, out)
        return out

    return run


def ensure_begun(conn: Connection) -> None:
    """Make the ``Connection`` own the transaction the DBAPI statements run in (autobegin)."""
    if not conn.in_transaction():
        conn.begin()


def cursor(conn: Connection) -> Any:
    """A DBAPI cursor on the connection's transaction."""
    ensure_begun(conn)
    return conn.connection.dbapi_connection.cursor()  # type: ignore[union-attr]


class Statements:
    """Lazily compiled statements for one dialect, built by ``build(name, dialect)``."""

    def __init__(self, build: Callable[[str, Dialect], Prepared]) -> None:
        self._build = build
        self._by_dialect: weakref.WeakKeyDictionary[Dialect, dict[str, Prepared]] = weakref.WeakKeyDictionary()
        # the dialect asked for last, and its statements: a process nearly always has one
        self._last: tuple[Any, dict[str, Prepared]] = (None, {})

    def get(self, dialect: Dialect, name: str) -> Prepared:
        last_dialect, cache = self._last
        if last_dialect is not dialect:
            found = self._by_dialect.get(dialect)
            if found is None:
                found = self._by_dialect[dialect] = {}
            cache = found
            self._last = (dialect, cache)
        stmt = cache.get(name)
        if stmt is None:
            stmt = cache[name] = self._build(name, dialect)
        return stmt
