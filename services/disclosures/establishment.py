"""立项结果: the projects a programme established in the period (the gate decision after expert review)."""

from __future__ import annotations

from sqlalchemy import Connection

from grantflow.services.disclosures.common import Disclosure, events_in, programme_header, project_lines
from grantflow.states.disclosure import ESTABLISHMENT, ESTABLISHMENT_TRIGGERS, Period
from grantflow.states.text import Text
from grantflow.states.workflow import trigger_label


def assemble(conn: Connection, *, programme_id: int, period: Period, tz: str) -> Disclosure:
    start, end = period.start(tz), period.end(tz)
    events = events_in(conn, programme_id, ESTABLISHMENT_TRIGGERS, start, end)
    lines = project_lines(conn, [e.subject_id for e in events], at=end)
    ordered = []
    for e in events:
        line = lines.get(e.subject_id)
        if line is not None and line not in ordered:
            line.event, line.event_at = trigger_label(e.action), e.created_at
            ordered.append(line)
    code, name, organiser, publisher = programme_header(conn, programme_id)
    return Disclosure(
        kind=ESTABLISHMENT,
        programme_id=programme_id,
        programme_code=code,
        programme=name,
        organiser=organiser,
        publisher=publisher,
        period=period,
        lines=ordered,
        columns={"event_at": Text("立项日期", "Established on")},
        intro=Text(
            "下列项目经形式审查、专家评审和决策程序，于本期批准立项。",
            "The projects below passed the formal check, expert review and the gate decision in this period.",
        ),
    )
