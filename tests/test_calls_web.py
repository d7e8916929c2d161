"""Applying on the web page: the public list of open calls, a call's page, starting an application
(refused with every reason, in the reader's language), the "my deadlines" calendar feed, and the
project page's lifecycle drawing and timeline. Real app, real SQLite file, clock stopped at T0."""

from __future__ import annotations

import importlib.util
import json
from collections.abc import Iterator
from datetime import datetime, timedelta
from pathlib import Path

import pytest
from icalendar import Calendar
from sqlalchemy import Engine, insert, select

from grantflow.clock import SimulatedClock
from grantflow.config import get_settings
from grantflow.db.apply import create
from grantflow.db.models import AuditEvent, CalendarToken, DueItem, Project
from grantflow.db.workflows import get_registry
from grantflow.services.lifecycle_view import graphviz_available
from grantflow.services.seed import DEMO_PASSWORD
from grantflow.states.enums import Category, SelectionMode
from grantflow.web.app import create_app
from tests.conftest import People
from tests.factories import make_project, programme_id
from tests.test_review_helpers import call
from tests.web import WebClient

APPLICANT = "pi@jinghua.example.com"
BENCH = Path(__file__).resolve().parent.parent / "bench" / "calls_web.py"


@pytest.fixture
def client(engine: Engine, clock: SimulatedClock) -> Iterator[WebClient]:
    yield WebClient(create_app())


def _login(client: WebClient, email: str) -> None:
    r = client.post("/login", data={"email": email, "password": DEMO_PASSWORD}, follow_redirects=False)
    assert r.status_code == 303, r.text


def _drafted_call(engine: Engine, people: People, now: datetime) -> int:
    """A call still being drafted: in a state its table does not mark accepting."""
    with engine.begin() as conn:
        return create(
            conn,
            subject="call",
            actor=people["organiser"],
            now=now,
            values={
                "programme_id": programme_id(engine),
                "title": "未发布的指南",
                "category": Category.SUPPORTED,
                "selection_mode": SelectionMode.MERIT,
                "opens_at": now,
                "closes_at": now + timedelta(days=10),
            },
        )


def _projects(engine: Engine, call_id: int) -> list[int]:
    with engine.connect() as conn:
        return list(conn.execute(select(Project.id).where(Project.call_id == call_id)).scalars())


def test_anonymous_visitor_sees_the_open_calls_only(
    client: WebClient, engine: Engine, people: People, now: datetime
) -> None:
    open_id = call(engine, people, now, eligibility={"unit_types": ["university"]})
    hidden = _drafted_call(engine, people, now)
    page = client.get("/calls")
    assert page.status_code == 200
    assert f'href="/calls/{open_id}"' in page.text and f"/calls/{hidden}" not in page.text
    # terms in words, dates in the configured zone (Asia/Shanghai: T0 + 30 days, 09:00 CST)
    assert "单位性质：高等院校" in page.text and "CST" in page.text
    detail = client.get(f"/calls/{open_id}")
    assert detail.status_code == 200 and "登录后申报" in detail.text and 'action="/calls/' not in detail.text
    assert client.get(f"/calls/{hidden}").status_code == 404  # not disclosed before it opens
    client.get("/lang/en")
    assert "unit type: university" in client.get("/calls").text
    # which states are listed is the table's answer, not a name typed in the page
    assert get_registry().get("call").states_where(lambda s: s.accepting)


def test_the_list_is_paginated(client: WebClient, engine: Engine, people: People, now: datetime) -> None:
    ids = [call(engine, people, now, closes_in=timedelta(days=10 + i)) for i in range(22)]
    first = client.get("/calls")
    assert "1 / 2" in first.text and 'href="/calls?page=2"' in first.text
    assert f'href="/calls/{ids[0]}"' in first.text and f'href="/calls/{ids[21]}"' not in first.text
    second = client.get("/calls?page=2")
    assert f'href="/calls/{ids[21]}"' in second.text and f'href="/calls/{ids[0]}"' not in second.text


