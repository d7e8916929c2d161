"""Complaints about review outcomes: within the configured days, answered by the office, counted."""

from __future__ import annotations

from datetime import datetime, timedelta

import pytest
from sqlalchemy import Engine

from grantflow.config import reset_settings
from grantflow.db.apply import fire
from grantflow.db.workflows import get_registry
from grantflow.services.complaints import answer_complaint, complaint_counts, file_complaint, list_complaints
from grantflow.services.seed import DEMO_PASSWORD
from grantflow.states.errors import Forbidden, PayloadInvalid
from grantflow.web.app import create_app
from grantflow.web.routes_review import clock
from tests.conftest import People
from tests.factories import make_project, satisfy
from tests.web import WebClient


def _rejected(engine: Engine, people: People, now: datetime) -> int:
    pid = make_project(engine, people, now, state="under_review")
    satisfy(engine, people, pid, get_registry().get("standard").rules_for("reject", "under_review")[0], now)
    fire(engine, subject_id=pid, trigger="reject", actor=people["office"], payload={"reason": "排名靠后"}, now=now)
    return pid


def test_appeal_within_the_window_then_answered(engine: Engine, people: People, now: datetime) -> None:
    pid = _rejected(engine, people, now)
    with engine.begin() as conn:
        cid = file_complaint(
            conn, project_id=pid, actor=people["applicant"], grounds="评分有误", now=now + timedelta(14)
        )
        assert complaint_counts(conn) == {"open": 1, "closed": 0}
        with pytest.raises(PayloadInvalid, match="already been appealed"):
            file_complaint(conn, project_id=pid, actor=people["applicant"], grounds="再次", now=now + timedelta(14))
        with pytest.raises(Forbidden):
            answer_complaint(conn, complaint_id=cid, actor=people["organiser"], answer="x", now=now)
        answer_complaint(
            conn, complaint_id=cid, actor=people["office"], answer="经复核维持原结论", now=now + timedelta(20)
        )
        assert complaint_counts(conn) == {"open": 0, "closed": 1}
        with pytest.raises(PayloadInvalid, match="already been answered"):
            answer_complaint(conn, complaint_id=cid, actor=people["office"], answer="again", now=now)
        (row,) = list_complaints(conn, actor=people["applicant"])
    assert row.decision == "reject" and row.answer == "经复核维持原结论" and not row.open


def test_appeal_refused_after_the_window_without_an_outcome_or_by_others(
    engine: Engine, people: People, now: datetime, monkeypatch: pytest.MonkeyPatch
) -> None:
    monkeypatch.setenv("GRANTFLOW_COMPLAINT_DAYS", "7")
    reset_settings()
    pid = _rejected(engine, people, now)
    with engine.begin() as conn:
        with pytest.raises(PayloadInvalid) as late:
            file_complaint(conn, project_id=pid, actor=people["applicant"], grounds="迟了", now=now + timedelta(days=8))
        assert "within 7 days" in late.value.text("en") and "7 日内" in late.value.text("zh")
        with pytest.raises(Forbidden):
            file_complaint(conn, project_id=pid, actor=people["applicant2"], grounds="不是我的", now=now)
    fresh = make_project(engine, people, now, state="submitted")
    with engine.begin() as conn, pytest.raises(PayloadInvalid, match="no review outcome"):
        file_complaint(conn, project_id=fresh, actor=people["applicant"], grounds="?", now=now)
    with engine.connect() as conn:
        assert list_complaints(conn, actor=people["applicant2"]) == []
        with pytest.raises(Forbidden):
            list_complaints(conn, actor=people["expert1"])


def test_complaints_through_the_web_and_api(engine: Engine, people: People, now: datetime) -> None:
    pid = _rejected(engine, people, now)
    web = create_app()
    web.dependency_overrides[clock] = lambda: now + timedelta(days=1)
    client = WebClient(web)

    def login(email: str) -> None:
        r = client.post("/login", data={"email": email, "password": DEMO_PASSWORD}, follow_redirects=False)
        assert r.status_code == 303

    login("pi@jinghua.example.com")
    refused = client.post(f"/review/projects/{pid}/complaints", data={"grounds": "  "})
    assert refused.status_code == 422 and "申诉理由" in refused.text
    assert client.post(f"/review/projects/{pid}/complaints", data={"grounds": "专家未看附件"}).status_code == 200
    login("office@kw.example.cn")
    listing = client.get("/api/review/complaints").json()
    assert listing["counts"] == {"open": 1, "closed": 0}
    cid = listing["complaints"][0]["id"]
    assert client.get("/review/complaints").status_code == 200
    answered = client.post(f"/review/complaints/{cid}/answer", data={"answer": "已复核"}, follow_redirects=False)
    assert answered.status_code == 303
    assert client.get("/api/review/complaints").json()["counts"] == {"open": 0, "closed": 1}
