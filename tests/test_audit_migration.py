"""An audit chain written before hashes were keyed is re-keyed once by the migration, which
records what it found; afterwards the whole log verifies under the key."""

from __future__ import annotations

import hashlib
import json
from collections.abc import Iterator
from datetime import datetime, timedelta
from pathlib import Path
from typing import Any

import pytest
from sqlalchemy import Engine, insert, select, update

from grantflow.db.audit import GENESIS, _anchor_mac, append, canonical, current_key, events, normalise, verify
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


def legacy_anchor_path(engine: Engine) -> Path:
    return Path(str(engine.url.database)).with_name("legacy-anchors.jsonl")


def audit_note(conn: Any, *, subject_id: int) -> None:
    from grantflow.states.channels import Channel, ChannelKind

    append(
        conn,
        subject="project",
        subject_id=subject_id,
        actor_id=None,
        actor_name="test",
        action="note",
        from_state=None,
        to_state=None,
        payload={},
        now=datetime.now().astimezone(),
        channel=Channel(ChannelKind.CODE),
    )


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
        assert conn.execute(select(AuditHead.last_event_id).where(AuditHead.id == 1)).scalar_one() == 6


def test_the_one_chain_becomes_chain_one_and_its_old_anchors_still_count(legacy: Engine, now: datetime) -> None:
    """After the log became several chains, the old events are chain 1 as they were (place = id,
    same hashes), an anchor line written back then still checks them, and new events go on."""
    _plain_chain(legacy, now, 3)
    init_database(legacy)
    with legacy.connect() as conn:
        rows = conn.execute(select(AuditEvent).order_by(AuditEvent.id)).all()
        head = conn.execute(select(AuditHead).where(AuditHead.id == 1)).one()
    assert [(r.chain, r.seq) for r in rows] == [(1, r.id) for r in rows]
    assert (head.last_seq, head.last_event_id, head.last_hash) == (rows[-1].id, rows[-1].id, rows[-1].hash)
    # a line as the anchor log held it when the log was one chain: the head's id and hash only
    key = current_key()
    line = {"event_id": rows[-1].id, "hash": rows[-1].hash, "anchored_at": now.isoformat(), "key_id": key.id}
    line["mac"] = _anchor_mac(key.secret, line)
    anchors = legacy_anchor_path(legacy)
    anchors.write_text(json.dumps(line) + "\n")
    with legacy.begin() as conn:
        audit_note(conn, subject_id=1)  # chain 2 grows; chain 1 stays as anchored
    with legacy.connect() as conn:
        result = verify(conn, anchors=anchors)
    assert result.ok and result.anchors_checked == 1, result.problems
    with legacy.begin() as conn:
        conn.execute(update(AuditEvent).where(AuditEvent.id == rows[-1].id).values(hash="f" * 64))
    with legacy.connect() as conn:
        kinds = {p.kind for p in verify(conn, anchors=anchors).problems}
    assert kinds == {"rewritten"}


def test_a_broken_unkeyed_chain_is_recorded_as_broken(legacy: Engine, now: datetime) -> None:
    _plain_chain(legacy, now, 4)
    with legacy.begin() as conn:
        conn.execute(update(AuditEvent.__table__).where(AuditEvent.__table__.c.id == 2).values(actor_name="forged"))
    init_database(legacy)
    with legacy.connect() as conn:
        note = conn.execute(select(AuditEvent).order_by(AuditEvent.id.desc()).limit(1)).one()
    assert note.payload["unkeyed_chain_intact"] is False
    assert note.payload["unkeyed_chain_problem"] == "event 2 altered: its content does not match its hash"
