"""Facts about a stored subject, read in the caller's transaction for the rules in ``states``.

The subject's own row (joined with its call and programme) is read at once; the rest
(submitted forms, reviews, post-evaluation reports) only when a guard asks for it.
"""

from __future__ import annotations

from collections import namedtuple
from datetime import datetime
from functools import cached_property
from typing import Any

from sqlalchemy import BindParameter, Connection, Select, bindparam, distinct, func, literal, null, select
from sqlalchemy.engine import Dialect

from grantflow.db.applicant_facts import load_for_project
from grantflow.db.models import (
    Adjustment,
    Bid,
    Call,
    EvaluationAssignment,
    Programme,
    ProgrammeKeyTask,
    Project,
    Review,
    ReviewAssignment,
    Submission,
    Target,
    Tender,
    table,
)
from grantflow.db.prepared import Prepared, Statements, cursor
from grantflow.db.workflows import get_registry
from grantflow.states.adjustments import AdjustmentFacts
from grantflow.states.eligibility import ApplicantFacts, EligibilityRules
from grantflow.states.enums import SelectionMode, SubmissionStatus
from grantflow.states.errors import NotFound
from grantflow.states.lifecycle import DEFAULT_QUORUM
from grantflow.states.programmes import Readiness
from grantflow.states.text import Text
from grantflow.states.workflow import Registry, Workflow

_p = table(Project)
_c = table(Call)
_g = table(Programme)
_s = table(Submission)
_r = table(Review)
_b = table(Bid)
_t = table(Tender)
_ra = table(ReviewAssignment)
_ea = table(EvaluationAssignment)
_adj = table(Adjustment)
_kt = table(ProgrammeKeyTask)
_tg = table(Target)

TABLES = {"project": _p, "call": _c, "programme": _g, "adjustment": _adj}
SUBJECT_LABELS = {
    "project": Text("项目", "project"),
    "call": Text("申报指南", "call"),
    "programme": Text("重大专项", "programme"),
    "adjustment": Text("动态调整申请", "adjustment request"),
}

_SID: BindParameter[int] = bindparam("sid")

_SELECT: dict[str, Select[Any]] = {
    "project": select(
        _p.c.id,
        _p.c.state,
        _p.c.version,
        _p.c.workflow,
        _p.c.undertaking_unit_id,
        _g.c.organising_unit_id,
        _p.c.category,
        _p.c.selection_mode,
        _c.c.opens_at.label("call_opens_at"),
        _c.c.closes_at.label("call_closes_at"),
        _c.c.state.label("call_state"),
        func.coalesce(_c.c.quorum, DEFAULT_QUORUM).label("quorum"),
        _p.c.suspended_from,
        _p.c.accepted_at,
    )
    .select_from(_p.join(_g, _p.c.programme_id == _g.c.id).outerjoin(_c, _p.c.call_id == _c.c.id))
    .where(_p.c.id == _SID),
    "call": select(
        _c.c.id,
        _c.c.state,
        _c.c.version,
        _c.c.workflow,
        null().label("undertaking_unit_id"),
        _g.c.organising_unit_id,
        _c.c.category,
        _c.c.selection_mode,
        _c.c.opens_at.label("call_opens_at"),
        _c.c.closes_at.label("call_closes_at"),
        _c.c.state.label("call_state"),
        func.coalesce(_c.c.quorum, DEFAULT_QUORUM).label("quorum"),
        null().label("suspended_from"),
        null().label("accepted_at"),
    )
    .select_from(_c.join(_g, _c.c.programme_id == _g.c.id))
    .where(_c.c.id == _SID),
    "programme": select(
        _g.c.id,
        _g.c.state,
        _g.c.version,
        _g.c.workflow,
        null().label("undertaking_unit_id"),
        _g.c.organising_unit_id,
        null().label("category"),
        null().label("selection_mode"),
        null().label("call_opens_at"),
        null().label("call_closes_at"),
        null().label("call_state"),
        literal(0).label("quorum"),
        null().label("suspended_from"),
        null().label("accepted_at"),
    ).where(_g.c.id == _SID),
    # an adjustment request is owned by its project's unit and its programme's organising unit
    "adjustment": select(
        _adj.c.id,
        _adj.c.state,
        _adj.c.version,
        _adj.c.workflow,
        _p.c.undertaking_unit_id,
        _g.c.organising_unit_id,
        _p.c.category,
        _p.c.selection_mode,
        null().label("call_opens_at"),
        null().label("call_closes_at"),
        null().label("call_state"),
        literal(0).label("quorum"),
        null().label("suspended_from"),
        null().label("accepted_at"),
    )
    .select_from(_adj.join(_p, _adj.c.project_id == _p.c.id).join(_g, _p.c.programme_id == _g.c.id))
    .where(_adj.c.id == _SID),
}

