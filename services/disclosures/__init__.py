"""The data of each public disclosure, one module per kind (what is published, read from the database).

``assemble(conn, kind=..., programme_id=..., period=..., tz=...)`` returns a ``Disclosure``:
the programme's header and one ``Line`` per project or event. Rendering is ``grantflow.reports``'s job.
"""

from __future__ import annotations

from collections.abc import Callable

from sqlalchemy import Connection

from grantflow.services.disclosures import adjustments, establishment, evaluations, progress
from grantflow.services.disclosures.common import Disclosure, Line
from grantflow.states.disclosure import ADJUSTMENTS, ESTABLISHMENT, EVALUATIONS, PROGRESS, Period

ASSEMBLERS: dict[str, Callable[..., Disclosure]] = {
    ESTABLISHMENT: establishment.assemble,
    PROGRESS: progress.assemble,
    ADJUSTMENTS: adjustments.assemble,
    EVALUATIONS: evaluations.assemble,
}


def assemble(conn: Connection, *, kind: str, programme_id: int, period: Period, tz: str) -> Disclosure:
    return ASSEMBLERS[kind](conn, programme_id=programme_id, period=period, tz=tz)


__all__ = ["ASSEMBLERS", "Disclosure", "Line", "assemble"]
