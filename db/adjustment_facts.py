"""What the adjustment rules read about a request and its project (``states.adjustments.AdjustmentFacts``).

Read in the caller's transaction, only when a guard asks (``DbFacts.adjustment``).
"""

from __future__ import annotations

from decimal import Decimal
from typing import Any

from sqlalchemy import Connection, select

from grantflow.config import get_settings
from grantflow.db.models import Adjustment, Organisation, User, table
from grantflow.db.project_documents import budget_lines, project_row, support_modes, task_agreement, total_budget
from grantflow.db.workflows import get_registry
from grantflow.states.adjustments import AdjustmentFacts
from grantflow.states.errors import NotFound
from grantflow.states.text import Text

_a = table(Adjustment)
_o = table(Organisation)
_u = table(User)

NO_TASK_AGREEMENT = Text(
    "项目尚无已提交的任务书，不能调整其预算或考核指标",
    "the project has no submitted task agreement: its budget or targets cannot be adjusted",
)


def major_budget_share() -> Decimal:
    return Decimal(str(get_settings().adjustment_major_budget_share))


def person_by_email(conn: Connection, email: Any) -> tuple[int, int | None] | None:
    if not email or not str(email).strip():
        return None
    row = conn.execute(
        select(_u.c.id, _u.c.organisation_id).where(_u.c.email == str(email).strip().lower(), _u.c.active.is_(True))
    ).one_or_none()
    return None if row is None else (row.id, row.organisation_id)


def _unit_kind(conn: Connection, org_id: Any) -> str | None:
    if org_id in (None, ""):
        return None
    try:
        oid = int(org_id)
    except (TypeError, ValueError):
        return None
    return conn.execute(select(_o.c.kind).where(_o.c.id == oid)).scalar_one_or_none()


def load_adjustment_facts(conn: Connection, adjustment_id: int) -> AdjustmentFacts:
    row = conn.execute(
        select(_a.c.project_id, _a.c.kind, _a.c.initiator, _a.c.request, _a.c.draft, _a.c.major).where(
            _a.c.id == adjustment_id
        )
    ).one_or_none()
    if row is None:
        raise NotFound(Text(f"调整申请 {adjustment_id} 不存在", f"adjustment request {adjustment_id} does not exist"))
    request = dict(row.request or {})
    project = project_row(conn, row.project_id)
    registry = get_registry()
    if project.workflow in registry:
        wf = registry.get(project.workflow)
        triggers = frozenset(wf.triggers_from(project.state))
        state_label = wf.state_label(project.state)
    else:  # a stranded project allows nothing; the engine names the missing migration
        triggers, state_label = frozenset(), Text(project.state, project.state)
    ta = task_agreement(conn, row.project_id)
    data = dict(ta.data or {}) if ta is not None else None
    notes = []
    if ta is None and row.kind in ("budget", "targets"):
        notes.append(NO_TASK_AGREEMENT)
    end = project.end_date.date() if project.end_date is not None else None
    return AdjustmentFacts(
        kind=row.kind,
        initiator=row.initiator,
        request=request,
        major=bool(row.major),
        project_state=project.state,
        project_state_label=state_label,
        project_triggers=triggers,
        category=project.category,
        support_modes=tuple(support_modes(project)),
        end_date=end,
        undertaking_unit_id=project.undertaking_unit_id,
        principal_investigator_id=project.principal_investigator_id,
        budget_lines=tuple(budget_lines(data)),
        total_budget=total_budget(data, project.budget_yuan),
        new_unit_kind=_unit_kind(conn, request.get("new_unit")),
        new_pi=person_by_email(conn, request.get("new_pi_email")),
        major_budget_share=major_budget_share(),
        notes=tuple(notes),
    )
