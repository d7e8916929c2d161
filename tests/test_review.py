"""Expert review: conflicts, assignment, rubrics, aggregation, visibility, batches."""

from __future__ import annotations

from collections.abc import Iterator
from datetime import datetime
from decimal import Decimal

import pytest
from fastapi.testclient import TestClient
from sqlalchemy import Engine, func, insert, select

from grantflow.config import reset_settings
from grantflow.db.apply import fire
from grantflow.db.facts import load_facts
from grantflow.db.models import AuditEvent, UserRole, table
from grantflow.services.eligibility import submit
from grantflow.services.review import (
    ReviewError,
    assign,
    assign_batch,
    assignments_for,
    auto_assign,
    declare_conflict,
    reviews_for,
    set_partners,
    set_rubric,
    submit_review,
)
from grantflow.services.seed import DEMO_PASSWORD
from grantflow.states.errors import Forbidden, PayloadInvalid
from grantflow.states.review_rules import (
    DEFAULT_RUBRICS,
    ItemParties,
    ReviewerProfile,
    choose_reviewers,
    conflicts,
    rank,
    score_problems,
    trimmed_mean,
    weighted_total,
)
from grantflow.web.app import create_app
from grantflow.web.routes_review import clock
from tests.conftest import People
from tests.factories import state_of
from tests.test_review_helpers import GOOD, call, draft, panel, review
from tests.web import WebClient

pytestmark = pytest.mark.both_databases  # every test using `engine` runs on SQLite and on PostgreSQL

D = Decimal

# --- the rules, purely ----------------------------------------------------------------------------------


def _reviewer(uid: int, org: int, email: str, domains: tuple[str, ...] = (), tags: tuple[str, ...] = (), load: int = 0):
    return ReviewerProfile(uid, f"r{uid}", email, org, frozenset(domains), frozenset(tags), True, True, load)


ITEM = ItemParties(
    1,
    applicant_org_id=10,
    partner_org_ids=frozenset({11}),
    email_domains=frozenset({"acme.example.com", "partner.example.org"}),
    tags=frozenset({"robotics"}),
)


@pytest.mark.parametrize(
    ("reviewer", "aliases", "expected"),
    [
        (_reviewer(1, 10, "a@elsewhere.cn"), {}, ["applying organisation"]),
        (_reviewer(2, 11, "b@elsewhere.cn"), {}, ["collaborating unit"]),
        (_reviewer(3, 20, "c@acme.example.com"), {}, ["e-mail domain"]),  # e.g. a consultant with a company address
        (_reviewer(4, 20, "d@lab.acme.example.com"), {}, ["e-mail domain"]),  # a sub-domain is the same organisation
        (_reviewer(5, 20, "e@acme-old.cn"), {"acme-old.cn": "acme.example.com"}, ["e-mail domain"]),  # configured alias
        (_reviewer(6, 20, "f@acme-old.cn"), {}, []),
        (_reviewer(7, 20, "g@x.cn", domains=("partner.example.org",)), {}, ["e-mail domain"]),  # org shares a domain
        (_reviewer(8, 20, "h@notacme.example.com"), {}, []),  # a different name is a different domain
    ],
)
def test_conflicts_of_interest(reviewer: ReviewerProfile, aliases: dict[str, str], expected: list[str]) -> None:
    found = conflicts(reviewer, ITEM, aliases)
    assert [next(e for e in expected if e in t.en) for t in found] == expected
    assert all(t.zh for t in found)


def test_automatic_choice_skips_conflicts_then_prefers_expertise_then_light_load() -> None:
    pool = [
        _reviewer(1, 10, "own@acme.example.com", tags=("robotics",)),
        _reviewer(2, 20, "a@x.cn", tags=("robotics",), load=3),
        _reviewer(3, 21, "b@y.cn", tags=(), load=0),
        _reviewer(4, 22, "c@z.cn", tags=("robotics",), load=1),
        _reviewer(5, 23, "d@w.cn", tags=(), load=0),
    ]
    chosen = choose_reviewers(pool, ITEM, needed=3, exclude={4}, aliases={})
    assert [r.user_id for r in chosen] == [2, 3, 5]


