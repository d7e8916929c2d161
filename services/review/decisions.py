"""Ranking the items of a call by their reviews, and gate decisions in batches through the engine."""

from __future__ import annotations

from collections.abc import Sequence
from dataclasses import dataclass
from datetime import datetime
from decimal import Decimal

from sqlalchemy import Connection, Engine, and_, select

from grantflow.db.apply import apply_trigger
from grantflow.db.workflows import get_registry
from grantflow.services.review.common import ItemResult, _batch, _c, _call_organiser, _p, _r, _require_manager
from grantflow.services.review.panels import panel_for
from grantflow.states.permissions import Actor
from grantflow.states.review_rules import (
    Ranked,
    rank,
)
from grantflow.states.text import Text


@dataclass(frozen=True)
class RankRow:
    project_id: int
    code: str
    title: str
    state: str
    ranked: Ranked


def ranking(conn: Connection, *, call_id: int, stage: str, actor: Actor) -> list[RankRow]:
    """The call's items at this stage by trimmed mean: what the office decides from."""
    _require_manager(actor, _call_organiser(conn, call_id))
    quorum = conn.execute(select(_c.c.quorum).where(_c.c.id == call_id)).scalar_one()
    panel = panel_for(conn, call_id=call_id, stage=stage)
    # the workflow table says which states are listed (not drafts, not withdrawn projects)
    registry = get_registry()
    projects = [
        p
        for p in conn.execute(
            select(_p.c.id, _p.c.code, _p.c.title, _p.c.state, _p.c.workflow).where(_p.c.call_id == call_id)
        ).all()
        if p.workflow in registry and registry.get(p.workflow).state(p.state).ranked
    ]
    info = {p.id: p for p in projects}
    scores: dict[int, list[Decimal]] = {p.id: [] for p in projects}
    for r in conn.execute(
        select(_r.c.project_id, _r.c.score).where(
            and_(
                _r.c.project_id.in_(list(info)),
                _r.c.stage == stage,
                _r.c.submitted_at.is_not(None),
                _r.c.no_conflict_declared.is_(True),
                _r.c.score.is_not(None),
            )
        )
    ):
        scores[r.project_id].append(Decimal(r.score))
    ranked = rank(scores, quorum=quorum, trim=panel.trim if panel else 1)
    return [
        RankRow(x.project_id, info[x.project_id].code, info[x.project_id].title, info[x.project_id].state, x)
        for x in ranked
    ]


@dataclass(frozen=True)
class Decision:
    project_id: int
    trigger: str
    reason: str | None = None


def decide_batch(engine: Engine, *, decisions: Sequence[Decision], actor: Actor, now: datetime) -> list[ItemResult]:
    """Gate decisions for many items: each fired through the engine in its own transaction, so
    each is checked (quorum, separation from scorers) and audited on its own."""
    by_id = {d.project_id: d for d in decisions}

    def one(conn: Connection, pid: int) -> ItemResult:
        d = by_id[pid]
        payload = {"reason": d.reason} if d.reason else {}
        t = apply_trigger(conn, subject_id=pid, trigger=d.trigger, actor=actor, payload=payload, now=now)
        # the states as the table names them in the reader's language, not as stored
        wf = get_registry().get(conn.execute(select(_p.c.workflow).where(_p.c.id == pid)).scalar_one())
        was, now_in = wf.state_label(t.from_state), wf.state_label(t.to_state)
        return ItemResult(
            pid,
            True,
            Text(f"{was.zh} → {now_in.zh}", f"{was.en} → {now_in.en}"),
            {"to": t.to_state, "event": t.event_id},
        )

    return _batch(engine, [d.project_id for d in decisions], one)
