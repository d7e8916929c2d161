"""The form pages through the real app (FastAPI TestClient over HTTP): nothing typed is ever lost."""

from __future__ import annotations

from datetime import datetime, timedelta

import pytest
from fastapi.testclient import TestClient
from sqlalchemy import Engine, select

from grantflow.clock import SimulatedClock
from grantflow.db.models import Attachment, FormDraft, Organisation, QuestionnaireResponse, Submission
from grantflow.services.seed import DEMO_PASSWORD
from grantflow.web.app import create_app
from tests.conftest import People
from tests.factories import make_call, make_project, state_of
from tests.test_forms_store import proposal
from tests.web import WebClient

EXE = b"MZ\x90\x00\x03\x00\x00\x00" + b"\x00" * 200
PDF = b"%PDF-1.4\n%%EOF\n"


@pytest.fixture
def client(engine: Engine) -> TestClient:
    return WebClient(create_app())


def login(client: TestClient, email: str) -> None:
    r = client.post("/login", data={"email": email, "password": DEMO_PASSWORD, "next": "/"}, follow_redirects=False)
    assert r.status_code == 303


def as_pairs(values: dict) -> dict[str, list[str]]:
    """Flatten form values into posted names, like a browser does (``budget.0.amount``)."""
    posted: dict[str, list[str]] = {}
    for key, value in values.items():
        if isinstance(value, list) and value and isinstance(value[0], dict):
            for i, row in enumerate(value):
                for col, v in row.items():
                    posted.setdefault(f"{key}.{i}.{col}", []).append(v)
        elif isinstance(value, list):
            posted.setdefault(key, []).extend(value)
        else:
            posted.setdefault(key, []).append(value)
    return posted


def test_rejected_submit_shows_every_error_and_keeps_what_was_typed(
    client: TestClient, engine: Engine, people: People, now: datetime
) -> None:
    pid = make_project(engine, people, now)
    login(client, "pi@jinghua.example.com")
    page = client.get(f"/projects/{pid}/forms/proposal")
    assert page.status_code == 200 and 'name="project_title"' in page.text and "项目申报书" in page.text
    typed = proposal(people["applicant2"].organisation_id)
    typed.update(
        {
            "project_title": "我的<项目>",
            "total_budget": "三百万",
            "start_date": "2026/13/01",
            "expertise": [],
            "budget": [{"source": "municipal_budget", "head": "equipment", "amount": "12.345"}],
        }
    )
    r = client.post(f"/projects/{pid}/forms/proposal", data=as_pairs({**typed, "action": "submit"}))
    assert r.status_code == 422
    html = r.text
    assert "未能提交" in html and "您填写的内容已保存为草稿" in html
    assert 'value="三百万"' in html and 'value="2026/13/01"' in html and 'value="12.345"' in html
    assert 'value="我的&lt;项目&gt;"' in html  # kept exactly, and escaped
    assert "“总预算（元）”：必须是以元为单位的金额" in html
    assert "“执行期开始”：不是一个存在的日期" in html
    assert "“技术领域”：必填" in html
    assert "“经费预算（按来源）”第 1 行“金额（元）”：金额最多精确到分" in html
    assert 'href="#f-budget-0-amount"' in html
    with engine.connect() as conn:
        draft = conn.execute(select(FormDraft)).one()
        assert conn.execute(select(Submission)).all() == []
    assert draft.data["total_budget"] == "三百万" and draft.data["budget"][0]["amount"] == "12.345"
    # leaving and coming back: the page still shows the typed values and the errors
    again = client.get(f"/projects/{pid}/forms/proposal")
    assert 'value="三百万"' in again.text and "必须是以元为单位的金额" in again.text


def test_errors_in_english_for_an_english_speaker(
    client: TestClient, engine: Engine, people: People, now: datetime
) -> None:
    pid = make_project(engine, people, now, applicant="applicant2")
    login(client, "pi@yanyuan.example.edu")  # Prof. Wu reads English
    typed = {**proposal(people["applicant"].organisation_id), "requested_funding": "lots", "action": "submit"}
    r = client.post(f"/projects/{pid}/forms/proposal", data=as_pairs(typed))
    assert r.status_code == 422
    assert "&#39;Municipal funding requested (yuan)&#39; must be an amount in yuan" in r.text
    assert "Not submitted: please correct the marked fields" in r.text and 'value="lots"' in r.text


