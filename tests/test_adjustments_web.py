"""Dynamic adjustment through the web page, the JSON API and the CLI: one story across all three,
and the same refusal, with the same reason, in each of them."""

from __future__ import annotations

import re
from datetime import datetime
from pathlib import Path

import pytest
from fastapi.testclient import TestClient
from sqlalchemy import Engine, select
from typer.testing import CliRunner

from grantflow.cli.main import app as cli
from grantflow.db.models import Adjustment, Project
from grantflow.services import adjustments as adj
from grantflow.web.app import create_app
from tests.conftest import People
from tests.factories import state_of
from tests.test_adjustments import executing_project
from tests.test_web_core import login
from tests.web import WebClient

runner = CliRunner()
TEMPLATES = Path(__file__).resolve().parent.parent / "web" / "templates"
CATALOGUE = Path(__file__).resolve().parent.parent / "web" / "translations" / "en" / "LC_MESSAGES"


@pytest.fixture
def client(engine: Engine) -> TestClient:
    return WebClient(create_app())


def _state(engine: Engine, aid: int) -> str:
    with engine.connect() as conn:
        return str(conn.execute(select(Adjustment.state).where(Adjustment.id == aid)).scalar_one())


def test_an_extension_requested_on_the_page_decided_by_api_and_applied_by_cli(
    client: TestClient, engine: Engine, people: People, now: datetime
):
    pid = executing_project(engine, people, now)
    login(client, "pi@jinghua.example.com")
    page = client.get(f"/projects/{pid}")
    assert f'href="/projects/{pid}/adjustments"' in page.text
    r = client.post(f"/projects/{pid}/adjustments", data={"kind": "extension"}, follow_redirects=False)
    assert r.status_code == 303
    aid = int(r.headers["location"].rsplit("/", 1)[1])
    form = client.get(f"/adjustments/{aid}")
    assert form.status_code == 200 and 'name="new_end_date"' in form.text
    # submitted without a reason: refused beside the field, what was typed stays on the page and stored
    r = client.post(f"/adjustments/{aid}", data={"action": "submit", "kind": "extension", "new_end_date": "2028-03-31"})
    assert r.status_code == 422
    assert "2028-03-31" in r.text and "调整理由" in r.text
    assert _state(engine, aid) == "drafted"
    r = client.post(
        f"/adjustments/{aid}",
        data={"action": "submit", "kind": "extension", "new_end_date": "2028-03-31", "reason": "样机测试推迟"},
        follow_redirects=False,
    )
    assert r.status_code == 303, r.text
    assert _state(engine, aid) == "submitted"
    # the organising unit reviews it on its decision page, giving its reason
    login(client, "organiser@jxw.example.cn")
    queue = client.get("/adjustments").text
    assert f'href="/adjustments/{aid}"' in queue
    r = client.post(
        f"/adjustments/{aid}/fire", data={"trigger": "review_adjustment", "reason": "同意延期"}, follow_redirects=False
    )
    assert r.status_code == 303 and _state(engine, aid) == "unit_reviewed"
    # the office approves it through the API (a minor change: no leadership decision)
    login(client, "office@kw.example.cn")
    r = client.post(f"/api/adjustments/{aid}/actions/approve", json={"reason": "符合规定"})
    assert r.status_code == 200 and r.json()["to"] == "approved"
    # and applies it from the command line
    out = runner.invoke(cli, ["adjustments", "apply", str(aid), "--as", "office@kw.example.cn", "--reason", "执行"])
    assert out.exit_code == 0, out.output
    assert "approved → applied" in out.output
    detail = client.get(f"/api/adjustments/{aid}").json()
    assert detail["changes"] == {"project.end_date": {"before": "2027-12-31", "after": "2028-03-31"}}
    assert [d["actor"] for d in detail["decisions"]] == ["周工", "赵处长", "李主任", "李主任"]
    assert [d["reason"] for d in detail["decisions"]][1:] == ["同意延期", "符合规定", "执行"]
    page = client.get(f"/adjustments/{aid}").text
    # before and after in the reader's words, not the stored keys
    assert "结束日期" in page and "2027-12-31" in page and "2028-03-31" in page and "同意延期" in page
    assert "project.end_date" not in page and "None" not in page
    listed = runner.invoke(cli, ["adjustments", "list", "--as", "office@kw.example.cn", "--project", str(pid)])
    assert listed.exit_code == 0 and "applied" in listed.output


