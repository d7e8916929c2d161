"""Qualifications a unit holds, pure: when one counts, and what a grant must say.

The office records a qualification from its certificate: a code from ``QUALIFICATIONS``, the
first and last day it is valid (either may be open), and a note. Days are read in the
programme's time zone: a qualification counts from the start of its first day to the end of
its last. A revoked qualification never counts, whatever its days. The eligibility rule
``qualifications`` asks ``holds`` on the day a proposal is submitted. See
docs/review-and-eligibility.md.
"""

from __future__ import annotations

from dataclasses import dataclass
from datetime import UTC, date, datetime, time, timedelta
from enum import StrEnum
from zoneinfo import ZoneInfo

from grantflow.states.eligibility import QUALIFICATIONS
from grantflow.states.text import Text

NOTE_MAX = 500


class Standing(StrEnum):
    VALID = "valid"
    NOT_YET = "not_yet"
    EXPIRED = "expired"
    REVOKED = "revoked"


STANDING_LABELS: dict[Standing, Text] = {
    Standing.VALID: Text("有效", "valid"),
    Standing.NOT_YET: Text("尚未生效", "not yet valid"),
    Standing.EXPIRED: Text("已过期", "expired"),
    Standing.REVOKED: Text("已撤销", "revoked"),
}


def qualification_label(code: str) -> Text:
    return QUALIFICATIONS.get(code, Text(code, code))


def first_moment(day: date, tz: str) -> datetime:
    """The start of ``day`` in the time zone, as UTC."""
    return datetime.combine(day, time.min, ZoneInfo(tz)).astimezone(UTC)


def last_moment(day: date, tz: str) -> datetime:
    """The last microsecond of ``day`` in the time zone, as UTC."""
    return first_moment(day + timedelta(days=1), tz) - timedelta(microseconds=1)


def local_day(moment: datetime, tz: str) -> date:
    return moment.astimezone(ZoneInfo(tz)).date()


def standing(*, valid_from: datetime | None, valid_until: datetime | None, revoked: bool, now: datetime) -> Standing:
    if revoked:
        return Standing.REVOKED
    if valid_from is not None and now < valid_from:
        return Standing.NOT_YET
    if valid_until is not None and now > valid_until:
        return Standing.EXPIRED
    return Standing.VALID


def holds(*, valid_from: datetime | None, valid_until: datetime | None, revoked: bool, now: datetime) -> bool:
    """Whether the qualification counts at ``now``."""
    return standing(valid_from=valid_from, valid_until=valid_until, revoked=revoked, now=now) is Standing.VALID


@dataclass(frozen=True)
class Grant:
    """A grant as typed: the code, its first and last valid day, a note."""

    code: str
    valid_from: date | None = None
    valid_until: date | None = None
    note: str = ""


def grant_problems(grant: Grant, *, today: date) -> list[Text]:
    """Every reason the grant cannot be recorded; empty when it can."""
    out: list[Text] = []
    if grant.code not in QUALIFICATIONS:
        known_zh = "、".join(f"{k}（{v.zh}）" for k, v in QUALIFICATIONS.items())
        known_en = ", ".join(f"{k} ({v.en})" for k, v in QUALIFICATIONS.items())
        out.append(
            Text(
                f"未知的资质代码“{grant.code}”；可用的资质：{known_zh}",
                f"unknown qualification code '{grant.code}'; known qualifications: {known_en}",
            )
        )
    if grant.valid_from and grant.valid_until and grant.valid_until < grant.valid_from:
        out.append(
            Text(
                f"有效期截止日 {grant.valid_until} 早于起始日 {grant.valid_from}",
                f"the last valid day {grant.valid_until} is before the first {grant.valid_from}",
            )
        )
    if grant.valid_until and grant.valid_until < today:
        out.append(
            Text(
                f"有效期截止日 {grant.valid_until} 已过（今天是 {today}），无需登记",
                f"the last valid day {grant.valid_until} has passed (today is {today}): nothing to record",
            )
        )
    if len(grant.note) > NOTE_MAX:
        out.append(Text(f"备注不能超过 {NOTE_MAX} 字", f"the note must be at most {NOTE_MAX} characters"))
    return out
