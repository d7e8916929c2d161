"""The keyed, anchored audit log: `grantflow audit verify` names what was rewritten, deleted or
truncated, including forgeries that recompute every plain hash and the head, and a tampered
anchor line; an intact chain with its anchors passes."""

from __future__ import annotations

import hashlib
import json
import stat
from datetime import datetime, timedelta
from pathlib import Path
from typing import Any

import pytest
from sqlalchemy import Engine, delete, func, select, update
from typer.testing import CliRunner

from grantflow.cli.main import app
from grantflow.config import get_settings
from grantflow.db.audit import (
    GENESIS,
    AuditKeyUnavailable,
    anchor,
    canonical,
    chain_heads,
    chain_of,
    current_key,
    event_hash,
    forget_key,
    heads_digest,
    normalise,
    prepare_key,
    verify,
)
from grantflow.db.models import AuditEvent, AuditHead
from tests.conftest import People
from tests.factories import make_project

runner = CliRunner()

FIELDS = (
    "id",
    "subject",
    "subject_id",
    "actor_id",
    "actor_name",
    "action",
    "from_state",
    "to_state",
    "payload_digest",
    "created_at",
    "prev_hash",
)


@pytest.fixture
def story(engine: Engine, people: People, now: datetime) -> int:
    """A few projects moved along: a real chain of events to tamper with."""
    make_project(engine, people, now, state="under_review")
    make_project(engine, people, now, applicant="applicant2", state="returned")
    return _last_id(engine)


def _last_id(engine: Engine) -> int:
    with engine.connect() as conn:
        return int(conn.execute(select(func.max(AuditEvent.id))).scalar_one())


def _verify_cli(lang: str = "en") -> tuple[int, str]:
    result = runner.invoke(app, ["audit", "verify", "--lang", lang])
    return result.exit_code, " ".join(result.output.split())


def _anchor_cli() -> None:
    result = runner.invoke(app, ["audit", "anchor", "--lang", "en"])
    assert result.exit_code == 0, result.output


def _delete_events(engine: Engine, *ids: int) -> None:
    """As a tamperer with file access would: foreign keys off (the outbox refers to events)."""
    with engine.connect() as conn:
        conn.exec_driver_sql("PRAGMA foreign_keys=OFF")
        conn.execute(delete(AuditEvent).where(AuditEvent.id.in_(ids)))
        conn.commit()
        conn.exec_driver_sql("PRAGMA foreign_keys=ON")


def _set_head(engine: Engine, chain: int, event_id: int) -> None:
    """Point a chain's head at one of its events, as a tamperer hiding a cut tail would."""
    with engine.begin() as conn:
        row = conn.execute(select(AuditEvent.seq, AuditEvent.hash).where(AuditEvent.id == event_id)).one()
        conn.execute(
            update(AuditHead)
            .where(AuditHead.id == chain)
            .values(last_event_id=event_id, last_hash=row.hash, last_seq=row.seq)
        )


def _project_chain(engine: Engine) -> tuple[int, list[int]]:
    """The chain holding the first project's history, and its event ids in order (several events)."""
    with engine.connect() as conn:
        pid = conn.execute(select(func.min(AuditEvent.subject_id)).where(AuditEvent.subject == "project")).scalar_one()
        chain = chain_of(pid)
        ids = list(
            conn.execute(select(AuditEvent.id).where(AuditEvent.chain == chain).order_by(AuditEvent.seq)).scalars()
        )
    assert len(ids) >= 5, ids
    return chain, ids


def _plain_hash(row: Any, prev: str) -> str:
    """The unkeyed hash a forger can compute without the key (the chain's old algorithm)."""
    fields = [getattr(row, f) for f in FIELDS[:-1]]
    fields[9] = row.created_at.isoformat(timespec="microseconds")
    return hashlib.sha256(canonical({"e": [*fields, prev]}).encode()).hexdigest()


