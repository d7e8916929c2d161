"""Database-side effects of a transition, run by the engine inside its transaction.

``states.effects.RECORDED_EFFECTS`` names them (so tables can say which row has which);
this module says how each is written. A handler writes rows, never a subject's state.
"""

from __future__ import annotations

from datetime import datetime
from typing import TYPE_CHECKING, Protocol

from sqlalchemy import Connection

if TYPE_CHECKING:
    from db.facts import DbFacts
    from states.workflow import TransitionDef


class EffectHandler(Protocol):
    def __call__(self, conn: Connection, *, facts: DbFacts, rule: TransitionDef, now: datetime) -> None: ...


RECORDED_EFFECT_HANDLERS: dict[str, EffectHandler] = {}
