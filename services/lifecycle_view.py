"""What a project's page shows of where it stands: its lifecycle drawn from the workflow table
with the path so far, and the timeline of its due items.

The drawing is Graphviz's (``states.diagram.render``, as ``grantflow diagram`` makes it) and is
cached per workflow, path and language: many projects share a path, and ``dot`` costs tens of
milliseconds. Where ``dot`` is not installed the page lists the states instead.
"""

from __future__ import annotations

import shutil
from collections.abc import Sequence
from dataclasses import dataclass
from datetime import datetime
from functools import lru_cache
from typing import Any

from sqlalchemy import Connection, select

from grantflow.db.models import DueItem, table
from grantflow.db.workflows import get_registry
from grantflow.notifications.context import item_label
from grantflow.states.deadlines import DueStatus
from grantflow.states.diagram import render
from grantflow.states.text import Text

_due = table(DueItem)


def state_path(events: Sequence[Any], *, current: str) -> list[str]:
    """The states a subject went through, oldest first, read from its history's state changes;
    ends with the state it is in now."""
    path: list[str] = []
    for e in events:
        if e.to_state and e.to_state != e.from_state and (not path or path[-1] != e.to_state):
            if not path and e.from_state:
                path.append(e.from_state)
            path.append(e.to_state)
    if not path or path[-1] != current:
        path.append(current)
    return path


def graphviz_available() -> bool:
    return shutil.which("dot") is not None


@lru_cache(maxsize=512)
def lifecycle_svg(workflow: str, path: tuple[str, ...], lang: str) -> bytes | None:
    """The workflow's diagram with ``path`` highlighted, as SVG; None without Graphviz."""
    if not graphviz_available():
        return None
    data = render(get_registry().get(workflow), fmt="svg", lang=lang, path=path, names=False)
    # labels come from the table (a configured variant too): dot escapes text, and a drawing
    # with active content is never served, whatever produced it
    lowered = data.lower()
    if b"<script" in lowered or b"javascript:" in lowered or b"onload=" in lowered:
        return None
    return data


DUE_STATUS_LABELS: dict[str, Text] = {
    DueStatus.OPEN: Text("待办", "to do"),
    DueStatus.OVERDUE: Text("已逾期", "overdue"),
    DueStatus.DONE: Text("已完成", "done"),
    DueStatus.CANCELLED: Text("已取消", "no longer due"),
}


@dataclass(frozen=True)
class TimelineEntry:
    label: Text
    due_at: datetime
    status: str
    past: bool

    @property
    def status_label(self) -> Text:
        return DUE_STATUS_LABELS.get(self.status, Text(self.status, self.status))


def due_item_label(row: Any) -> Text:
    """A due item named as its reminders name it ('2027 年度后评估报告', 'expert review (proposal)')."""
    return item_label(
        {"item_kind": row.kind, "label": row.label, "form_key": row.form_key, "stage": row.stage, "period": row.period}
    )


def timeline(conn: Connection, *, project_id: int, now: datetime) -> list[TimelineEntry]:
    """The project's due items in date order (cancelled ones left out), each marked past or not."""
    rows = conn.execute(
        select(_due.c.kind, _due.c.label, _due.c.form_key, _due.c.stage, _due.c.period, _due.c.due_at, _due.c.status)
        .where(_due.c.subject == "project", _due.c.subject_id == project_id, _due.c.status != DueStatus.CANCELLED)
        .order_by(_due.c.due_at, _due.c.id)
    ).all()
    return [TimelineEntry(due_item_label(r), r.due_at, r.status, r.due_at < now) for r in rows]
