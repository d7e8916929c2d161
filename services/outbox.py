"""Writing to the outbox from the sweeps: idempotent by ``dedupe_key``.

Transition messages are written by ``db.apply`` in the engine's transaction. Deadline
messages (reminders, escalations) are written here, each with a key naming the item, the
step and the date, so a sweep that runs twice — or two sweeps racing — writes each once.
"""

from __future__ import annotations

from collections.abc import Mapping, Sequence
from datetime import datetime
from typing import Any

from sqlalchemy import Connection

from grantflow.db.models import OutboxMessage, table
from grantflow.services.deadlines import insert_ignoring_duplicates

_outbox = table(OutboxMessage)


def message(
    *,
    kind: str,
    subject: str,
    subject_id: int,
    audiences: Sequence[str],
    payload: Mapping[str, Any],
    dedupe_key: str,
    now: datetime,
) -> dict[str, Any]:
    return {
        "kind": kind,
        "subject": subject,
        "subject_id": subject_id,
        "audiences": list(audiences),
        "payload": dict(payload),
        "event_id": None,
        "dedupe_key": dedupe_key,
        "status": "pending",
        "attempts": 0,
        "next_attempt_at": now,
        "last_error": None,
        "created_at": now,
        "processed_at": None,
    }


def enqueue(conn: Connection, rows: Sequence[Mapping[str, Any]]) -> int:
    """Insert messages; any whose ``dedupe_key`` is already there is skipped. Returns how many went in."""
    return insert_ignoring_duplicates(conn, _outbox, rows)
