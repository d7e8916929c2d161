"""The web page in a real browser: Playwright drives the system Chromium against the real app.

Each test starts ``create_app()`` under uvicorn on a free port against its own database and
uses the page as a person would: typing, clicking, reading what the page says back.
"""

from __future__ import annotations

import re
from collections.abc import Iterator
from datetime import UTC, datetime
from pathlib import Path

import pytest
from playwright.sync_api import Browser, BrowserContext, Page, Playwright, expect, sync_playwright
from sqlalchemy import Engine, select

from grantflow.db.apply import fire
from grantflow.db.models import Organisation
from grantflow.services.seed import DEMO_PASSWORD
from tests.browser_support import CHROMIUM, CHROMIUM_ARGS, live_server
from tests.conftest import People
from tests.factories import make_project, state_of

pytestmark = [
    pytest.mark.slow,
    pytest.mark.skipif(not CHROMIUM.exists(), reason=f"{CHROMIUM} is absent (scripts/system-deps.sh installs it)"),
]

CJK = re.compile(r"[\u3400-\u9fff\u3000-\u303f\uff00-\uffef]")


@pytest.fixture(scope="module")
def playwright() -> Iterator[Playwright]:
    with sync_playwright() as p:
        yield p


@pytest.fixture(scope="module")
def browser(playwright: Playwright) -> Iterator[Browser]:
    # never Playwright's own download: that does not work on this network
    b = playwright.chromium.launch(executable_path=str(CHROMIUM), args=CHROMIUM_ARGS)
    yield b
    b.close()


@pytest.fixture
def base_url(engine: Engine) -> Iterator[str]:
    with live_server() as url:
        yield url


@pytest.fixture
def context(browser: Browser) -> Iterator[BrowserContext]:
    # a browser in China: the page answers in Chinese until someone chooses otherwise
    ctx = browser.new_context(locale="zh-CN", viewport={"width": 1200, "height": 900})
    ctx.set_default_timeout(10_000)
    yield ctx
    ctx.close()


@pytest.fixture
def page(context: BrowserContext) -> Page:
    return context.new_page()


def sign_in(page: Page, email: str, password: str = DEMO_PASSWORD) -> None:
    page.locator("input[name=email]").fill(email)
    page.locator("input[name=password]").fill(password)
    page.locator("form.card button[type=submit]").click()


def test_applicant_fills_the_proposal_in_chinese_and_submits_the_project(
    page: Page, base_url: str, engine: Engine, people: People, tmp_path: Path
) -> None:
    pid = make_project(engine, people, datetime.now(UTC), title="工业机器人精密减速器研发")
    with engine.connect() as conn:
        partner = conn.execute(
            select(Organisation.name).where(Organisation.id == people["applicant2"].organisation_id)
        ).scalar_one()

    # signing in: a wrong password first; the message is Chinese and the e-mail stays typed
    page.goto(base_url + "/")
    expect(page).to_have_url(re.compile(r"/login"))
    expect(page.locator("h1")).to_have_text("登录")
    sign_in(page, "pi@jinghua.example.com", "wrong-password")
    expect(page.get_by_role("alert")).to_have_text("邮箱或密码不正确")
    expect(page.locator("input[name=email]")).to_have_value("pi@jinghua.example.com")
    page.locator("input[name=password]").fill(DEMO_PASSWORD)
    page.locator("form.card button[type=submit]").click()

    # the project list, then the draft project: it cannot be submitted before the proposal is
    # the home page: what needs me now, then my projects
    expect(page.locator("h1")).to_have_text("待我办理")
    expect(page.locator("#projects h2")).to_have_text("我的项目")
    page.get_by_role("link", name="工业机器人精密减速器研发").click()
    expect(page).to_have_url(f"{base_url}/projects/{pid}")
    expect(page.locator(".state")).to_have_text("申报书填写中")
    submit_project = page.get_by_role("button", name="提交申报")
    expect(submit_project).to_be_disabled()
    expect(page.locator("form.action.blocked .reasons")).to_contain_text("尚未提交申报书")

    page.get_by_role("link", name="项目表单").click()
    page.get_by_role("link", name="项目申报书").click()
    expect(page.locator("h1")).to_have_text("项目申报书")

    # the proposal, with a money amount in tenths of a fen and the principal investigator left out
    typed_text = {
        "#in-project_title": "工业机器人精密减速器研发",
        "#in-principal_investigator": "",
        "#in-start_date": "2026-07-01",
        "#in-end_date": "2028-06-30",
        "#in-summary": "研制高精度 RV 减速器。\n第二行。",
        "#in-objectives": "精度达到 1 弧分。",
        "#in-approach": "齿形修形与装配工艺。",
        "#in-expected_results": "企业标准 2 项，发明专利 5 项。",
        "#in-partners-0-organisation": partner,  # typed by its registered name
        "#in-partners-0-contribution": "检测",
        "#in-team-0-name": "周工",
        "#in-team-0-title": "高工",
        "#in-team-0-role": "负责人",
        "#in-team-0-months": "24",
        "#in-total_budget": "12.345",
        "#in-requested_funding": "1000000",
        "#in-budget-0-amount": "1000000",
        "#in-budget-1-amount": "2,000,000.00",
        "#in-budget-1-note": "自筹",
    }
    chosen = {
        "#in-category": "supported",
        "#in-support_mode": "competitive",
        "#in-budget-0-source": "municipal_budget",
        "#in-budget-0-head": "equipment",
        "#in-budget-1-source": "own_funds",
        "#in-budget-1-head": "materials",
    }
    # the partner field suggests registered units as one types (from the search, into its datalist)
    page.locator("#in-partners-0-organisation").press_sequentially(partner[:2])
    expect(page.locator(f'#org-names option[value="{partner}"]')).to_have_count(1)
    for selector, value in typed_text.items():
        page.locator(selector).fill(value)
    for selector, value in chosen.items():
        page.locator(selector).select_option(value)
    page.get_by_label("机器人与自动化").check()
    page.get_by_label("数字化制造").check()
    page.get_by_role("button", name="提交", exact=True).click()

    # refused: every error beside its own field, in Chinese, and nothing typed is lost
    expect(page.locator("p.error[role=status]")).to_contain_text("未能提交")
    summary = page.locator(".form-error-summary li a")
    expect(summary.first).to_be_visible()
    expect(page.locator("#f-total_budget .field-errors")).to_contain_text("金额最多精确到分")
    expect(page.locator("#f-principal_investigator .field-errors")).to_contain_text("必填")
    expect(page.locator("#in-total_budget")).to_have_attribute("aria-invalid", "true")
    for i in range(summary.count()):
        link = summary.nth(i)
        message = link.inner_text()
        assert CJK.search(message), f"error not in Chinese: {message!r}"
        target = link.get_attribute("href")
        assert target and target.startswith("#f-")
        expect(page.locator(f"{target} .field-errors").first).to_contain_text(message)
    for selector, value in typed_text.items():
        expect(page.locator(selector)).to_have_value(value)
    for selector, value in chosen.items():
        expect(page.locator(selector)).to_have_value(value)
    expect(page.get_by_label("机器人与自动化")).to_be_checked()
    expect(page.get_by_label("数字化制造")).to_be_checked()
    expect(page.get_by_label("能源")).not_to_be_checked()

    # corrected: accepted
    page.locator("#in-principal_investigator").fill("周工")
    page.locator("#in-total_budget").fill("3,000,000.00")
    page.get_by_role("button", name="提交", exact=True).click()
    expect(page).to_have_url(re.compile(r"saved=submitted"))
    expect(page.locator("p.notice[role=status]")).to_have_text("已提交。")
    expect(page.locator(".form-error-summary")).to_have_count(0)

    # back on the project page the button is open: the project goes to the formal check
    page.locator("p.meta a").first.click()
    expect(submit_project).to_be_enabled()
    submit_project.click()
    expect(page.locator(".state")).to_have_text("已提交，待形式审查")
    expect(page.get_by_role("alert")).to_have_count(0)
    assert state_of(engine, pid) == "submitted"

    shot = tmp_path / "project.png"
    page.screenshot(path=str(shot), full_page=True)
    assert shot.stat().st_size > 0


