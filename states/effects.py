"""What a transition writes besides the state: named in the table, computed here, purely.

Each effect maps the source state of the fired row and ``now`` to column values of the
subject's own row; the engine writes them in the same versioned update as the state.
"""

from __future__ import annotations

from collections.abc import Callable, Iterable
from datetime import datetime
from typing import Any

ColumnEffect = Callable[[str, datetime], dict[str, Any]]

EFFECTS: dict[str, ColumnEffect] = {
    # dynamic adjustment remembers where a project was suspended, so `resume` returns it there
    "remember_source": lambda source, now: {"suspended_from": source},
    "forget_source": lambda source, now: {"suspended_from": None},
    # the acceptance date starts the post-evaluation years (docs/domain.md, rule 7)
    "record_acceptance": lambda source, now: {"accepted_at": now},
    # an adjustment request remembers when it was applied (the disclosure lists by this date)
    "record_application": lambda source, now: {"applied_at": now},
}


def column_changes(effects: Iterable[str], *, source: str, now: datetime) -> dict[str, Any]:
    changes: dict[str, Any] = {}
    for name in effects:
        if name in EFFECTS:
            changes.update(EFFECTS[name](source, now))
    return changes


# Effects the database layer carries out inside the engine's transaction (they write rows
# other than the subject's own, e.g. report tasks). Named here so tables can be validated;
# implemented in ``db.effects``.
RECORDED_EFFECTS: dict[str, str] = {
    # deadlines become due-item rows that the scheduled flows poll
    "schedule_post_evaluation": "create the post-evaluation report tasks: acceptance year and the three after",
    "schedule_stage_reports": "create the mid-term and acceptance report tasks from the execution period",
    # dynamic adjustment (states.adjustments)
    "assess_adjustment": "record whether a submitted adjustment request is major (needs the leadership group)",
    "apply_adjustment": "change the project as the approved request says, keeping the before and after documents",
    "close_due_items": "close the project's open due items: nothing more falls due, no reminder is sent",
    # a programme's launch or adjustment carries its implementation plan
    "record_implementation_plan": "store the implementation plan the decision carries on the programme",
}


def known_effect(name: str) -> bool:
    return name in EFFECTS or name in RECORDED_EFFECTS
