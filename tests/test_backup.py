"""`grantflow backup` / `grantflow restore`: a populated system copied while writes go on, restored
into a fresh home, and found whole: the audit chain verifies and every table's row count equals
the manifest's. A changed byte in the backup is refused by name; so are a non-empty target
directory and a non-empty home.
"""

from __future__ import annotations

import json
import re
import stat
import threading
from collections.abc import Callable, Iterator
from datetime import datetime, timedelta
from pathlib import Path
from typing import Any

import pytest
from sqlalchemy import Engine, func, select
from typer.testing import CliRunner

from grantflow.cli.main import app
from grantflow.config import get_settings, reset_settings
from grantflow.db import audit
from grantflow.db.audit import forget_key
from grantflow.db.models import Attachment, Bid, Project
from grantflow.db.session import dispose_engines, make_engine
from grantflow.db.workflows import clear_cache
from grantflow.services.backup import MANIFEST, SQLITE_COPY, Manifest
from grantflow.services.files import file_store, store_attachment
from grantflow.states.permissions import SYSTEM
from tests.conftest import People
from tests.factories import make_project
from tests.pg import PgServer
from tests.test_bids import Tender_

runner = CliRunner()
PDF = b"%PDF-1.4\n1 0 obj<<>>endobj\ntrailer<<>>\n%%EOF\n" + "可行性报告".encode()


def _flat(text: str) -> str:
    """Without whitespace: error lines are wrapped to the terminal, possibly inside a path."""
    return re.sub(r"\s+", "", text)


def _counts(url: str) -> dict[str, int]:
    from grantflow.services.backup import _count_tables

    engine = make_engine(url)
    try:
        with engine.connect() as conn:
            return _count_tables(conn)
    finally:
        engine.dispose()


@pytest.fixture
def populated(engine: Engine, people: People, now: datetime) -> dict[str, object]:
    """Projects in several states, an attachment in the file store, a sealed bid, an anchor."""
    draft = make_project(engine, people, now)
    make_project(engine, people, now, applicant="applicant2", state="under_review")
    running = make_project(engine, people, now, applicant="applicant3", state="in_execution")
    with engine.begin() as conn:
        stored = store_attachment(
            conn,
            project_id=draft,
            form_key="proposal",
            field="attachments",
            filename="可行性报告.pdf",
            content=PDF,
            actor=people["applicant"],
            now=now,
        )
    tender = Tender_(engine, people, now)
    with engine.connect() as conn:
        audit.anchor(conn, now=now)
    (get_settings().publications_dir / "feed.xml").write_text("<feed/>", encoding="utf-8")
    return {"draft": draft, "running": running, "attachment": stored.ref.sha256, "tender": tender}


def _switch_home(monkeypatch: pytest.MonkeyPatch, home: Path) -> None:
    """Point the process at another GRANTFLOW_HOME, as a new shell would."""
    dispose_engines()
    monkeypatch.setenv("GRANTFLOW_HOME", str(home))
    reset_settings()
    clear_cache()
    forget_key()


@pytest.fixture
def writer(engine: Engine, now: datetime) -> Iterator[Callable[[], None]]:
    """Audit events and anchors written without pause in another thread; the test calls the
    fixture's value to stop it, which returns once the thread's last write has ended (a write still
    running when the test switches home would look for the audit key in the new one)."""
    stop = threading.Event()
    errors: list[BaseException] = []

    def work() -> None:
        n = 0
        try:
            while not stop.is_set():
                with engine.begin() as conn:
                    audit.note(
                        conn,
                        subject="audit",
                        subject_id=0,
                        actor=SYSTEM,
                        action="backup_test_write",
                        payload={"n": n},
                        now=now + timedelta(seconds=n),
                    )
                if n % 5 == 0:  # anchors too: each must still name an event the copy holds
                    with engine.connect() as conn:
                        audit.anchor(conn, now=now + timedelta(seconds=n))
                n += 1
        except BaseException as exc:  # reported by the test, not lost in the thread
            errors.append(exc)

    def halt() -> None:
        stop.set()
        thread.join(timeout=30)

    thread = threading.Thread(target=work, daemon=True)
    thread.start()
    yield halt
    halt()
    assert not errors, errors


