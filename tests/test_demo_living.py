"""The living demo: after `grantflow demo`, every state has a project, nothing is dated after the
real now (except deadlines to come), and each demo person signs in to work waiting for them."""

from __future__ import annotations

import re
from collections.abc import Iterator
from datetime import datetime, timedelta
from pathlib import Path

import pytest
from sqlalchemy import Engine, delete, func, select

from grantflow import clock
from grantflow.cli.demo import run_demo
from grantflow.config import reset_settings
from grantflow.db.models import (
    Adjustment,
    AuditEvent,
    Call,
    Complaint,
    DueItem,
    InboxMessage,
    OutboxMessage,
    Project,
    ReviewAssignment,
    SiteFlag,
    Submission,
    User,
)
from grantflow.db.session import dispose_engines, get_engine
from grantflow.db.workflows import clear_cache, get_registry
from grantflow.services.seed import DEMO_PASSWORD, DEMO_PEOPLE
from grantflow.web.app import create_app
from tests.web import WebClient


@pytest.fixture(scope="module")
def demo_home(tmp_path_factory: pytest.TempPathFactory) -> Iterator[tuple[Path, datetime, datetime]]:
    """One fresh home with the whole demo seeded at the real now (the story takes a while)."""
    home = tmp_path_factory.mktemp("living")
    with pytest.MonkeyPatch.context() as mp:
        mp.setenv("GRANTFLOW_HOME", str(home))
        for name in ("GRANTFLOW_DATABASE_URL", "GRANTFLOW_WORKFLOWS_DIR", "GRANTFLOW_CONFIG"):
            mp.delenv(name, raising=False)
        reset_settings()
        clear_cache()
        before = clock.now()
        run_demo(get_engine(), lang="en")
        after = clock.now()
        yield home, before, after
        dispose_engines()
        reset_settings()
        clear_cache()


@pytest.fixture
def engine(demo_home: tuple[Path, datetime, datetime]) -> Engine:
    return get_engine()


def _client(email: str | None = None, lang: str = "en") -> WebClient:
    client = WebClient(create_app())
    client.get(f"/lang/{lang}")
    if email is not None:
        r = client.post("/login", data={"email": email, "password": DEMO_PASSWORD, "next": "/"}, follow_redirects=False)
        assert r.status_code == 303, (email, r.text[:300])
        client.get(f"/lang/{lang}")
    return client


def test_every_state_of_every_project_lifecycle_has_a_project(engine: Engine) -> None:
    with engine.connect() as conn:
        held = set(conn.execute(select(Project.workflow, Project.state).distinct()).tuples())
    registry = get_registry()
    standard = registry.get("standard")
    missing = [s for s in standard.states if ("standard", s) not in held]
    assert missing == []
    assert {s for w, s in held if w == "concept"} >= {"concept", "concept_review", "concept_declined"}
    assert {s for w, s in held if w == "short"} >= {"in_execution", "acceptance_review"}


def test_nothing_is_dated_after_the_real_now_except_deadlines_to_come(
    engine: Engine, demo_home: tuple[Path, datetime, datetime]
) -> None:
    _, before, after = demo_home
    with engine.connect() as conn:
        last_event = conn.execute(select(func.max(AuditEvent.created_at))).scalar_one()
        for column in (
            Project.created_at,
            Project.state_entered_at,
            Project.accepted_at,
            Submission.created_at,
            ReviewAssignment.assigned_at,
            Complaint.filed_at,
            InboxMessage.created_at,
        ):
            latest = conn.execute(select(func.max(column))).scalar_one()
            assert latest is None or latest <= after, column
        # what lies ahead: the open calls' deadlines, the reports and reviews still to come
        open_calls = conn.execute(select(Call.closes_at).where(Call.state == "open")).scalars().all()
        due = conn.execute(select(DueItem.due_at, DueItem.status)).all()
        pending = conn.execute(select(func.count()).select_from(OutboxMessage).where(OutboxMessage.status != "done"))
        assert pending.scalar_one() == 0  # nothing notified in the past still waits to be delivered
    assert last_event <= after and last_event >= before - timedelta(days=7)  # the story reaches today
    assert len(open_calls) >= 3 and all(c > after + timedelta(days=14) for c in open_calls)
    assert any(d.due_at > after for d in due), "upcoming due items"
    overdue = [d for d in due if d.status == "overdue"]
    assert len(overdue) >= 1 and all(d.due_at < before for d in overdue)


