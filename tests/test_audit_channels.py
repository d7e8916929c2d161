"""Every audit event records where it came from: page, API, CLI (with the OS user), flow, demo,
migration. `grantflow fire --as someone` is told apart from that person on the page, and
`grantflow audit list` shows and filters by channel."""

from __future__ import annotations

from collections.abc import Iterator
from datetime import datetime

import pytest
from sqlalchemy import Engine, select
from typer.testing import CliRunner

from grantflow.cli import audit_cmd
from grantflow.cli.channels import os_user
from grantflow.cli.main import app
from grantflow.clock import SimulatedClock
from grantflow.db.apply import fire
from grantflow.db.models import AuditEvent
from grantflow.services.seed import DEMO_PASSWORD
from grantflow.states.channels import Channel
from grantflow.web.app import create_app
from tests.conftest import People
from tests.factories import make_call, make_project
from tests.web import WebClient

runner = CliRunner()


@pytest.fixture(autouse=True)
def wide_console() -> Iterator[None]:
    """Rich sizes tables to the terminal: make it wide enough that no cell wraps."""
    saved = (audit_cmd.console._width, audit_cmd.console._height)
    audit_cmd.console.size = (250, 50)
    yield
    audit_cmd.console._width, audit_cmd.console._height = saved


def _events(engine: Engine, **where: object) -> list[AuditEvent]:
    stmt = select(AuditEvent).order_by(AuditEvent.id)
    for column, value in where.items():
        stmt = stmt.where(getattr(AuditEvent, column) == value)
    with engine.connect() as conn:
        return list(conn.execute(stmt))  # type: ignore[arg-type]


def _flat(text: str) -> str:
    return " ".join(text.split())


@pytest.fixture
def acted(engine: Engine, people: People, now: datetime, clock: SimulatedClock) -> int:
    """The office returns a mid-term report on the page, returns it again through the API, and
    passes it as ``grantflow fire --as`` on a shell; the applicant resubmits in between."""
    pid = make_project(engine, people, now, state="midterm_review")
    client = WebClient(create_app())
    r = client.post("/login", data={"email": "office@kw.example.cn", "password": DEMO_PASSWORD, "next": "/"})
    assert r.status_code == 200
    r = client.post(f"/projects/{pid}/fire", data={"trigger": "return_midterm", "reason": "网页上退回"})
    assert r.status_code in (200, 303), r.text
    fire(engine, subject_id=pid, trigger="submit_midterm", actor=people["applicant"], now=now)
    r = client.post(f"/api/projects/{pid}/triggers/return_midterm", json={"reason": "接口退回"})
    assert r.status_code == 200, r.text
    fire(engine, subject_id=pid, trigger="submit_midterm", actor=people["applicant"], now=now)
    done = runner.invoke(app, ["fire", str(pid), "pass_midterm", "--as", "office@kw.example.cn"])
    assert done.exit_code == 0, done.output
    return pid


OFFICE_ACTS = ("return_midterm", "pass_midterm")


def test_the_same_person_on_the_page_the_api_and_the_shell_is_told_apart(engine: Engine, acted: int) -> None:
    rows = _events(engine, subject="project", subject_id=acted)
    office = [(e.action, e.actor_name, e.channel, e.channel_detail) for e in rows if e.action in OFFICE_ACTS]
    (page, api, cli) = office
    assert page[:3] == ("return_midterm", api[1], "page") and api[:3] == ("return_midterm", page[1], "api")
    assert cli == ("pass_midterm", page[1], "cli", os_user())  # same person, but from a shell, and whose
    # the events the test factories wrote through code say so, never pretending to be a person's page
    assert {e.channel for e in rows if e.action not in OFFICE_ACTS} == {"code"}


def test_audit_list_filters_by_channel_and_subject_in_the_chosen_language(engine: Engine, acted: int) -> None:
    only_cli = runner.invoke(app, ["audit", "list", "--channel", "cli", "--lang", "en"])
    assert only_cli.exit_code == 0, only_cli.output
    out = _flat(only_cli.output)
    assert f"command line ({os_user()})" in out and "pass_midterm" in out
    assert "web page" not in out and "API" not in out
    # the project's whole history, newest first, headings and channel names in Chinese
    zh = runner.invoke(app, ["audit", "list", "--subject", "project", "--id", str(acted), "--lang", "zh"])
    assert zh.exit_code == 0, zh.output
    out = _flat(zh.output)
    for heading in ("编号", "时间", "操作人", "渠道", "操作", "对象"):
        assert heading in out
    assert "网页" in out and "接口" in out and "命令行" in out
    assert out.index("命令行") < out.index("接口") < out.index("网页")  # newest first
    # times in the configured zone (Asia/Shanghai): the clock's 01:00 UTC is 09:00 there
    assert "09:00:00 CST" in out
    limited = runner.invoke(app, ["audit", "list", "--limit", "1", "--lang", "en"])
    assert _flat(limited.output).count("project") == 1
    bad = runner.invoke(app, ["audit", "list", "--channel", "telepathy", "--lang", "en"])
    assert bad.exit_code == 2 and "known: page, api, cli, flow, demo, migration, code" in _flat(bad.output)


def test_a_flow_run_by_hand_records_the_flow_channel(
    engine: Engine, people: People, now: datetime, clock: SimulatedClock
) -> None:
    call_id = make_call(engine, people, now, open_call=False)  # published, its opening time passed
    done = runner.invoke(app, ["flows", "run", "deadlines", "--direct"])
    assert done.exit_code == 0, done.output
    (opened,) = _events(engine, subject="call", subject_id=call_id, action="open")
    assert (opened.actor_name, opened.channel, opened.channel_detail) == ("system", "flow", f"flows run by {os_user()}")
    listed = runner.invoke(app, ["audit", "list", "--channel", "flow", "--lang", "en"])
    assert f"flow (flows run by {os_user()})" in _flat(listed.output)


def test_the_demo_records_the_demo_channel(engine: Engine) -> None:
    done = runner.invoke(app, ["demo", "--lang", "en"])
    assert done.exit_code == 0, done.output
    assert "audit chain: intact" in done.output
    channels = {e.channel for e in _events(engine)}
    assert channels == {"demo"}


def test_an_unknown_channel_cannot_be_made() -> None:
    with pytest.raises(ValueError, match="unknown channel"):
        Channel("telepathy")
    assert len(Channel("cli", "x" * 500).detail) == 200