def _rechain_from(engine: Engine, first: int, hasher: Any) -> None:
    """Recompute every hash of ``first``'s chain from it on with ``hasher(row, prev)``, and the
    chain's head: a full forgery."""
    with engine.connect() as conn:
        at = conn.execute(select(AuditEvent.chain, AuditEvent.seq).where(AuditEvent.id == first)).one()
        rows = conn.execute(
            select(AuditEvent)
            .where(AuditEvent.chain == at.chain, AuditEvent.seq >= at.seq - 1)
            .order_by(AuditEvent.seq)
        ).all()
    prev = rows[0].hash if rows[0].id != first else GENESIS
    with engine.begin() as conn:
        for row in rows:
            if row.seq < at.seq:
                continue
            h = hasher(row, prev)
            conn.execute(update(AuditEvent).where(AuditEvent.id == row.id).values(prev_hash=prev, hash=h))
            prev = h
        conn.execute(
            update(AuditHead)
            .where(AuditHead.id == at.chain)
            .values(last_event_id=rows[-1].id, last_hash=prev, last_seq=rows[-1].seq)
        )


def _keyed_hash(row: Any, prev: str) -> str:
    """What a forger holding the audit key would compute."""
    values = {f: getattr(row, f) for f in FIELDS}
    values["prev_hash"] = prev
    return event_hash(
        current_key().secret,
        **values,
        channel=row.channel,
        channel_detail=row.channel_detail,
        key_id=row.key_id,
        chain=row.chain,
        seq=row.seq,
    )


def _forge_payload(engine: Engine, event_id: int) -> None:
    payload, digest = normalise({"reason": "forged"})
    with engine.begin() as conn:
        conn.execute(update(AuditEvent).where(AuditEvent.id == event_id).values(payload=payload, payload_digest=digest))


# --- an intact chain ---------------------------------------------------------------------------------


def test_intact_chain_with_anchors_passes(story: int) -> None:
    _anchor_cli()
    _anchor_cli()
    code, out = _verify_cli()
    assert code == 0, out
    assert f"audit chain intact: {story} events; 2 anchors match" in out
    code, out = _verify_cli("zh")
    assert code == 0 and f"审计链完整，共 {story} 条事件；2 个锚点相符" in out


def test_the_key_and_anchor_log_live_outside_the_database(engine: Engine, story: int, home: Path) -> None:
    key_path = get_settings().audit_key_path
    assert key_path == home / "keys" / "audit.key"
    assert stat.S_IMODE(key_path.stat().st_mode) == 0o600 and len(key_path.read_bytes()) == 32
    with engine.connect() as conn:
        record = anchor(conn, now=datetime.now().astimezone())
        heads = [h for h in chain_heads(conn) if h.seq > 0]
        key_ids = set(conn.execute(select(AuditEvent.key_id).distinct()).scalars())
    assert len(heads) > 1  # the story's subjects write to several chains
    assert record.event_id == story and record.hash == heads_digest(heads) and list(record.heads) == heads
    assert key_ids == {current_key().id}
    (line,) = get_settings().audit_anchor_path.read_text().splitlines()
    data = json.loads(line)
    assert data["event_id"] == story and data["hash"] == record.hash and set(data) >= {"anchored_at", "mac"}
    assert data["heads"] == [[h.chain, h.seq, h.event_id, h.hash] for h in heads]
    assert get_settings().audit_anchor_path == home / "anchors" / "audit-anchors.jsonl"


def test_init_creates_the_key_with_0600(tmp_path: Path, monkeypatch: pytest.MonkeyPatch) -> None:
    from grantflow.config import reset_settings

    monkeypatch.setenv("GRANTFLOW_HOME", str(tmp_path / "fresh"))
    monkeypatch.setenv("GRANTFLOW_AUDIT_KEY_FILE", str(tmp_path / "vault" / "audit.key"))
    monkeypatch.delenv("GRANTFLOW_DATABASE_URL", raising=False)
    reset_settings()
    try:
        result = runner.invoke(app, ["init"])
        assert result.exit_code == 0, result.output
        key = tmp_path / "vault" / "audit.key"
        assert stat.S_IMODE(key.stat().st_mode) == 0o600
        assert stat.S_IMODE(key.parent.stat().st_mode) == 0o700
        assert "audit.key" in result.output.replace("\n", "")
    finally:
        from grantflow.db.session import dispose_engines

        dispose_engines()
        reset_settings()


