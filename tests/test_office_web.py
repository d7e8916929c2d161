"""The call desk on the page, through HTTP on the real app and database file: an organising unit
drafts a call (a refused form keeps what was typed), publishes and opens it with the buttons its
workflow table offers; the panel is formed (conflicts shown and refused with their reasons),
reviewers are assigned; the ranking names states in the reader's language and offers a decision
only where the engine would take one."""

from __future__ import annotations

import re
from datetime import datetime, timedelta
from decimal import Decimal
from typing import Any
from zoneinfo import ZoneInfo

from sqlalchemy import Engine, func, select

from grantflow.config import get_settings
from grantflow.db.facts import load_facts
from grantflow.db.models import Call, ReviewAssignment
from grantflow.db.workflows import get_registry
from grantflow.services.calls import create_call
from grantflow.services.records import record_review
from grantflow.services.seed import DEMO_PASSWORD
from grantflow.states.enums import Category, SelectionMode, SupportMode
from grantflow.states.selection import CallPlan, call_field_problems, call_problems
from grantflow.web.app import create_app
from grantflow.web.routes_review import clock
from tests.conftest import People
from tests.factories import make_project, programme_id
from tests.test_review_helpers import call
from tests.web import WebClient


class Clock:
    """The time the app's routes act at, moved by the test (never a request parameter)."""

    def __init__(self, moment: datetime) -> None:
        self.moment = moment

    def __call__(self) -> datetime:
        return self.moment


def client_as(who: str, at: Clock) -> WebClient:
    app = create_app()
    app.dependency_overrides[clock] = at
    c = WebClient(app)
    r = c.post("/login", data={"email": People.SHORT[who], "password": DEMO_PASSWORD}, follow_redirects=False)
    assert r.status_code == 303
    return c


def local(moment: datetime) -> str:
    """A moment as a person types it into the form: local time of the commission."""
    return moment.astimezone(ZoneInfo(get_settings().timezone)).strftime("%Y-%m-%dT%H:%M")


def buttons(html: str) -> dict[str, bool]:
    """The call page's action buttons: label → pressable."""
    found = re.findall(r'<button type="submit"\s*(disabled)?\s*>([^<]+)</button>', html)
    return {label: not disabled for disabled, label in found}


def field_errors(html: str, name: str) -> str:
    m = re.search(rf'<ul class="field-errors" id="err-{name}">(.*?)</ul>', html, re.S)
    return m.group(1) if m else ""


