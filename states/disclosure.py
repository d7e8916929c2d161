"""Public disclosure rules, purely: what is published, for which period, and who may publish it.

The S&T reporting system publishes, on time, four kinds of disclosure for every programme
(establishment results, progress, dynamic adjustments, evaluation results), and every funded
project files S&T reports. This module holds the vocabulary and the rules the publication
code asks: which lifecycle triggers feed which disclosure, how a period is named and which
dates it covers, when a period is due, and who may publish or override the content guard.
No database, no I/O (see ``docs/publication.md``).
"""

from __future__ import annotations

import re
from dataclasses import dataclass
from datetime import UTC, date, datetime, time, timedelta
from typing import Literal
from zoneinfo import ZoneInfo

from grantflow.states.enums import Role
from grantflow.states.permissions import Actor
from grantflow.states.text import Text

# --- the kinds of publication -----------------------------------------------------------------

ESTABLISHMENT = "establishment"
PROGRESS = "progress"
ADJUSTMENTS = "adjustments"
EVALUATIONS = "evaluations"
DISCLOSURE_KINDS: tuple[str, ...] = (ESTABLISHMENT, PROGRESS, ADJUSTMENTS, EVALUATIONS)
"""The four programme disclosures, published per programme and period."""

ST_SHEET = "st_sheet"
ST_FULL = "st_full"
REPORT_KINDS: tuple[str, ...] = (ST_SHEET, ST_FULL)
"""A project's S&T report: its basic-information sheet, and its full text (public now or on its release date)."""

KIND_LABELS: dict[str, Text] = {
    ESTABLISHMENT: Text("立项结果", "establishment results"),
    PROGRESS: Text("进展成效", "progress and results"),
    ADJUSTMENTS: Text("动态调整", "dynamic adjustments"),
    EVALUATIONS: Text("评估结果", "evaluation results"),
    ST_SHEET: Text("科技报告基本信息", "S&T report: basic information"),
    ST_FULL: Text("科技报告全文", "S&T report: full text"),
}

Granularity = Literal["month", "quarter", "year"]
DEFAULT_GRANULARITY: dict[str, Granularity] = {
    ESTABLISHMENT: "month",
    ADJUSTMENTS: "month",
    PROGRESS: "quarter",
    EVALUATIONS: "quarter",
}
"""How often each disclosure is due by default (the schedule setting may say otherwise)."""

# --- which recorded events feed which disclosure ----------------------------------------------
# Trigger names of the project lifecycle (``states.lifecycle``); a test checks each exists there.

LAUNCH_TRIGGER = "launch"
"""A programme owes disclosures from its launch (programme lifecycle)."""

ESTABLISHMENT_TRIGGERS: tuple[str, ...] = ("approve",)
"""A project is established (立项) by the gate decision after expert review."""

EVALUATION_TRIGGERS: dict[str, str] = {
    "pass_midterm": "midterm",
    "return_midterm": "midterm",
    "pass_acceptance": "acceptance",
    "require_rectification": "acceptance",
}
"""Decisions after a mid-term review or an acceptance review, with the review stage they conclude."""

PROGRESS_REPORT_FORMS: tuple[str, ...] = ("post_evaluation_report", "acceptance_report", "midterm_report")
"""The stage reports a progress disclosure reads, most recent stage first."""

# --- periods ----------------------------------------------------------------------------------

_MONTH = re.compile(r"^(\d{4})-(0[1-9]|1[0-2])$")
_QUARTER = re.compile(r"^(\d{4})-Q([1-4])$", re.IGNORECASE)
_YEAR = re.compile(r"^(\d{4})$")


class BadPeriod(ValueError):
    def __init__(self, value: str) -> None:
        super().__init__(f"not a period: {value!r}")
        self.text = Text(
            f"期间“{value}”无法识别：应为 2026-03（月）、2026-Q1（季度）或 2026（年）",
            f"period '{value}' is not understood: use 2026-03 (month), 2026-Q1 (quarter) or 2026 (year)",
        )


