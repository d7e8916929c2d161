"""评估结果: the outcomes of mid-term and acceptance reviews decided in the period.

Read today from the decisions recorded by the engine and the expert reviews of the stage
(mean score); third-party evaluation records can feed the same lines later.
"""

from __future__ import annotations

from sqlalchemy import Connection

from grantflow.services.disclosures.common import Disclosure, events_in, mean_scores, programme_header, project_lines
from grantflow.states.deadlines import stage_label
from grantflow.states.disclosure import EVALUATION_TRIGGERS, EVALUATIONS, Period
from grantflow.states.text import Text
from grantflow.states.workflow import trigger_label


def assemble(conn: Connection, *, programme_id: int, period: Period, tz: str) -> Disclosure:
    start, end = period.start(tz), period.end(tz)
    events = events_in(conn, programme_id, EVALUATION_TRIGGERS, start, end)
    ids = [e.subject_id for e in events]
    base = project_lines(conn, ids, at=end, with_results=True)
    scores = {stage: mean_scores(conn, ids, stage) for stage in set(EVALUATION_TRIGGERS.values())}
    lines = []
    for e in events:
        proto = base.get(e.subject_id)
        if proto is None:
            continue
        stage = EVALUATION_TRIGGERS[e.action]
        line = type(proto)(**{**proto.__dict__})
        line.event = Text(
            f"{stage_label(stage).zh}：{trigger_label(e.action).zh}",
            f"{stage_label(stage).en}: {trigger_label(e.action).en}",
        )
        line.event_at = e.created_at
        score = scores[stage].get(e.subject_id)
        reason = str((e.payload or {}).get("reason") or "")
        line.note = "；".join(x for x in (f"专家平均分 {score}" if score is not None else "", reason) if x)
        lines.append(line)
    code, name, organiser, publisher = programme_header(conn, programme_id)
    return Disclosure(
        kind=EVALUATIONS,
        programme_id=programme_id,
        programme_code=code,
        programme=name,
        organiser=organiser,
        publisher=publisher,
        period=period,
        lines=lines,
        columns={"event": Text("评估结论", "Outcome"), "note": Text("评分与意见", "Score and remarks")},
        intro=Text(
            "本期完成中期评估和验收评审的项目及其结论如下。",
            "Projects whose mid-term or acceptance review concluded in this period, with the outcome.",
        ),
    )
