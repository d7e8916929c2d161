"""The web page and JSON API through HTTP on the real app and a real database file."""

from __future__ import annotations

from datetime import datetime

import pytest
from fastapi.testclient import TestClient
from sqlalchemy import Engine, insert, select

from grantflow.db.models import Project
from grantflow.services.queries import visible_projects
from grantflow.services.seed import DEMO_PASSWORD
from grantflow.web.app import create_app
from tests.conftest import People
from tests.factories import make_project, state_of
from tests.web import WebClient


@pytest.fixture
def client(engine: Engine) -> TestClient:
    return WebClient(create_app())


def login(client: TestClient, email: str, lang: str = "zh") -> None:
    r = client.post("/login", data={"email": email, "password": DEMO_PASSWORD, "next": "/"}, follow_redirects=False)
    assert r.status_code == 303
    client.get(f"/lang/{lang}")


def test_login_refused_keeps_email_and_says_why(client: TestClient):
    r = client.post("/login", data={"email": "office@kw.example.cn", "password": "wrong"})
    assert r.status_code == 401
    assert "邮箱或密码不正确" in r.text
    assert 'value="office@kw.example.cn"' in r.text
    r = client.get("/", follow_redirects=False)
    assert r.status_code == 303 and r.headers["location"].startswith("/login")


def test_applicant_fires_submit_from_the_page(client: TestClient, engine: Engine, people: People, now: datetime):
    pid = make_project(engine, people, datetime.now(now.tzinfo), state="draft")
    from grantflow.db.workflows import get_registry
    from tests.factories import satisfy

    rule = get_registry().get("standard").rules_for("submit", "draft")[0]
    satisfy(engine, people, pid, rule, now)
    login(client, "pi@jinghua.example.com")
    page = client.get(f"/projects/{pid}")
    assert page.status_code == 200 and "提交申报" in page.text
    r = client.post(f"/projects/{pid}/fire", data={"trigger": "submit"}, follow_redirects=False)
    assert r.status_code == 303, r.text
    assert state_of(engine, pid) == "submitted"
    history = client.get(f"/projects/{pid}").text
    # the history reads in the person's language and time zone, not in internal names
    assert "提交表单：申报书" in history and "申报书填写中 → 已提交，待形式审查" in history
    assert "submit_form:proposal" not in history and " CST</td>" in history
    # a refused action shows no input box (the applicant cannot return a project for correction)
    assert 'name="reason"' not in history


def test_refused_trigger_shows_reason_in_users_language_and_keeps_typed_text(
    client: TestClient, engine: Engine, people: People, now: datetime
):
    pid = make_project(engine, people, now, state="submitted")
    login(client, "clerk@kw.example.cn", lang="en")
    r = client.post(f"/projects/{pid}/fire", data={"trigger": "approve", "reason": "my careful words"})
    assert r.status_code == 409
    assert "not possible in state &#39;submitted&#39;" in r.text or "not possible in state 'submitted'" in r.text
    assert "Allowed from here" in r.text
    assert state_of(engine, pid) == "submitted"


def test_api_reports_errors_as_json_in_both_languages(
    client: TestClient, engine: Engine, people: People, now: datetime
):
    pid = make_project(engine, people, now, state="submitted")
    login(client, "office@kw.example.cn")
    r = client.post(f"/api/projects/{pid}/triggers/return_for_correction", json={})
    assert r.status_code == 422
    body = r.json()
    assert body["error"] == "payload_invalid" and body["missing"] == ["reason"]
    assert "请填写" in body["messages"]["zh"] and "Please provide" in body["messages"]["en"]
    r = client.post(f"/api/projects/{pid}/triggers/return_for_correction", json={"reason": "缺少附件"})
    assert r.status_code == 200 and r.json()["to"] == "returned"
    detail = client.get(f"/api/projects/{pid}").json()
    assert detail["state"] == "returned" and detail["state_label"]["en"] == "returned for correction"


def test_applicants_never_see_other_units_projects(client: TestClient, engine: Engine, people: People, now: datetime):
    pid = make_project(engine, people, now, applicant="applicant", state="draft")
    login(client, "pi@yanyuan.example.edu")
    assert client.get(f"/projects/{pid}").status_code == 404
    assert client.get(f"/api/projects/{pid}").status_code == 404
    assert client.post(f"/api/projects/{pid}/triggers/withdraw", json={}).status_code == 404
    assert all(p["id"] != pid for p in client.get("/api/projects").json())
    assert state_of(engine, pid) == "draft"


def test_listing_query_agrees_with_may_view(engine: Engine, people: People, now: datetime):
    """The SQL listing and the rule agree for every kind of person, assignments included."""
    from grantflow.db.facts import load_facts
    from grantflow.db.models import ReviewAssignment, table
    from grantflow.db.workflows import get_registry

    make_project(engine, people, now, applicant="applicant")
    make_project(engine, people, now, applicant="applicant2")
    reviewed = make_project(engine, people, now, applicant="applicant2", state="under_review")
    evaluated = make_project(engine, people, now, applicant="applicant3", state="midterm_review")
    decided = make_project(engine, people, now, applicant="applicant3", state="commissioning")
    with engine.begin() as conn:
        for pid, who, stage in (
            (reviewed, "expert1", "proposal"),
            (decided, "expert1", "proposal"),  # its review is over: no longer in force
            (reviewed, "expert2", "midterm"),  # a stage not in force
            (evaluated, "evaluator", "midterm"),
        ):
            conn.execute(
                insert(table(ReviewAssignment)),
                {"project_id": pid, "stage": stage, "reviewer_id": people[who].user_id, "assigned_at": now},
            )
    registry = get_registry()
    with engine.connect() as conn:
        projects = conn.execute(select(Project)).all()
        everyone = ("office", "leader", "organiser", "other_organiser", "applicant", "applicant2", "expert1")
        for who in (*everyone, "expert2", "evaluator"):
            actor = people[who]
            listed = {r.id for r in visible_projects(conn, actor)}
            expected = {
                p.id for p in projects if registry.get(p.workflow).may_view(load_facts(conn, "project", p.id), actor)
            }
            assert listed == expected, who
        assert {r.id for r in visible_projects(conn, people["expert1"])} == {reviewed}
        assert {r.id for r in visible_projects(conn, people["expert2"])} == set()
        assert {r.id for r in visible_projects(conn, people["evaluator"])} == {evaluated}


def test_reviewer_names_are_hidden_from_the_applicant_but_not_from_the_office(
    client: TestClient, engine: Engine, people: People, now: datetime
):
    from grantflow.db.workflows import get_registry
    from tests.factories import satisfy

    pid = make_project(engine, people, now, state="under_review")
    satisfy(engine, people, pid, get_registry().get("standard").rules_for("approve", "under_review")[0], now)
    login(client, "pi@jinghua.example.com")
    page = client.get(f"/projects/{pid}").text
    assert "提交评审意见：立项评审" in page and "评审专家" in page
    assert all(name not in page for name in ("钱教授", "冯研究员", "Dr. Lin"))
    client.post("/logout")
    login(client, "office@kw.example.cn")
    page = client.get(f"/projects/{pid}").text
    assert all(name in page for name in ("钱教授", "冯研究员", "Dr. Lin"))