def test_valid_submit_with_an_attachment_then_a_disguised_one_is_refused(
    client: TestClient, engine: Engine, people: People, now: datetime
) -> None:
    pid = make_project(engine, people, now)
    login(client, "pi@jinghua.example.com")
    values = {**proposal(people["applicant2"].organisation_id), "action": "submit"}
    r = client.post(
        f"/projects/{pid}/forms/proposal",
        data=as_pairs(values),
        files=[("attachments__upload", ("可行性报告.pdf", PDF, "application/pdf"))],
        follow_redirects=False,
    )
    assert r.status_code == 303 and "saved=submitted" in r.headers["location"]
    with engine.connect() as conn:
        sub = conn.execute(select(Submission)).one()
        att = conn.execute(select(Attachment)).one()
    assert sub.data["attachments"] == [att.id] and sub.form_version == 1
    shown = client.get(f"/projects/{pid}/forms/proposal")
    assert "已提交" in shown.text and "可行性报告.pdf" in shown.text and f"/attachments/{att.id}" in shown.text
    view = client.get(f"/submissions/{sub.id}")
    assert view.status_code == 200 and "3,000,000.00 元" in view.text and "表单版本 1" in view.text

    # editing: a program renamed .pdf is refused on its field; the edit stays a draft, the submission stays
    edit = {**values, "project_title": "改过的标题", "attachments": [str(att.id)]}
    r = client.post(
        f"/projects/{pid}/forms/proposal",
        data=as_pairs(edit),
        files=[("attachments__upload", ("预算.pdf", EXE, "application/pdf"))],
    )
    assert r.status_code == 422
    assert "附件“预算.pdf”未被接受" in r.text and "Windows 可执行程序" in r.text
    assert 'value="改过的标题"' in r.text
    with engine.connect() as conn:
        assert conn.execute(select(Submission.data)).scalar_one()["project_title"] == "工业机器人精密减速器研发"
        assert conn.execute(select(FormDraft.data)).scalar_one()["project_title"] == "改过的标题"
        assert len(conn.execute(select(Attachment)).all()) == 1  # the refused file was not stored


def test_another_unit_cannot_open_the_form_page(client: TestClient, engine: Engine, people: People, now: datetime):
    pid = make_project(engine, people, now)
    login(client, "pi@yanyuan.example.edu")
    assert client.get(f"/projects/{pid}/forms/proposal").status_code == 404
    assert client.post(f"/projects/{pid}/forms/proposal", data={"action": "save"}).status_code == 404


def test_office_sees_the_form_read_only(client: TestClient, engine: Engine, people: People, now: datetime) -> None:
    pid = make_project(engine, people, now)
    login(client, "office@kw.example.cn")
    r = client.get(f"/projects/{pid}/forms/proposal")
    assert r.status_code == 200 and 'name="project_title"' not in r.text and "尚未提交" in r.text
    assert client.get(f"/projects/{pid}/forms").status_code == 200


def test_api_returns_every_error_keyed_in_both_languages(
    client: TestClient, engine: Engine, people: People, now: datetime
) -> None:
    pid = make_project(engine, people, now, workflow="concept")
    login(client, "pi@jinghua.example.com")
    body = {"data": {"estimated_funding": 12.5, "expertise": ["robotics", "nope"]}, "submit": True}
    r = client.post(f"/api/projects/{pid}/forms/concept_note", json=body)
    assert r.status_code == 422
    errors = {e["key"]: e for e in r.json()["errors"]}
    assert set(errors) == {"project_title", "expertise", "idea", "expected_results"}
    assert errors["expertise"]["zh"].startswith("“技术领域”") and "options offered" in errors["expertise"]["en"]
    got = client.get(f"/api/projects/{pid}/forms/concept_note").json()
    assert got["status"] == "draft" and got["values"]["estimated_funding"] == 12.5
    definition = client.get("/api/forms/concept_note").json()
    assert definition["versions"] == [1] and definition["title"]["en"] == "Concept note"


def test_public_questionnaire_needs_no_account_and_keeps_answers_on_error(client: TestClient, engine: Engine) -> None:
    page = client.get("/needs")
    assert page.status_code == 200 and "重大专项需求征集表" in page.text
    answer = {
        "respondent_kind": "enterprise",
        "organisation_name": "某企业",
        "contact_name": "王女士",
        "contact": "wang@example.com",
        "programme": "7",
        "need_title": "协作机器人安全标准",
        "description": "缺少国家标准。",
        "expected_outcome": "团体标准 1 项",
        "urgency": "high",
        "cofund": "yes",
        "cofund_amount": "五十万",
    }
    r = client.post("/needs", data=answer)
    assert r.status_code == 422 and 'value="五十万"' in r.text and 'value="协作机器人安全标准"' in r.text
    r = client.post("/needs", data={**answer, "cofund_amount": "500000"}, follow_redirects=False)
    assert r.status_code == 303
    with engine.connect() as conn:
        saved = conn.execute(select(QuestionnaireResponse)).one()
    assert saved.data["cofund_amount"] == "500000.00" and saved.form_version == 1


