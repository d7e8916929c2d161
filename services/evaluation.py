"""Third-party evaluation: evaluators' qualifications, engagements, results (docs/evaluation.md).

The rules (qualified on the dates, independent of the evaluated side, the rubrics) are in
``states.evaluation``; this module loads the facts they read and writes what they allow.
The caller owns the transaction; nothing here commits.
"""

from __future__ import annotations

from collections.abc import Iterable, Mapping
from dataclasses import dataclass
from datetime import date, datetime
from decimal import Decimal
from typing import Any
from zoneinfo import ZoneInfo

from sqlalchemy import Connection, and_, delete, insert, or_, select, update

from grantflow.config import get_settings
from grantflow.db import audit
from grantflow.db.models import (
    EvaluationAssignment,
    EvaluationResult,
    EvaluationScore,
    EvaluatorQualification,
    Organisation,
    Programme,
    Project,
    ProjectPartner,
    User,
    table,
)
from grantflow.states.amounts import AmountInvalid, parse
from grantflow.states.enums import OrgKind
from grantflow.states.errors import Forbidden, NotFound, PayloadInvalid
from grantflow.states.evaluation import (
    ASSIGN_FORBIDDEN,
    QUALIFICATIONS,
    RECORD_FORBIDDEN,
    RUBRIC_FOR_SUBJECT,
    RUBRICS,
    SUBJECTS,
    EvaluatedParties,
    EvaluatorProfile,
    EvaluatorRefused,
    Person,
    Qualification,
    assignment_refusals,
    grade,
    may_assign,
    may_read_results,
    may_record,
    score_problems,
    stage_problems,
)
from grantflow.states.guards import post_evaluation_years
from grantflow.states.permissions import Actor
from grantflow.states.text import Text, join

_q = table(EvaluatorQualification)
_a = table(EvaluationAssignment)
_r = table(EvaluationResult)
_sc = table(EvaluationScore)
_o = table(Organisation)
_u = table(User)
_p = table(Project)
_g = table(Programme)
_partner = table(ProjectPartner)


def local_day(moment: datetime) -> date:
    """The calendar day of ``moment`` where the office works: qualifications are dated in local days."""
    return moment.astimezone(ZoneInfo(get_settings().timezone)).date()


def _invalid(problems: list[Text]) -> PayloadInvalid:
    body = join(problems)
    return PayloadInvalid(
        Text("输入有误：" + body.zh, "Invalid input: " + body.en), details={"problems": [p.as_dict() for p in problems]}
    )


# --- qualifications ----------------------------------------------------------------------------------------


def add_qualification(
    conn: Connection,
    *,
    organisation_id: int,
    code: str,
    valid_from: date,
    valid_until: date | None,
    actor: Actor,
    now: datetime,
    issuer: str | None = None,
    reference: str | None = None,
) -> int:
    """Record one period of an evaluator's qualification (the office keeps the register)."""
    if not may_assign(actor):
        raise Forbidden([ASSIGN_FORBIDDEN])
    org = conn.execute(select(_o.c.id, _o.c.kind).where(_o.c.id == organisation_id)).one_or_none()
    if org is None:
        raise NotFound(Text(f"单位 {organisation_id} 不存在", f"organisation {organisation_id} does not exist"))
    problems: list[Text] = []
    if code not in QUALIFICATIONS:
        allowed = ", ".join(QUALIFICATIONS)
        problems.append(Text(f"未知资质“{code}”（可选：{allowed}）", f"unknown qualification '{code}' ({allowed})"))
    if org.kind != OrgKind.EVALUATOR:
        problems.append(
            Text("只有第三方评估机构登记评估资质", "only evaluation institutions hold evaluation qualifications")
        )
    if valid_until is not None and valid_until < valid_from:
        problems.append(Text("有效期结束日早于开始日", "the qualification ends before it starts"))
    if problems:
        raise _invalid(problems)
    qid = int(
        conn.execute(
            insert(_q).returning(_q.c.id),
            {
                "organisation_id": organisation_id,
                "code": code,
                "valid_from": valid_from,
                "valid_until": valid_until,
                "issuer": issuer,
                "reference": reference,
                "recorded_by": actor.user_id,
                "created_at": now,
            },
        ).scalar_one()
    )
    audit.note(
        conn,
        subject="organisation",
        subject_id=organisation_id,
        actor=actor,
        action="evaluator_qualification",
        payload={
            "code": code,
            "valid_from": valid_from.isoformat(),
            "valid_until": valid_until.isoformat() if valid_until else None,
            "issuer": issuer,
            "reference": reference,
        },
        now=now,
    )
    return qid


