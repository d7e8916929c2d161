"""An audit chain written before hashes were keyed is re-keyed once by the migration, which
records what it found; afterwards the whole log verifies under the key."""

from __future__ import annotations

import hashlib
from collections.abc import Iterator
from datetime import datetime, timedelta
from pathlib import Path

import pytest
from sqlalchemy import Engine, insert, select, update

from grantflow.db.audit import GENESIS, canonical, current_key, events, normalise, verify
from grantflow.db.migrate import upgrade
from grantflow.db.models import AuditEvent, AuditHead
from grantflow.db.session import make_engine
from grantflow.services.bootstrap import init_database


def _plain_chain(engine: Engine, now: datetime, count: int) -> str:
    """Events as the unkeyed chain wrote them (SHA-256 of the fields and the previous hash)."""
    events = AuditEvent.__table__
    prev = GENESIS
    with engine.begin() as conn:
        for i in range(1, count + 1):
            stored, digest = normalise({"n": i})
            at = now + timedelta(minutes=i)
            fields = [i, "project", 1, None, "old", "note", None, None, digest, at.isoformat(timespec="microseconds")]
            h = hashlib.sha256(canonical({"e": [*fields, prev]}).encode()).hexdigest()
            conn.execute(
                insert(events).values(
                    id=i, subject="project", subject_id=1, actor_id=None, actor_name="old", action="note",
                    from_state=None, to_state=None, payload=stored, payload_digest=digest, created_at=at,
                    prev_hash=prev, hash=h,
                )
            )  # fmt: skip
            prev = h
        conn.execute(update(AuditHead).where(AuditHead.id == 1).values(last_event_id=count, last_hash=prev))
    return prev


@pytest.fixture
def legacy(home: Path, tmp_path: Path) -> Iterator[Engine]:
    """A database at the revision before keyed hashes."""
    engine = make_engine(f"sqlite:///{tmp_path / 'legacy.db'}")
    upgrade(engine, "0004")
    yield engine
    engine.dispose()


def test_an_unkeyed_chain_is_rekeyed_and_the_migration_says_so(legacy: Engine, now: datetime) -> None:
    old_head = _plain_chain(legacy, now, 5)
    init_database(legacy)
    with legacy.connect() as conn:
        assert verify(conn).ok
        rows = conn.execute(select(AuditEvent).order_by(AuditEvent.id)).all()
    assert [r.id for r in rows] == [1, 2, 3, 4, 5, 6]
    assert {r.key_id for r in rows} == {current_key().id}
    assert all(r.channel is None for r in rows[:5])  # not recorded back then: not invented now
    note = rows[-1]
    assert (note.action, note.channel, note.subject) == ("audit_rekeyed", "migration", "audit")
    assert note.payload["rekeyed_events"] == 5 and note.payload["unkeyed_chain_intact"] is True
    assert note.payload["unkeyed_head"] == {"event_id": 5, "hash": old_head}
    with legacy.connect() as conn:
        assert [e.action for e in events(conn, channel="migration")] == ["audit_rekeyed"]
    # migrating again changes nothing
    init_database(legacy)
    with legacy.connect() as conn:
        assert conn.execute(select(AuditHead.last_event_id)).scalar_one() == 6


def test_a_broken_unkeyed_chain_is_recorded_as_broken(legacy: Engine, now: datetime) -> None:
    _plain_chain(legacy, now, 4)
    with legacy.begin() as conn:
        conn.execute(update(AuditEvent.__table__).where(AuditEvent.__table__.c.id == 2).values(actor_name="forged"))
    init_database(legacy)
    with legacy.connect() as conn:
        note = conn.execute(select(AuditEvent).order_by(AuditEvent.id.desc()).limit(1)).one()
    assert note.payload["unkeyed_chain_intact"] is False
    assert note.payload["unkeyed_chain_problem"] == "event 2 altered: its content does not match its hash"