def test_a_partner_is_typed_by_name_suggested_by_search_and_an_unknown_name_is_kept(
    client: TestClient, engine: Engine, people: People, now: datetime
) -> None:
    pid = make_project(engine, people, now)
    partner = people["applicant2"].organisation_id
    with engine.connect() as conn:
        name = conn.execute(select(Organisation.name).where(Organisation.id == partner)).scalar_one()
    login(client, "pi@jinghua.example.com")
    page = client.get(f"/projects/{pid}/forms/proposal")
    # a text field with suggestions, not a list of every unit on every page
    assert 'name="partners.0.organisation"' in page.text and 'data-org-search="/api/orgs/search"' in page.text
    assert f'<option value="{partner}"' not in page.text
    found = client.get("/api/orgs/search", params={"q": name[:2]}).json()["organisations"]
    assert any(o["id"] == partner and o["label"] == name for o in found) and len(found) <= 10
    assert client.get("/api/orgs/search", params={"q": "%"}).json()["organisations"] == []  # LIKE wildcards are text

    # a name that is no registered unit: refused beside the field, in Chinese, and kept as typed
    values = {**proposal(partner), "action": "submit"}
    values["partners"] = [{"organisation": "不存在的研究所", "contribution": "检测"}]
    r = client.post(f"/projects/{pid}/forms/proposal", data=as_pairs(values))
    assert r.status_code == 422
    assert "没有名为“不存在的研究所”的登记单位" in r.text and 'value="不存在的研究所"' in r.text
    # its registered name: submitted, stored as the unit's id, shown by name
    values["partners"] = [{"organisation": name, "contribution": "检测"}]
    r = client.post(f"/projects/{pid}/forms/proposal", data=as_pairs(values), follow_redirects=False)
    assert r.status_code == 303 and "saved=submitted" in r.headers["location"]
    with engine.connect() as conn:
        sub = conn.execute(select(Submission)).one()
    assert sub.data["partners"][0]["organisation"] == partner
    assert name in client.get(f"/submissions/{sub.id}").text


def test_the_form_page_hands_in_the_project_with_the_button_named_for_it(
    client: TestClient, engine: Engine, people: People, now: datetime, clock: SimulatedClock
) -> None:
    pid = make_project(engine, people, now)
    late = make_project(engine, people, now, call_id=make_call(engine, people, now, closes_in=timedelta(minutes=5)))
    login(client, "pi@jinghua.example.com")
    page = client.get(f"/projects/{pid}/forms/proposal")
    # the project page's own submit ("提交申报"), offered beside the form's plain submit
    assert 'name="action" value="hand_in">提交申报</button>' in page.text
    values = {**proposal(people["applicant2"].organisation_id), "action": "hand_in"}
    r = client.post(f"/projects/{pid}/forms/proposal", data=as_pairs(values), follow_redirects=False)
    assert r.status_code == 303 and r.headers["location"] == f"/projects/{pid}"
    assert state_of(engine, pid) == "submitted"
    with engine.connect() as conn:
        assert conn.execute(select(Submission).where(Submission.project_id == pid)).one().status == "submitted"
    # a form with errors is not submitted and the project stays where it was: nothing typed is lost
    r = client.post(f"/projects/{late}/forms/proposal", data=as_pairs({**values, "total_budget": "三百万"}))
    assert r.status_code == 422 and "未能提交" in r.text and 'value="三百万"' in r.text
    assert state_of(engine, late) == "draft"
    # after the call's deadline: the form is submitted, the project is refused, the page says why
    clock.advance(minutes=10)
    r = client.post(f"/projects/{late}/forms/proposal", data=as_pairs(values))
    assert r.status_code == 422, r.text[:500]
    assert "表单已提交，但项目未能提交申报：条件不满足：申报指南不在征集期内" in r.text
    assert state_of(engine, late) == "draft"
    with engine.connect() as conn:
        assert conn.execute(select(Submission).where(Submission.project_id == late)).one().status == "submitted"


def test_the_forms_page_lists_the_forms_of_the_projects_own_lifecycle(
    client: TestClient, engine: Engine, people: People, now: datetime
) -> None:
    standard = make_project(engine, people, now)
    concept = make_project(engine, people, now, workflow="concept")
    login(client, "pi@jinghua.example.com")
    one_stage = client.get(f"/projects/{standard}/forms").text
    two_stage = client.get(f"/projects/{concept}/forms").text
    assert "项目申报书" in one_stage and "项目建议书" not in one_stage  # no concept note in a one-stage call
    assert "项目建议书" in two_stage and "项目申报书" in two_stage
