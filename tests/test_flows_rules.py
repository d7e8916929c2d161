"""The deadline rules in ``states.deadlines`` as tables, and the flows' CLI run by hand."""

from __future__ import annotations

import json
from datetime import UTC, datetime, timedelta

import pytest
from typer.testing import CliRunner

from grantflow.cli.main import app
from grantflow.clock import SimulatedClock
from grantflow.flows.deployments import schedule_for
from grantflow.states.deadlines import (
    add_months,
    escalation_step_due,
    expand_schedule,
    post_evaluation_due_dates,
    reminder_offset_due,
)

# the flows' CLI (the last test) reads and writes the configured database: SQLite and PostgreSQL
pytestmark = pytest.mark.both_databases

DUE = datetime(2026, 6, 30, 9, 0, tzinfo=UTC)
OFFSETS = [14, 7, 3, 1]


@pytest.mark.parametrize(
    ("before", "expected"),
    [
        (timedelta(days=20), None),  # too early
        (timedelta(days=14), 14),  # exactly at the threshold
        (timedelta(days=10), 14),
        (timedelta(days=7), 7),
        (timedelta(days=2), 3),  # created late: only the latest threshold, not 14 and 7 at once
        (timedelta(hours=1), 1),
        (timedelta(0), None),  # at the date: no "before" reminder
        (-timedelta(days=1), None),
    ],
)
def test_reminder_offset(before: timedelta, expected: int | None) -> None:
    assert reminder_offset_due(DUE, DUE - before, OFFSETS) == expected


@pytest.mark.parametrize(
    ("after", "expected"),
    [
        (-timedelta(minutes=1), None),
        (timedelta(0), "overdue"),
        (timedelta(hours=23), "overdue"),
        (timedelta(days=1), "organiser"),
        (timedelta(days=6), "organiser"),
        (timedelta(days=7), "office"),
        (timedelta(days=70), "office"),
    ],
)
def test_escalation_step(after: timedelta, expected: str | None) -> None:
    assert escalation_step_due(DUE, DUE + after, [1, 7]) == expected


def test_post_evaluation_covers_the_acceptance_year_and_three_more() -> None:
    dates = post_evaluation_due_dates(datetime(2027, 5, 10, 2, 0, tzinfo=UTC), "Asia/Shanghai")
    assert [(d.period, d.due_at) for d in dates] == [
        (y, datetime(y + 1, 3, 31, 9, 0, tzinfo=UTC)) for y in (2027, 2028, 2029, 2030)
    ]


def test_schedules_periodic_one_off_milestones() -> None:
    first = datetime(2026, 1, 31, 9, 0, tzinfo=UTC)  # 17:00 in Beijing
    monthly = expand_schedule(kind="periodic", first_due=first, every="month", count=3, tz="Asia/Shanghai")
    assert [d.due_at.date().isoformat() for d in monthly] == ["2026-01-31", "2026-02-28", "2026-03-31"]
    assert [d.period for d in monthly] == [1, 2, 3]
    yearly = expand_schedule(kind="periodic", first_due=first, every="year", count=2)
    assert yearly[1].due_at == datetime(2027, 1, 31, 9, 0, tzinfo=UTC)
    assert [d.due_at for d in expand_schedule(kind="one_off", first_due=first)] == [first]
    stones = expand_schedule(kind="milestones", milestones=[("样机", "prototype", first), ("中试", "pilot", DUE)])
    assert [(d.label.en if d.label else None, d.period) for d in stones] == [("prototype", 1), ("pilot", 2)]
    with pytest.raises(ValueError, match="periodic"):
        expand_schedule(kind="periodic", first_due=first, every="fortnight", count=2)
    assert add_months(datetime(2024, 1, 31, tzinfo=UTC), 1).day == 29


def test_schedule_expressions() -> None:
    assert schedule_for("every 30 seconds", "Asia/Shanghai").interval == timedelta(seconds=30)  # type: ignore[attr-defined]
    assert schedule_for("every 5 min", "UTC").interval == timedelta(minutes=5)  # type: ignore[attr-defined]
    cron = schedule_for("0 8 * * *", "Asia/Shanghai")
    assert (cron.cron, cron.timezone) == ("0 8 * * *", "Asia/Shanghai")  # type: ignore[attr-defined]


def test_flows_run_by_hand_acts_now_and_simulates_other_moments_only_on_a_copy(
    engine: object, clock: SimulatedClock, database: str
) -> None:
    runner = CliRunner()
    first = runner.invoke(app, ["flows", "run", "deadlines", "--direct"])
    assert first.exit_code == 0, first.output
    report = json.loads(first.output)
    assert report["at"] == clock.now().isoformat()  # the clock's moment, nothing the caller typed
    assert set(report["steps"]) == {"deadlines", "fan-out", "send-emails"}
    refused = runner.invoke(app, ["flows", "run", "deadlines", "--at", "2026-03-02T09:00", "--direct", "--lang", "en"])
    assert refused.exit_code == 2 and "--dry-run" in refused.output
    dry = runner.invoke(app, ["flows", "run", "deadlines", "--at", "2026-03-02T09:00", "--dry-run", "--lang", "en"])
    if database == "postgresql":
        # a live server's database cannot be copied from inside (CREATE DATABASE ... TEMPLATE needs it idle):
        # refused, saying what to do instead
        assert dry.exit_code == 2 and "restore a backup" in dry.output, dry.output
    else:
        assert dry.exit_code == 0, dry.output
        assert json.loads(dry.output)["at"] == "2026-03-02T01:00:00+00:00"  # read in Asia/Shanghai
    unknown = runner.invoke(app, ["flows", "run", "nonsense", "--direct"])
    assert unknown.exit_code != 0
