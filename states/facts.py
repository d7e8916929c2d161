"""What the rules may know about a subject: a read-only snapshot the database layer fills.

Guards and permissions are pure functions of these facts, the actor and ``now``. The
database layer may compute an attribute lazily (for example the set of submitted forms),
but the rules never see a session.
"""

from __future__ import annotations

from dataclasses import dataclass, field
from datetime import datetime
from typing import TYPE_CHECKING, Protocol

if TYPE_CHECKING:
    from grantflow.states.adjustments import AdjustmentFacts
    from grantflow.states.eligibility import ApplicantFacts, EligibilityRules
    from grantflow.states.programmes import Readiness


class Facts(Protocol):
    subject: str  # "project", "call", "programme" or "adjustment"
    subject_id: int
    state: str
    workflow: str

    # who owns the subject
    undertaking_unit_id: int | None
    organising_unit_id: int | None

    # project-specific; None or empty where the subject has no such thing
    category: str | None
    selection_mode: str | None
    call_opens_at: datetime | None
    call_closes_at: datetime | None
    call_state: str | None
    quorum: int
    suspended_from: str | None
    accepted_at: datetime | None

    @property
    def submitted_forms(self) -> frozenset[str]: ...

    @property
    def reviews_submitted(self) -> int: ...

    @property
    def scorer_ids(self) -> frozenset[int]: ...

    @property
    def post_evaluation_years_reported(self) -> frozenset[int]: ...

    # the call's eligibility rules and the applicant's facts (None: no rules apply),
    # and whether the project's tender bid is still sealed
    @property
    def eligibility(self) -> tuple[EligibilityRules, ApplicantFacts] | None: ...

    @property
    def bid_sealed(self) -> bool: ...

    # live review assignments of the project, as (user id, stage): assigned and no conflict declared.
    # The assignment-bound presets (reviewer, evaluator) read them.
    @property
    def assignments(self) -> frozenset[tuple[int, str]]: ...

    # third-party evaluation organisations the office engaged for the project (not withdrawn)
    @property
    def evaluator_orgs(self) -> frozenset[int]: ...
    # an adjustment request and the project it changes (None for other subjects)
    @property
    def adjustment(self) -> AdjustmentFacts | None: ...

    # what a programme has in place before its launch (None for other subjects)
    @property
    def programme_readiness(self) -> Readiness | None: ...


@dataclass
class StaticFacts:
    """Facts held in memory: for tests, previews and anything that already has the data."""

    subject: str = "project"
    subject_id: int = 0
    state: str = "draft"
    workflow: str = "standard"
    undertaking_unit_id: int | None = None
    organising_unit_id: int | None = None
    category: str | None = None
    selection_mode: str | None = None
    call_opens_at: datetime | None = None
    call_closes_at: datetime | None = None
    call_state: str | None = None
    quorum: int = 0
    suspended_from: str | None = None
    accepted_at: datetime | None = None
    submitted_forms: frozenset[str] = field(default_factory=frozenset)
    reviews_submitted: int = 0
    scorer_ids: frozenset[int] = field(default_factory=frozenset)
    post_evaluation_years_reported: frozenset[int] = field(default_factory=frozenset)
    eligibility: tuple[EligibilityRules, ApplicantFacts] | None = None
    bid_sealed: bool = False
    assignments: frozenset[tuple[int, str]] = field(default_factory=frozenset)
    evaluator_orgs: frozenset[int] = field(default_factory=frozenset)
    adjustment: AdjustmentFacts | None = None
    programme_readiness: Readiness | None = None
