"""The one catalogue of message kinds: each kind has one meaning, a label and a template per language.

Transition messages are named ``<subject>.<trigger>`` (written by ``db.apply`` in the engine's
transaction) and share one template; deadline messages are written by the flows.
"""

from __future__ import annotations

from dataclasses import dataclass

from grantflow.states.text import Text


@dataclass(frozen=True)
class Kind:
    name: str
    label: Text
    template: str


TRANSITION_TEMPLATE = "transition"

KINDS: dict[str, Kind] = {
    k.name: k
    for k in (
        Kind("reminder.due_soon", Text("截止日期提醒", "deadline reminder"), "reminder"),
        Kind("reminder.overdue", Text("逾期通知", "overdue notice"), "overdue"),
        Kind(
            "escalation.organiser", Text("逾期督办（组织单位）", "overdue escalation (organising unit)"), "escalation"
        ),
        Kind("escalation.office", Text("逾期督办（办公室）", "overdue escalation (office)"), "escalation"),
        Kind("reminder.call_closing", Text("申报截止提醒", "call closing reminder"), "call_closing"),
        Kind("st_report.returned", Text("科技报告退回修改", "S&T report returned for revision"), "st_report_returned"),
    )
}

SUBJECT_TRANSITIONS = Kind("transition", Text("流程状态变更", "workflow changes"), TRANSITION_TEMPLATE)

DIGEST_TEMPLATE = "digest"

MODES: dict[str, Text] = {
    "immediate": Text("立即发送邮件", "e-mail immediately"),
    "digest": Text("每日汇总邮件", "daily digest e-mail"),
    "in_app": Text("仅站内消息", "in-app only"),
}
DEFAULT_MODE = "immediate"


def kind_for(name: str) -> Kind:
    """The catalogue entry for a stored kind; transition kinds (``project.approve``) share one."""
    if name in KINDS:
        return KINDS[name]
    subject, _, trigger = name.partition(".")
    if subject in ("project", "call", "programme", "adjustment") and trigger:
        return Kind(name, SUBJECT_TRANSITIONS.label, TRANSITION_TEMPLATE)
    raise KeyError(f"message kind {name!r} is not in the catalogue")


def preference_kinds() -> list[Kind]:
    """What a user can choose a mode for: the deadline kinds and workflow changes as a whole."""
    return [*KINDS.values(), SUBJECT_TRANSITIONS]


def preference_key(kind: str) -> str:
    """Preferences for workflow changes are stored once under ``transition``, not per trigger."""
    return kind if kind in KINDS else SUBJECT_TRANSITIONS.name