def test_an_organiser_drafts_a_call_fixes_an_error_then_publishes_and_opens_it(
    engine: Engine, people: People, now: datetime
) -> None:
    at = Clock(now)
    org = client_as("organiser", at)
    page = org.get("/office/calls/new")
    assert page.status_code == 200 and 'name="programme_id"' in page.text
    form: dict[str, Any] = {
        "programme_id": str(programme_id(engine)),
        "title": "城市精细化管理 2026 年度指南",
        "category": Category.ORGANISED,  # organised projects are never merit-based
        "selection_mode": SelectionMode.MERIT,
        "support_modes": [SupportMode.COMPETITIVE],
        "quorum": "3",
        "max_applications_per_unit": "1",
        "opens_at": local(now + timedelta(days=1)),
        "closes_at": "not a date",
        "regions": "北京市",
        "qualifications": ["high_tech_enterprise"],
    }
    r = org.post("/office/calls/new", data=form)
    assert r.status_code == 422
    # each problem beside its field, in Chinese
    assert "只能采用" in field_errors(r.text, "selection_mode")
    assert "不能采用支持方式" in field_errors(r.text, "support_modes")
    assert "截止时间的格式" in field_errors(r.text, "closes_at")
    assert field_errors(r.text, "title") == ""
    # everything typed is still there
    assert 'value="城市精细化管理 2026 年度指南"' in r.text
    assert 'value="not a date"' in r.text and 'value="北京市"' in r.text
    assert re.search(r'value="competitive" checked', r.text)
    assert re.search(r'value="high_tech_enterprise" checked', r.text)
    assert re.search(r'<option value="organised" selected', r.text)
    with engine.connect() as conn:
        assert conn.execute(select(func.count()).select_from(Call)).scalar_one() == 0

    form.update(category=Category.SUPPORTED, closes_at=local(now + timedelta(days=30)))
    r = org.post("/office/calls/new", data=form, follow_redirects=False)
    assert r.status_code == 303, r.text[:500]
    url = r.headers["location"]
    call_id = int(url.rsplit("/", 1)[1])
    page = org.get(url).text
    assert "编制中" in page and "北京市" in page and "高新技术企业" in page
    assert buttons(page) == {"发布": True, "取消": True}  # closing a call is not the organiser's

    r = org.post(f"{url}/fire", data={"trigger": "publish"}, follow_redirects=False)
    assert r.status_code == 303
    page = org.get(url).text
    assert "已发布，待开始" in page
    # opening waits for the opening time: shown disabled, with why; closing is hidden
    assert buttons(page)["开始征集"] is False and "截止征集" not in buttons(page)
    r = org.post(f"{url}/fire", data={"trigger": "open"})
    assert r.status_code in (409, 422) and "开始征集" in r.text
    at.moment = now + timedelta(days=1, minutes=1)
    assert org.post(f"{url}/fire", data={"trigger": "open"}, follow_redirects=False).status_code == 303
    page = org.get(url).text
    assert "征集中" in page and buttons(page) == {"取消": True}

    # the office may close it, once the deadline has passed: disabled until then
    office = client_as("office", at)
    assert buttons(office.get(url).text)["截止征集"] is False
    # a department that does not organise the programme sees nothing of it
    other = client_as("other_organiser", at)
    assert other.get(url).status_code == 403
    assert other.post(f"{url}/fire", data={"trigger": "cancel", "reason": "x"}).status_code == 403
    assert call_id not in [int(i) for i in re.findall(r'href="/office/calls/(\d+)"', other.get("/office/calls").text)]

    # English: states and triggers in the reader's language
    org.get("/lang/en")
    page = org.get(url).text
    assert "open" in page and "cancel" in buttons(page) and "征集中" not in page


def test_the_list_filters_by_programme_and_state_sorts_by_closing_date_and_pages(
    engine: Engine, people: People, now: datetime
) -> None:
    opened = call(engine, people, now, closes_in=timedelta(days=5))
    with engine.begin() as conn:
        drafts = [
            create_call(
                conn,
                values={
                    "programme_id": programme_id(engine),
                    "title": f"草稿指南 {i:02d}",
                    "category": Category.SUPPORTED,
                    "selection_mode": SelectionMode.MERIT,
                    "support_modes": [SupportMode.COMPETITIVE],
                    "opens_at": now + timedelta(days=1),
                    "closes_at": now + timedelta(days=10 + i),
                },
                actor=people["organiser"],
                now=now,
            )
            for i in range(20)
        ]
    org = client_as("organiser", Clock(now))
    first = org.get("/office/calls").text
    ids = [int(i) for i in re.findall(r'<td><a href="/office/calls/(\d+)">', first)]
    assert ids[0] == opened and len(ids) == 20 and "1 / 2" in first  # earliest deadline first
    second = org.get("/office/calls?page=2").text
    assert [int(i) for i in re.findall(r'<td><a href="/office/calls/(\d+)">', second)] == [drafts[-1]]
    latest = org.get("/office/calls?sort=closes_desc").text
    assert next(int(i) for i in re.findall(r'<td><a href="/office/calls/(\d+)">', latest)) == drafts[-1]
    only_open = org.get("/office/calls?state=open").text
    assert re.findall(r'<td><a href="/office/calls/(\d+)">', only_open) == [str(opened)]
    assert "征集中" in only_open and '<option value="open" selected>征集中</option>' in only_open
    assert "没有符合条件" in org.get("/office/calls?programme=999999").text
    assert client_as("applicant", Clock(now)).get("/office/calls").status_code == 403
    assert client_as("expert1", Clock(now)).get("/office/calls/new").status_code == 403


def _under_review(engine: Engine, people: People, now: datetime, call_id: int, who: str) -> int:
    return make_project(engine, people, now, call_id=call_id, applicant=who, state="under_review")


