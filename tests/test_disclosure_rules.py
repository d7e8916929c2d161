"""The pure disclosure rules: periods, the triggers each disclosure reads, who may publish."""

from __future__ import annotations

from datetime import UTC, date, datetime
from zoneinfo import ZoneInfo

import pytest

from grantflow.db.workflows import get_registry
from grantflow.states.disclosure import (
    ESTABLISHMENT_TRIGGERS,
    EVALUATION_TRIGGERS,
    LAUNCH_TRIGGER,
    BadPeriod,
    Period,
    due_periods,
    last_completed,
    may_override_guard,
    may_publish,
)
from grantflow.states.lifecycle import PROGRAMME_WORKFLOW, PROJECT_TRANSITIONS
from grantflow.states.permissions import SYSTEM, Actor
from grantflow.states.st_report import add_years, keywords, report_number


def test_the_triggers_disclosures_read_exist_in_the_project_lifecycle() -> None:
    assert LAUNCH_TRIGGER in {row["trigger"] for row in PROGRAMME_WORKFLOW["transitions"]}
    triggers = {row["trigger"] for row in PROJECT_TRANSITIONS}
    assert set(ESTABLISHMENT_TRIGGERS) | set(EVALUATION_TRIGGERS) <= triggers
    for trigger, stage in EVALUATION_TRIGGERS.items():
        sources = {row["source"] for row in PROJECT_TRANSITIONS if row["trigger"] == trigger}
        standard = get_registry().get("standard")
        assert {standard.review_stage(s) for s in sources} == {stage}


@pytest.mark.parametrize(
    ("text", "first", "end", "label"),
    [
        ("2026-03", date(2026, 3, 1), date(2026, 4, 1), "2026年3月"),
        ("2026-12", date(2026, 12, 1), date(2027, 1, 1), "2026年12月"),
        ("2026-q4", date(2026, 10, 1), date(2027, 1, 1), "2026年第四季度"),
        ("2025", date(2025, 1, 1), date(2026, 1, 1), "2025年度"),
    ],
)
def test_periods(text: str, first: date, end: date, label: str) -> None:
    p = Period.parse(text)
    assert (p.first_day, p.next_first_day, p.label().zh) == (first, end, label)
    assert p.start("Asia/Shanghai") == datetime(first.year, first.month, first.day, tzinfo=ZoneInfo("Asia/Shanghai"))


def test_bad_periods_say_what_is_understood() -> None:
    for bad in ("2026-13", "2026-Q5", "March", "26-03"):
        with pytest.raises(BadPeriod) as err:
            Period.parse(bad)
        assert "2026-Q1" in err.value.text.en


def test_scheduled_runs_publish_the_last_completed_period_in_local_time() -> None:
    # 1 April 00:30 in Beijing is still 31 March in UTC: March is complete there
    moment = datetime(2026, 3, 31, 16, 30, tzinfo=UTC)
    assert last_completed(moment, "month", "Asia/Shanghai").key == "2026-03"
    assert last_completed(moment, "quarter", "Asia/Shanghai").key == "2026-Q1"
    assert last_completed(moment, "month", "UTC").key == "2026-02"
    due = due_periods(moment, "month", "Asia/Shanghai", since=datetime(2025, 12, 10, tzinfo=UTC))
    assert [p.key for p in due] == ["2026-03", "2026-02", "2026-01", "2025-12"]


def test_only_the_office_publishes_and_only_a_person_overrides() -> None:
    office = Actor(user_id=1, organisation_id=1, roles=frozenset({"office"}))
    applicant = Actor(user_id=2, organisation_id=2, roles=frozenset({"applicant"}))
    assert may_publish(office) and may_publish(SYSTEM) and not may_publish(applicant)
    assert may_override_guard(office) and not may_override_guard(SYSTEM) and not may_override_guard(applicant)


def test_report_numbers_and_keywords() -> None:
    assert report_number(org_code="91110108ma01abcd2x", project_code="ZX07-2026-00012", seq=3, scope="deferred") == (
        "91110108MA01ABCD2X-ZX07-2026-00012-03-YQ"
    )
    assert keywords("增材制造；激光, 装备、装备  标准") == ["增材制造", "激光", "装备", "标准"]
    assert add_years(date(2024, 2, 29), 5) == date(2029, 2, 28)
