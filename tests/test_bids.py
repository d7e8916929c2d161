"""Sealed bids: unreadable through every application path before the opening, readable after.

The paths: the web pages (the call's bids page, the reviewer's page), the JSON API, the CLI
(`grantflow review bid-show`) and the exports (CSV over the web and `review bids-export`).
Time is injected the one way there is: the process clock (the ``clock`` fixture), which the web
routes and the CLI both read. No flag, parameter or environment variable moves it.
"""

from __future__ import annotations

from collections.abc import Iterator
from datetime import datetime, timedelta
from pathlib import Path

import pytest
from fastapi.testclient import TestClient
from sqlalchemy import Engine, select
from typer.testing import CliRunner

from grantflow.cli.main import app as cli
from grantflow.clock import SimulatedClock
from grantflow.config import get_settings
from grantflow.db.apply import fire
from grantflow.db.models import AuditEvent, Bid, Tender, table
from grantflow.services.calls import new_project
from grantflow.services.eligibility import submit
from grantflow.services.review import auto_assign
from grantflow.services.seed import DEMO_PASSWORD
from grantflow.services.tenders import BidSealed, KeyUnavailable, open_bids, read_bids, submit_bid
from grantflow.states.enums import Category, SelectionMode, SupportMode
from grantflow.states.errors import Forbidden, PayloadInvalid
from grantflow.states.permissions import SYSTEM
from grantflow.web.app import create_app
from tests.conftest import People
from tests.test_review_helpers import call, panel
from tests.web import WebClient

SECRET = "报价：壹仟贰佰万元整 TOTAL-PRICE-12000000"
runner = CliRunner()


class Tender_:
    def __init__(self, engine: Engine, people: People, now: datetime) -> None:
        self.closes = now + timedelta(days=5)
        self.opening = self.closes + timedelta(hours=1)
        self.call_id = call(
            engine,
            people,
            now,
            category=Category.ORGANISED,
            mode=SelectionMode.TENDER,
            support=[SupportMode.TENDER],
            bids_open_at=self.opening,
            closes_in=timedelta(days=5),
            quorum=1,
        )
        with engine.begin() as conn:
            self.pid = new_project(conn, call_id=self.call_id, actor=people["applicant"], title="投标项目", now=now)
            submit_bid(conn, project_id=self.pid, content=SECRET.encode(), actor=people["applicant"], now=now)
        submit(engine, project_id=self.pid, actor=people["applicant"], now=now)


@pytest.fixture
def tender(engine: Engine, people: People, now: datetime) -> Tender_:
    return Tender_(engine, people, now)


@pytest.fixture
def client(engine: Engine) -> Iterator[TestClient]:
    web = create_app()
    yield WebClient(web)
    web.dependency_overrides.clear()


def _login(client: TestClient, email: str) -> None:
    r = client.post("/login", data={"email": email, "password": DEMO_PASSWORD, "next": "/"}, follow_redirects=False)
    assert r.status_code == 303


def _every_path(
    client: TestClient, clock: SimulatedClock, tender: Tender_, moment: datetime, tmp: Path
) -> dict[str, tuple[int, str]]:
    """What each path answers the office at ``moment``: (status or exit code, text). The office
    signs in at that moment: a sign-in from days before has expired by then."""
    clock.set(moment)
    _login(client, "office@kw.example.cn")
    out: dict[str, tuple[int, str]] = {}
    for name, url in {
        "web page": f"/review/calls/{tender.call_id}/bids",
        "web export": f"/review/calls/{tender.call_id}/bids.csv",
        "api call bids": f"/api/review/calls/{tender.call_id}/bids",
        "api project bid": f"/api/review/projects/{tender.pid}/bid",
    }.items():
        r = client.get(url)
        out[name] = (r.status_code, r.text)
    shown = runner.invoke(cli, ["review", "bid-show", str(tender.pid), "--as", "office@kw.example.cn"])
    out["cli bid-show"] = (shown.exit_code, shown.output)
    target = tmp / f"export-{moment.timestamp():.0f}.csv"
    exported = runner.invoke(
        cli,
        [
            "review",
            "bids-export",
            str(tender.call_id),
            "--as",
            "office@kw.example.cn",
            "-o",
            str(target),
        ],
    )
    out["cli export"] = (exported.exit_code, exported.output + (target.read_text("utf-8") if target.exists() else ""))
    return out


def test_no_path_shows_a_bid_before_opening_and_every_path_after(
    client: TestClient, clock: SimulatedClock, engine: Engine, people: People, tender: Tender_, tmp_path: Path
) -> None:
    _login(client, "office@kw.example.cn")
    before = _every_path(client, clock, tender, tender.closes, tmp_path)
    for name, (_, text) in before.items():
        assert "TOTAL-PRICE" not in text, name
    assert before["web page"][0] == 200 and "前不可查看" in before["web page"][1]  # the office reads zh
    # sealed: not even how many bids there are, nor which project bid
    assert "<tbody>" not in before["web page"][1] and "投标项目" not in before["web page"][1]
    assert before["api call bids"][0] == 422 and '"error":"bid_sealed"' in before["api call bids"][1].replace(" ", "")
    assert before["api project bid"][0] == 422 and "bid_sealed" in before["api project bid"][1]
    assert before["web export"][0] == 422
    assert before["cli bid-show"][0] == 2 and before["cli export"][0] == 2

    # nor can the office open early, through the web or the API
    clock.set(tender.closes)
    _login(client, "office@kw.example.cn")
    assert client.post(f"/api/review/calls/{tender.call_id}/bids/open").status_code == 422
    # at the opening time the office opens them (the scheduler could have, see open_due_bids)
    clock.set(tender.opening)
    _login(client, "office@kw.example.cn")
    assert client.post(f"/api/review/calls/{tender.call_id}/bids/open").json() == {"opened": True}

    after = _every_path(client, clock, tender, tender.opening + timedelta(minutes=1), tmp_path)
    for name, (code, text) in after.items():
        assert code in (0, 200), (name, text)
        assert "TOTAL-PRICE-12000000" in text, name