def test_rubric_scores_are_checked_all_at_once_and_weighted() -> None:
    rubric = DEFAULT_RUBRICS["proposal"]
    parsed, problems = score_problems(rubric, {"innovation": "abc", "feasibility": 120, "team": -1, "bogus": 3})
    en = [p.en for p in problems]
    assert len(en) == 6, en  # bogus, not a number, out of range ×2, two missing
    assert any("not a criterion" in e for e in en) and any("please score" in e for e in en)
    parsed, problems = score_problems(rubric, GOOD)
    assert problems == []
    # 0.30·90 + 0.25·85 + 0.20·80 + 0.15·88 + 0.10·75
    assert weighted_total(rubric, parsed) == D("84.95")


def test_evaluation_stages_default_to_the_design_rule_6_criteria() -> None:
    for stage in ("midterm", "acceptance"):
        assert [c.key for c in DEFAULT_RUBRICS[stage].criteria] == [
            "execution",
            "management",
            "conditions",
            "funds",
            "prospects",
        ]


def test_trimmed_mean_and_ranking() -> None:
    assert trimmed_mean([D(60), D(80), D(100)]) == D("80.00")
    assert trimmed_mean([D(10), D(80), D(82), D(84), D(100)]) == D("82.00")
    assert trimmed_mean([D(70), D(90)]) == D("80.00")  # too few to trim
    ranked = rank({1: [D(80), D(80)], 2: [D(90), D(70)], 3: [D(95), D(95)], 4: [D(99)]}, quorum=2)
    assert [(r.project_id, r.rank) for r in ranked] == [(3, 1), (1, 2), (2, 2), (4, None)]


# --- through the database ------------------------------------------------------------------------------


@pytest.fixture
def merit(engine: Engine, people: People, now: datetime) -> tuple[int, int]:
    """A merit call with a panel and one project of 京华 under review: (call, project)."""
    call_id = call(engine, people, now, quorum=2)
    pid = draft(engine, people, now, call_id, "applicant", tags=["manufacturing"])
    submit(engine, project_id=pid, actor=people["applicant"], now=now)
    fire(engine, subject_id=pid, trigger="accept_formal", actor=people["office"], now=now)
    panel(engine, people, now, call_id)
    return call_id, pid


def test_review_without_conflict_statement_is_refused_with_every_reason(
    engine: Engine, people: People, now: datetime, merit: tuple[int, int]
) -> None:
    _, pid = merit
    with engine.begin() as conn:
        auto_assign(conn, project_id=pid, stage="proposal", actor=people["office"], now=now)
    with engine.begin() as conn, pytest.raises(ReviewError) as info:
        submit_review(
            conn,
            project_id=pid,
            stage="proposal",
            reviewer=people["expert1"],
            scores={"innovation": 50},
            recommendation="maybe",
            comments=" ",
            no_conflict=None,
            now=now,
        )
    en = info.value.text("en")
    for part in ("no conflict of interest", "please score 'feasibility", "choose a recommendation", "comments"):
        assert part in en
    with engine.connect() as conn:
        assert load_facts(conn, "project", pid).reviews_submitted == 0
    # someone not assigned cannot review at all
    with engine.begin() as conn, pytest.raises(Forbidden, match="not assigned"):
        submit_review(
            conn,
            project_id=pid,
            stage="proposal",
            reviewer=people["expert3"],
            scores=GOOD,
            recommendation="support",
            comments="好",
            no_conflict=True,
            now=now,
        )


def test_partner_conflict_and_a_panel_that_runs_out(
    engine: Engine, people: People, now: datetime, merit: tuple[int, int]
) -> None:
    _, pid = merit
    with engine.begin() as conn:
        set_partners(conn, project_id=pid, organisation_ids=[people["expert3"].organisation_id])
        got = auto_assign(conn, project_id=pid, stage="proposal", actor=people["office"], now=now)
    assert got == [people["expert1"].user_id, people["expert2"].user_id]  # expert3's centre is a partner
    with engine.begin() as conn:
        assert (
            declare_conflict(
                conn, project_id=pid, stage="proposal", reviewer=people["expert1"], statement="共同申请过专利", now=now
            )
            == []
        )  # nobody left: the office is told by the list
    with engine.connect() as conn:
        rows = assignments_for(conn, project_id=pid, stage="proposal", actor=people["office"])
        assert sum(not r.conflict for r in rows) == 1
    with engine.begin() as conn, pytest.raises(PayloadInvalid, match="too few reviewers"):
        auto_assign(conn, project_id=pid, stage="proposal", actor=people["office"], now=now)
    # a declared conflict cannot be undone by assigning the same person again
    with engine.begin() as conn, pytest.raises(Forbidden, match="already given"):
        assign(
            conn,
            project_id=pid,
            stage="proposal",
            reviewer_id=people["expert1"].user_id,
            actor=people["office"],
            now=now,
        )


