"""Deadlines as rules, purely: when a reminder is due, when to escalate, when reports fall due.

The database keeps due items (one row per thing someone must deliver by a date); the
scheduled flows poll them. What those flows decide — which reminder offset has come, which
escalation step is reached, which dates a report schedule produces — is computed here from
the item, ``now`` and the configuration, with no I/O, so it can be tested as a table.
"""

from __future__ import annotations

import calendar
from collections.abc import Iterable, Sequence
from dataclasses import dataclass
from datetime import UTC, datetime, time, timedelta
from enum import StrEnum
from zoneinfo import ZoneInfo

from grantflow.states.guards import post_evaluation_years
from grantflow.states.text import Text

# --- what can fall due -------------------------------------------------------------------------


class DueStatus(StrEnum):
    """A due item's life: open until its date, then overdue; done when the work is in, cancelled
    when the project ends or the date leaves its schedule."""

    OPEN = "open"
    OVERDUE = "overdue"
    DONE = "done"
    CANCELLED = "cancelled"


DUE_KIND_LABELS: dict[str, Text] = {
    "report": Text("报告", "report"),
    "review": Text("专家评审", "expert review"),
    "evaluation": Text("第三方评估", "third-party evaluation"),
}

FORM_LABELS: dict[str, Text] = {
    "proposal": Text("申报书", "proposal"),
    "concept_note": Text("项目概要", "concept note"),
    "task_agreement": Text("任务书", "task agreement"),
    "adjustment_request": Text("动态调整申请", "dynamic-adjustment request"),
    "midterm_report": Text("中期报告", "mid-term report"),
    "acceptance_report": Text("验收报告", "acceptance report"),
    "post_evaluation_report": Text("后评估报告", "post-evaluation report"),
    "progress_report": Text("进展报告", "progress report"),
    "annual_report": Text("年度报告", "annual report"),
    "financial_report": Text("经费使用报告", "financial report"),
    "st_report": Text("科技报告", "S&T report"),
}

STAGE_LABELS: dict[str, Text] = {
    "proposal": Text("立项评审", "proposal review"),
    "midterm": Text("中期评估", "mid-term review"),
    "acceptance": Text("验收评审", "acceptance review"),
    "concept": Text("概要评审", "concept review"),
}


def form_label(form_key: str) -> Text:
    return FORM_LABELS.get(form_key, Text(form_key, form_key.replace("_", " ")))


def stage_label(stage: str) -> Text:
    return STAGE_LABELS.get(stage, Text(stage, stage))


# --- reminders before the date ----------------------------------------------------------------


def reminder_offset_due(due_at: datetime, now: datetime, offsets_days: Iterable[int]) -> int | None:
    """The reminder offset (in days) whose moment has most recently come, or None.

    Only the latest threshold counts: an item created three days before its date gets the
    3-day reminder, not the 14- and 7-day ones at once. After the date, no "before" reminder.
    """
    if now >= due_at:
        return None
    passed = [d for d in offsets_days if due_at - timedelta(days=d) <= now]
    return min(passed) if passed else None


def reminder_horizon(offsets_days: Iterable[int]) -> timedelta:
    """How far ahead the reminder sweep must look: the largest offset."""
    return timedelta(days=max(offsets_days, default=0))


# --- escalation after the date ----------------------------------------------------------------

OVERDUE_STEPS: tuple[str, ...] = ("overdue", "organiser", "office")
"""After the date: tell the people who must act, then the organising unit, then the office."""

STEP_AUDIENCES: dict[str, tuple[str, ...]] = {
    "organiser": ("organiser",),
    "office": ("office",),
}


def escalation_step_due(due_at: datetime, now: datetime, escalation_days: Sequence[int]) -> str | None:
    """The escalation step reached at ``now`` for an item still open after ``due_at``.

    ``escalation_days`` holds the days after the date at which the organising unit and then
    the office are told (e.g. [1, 7]); the step at the date itself tells those who must act.
    As with reminders, only the most recent step is returned.
    """
    if now < due_at:
        return None
    step = "overdue"
    for name, days in zip(OVERDUE_STEPS[1:], escalation_days, strict=False):
        if now >= due_at + timedelta(days=days):
            step = name
    return step


