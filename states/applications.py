"""Starting an application in a call, pure: whether the call takes one now, and how many per unit.

An application (a draft project) may be started only while its call is in a state the call's
table marks ``accepting`` and before the call's deadline, and each undertaking unit may have at
most the call's ``max_applications_per_unit`` applications in it. An application that has
ended (a state the table marks terminal: withdrawn, rejected…) no longer counts, so a unit
that withdrew a draft may start again while the call is open. See docs/review-and-eligibility.md.
"""

from __future__ import annotations

from collections.abc import Sequence
from dataclasses import dataclass
from datetime import datetime
from zoneinfo import ZoneInfo

from grantflow.states.errors import GrantflowError, GuardFailed
from grantflow.states.text import Text, join

DEFAULT_MAX_APPLICATIONS_PER_UNIT = 1


class ApplicationRefused(GuardFailed):
    """A new application refused, with every reason, in both languages."""

    code = "application_refused"

    def __init__(self, reasons: list[Text]) -> None:
        body = join(reasons)
        GrantflowError.__init__(
            self,
            Text("不能申报：" + body.zh, "Cannot apply: " + body.en),
            details={"reasons": [r.as_dict() for r in reasons]},
        )
        self.reasons = reasons


@dataclass(frozen=True)
class CallStanding:
    """What the rules read about a call: its title, where its table puts it, its deadline and limit."""

    title: Text
    state_label: Text
    accepting: bool
    accepting_labels: tuple[Text, ...]  # the states in which the call would accept applications
    closes_at: datetime | None
    max_applications_per_unit: int = DEFAULT_MAX_APPLICATIONS_PER_UNIT


@dataclass(frozen=True)
class ExistingApplication:
    code: str
    ended: bool  # its state is terminal in its workflow table


def _local(moment: datetime, tz: str) -> str:
    return moment.astimezone(ZoneInfo(tz)).strftime("%Y-%m-%d %H:%M %Z")


def call_refusals(call: CallStanding, *, now: datetime, tz: str) -> list[Text]:
    """Why no application may be started in this call now; empty when one may."""
    if not call.accepting:
        when_zh = "、".join(t.zh for t in call.accepting_labels) or "无"
        when_en = ", ".join(t.en for t in call.accepting_labels) or "never"
        return [
            Text(
                f"申报指南“{call.title.zh}”当前状态为“{call.state_label.zh}”，不接受申报（接受申报的状态：{when_zh}）",
                f"the call '{call.title.en}' is {call.state_label.en} and does not accept applications"
                f" (it accepts them while: {when_en})",
            )
        ]
    if call.closes_at is not None and now > call.closes_at:
        closes = _local(call.closes_at, tz)
        return [
            Text(
                f"申报指南“{call.title.zh}”已于 {closes} 截止",
                f"the call '{call.title.en}' closed at {closes}",
            )
        ]
    return []


def limit_refusals(call: CallStanding, existing: Sequence[ExistingApplication]) -> list[Text]:
    """Why the unit may not start another application in this call; empty when it may."""
    live = [a.code for a in existing if not a.ended]
    limit = call.max_applications_per_unit
    if len(live) < limit:
        return []
    listed = "、".join(live)
    return [
        Text(
            f"本单位在申报指南“{call.title.zh}”下已有 {len(live)} 项申报（{listed}），每个单位最多 {limit} 项",
            f"your unit already has {len(live)} application(s) in the call '{call.title.en}' ({', '.join(live)});"
            f" the call allows {limit} per unit",
        )
    ]


def max_applications_problems(value: object) -> list[Text]:
    """A call's per-unit limit must be a whole number of at least 1."""
    if isinstance(value, bool) or not isinstance(value, int) or value < 1:
        return [
            Text(
                "每个单位的申报数上限应为不小于 1 的整数",
                "the number of applications allowed per unit must be a whole number, at least 1",
            )
        ]
    return []
