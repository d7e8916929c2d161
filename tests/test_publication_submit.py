"""Published documents reach the S&T reporting system even when it fails now and then."""

from __future__ import annotations

import hashlib
import json
import threading
from collections.abc import Iterator
from datetime import datetime, timedelta
from email.parser import BytesParser
from email.policy import HTTP
from http.server import BaseHTTPRequestHandler, ThreadingHTTPServer

import pytest
from sqlalchemy import Engine, select

from grantflow.config import get_settings, reset_settings
from grantflow.db.models import PublicationSubmission
from grantflow.reports.publish import publish_disclosure
from grantflow.reports.submit import submit_pending
from tests.conftest import People
from tests.factories import make_call, make_project
from tests.publishing import PUBLISHED_LATER, FakeScanner

pytestmark = pytest.mark.both_databases  # every test using `engine` runs on SQLite and on PostgreSQL


class Flaky(BaseHTTPRequestHandler):
    """Fails every other request (503), checks the token, stores what it accepted."""

    calls = 0
    accepted: dict[str, bytes] = {}  # noqa: RUF012
    keys: list[str] = []  # noqa: RUF012

    def do_POST(self) -> None:
        Flaky.calls += 1
        body = self.rfile.read(int(self.headers["Content-Length"]))
        if self.headers.get("Authorization") != "Bearer s3cret":
            self._reply(401, {"error": "token"})
            return
        if Flaky.calls % 2 == 1:
            self._reply(503, {"error": "busy"})
            return
        msg = BytesParser(policy=HTTP).parsebytes(
            b"Content-Type: " + self.headers["Content-Type"].encode() + b"\r\n\r\n" + body
        )
        parts = {
            p.get_param("name", header="content-disposition"): p.get_payload(decode=True) for p in msg.iter_parts()
        }
        meta = json.loads(parts["metadata"])
        key = self.headers["Idempotency-Key"]
        Flaky.keys.append(key)
        if hashlib.sha256(parts["file"]).hexdigest() != meta["sha256"] or key != meta["sha256"]:
            self._reply(400, {"error": "digest"})
            return
        Flaky.accepted[key] = parts["file"]
        self._reply(201, {"receipt": f"KJBG-{len(Flaky.accepted):04d}", "sha256": key})

    def _reply(self, status: int, payload: dict[str, str]) -> None:
        data = json.dumps(payload).encode()
        self.send_response(status)
        self.send_header("Content-Type", "application/json")
        self.send_header("Content-Length", str(len(data)))
        self.end_headers()
        self.wfile.write(data)

    def log_message(self, *args: object) -> None:
        pass


@pytest.fixture
def endpoint(monkeypatch: pytest.MonkeyPatch, home: object) -> Iterator[str]:
    Flaky.calls, Flaky.accepted, Flaky.keys = 0, {}, []
    httpd = ThreadingHTTPServer(("127.0.0.1", 0), Flaky)
    threading.Thread(target=httpd.serve_forever, daemon=True).start()
    url = f"http://127.0.0.1:{httpd.server_address[1]}/api/reports"
    monkeypatch.setenv("GRANTFLOW_STRS_ENDPOINT", url)
    monkeypatch.setenv("GRANTFLOW_STRS_TOKEN", "s3cret")
    reset_settings()
    yield url
    httpd.shutdown()


def test_documents_are_submitted_with_retries_and_the_receipt_is_kept(
    endpoint: str, engine: Engine, people: People, now: datetime
) -> None:
    call = make_call(engine, people, now)
    make_project(engine, people, now, call_id=call, title="智能网联汽车测试平台", state="commissioning")
    settings = get_settings()
    later = now + PUBLISHED_LATER
    out = publish_disclosure(
        engine, settings, kind="establishment", programme=7, period="2026-03", now=later, scanner=FakeScanner()
    )
    sleeps: list[float] = []
    report = submit_pending(engine, settings, now=later, sleep=sleeps.append)
    assert report.sent == 1 and sleeps == [0.2]  # the first attempt got a 503, the second went through
    with engine.connect() as conn:
        row = conn.execute(select(PublicationSubmission)).one()
    assert row.status == "sent" and row.attempts == 2 and row.receipt["receipt"] == "KJBG-0001"
    assert Flaky.accepted[out.documents[0].sha256] == (settings.publications_dir / out.documents[0].name).read_bytes()
    assert submit_pending(engine, settings, now=later + timedelta(hours=1)).sent == 0  # sent once


def test_a_system_that_stays_down_is_retried_later_then_given_up(
    endpoint: str, engine: Engine, people: People, now: datetime, monkeypatch: pytest.MonkeyPatch
) -> None:
    call = make_call(engine, people, now)
    make_project(engine, people, now, call_id=call, title="城市副中心能源站", state="commissioning")
    monkeypatch.setenv("GRANTFLOW_STRS_MAX_ATTEMPTS", "5")
    monkeypatch.setenv("GRANTFLOW_STRS_ENDPOINT", endpoint.replace("/api/", "/nowhere/").rsplit(":", 1)[0] + ":9/x")
    reset_settings()
    settings = get_settings()
    later = now + PUBLISHED_LATER
    publish_disclosure(
        engine, settings, kind="establishment", programme=7, period="2026-03", now=later, scanner=FakeScanner()
    )
    first = submit_pending(engine, settings, now=later, sleep=lambda s: None)
    assert first.retrying == 1 and first.sent == 0
    with engine.connect() as conn:
        row = conn.execute(select(PublicationSubmission)).one()
    assert row.attempts == 3 and row.next_attempt_at > later and "ConnectError" in row.last_error
    assert submit_pending(engine, settings, now=later, sleep=lambda s: None).retrying == 0  # not due yet
    last = submit_pending(engine, settings, now=row.next_attempt_at, sleep=lambda s: None)
    assert last.failed == 1
    with engine.connect() as conn:
        assert conn.execute(select(PublicationSubmission.status)).scalar_one() == "failed"