def test_email_domain_aliases_come_from_configuration(
    engine: Engine, people: People, now: datetime, merit: tuple[int, int], monkeypatch: pytest.MonkeyPatch
) -> None:
    _, pid = merit
    # expert3's evaluation centre turns out to be an old domain of the applicant's company
    monkeypatch.setenv("GRANTFLOW_EMAIL_DOMAIN_ALIASES", '{"qingyuan.example.cn": "jinghua.example.com"}')
    reset_settings()
    with engine.begin() as conn, pytest.raises(Forbidden, match="e-mail domain"):
        assign(
            conn,
            project_id=pid,
            stage="proposal",
            reviewer_id=people["expert3"].user_id,
            actor=people["office"],
            now=now,
        )


def test_visibility_of_reviews(engine: Engine, people: People, now: datetime, merit: tuple[int, int]) -> None:
    _, pid = merit
    with engine.begin() as conn:
        auto_assign(conn, project_id=pid, stage="proposal", actor=people["office"], now=now)
    review(engine, people, now, pid, "expert1")
    with engine.connect() as conn:
        # expert2 has not submitted: sees nothing of expert1's review
        assert reviews_for(conn, project_id=pid, stage="proposal", actor=people["expert2"]) == []
        # the applicant sees nothing before the decision
        assert reviews_for(conn, project_id=pid, stage="proposal", actor=people["applicant"]) == []
    review(engine, people, now, pid, "expert2", scores={**GOOD, "innovation": 70})
    with engine.connect() as conn:
        seen = reviews_for(conn, project_id=pid, stage="proposal", actor=people["expert2"])
        assert [(r.own, r.reviewer_id) for r in seen] == [(True, people["expert2"].user_id), (False, None)]
        office = reviews_for(conn, project_id=pid, stage="proposal", actor=people["office"])
        assert [r.label.zh for r in office] == ["钱教授", "冯研究员"]
    fire(engine, subject_id=pid, trigger="approve", actor=people["office"], now=now)
    with engine.connect() as conn:
        applicant = reviews_for(conn, project_id=pid, stage="proposal", actor=people["applicant"])
    assert [r.label.en for r in applicant] == ["Expert 1", "Expert 2"]
    assert all(r.reviewer_id is None for r in applicant)


def test_peers_stay_hidden_when_the_panel_says_so(engine: Engine, people: People, now: datetime) -> None:
    call_id = call(engine, people, now, quorum=2)
    pid = draft(engine, people, now, call_id, "applicant")
    submit(engine, project_id=pid, actor=people["applicant"], now=now)
    fire(engine, subject_id=pid, trigger="accept_formal", actor=people["office"], now=now)
    panel(engine, people, now, call_id, peers_after_submit=False)
    with engine.begin() as conn:
        auto_assign(conn, project_id=pid, stage="proposal", actor=people["office"], now=now)
    review(engine, people, now, pid, "expert1")
    review(engine, people, now, pid, "expert2")
    with engine.connect() as conn:
        assert [r.own for r in reviews_for(conn, project_id=pid, stage="proposal", actor=people["expert1"])] == [True]


def test_call_rubric_replaces_the_default(engine: Engine, people: People, now: datetime, merit: tuple[int, int]):
    call_id, pid = merit
    with engine.begin() as conn:
        set_rubric(
            conn,
            call_id=call_id,
            stage="proposal",
            actor=people["organiser"],
            now=now,
            criteria=[
                {"key": "price", "zh": "报价", "en": "price", "weight": 40, "max": 40},
                {"key": "tech", "zh": "技术方案", "en": "technical offer", "weight": 60, "max": 60},
            ],
        )
        with pytest.raises(PayloadInvalid, match="positive weight"):
            set_rubric(
                conn,
                call_id=call_id,
                stage="proposal",
                actor=people["organiser"],
                now=now,
                criteria=[{"key": "x", "weight": 0}],
            )
        auto_assign(conn, project_id=pid, stage="proposal", actor=people["office"], now=now)
    review(engine, people, now, pid, "expert1", scores={"price": 30, "tech": 54})
    with engine.connect() as conn:
        (r,) = reviews_for(conn, project_id=pid, stage="proposal", actor=people["office"])
    assert r.score == D("84.00") and r.criteria == {"price": D("30.00"), "tech": D("54.00")}