def test_the_waiting_work_is_there(engine: Engine) -> None:
    with engine.connect() as conn:
        adjustments = dict(
            list(conn.execute(select(Adjustment.state, func.count()).group_by(Adjustment.state)).tuples())
        )
        open_complaints = conn.execute(select(func.count()).where(Complaint.answered_at.is_(None))).scalar_one()
        pending_reviews = conn.execute(
            select(func.count()).select_from(ReviewAssignment).where(ReviewAssignment.review_id.is_(None))
        ).scalar_one()
        tender = conn.execute(select(func.count()).where(Call.selection_mode == "tender", Call.state == "open"))
        assert tender.scalar_one() == 1
    assert adjustments.get("unit_reviewed") and adjustments.get("awaiting_leadership") and adjustments.get("applied")
    assert open_complaints == 1 and pending_reviews >= 4


@pytest.mark.parametrize("email", [p.email for p in DEMO_PEOPLE])
def test_each_demo_person_signs_in_to_something_to_do(engine: Engine, email: str) -> None:
    client = _client(email)
    page = client.get("/").text
    todo = re.search(r'<section class="card" id="todo">(.*?)</section>', page, re.S)
    assert todo is not None
    items = re.findall(r'<li class="todo-(\w+)', todo.group(1))
    assert items, f"{email} has nothing to do:\n{todo.group(1)}"
    # each item leads somewhere this person may open
    first = re.search(r'<a class="what" href="([^"]+)"', todo.group(1))
    assert first is not None
    assert client.get(first.group(1)).status_code == 200, first.group(1)


def test_roles_see_their_own_pages_in_the_navigation(engine: Engine) -> None:
    def nav(email: str) -> str:
        page = _client(email).get("/").text
        found = re.search(r'<nav class="main".*?</nav>', page, re.S)
        assert found is not None
        return found.group(0)

    expert = nav("expert1@yanyuan.example.edu")
    assert 'href="/review/mine"' in expert and 'href="/office/overview"' not in expert
    assert 'href="/adjustments"' not in expert and 'href="/calls"' in expert and 'href="/needs"' in expert
    office = nav("office@kw.example.cn")
    for link in ("/office/overview", "/office/publications", "/adjustments", "/orgs", "/programmes", "/office/calls"):
        assert f'href="{link}"' in office, link
    assert 'href="/review/complaints"' in office and 'href="/review/mine"' not in office
    applicant = nav("pi@cies.example.cn")
    assert 'href="/adjustments"' in applicant and 'href="/office/publications"' not in applicant


def test_navigation_shows_the_unread_count(engine: Engine) -> None:
    with engine.connect() as conn:
        office = conn.execute(select(User.id).where(User.email == "office@kw.example.cn")).scalar_one()
        unread = conn.execute(
            select(func.count()).where(InboxMessage.user_id == office, InboxMessage.read_at.is_(None))
        ).scalar_one()
    assert unread > 0
    client = _client("office@kw.example.cn")
    page = client.get("/publications").text  # any page: the badge is in the header
    assert re.search(rf'href="/inbox" class="inbox">Inbox <span class="badge"[^>]*>{unread}</span>', page)
    client.post("/inbox/read", data={})
    assert 'class="badge"' not in client.get("/").text


