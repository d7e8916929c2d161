"""Review panels and rubrics per call and stage."""

from __future__ import annotations

from collections.abc import Iterable, Mapping, Sequence
from dataclasses import dataclass
from datetime import datetime
from typing import Any

from sqlalchemy import Connection, delete, insert, select, update

from grantflow.db import audit
from grantflow.services.review.common import _call_organiser, _member, _panel, _require_manager, _rubric, _stage_ok, _ur
from grantflow.states.enums import Role
from grantflow.states.errors import PayloadInvalid
from grantflow.states.permissions import Actor
from grantflow.states.review_rules import (
    DEFAULT_RUBRICS,
    Rubric,
    RubricInvalid,
    rubric_from_list,
)
from grantflow.states.text import Text, join


def create_panel(
    conn: Connection,
    *,
    call_id: int,
    stage: str,
    name: str,
    members: Iterable[int],
    actor: Actor,
    now: datetime,
    tags: Iterable[str] = (),
    peers_after_submit: bool = True,
    trim: int = 1,
) -> int:
    """A call's panel for a stage (one per call and stage); members must be reviewers."""
    _stage_ok(stage)
    _require_manager(actor, _call_organiser(conn, call_id))
    member_ids = list(dict.fromkeys(members))
    reviewers = set(
        conn.execute(select(_ur.c.user_id).where(_ur.c.user_id.in_(member_ids), _ur.c.role == Role.REVIEWER)).scalars()
    )
    missing = [m for m in member_ids if m not in reviewers]
    if missing:
        raise PayloadInvalid(
            Text(f"以下用户不是评审专家：{missing}", f"these users are not reviewers: {missing}"),
            details={"users": missing},
        )
    if trim < 0:
        raise PayloadInvalid(Text("去掉的最高/最低分个数不能为负", "the trim count cannot be negative"))
    existing = conn.execute(
        select(_panel.c.id).where(_panel.c.call_id == call_id, _panel.c.stage == stage)
    ).scalar_one_or_none()
    values = {"name": name, "tags": sorted(set(tags)), "peers_after_submit": peers_after_submit, "trim": trim}
    if existing is None:
        panel_id = int(
            conn.execute(
                insert(_panel).returning(_panel.c.id), {"call_id": call_id, "stage": stage, "created_at": now, **values}
            ).scalar_one()
        )
    else:
        panel_id = existing
        conn.execute(update(_panel).where(_panel.c.id == panel_id).values(**values))
        conn.execute(delete(_member).where(_member.c.panel_id == panel_id))
    if member_ids:
        conn.execute(insert(_member), [{"panel_id": panel_id, "user_id": m} for m in member_ids])
    audit.note(
        conn,
        subject="call",
        subject_id=call_id,
        actor=actor,
        action=f"panel:{stage}",
        payload={"panel": panel_id, "members": member_ids, **values},
        now=now,
    )
    return panel_id


@dataclass(frozen=True)
class PanelInfo:
    panel_id: int
    call_id: int
    stage: str
    name: str
    tags: tuple[str, ...]
    peers_after_submit: bool
    trim: int
    members: tuple[int, ...]


def panel_for(conn: Connection, *, call_id: int | None, stage: str) -> PanelInfo | None:
    if call_id is None:
        return None
    row = conn.execute(select(_panel).where(_panel.c.call_id == call_id, _panel.c.stage == stage)).one_or_none()
    if row is None:
        return None
    members = tuple(conn.execute(select(_member.c.user_id).where(_member.c.panel_id == row.id)).scalars())
    return PanelInfo(
        row.id, row.call_id, row.stage, row.name, tuple(row.tags or ()), row.peers_after_submit, row.trim, members
    )


def set_rubric(
    conn: Connection, *, call_id: int, stage: str, criteria: Sequence[Mapping[str, Any]], actor: Actor, now: datetime
) -> Rubric:
    _stage_ok(stage)
    _require_manager(actor, _call_organiser(conn, call_id))
    try:
        rubric = rubric_from_list(stage, criteria)
    except RubricInvalid as exc:
        body = join(exc.problems)
        raise PayloadInvalid(Text("评分标准有误：" + body.zh, "The rubric is invalid: " + body.en)) from exc
    conn.execute(delete(_rubric).where(_rubric.c.call_id == call_id, _rubric.c.stage == stage))
    conn.execute(insert(_rubric), {"call_id": call_id, "stage": stage, "criteria": rubric.as_list()})
    audit.note(
        conn,
        subject="call",
        subject_id=call_id,
        actor=actor,
        action=f"rubric:{stage}",
        payload={"criteria": rubric.as_list()},
        now=now,
    )
    return rubric


def rubric_for(conn: Connection, *, call_id: int | None, stage: str) -> Rubric:
    """The call's own rubric for the stage, else the default (docs/domain.md, rule 6, for evaluations)."""
    if call_id is not None:
        rows = conn.execute(
            select(_rubric.c.criteria).where(_rubric.c.call_id == call_id, _rubric.c.stage == stage)
        ).scalar_one_or_none()
        if rows:
            return rubric_from_list(stage, rows)
    _stage_ok(stage)
    return DEFAULT_RUBRICS[stage]