@dataclass(frozen=True)
class Period:
    """A calendar month, quarter or year in the office's time zone; ``key`` is how it is stored."""

    key: str
    granularity: Granularity
    first_day: date
    next_first_day: date  # exclusive end

    @classmethod
    def parse(cls, value: str) -> Period:
        text = value.strip()
        if m := _MONTH.match(text):
            y, mo = int(m.group(1)), int(m.group(2))
            return cls(f"{y}-{mo:02d}", "month", date(y, mo, 1), _add_months(date(y, mo, 1), 1))
        if m := _QUARTER.match(text):
            y, q = int(m.group(1)), int(m.group(2))
            first = date(y, 3 * q - 2, 1)
            return cls(f"{y}-Q{q}", "quarter", first, _add_months(first, 3))
        if m := _YEAR.match(text):
            y = int(m.group(1))
            return cls(f"{y}", "year", date(y, 1, 1), date(y + 1, 1, 1))
        raise BadPeriod(value)

    @classmethod
    def containing(cls, day: date, granularity: Granularity) -> Period:
        if granularity == "month":
            return cls.parse(f"{day.year}-{day.month:02d}")
        if granularity == "quarter":
            return cls.parse(f"{day.year}-Q{(day.month - 1) // 3 + 1}")
        return cls.parse(f"{day.year}")

    def start(self, tz: str) -> datetime:
        """The first moment of the period, in UTC."""
        return datetime.combine(self.first_day, time(0), ZoneInfo(tz)).astimezone(UTC)

    def end(self, tz: str) -> datetime:
        """The first moment after the period, in UTC (exclusive)."""
        return datetime.combine(self.next_first_day, time(0), ZoneInfo(tz)).astimezone(UTC)

    def previous(self) -> Period:
        return Period.containing(self.first_day - timedelta(days=1), self.granularity)

    def label(self) -> Text:
        y = self.first_day.year
        if self.granularity == "month":
            m = self.first_day.month
            return Text(f"{y}年{m}月", f"{self.first_day.strftime('%B')} {y}")
        if self.granularity == "quarter":
            q = (self.first_day.month - 1) // 3 + 1
            return Text(f"{y}年第{'一二三四'[q - 1]}季度", f"Q{q} {y}")
        return Text(f"{y}年度", f"{y}")


def _add_months(day: date, months: int) -> date:
    index = day.year * 12 + day.month - 1 + months
    return date(index // 12, index % 12 + 1, 1)


def last_completed(now: datetime, granularity: Granularity, tz: str) -> Period:
    """The most recent period that has ended at ``now`` (what a scheduled run publishes)."""
    today = now.astimezone(ZoneInfo(tz)).date()
    return Period.containing(today, granularity).previous()


def not_ended(period: Period, now: datetime, tz: str) -> Text | None:
    """Why ``period`` cannot be published yet, if it has not ended at ``now``. A disclosure covers
    its whole period and is published once: one still running (or still to come) would stay
    incomplete for good, and the scheduled run would find it already published."""
    if now < period.end(tz):
        return Text(
            f"期间 {period.key} 尚未结束，{period.next_first_day.isoformat()} 起方可发布",
            f"period {period.key} has not ended yet: it can be published from {period.next_first_day.isoformat()}",
        )
    return None


def due_periods(now: datetime, granularity: Granularity, tz: str, *, since: datetime, limit: int = 12) -> list[Period]:
    """Completed periods from the one containing ``since`` up to the last completed, newest first."""
    start_day = since.astimezone(ZoneInfo(tz)).date()
    out: list[Period] = []
    p = last_completed(now, granularity, tz)
    while p.next_first_day > start_day and len(out) < limit:
        out.append(p)
        p = p.previous()
    return out


# --- who may publish --------------------------------------------------------------------------

PUBLISH_FORBIDDEN = Text("只有领导小组办公室可以发布公开信息", "only the office may publish disclosures")
OVERRIDE_NEEDS_REASON = Text("放行被拦截的内容须说明理由", "releasing blocked content needs a reason")


def may_publish(actor: Actor) -> bool:
    """Publishing (and releasing what the content guard blocked) is the office's decision."""
    return actor.has(Role.OFFICE) or actor.has("system")


def may_override_guard(actor: Actor) -> bool:
    """Only a person of the office, never the scheduler, may release what the guard blocked."""
    return actor.has(Role.OFFICE) and actor.user_id is not None