def test_round_trip_while_writes_continue(
    engine: Engine,
    populated: dict[str, object],
    writer: Callable[[], None],
    tmp_path: Path,
    monkeypatch: pytest.MonkeyPatch,
) -> None:
    with engine.connect() as conn:
        before = conn.execute(select(func.count()).select_from(audit._events)).scalar_one()
    dest = tmp_path / "backup"
    result = runner.invoke(app, ["backup", str(dest), "--lang", "en"])
    assert result.exit_code == 0, result.output
    assert "backup written" in result.output and "projects" in result.output
    writer()
    manifest = Manifest.read(dest)
    with engine.connect() as conn:
        after = conn.execute(select(func.count()).select_from(audit._events)).scalar_one()
    # the writes really overlapped the copy, and the copy holds a moment between start and end
    assert before <= manifest.tables["audit_events"] <= after
    assert after > before
    assert manifest.dialect == "sqlite" and manifest.alembic_revision
    assert manifest.audit_head["id"] == manifest.tables["audit_events"]
    assert manifest.tables["projects"] >= 4 and manifest.tables["attachments"] == 1 and manifest.tables["bids"] == 1
    sha = str(populated["attachment"])
    for rel in (SQLITE_COPY, f"files/{sha[:2]}/{sha}", "keys/audit.key", "keys/bid-master.key",
                "anchors/audit-anchors.jsonl", "publications/feed.xml"):  # fmt: skip
        assert rel in manifest.files, rel
        assert manifest.files[rel]["size"] == (dest / rel).stat().st_size
    for key in ("keys/audit.key", "keys/bid-master.key", SQLITE_COPY):
        assert stat.S_IMODE((dest / key).stat().st_mode) == 0o600, key
    old = get_settings()
    old_keys = (old.audit_key_path.read_bytes(), old.bid_master_key_path.read_bytes())

    fresh = tmp_path / "restored"
    _switch_home(monkeypatch, fresh)
    restored = runner.invoke(app, ["restore", str(dest), "--lang", "en"])
    assert restored.exit_code == 0, restored.output
    assert "audit verify passed" in restored.output and "counts match the manifest" in restored.output
    verified = runner.invoke(app, ["audit", "verify", "--lang", "en"])
    assert verified.exit_code == 0, verified.output
    assert "audit chain intact" in verified.output
    s = get_settings()
    assert s.home_dir == fresh.resolve()
    assert _counts(s.url) == manifest.tables
    assert (s.audit_key_path.read_bytes(), s.bid_master_key_path.read_bytes()) == old_keys
    for key in (s.audit_key_path, s.bid_master_key_path, fresh / "grantflow.db"):
        assert stat.S_IMODE(key.stat().st_mode) == 0o600, key
    assert file_store(s).read(f"{sha[:2]}/{sha}", sha256=sha) == PDF
    assert (s.publications_dir / "feed.xml").read_text(encoding="utf-8") == "<feed/>"
    check = make_engine(s.url)
    try:
        with check.connect() as conn:
            assert conn.execute(select(Project.state).where(Project.id == populated["running"])).scalar_one() == (
                "in_execution"
            )
            assert conn.execute(select(func.count()).select_from(Bid)).scalar_one() == 1
            assert conn.execute(select(Attachment.sha256)).scalar_one() == sha
    finally:
        check.dispose()