def test_the_same_refusal_with_the_same_reason_on_page_api_and_cli(
    client: TestClient, engine: Engine, people: People, now: datetime
):
    pid = executing_project(engine, people, now)
    with engine.begin() as conn:
        aid = adj.start(
            conn, project_id=pid, kind="suspension", actor=people["applicant"], raw={"reason": "设备检修"}, now=now
        )
    assert adj.submit(engine, adjustment_id=aid, actor=people["applicant"], now=now).ok
    reason_zh = "只有本专项组织单位的人员可以执行此操作"
    # page: the button is there, greyed out, with the reason; pressing it anyway is refused with it
    login(client, "pi@jinghua.example.com")
    page = client.get(f"/adjustments/{aid}").text
    button = re.search(r'value="review_adjustment">.*?</form>', page, re.S)
    assert button and "disabled" in button.group(0) and reason_zh in button.group(0)
    r = client.post(f"/adjustments/{aid}/fire", data={"trigger": "review_adjustment", "reason": "我自己审核"})
    assert r.status_code == 403 and reason_zh in r.text and "我自己审核" in r.text  # typed text kept
    # API
    r = client.post(f"/api/adjustments/{aid}/actions/review", json={"reason": "x"})
    assert r.status_code == 403 and reason_zh in r.json()["messages"]["zh"]
    # CLI
    out = runner.invoke(cli, ["adjustments", "review", str(aid), "--as", "pi@jinghua.example.com", "--reason", "x"])
    assert out.exit_code == 2 and reason_zh in out.output
    # and in English for an English reader
    out = runner.invoke(
        cli, ["adjustments", "review", str(aid), "--as", "pi@jinghua.example.com", "--reason", "x", "--lang", "en"]
    )
    assert "only a member of the programme's organising unit may do this" in out.output
    assert _state(engine, aid) == "submitted"
    # a project suspend pressed on the project page is refused with the adjustment rule's reason
    login(client, "office@kw.example.cn", lang="en")
    r = client.post(f"/projects/{pid}/fire", data={"trigger": "suspend", "reason": "x"})
    assert r.status_code == 403 and "an approved dynamic adjustment" in r.text
    assert state_of(engine, pid) == "in_execution"


def test_incompatible_category_refused_on_the_page_with_everything_typed_kept(
    client: TestClient, engine: Engine, people: People, now: datetime
):
    pid = executing_project(engine, people, now)
    login(client, "pi@jinghua.example.com", lang="en")
    r = client.post(f"/projects/{pid}/adjustments", data={"kind": "category"}, follow_redirects=False)
    aid = int(r.headers["location"].rsplit("/", 1)[1])
    r = client.post(
        f"/adjustments/{aid}",
        data={
            "action": "submit",
            "kind": "category",
            "reason": "moving closer to the market",
            "new_category": "organised",
            "new_support_modes": ["equity_investment"],
        },
    )
    assert r.status_code == 422
    assert "cannot use support mode &#39;equity investment&#39;" in r.text or "equity investment" in r.text
    assert "incompatible" in r.text and "moving closer to the market" in r.text
    with engine.connect() as conn:
        stored = conn.execute(select(Adjustment).where(Adjustment.id == aid)).one()
        category = conn.execute(select(Project.category).where(Project.id == pid)).scalar_one()
    assert stored.state == "drafted" and stored.draft["new_support_modes"] == ["equity_investment"]
    assert category == "supported"


def test_cli_request_with_form_errors_says_which_field(engine: Engine, people: People, now: datetime):
    pid = executing_project(engine, people, now)
    out = runner.invoke(
        cli,
        ["adjustments", "request", str(pid), "--kind", "budget", "--as", "pi@jinghua.example.com", "--submit"],
    )
    assert out.exit_code == 2
    assert "reason" in out.output and "budget_changes" in out.output and "草稿" in out.output
    out = runner.invoke(
        cli,
        [
            "adjustments",
            "request",
            str(pid),
            "--kind",
            "budget",
            "--as",
            "pi@jinghua.example.com",
            "--reason",
            "设备涨价",
            "--data",
            '{"budget_changes": [{"source": "own_funds", "head": "equipment", "change": "20000"}]}',
            "--submit",
        ],
    )
    assert out.exit_code == 0, out.output
    assert "drafted → submitted" in out.output
    aid = re.search(r"adjustment (\d+):", out.output).group(1)  # type: ignore[union-attr]
    shown = runner.invoke(cli, ["adjustments", "show", aid, "--as", "organiser@jxw.example.cn", "--lang", "en"])
    assert shown.exit_code == 0 and "review_adjustment" in shown.output and "✓" in shown.output


def test_every_adjustment_page_string_has_an_english_translation():
    used: set[str] = set()
    for path in [*(TEMPLATES / "adjustments").glob("*.html"), *(TEMPLATES / "programmes").glob("*.html")]:
        used |= set(re.findall(r'_\("([^"]+)"\)', path.read_text(encoding="utf-8")))
    known: set[str] = set()
    for po in CATALOGUE.glob("*.po"):
        known |= set(re.findall(r'^msgid "(.+)"$', po.read_text(encoding="utf-8"), re.M))
    assert used and used <= known, sorted(used - known)
