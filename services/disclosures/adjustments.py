"""动态调整: the dynamic adjustments applied to a programme's projects in the period, one line
each, from the adjustment records (kind, decision, reason, what changed)."""

from __future__ import annotations

from sqlalchemy import Connection

from grantflow.services.adjustments import applied_adjustments
from grantflow.services.disclosures.common import Disclosure, programme_header, project_lines
from grantflow.states.disclosure import ADJUSTMENTS, Period
from grantflow.states.text import Text


def assemble(conn: Connection, *, programme_id: int, period: Period, tz: str) -> Disclosure:
    start, end = period.start(tz), period.end(tz)
    applied = applied_adjustments(conn, programme_id=programme_id, start=start, end=end)
    base = project_lines(conn, [a.project_id for a in applied], at=end)
    lines = []
    for a in applied:
        proto = base.get(a.project_id)
        if proto is None:
            continue
        line = type(proto)(**{**proto.__dict__})  # one line per adjustment, sharing the project's columns
        line.event = Text(f"{a.kind_label.zh}（{a.decision.zh}）", f"{a.kind_label.en} ({a.decision.en})")
        line.event_at = a.applied_at
        line.note = a.reason or ""
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