def escalation_window(escalation_days: Sequence[int]) -> timedelta:
    """How long after its date an item can still reach a new escalation step (plus a day's slack)."""
    return timedelta(days=max(escalation_days, default=0) + 1)


# --- dates that reports fall due -----------------------------------------------------------------

POST_EVALUATION_DUE_MONTH_DAY = (3, 31)
"""The post-evaluation report on year Y is due on 31 March of Y+1: the year must be over to report on it."""

DUE_TIME = time(17, 0)
"""Dates given as days fall due at the end of the office's working day, local time."""


def local_due(day_year: int, month: int, day: int, tz: str) -> datetime:
    return datetime.combine(datetime(day_year, month, day).date(), DUE_TIME, ZoneInfo(tz)).astimezone(UTC)


@dataclass(frozen=True)
class DueDate:
    """One date a schedule produces: ``seq`` identifies it across reschedules."""

    seq: int
    due_at: datetime
    period: int | None = None
    label: Text | None = None


def post_evaluation_due_dates(accepted_at: datetime, tz: str) -> list[DueDate]:
    """The acceptance year and the three after it, each with its own date (docs/lifecycle.md)."""
    # the same years the ``post_evaluation_complete`` guard checks, so the tasks and the guard agree
    month, day = POST_EVALUATION_DUE_MONTH_DAY
    return [
        DueDate(seq=i, due_at=local_due(year + 1, month, day, tz), period=year)
        for i, year in enumerate(post_evaluation_years(accepted_at))
    ]


STEP_MONTHS = {"month": 1, "quarter": 3, "year": 12}
SCHEDULE_KINDS = ("periodic", "one_off", "milestones")


def add_months(moment: datetime, months: int) -> datetime:
    """Same day and time ``months`` later, clipped to the month's last day (31 Jan + 1 → 28/29 Feb)."""
    index = moment.month - 1 + months
    year, month = moment.year + index // 12, index % 12 + 1
    day = min(moment.day, calendar.monthrange(year, month)[1])
    return moment.replace(year=year, month=month, day=day)


def expand_schedule(
    *,
    kind: str,
    first_due: datetime | None = None,
    every: str | None = None,
    count: int | None = None,
    milestones: Sequence[tuple[str, str, datetime]] = (),
    tz: str = "Asia/Shanghai",
) -> list[DueDate]:
    """The due dates of a report schedule.

    periodic: ``count`` dates from ``first_due``, one ``every`` month, quarter or year apart
    (stepped in local time, so a monthly report stays on the same local day and hour);
    one_off: ``first_due`` only; milestones: one date per (zh, en, due) milestone.
    """
    if kind == "one_off":
        if first_due is None:
            raise ValueError("a one-off schedule needs its date")
        return [DueDate(seq=0, due_at=first_due)]
    if kind == "periodic":
        if first_due is None or every not in STEP_MONTHS or not count or count < 1:
            raise ValueError("a periodic schedule needs a first date, a step (month, quarter, year) and a count")
        local = first_due.astimezone(ZoneInfo(tz))
        return [
            DueDate(seq=i, due_at=add_months(local, i * STEP_MONTHS[every]).astimezone(UTC), period=i + 1)
            for i in range(count)
        ]
    if kind == "milestones":
        if not milestones:
            raise ValueError("a milestone schedule needs at least one milestone")
        # each milestone's report is told apart by its number (the submission's period)
        return [
            DueDate(seq=i, due_at=due, period=i + 1, label=Text(zh, en)) for i, (zh, en, due) in enumerate(milestones)
        ]
    raise ValueError(f"unknown schedule kind {kind!r}; expected one of {', '.join(SCHEDULE_KINDS)}")


def stage_report_dates(start: datetime, end: datetime) -> dict[str, datetime]:
    """Mid-term report at the middle of the execution period, acceptance report at its end."""
    return {"midterm_report": start + (end - start) / 2, "acceptance_report": end}
