"""Bring a database to the current schema and reference data: `grantflow init`, first start."""

from __future__ import annotations

from dataclasses import dataclass

from sqlalchemy import Engine

from grantflow.db.apply import remap_renamed_states, stranded
from grantflow.db.audit import prepare_key
from grantflow.db.migrate import upgrade
from grantflow.db.session import session_scope
from grantflow.services.seed import seed_demo, seed_reference
from grantflow.states.errors import WorkflowInvalid


@dataclass(frozen=True)
class InitReport:
    added: int
    remapped: int


def init_database(engine: Engine, *, demo: bool = False) -> InitReport:
    """Make sure the audit key exists, migrate, map renamed states, seed. Idempotent: running it
    again adds nothing."""
    prepare_key(engine)  # before migrating: a migration may re-key an existing audit chain
    upgrade(engine)
    with engine.begin() as conn:
        remapped = remap_renamed_states(conn)
        left = stranded(conn)
    if left:
        sample = ", ".join(f"{s} {i} in '{st}' ({wf})" for s, i, wf, st in left[:5])
        raise WorkflowInvalid("stored data", [f"{len(left)} stored rows are in states their workflow lacks: {sample}"])
    with session_scope(engine) as session:
        added = seed_demo(session) if demo else seed_reference(session)
    return InitReport(added=added, remapped=remapped)
