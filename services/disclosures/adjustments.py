"""动态调整: the adjustments made to a programme's projects in the period.

Today the engine records suspension, resumption and termination (each an audit event with
its reason); richer adjustment records (category changes, budget changes) can feed the same
lines through ``assemble`` without changing the document.
"""

from __future__ import annotations

from sqlalchemy import Connection

from grantflow.services.disclosures.common import Disclosure, events_in, programme_header, project_lines
from grantflow.states.disclosure import ADJUSTMENT_TRIGGERS, ADJUSTMENTS, Period
from grantflow.states.text import Text
from grantflow.states.workflow import trigger_label


def assemble(conn: Connection, *, programme_id: int, period: Period, tz: str) -> Disclosure:
    start, end = period.start(tz), period.end(tz)
    events = events_in(conn, programme_id, ADJUSTMENT_TRIGGERS, start, end)
    base = project_lines(conn, [e.subject_id for e in events], at=end)
    lines = []
    for e in events:
        proto = base.get(e.subject_id)
        if proto is None:
            continue
        line = type(proto)(**{**proto.__dict__})  # one line per adjustment, sharing the project's columns
        line.event, line.event_at = trigger_label(e.action), e.created_at
        line.note = str((e.payload or {}).get("reason") or "")
        lines.append(line)
    code, name, organiser, publisher = programme_header(conn, programme_id)
    return Disclosure(
        kind=ADJUSTMENTS,
        programme_id=programme_id,
        programme_code=code,
        programme=name,
        organiser=organiser,
        publisher=publisher,
        period=period,
        lines=lines,
        columns={"event": Text("调整事项", "Adjustment"), "note": Text("调整理由", "Reason")},
        intro=Text(
            "根据项目执行情况和创新链发展变化，本期对下列项目作出动态调整。",
            "In this period the projects below were adjusted as their progress and the innovation chain changed.",
        ),
    )