def _people(conn: Connection, where: Any) -> tuple[Person, ...]:
    rows = conn.execute(select(_u.c.id, _u.c.name, _u.c.email, _u.c.organisation_id).where(where)).all()
    return tuple(Person(r.id, r.name, r.email, r.organisation_id) for r in rows)


def evaluator_profile(conn: Connection, organisation_id: int) -> EvaluatorProfile:
    org = conn.execute(select(_o).where(_o.c.id == organisation_id)).one_or_none()
    if org is None:
        raise NotFound(Text(f"单位 {organisation_id} 不存在", f"organisation {organisation_id} does not exist"))
    quals = conn.execute(
        select(_q.c.code, _q.c.valid_from, _q.c.valid_until).where(_q.c.organisation_id == organisation_id)
    ).all()
    return EvaluatorProfile(
        organisation_id=org.id,
        name=org.name,
        kind=org.kind,
        domains=frozenset(str(d).lower() for d in (org.email_domains or ())),
        qualifications=tuple(Qualification(q.code, q.valid_from, q.valid_until) for q in quals),
        people=_people(conn, _u.c.organisation_id == organisation_id),
    )


@dataclass(frozen=True)
class Evaluated:
    parties: EvaluatedParties
    programme_id: int
    accepted_at: datetime | None


def evaluated(conn: Connection, subject: str, subject_id: int) -> Evaluated:
    """The evaluated side of a project (its unit, partners, principal investigator and programme's
    organising unit) or of a programme (its organising unit and every unit with a project in it)."""
    if subject == "project":
        row = conn.execute(
            select(
                _p.c.undertaking_unit_id,
                _p.c.principal_investigator_id,
                _p.c.programme_id,
                _p.c.accepted_at,
                _g.c.organising_unit_id,
            )
            .select_from(_p.join(_g, _p.c.programme_id == _g.c.id))
            .where(_p.c.id == subject_id)
        ).one_or_none()
        if row is None:
            raise NotFound(Text(f"项目 {subject_id} 不存在", f"project {subject_id} does not exist"))
        units = frozenset({row.undertaking_unit_id})
        partners = frozenset(
            conn.execute(select(_partner.c.organisation_id).where(_partner.c.project_id == subject_id)).scalars()
        )
        pis = {row.principal_investigator_id} - {None}
        programme_id, organiser, accepted = row.programme_id, row.organising_unit_id, row.accepted_at
    elif subject == "programme":
        prog = conn.execute(select(_g.c.id, _g.c.organising_unit_id).where(_g.c.id == subject_id)).one_or_none()
        if prog is None:
            raise NotFound(Text(f"专项 {subject_id} 不存在", f"programme {subject_id} does not exist"))
        units = frozenset(
            conn.execute(select(_p.c.undertaking_unit_id).where(_p.c.programme_id == subject_id).distinct()).scalars()
        )
        partners = frozenset(
            conn.execute(
                select(_partner.c.organisation_id)
                .select_from(_partner.join(_p, _partner.c.project_id == _p.c.id))
                .where(_p.c.programme_id == subject_id)
                .distinct()
            ).scalars()
        )
        pis = set(
            conn.execute(
                select(_p.c.principal_investigator_id)
                .where(_p.c.programme_id == subject_id, _p.c.principal_investigator_id.is_not(None))
                .distinct()
            ).scalars()
        )
        programme_id, organiser, accepted = prog.id, prog.organising_unit_id, None
    else:
        raise _invalid(
            [Text(f"未知评估对象“{subject}”", f"unknown subject '{subject}' (one of: {', '.join(SUBJECTS)})")]
        )
    orgs = set(units | partners) | ({organiser} if organiser is not None else set())
    domains: set[str] = set()
    if orgs:
        for ds in conn.execute(select(_o.c.email_domains).where(_o.c.id.in_(orgs))).scalars():
            domains.update(str(d).lower() for d in (ds or ()) if isinstance(d, str))
    people = _people(conn, or_(_u.c.organisation_id.in_(orgs), _u.c.id.in_(pis))) if orgs or pis else ()
    parties = EvaluatedParties(
        subject=subject,
        subject_id=subject_id,
        undertaking_unit_ids=units,
        organising_unit_id=organiser,
        partner_ids=partners,
        domains=frozenset(domains),
        people=people,
    )
    return Evaluated(parties, programme_id, accepted)


