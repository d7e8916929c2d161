"""Errors as pages in the reader's language (JSON under /api), and no 500 on any input tried."""

from __future__ import annotations

import re
from datetime import datetime

import pytest
from fastapi.testclient import TestClient
from sqlalchemy import Engine, select

from grantflow.db.models import Attachment, FormDraft, Project
from grantflow.forms import FORMS
from grantflow.forms.validation import validate
from grantflow.services.calls import new_project
from grantflow.services.seed import DEMO_PASSWORD
from grantflow.web.app import create_app
from tests.conftest import People
from tests.factories import make_project
from tests.test_attachments import PDF
from tests.web import WebClient

HUGE = "9" * 30  # beyond 64 bits
BEYOND = str(2**63)  # the first id SQLite cannot hold


@pytest.fixture
def client(engine: Engine) -> TestClient:
    # server exceptions are raised in the test: a 500 fails it loudly
    return WebClient(create_app())


def login(client: TestClient, email: str = "pi@jinghua.example.com", lang: str = "zh") -> None:
    r = client.post("/login", data={"email": email, "password": DEMO_PASSWORD}, follow_redirects=False)
    assert r.status_code == 303
    client.get(f"/lang/{lang}")


def same_but_id(a: str, a_id: int, b: str, b_id: int) -> bool:
    def masked(text: str, n: int) -> str:
        return re.sub(rf"(?<![\w=.]){n}(?![\w.])", "N", text)

    return masked(a, a_id) == masked(b, b_id)


def is_page(r: object) -> bool:
    return r.headers["content-type"].startswith("text/html")  # type: ignore[attr-defined]


@pytest.mark.parametrize("lang,text", [("zh", "页面不存在"), ("en", "This page does not exist")])
def test_an_unknown_path_is_a_page_in_the_readers_language(client: TestClient, lang: str, text: str) -> None:
    client.get(f"/lang/{lang}")
    r = client.get("/no/such/page")
    assert r.status_code == 404 and is_page(r) and text in r.text and "detail" not in r.text
    r = client.get("/api/no/such/thing")
    assert r.status_code == 404 and r.json()["error"] == "http_404" and set(r.json()["messages"]) == {"zh", "en"}


def test_a_wrong_method_and_wrong_ids_are_pages_too(client: TestClient) -> None:
    login(client)
    r = client.delete("/")
    assert r.status_code == 405 and is_page(r)
    for url in ("/projects/abc", f"/projects/{HUGE}", f"/projects/{BEYOND}", "/projects/-1", "/submissions/1.5"):
        r = client.get(url)
        assert r.status_code == 404 and is_page(r), url
    for url in (f"/api/projects/{HUGE}", "/api/projects/abc", f"/api/review/calls/{BEYOND}/ranking"):
        r = client.get(url)
        assert r.status_code == 404 and r.json()["error"] == "not_found", url


def test_query_validation_gives_the_same_bilingual_answer(
    client: TestClient, engine: Engine, people: People, now: datetime
) -> None:
    pid = make_project(engine, people, now, state="draft")
    login(client, lang="en")
    r = client.get(f"/api/projects/{pid}/forms/proposal?period=abc")
    assert r.status_code == 422 and r.json()["error"] == "invalid_request"
    assert r.json()["problems"][0]["field"] == "period" and "abc" not in r.text  # the input is not echoed
    r = client.get(f"/api/projects/{pid}/forms/proposal?period={HUGE}")
    assert r.status_code in (404, 422)
    r = client.get(f"/review/calls/1?stage={HUGE}")
    assert r.status_code < 500


def test_an_other_units_project_and_a_missing_one_answer_alike(
    client: TestClient, engine: Engine, people: People, now: datetime
) -> None:
    theirs = make_project(engine, people, now, state="draft", applicant="applicant2")
    with engine.connect() as conn:
        missing = int(conn.execute(select(Project.id).order_by(Project.id.desc())).scalars().first() or 0) + 1000
    login(client)
    for template in (
        "/projects/{}",
        "/projects/{}/forms",
        "/projects/{}/forms/proposal",
        "/review/projects/{}",
        "/api/projects/{}",
        "/api/projects/{}/forms/proposal",
        "/api/review/projects/{}/eligibility",
    ):
        a, b = client.get(template.format(theirs)), client.get(template.format(missing))
        assert a.status_code == b.status_code == 404, template
        # the same page or body, but for the number asked about
        assert same_but_id(a.text, theirs, b.text, missing), template
    fire_a = client.post(f"/projects/{theirs}/fire", data={"trigger": "withdraw"})
    fire_b = client.post(f"/projects/{missing}/fire", data={"trigger": "withdraw"})
    assert fire_a.status_code == fire_b.status_code == 404
    assert same_but_id(fire_a.text, theirs, fire_b.text, missing)


