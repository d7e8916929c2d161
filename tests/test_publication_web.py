"""The disclosure pages: the public list with downloads and feed, and the office's side."""

from __future__ import annotations

import re
from datetime import UTC, datetime

from fastapi.testclient import TestClient
from sqlalchemy import Engine, func, select

from grantflow.clock import SimulatedClock
from grantflow.db.models import Publication
from grantflow.services.seed import DEMO_PASSWORD
from grantflow.web.app import create_app
from tests.conftest import People
from tests.factories import launch_programme, make_call, make_project
from tests.publishing import PUBLISHED_LATER, FakeScanner, text_of
from tests.web import WebClient


def login(client: TestClient, email: str, lang: str = "zh") -> None:
    r = client.post("/login", data={"email": email, "password": DEMO_PASSWORD, "next": "/"}, follow_redirects=False)
    assert r.status_code == 303
    client.get(f"/lang/{lang}")


def test_office_publishes_now_and_the_public_downloads_it(engine: Engine, people: People, now: datetime) -> None:
    call = make_call(engine, people, now)
    make_project(engine, people, now, call_id=call, title="京津冀大气污染联防联控平台", state="commissioning")
    app = create_app()
    app.state.scanner = FakeScanner()
    office = WebClient(app)
    login(office, "office@kw.example.cn")
    page = office.get("/office/publications")
    assert page.status_code == 200 and "立即发布" in page.text and "publish-establishment" in page.text
    r = office.post(
        "/office/publications/publish", data={"kind": "establishment", "programme": "7", "period": "2026-03"}
    )
    assert r.status_code == 200 and "已发布" in r.text
    # the outcome names what was published and links to it
    [published] = re.findall(r'role="status">.*?href="/publications/files/([^"]+)"', r.text, re.S)
    assert published.endswith("ZX07-establishment-2026-03.pdf") and "页）" in r.text
    again = office.post(
        "/office/publications/publish", data={"kind": "establishment", "programme": "7", "period": "2026-03"}
    )
    assert "此前已发布" in again.text
    public = WebClient(app)  # nobody signed in
    listing = public.get("/publications")
    assert listing.status_code == 200 and "立项结果" in listing.text
    href = listing.text.split('href="/publications/files/')[1].split('"')[0]
    pdf = public.get(f"/publications/files/{href}")
    assert pdf.headers["content-type"] == "application/pdf"
    assert "京津冀大气污染联防联控平台" in text_of(pdf.content).replace("\n", "")
    feed = public.get("/publications/feed.atom").text
    # the page's feed points at the page's own addresses, and its enclosure downloads the PDF
    [enclosure] = re.findall(r'rel="enclosure" type="application/pdf" href="([^"]+)"', feed)
    assert enclosure == f"/publications/files/{href}" and public.get(enclosure).content == pdf.content
    assert '<link rel="self" href="/publications/feed.atom"/>' in feed
    assert re.search(r'<time datetime="[^"]+">\d{4}-\d{2}-\d{2} \d{2}:\d{2}</time>', listing.text)
    assert public.get("/publications/manifest.json").json()["publications"][0]["documents"][0]["name"] == href
    for sneaky in ("../grantflow.db", "manifest.json", ".staging/x.pdf", "ZX07/nothing.pdf"):
        assert public.get(f"/publications/files/{sneaky}").status_code == 404, sneaky
    english = WebClient(app)
    login(english, "office@kw.example.cn", lang="en")
    assert "Publish now" in english.get("/office/publications").text
    assert "Download" in WebClient(app).get("/publications", headers={"accept-language": "en"}).text


def test_what_the_guard_blocked_is_shown_and_released_with_a_reason(
    engine: Engine, people: People, now: datetime
) -> None:
    call = make_call(engine, people, now)
    make_project(engine, people, now, call_id=call, title="澳门威尼斯人在线娱乐平台", state="commissioning")
    app = create_app()
    app.state.scanner = FakeScanner("威尼斯人")
    office = WebClient(app)
    login(office, "office@kw.example.cn")
    r = office.post(
        "/office/publications/publish", data={"kind": "establishment", "programme": "7", "period": "2026-03"}
    )
    assert "已拦截" in r.text and "威尼斯人" in r.text
    [pub_id] = re.findall(r"/office/publications/(\d+)/override", r.text)
    refused = office.post(f"/office/publications/{pub_id}/override", data={"reason": " "})
    assert refused.status_code == 422 and "须说明理由" in refused.text
    ok = office.post(
        f"/office/publications/{pub_id}/override", data={"reason": "经核实为真实项目名称"}, follow_redirects=False
    )
    assert ok.status_code == 303
    assert "经核实为真实项目名称" in office.get("/office/publications").text
    done = office.post(
        "/office/publications/publish", data={"kind": "establishment", "programme": "7", "period": "2026-03"}
    )
    assert "已发布" in done.text


