"""Trusted time: nothing a user passes moves the clock.

These tests run on the machine's real clock (no ``clock`` fixture): a tender whose bids open
in the real future stays sealed whatever flag, query parameter or environment variable is
tried, and a flow "as of" another moment only ever runs on a copy of the database.
"""

from __future__ import annotations

import json
import os
import subprocess
import sys
from datetime import UTC, datetime
from pathlib import Path
from typing import Any

import pytest
import typer
from sqlalchemy import Engine, func, select
from typer.testing import CliRunner

from grantflow.cli.main import app as cli
from grantflow.db.models import AuditEvent, Tender, table
from grantflow.services.seed import DEMO_PASSWORD
from grantflow.services.tenders import BidSealed, read_bid, require_open
from grantflow.web.app import create_app
from tests.conftest import People
from tests.test_bids import SECRET, Tender_
from tests.web import WebClient

BIN = Path(sys.executable).parent
FAR = "2099-01-01T00:00:00"
runner = CliRunner()


@pytest.fixture
def tender(engine: Engine, people: People) -> Tender_:
    """A tender set up right now, its bids opening in six days of real time."""
    return Tender_(engine, people, datetime.now(UTC))


def _opened_at(engine: Engine, call_id: int) -> datetime | None:
    with engine.connect() as conn:
        return conn.execute(select(table(Tender).c.opened_at).where(table(Tender).c.call_id == call_id)).scalar_one()


def _latest_event_time(engine: Engine) -> datetime:
    with engine.connect() as conn:
        return conn.execute(select(func.max(AuditEvent.created_at))).scalar_one()


def _all_commands(group: Any, prefix: str = "") -> dict[str, Any]:
    """Every command of a (Typer's) click group, by its full name."""
    found: dict[str, Any] = {}
    for name, command in group.commands.items():
        found[f"{prefix}{name}"] = command
        if hasattr(command, "commands"):
            found |= _all_commands(command, f"{prefix}{name} ")
    return found


def test_no_command_takes_a_time_of_its_own() -> None:
    commands = _all_commands(typer.main.get_command(cli))
    assert "review bid-show" in commands and "flows run" in commands
    for name, command in commands.items():
        options = {opt for p in command.params for opt in getattr(p, "opts", [])}
        assert "--now" not in options, name
        assert not {p.name for p in command.params} & {"now", "clock", "today"}, name
    # the one flag that names a moment is the flow simulation's, which never touches the real database
    assert [n for n, c in commands.items() if "--at" in {o for p in c.params for o in getattr(p, "opts", [])}] == [
        "flows run"
    ]


def test_a_sealed_bid_stays_sealed_whatever_a_user_passes(
    engine: Engine, people: People, tender: Tender_, home: Path, tmp_path: Path
) -> None:
    office = ["--as", "office@kw.example.cn"]
    # flags: the old --now is gone, and is refused as an unknown option
    shown = runner.invoke(cli, ["review", "bid-show", str(tender.pid), *office, "--now", FAR])
    assert shown.exit_code == 2 and "No such option" in shown.output and SECRET not in shown.output
    opened = runner.invoke(cli, ["review", "bids-open", str(tender.call_id), *office, "--now", FAR])
    assert opened.exit_code == 2 and "No such option" in opened.output
    # environment variables a user might hope the clock reads: a real process, the real entry point
    env = {
        **os.environ,
        "GRANTFLOW_HOME": str(home),
        "GRANTFLOW_NOW": FAR,
        "GRANTFLOW_CLOCK": FAR,
        "GRANTFLOW_TIME": FAR,
        "FAKETIME": "@2099-01-01 00:00:00",
        "SOURCE_DATE_EPOCH": "4070908800",
        "TZ": "Etc/GMT-14",
        "GRANTFLOW_TIMEZONE": "Pacific/Kiritimati",
    }
    for args in (
        ["bid-show", str(tender.pid)],
        ["bids-export", str(tender.call_id)],
        ["bids-open", str(tender.call_id)],
    ):
        done = subprocess.run(
            [str(BIN / "grantflow"), "review", *args, *office, "--lang", "en"],
            env=env, capture_output=True, text=True, timeout=60,
        )  # fmt: skip
        assert done.returncode == 2, (args, done.stdout, done.stderr)
        assert SECRET not in done.stdout + done.stderr
        assert "sealed" in done.stderr or "has not come" in done.stderr, done.stderr
    # query parameters on the web: the routes read the clock, not the request
    client = WebClient(create_app())
    r = client.post("/login", data={"email": "office@kw.example.cn", "password": DEMO_PASSWORD, "next": "/"})
    assert r.status_code == 200
    assert SECRET not in client.get(f"/api/review/projects/{tender.pid}/bid", params={"now": FAR}).text
    assert SECRET not in client.get(f"/review/calls/{tender.call_id}/bids.csv", params={"at": FAR}).text
    assert client.post(f"/api/review/calls/{tender.call_id}/bids/open", params={"now": FAR}).status_code == 422
    # the scheduler's flow by hand, as of 2099: refused on the real database
    refused = runner.invoke(cli, ["flows", "run", "deadlines", "--at", FAR, "--direct", "--lang", "en"])
    assert refused.exit_code == 2 and "--dry-run" in refused.output
    assert _opened_at(engine, tender.call_id) is None
    with engine.connect() as conn, pytest.raises(BidSealed):
        require_open(read_bid(conn, project_id=tender.pid, actor=people["office"], now=datetime.now(UTC)))
    assert _latest_event_time(engine).year < 2099