def test_bad_ids_in_forms_and_batches_never_crash(
    client: TestClient, engine: Engine, people: People, now: datetime
) -> None:
    login(client, "office@kw.example.cn")
    for value in ("abc", HUGE, BEYOND, "-3", "1e3", ""):
        r = client.post("/inbox/read", data={"message_id": value})
        assert r.status_code in (200, 404, 422) and is_page(r), value
        r = client.post("/review/calls/1/assign", data={"project": value, "stage": "proposal"})
        assert r.status_code in (200, 404, 422) and is_page(r), value
        r = client.post("/review/calls/1/decide", data={"approve": value})
        assert r.status_code in (200, 404, 422) and is_page(r), value
    for batch in (
        [{"x": 1}],
        [{"project_id": "abc", "trigger": "approve"}],
        [{"project_id": int(HUGE), "trigger": "approve"}],
        [{"project_id": 1}],
        ["approve"],
        [None],
    ):
        r = client.post("/api/review/decisions", json={"decisions": batch})
        assert r.status_code == 422 and r.json()["error"] == "invalid_request", batch
    r = client.post("/api/review/calls/1/assign", json={"project_ids": [int(HUGE)], "stage": "proposal"})
    assert r.status_code in (200, 404, 422)


def test_lone_surrogates_in_json_are_refused_cleanly(
    client: TestClient, engine: Engine, people: People, now: datetime
) -> None:
    pid = make_project(engine, people, now, state="draft")
    login(client)
    raw = b'{"data": {"project_title": "\\ud800 broken"}, "submit": false}'
    r = client.post(f"/api/projects/{pid}/forms/proposal", content=raw, headers={"Content-Type": "application/json"})
    assert r.status_code == 422 and r.json()["error"] == "invalid_text"
    r = client.post(
        f"/api/review/projects/{pid}/complaints",
        content=b'{"grounds": "\\udfff"}',
        headers={"Content-Type": "application/json"},
    )
    assert r.status_code == 422
    # a proper pair (an emoji written as two escapes) is fine
    ok = b'{"data": {"project_title": "\\ud83d\\ude00 ok"}, "submit": false}'
    r = client.post(f"/api/projects/{pid}/forms/proposal", content=ok, headers={"Content-Type": "application/json"})
    assert r.status_code == 200, r.text
    with engine.connect() as conn:
        drafts = conn.execute(select(FormDraft.data).where(FormDraft.project_id == pid)).scalars().all()
    assert any(d.get("project_title") == "\U0001f600 ok" for d in drafts)


def test_hidden_characters_are_stripped_from_titles_and_names(
    client: TestClient, engine: Engine, people: People, now: datetime
) -> None:
    pid = make_project(engine, people, now, state="draft")
    login(client)
    sneaky = "协作机器人\u202e标准\u200b检测\u2066平台"
    # the draft keeps what was typed; what is stored with a submission is the cleaned text
    parsed = validate(FORMS.get("proposal"), {"project_title": sneaky, "partners": []}, submit=False)
    assert parsed.as_json()["project_title"] == "协作机器人标准检测平台"
    r = client.post(f"/api/projects/{pid}/forms/proposal", json={"data": {"project_title": sneaky}, "submit": True})
    assert r.status_code == 422 and "project_title" not in str(r.json()["errors"])  # other fields are missing
    from tests.test_review_helpers import call

    call_id = call(engine, people, now)
    with engine.begin() as conn:
        new = new_project(
            conn, call_id=call_id, actor=people["applicant"], title=" 名称\u200d里\u202a有\ufeff隐藏字符 ", now=now
        )
        title = conn.execute(select(Project.title).where(Project.id == new)).scalar_one()
    assert title == "名称里有隐藏字符"


def test_a_pdf_with_a_300_character_name_is_accepted(
    client: TestClient, engine: Engine, people: People, now: datetime
) -> None:
    pid = make_project(engine, people, now, state="draft")
    login(client)
    name = "关于协作机器人安全标准的可行性研究报告" * 15 + ".pdf"
    assert len(name) == 289 + 15 - 4 + 4 or len(name) > 250
    page = client.get(f"/projects/{pid}/forms/proposal")
    assert page.status_code == 200
    r = client.post(
        f"/projects/{pid}/forms/proposal",
        data={"action": "save"},
        files=[("attachments__upload", (name, PDF, "application/pdf"))],
        follow_redirects=False,
    )
    assert r.status_code == 303, re.findall(r"attachment[^<]{0,200}", r.text)
    with engine.connect() as conn:
        stored = conn.execute(select(Attachment.filename, Attachment.kind)).one()
    assert stored.kind == "pdf" and stored.filename.endswith(".pdf") and len(stored.filename) <= 200
    assert stored.filename.startswith("关于协作机器人安全标准")
