"""What eligibility rules read about an applicant: loaded in the engine's transaction for the
``eligible`` guard (the rules themselves are in ``grantflow.states.eligibility``)."""

from __future__ import annotations

from datetime import datetime
from typing import Any

from sqlalchemy import ColumnElement, Connection, and_, false, func, or_, select

from grantflow.db.models import Call, Organisation, OrganisationQualification, Project, Submission, table
from grantflow.db.workflows import get_registry
from grantflow.states.eligibility import (
    ApplicantFacts,
    EligibilityRules,
    parse_rules,
    post_evaluation_report_due,
)
from grantflow.states.enums import SelectionMode, SubmissionStatus
from grantflow.states.errors import NotFound
from grantflow.states.guards import post_evaluation_years
from grantflow.states.text import Text

_p = table(Project)
_c = table(Call)
_o = table(Organisation)
_s = table(Submission)
_q = table(OrganisationQualification)


def active_clause() -> ColumnElement[bool]:
    """Projects under way: in a state its workflow marks ``active`` (counted by the eligibility limits)."""
    registry = get_registry()
    clauses = []
    for name in registry.names("project"):
        active = registry.get(name).states_where(lambda s: s.active)
        if active:
            clauses.append(and_(_p.c.workflow == name, _p.c.state.in_(active)))
    return or_(*clauses) if clauses else false()


def _active_count(conn: Connection, column: Any, value: int, exclude: int) -> int:
    stmt = select(func.count()).where(column == value, active_clause(), _p.c.id != exclude)
    return int(conn.execute(stmt).scalar_one())


def _reports_due(conn: Connection, unit_id: int, exclude: int) -> tuple[tuple[Text, datetime], ...]:
    """Annual post-evaluation reports of the unit's earlier projects not yet submitted.

    They are the reports the lifecycle itself schedules (docs/lifecycle.md); other report kinds
    join here when they get due dates of their own.
    """
    accepted = conn.execute(
        select(_p.c.id, _p.c.code, _p.c.accepted_at).where(
            _p.c.undertaking_unit_id == unit_id, _p.c.accepted_at.is_not(None), _p.c.id != exclude
        )
    ).all()
    due: list[tuple[Text, datetime]] = []
    for row in accepted:
        have = set(
            conn.execute(
                select(_s.c.period).where(
                    and_(
                        _s.c.project_id == row.id,
                        _s.c.form_key == "post_evaluation_report",
                        _s.c.status == SubmissionStatus.SUBMITTED,
                    )
                )
            ).scalars()
        )
        for year in post_evaluation_years(row.accepted_at):
            if year not in have:
                due.append(
                    (
                        Text(f"{row.code} {year}年度后评估报告", f"{row.code} post-evaluation report {year}"),
                        post_evaluation_report_due(year),
                    )
                )
    return tuple(due)


def load_for_project(conn: Connection, project_id: int) -> tuple[EligibilityRules, ApplicantFacts] | None:
    """The call's rules and the applicant's facts; None when the project's call sets none."""
    row = conn.execute(
        select(
            _p.c.undertaking_unit_id,
            _p.c.principal_investigator_id,
            _c.c.eligibility,
            _c.c.selection_mode,
            _c.c.designated_unit_id,
        )
        .select_from(_p.outerjoin(_c, _p.c.call_id == _c.c.id))
        .where(_p.c.id == project_id)
    ).one_or_none()
    if row is None:
        raise NotFound(Text(f"项目 {project_id} 不存在", f"project {project_id} does not exist"))
    return _load(conn, row, unit_id=row.undertaking_unit_id, pi=row.principal_investigator_id, exclude=project_id)


def load_for_applicant(
    conn: Connection, *, call_id: int, unit_id: int, pi: int | None
) -> tuple[EligibilityRules, ApplicantFacts] | None:
    """The same as ``load_for_project`` for an application not yet started: the unit and the
    person who would lead it, in a call (before a draft exists, nothing is excluded)."""
    row = conn.execute(
        select(_c.c.eligibility, _c.c.selection_mode, _c.c.designated_unit_id).where(_c.c.id == call_id)
    ).one_or_none()
    if row is None:
        raise NotFound(Text(f"申报指南 {call_id} 不存在", f"call {call_id} does not exist"))
    return _load(conn, row, unit_id=unit_id, pi=pi, exclude=0)  # ids start at 1: 0 excludes nothing


def _load(
    conn: Connection, row: Any, *, unit_id: int, pi: int | None, exclude: int
) -> tuple[EligibilityRules, ApplicantFacts] | None:
    rules = parse_rules(row.eligibility) if row.eligibility else EligibilityRules()
    directed = row.selection_mode == SelectionMode.DIRECTED
    if rules.empty and not directed:
        return None
    unit = conn.execute(
        select(_o.c.id, _o.c.name, _o.c.kind, _o.c.unit_type, _o.c.region).where(_o.c.id == unit_id)
    ).one()
    designated_name = ""
    if row.designated_unit_id is not None:
        designated_name = conn.execute(select(_o.c.name).where(_o.c.id == row.designated_unit_id)).scalar_one()
    held = conn.execute(
        select(_q.c.code, _q.c.valid_from, _q.c.valid_until).where(
            _q.c.organisation_id == unit.id, _q.c.revoked_at.is_(None)
        )
    ).all()
    applicant = ApplicantFacts(
        unit_id=unit.id,
        unit_name=unit.name,
        unit_kind=unit.kind,
        unit_type=unit.unit_type,
        region=unit.region,
        qualifications={q.code: q.valid_until for q in held},
        qualifications_from={q.code: q.valid_from for q in held},
        active_projects_of_unit=_active_count(conn, _p.c.undertaking_unit_id, unit.id, exclude),
        active_projects_of_pi=_active_count(conn, _p.c.principal_investigator_id, pi, exclude) if pi else 0,
        has_pi=pi is not None,
        reports_due=_reports_due(conn, unit.id, exclude) if rules.no_overdue_reports else (),
        selection_mode=row.selection_mode,
        designated_unit_id=row.designated_unit_id,
        designated_unit_name=designated_name,
    )
    return rules, applicant
