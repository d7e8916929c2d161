"""The three selection modes, each a full story through the engine: eligible and ineligible
applicants, review with a conflict declared and reassigned, quorum reached, the decision."""

from __future__ import annotations

from datetime import datetime, timedelta

import pytest
from sqlalchemy import Engine

from grantflow.db.apply import fire
from grantflow.services.calls import CallInvalid, create_call, new_project
from grantflow.services.eligibility import Ineligible, submit
from grantflow.services.review import (
    Decision,
    assign,
    assignments_for,
    auto_assign,
    decide_batch,
    declare_conflict,
    ranking,
)
from grantflow.services.tenders import BidSealed, open_bids, open_due_bids, read_bids, submit_bid
from grantflow.states.enums import Category, SelectionMode, SupportMode
from grantflow.states.errors import Forbidden, GuardFailed
from grantflow.states.permissions import SYSTEM
from grantflow.states.selection import CallPlan, call_problems
from tests.conftest import People
from tests.factories import programme_id, state_of
from tests.test_review_helpers import call, draft, move_org, panel, qualify, review

# --- what a call may be (DESIGN rule 4) --------------------------------------------------------------


@pytest.mark.parametrize(
    ("category", "mode", "support", "ok"),
    [
        (Category.ORGANISED, SelectionMode.DIRECTED, [SupportMode.DIRECT_COMMISSION], True),
        (Category.ORGANISED, SelectionMode.TENDER, [SupportMode.TENDER], True),
        (Category.ORGANISED, SelectionMode.MERIT, [SupportMode.DIRECT_COMMISSION], False),
        (Category.SUPPORTED, SelectionMode.MERIT, [SupportMode.COMPETITIVE, SupportMode.DEMONSTRATION], True),
        (Category.SUPPORTED, SelectionMode.TENDER, [SupportMode.PROCUREMENT], True),
        (Category.SUPPORTED, SelectionMode.DIRECTED, [SupportMode.DEMONSTRATION], False),
        (Category.SUPPORTED, SelectionMode.MERIT, [SupportMode.EQUITY_INVESTMENT], False),
        (Category.ENCOURAGED, SelectionMode.MERIT, [SupportMode.POST_SUBSIDY, SupportMode.EQUITY_INVESTMENT], True),
        (Category.ENCOURAGED, SelectionMode.TENDER, [SupportMode.TENDER, SupportMode.COMMON_PLATFORM], True),
        (Category.ENCOURAGED, SelectionMode.TENDER, [SupportMode.POST_SUBSIDY], False),
        (Category.ENCOURAGED, SelectionMode.MERIT, [SupportMode.COMPETITIVE], False),
    ],
)
def test_category_limits_selection_and_support_modes(category: str, mode: str, support: list[str], ok: bool) -> None:
    now = datetime(2026, 3, 2)
    plan = CallPlan(
        category=category,
        selection_mode=mode,
        support_modes=tuple(support),
        designated_unit_id=1 if mode == SelectionMode.DIRECTED else None,
        closes_at=now,
        bids_open_at=now + timedelta(hours=1) if mode == SelectionMode.TENDER else None,
    )
    found = call_problems(plan)
    assert (found == []) is ok, [p.en for p in found]
    assert all(p.zh and p.en for p in found)


def test_every_problem_of_a_call_plan_is_reported() -> None:
    now = datetime(2026, 3, 2)
    found = call_problems(
        CallPlan(
            category=Category.ORGANISED,
            selection_mode=SelectionMode.TENDER,
            support_modes=(SupportMode.POST_SUBSIDY,),
            designated_unit_id=5,
            quorum=0,
            eligibility={"unit_types": ["castle"]},
            opens_at=now,
            closes_at=now,
            bids_open_at=now - timedelta(hours=1),
        )
    )
    en = [p.en for p in found]
    assert len(en) == 7, en
    assert any("cannot use support mode 'post-completion subsidy'" in e for e in en)
    assert any("bids cannot be opened before the bidding deadline" in e for e in en)
    assert any("only a directed commission" in e for e in en)
    assert any("quorum" in e for e in en)
    assert any("castle" in e for e in en)


def test_create_call_refuses_an_invalid_plan_and_a_stranger(engine: Engine, people: People, now: datetime) -> None:
    with pytest.raises(CallInvalid) as info:
        call(engine, people, now, category=Category.ENCOURAGED, mode=SelectionMode.DIRECTED, designated="applicant")
    assert "government-encouraged projects may use" in info.value.text("en")
    assert "政府鼓励开展" in info.value.text("zh")
    with pytest.raises(CallInvalid, match="must name the undertaking unit"):
        call(
            engine,
            people,
            now,
            category=Category.ORGANISED,
            mode=SelectionMode.DIRECTED,
            support=[SupportMode.DIRECT_COMMISSION],
        )
    with pytest.raises(Forbidden), engine.begin() as conn:
        create_call(conn, values={"programme_id": programme_id(engine)}, actor=people["other_organiser"], now=now)


