"""The review desk and the applicant's page through the web app (clock injected)."""

from __future__ import annotations

from collections.abc import Iterator
from datetime import datetime, timedelta

import pytest
from fastapi.testclient import TestClient
from sqlalchemy import Engine

from grantflow.db.apply import fire
from grantflow.services.eligibility import submit
from grantflow.services.seed import DEMO_PASSWORD
from grantflow.states.enums import Category, SelectionMode, SupportMode
from grantflow.web.app import create_app
from grantflow.web.routes_review import clock
from tests.conftest import People
from tests.factories import state_of
from tests.test_review_helpers import call, draft, panel, review
from tests.web import WebClient


@pytest.fixture
def client(engine: Engine, now: datetime) -> Iterator[TestClient]:
    web = create_app()
    web.dependency_overrides[clock] = lambda: now
    yield WebClient(web)
    web.dependency_overrides.clear()


def _login(client: TestClient, email: str) -> None:
    r = client.post("/login", data={"email": email, "password": DEMO_PASSWORD}, follow_redirects=False)
    assert r.status_code == 303


def test_refused_submission_on_the_page_lists_every_reason(
    client: TestClient, engine: Engine, people: People, now: datetime
) -> None:
    call_id = call(engine, people, now, eligibility={"unit_types": ["university"], "qualifications": ["iso9001"]})
    pid = draft(engine, people, now, call_id, "applicant")
    _login(client, "pi@jinghua.example.com")
    page = client.get(f"/review/projects/{pid}")
    assert page.status_code == 200 and "高等院校" in page.text and "ISO 9001" in page.text
    refused = client.post(f"/review/projects/{pid}/submit")
    assert refused.status_code == 422
    assert "单位性质不符" in refused.text and "缺少有效资质" in refused.text
    api = client.get(f"/api/review/projects/{pid}/eligibility").json()
    assert api["eligible"] is False and len(api["messages"]) == 2
    assert client.post(f"/api/review/projects/{pid}/submit").status_code == 422
    assert state_of(engine, pid) == "draft"
    # another unit cannot even look
    _login(client, "pi@yanyuan.example.edu")
    assert client.get(f"/review/projects/{pid}").status_code in (403, 404)


def test_office_desk_ranks_assigns_and_decides_in_a_batch(
    client: TestClient, engine: Engine, people: People, now: datetime
) -> None:
    call_id = call(engine, people, now, quorum=1)
    a = draft(engine, people, now, call_id, "applicant")
    b = draft(engine, people, now, call_id, "applicant2")
    for pid, who in ((a, "applicant"), (b, "applicant2")):
        submit(engine, project_id=pid, actor=people[who], now=now)
        fire(engine, subject_id=pid, trigger="accept_formal", actor=people["office"], now=now)
    panel(engine, people, now, call_id)
    _login(client, "office@kw.example.cn")
    assigned = client.post(f"/review/calls/{call_id}/assign", data={"project": [a, b], "stage": "proposal"})
    assert assigned.status_code == 200 and assigned.text.count("已分配 1 位专家") == 2  # quorum 1: one each
    review(engine, people, now, a, "expert1")
    assert client.get(f"/api/review/calls/{call_id}/ranking").json()[0]["project_id"] == a
    page = client.get(f"/review/calls/{call_id}")
    assert page.status_code == 200 and "评审排名" in page.text
    # b has no review yet: its decision fails on its own, a's goes through
    done = client.post(f"/review/calls/{call_id}/decide", data={"approve": [a, b]})
    assert done.status_code == 200 and "未处理" in done.text and "专家评审中 → 委托立项（签订任务书）" in done.text
    assert (state_of(engine, a), state_of(engine, b)) == ("commissioning", "under_review")
    # the organiser of another programme has no desk here
    _login(client, "organiser@hbj.example.cn")
    assert client.get(f"/review/calls/{call_id}").status_code == 403


def test_bid_upload_through_the_page(client: TestClient, engine: Engine, people: People, now: datetime) -> None:
    call_id = call(
        engine,
        people,
        now,
        category=Category.ENCOURAGED,
        mode=SelectionMode.TENDER,
        support=[SupportMode.TENDER],
        bids_open_at=now + timedelta(days=31),
    )
    from grantflow.services.calls import new_project

    with engine.begin() as conn:
        pid = new_project(conn, call_id=call_id, actor=people["applicant"], title="投标", now=now)
    _login(client, "pi@jinghua.example.com")
    r = client.post(f"/review/projects/{pid}/bid", files={"file": ("bid.txt", "报价 99 万".encode(), "text/plain")})
    assert r.status_code == 200 and "投标文件已密封" in r.text
    assert client.post(f"/review/projects/{pid}/submit", follow_redirects=False).status_code == 303
    _login(client, "office@kw.example.cn")
    assert "99 万" not in client.get(f"/review/calls/{call_id}/bids").text
    # the formal check waits for the opening: the engine says why
    refused = client.post(f"/api/projects/{pid}/triggers/accept_formal", json={})
    assert refused.status_code == 422 and "sealed" in refused.json()["messages"]["en"]