# --- engagements ------------------------------------------------------------------------------------------


def assign_evaluator(
    conn: Connection,
    *,
    evaluator_id: int,
    subject: str,
    subject_id: int,
    stage: str,
    actor: Actor,
    now: datetime,
    year: int | None = None,
    due_on: date | None = None,
) -> int:
    """Engage an evaluator for one evaluation, if it is qualified and independent; otherwise refuse
    with every rule it fails (``EvaluatorRefused.rules``)."""
    if not may_assign(actor):
        raise Forbidden([ASSIGN_FORBIDDEN])
    target = evaluated(conn, subject, subject_id)
    years = tuple(post_evaluation_years(target.accepted_at)) if target.accepted_at else ()
    problems = stage_problems(subject, stage, year, post_evaluation_years=years)
    today = local_day(now)
    if due_on is not None and due_on < today:
        problems.append(Text("评估完成日期早于今天", "the evaluation's due date is in the past"))
    if problems:
        raise _invalid(problems)
    refusals = assignment_refusals(evaluator_profile(conn, evaluator_id), target.parties, on=today, until=due_on)
    if refusals:
        raise EvaluatorRefused(refusals)
    existing = conn.execute(
        select(_a.c.id, _a.c.withdrawn_at).where(
            _a.c.subject == subject,
            _a.c.subject_id == subject_id,
            _a.c.stage == stage,
            _a.c.year.is_(None) if year is None else _a.c.year == year,
            _a.c.evaluator_id == evaluator_id,
        )
    ).one_or_none()
    values = {
        "qualified_on": today,
        "due_on": due_on,
        "assigned_by": actor.user_id,
        "assigned_at": now,
        "withdrawn_at": None,
        "withdrawn_reason": None,
    }
    if existing is not None and existing.withdrawn_at is None:
        raise _invalid([Text("该评估机构已受托进行此项评估", "this evaluator is already engaged for this evaluation")])
    if existing is not None:  # engaged again after a withdrawal: the same row, its history in the audit log
        aid = int(existing.id)
        conn.execute(update(_a).where(_a.c.id == aid).values(**values))
    else:
        aid = int(
            conn.execute(
                insert(_a).returning(_a.c.id),
                {
                    "evaluator_id": evaluator_id,
                    "subject": subject,
                    "subject_id": subject_id,
                    "programme_id": target.programme_id,
                    "stage": stage,
                    "year": year,
                    **values,
                },
            ).scalar_one()
        )
    audit.note(
        conn,
        subject=subject,
        subject_id=subject_id,
        actor=actor,
        action="evaluator_assigned",
        payload={"assignment": aid, "evaluator": evaluator_id, "stage": stage, "year": year},
        now=now,
    )
    return aid


def withdraw_assignment(conn: Connection, *, assignment_id: int, reason: str, actor: Actor, now: datetime) -> None:
    if not may_assign(actor):
        raise Forbidden([ASSIGN_FORBIDDEN])
    row = _assignment(conn, assignment_id)
    if not reason.strip():
        raise _invalid([Text("请说明撤销委托的理由", "give the reason for withdrawing the engagement")])
    conn.execute(update(_a).where(_a.c.id == assignment_id).values(withdrawn_at=now, withdrawn_reason=reason.strip()))
    audit.note(
        conn,
        subject=row.subject,
        subject_id=row.subject_id,
        actor=actor,
        action="evaluator_withdrawn",
        payload={"assignment": assignment_id, "evaluator": row.evaluator_id, "reason": reason.strip()},
        now=now,
    )


def _assignment(conn: Connection, assignment_id: int) -> Any:
    row = conn.execute(select(_a).where(_a.c.id == assignment_id)).one_or_none()
    if row is None:
        raise NotFound(
            Text(f"评估委托 {assignment_id} 不存在", f"evaluation engagement {assignment_id} does not exist")
        )
    return row