def test_contents_are_stored_encrypted_and_never_audited(engine: Engine, tender: Tender_) -> None:
    with engine.connect() as conn:
        bid = conn.execute(select(table(Bid))).one()
        key = conn.execute(select(table(Tender))).one()
        payloads = [str(p) for p in conn.execute(select(AuditEvent.payload)).scalars()]
    assert SECRET.encode() not in bid.ciphertext and len(bid.ciphertext) == len(SECRET.encode()) + 16
    assert len(key.wrapped_key) == 40  # a wrapped 256-bit key, never the key itself
    assert not any("TOTAL-PRICE" in p for p in payloads)
    assert any(bid.ciphertext_sha256 in p for p in payloads)  # the receipt is audited
    path = get_settings().bid_master_key_path
    assert path.stat().st_mode & 0o777 == 0o600


def test_reviewer_sees_the_bid_only_after_opening(
    client: TestClient, clock: SimulatedClock, engine: Engine, people: People, now: datetime, tender: Tender_
) -> None:
    fire(engine, subject="call", subject_id=tender.call_id, trigger="close_call", actor=SYSTEM, now=tender.closes)
    with engine.begin() as conn:
        open_bids(conn, call_id=tender.call_id, actor=SYSTEM, now=tender.opening)
    fire(engine, subject_id=tender.pid, trigger="accept_formal", actor=people["office"], now=tender.opening)
    panel(engine, people, tender.opening, tender.call_id)
    with engine.begin() as conn:
        (reviewer,) = auto_assign(
            conn, project_id=tender.pid, stage="proposal", actor=people["office"], now=tender.opening
        )
    assert reviewer == people["expert1"].user_id
    clock.set(tender.opening)
    _login(client, "expert1@yanyuan.example.edu")
    page = client.get(f"/review/projects/{tender.pid}/proposal")
    assert page.status_code == 200 and "TOTAL-PRICE" in page.text
    # a reviewer not assigned to it reads nothing
    with engine.connect() as conn, pytest.raises(Forbidden):
        read_bids(conn, call_id=tender.call_id, actor=people["expert3"], now=tender.opening)


def test_bidding_rules(engine: Engine, people: People, now: datetime, tender: Tender_) -> None:
    with engine.begin() as conn, pytest.raises(PayloadInvalid, match="once the project is submitted"):
        submit_bid(conn, project_id=tender.pid, content=b"new", actor=people["applicant"], now=now)
    with engine.begin() as conn:
        other = new_project(conn, call_id=tender.call_id, actor=people["applicant2"], title="后来者", now=now)
    with engine.begin() as conn, pytest.raises(Forbidden):
        submit_bid(conn, project_id=other, content=b"x", actor=people["applicant"], now=now)
    with engine.begin() as conn, pytest.raises(PayloadInvalid, match="closed"):
        submit_bid(conn, project_id=other, content=b"x", actor=people["applicant2"], now=tender.closes + timedelta(1))
    with engine.begin() as conn, pytest.raises(PayloadInvalid, match="empty"):
        submit_bid(conn, project_id=other, content=b"", actor=people["applicant2"], now=now)
    # the bidder sees its receipt, never contents, through the application
    with engine.connect() as conn:
        (own,) = read_bids(conn, call_id=tender.call_id, actor=people["applicant"], now=tender.opening)
    assert own.content is None


def test_a_lost_or_wrong_master_key_fails_loudly(engine: Engine, people: People, tender: Tender_) -> None:
    path = get_settings().bid_master_key_path
    path.write_bytes(b"\x00" * 32)
    with engine.begin() as conn:
        open_bids(conn, call_id=tender.call_id, actor=SYSTEM, now=tender.opening)
    with engine.connect() as conn, pytest.raises(KeyUnavailable) as info:
        read_bids(conn, call_id=tender.call_id, actor=people["office"], now=tender.opening)
    assert "not the one the bids were sealed with" in info.value.text("en")
    path.unlink()
    with engine.connect() as conn, pytest.raises(KeyUnavailable, match="missing"):
        read_bids(conn, call_id=tender.call_id, actor=people["office"], now=tender.opening)


def test_office_cannot_open_before_time_and_others_never(engine: Engine, people: People, tender: Tender_) -> None:
    with engine.begin() as conn, pytest.raises(BidSealed):
        open_bids(conn, call_id=tender.call_id, actor=people["office"], now=tender.opening - timedelta(seconds=1))
    with engine.begin() as conn, pytest.raises(Forbidden):
        open_bids(conn, call_id=tender.call_id, actor=people["organiser"], now=tender.opening)
