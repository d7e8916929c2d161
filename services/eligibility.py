"""Loading the facts eligibility rules read, and the submission path that shows every reason.

The rules are in ``states.eligibility``. The ``eligible`` guard on the ``submit`` and
``resubmit`` rows stops any path from submitting an ineligible proposal, but a guard has one
reason; ``submit_checked`` runs the same rules first and refuses with all of them.
"""

from __future__ import annotations

from collections.abc import Mapping
from datetime import UTC, datetime
from typing import Any

from sqlalchemy import Connection, Engine

from grantflow.db.applicant_facts import load_for_project
from grantflow.db.apply import Transitioned, apply_trigger
from grantflow.db.models import Call, Organisation, Project, Submission, table
from grantflow.states.eligibility import problems as rule_problems
from grantflow.states.errors import GuardFailed
from grantflow.states.permissions import Actor
from grantflow.states.text import Text

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