def evaluator_assignments(conn: Connection, project_id: int) -> frozenset[tuple[int, str]]:
    """The live engagements of a project as (evaluator organisation id, stage): the facts an
    assignment-aware permission reads (an evaluator may act on a project only when engaged)."""
    rows = conn.execute(
        select(_a.c.evaluator_id, _a.c.stage).where(
            _a.c.subject == "project", _a.c.subject_id == project_id, _a.c.withdrawn_at.is_(None)
        )
    ).all()
    return frozenset((int(r.evaluator_id), str(r.stage)) for r in rows)


def evaluator_assigned(
    conn: Connection,
    *,
    project_id: int,
    organisation_id: int | None = None,
    user_id: int | None = None,
    stage: str | None = None,
) -> bool:
    """Is this evaluator (given by organisation, or by one of its people) engaged for the project,
    for ``stage`` if given? Withdrawn engagements do not count."""
    if organisation_id is None and user_id is not None:
        organisation_id = conn.execute(select(_u.c.organisation_id).where(_u.c.id == user_id)).scalar_one_or_none()
    if organisation_id is None:
        return False
    return any(
        org == organisation_id and (stage is None or s == stage) for org, s in evaluator_assignments(conn, project_id)
    )


# --- results ----------------------------------------------------------------------------------------------


def record_result(
    conn: Connection,
    *,
    assignment_id: int,
    scores: Mapping[str, Any],
    conclusion: str,
    actor: Actor,
    now: datetime,
    recommendations: str | None = None,
) -> int:
    """The engaged evaluator records its scores and conclusion; recording again replaces them
    (every version stays in the audit log)."""
    row = _assignment(conn, assignment_id)
    if not may_record(actor, row.evaluator_id) or row.withdrawn_at is not None:
        raise Forbidden([RECORD_FORBIDDEN])
    rubric = RUBRICS[RUBRIC_FOR_SUBJECT[row.subject]]
    parsed: dict[str, Decimal] = {}
    problems: list[Text] = []
    for key, value in scores.items():
        try:
            parsed[str(key)] = parse(value)
        except AmountInvalid as exc:
            problems.append(exc.text)
    problems += score_problems(rubric, parsed)
    if not conclusion.strip():
        problems.append(Text("请填写评估结论", "the conclusion is missing"))
    if problems:
        raise _invalid(problems)
    total = sum(parsed.values(), Decimal(0))
    values = {
        "programme_id": row.programme_id,
        "rubric": rubric.key,
        "total": total,
        "grade": grade(total, rubric.max_total),
        "conclusion": conclusion.strip(),
        "recommendations": (recommendations or "").strip() or None,
        "submitted_by": actor.user_id,
        "submitted_at": now,
    }
    existing = conn.execute(select(_r.c.id).where(_r.c.assignment_id == assignment_id)).scalar_one_or_none()
    if existing is None:
        rid = int(conn.execute(insert(_r).returning(_r.c.id), {"assignment_id": assignment_id, **values}).scalar_one())
    else:
        rid = int(existing)
        conn.execute(update(_r).where(_r.c.id == rid).values(**values))
        conn.execute(delete(_sc).where(_sc.c.result_id == rid))
    conn.execute(insert(_sc), [{"result_id": rid, "criterion": k, "score": v} for k, v in parsed.items()])
    audit.note(
        conn,
        subject=row.subject,
        subject_id=row.subject_id,
        actor=actor,
        action="evaluation_result",
        payload={
            "assignment": assignment_id,
            "stage": row.stage,
            "year": row.year,
            "scores": {k: str(v) for k, v in parsed.items()},
            "total": str(total),
            "grade": values["grade"],
            "conclusion": values["conclusion"],
        },
        now=now,
    )
    return rid


@dataclass(frozen=True)
class ResultRow:
    result_id: int
    assignment_id: int
    programme_id: int
    subject: str
    subject_id: int
    subject_code: str  # a project's code or a programme's number
    subject_title: str
    stage: str
    year: int | None
    evaluator_id: int
    evaluator_name: str
    rubric: str
    scores: dict[str, Decimal]
    total: Decimal
    grade: str
    conclusion: str
    recommendations: str | None
    submitted_at: datetime