def test_flows_run_at_a_moment_only_simulates_on_a_copy(
    engine: Engine, people: People, tender: Tender_, home: Path, tmp_path: Path
) -> None:
    with engine.connect() as conn:
        events_before = conn.execute(select(func.count()).select_from(AuditEvent)).scalar_one()
    # a dry run opens the bids in a throwaway copy and reports it; the real database is untouched
    dry = runner.invoke(cli, ["flows", "run", "deadlines", "--at", FAR, "--dry-run", "--direct"])
    assert dry.exit_code == 0, dry.output
    report = json.loads(dry.output)
    assert report["simulated"] and report["dry_run"] and report["scratch"] is None
    assert report["at"] == "2098-12-31T16:00:00+00:00"  # read in Asia/Shanghai
    assert tender.call_id in report["steps"]["deadlines"]["bids_opened"]
    assert _opened_at(engine, tender.call_id) is None
    with engine.connect() as conn:
        assert conn.execute(select(func.count()).select_from(AuditEvent)).scalar_one() == events_before
    assert _latest_event_time(engine).year < 2099
    # a scratch copy is kept, acted on as of that moment, and is never the real database
    scratch = tmp_path / "what-if.db"
    kept = runner.invoke(cli, ["flows", "run", "deadlines", "--at", FAR, "--scratch", str(scratch), "--direct"])
    assert kept.exit_code == 0, kept.output
    assert json.loads(kept.output)["scratch"] == str(scratch.resolve())
    copy = _engine_at(scratch)
    try:
        assert _opened_at(copy, tender.call_id) is not None
        with copy.connect() as conn:
            channels = conn.execute(select(AuditEvent.channel_detail).where(AuditEvent.action == "bids_opened"))
            assert any("flows run --at 2098-12-31T16:00:00+00:00" in c for c in channels.scalars())
    finally:
        copy.dispose()
    assert _opened_at(engine, tender.call_id) is None
    real = runner.invoke(
        cli, ["flows", "run", "deadlines", "--at", FAR, "--scratch", str(home / "grantflow.db"), "--lang", "en"]
    )
    assert real.exit_code == 2 and "is the real database" in real.output
    both = runner.invoke(cli, ["flows", "run", "deadlines", "--dry-run", "--scratch", str(scratch), "--lang", "en"])
    assert both.exit_code == 2
    assert _opened_at(engine, tender.call_id) is None


def _engine_at(path: Path) -> Engine:
    from grantflow.db.session import make_engine

    return make_engine(f"sqlite:///{path}")


def test_the_system_clock_is_read_in_one_place() -> None:
    """Every package reads "now" through ``grantflow.clock``, so a simulated clock (the demo, the
    tests, a scratch flow run) reaches every rule; a stray system-clock call would escape it."""
    root = Path(__file__).resolve().parent.parent
    reads = ("datetime.now(", "datetime.utcnow(", "date.today(", "time.time(")
    found = [
        f"{path.relative_to(root)}:{n}"
        for folder in (
            "grantflow",
            "states",
            "db",
            "services",
            "forms",
            "notifications",
            "flows",
            "web",
            "cli",
            "reports",
        )
        for path in sorted((root / folder).rglob("*.py"))
        if path != root / "grantflow" / "clock.py"
        for n, line in enumerate(path.read_text(encoding="utf-8").splitlines(), 1)
        if any(r in line for r in reads)
    ]
    assert found == []