def test_only_the_office_sees_the_office_side(engine: Engine) -> None:
    client = WebClient(create_app())
    login(client, "pi@jinghua.example.com")
    assert client.get("/office/publications").status_code == 403
    r = client.post(
        "/office/publications/publish", data={"kind": "establishment", "programme": "7", "period": "2026-03"}
    )
    assert r.status_code == 403


def test_a_period_still_running_is_refused_and_the_form_kept(
    engine: Engine, people: People, clock: SimulatedClock
) -> None:
    call = make_call(engine, people, clock.now())
    make_project(engine, people, clock.now(), call_id=call, title="城市地下管网监测平台", state="commissioning")
    app = create_app()
    app.state.scanner = FakeScanner()
    office = WebClient(app)
    login(office, "office@kw.example.cn")
    form = {"kind": "establishment", "programme": "7", "period": "2026-03"}
    r = office.post("/office/publications/publish", data=form)  # the clock says 2 March 2026
    assert r.status_code == 422 and "期间 2026-03 尚未结束，2026-04-01 起方可发布" in r.text
    assert 'value="2026-03"' in r.text and '<option value="establishment" selected' in r.text
    with engine.connect() as conn:
        assert conn.execute(select(func.count()).select_from(Publication)).scalar_one() == 0
    login(office, "office@kw.example.cn", lang="en")
    assert (
        "has not ended yet: it can be published from 2026-04-01"
        in office.post("/office/publications/publish", data=form).text
    )
    unknown = office.post("/office/publications/publish", data={**form, "programme": "7 OR 1=1", "period": "2026-02"})
    assert unknown.status_code == 404 and "programme 7 OR 1=1 does not exist" in unknown.text
    clock.set(datetime(2026, 3, 31, 16, 0, tzinfo=UTC))  # midnight, 1 April, in Beijing
    login(office, "office@kw.example.cn", lang="en")  # a month on, the session has expired
    done = office.post("/office/publications/publish", data={**form, "period": "2026-Q1"})
    assert done.status_code == 200 and "Published" in done.text and "ZX07-establishment-2026-Q1.pdf" in done.text


def test_a_due_period_is_published_from_its_own_row(engine: Engine, people: People, clock: SimulatedClock) -> None:
    launch_programme(engine, people, clock.now())  # from now on the office owes programme 7 its disclosures
    call = make_call(engine, people, clock.now())
    make_project(engine, people, clock.now(), call_id=call, title="城市更新智能感知平台", state="commissioning")
    clock.set(clock.now() + PUBLISHED_LATER)  # 2 April 2026: March and the first quarter have ended
    app = create_app()
    app.state.scanner = FakeScanner()
    office = WebClient(app)
    login(office, "office@kw.example.cn")
    page = office.get("/office/publications").text
    due = page.split("待发布")[1].split("内容安全检查拦截")[0]
    rows = re.findall(
        r'name="kind" value="([a-z]+)">.*?name="programme" value="(\d+)">.*?name="period" value="([0-9Q-]+)"', due, re.S
    )
    assert ("establishment", "7", "2026-03") in rows and ("progress", "7", "2026-Q1") in rows
    assert "未开始" in due and "Not started" not in due
    r = office.post(
        "/office/publications/publish", data={"kind": "establishment", "programme": "7", "period": "2026-03"}
    )
    assert r.status_code == 200 and "ZX07-establishment-2026-03.pdf" in r.text
    after = office.get("/office/publications").text.split("待发布")[1].split("内容安全检查拦截")[0]
    assert 'name="period" value="2026-03"' not in after.split('value="adjustments"')[0]
    english = WebClient(app)
    login(english, "office@kw.example.cn", lang="en")
    assert "Not started" in english.get("/office/publications").text
