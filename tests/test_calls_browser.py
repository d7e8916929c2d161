"""Applying in a real browser: from the public list of calls to the new draft's proposal form, and
the project page's lifecycle drawing loaded under the page's content-security policy."""

from __future__ import annotations

import re
from datetime import UTC, datetime

import pytest
from playwright.sync_api import Page, expect
from sqlalchemy import Engine

from tests.browser_support import CHROMIUM
from tests.conftest import People
from tests.test_browser import base_url, browser, context, page, playwright, sign_in
from tests.test_review_helpers import call

pytestmark = [
    pytest.mark.slow,
    pytest.mark.skipif(not CHROMIUM.exists(), reason=f"{CHROMIUM} is absent (scripts/system-deps.sh installs it)"),
]
__all__ = ["base_url", "browser", "context", "page", "playwright"]  # fixtures shared with test_browser


def test_applicant_finds_a_call_applies_and_sees_the_lifecycle(
    page: Page, base_url: str, engine: Engine, people: People
) -> None:
    now = datetime.now(UTC)  # the live server acts at the real time
    call(engine, people, now)
    problems: list[str] = []
    page.on("console", lambda m: problems.append(m.text) if m.type == "error" else None)

    # signed out: the list and the call's terms, and a sign-in link instead of the button
    page.goto(base_url + "/calls")
    expect(page.locator("h1")).to_have_text("正在受理的申报指南")
    page.get_by_role("link", name="测试指南").click()
    expect(page.locator("#apply")).to_contain_text("登录后申报")
    page.get_by_role("link", name="登录后申报").click()
    sign_in(page, "pi@jinghua.example.com")

    # back on the call's page, signed in: type a title and apply
    expect(page).to_have_url(re.compile(r"/calls/\d+$"))
    page.locator("input[name=title]").fill("精密减速器研发")
    page.get_by_role("button", name="申报").click()
    expect(page).to_have_url(re.compile(r"/projects/\d+/forms/proposal$"))
    pid = int(re.search(r"/projects/(\d+)/", page.url).group(1))  # type: ignore[union-attr]

    # a second application of the same unit is refused, the reason shown, the title kept
    page.goto(page.url.split("/projects/")[0] + "/calls")
    page.get_by_role("link", name="测试指南").click()
    page.locator("input[name=title]").fill("第二次")
    page.get_by_role("button", name="申报").click()
    expect(page.get_by_role("alert")).to_contain_text("每个单位最多 1 项")
    expect(page.locator("input[name=title]")).to_have_value("第二次")

    # the project page: its lifecycle drawn (an image that loads under the policy) and the path
    page.goto(f"{base_url}/projects/{pid}")
    image = page.locator("img.diagram")
    expect(image).to_be_visible()
    assert page.evaluate("() => document.querySelector('img.diagram').naturalWidth") > 0
    expect(page.locator("ol.path li.current")).to_have_text("申报书填写中")
    assert not [p for p in problems if "Content Security Policy" in p], problems