# --- merit-based commission (择优委托) -------------------------------------------------------------------


def test_merit_story(engine: Engine, people: People, now: datetime) -> None:
    call_id = call(
        engine,
        people,
        now,
        quorum=2,
        eligibility={"unit_types": ["enterprise", "university"], "qualifications": ["independent_legal_person"]},
    )
    qualify(engine, people, "applicant", "independent_legal_person")
    qualify(engine, people, "applicant2", "independent_legal_person")
    a = draft(engine, people, now, call_id, "applicant", tags=["manufacturing", "robotics"])
    b = draft(engine, people, now, call_id, "applicant2", tags=["manufacturing"])
    c = draft(engine, people, now, call_id, "applicant3")
    # ineligible: an institute without the qualification; both reasons shown
    with pytest.raises(Ineligible) as info:
        submit(engine, project_id=c, actor=people["applicant3"], now=now)
    assert len(info.value.reasons) == 2
    for pid, who in ((a, "applicant"), (b, "applicant2")):
        submit(engine, project_id=pid, actor=people[who], now=now)
        fire(engine, subject_id=pid, trigger="accept_formal", actor=people["organiser"], now=now)

    panel(engine, people, now, call_id)
    with engine.begin() as conn:
        # expertise first: expert1 matches both tags; then the lightest load, then id
        assert auto_assign(conn, project_id=a, stage="proposal", actor=people["office"], now=now) == [
            people["expert1"].user_id,
            people["expert2"].user_id,
        ]
        # expert1 is from the applicant's university: never assigned to b
        got_b = auto_assign(conn, project_id=b, stage="proposal", actor=people["office"], now=now)
    # expert2 carries a's load now, so expert3 (same match, lighter) comes first
    assert got_b == [people["expert3"].user_id, people["expert2"].user_id]

    # expert2 declares a conflict on a: the item goes to the next free reviewer (expert3)
    with engine.begin() as conn:
        moved_to = declare_conflict(
            conn, project_id=a, stage="proposal", reviewer=people["expert2"], statement="曾与申报单位合作", now=now
        )
    assert moved_to == [people["expert3"].user_id]
    with engine.connect() as conn:
        rows = assignments_for(conn, project_id=a, stage="proposal", actor=people["office"])
    assert [(r.reviewer_name, r.conflict) for r in rows] == [("钱教授", False), ("冯研究员", True), ("Dr. Lin", False)]
    # expert4 (the applicant's own company) is never assigned, not even by hand
    with engine.begin() as conn, pytest.raises(Forbidden, match="applying organisation"):
        assign(
            conn, project_id=a, stage="proposal", reviewer_id=people["expert4"].user_id, actor=people["office"], now=now
        )

    # quorum not reached yet: the decision is refused
    review(engine, people, now, a, "expert1")
    with pytest.raises(GuardFailed, match="not enough expert reviews"):
        fire(engine, subject_id=a, trigger="approve", actor=people["office"], now=now)
    review(engine, people, now, a, "expert3")
    weak = {"innovation": 60, "feasibility": 60, "team": 60, "outcomes": 60, "budget": 60}
    for who in ("expert2", "expert3"):
        review(engine, people, now, b, who, scores=weak)

    with engine.connect() as conn:
        ranked = ranking(conn, call_id=call_id, stage="proposal", actor=people["office"])
    assert [r.project_id for r in ranked[:2]] == [a, b]
    assert ranked[0].ranked.rank == 1 and ranked[1].ranked.rank == 2
    assert ranked[0].ranked.trimmed_mean is not None and ranked[0].ranked.trimmed_mean > 80
    assert len(ranked) == 2  # c never left its draft: it is not ranked

    # the office decides from the ranking, in one batch; the draft fails on its own
    results = decide_batch(
        engine,
        decisions=[Decision(a, "approve"), Decision(c, "approve"), Decision(b, "reject", "排名靠后")],
        actor=people["office"],
        now=now,
    )
    assert [(r.project_id, r.ok) for r in results] == [(a, True), (c, False), (b, True)]
    assert "draft" in results[1].message.en
    assert (state_of(engine, a), state_of(engine, b), state_of(engine, c)) == ("commissioning", "rejected", "draft")


def test_merit_story_ranking_excludes_drafts(engine: Engine, people: People, now: datetime) -> None:
    call_id = call(engine, people, now, quorum=1)
    draft(engine, people, now, call_id, "applicant")
    with engine.connect() as conn:
        assert ranking(conn, call_id=call_id, stage="proposal", actor=people["office"]) == []


# --- directed commission (定向委托) ---------------------------------------------------------------------