def test_the_sign_in_page_lists_the_demo_accounts_in_demo_mode_only(engine: Engine) -> None:
    en = _client().get("/login").text
    assert 'id="demo-accounts"' in en and DEMO_PASSWORD in en
    for person in DEMO_PEOPLE:
        assert f'data-demo-email="{person.email}"' in en  # a click fills in the form (app.js)
    assert "评审专家" in en and "reviewer" in en and "领导小组办公室" in en and "office" in en
    zh = _client(lang="zh").get("/login").text
    assert "演示账户" in zh
    # a database not seeded with demo people lists nobody (the flag is what `init --demo` records)
    with engine.begin() as conn:
        conn.execute(delete(SiteFlag))
    try:
        plain = _client().get("/login").text
        assert 'id="demo-accounts"' not in plain and f"<code>{DEMO_PASSWORD}</code>" not in plain
    finally:
        from grantflow.services.bootstrap import init_database

        init_database(engine, demo=True)  # records the flag again, adds nothing else
    with engine.connect() as conn:
        from grantflow.services.seed import demo_accounts

        assert demo_accounts(conn, production=False)
        assert demo_accounts(conn, production=True) == []


def test_project_page_offers_only_what_this_person_could_fire(engine: Engine) -> None:
    with engine.connect() as conn:
        executing = conn.execute(
            select(Project.id, User.email)
            .join(User, User.organisation_id == Project.undertaking_unit_id)
            .where(Project.state == "in_execution", Project.workflow == "standard")
            .limit(1)
        ).one()
    applicant = _client(executing.email).get(f"/projects/{executing.id}").text
    # suspend/terminate/withdraw happen only through an applied adjustment request: no button, a link
    for trigger in ("suspend", "terminate", "withdraw", "pass_midterm"):
        assert f'value="{trigger}"' not in applicant, trigger
    assert f'href="/projects/{executing.id}/adjustments">request a dynamic adjustment' in applicant
    # the unit's own next step stays, greyed out with the reason, until its report is in
    assert 'value="submit_midterm"' in applicant
    office = _client("office@kw.example.cn").get(f"/projects/{executing.id}").text
    assert 'value="submit_midterm"' not in office and 'value="suspend"' not in office
    api = _client("office@kw.example.cn").get(f"/api/projects/{executing.id}").json()
    offered = {b["trigger"]: b["offered"] for b in api["available"]}
    assert offered["suspend"] is False and offered["submit_midterm"] is False


def test_pages_show_times_in_the_configured_zone(engine: Engine) -> None:
    page = _client("pi@yanyuan.example.edu").get("/").text
    assert "overdue" in page and "CST" in page  # Asia/Shanghai, named on every date shown


def test_the_rules_say_who_could_ever_fire_a_row_and_what_is_a_task() -> None:
    """Pure: the page's offer and the to-do list read these answers from the table."""
    from grantflow.states.facts import StaticFacts
    from grantflow.states.permissions import ADJUSTMENT_ROLE, Actor, adjustment_only, may_ever_fire

    wf = get_registry().get("standard")
    applicant = Actor(user_id=1, organisation_id=10, roles=frozenset({"applicant"}))
    office = Actor(user_id=2, organisation_id=1, roles=frozenset({"office"}))
    facts = StaticFacts(state="in_execution", workflow="standard", undertaking_unit_id=10, organising_unit_id=5)
    now = clock.now()
    mine = {b.trigger: b for b in wf.available(facts=facts, actor=applicant, now=now)}
    assert mine["suspend"].by_adjustment and not mine["suspend"].offered
    assert mine["submit_midterm"].offered and not mine["submit_midterm"].allowed  # the report is not in yet
    theirs = {b.trigger: b for b in wf.offered(facts=facts, actor=office, now=now)}
    assert "submit_midterm" not in theirs and "terminate" not in theirs
    assert adjustment_only((ADJUSTMENT_ROLE,)) and not adjustment_only(("office", ADJUSTMENT_ROLE))
    assert not may_ever_fire(("applicant",), office, facts, wf.state("in_execution"))
    # an applicant's withdrawal is a way out, never a task; a decision is
    assert not wf.is_task("withdraw", "submitted") and wf.is_task("reject", "under_review")
    assert wf.is_task("submit", "draft") and wf.is_task("close", "post_evaluation")
