"""Loading the facts eligibility rules read, and the submission path that shows every reason.

The rules are in ``states.eligibility``. The ``eligible`` guard on the ``submit`` and
``resubmit`` rows stops any path from submitting an ineligible proposal, but a guard has one
reason; ``submit_checked`` runs the same rules first and refuses with all of them.
"""

from __future__ import annotations

from collections.abc import Mapping
from datetime import datetime
from typing import Any

from sqlalchemy import Connection, Engine

from grantflow import clock
from grantflow.db.applicant_facts import load_for_project
from grantflow.db.apply import Transitioned, apply_trigger
from grantflow.db.facts import load_facts
from grantflow.db.models import Call, Organisation, Project, Submission, table
from grantflow.db.workflows import get_registry
from grantflow.states.eligibility import problems as rule_problems
from grantflow.states.errors import GuardFailed, InvalidTrigger
from grantflow.states.permissions import Actor
from grantflow.states.text import Text
from grantflow.states.workflow import trigger_label

_p = table(Project)
_c = table(Call)
_o = table(Organisation)
_s = table(Submission)


class Ineligible(GuardFailed):
    """Refused at submission: every eligibility condition the applicant fails, each bilingual."""

    code = "ineligible"

    def __init__(self, reasons: list[Text]) -> None:
        super().__init__(reasons)
        self.message = Text(
            "不符合申报条件：" + "；".join(r.zh for r in reasons),
            "Not eligible to submit: " + "; ".join(r.en for r in reasons),
        )


def check(conn: Connection, *, project_id: int, now: datetime) -> list[Text]:
    """Every reason the project's applicant may not submit now; empty when eligible."""
    found = load_for_project(conn, project_id)
    if found is None:
        return []
    return rule_problems(found[0], found[1], now)


def submission_trigger(conn: Connection, *, project_id: int) -> str:
    """The trigger that submits the application from the project's current state, asked of its
    workflow table (``submit`` from a draft, ``resubmit`` once returned, ``submit_concept`` from a
    concept note). Where none leaves the state, the refusal names the state and what is allowed."""
    facts = load_facts(conn, "project", project_id)
    wf = get_registry().get(facts.workflow)
    trigger = wf.submit_trigger(facts.state)
    if trigger is None:
        raise InvalidTrigger(
            trigger="submit",
            state=wf.state_label(facts.state),
            state_name=facts.state,
            allowed=[(t, trigger_label(t)) for t in wf.triggers_from(facts.state)],
        )
    return trigger


def submit_checked(
    conn: Connection,
    *,
    project_id: int,
    actor: Actor,
    trigger: str | None = None,
    payload: Mapping[str, Any] | None = None,
    now: datetime | None = None,
) -> Transitioned:
    """Submit (or resubmit) a proposal; a refusal names every eligibility condition not met.

    Without ``trigger`` the workflow table says which one submits from the current state.

    The engine's ``eligible`` guard decides and already lists each failed condition; only
    when the engine refuses are the rules run again, to tell an eligibility refusal from
    another one, so an eligible submission costs one evaluation, not two.
    """
    moment = now or clock.now()
    trigger = trigger or submission_trigger(conn, project_id=project_id)
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
    trigger: str | None = None,
    now: datetime | None = None,
) -> Transitioned:
    with engine.begin() as conn:
        return submit_checked(conn, project_id=project_id, actor=actor, trigger=trigger, now=now)
