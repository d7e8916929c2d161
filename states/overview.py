"""The office overview, pure: who may see it, when a project counts as started on time, and
which recorded events count as adjustments when no adjustment records exist.

The page, its exports and the ``grantflow export`` command all ask ``may_view_overview``; the
figures themselves are read by ``services.overview`` (docs/targets-and-funding.md, "Overview").
"""

from __future__ import annotations

from datetime import UTC, datetime, time, timedelta
from zoneinfo import ZoneInfo

from grantflow.states.enums import Role
from grantflow.states.permissions import Actor
from grantflow.states.text import Text

OVERVIEW_FORBIDDEN = Text(
    "只有领导小组办公室和领导小组可以查看统计总览及其导出",
    "only the office and the leadership group may see the overview and its exports",
)


def may_view_overview(actor: Actor) -> bool:
    """Programme-wide figures (every unit's money, every complaint) are for those who run the programmes."""
    return actor.has(Role.OFFICE) or actor.has(Role.LEADERSHIP_GROUP)


START_TRIGGER = "sign_agreement"
"""A project starts when its task agreement is signed: the transition that begins execution."""

LIVE_DUE_STATUSES = ("open", "overdue")
"""Due items still owed; one of them past its date is overdue, whether or not a sweep marked it yet."""


def start_deadline(planned_start: datetime, zone: str) -> datetime:
    """The last moment a project planned to start at ``planned_start`` still starts on time: the end
    of the calendar quarter (in the office's time zone) in which it was planned to start."""
    tz = ZoneInfo(zone)
    local = planned_start.astimezone(tz)
    first_month_next = ((local.month - 1) // 3 + 1) * 3 + 1
    year = local.year + (1 if first_month_next > 12 else 0)
    month = first_month_next - 12 if first_month_next > 12 else first_month_next
    next_quarter = datetime.combine(datetime(year, month, 1).date(), time(0), tzinfo=tz)
    return (next_quarter - timedelta(microseconds=1)).astimezone(UTC)


def quarter_starts(first: datetime, last: datetime, zone: str) -> list[datetime]:
    """The moments (UTC) quarters begin in ``zone``, from the one after ``first``'s quarter began up to
    the first one after ``last``: a planned start ``p`` is on time until the first of these after ``p``
    (``start_deadline`` is that moment less a microsecond), which lets a database count starts in bulk."""
    out: list[datetime] = []
    moment = start_deadline(first, zone)
    while True:
        boundary = moment + timedelta(microseconds=1)
        out.append(boundary)
        if boundary > last:
            return out
        moment = start_deadline(boundary, zone)


def started_on_time(planned_start: datetime, started_at: datetime | None, zone: str) -> bool:
    return started_at is not None and started_at <= start_deadline(planned_start, zone)


def due_to_start(planned_start: datetime | None, started_at: datetime | None, now: datetime, zone: str) -> bool:
    """Counted in the on-time share: started already, or its quarter to start in is over."""
    if planned_start is None:
        return False
    return started_at is not None or now > start_deadline(planned_start, zone)