def test_applicant_applies_on_the_page(client: WebClient, engine: Engine, people: People, now: datetime) -> None:
    call_id = call(engine, people, now)
    _login(client, APPLICANT)
    page = client.get(f"/calls/{call_id}")
    assert f'action="/calls/{call_id}/apply"' in page.text and 'name="csrf_token"' in page.text
    r = client.post(f"/calls/{call_id}/apply", data={"title": "精密减速器"}, follow_redirects=False)
    assert r.status_code == 303
    (pid,) = _projects(engine, call_id)
    assert r.headers["location"] == f"/projects/{pid}/forms/proposal"
    with engine.connect() as conn:
        event = conn.execute(
            select(AuditEvent).where(AuditEvent.subject == "project", AuditEvent.subject_id == pid)
        ).first()
    assert event is not None and event.channel == "page"
    # a second one for the same unit is refused, as the CLI refuses it, naming the first
    again = client.post(f"/calls/{call_id}/apply", data={"title": "第二次"})
    assert again.status_code == 422 and "每个单位最多 1 项" in again.text and 'value="第二次"' in again.text
    assert f'href="/projects/{pid}"' in again.text  # the one to continue instead
    assert len(_projects(engine, call_id)) == 1
    # someone who is not an applicant is refused for who they are
    _login(client, "office@kw.example.cn")
    assert client.post(f"/calls/{call_id}/apply", data={"title": "办公室"}).status_code == 403


def test_an_ineligible_applicant_is_refused_with_every_reason(
    client: WebClient, engine: Engine, people: People, now: datetime
) -> None:
    call_id = call(engine, people, now, eligibility={"unit_types": ["university"], "qualifications": ["iso9001"]})
    _login(client, APPLICANT)
    shown = client.get(f"/calls/{call_id}")
    assert "单位性质不符" in shown.text  # told before pressing the button
    zh = client.post(f"/calls/{call_id}/apply", data={"title": "我的项目"})
    assert zh.status_code == 422
    assert "不能申报" in zh.text and "单位性质不符" in zh.text and "缺少有效资质：ISO 9001" in zh.text
    assert 'value="我的项目"' in zh.text  # what was typed is kept
    client.get("/lang/en")
    en = client.post(f"/calls/{call_id}/apply", data={"title": "my project"})
    assert en.status_code == 422 and "Cannot apply" in en.text
    too_long = client.post(f"/calls/{call_id}/apply", data={"title": "x" * 301})
    assert too_long.status_code == 422 and "at most 300 characters" in too_long.text
    assert "type does not qualify" in en.text and "missing valid qualifications: ISO 9001" in en.text
    assert _projects(engine, call_id) == []


def test_a_call_not_accepting_is_refused(client: WebClient, engine: Engine, people: People, now: datetime) -> None:
    hidden = _drafted_call(engine, people, now)
    _login(client, APPLICANT)
    refused = client.post(f"/calls/{hidden}/apply", data={"title": "x"})
    assert refused.status_code == 422 and "不接受申报" in refused.text  # as the CLI says it
    late = call(engine, people, now - timedelta(days=40))  # closed ten days ago, not yet swept
    r = client.post(f"/calls/{late}/apply", data={"title": "x"})
    assert r.status_code == 422 and "已于" in r.text and "截止" in r.text
    assert _projects(engine, hidden) == [] and _projects(engine, late) == []


def _feed_url(client: WebClient) -> str:
    page = client.post("/account/calendar")
    assert page.status_code == 200 and page.headers["cache-control"] == "no-store"
    start = page.text.index("http://testserver/calendar/")
    return page.text[start : page.text.index('"', start)].removeprefix("http://testserver")


