"""The call desk in a real browser: an organising unit drafts a call, meets a refusal beside the
field with everything it typed still there, fixes it and publishes the call with its button."""

from __future__ import annotations

from datetime import timedelta
from zoneinfo import ZoneInfo

import pytest
from playwright.sync_api import Page, expect

from grantflow import clock
from grantflow.config import get_settings
from tests.browser_support import CHROMIUM
from tests.test_browser import base_url, browser, context, page, playwright, sign_in  # noqa: F401

pytestmark = [
    pytest.mark.slow,
    pytest.mark.skipif(not CHROMIUM.exists(), reason=f"{CHROMIUM} is absent (scripts/system-deps.sh installs it)"),
]


def test_an_organiser_drafts_and_publishes_a_call_in_the_browser(page: Page, base_url: str) -> None:  # noqa: F811
    zone = ZoneInfo(get_settings().timezone)
    start = (clock.now() + timedelta(days=2)).astimezone(zone)
    page.goto(f"{base_url}/login")
    sign_in(page, "organiser@jxw.example.cn")
    page.goto(f"{base_url}/office/calls/new")
    page.locator("select[name=programme_id]").select_option(index=1)
    page.locator("input[name=title]").fill("智能制造示范应用指南")
    page.locator("select[name=category]").select_option("organised")
    page.locator("select[name=selection_mode]").select_option("merit")
    page.locator("input[name=support_modes][value=competitive]").check()
    page.locator("input[name=opens_at]").fill(start.strftime("%Y-%m-%dT%H:%M"))
    page.locator("input[name=closes_at]").fill((start + timedelta(days=30)).strftime("%Y-%m-%dT%H:%M"))
    page.locator("form.form-page button[type=submit]").click()

    expect(page.locator("#err-selection_mode")).to_contain_text("只能采用")
    expect(page.locator("input[name=title]")).to_have_value("智能制造示范应用指南")
    expect(page.locator("input[name=support_modes][value=competitive]")).to_be_checked()
    expect(page.locator("input[name=opens_at]")).to_have_value(start.strftime("%Y-%m-%dT%H:%M"))

    page.locator("select[name=category]").select_option("supported")
    page.locator("form.form-page button[type=submit]").click()
    expect(page.locator("h1")).to_have_text("智能制造示范应用指南")
    expect(page.locator("p.meta .state")).to_have_text("编制中")
    page.get_by_role("button", name="发布").click()
    expect(page.locator("p.meta .state")).to_have_text("已发布，待开始")
    # opening waits for its time: the button is there, disabled, saying why; closing is not the organiser's
    expect(page.get_by_role("button", name="开始征集")).to_be_disabled()
    expect(page.get_by_role("button", name="截止征集")).to_have_count(0)
