"""A project's partners: the organisations its submitted proposal names.

Their people never review the project (``states.review_rules.conflicts``). The set is replaced,
never merged, each time a form that names partners is submitted, so an organisation removed
from a resubmitted proposal stops being a partner; every change is an audit event. The caller
owns the transaction. See docs/review-and-eligibility.md.
"""

from __future__ import annotations

from collections.abc import Iterable, Mapping
from datetime import datetime
from typing import Any

from sqlalchemy import Connection, delete, insert, select

from grantflow.db import audit
from grantflow.db.models import Organisation, Project, ProjectPartner, table
from grantflow.forms import FormDefinition
from grantflow.states.permissions import Actor

_partner = table(ProjectPartner)
_o = table(Organisation)
_p = table(Project)


def partner_ids(conn: Connection, project_id: int) -> set[int]:
    return set(conn.execute(select(_partner.c.organisation_id).where(_partner.c.project_id == project_id)).scalars())


def replace_partners(conn: Connection, *, project_id: int, organisation_ids: Iterable[int]) -> None:
    """Write the set as given (no audit event): for callers that record their own."""
    conn.execute(delete(_partner).where(_partner.c.project_id == project_id))
    ids = sorted(set(organisation_ids))
    if ids:
        conn.execute(insert(_partner), [{"project_id": project_id, "organisation_id": o} for o in ids])


def record_partners_from(
    conn: Connection,
    *,
    project_id: int,
    form: FormDefinition,
    data: Mapping[str, Any],
    actor: Actor,
    now: datetime,
) -> list[int] | None:
    """Make the project's partners the organisations a submitted ``form`` names.

    Only forms marked ``names_partners`` (the proposal) decide partners. The undertaking unit
    itself and ids that name no known organisation are left out (the unit's own people are
    kept from reviewing by the own-organisation rule). Returns the new set when it changed
    (and was audited), None when nothing changed.
    """
    if not form.names_partners:
        return None
    named = form.organisation_ids(data)
    unit = conn.execute(select(_p.c.undertaking_unit_id).where(_p.c.id == project_id)).scalar_one()
    known = set(conn.execute(select(_o.c.id).where(_o.c.id.in_(named))).scalars()) if named else set()
    wanted = sorted(known - {unit})
    before = sorted(partner_ids(conn, project_id))
    if wanted == before:
        return None
    replace_partners(conn, project_id=project_id, organisation_ids=wanted)
    audit.note(
        conn,
        subject_id=project_id,
        actor=actor,
        action=f"partners:{form.key}",
        payload={"form": form.key, "version": form.version, "partners": wanted, "previous": before},
        now=now,
    )
    return wanted