def _result_rows(conn: Connection, where: Any) -> list[ResultRow]:
    rows = conn.execute(
        select(
            _r.c.id,
            _r.c.assignment_id,
            _r.c.programme_id,
            _r.c.rubric,
            _r.c.total,
            _r.c.grade,
            _r.c.conclusion,
            _r.c.recommendations,
            _r.c.submitted_at,
            _a.c.subject,
            _a.c.subject_id,
            _a.c.stage,
            _a.c.year,
            _a.c.evaluator_id,
            _o.c.name.label("evaluator_name"),
            _p.c.code.label("project_code"),
            _p.c.title.label("project_title"),
            _g.c.code.label("programme_code"),
            _g.c.name.label("programme_name"),
        )
        .select_from(
            _r.join(_a, _r.c.assignment_id == _a.c.id)
            .join(_o, _a.c.evaluator_id == _o.c.id)
            .join(_g, _r.c.programme_id == _g.c.id)
            .outerjoin(_p, and_(_a.c.subject == "project", _p.c.id == _a.c.subject_id))
        )
        .where(where)
        .order_by(_r.c.submitted_at, _r.c.id)
    ).all()
    ids = [r.id for r in rows]
    scores: dict[int, dict[str, Decimal]] = {i: {} for i in ids}
    for chunk in _chunks(ids, 500):
        for s in conn.execute(select(_sc).where(_sc.c.result_id.in_(chunk))):
            scores[s.result_id][s.criterion] = Decimal(str(s.score)).quantize(Decimal("0.01"))
    return [
        ResultRow(
            result_id=r.id,
            assignment_id=r.assignment_id,
            programme_id=r.programme_id,
            subject=r.subject,
            subject_id=r.subject_id,
            subject_code=r.project_code if r.subject == "project" else str(r.programme_code),
            subject_title=r.project_title if r.subject == "project" else r.programme_name,
            stage=r.stage,
            year=r.year,
            evaluator_id=r.evaluator_id,
            evaluator_name=r.evaluator_name,
            rubric=r.rubric,
            scores=scores[r.id],
            total=sum(scores[r.id].values(), Decimal(0)),  # exact, whatever the column's storage
            grade=r.grade,
            conclusion=r.conclusion,
            recommendations=r.recommendations,
            submitted_at=r.submitted_at,
        )
        for r in rows
    ]


def _chunks(items: list[int], size: int) -> Iterable[list[int]]:
    for i in range(0, len(items), size):
        yield items[i : i + size]


def programme_results(conn: Connection, *, programme_id: int, start: datetime, end: datetime) -> list[ResultRow]:
    """Every evaluation result of a programme (its own and its projects') recorded in [start, end):
    what the evaluation-results disclosure publishes for a period."""
    return _result_rows(
        conn, and_(_r.c.programme_id == programme_id, _r.c.submitted_at >= start, _r.c.submitted_at < end)
    )


def results_for(conn: Connection, *, subject: str, subject_id: int, actor: Actor) -> list[ResultRow]:
    """A subject's results as this person may read them (the office and leadership all; an evaluator its own)."""
    rows = _result_rows(conn, and_(_a.c.subject == subject, _a.c.subject_id == subject_id))
    return [r for r in rows if may_read_results(actor, r.evaluator_id)]


@dataclass(frozen=True)
class AssignmentRow:
    assignment_id: int
    evaluator_id: int
    evaluator_name: str
    subject: str
    subject_id: int
    stage: str
    year: int | None
    qualified_on: date
    due_on: date | None
    withdrawn: bool
    has_result: bool


def assignments_of(conn: Connection, *, subject: str, subject_id: int) -> list[AssignmentRow]:
    rows = conn.execute(
        select(_a, _o.c.name.label("evaluator_name"), _r.c.id.label("result_id"))
        .select_from(_a.join(_o, _a.c.evaluator_id == _o.c.id).outerjoin(_r, _r.c.assignment_id == _a.c.id))
        .where(_a.c.subject == subject, _a.c.subject_id == subject_id)
        .order_by(_a.c.id)
    ).all()
    return [
        AssignmentRow(
            r.id,
            r.evaluator_id,
            r.evaluator_name,
            r.subject,
            r.subject_id,
            r.stage,
            r.year,
            r.qualified_on,
            r.due_on,
            r.withdrawn_at is not None,
            r.result_id is not None,
        )
        for r in rows
    ]
