"""Helpers shared by the eligibility, selection, bid, review and complaint tests (no tests here).

Calls are created through ``db.selection.create_call`` (validated as in production) and
moved through their lifecycle by the engine; projects carry their call's category and mode.
"""

from __future__ import annotations

from collections.abc import Iterable
from datetime import date, datetime, timedelta
from typing import Any

from sqlalchemy import Engine, update

from grantflow.db.apply import fire
from grantflow.db.models import Organisation, table
from grantflow.services.calls import create_call, new_project
from grantflow.services.qualifications import grant
from grantflow.services.records import save_submission
from grantflow.services.review import create_panel, set_tags, submit_review
from grantflow.states.enums import Category, SelectionMode, SupportMode
from grantflow.states.permissions import SYSTEM
from tests.conftest import T0, People
from tests.factories import programme_id

GOOD = {"innovation": 90, "feasibility": 85, "team": 80, "outcomes": 88, "budget": 75}


def call(
    engine: Engine,
    people: People,
    now: datetime,
    *,
    category: str = Category.SUPPORTED,
    mode: str = SelectionMode.MERIT,
    support: Iterable[str] = (SupportMode.COMPETITIVE,),
    quorum: int = 2,
    eligibility: dict[str, Any] | None = None,
    designated: str | None = None,
    bids_open_at: datetime | None = None,
    closes_in: timedelta = timedelta(days=30),
    per_unit: int = 1,
) -> int:
    """A call of programme 7 by its organiser, published and open since yesterday."""
    values: dict[str, Any] = {
        "programme_id": programme_id(engine),
        "max_applications_per_unit": per_unit,
        "title": "测试指南",
        "category": category,
        "selection_mode": mode,
        "support_modes": list(support),
        "quorum": quorum,
        "eligibility": eligibility or {},
        "opens_at": now - timedelta(days=1),
        "closes_at": now + closes_in,
    }
    if designated is not None:
        values["designated_unit_id"] = people[designated].organisation_id
    with engine.begin() as conn:
        call_id = create_call(
            conn, values=values, actor=people["organiser"], now=now - timedelta(days=2), bids_open_at=bids_open_at
        )
    fire(engine, subject="call", subject_id=call_id, trigger="publish", actor=people["organiser"], now=now)
    fire(engine, subject="call", subject_id=call_id, trigger="open", actor=SYSTEM, now=now)
    return call_id


def draft(engine: Engine, people: People, now: datetime, call_id: int, who: str, *, tags: Iterable[str] = ()) -> int:
    """A draft with its proposal form submitted: ready for ``submit`` if eligible."""
    with engine.begin() as conn:
        pid = new_project(conn, call_id=call_id, actor=people[who], title=f"{who} 的项目", now=now)
        save_submission(
            conn, project_id=pid, form_key="proposal", data={"summary": "..."}, actor=people[who], submit=True, now=now
        )
        if tags:
            set_tags(conn, project_id=pid, tags=tags)
    return pid


def qualify(
    engine: Engine, people: People, who: str, *codes: str, until: date | None = None, now: datetime = T0
) -> None:
    """The office records the unit's qualifications (as it does from certificates)."""
    with engine.begin() as conn:
        for code in codes:
            grant(
                conn,
                organisation_id=people[who].organisation_id,
                code=code,
                valid_until=until,
                actor=people["office"],
                now=now,
            )


def move_org(engine: Engine, people: People, who: str, **values: Any) -> None:
    """Change an organisation's registered data (test set-up: kind, type, region)."""
    with engine.begin() as conn:
        conn.execute(update(table(Organisation)).where(Organisation.id == people[who].organisation_id).values(**values))


def panel(engine: Engine, people: People, now: datetime, call_id: int, *, stage: str = "proposal", **kw: Any) -> int:
    members = [people[e].user_id for e in ("expert1", "expert2", "expert3", "expert4")]
    with engine.begin() as conn:
        return create_panel(
            conn, call_id=call_id, stage=stage, name="专家组", members=members, actor=people["organiser"], now=now, **kw
        )


def review(
    engine: Engine, people: People, now: datetime, pid: int, who: str, *, scores: dict[str, Any] | None = None
) -> int:
    with engine.begin() as conn:
        return submit_review(
            conn,
            project_id=pid,
            stage="proposal",
            reviewer=people[who],
            scores=scores or GOOD,
            recommendation="support",
            comments="技术路线清晰",
            no_conflict=True,
            now=now,
        )