# --- rewritten ----------------------------------------------------------------------------------------


def test_edited_payload_is_named(engine: Engine, story: int) -> None:
    target = story // 2
    with engine.begin() as conn:
        conn.execute(update(AuditEvent).where(AuditEvent.id == target).values(payload={"reason": "forged"}))
    code, out = _verify_cli()
    assert code == 1
    assert f"event {target} rewritten" in out
    code, out = _verify_cli("zh")
    assert f"第 {target} 号事件被改写" in out


@pytest.mark.parametrize("column", ["actor_name", "to_state", "created_at", "channel", "channel_detail"])
def test_edited_column_is_named(engine: Engine, story: int, column: str) -> None:
    target = 3
    with engine.connect() as conn:
        row = conn.execute(select(AuditEvent).where(AuditEvent.id == target)).one()
    forged = {
        "actor_name": "someone else",
        "to_state": "commissioning",
        "created_at": row.created_at - timedelta(days=1),
        "channel": "page",
        "channel_detail": "a browser",
    }
    with engine.begin() as conn:
        conn.execute(update(AuditEvent).where(AuditEvent.id == target).values({column: forged[column]}))
    with engine.connect() as conn:
        result = verify(conn)
    assert not result.ok and result.broken_event_id == target


def test_fully_rechained_forgery_with_plain_hashes_is_named(engine: Engine, story: int) -> None:
    """Edit a project's second event, recompute every later hash of its chain and the chain's head
    as the unkeyed chain did: caught, every rewritten event named."""
    _, ids = _project_chain(engine)
    _forge_payload(engine, ids[1])
    _rechain_from(engine, ids[1], _plain_hash)
    with engine.connect() as conn:
        problems = verify(conn).problems
    assert [(p.kind, p.event_id) for p in problems] == [("rewritten", ids[1])]
    code, out = _verify_cli()
    named = f"events {ids[1]}–{ids[-1]}" if ids[1:] == list(range(ids[1], ids[-1] + 1)) else f"({ids[1]} to {ids[-1]})"
    assert code == 1 and f"{named} rewritten: the content does not match the keyed hash" in out
    code, out = _verify_cli("zh")
    assert code == 1 and f"{ids[1]}" in out and "被改写：内容与其密钥哈希不符" in out


def test_an_event_rehashed_with_the_key_is_caught_at_the_next_link(engine: Engine, story: int) -> None:
    _, ids = _project_chain(engine)
    target, following = ids[2], ids[3]
    _forge_payload(engine, target)
    with engine.connect() as conn:
        row = conn.execute(select(AuditEvent).where(AuditEvent.id == target)).one()
    with engine.begin() as conn:
        conn.execute(update(AuditEvent).where(AuditEvent.id == target).values(hash=_keyed_hash(row, row.prev_hash)))
    code, out = _verify_cli()
    assert code == 1 and f"event {target} rewritten or replaced: event {following} no longer follows it" in out


def test_even_a_forger_holding_the_key_is_caught_by_an_anchor(engine: Engine, story: int) -> None:
    _anchor_cli()
    _, ids = _project_chain(engine)
    _forge_payload(engine, ids[1])
    _rechain_from(engine, ids[1], _keyed_hash)
    with engine.connect() as conn:
        assert [p.kind for p in verify(conn).problems] == ["rewritten"]  # the chain alone looks whole
    code, out = _verify_cli()
    assert code == 1 and f"event {ids[-1]} differs from its anchor of" in out and "(line 1)" in out