_SUBMITTED_FORMS = select(distinct(_s.c.form_key)).where(
    _s.c.project_id == _SID, _s.c.status == SubmissionStatus.SUBMITTED
)
_REVIEWS_SUBMITTED = select(func.count()).where(
    _r.c.project_id == _SID,
    _r.c.stage == bindparam("stage"),
    _r.c.submitted_at.is_not(None),
    _r.c.no_conflict_declared.is_(True),
)
_SCORERS = select(distinct(_r.c.reviewer_id)).where(_r.c.project_id == _SID, _r.c.submitted_at.is_not(None))
_POST_EVAL_YEARS = select(distinct(_s.c.period)).where(
    _s.c.project_id == _SID,
    _s.c.form_key == "post_evaluation_report",
    _s.c.status == SubmissionStatus.SUBMITTED,
    _s.c.period.is_not(None),
)
# an assignment counts until its expert declares a conflict (a submitted review keeps it)
_ASSIGNMENTS = select(_ra.c.reviewer_id, _ra.c.stage).where(
    _ra.c.project_id == _SID, _ra.c.conflict_declared_at.is_(None)
)
# an engagement of a third-party evaluator counts until the office withdraws it
_EVALUATORS = select(distinct(_ea.c.evaluator_id)).where(
    _ea.c.subject == "project", _ea.c.subject_id == _SID, _ea.c.withdrawn_at.is_(None)
)
_LAZY: dict[str, Select[Any]] = {
    "assignments": _ASSIGNMENTS,
    "evaluator_orgs": _EVALUATORS,
    "submitted_forms": _SUBMITTED_FORMS,
    "reviews_submitted": _REVIEWS_SUBMITTED,
    "scorer_ids": _SCORERS,
    "post_evaluation_years": _POST_EVAL_YEARS,
}


def _build(name: str, dialect: Dialect) -> Prepared:
    return Prepared(_SELECT[name] if name in _SELECT else _LAZY[name], dialect)


STATEMENTS = Statements(_build)
"""The reads above, compiled per dialect and run on the DBAPI cursor (see ``db.prepared``)."""

# the subject row as the rules read it: attribute access, as a Core ``Row`` gives
_FactsRow = namedtuple("_FactsRow", [c.key for c in _SELECT["project"].selected_columns])  # type: ignore[misc]


_HAS_BID = select(_b.c.id).where(_b.c.project_id == _SID)
_BID_SEALED = select(_t.c.opened_at).select_from(_p.join(_t, _p.c.call_id == _t.c.call_id)).where(_p.c.id == _SID)


