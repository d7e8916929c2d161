"""Loading the facts eligibility rules read, and the submission path that shows every reason.

The rules are in ``states.eligibility``. The ``eligible`` guard on the ``submit`` and
``resubmit`` rows stops any path from submitting an ineligible proposal, but a guard has one
reason; ``submit_checked`` runs the same rules first and refuses with all of them.
"""

from __future__ import annotations

from collections.abc import Mapping
from datetime import UTC, datetime
from typing import Any

from sqlalchemy import Connection, Engine, and_, func, select

from grantflow.db.apply import Transitioned, apply_trigger
from grantflow.db.models import Call, Organisation, Project, Submission
from grantflow.db.review_models import OrganisationQualification
from grantflow.states.eligibility import (
    ACTIVE_PROJECT_STATES,
    ApplicantFacts,
    EligibilityRules,
    parse_rules,
    post_evaluation_report_due,
)
from grantflow.states.eligibility import problems as rule_problems
from grantflow.states.enums import SelectionMode
from grantflow.states.errors import GuardFailed, NotFound
from grantflow.states.guards import post_evaluation_years
from grantflow.states.permissions import Actor
from grantflow.states.text import Text

_p = Project.__table__
_c = Call.__table__
_o = Organisation.__table__
_s = Submission.__table__
_q = OrganisationQualification.__table__


class Ineligible(GuardFailed):
    """Refused at submission: every eligibility condition the applicant fails, each bilingual."""

    code = "ineligible"

    def __init__(self, reasons: list[Text]) -> None:
        super().__init__(reasons)
        self.message = Text(
            "不符合申报条件：" + "；".join(r.zh for r in reasons),
            "Not eligible to submit: " + "; ".join(r.en for r in reasons),
        )


def _active_count(conn: Connection, column: Any, value: int, exclude: int) -> int:
    stmt = select(func.count()).where(column == value, _p.c.state.in_(ACTIVE_PROJECT_STATES), _p.c.id != exclude)
    return int(conn.execute(stmt).scalar_one())


def _reports_due(conn: Connection, unit_id: int, exclude: int) -> tuple[tuple[Text, datetime], ...]:
    """Annual post-evaluation reports of the unit's earlier projects not yet submitted.

    They are the reports the lifecycle itself schedules (DESIGN rule 7); other report kinds
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
                        _s.c.status == "submitted",
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
    rules = parse_rules(row.eligibility) if row.eligibility else EligibilityRules()
    directed = row.selection_mode == SelectionMode.DIRECTED
    if rules.empty and not directed:
        return None
    unit = conn.execute(
        select(_o.c.id, _o.c.name, _o.c.kind, _o.c.unit_type, _o.c.region).where(_o.c.id == row.undertaking_unit_id)
    ).one()
    designated_name = ""
    if row.designated_unit_id is not None:
        designated_name = conn.execute(select(_o.c.name).where(_o.c.id == row.designated_unit_id)).scalar_one()
    quals = {
        q.code: q.valid_until
        for q in conn.execute(select(_q.c.code, _q.c.valid_until).where(_q.c.organisation_id == unit.id))
    }
    pi = row.principal_investigator_id
    applicant = ApplicantFacts(
        unit_id=unit.id,
        unit_name=unit.name,
        unit_kind=unit.kind,
        unit_type=unit.unit_type,
        region=unit.region,
        qualifications=quals,
        active_projects_of_unit=_active_count(conn, _p.c.undertaking_unit_id, unit.id, project_id),
        active_projects_of_pi=_active_count(conn, _p.c.principal_investigator_id, pi, project_id) if pi else 0,
        has_pi=pi is not None,
        reports_due=_reports_due(conn, unit.id, project_id) if rules.no_overdue_reports else (),
        selection_mode=row.selection_mode,
        designated_unit_id=row.designated_unit_id,
        designated_unit_name=designated_name,
    )
    return rules, applicant


def check(conn: Connection, *, project_id: int, now: datetime) -> list[Text]:
    """Every reason the project's applicant may not submit now; empty when eligible."""
    found = load_for_project(conn, project_id)
    if found is None:
        return []
    return rule_problems(found[0], found[1], now)


def submit_checked(
    conn: Connection,
    *,
    project_id: int,
    actor: Actor,
    trigger: str = "submit",
    payload: Mapping[str, Any] | None = None,
    now: datetime | None = None,
) -> Transitioned:
    """Submit (or resubmit) a proposal; a refusal names every eligibility condition not met.

    The engine's ``eligible`` guard decides and already lists each failed condition; only
    when the engine refuses are the rules run again, to tell an eligibility refusal from
    another one, so an eligible submission costs one evaluation, not two.
    """
    moment = now or datetime.now(UTC)
    try:
        return apply_trigger(conn, subject_id=project_id, trigger=trigger, actor=actor, payload=payload, now=moment)
    except GuardFailed as exc:
        if not check(conn, project_id=project_id, now=moment):
            raise
        raise Ineligible(exc.reasons) from None


def submit(
    engine: Engine,
    *,
    project_id: int,
    actor: Actor,
    trigger: str = "submit",
    now: datetime | None = None,
) -> Transitioned:
    with engine.begin() as conn:
        return submit_checked(conn, project_id=project_id, actor=actor, trigger=trigger, now=now)


def grant_qualification(
    conn: Connection, *, organisation_id: int, code: str, valid_until: datetime | None = None
) -> None:
    """Record (or renew) a unit's qualification; the office keeps these from certificates."""
    existing = conn.execute(
        select(_q.c.id).where(_q.c.organisation_id == organisation_id, _q.c.code == code)
    ).scalar_one_or_none()
    if existing is None:
        conn.execute(
            _q.insert(),
            {
                "organisation_id": organisation_id,
                "code": code,
                "valid_until": valid_until,
                "created_at": datetime.now(UTC),
            },
        )
    else:
        conn.execute(_q.update().where(_q.c.id == existing).values(valid_until=valid_until))
