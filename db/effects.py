"""Database-side effects of a transition, run by the engine inside its transaction.

``states.effects.RECORDED_EFFECTS`` names them (so tables can say which row has which);
this module says how each is written. A handler writes rows, never a subject's state.
"""

from __future__ import annotations

from datetime import datetime
from typing import TYPE_CHECKING, Protocol

from sqlalchemy import Connection, select

from grantflow.db.due import schedule_post_evaluation, schedule_stage_reports
from grantflow.db.models import Project
from grantflow.db.settings import get_settings

if TYPE_CHECKING:
    from grantflow.db.facts import DbFacts
    from grantflow.states.workflow import TransitionDef


class EffectHandler(Protocol):
    def __call__(self, conn: Connection, *, facts: DbFacts, rule: TransitionDef, now: datetime) -> None: ...


def _schedule_post_evaluation(conn: Connection, *, facts: DbFacts, rule: TransitionDef, now: datetime) -> None:
    # the acceptance is being recorded in this same transaction (``record_acceptance`` sets
    # accepted_at = now), so ``now`` is the acceptance date
    schedule_post_evaluation(conn, project_id=facts.subject_id, accepted_at=now, tz=get_settings().timezone, now=now)


def _schedule_stage_reports(conn: Connection, *, facts: DbFacts, rule: TransitionDef, now: datetime) -> None:
    # without an execution period there is nothing to derive; the office sets a schedule by hand
    p = Project.__table__
    row = conn.execute(select(p.c.start_date, p.c.end_date).where(p.c.id == facts.subject_id)).one()
    if row.start_date is not None and row.end_date is not None and row.end_date > row.start_date:
        schedule_stage_reports(conn, project_id=facts.subject_id, start=row.start_date, end=row.end_date, now=now)


RECORDED_EFFECT_HANDLERS: dict[str, EffectHandler] = {
    "schedule_post_evaluation": _schedule_post_evaluation,
    "schedule_stage_reports": _schedule_stage_reports,
}