def test_a_panel_is_formed_and_reviewers_assigned_conflicts_refused_with_their_reasons(
    engine: Engine, people: People, now: datetime
) -> None:
    call_id = call(engine, people, now, quorum=2)
    pid = _under_review(engine, people, now, call_id, "applicant")  # of jinghua: expert4 is theirs
    org = client_as("organiser", Clock(now))
    page = org.get(f"/review/calls/{call_id}/panel").text
    assert "尚未组建专家组" in page and "评审专家来自申报单位" in page  # expert4's conflict, shown up front

    # a non-reviewer is refused, and the ticked boxes stay ticked
    applicant = people["applicant"].user_id
    experts = [people[f"expert{i}"].user_id for i in (1, 2, 3, 4)]
    r = org.post(
        f"/review/calls/{call_id}/panel",
        data={"stage": "proposal", "name": "城市管理专家组", "member": [str(experts[0]), str(applicant)]},
    )
    assert r.status_code == 422 and "不是评审专家" in r.text
    assert f'value="{experts[0]}" aria-label' in r.text and re.search(rf'value="{experts[0]}"[^>]*checked', r.text)
    r = org.post(
        f"/review/calls/{call_id}/panel",
        data={"stage": "proposal", "name": "城市管理专家组", "member": [str(e) for e in experts]},
    )
    assert r.status_code == 200 and "专家组已组建（4 位专家）" in r.text

    # by hand: the conflicted expert is refused with the reason, another is assigned
    r = org.post(
        f"/review/calls/{call_id}/panel/assign",
        data={"stage": "proposal", "project": str(pid), "reviewer": str(experts[3])},
    )
    assert r.status_code == 403 and "评审专家来自申报单位" in r.text
    r = org.post(
        f"/review/calls/{call_id}/panel/assign",
        data={"stage": "proposal", "project": str(pid), "reviewer": str(experts[0])},
    )
    assert r.status_code == 200 and "已分配" in r.text
    # automatically: filled to the quorum from the panel, never with the conflicted one
    r = org.post(f"/review/calls/{call_id}/panel/assign", data={"stage": "proposal", "project": str(pid)})
    assert r.status_code == 200 and "已分配 1 位专家" in r.text and "2 / 2" in r.text
    with engine.connect() as conn:
        assigned = set(
            conn.execute(select(ReviewAssignment.reviewer_id).where(ReviewAssignment.project_id == pid)).scalars()
        )
    assert len(assigned) == 2 and experts[0] in assigned and experts[3] not in assigned

    org.get("/lang/en")
    page = org.get(f"/review/calls/{call_id}/panel").text
    assert "the reviewer belongs to the applying organisation" in page and "under expert review" in page
    # the other department and the experts cannot use the desk
    assert client_as("other_organiser", Clock(now)).get(f"/review/calls/{call_id}/panel").status_code == 403
    r = client_as("expert1", Clock(now)).post(
        f"/review/calls/{call_id}/panel", data={"stage": "proposal", "member": [str(experts[0])]}
    )
    assert r.status_code == 403


def _review(engine: Engine, people: People, now: datetime, pid: int, experts: tuple[str, ...]) -> None:
    with engine.begin() as conn:
        for i, who in enumerate(experts):
            record_review(
                conn,
                project_id=pid,
                stage="proposal",
                reviewer=people[who],
                score=Decimal(70 + 5 * i),
                recommendation="support",
                comments="",
                no_conflict_declared=True,
                now=now,
            )


def _row(html: str, code: str) -> str:
    m = re.search(rf"<tr><td>[^<]*</td><td><a href=\"/review/projects/\d+\">{re.escape(code)} .*?</tr>", html, re.S)
    assert m, code
    return m.group(0)