def test_directed_story(engine: Engine, people: People, now: datetime) -> None:
    call_id = call(
        engine,
        people,
        now,
        category=Category.ORGANISED,
        mode=SelectionMode.DIRECTED,
        support=[SupportMode.DIRECT_COMMISSION],
        designated="applicant",
        quorum=2,
    )
    intruder = draft(engine, people, now, call_id, "applicant2")
    with pytest.raises(Ineligible) as info:
        submit(engine, project_id=intruder, actor=people["applicant2"], now=now)
    assert "京华智造科技有限公司" in info.value.text("zh") and "designated unit" in info.value.text("en")

    pid = draft(engine, people, now, call_id, "applicant", tags=["robotics"])
    submit(engine, project_id=pid, actor=people["applicant"], now=now)
    # still a formal check and an expert review
    fire(engine, subject_id=pid, trigger="accept_formal", actor=people["organiser"], now=now)
    panel(engine, people, now, call_id)
    with engine.begin() as conn:
        first = auto_assign(conn, project_id=pid, stage="proposal", actor=people["organiser"], now=now)
    assert first == [people["expert1"].user_id, people["expert2"].user_id]  # robotics first; never expert4
    with engine.begin() as conn:
        assert declare_conflict(
            conn, project_id=pid, stage="proposal", reviewer=people["expert1"], statement="亲属在该单位", now=now
        ) == [people["expert3"].user_id]
    review(engine, people, now, pid, "expert2")
    review(engine, people, now, pid, "expert3")
    # a reviewer cannot decide; the organiser can
    with pytest.raises(Forbidden):
        fire(engine, subject_id=pid, trigger="approve", actor=people["expert2"], now=now)
    fire(engine, subject_id=pid, trigger="approve", actor=people["organiser"], now=now)
    assert state_of(engine, pid) == "commissioning"


# --- public tender (招标) ------------------------------------------------------------------------------


def test_tender_story(engine: Engine, people: People, now: datetime) -> None:
    closes = now + timedelta(days=10)
    opening = closes + timedelta(hours=2)
    call_id = call(
        engine,
        people,
        now,
        category=Category.ENCOURAGED,
        mode=SelectionMode.TENDER,
        support=[SupportMode.TENDER],
        eligibility={"regions": ["北京市"]},
        bids_open_at=opening,
        closes_in=timedelta(days=10),
        quorum=2,
    )
    move_org(engine, people, "applicant3", region="河北省")
    bidders = {}
    for who in ("applicant", "applicant2", "applicant3"):
        with engine.begin() as conn:
            pid = new_project(conn, call_id=call_id, actor=people[who], title=f"{who} 投标", now=now)
            submit_bid(conn, project_id=pid, content=f"{who} 报价 1,000,000 元".encode(), actor=people[who], now=now)
        bidders[who] = pid
    with pytest.raises(Ineligible, match="河北省"):
        submit(engine, project_id=bidders["applicant3"], actor=people["applicant3"], now=now)
    for who in ("applicant", "applicant2"):
        submit(engine, project_id=bidders[who], actor=people[who], now=now)

    # sealed: nobody reads contents, the office cannot open early, and the formal check waits
    with engine.connect() as conn, pytest.raises(BidSealed, match="sealed"):  # not even how many there are
        read_bids(conn, call_id=call_id, actor=people["office"], now=closes)
    with engine.begin() as conn, pytest.raises(BidSealed):
        open_bids(conn, call_id=call_id, actor=people["office"], now=closes)
    with pytest.raises(GuardFailed, match="sealed"):
        fire(engine, subject_id=bidders["applicant"], trigger="accept_formal", actor=people["office"], now=closes)

    fire(engine, subject="call", subject_id=call_id, trigger="close_call", actor=SYSTEM, now=closes)
    assert open_due_bids(engine, closes) == []
    assert open_due_bids(engine, opening) == [call_id]
    assert open_due_bids(engine, opening) == []  # idempotent
    with engine.connect() as conn:
        views = read_bids(conn, call_id=call_id, actor=people["office"], now=opening)
    assert sorted(v.content for v in views if v.content) == sorted(
        f"{w} 报价 1,000,000 元".encode() for w in ("applicant", "applicant2", "applicant3")
    )

    panel(engine, people, opening, call_id)
    for who in ("applicant", "applicant2"):
        fire(engine, subject_id=bidders[who], trigger="accept_formal", actor=people["office"], now=opening)
    ours = bidders["applicant"]
    with engine.begin() as conn:
        assigned = auto_assign(conn, project_id=ours, stage="proposal", actor=people["office"], now=opening)
        auto_assign(conn, project_id=bidders["applicant2"], stage="proposal", actor=people["office"], now=opening)
    assert assigned == [people["expert1"].user_id, people["expert2"].user_id]
    with engine.begin() as conn:
        replacement = declare_conflict(
            conn, project_id=ours, stage="proposal", reviewer=people["expert1"], statement="曾任该公司顾问", now=opening
        )
    assert replacement == [people["expert3"].user_id]  # expert4 works for the bidder: never
    review(engine, people, opening, ours, "expert2")
    review(engine, people, opening, ours, "expert3")
    results = decide_batch(
        engine, decisions=[Decision(bidders["applicant"], "approve")], actor=people["office"], now=opening
    )
    assert results[0].ok, results[0].message
    assert state_of(engine, bidders["applicant"]) == "commissioning"