def test_a_changed_byte_is_refused_by_name(
    engine: Engine, populated: dict[str, object], tmp_path: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    dest = tmp_path / "backup"
    assert runner.invoke(app, ["backup", str(dest)]).exit_code == 0
    sha = str(populated["attachment"])
    victim = dest / "files" / sha[:2] / sha
    data = bytearray(victim.read_bytes())
    data[10] ^= 0x01  # same size, one bit different
    victim.write_bytes(bytes(data))
    fresh = tmp_path / "restored"
    _switch_home(monkeypatch, fresh)
    result = runner.invoke(app, ["restore", str(dest), "--lang", "en"])
    assert result.exit_code == 2
    assert _flat(f"the backup file files/{sha[:2]}/{sha} differs from the manifest") in _flat(result.output)
    assert not fresh.exists() or not any(fresh.iterdir())  # nothing was restored
    zh = runner.invoke(app, ["restore", str(dest), "--lang", "zh"])
    assert zh.exit_code == 2 and "与清单不符" in zh.output


def test_a_changed_manifest_count_is_not_hidden(
    engine: Engine, populated: dict[str, object], tmp_path: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    """The manifest itself is not checksummed (it holds the checksums): a count edited in it shows
    up as a mismatch after the restore, naming the table."""
    dest = tmp_path / "backup"
    assert runner.invoke(app, ["backup", str(dest)]).exit_code == 0
    body = json.loads((dest / MANIFEST).read_text(encoding="utf-8"))
    body["tables"]["projects"] += 1
    (dest / MANIFEST).write_text(json.dumps(body), encoding="utf-8")
    _switch_home(monkeypatch, tmp_path / "restored")
    result = runner.invoke(app, ["restore", str(dest), "--lang", "en"])
    assert result.exit_code == 1
    assert "differfromthemanifest:projects" in _flat(result.output)


def test_refuses_a_non_empty_backup_directory_and_a_non_empty_home(
    engine: Engine, home: Path, tmp_path: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    busy = tmp_path / "busy"
    busy.mkdir()
    (busy / "something").write_text("x")
    result = runner.invoke(app, ["backup", str(busy), "--lang", "en"])
    assert result.exit_code == 2 and "isnotempty" in _flat(result.output) and str(busy) in _flat(result.output)
    assert not (busy / MANIFEST).exists()
    dest = tmp_path / "backup"
    assert runner.invoke(app, ["backup", str(dest)]).exit_code == 0
    # restoring over the live home: refused, naming it
    result = runner.invoke(app, ["restore", str(dest), "--lang", "en"])
    assert result.exit_code == 2
    assert _flat(f"GRANTFLOW_HOME ({home.resolve()}) is not empty") in _flat(result.output)
    zh = runner.invoke(app, ["restore", str(dest), "--lang", "zh"])
    assert "不是空的" in zh.output
    not_a_backup = tmp_path / "empty"
    not_a_backup.mkdir()
    _switch_home(monkeypatch, tmp_path / "fresh")
    result = runner.invoke(app, ["restore", str(not_a_backup), "--lang", "en"])
    assert result.exit_code == 2 and "manifest.jsonismissing" in _flat(result.output)


@pytest.mark.postgres
@pytest.mark.slow
def test_postgres_round_trip(
    pg_engine: Engine, pg_server: PgServer, now: datetime, tmp_path: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    people = People(pg_engine)
    make_project(pg_engine, people, now, state="in_execution")
    make_project(pg_engine, people, now, applicant="applicant2", state="under_review")
    with pg_engine.connect() as conn:
        audit.anchor(conn, now=now)
    dest = tmp_path / "backup"
    result = runner.invoke(app, ["backup", str(dest), "--lang", "en"])
    assert result.exit_code == 0, result.output
    manifest = Manifest.read(dest)
    assert manifest.dialect == "postgresql" and "database/grantflow.dump" in manifest.files
    assert manifest.tables["projects"] >= 2
    target = pg_server.create_database()
    try:
        _switch_home(monkeypatch, tmp_path / "restored")
        monkeypatch.setenv("GRANTFLOW_DATABASE_URL", pg_server.url(target))
        reset_settings()
        restored = runner.invoke(app, ["restore", str(dest), "--lang", "en"])
        assert restored.exit_code == 0, restored.output
        verified = runner.invoke(app, ["audit", "verify", "--lang", "en"])
        assert verified.exit_code == 0, verified.output
        assert _counts(pg_server.url(target)) == manifest.tables
        # a second restore into the now populated database is refused
        _switch_home(monkeypatch, tmp_path / "again")
        again = runner.invoke(app, ["restore", str(dest), "--lang", "en"])
        assert again.exit_code == 2 and "isnotempty" in _flat(again.output)
    finally:
        dispose_engines()
        pg_server.drop_database(target)


def test_a_failure_half_way_leaves_nothing_behind_and_can_be_run_again(
    engine: Engine, populated: dict[str, object], tmp_path: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    """A disk filling up during a backup, or during a restore: the directory (or the home) is left
    empty again, with one line saying so, and the same command then simply works."""
    from grantflow.services import backup as service

    real_copy, real_place = service._copy, service._place
    calls = {"copy": 0, "place": 0}

    def full_disk(kind: str, real: Callable[..., Any]) -> Callable[..., Any]:
        def wrapped(*args: Any, **kwargs: Any) -> Any:
            calls[kind] += 1
            if calls[kind] == 3:
                raise OSError(28, "No space left on device")
            return real(*args, **kwargs)

        return wrapped

    dest = tmp_path / "backup"
    monkeypatch.setattr(service, "_copy", full_disk("copy", real_copy))
    result = runner.invoke(app, ["backup", str(dest), "--lang", "en"])
    assert result.exit_code == 2 and "backupfailed" in _flat(result.output) and "Nospace" in _flat(result.output)
    assert dest.is_dir() and not any(dest.iterdir())
    monkeypatch.setattr(service, "_copy", real_copy)
    assert runner.invoke(app, ["backup", str(dest)]).exit_code == 0

    fresh = tmp_path / "restored"
    _switch_home(monkeypatch, fresh)
    monkeypatch.setattr(service, "_place", full_disk("place", real_place))
    result = runner.invoke(app, ["restore", str(dest), "--lang", "en"])
    assert result.exit_code == 2 and "restorefailed" in _flat(result.output)
    assert not any(fresh.iterdir())
    monkeypatch.setattr(service, "_place", real_place)
    result = runner.invoke(app, ["restore", str(dest), "--lang", "en"])
    assert result.exit_code == 0, result.output