def test_english_clerk_sees_english_labels_and_an_english_refusal(
    page: Page, base_url: str, engine: Engine, people: People
) -> None:
    now = datetime.now(UTC)
    pid = make_project(engine, people, now, state="submitted", title="Precision reducer")

    # the sign-in page starts in Chinese (the browser says zh-CN); the clerk chooses English
    page.goto(f"{base_url}/projects/{pid}")
    expect(page.locator("h1")).to_have_text("登录")
    page.get_by_role("link", name="English").click()
    expect(page.locator("h1")).to_have_text("Sign in")
    expect(page.locator("html")).to_have_attribute("lang", "en")
    sign_in(page, "clerk@kw.example.cn")
    expect(page.get_by_role("link", name="Precision reducer")).to_be_visible()

    page.goto(f"{base_url}/projects/{pid}")
    expect(page.get_by_role("heading", name="Actions")).to_be_visible()
    expect(page.locator(".state")).to_have_text("submitted, awaiting formal check")
    expect(page.locator("p.meta")).to_contain_text("Current state")
    # only the applicant may withdraw: the clerk is not offered the button at all
    expect(page.locator("form.action", has=page.locator("input[value=withdraw]"))).to_have_count(0)
    labels = page.locator("header, h2, section.card button, thead").all_inner_texts()
    assert not [text for text in labels if CJK.search(text.replace("中文", ""))], labels

    # while the page is open the applicant withdraws; the clerk's click is refused, in English
    fire(engine, subject_id=pid, trigger="withdraw", actor=people["applicant"])
    with page.expect_response(f"{base_url}/projects/{pid}/fire") as answer:
        page.get_by_role("button", name="pass formal check").click()
    assert answer.value.status == 409
    alert = page.get_by_role("alert")
    expect(alert).to_contain_text("not possible")
    expect(alert).to_contain_text("withdrawn")
    assert not CJK.search(alert.inner_text()), alert.inner_text()
    expect(page.locator(".state")).to_have_text("withdrawn")
    assert state_of(engine, pid) == "withdrawn"


def test_a_demo_account_on_the_sign_in_page_fills_in_the_form(page: Page, base_url: str, engine: Engine) -> None:
    page.goto(f"{base_url}/login")
    page.locator("button[data-demo-email='pi@cies.example.cn']").click()
    expect(page.locator("input[name=email]")).to_have_value("pi@cies.example.cn")
    expect(page.locator("input[name=password]")).to_have_value(DEMO_PASSWORD)
    page.locator("form.card button[type=submit]").click()
    expect(page.locator("h1")).to_have_text("待我办理")
    expect(page.locator("header nav.main a[href='/inbox']")).to_be_visible()