class DbFacts:
    """Implements ``states.facts.Facts`` over one connection."""

    def __init__(self, conn: Connection, subject: str, row: Any, registry: Registry | None = None) -> None:
        self._conn = conn
        self._registry = registry
        self.subject = subject
        self.subject_id: int = row.id
        self.state: str = row.state
        self.version: int = row.version
        self.workflow: str = row.workflow
        self.undertaking_unit_id: int | None = row.undertaking_unit_id
        self.organising_unit_id: int | None = row.organising_unit_id
        self.category: str | None = row.category
        self.selection_mode: str | None = row.selection_mode
        self.call_opens_at: datetime | None = row.call_opens_at
        self.call_closes_at: datetime | None = row.call_closes_at
        self.call_state: str | None = row.call_state
        self.quorum: int = row.quorum if row.quorum is not None else DEFAULT_QUORUM
        self.suspended_from: str | None = row.suspended_from
        self.accepted_at: datetime | None = row.accepted_at

    def _project_only(self) -> bool:
        return self.subject == "project"

    def _rows(self, name: str, **values: Any) -> list[Any]:
        stmt = STATEMENTS.get(self._conn.dialect, name)
        return list(stmt.execute(cursor(self._conn), {"sid": self.subject_id, **values}).fetchall())

    def _column(self, name: str, **values: Any) -> list[Any]:
        """The first column of a lazy read's rows."""
        return [r[0] for r in self._rows(name, **values)]

    @cached_property
    def submitted_forms(self) -> frozenset[str]:
        if not self._project_only():
            return frozenset()
        forms = frozenset(self._column("submitted_forms"))
        # a tender's proposal is its sealed bid: stored encrypted, never as a plain submission
        if (
            self.selection_mode == SelectionMode.TENDER
            and self._conn.execute(_HAS_BID, {"sid": self.subject_id}).first()
        ):
            forms |= {"proposal"}
        return forms

    @cached_property
    def workflow_table(self) -> Workflow:
        """The subject's workflow, as the registry in force has it."""
        return (self._registry or get_registry()).get(self.workflow)

    @cached_property
    def reviews_submitted(self) -> int:
        """Valid reviews of the stage in force in the project's state (the workflow table says which)."""
        if not self._project_only():
            return 0
        registry = self._registry or get_registry()
        stage = registry.get(self.workflow).review_stage(self.state) if self.workflow in registry else None
        if stage is None:
            return 0
        return int(self._column("reviews_submitted", stage=stage)[0])

    @cached_property
    def scorer_ids(self) -> frozenset[int]:
        if not self._project_only():
            return frozenset()
        return frozenset(self._column("scorer_ids"))

    @cached_property
    def eligibility(self) -> tuple[EligibilityRules, ApplicantFacts] | None:
        if not self._project_only():
            return None
        return load_for_project(self._conn, self.subject_id)

    @cached_property
    def bid_sealed(self) -> bool:
        """A tender project's bid stays sealed until its call's bids are opened."""
        if not self._project_only():
            return False
        opened = self._conn.execute(_BID_SEALED, {"sid": self.subject_id}).one_or_none()
        return opened is not None and opened.opened_at is None

    @cached_property
    def assignments(self) -> frozenset[tuple[int, str]]:
        if not self._project_only():
            return frozenset()
        return frozenset((int(r[0]), str(r[1])) for r in self._rows("assignments"))

    @cached_property
    def evaluator_orgs(self) -> frozenset[int]:
        if not self._project_only():
            return frozenset()
        return frozenset(int(v) for v in self._column("evaluator_orgs"))

    @cached_property
    def post_evaluation_years_reported(self) -> frozenset[int]:
        if not self._project_only():
            return frozenset()
        return frozenset(self._column("post_evaluation_years"))

    @cached_property
    def adjustment(self) -> AdjustmentFacts | None:
        """The request and the project it changes, as ``states.adjustments`` judges them."""
        if self.subject != "adjustment":
            return None
        from grantflow.db.adjustment_facts import load_adjustment_facts  # reads the workflow registry

        return load_adjustment_facts(self._conn, self.subject_id)

    @cached_property
    def programme_readiness(self) -> Readiness | None:
        if self.subject != "programme":
            return None
        tasks = self._conn.execute(select(func.count()).where(_kt.c.programme_id == self.subject_id)).scalar_one()
        targets = self._conn.execute(
            select(func.count()).where(
                _tg.c.programme_id == self.subject_id, _tg.c.project_id.is_(None), _tg.c.retired_at.is_(None)
            )
        ).scalar_one()
        return Readiness(
            organising_unit=self.organising_unit_id is not None, key_tasks=int(tasks), targets=int(targets)
        )


def load_facts(conn: Connection, subject: str, subject_id: int, registry: Registry | None = None) -> DbFacts:
    if subject not in _SELECT:
        raise NotFound(Text(f"未知对象类型：{subject}", f"unknown subject kind: {subject}"))
    stmt = STATEMENTS.get(conn.dialect, subject)
    # the id is the primary key: at most one row
    row = stmt.row(stmt.execute(cursor(conn), {"sid": subject_id}).fetchone())
    if row is None:
        label = SUBJECT_LABELS[subject]
        raise NotFound(Text(f"{label.zh} {subject_id} 不存在", f"{label.en} {subject_id} does not exist"))
    return DbFacts(conn, subject, _FactsRow._make(row), registry)