def test_events_keyed_with_another_key_are_named(engine: Engine, story: int) -> None:
    get_settings().audit_key_path.write_bytes(b"\x01" * 32)
    forget_key()
    code, out = _verify_cli()
    assert code == 1 and f"{story} events were keyed with key" in out and "the wrong key file" in out


# --- deleted and truncated ---------------------------------------------------------------------------


def test_deleted_row_is_named(engine: Engine, story: int) -> None:
    chain, ids = _project_chain(engine)
    _delete_events(engine, ids[2])
    code, out = _verify_cli()
    assert code == 1
    assert f"the event at place 3 of chain {chain} is missing (deleted); the next stored event there is {ids[3]}" in out
    code, out = _verify_cli("zh")
    assert f"第 {chain} 条链第 3 位的事件缺失（已被删除）" in out


def test_deleted_tail_is_named_by_the_head(engine: Engine, story: int) -> None:
    chain, ids = _project_chain(engine)
    _delete_events(engine, ids[-1])
    code, out = _verify_cli()
    assert code == 1
    assert f"the event at place {len(ids)} of chain {chain} is missing (deleted from the end)" in out
    assert f"the chain should end at event {ids[-1]}" in out


def test_truncated_tail_with_the_head_rewritten_is_named_by_an_anchor(engine: Engine, story: int) -> None:
    """Delete a chain's newest events and point its head at what is left: only the anchor can tell."""
    _anchor_cli()
    chain, ids = _project_chain(engine)
    _delete_events(engine, *ids[-3:])
    _set_head(engine, chain, ids[-4])
    with engine.connect() as conn:
        assert [p.kind for p in verify(conn, anchors=Path("/nonexistent")).problems] == []  # the log alone looks whole
    code, out = _verify_cli()
    assert code == 1
    assert "the log was truncated: the anchor of" in out
    assert (
        f"names event {ids[-1]} (place {len(ids)} of chain {chain}), but that chain now ends at event {ids[-4]}" in out
    )
    code, out = _verify_cli("zh")
    assert (
        "日志被截断" in out
        and f"记录了第 {ids[-1]} 号事件（第 {chain} 条链第 {len(ids)} 位），而该链现止于第 {ids[-4]} 号事件" in out
    )


# --- the anchor log ------------------------------------------------------------------------------------


def test_a_tampered_anchor_line_is_named(engine: Engine, story: int) -> None:
    _anchor_cli()
    _anchor_cli()
    path = get_settings().audit_anchor_path
    first, second = path.read_text().splitlines()
    data = json.loads(second)
    data["event_id"] = story - 5  # someone trimming the anchor to fit a truncated log
    path.write_text(first + "\n" + json.dumps(data) + "\n" + "not json\n")
    code, out = _verify_cli()
    assert code == 1
    assert "anchor line 2 was altered: its MAC does not match" in out
    assert "anchor line 3 cannot be read (damaged)" in out
    code, out = _verify_cli("zh")
    assert "锚点日志第 2 行被改动" in out


def test_housekeeping_anchors_the_head(engine: Engine, story: int, now: datetime) -> None:
    from grantflow.flows import jobs

    report = jobs.run("housekeeping", engine, now, get_settings())
    assert report["housekeeping"]["anchored"]["event_id"] == story
    assert len(get_settings().audit_anchor_path.read_text().splitlines()) == 1


# --- the key -------------------------------------------------------------------------------------------


def test_a_lost_key_stops_writing_and_is_never_silently_replaced(
    engine: Engine, people: People, story: int, now: datetime
) -> None:
    from tests.factories import make_project

    path = get_settings().audit_key_path
    path.unlink()
    forget_key()
    with pytest.raises(AuditKeyUnavailable, match="missing"):
        make_project(engine, people, now)
    assert _last_id(engine) == story
    with pytest.raises(AuditKeyUnavailable, match="restore that key file"):
        prepare_key(engine)
    assert not path.exists()
    result = runner.invoke(app, ["audit", "verify", "--lang", "en"])
    assert result.exit_code == 2 and "is missing" in result.output