def test_calendar_feed_has_my_deadlines_and_reset_invalidates_it(
    client: WebClient, engine: Engine, people: People, now: datetime
) -> None:
    call_id = call(engine, people, now)
    drafting = make_project(engine, people, now, call_id=call_id, state="draft")
    running = make_project(engine, people, now, state="in_execution")
    due = now + timedelta(days=5)
    with engine.begin() as conn:
        conn.execute(
            insert(DueItem).values(
                key=f"test:{running}:midterm",
                kind="report",
                subject="project",
                subject_id=running,
                form_key="midterm_report",
                due_at=due,
                status="open",
                created_at=now,
            )
        )
    _login(client, APPLICANT)
    assert "生成订阅地址" in client.get("/account").text
    url = _feed_url(client)
    anonymous = WebClient(create_app())
    r = anonymous.get(url)
    assert r.status_code == 200 and r.headers["content-type"].startswith("text/calendar")
    cal = Calendar.from_ical(r.content)
    events = {str(e["UID"]): e for e in cal.walk("VEVENT")}
    item = next(e for uid, e in events.items() if uid.startswith("due-"))
    assert item.decoded("DTSTART") == due and "中期" in str(item["SUMMARY"])
    closing = next(e for uid, e in events.items() if uid == f"call-{call_id}-closes@grantflow")
    assert closing.decoded("DTSTART") == now + timedelta(days=30)
    assert drafting  # the call's deadline is there because the unit is drafting in it
    # the same item keeps its UID from one fetch to the next
    again = Calendar.from_ical(anonymous.get(url).content)
    assert {str(e["UID"]) for e in again.walk("VEVENT")} == set(events)
    # a wrong token is a page that does not exist
    assert anonymous.get("/calendar/not-a-token.ics").status_code == 404
    # the page no longer shows the address; resetting makes the old one stop working
    assert "calendar/" not in client.get("/account").text.split('id="calendar"')[1].split("</section>")[0]
    new_url = _feed_url(client)
    assert new_url != url
    assert anonymous.get(url).status_code == 404 and anonymous.get(new_url).status_code == 200
    with engine.connect() as conn:
        stored = conn.execute(select(CalendarToken.token_hash)).scalars().all()
    assert len(stored) == 1 and new_url.split("/")[-1].removesuffix(".ics") not in stored  # only a hash


def test_project_page_shows_its_lifecycle_and_timeline(
    client: WebClient, engine: Engine, people: People, now: datetime
) -> None:
    pid = make_project(engine, people, now, state="in_execution")
    with engine.begin() as conn:
        for i, days in enumerate((-3, 20)):
            conn.execute(
                insert(DueItem).values(
                    key=f"test:{pid}:{i}",
                    kind="report",
                    subject="project",
                    subject_id=pid,
                    form_key="midterm_report" if i else "task_agreement",
                    due_at=now + timedelta(days=days),
                    status="overdue" if days < 0 else "open",
                    created_at=now,
                )
            )
    _login(client, APPLICANT)
    page = client.get(f"/projects/{pid}")
    assert page.status_code == 200
    timeline = page.text.split('class="timeline"')[1]
    assert timeline.index('class="past') < timeline.index('class="upcoming')  # ordered, the past one marked
    assert 'class="current"' in page.text
    if graphviz_available():
        svg = client.get(f"/projects/{pid}/lifecycle.svg")
        assert svg.status_code == 200 and svg.headers["content-type"].startswith("image/svg+xml")
        assert b"<svg" in svg.content and b"<script" not in svg.content.lower()
        assert b"darksalmon" in svg.content  # the current state is drawn highlighted
    _login(client, "pi@yanyuan.example.edu")
    assert client.get(f"/projects/{pid}/lifecycle.svg").status_code in (403, 404)


def test_tiny_calls_web_bench_prints_its_figures(
    capsys: pytest.CaptureFixture[str], monkeypatch: pytest.MonkeyPatch, tmp_path: Path
) -> None:
    """bench/calls_web.py keeps working (speed is the bench's business, never asserted here)."""
    monkeypatch.setenv("GRANTFLOW_HOME", str(tmp_path))  # the bench points it at its own directory
    spec = importlib.util.spec_from_file_location("bench_calls_web", BENCH)
    assert spec is not None and spec.loader is not None
    bench = importlib.util.module_from_spec(spec)
    spec.loader.exec_module(bench)
    try:
        assert bench.main(["--calls", "3", "--items", "8"]) == 0
    finally:
        get_settings.cache_clear()
    figures = json.loads(capsys.readouterr().out.strip().splitlines()[-1])
    assert figures["bench"] == "calls_web" and figures["calls"] == 3 and figures["feed_events"] >= 8
    assert set(figures["targets"]) == {"list_page_ms", "call_page_ms", "feed_ms_per_event", "diagram_cached_ms"}
