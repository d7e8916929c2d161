"""A programme's own lifecycle (成熟一个、启动一个): each of the twelve is launched on its own decision.

Reading order: states, transitions, then the readiness rule the ``programme_ready`` guard names.
``docs/programmes.md`` says the same in prose.

- ``planned``: proposed and being prepared (implementation plan, organising units, key tasks);
- ``launched``: the leadership group decided to launch it, because it is ready;
- ``active``: its organising unit has started implementation (calls, commissions);
- ``adjusted``: implementation continues under a plan the leadership group adjusted (each
  adjustment is a transition with its reason, so the history keeps every one);
- ``concluded``: its period is over and the leadership group closed it;
- ``stopped``: the leadership group stopped it before its end.

State names are stored: the names ``planned``, ``launched`` and ``stopped`` are those of the
first version of this table, so stored programmes need no mapping.
"""

from __future__ import annotations

from collections.abc import Mapping
from dataclasses import dataclass
from typing import Any

from grantflow.states.text import Text

Row = dict[str, Any]

_LEADERSHIP_NOTICE = ["organiser", "office"]

PROGRAMME_WORKFLOW: Row = {
    "name": "programme",
    "subject": "programme",
    "zh": "重大专项",
    "en": "major special programme",
    "initial": "planned",
    "states": [
        {"name": "planned", "zh": "已提出，筹备中", "en": "proposed, being prepared"},
        {"name": "launched", "zh": "已决定启动", "en": "launched"},
        {"name": "active", "zh": "实施中", "en": "being implemented"},
        {"name": "adjusted", "zh": "已调整，继续实施", "en": "adjusted, implementation continues"},
        {"name": "concluded", "zh": "已结束", "en": "concluded", "terminal": True},
        {"name": "stopped", "zh": "已停止", "en": "stopped", "terminal": True},
    ],
    "transitions": [
        {
            "trigger": "launch",
            "source": "planned",
            "dest": "launched",
            "who": ["leadership"],
            "guards": ["programme_ready"],
            "requires": ["implementation_plan"],
            "effects": ["record_implementation_plan"],
            "notify": _LEADERSHIP_NOTICE,
        },
        {
            "trigger": "start_implementation",
            "source": "launched",
            "dest": "active",
            "who": ["organiser", "office"],
            "notify": ["office", "leadership"],
        },
        {
            "trigger": "adjust",
            "source": ["launched", "active", "adjusted"],
            "dest": "adjusted",
            "who": ["leadership"],
            "requires": ["reason"],
            "effects": ["record_implementation_plan"],
            "notify": _LEADERSHIP_NOTICE,
        },
        {
            "trigger": "conclude",
            "source": ["active", "adjusted"],
            "dest": "concluded",
            "who": ["leadership"],
            "requires": ["reason"],
            "notify": _LEADERSHIP_NOTICE,
        },
        {
            "trigger": "stop",
            "source": ["planned", "launched", "active", "adjusted"],
            "dest": "stopped",
            "who": ["leadership"],
            "requires": ["reason"],
            "notify": _LEADERSHIP_NOTICE,
        },
    ],
}

PROGRAMME_TRIGGER_LABELS: dict[str, tuple[str, str]] = {
    "launch": ("启动专项", "launch"),
    "start_implementation": ("开始实施", "start implementation"),
    "adjust": ("调整专项", "adjust"),
    "conclude": ("结束专项", "conclude"),
    "stop": ("停止专项", "stop"),
}

# Events on a programme that change no state: the office maintaining its particulars.
NOTE_LABELS: dict[str, Text] = {
    "key_task_added": Text("增加重点任务", "key task added"),
    "target_added": Text("增加专项目标", "target added"),
    "organising_unit_added": Text("确定组织单位", "organising unit named"),
}

CLASS_LABELS: dict[int, Text] = {
    1: Text("第一类：可持续发展与民生改善", "class 1: sustainable development and people's livelihood"),
    2: Text("第二类：产业转型升级", "class 2: industrial upgrading"),
}


@dataclass(frozen=True)
class Readiness:
    """What a programme has in place before it may be launched (read by ``db.facts``)."""

    organising_unit: bool
    key_tasks: int
    targets: int


READY_PARTS: Mapping[str, Text] = {
    "organising_unit": Text("尚未确定牵头组织单位", "no lead organising unit has been assigned"),
    "key_tasks": Text("尚未确定重点任务", "no key task has been set"),
}


def readiness_problems(ready: Readiness | None) -> list[Text]:
    """Why a programme is not ready to launch (成熟一个、启动一个); empty when it is.

    The implementation plan itself comes with the launch decision (the ``implementation_plan``
    the row requires) and is stored on the programme by the ``record_implementation_plan`` effect.
    """
    if ready is None:
        return []
    out = []
    if not ready.organising_unit:
        out.append(READY_PARTS["organising_unit"])
    if ready.key_tasks < 1:
        out.append(READY_PARTS["key_tasks"])
    return out
