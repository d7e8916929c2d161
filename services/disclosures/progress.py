"""进展成效: every project the programme has established, as it stood at the end of the period,
with the key results from its most recent stage report."""

from __future__ import annotations

from sqlalchemy import Connection, select

from grantflow.db.models import AuditEvent, Project, table
from grantflow.services.disclosures.common import Disclosure, programme_header, project_lines
from grantflow.states.disclosure import ESTABLISHMENT_TRIGGERS, PROGRESS, PROGRESS_REPORT_FORMS, Period
from grantflow.states.text import Text

_e = table(AuditEvent)
_p = table(Project)


def assemble(conn: Connection, *, programme_id: int, period: Period, tz: str) -> Disclosure:
    end = period.end(tz)
    established = conn.execute(
        select(_e.c.subject_id, _e.c.created_at)
        .join(_p, _p.c.id == _e.c.subject_id)
        .where(
            _e.c.subject == "project",
            _e.c.action.in_(ESTABLISHMENT_TRIGGERS),
            _e.c.created_at < end,
            _p.c.programme_id == programme_id,
        )
        .order_by(_p.c.code)
    ).all()
    lines = project_lines(
        conn, [r.subject_id for r in established], at=end, with_results=True, result_forms=PROGRESS_REPORT_FORMS
    )
    ordered = []
    for r in established:
        line = lines.get(r.subject_id)
        if line is not None and line not in ordered:
            line.event_at = r.created_at
            ordered.append(line)
    code, name, organiser, publisher = programme_header(conn, programme_id)
    return Disclosure(
        kind=PROGRESS,
        programme_id=programme_id,
        programme_code=code,
        programme=name,
        organiser=organiser,
        publisher=publisher,
        period=period,
        lines=ordered,
        columns={"event_at": Text("立项日期", "Established on")},
        intro=Text(
            "截至本期末，本专项已立项项目的执行状态及最近一次报告所载主要成果如下。",
            "Every project established under the programme, its state at the end of the period and the key "
            "results of its most recent report.",
        ),
    )