def test_someone_who_scored_cannot_decide(engine: Engine, people: People, now: datetime, merit: tuple[int, int]):
    _, pid = merit
    with engine.begin() as conn:
        conn.execute(insert(table(UserRole)), {"user_id": people["expert1"].user_id, "role": "office"})
        auto_assign(conn, project_id=pid, stage="proposal", actor=people["office"], now=now)
    review(engine, people, now, pid, "expert1")
    review(engine, people, now, pid, "expert2")
    from grantflow.services.actors import actor_for

    with engine.connect() as conn:
        scorer_in_office = actor_for(conn, user_id=people["expert1"].user_id)
    with pytest.raises(Forbidden, match="decision and review are separated"):
        fire(engine, subject_id=pid, trigger="approve", actor=scorer_in_office, now=now)
    fire(engine, subject_id=pid, trigger="approve", actor=people["office"], now=now)


def test_batch_assignment_reports_each_item_and_audits_each(engine: Engine, people: People, now: datetime) -> None:
    call_id = call(engine, people, now, quorum=2)
    ready = []
    for who in ("applicant", "applicant2"):
        pid = draft(engine, people, now, call_id, who)
        submit(engine, project_id=pid, actor=people[who], now=now)
        fire(engine, subject_id=pid, trigger="accept_formal", actor=people["office"], now=now)
        ready.append(pid)
    still_draft = draft(engine, people, now, call_id, "applicant3")
    panel(engine, people, now, call_id)
    results = assign_batch(
        engine, project_ids=[ready[0], still_draft, ready[1]], stage="proposal", actor=people["organiser"], now=now
    )
    assert [r.ok for r in results] == [True, False, True]
    assert "not at the proposal review stage" in results[1].message.en
    with engine.connect() as conn:
        for pid, expected in ((ready[0], 2), (still_draft, 0), (ready[1], 2)):
            n = conn.execute(
                select(func.count()).where(AuditEvent.subject_id == pid, AuditEvent.action == "assign:proposal")
            ).scalar_one()
            assert n == expected
    # an outsider's batch fails item by item, nothing assigned
    refused = assign_batch(engine, project_ids=ready, stage="proposal", actor=people["other_organiser"], now=now)
    assert not any(r.ok for r in refused)
    assert state_of(engine, ready[0]) == "under_review"


# --- the reviewer's page -------------------------------------------------------------------------------------


@pytest.fixture
def client(engine: Engine, now: datetime) -> Iterator[TestClient]:
    web = create_app()
    web.dependency_overrides[clock] = lambda: now
    yield WebClient(web)
    web.dependency_overrides.clear()


def _login(client: TestClient, email: str) -> None:
    r = client.post("/login", data={"email": email, "password": DEMO_PASSWORD, "next": "/"}, follow_redirects=False)
    assert r.status_code == 303


def test_reviewer_page_keeps_what_was_typed_and_explains_in_english(
    client: TestClient, engine: Engine, people: People, now: datetime, merit: tuple[int, int]
) -> None:
    _, pid = merit
    with engine.begin() as conn:
        auto_assign(conn, project_id=pid, stage="proposal", actor=people["office"], now=now)
    _login(client, "expert3@qingyuan.example.cn")  # not assigned (expert1, expert2 are)
    assert client.get(f"/review/projects/{pid}/proposal").status_code == 403
    _login(client, "expert1@yanyuan.example.edu")
    client.get("/lang/en")
    page = client.get("/review/mine")
    assert page.status_code == 200 and "My review assignments" in page.text
    form = {f"score.{k}": str(v) for k, v in GOOD.items()} | {"recommendation": "support", "comments": "扎实的方案"}
    refused = client.post(f"/review/projects/{pid}/proposal", data=form)
    assert refused.status_code == 422
    assert "state explicitly that you have no conflict of interest" in refused.text
    assert "扎实的方案" in refused.text and 'value="85"' in refused.text
    ok = client.post(f"/review/projects/{pid}/proposal", data={**form, "no_conflict": "yes"}, follow_redirects=False)
    assert ok.status_code == 303
    api = client.get(f"/api/review/projects/{pid}/reviews").json()
    assert api[0]["own"] is True and api[0]["score"] == "84.95"
    # the other assigned reviewer declares a conflict through the API; the item is reassigned
    _login(client, "expert2@cies.example.cn")
    r = client.post(f"/api/review/projects/{pid}/conflict", json={"statement": "曾在该公司兼职"})
    assert r.json() == {"reassigned": True}
    # the applicant, through the API, never learns reviewer names
    _login(client, "pi@jinghua.example.com")
    assert client.get(f"/api/review/projects/{pid}/reviews").json() == []