def test_the_ranking_names_states_in_the_readers_language_and_offers_only_decisions_the_engine_takes(
    engine: Engine, people: People, now: datetime
) -> None:
    call_id = call(engine, people, now, quorum=2)
    scored = _under_review(engine, people, now, call_id, "applicant")
    _review(engine, people, now, scored, ("expert1", "expert2"))
    waiting = _under_review(engine, people, now, call_id, "applicant2")  # no reviews yet: below quorum
    rejected = make_project(engine, people, now, call_id=call_id, applicant="applicant3", state="rejected")
    with engine.connect() as conn:
        codes = dict(conn.exec_driver_sql("SELECT id, code FROM projects").all())

    org = client_as("organiser", Clock(now))
    page = org.get(f"/review/calls/{call_id}").text
    row = _row(page, codes[scored])
    assert "专家评审中" in row and "70.00 · 75.00" in row
    assert f'name="approve" value="{scored}"' in row and f'name="reject" value="{scored}"' in row
    row = _row(page, codes[waiting])
    assert "专家评审中" in row and 'name="approve"' not in row and "评审" in row  # says why not yet
    row = _row(page, codes[rejected])
    assert "未立项" in row and 'type="checkbox"' not in row
    assert "under_review" not in page and ">rejected<" not in page

    # a decision taken from the page: the result names the states in words
    r = org.post(f"/review/calls/{call_id}/decide", data={"approve": str(scored)})
    assert r.status_code == 200 and "专家评审中 → 委托立项（签订任务书）" in r.text

    org.get("/lang/en")
    page = org.get(f"/review/calls/{call_id}").text
    assert "rejected" in _row(page, codes[rejected]) and 'type="checkbox"' not in _row(page, codes[rejected])
    assert "under expert review" in _row(page, codes[waiting])
    assert "commissioning (task agreement)" in _row(page, codes[scored])
    assert 'type="checkbox"' not in _row(page, codes[scored])  # decided: nothing more to decide here
    assert "政府支持开展" not in page and "government-supported" in page


def test_a_tender_needs_its_bid_opening_time_and_the_page_reads_in_english(
    engine: Engine, people: People, now: datetime
) -> None:
    office = client_as("office", Clock(now))
    office.get("/lang/en")
    form: dict[str, Any] = {
        "programme_id": str(programme_id(engine)),
        "title": "轨道交通招标",
        "title_en": "Rail transit tender",
        "category": Category.ENCOURAGED,
        "selection_mode": SelectionMode.TENDER,
        "support_modes": [SupportMode.TENDER],
        "quorum": "5",
        "opens_at": local(now),
        "closes_at": local(now + timedelta(days=20)),
        "bids_open_at": local(now + timedelta(days=10)),  # before the deadline
    }
    r = office.post("/office/calls/new", data=form)
    assert r.status_code == 422
    assert "bids cannot be opened before the bidding deadline" in field_errors(r.text, "bids_open_at")
    assert 'value="Rail transit tender"' in r.text and '<option value="tender" selected' in r.text
    form["bids_open_at"] = local(now + timedelta(days=21))
    r = office.post("/office/calls/new", data=form, follow_redirects=False)
    assert r.status_code == 303
    page = office.get(r.headers["location"]).text
    assert "Rail transit tender" in page and "public tender" in page and "government-encouraged" in page
    assert "Bid-opening time" in page and "being drafted" in page
    assert buttons(page) == {"publish": True, "cancel": True}
    listing = office.get("/office/calls").text
    assert "Rail transit tender" in listing and "being drafted" in listing and "public tender" in listing


def test_the_table_says_which_buttons_a_person_may_ever_press(engine: Engine, people: People, now: datetime) -> None:
    """``permitted``: the table names this person (a guard may still wait); otherwise the page hides it."""
    call_id = call(engine, people, now)
    with engine.connect() as conn:
        facts = load_facts(conn, "call", call_id)
    wf = get_registry().get(facts.workflow)
    mine = {b.trigger: (b.allowed, b.permitted) for b in wf.available(facts=facts, actor=people["organiser"], now=now)}
    office = {b.trigger: (b.allowed, b.permitted) for b in wf.available(facts=facts, actor=people["office"], now=now)}
    assert mine["close_call"] == (False, False) and office["close_call"] == (False, True)  # the deadline waits
    assert mine["cancel"] == (True, True)
    assert {b.trigger for b in wf.available(facts=facts, actor=people["applicant"], now=now) if b.permitted} == set()


def test_every_problem_of_a_planned_call_names_its_field() -> None:
    plan = CallPlan(
        category=Category.ORGANISED,
        selection_mode=SelectionMode.TENDER,
        support_modes=(SupportMode.COMPETITIVE,),
        quorum=0,
        eligibility={"regions": 5},
        opens_at=datetime(2026, 5, 1, tzinfo=ZoneInfo("UTC")),
        closes_at=datetime(2026, 4, 1, tzinfo=ZoneInfo("UTC")),
    )
    found = call_field_problems(plan)
    assert {name for name, _ in found} == {"support_modes", "bids_open_at", "closes_at", "quorum", "eligibility"}
    assert [text for _, text in found] == call_problems(plan)
