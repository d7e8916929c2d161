"""The hash-chained audit log: `grantflow audit verify` finds an edited, a deleted and a missing tail row."""

from __future__ import annotations

from datetime import datetime

import pytest
from sqlalchemy import Engine, delete, func, select, update
from typer.testing import CliRunner

from grantflow.cli.main import app
from grantflow.db.audit import verify
from grantflow.db.models import AuditEvent
from tests.conftest import People
from tests.factories import make_project

runner = CliRunner()


@pytest.fixture
def story(engine: Engine, people: People, now: datetime) -> int:
    """A few projects moved along: a real chain of events to tamper with."""
    make_project(engine, people, now, state="under_review")
    make_project(engine, people, now, applicant="applicant2", state="returned")
    with engine.connect() as conn:
        return int(conn.execute(select(func.max(AuditEvent.id))).scalar_one())


def _verify_cli(lang: str = "en") -> tuple[int, str]:
    result = runner.invoke(app, ["audit", "verify", "--lang", lang])
    return result.exit_code, result.output


def _delete_event(engine: Engine, event_id: int) -> None:
    """As a tamperer with file access would: foreign keys off (the outbox refers to events)."""
    with engine.connect() as conn:
        conn.exec_driver_sql("PRAGMA foreign_keys=OFF")
        conn.execute(delete(AuditEvent).where(AuditEvent.id == event_id))
        conn.commit()
        conn.exec_driver_sql("PRAGMA foreign_keys=ON")


def test_intact_chain_passes(story: int):
    code, out = _verify_cli()
    assert code == 0
    assert f"audit chain intact: {story} events" in out
    code, out = _verify_cli("zh")
    assert code == 0 and f"审计链完整，共 {story} 条事件" in out


def test_edited_payload_is_named(engine: Engine, story: int):
    target = story // 2
    with engine.begin() as conn:
        conn.execute(update(AuditEvent).where(AuditEvent.id == target).values(payload={"reason": "forged"}))
    code, out = _verify_cli()
    assert code == 1
    assert f"event {target} was altered" in out
    code, out = _verify_cli("zh")
    assert f"第 {target} 号事件被篡改" in out


@pytest.mark.parametrize("column", ["actor_name", "to_state", "created_at"])
def test_edited_column_is_named(engine: Engine, story: int, column: str):
    target = 3
    with engine.connect() as conn:
        row = conn.execute(select(AuditEvent).where(AuditEvent.id == target)).one()
    from datetime import timedelta

    forged = {
        "actor_name": "someone else",
        "to_state": "commissioning",
        "created_at": row.created_at - timedelta(days=1),
    }
    with engine.begin() as conn:
        conn.execute(update(AuditEvent).where(AuditEvent.id == target).values({column: forged[column]}))
    with engine.connect() as conn:
        result = verify(conn)
    assert not result.ok and result.broken_event_id == target


def test_rehashed_forgery_is_caught_at_the_next_link(engine: Engine, story: int):
    """Editing a row and recomputing its own hash still breaks the link from the next event."""
    from grantflow.db.audit import event_hash, normalise

    target = 4
    with engine.connect() as conn:
        row = conn.execute(select(AuditEvent).where(AuditEvent.id == target)).one()
    payload, digest = normalise({"reason": "forged"})
    fields = {
        k: getattr(row, k)
        for k in (
            "id",
            "subject",
            "subject_id",
            "actor_id",
            "actor_name",
            "action",
            "from_state",
            "to_state",
            "created_at",
            "prev_hash",
        )
    }
    new_hash = event_hash(**fields, payload_digest=digest)
    with engine.begin() as conn:
        conn.execute(
            update(AuditEvent)
            .where(AuditEvent.id == target)
            .values(payload=payload, payload_digest=digest, hash=new_hash)
        )
    with engine.connect() as conn:
        result = verify(conn)
    assert not result.ok and result.broken_event_id == target


def test_deleted_row_is_named(engine: Engine, story: int):
    target = story - 3
    _delete_event(engine, target)
    code, out = _verify_cli()
    assert code == 1
    assert f"event {target} is missing (deleted)" in out


def test_deleted_tail_is_named(engine: Engine, story: int):
    _delete_event(engine, story)
    code, out = _verify_cli()
    assert code == 1
    assert f"event {story} is missing (deleted)" in out
