"""Who is party to an item (units, partners, tags) and who the reviewers are: the facts conflict checks read."""

from __future__ import annotations

from collections.abc import Iterable

from sqlalchemy import Connection, delete, func, insert, select

from grantflow.services.partners import replace_partners
from grantflow.services.review.common import ItemContext, _a, _o, _p, _partner, _tag, _u, _ur
from grantflow.states.enums import Role
from grantflow.states.review_rules import (
    ItemParties,
    ReviewerProfile,
)


def set_partners(conn: Connection, *, project_id: int, organisation_ids: Iterable[int]) -> None:
    """Set the project's collaborating units directly (set-up and imports; no audit event).

    In use they come from the submitted proposal (``services.partners.record_partners_from``).
    """
    replace_partners(conn, project_id=project_id, organisation_ids=organisation_ids)


def set_tags(conn: Connection, *, project_id: int, tags: Iterable[str]) -> None:
    conn.execute(delete(_tag).where(_tag.c.project_id == project_id))
    clean = sorted({t.strip().lower() for t in tags if t.strip()})
    if clean:
        conn.execute(insert(_tag), [{"project_id": project_id, "tag": t} for t in clean])


def parties(conn: Connection, ctx: ItemContext, *, default_tags: Iterable[str] = ()) -> ItemParties:
    partners = frozenset(
        conn.execute(select(_partner.c.organisation_id).where(_partner.c.project_id == ctx.project_id)).scalars()
    )
    orgs = [ctx.undertaking_unit_id, *partners]
    domains: set[str] = set()
    for ds in conn.execute(select(_o.c.email_domains).where(_o.c.id.in_(orgs))).scalars():
        domains.update(d for d in (ds or []) if isinstance(d, str))
    tags = frozenset(conn.execute(select(_tag.c.tag).where(_tag.c.project_id == ctx.project_id)).scalars())
    return ItemParties(
        ctx.project_id,
        ctx.undertaking_unit_id,
        partners,
        frozenset(domains),
        tags or frozenset(t.lower() for t in default_tags),
    )


def profiles(conn: Connection, user_ids: Iterable[int], *, call_id: int | None, stage: str) -> list[ReviewerProfile]:
    """Reviewers as the rules see them, with their load: live items of this call and stage."""
    ids = list(user_ids)
    if not ids:
        return []
    rows = conn.execute(
        select(_u.c.id, _u.c.name, _u.c.email, _u.c.organisation_id, _u.c.expertise, _u.c.active, _o.c.email_domains)
        .select_from(_u.outerjoin(_o, _u.c.organisation_id == _o.c.id))
        .where(_u.c.id.in_(ids))
    ).all()
    # third-party evaluators are assigned like experts (their assignments are evaluations)
    reviewers = set(
        conn.execute(
            select(_ur.c.user_id).where(_ur.c.user_id.in_(ids), _ur.c.role.in_((Role.REVIEWER, Role.EVALUATOR)))
        ).scalars()
    )
    load_q = (
        select(_a.c.reviewer_id, func.count())
        .select_from(_a.join(_p, _a.c.project_id == _p.c.id))
        .where(_a.c.reviewer_id.in_(ids), _a.c.stage == stage, _a.c.conflict_declared_at.is_(None))
        .group_by(_a.c.reviewer_id)
    )
    if call_id is not None:
        load_q = load_q.where(_p.c.call_id == call_id)
    loads = dict(conn.execute(load_q).tuples().all())
    return [
        ReviewerProfile(
            r.id,
            r.name,
            r.email,
            r.organisation_id,
            frozenset(r.email_domains or ()),
            frozenset(str(t).lower() for t in (r.expertise or ())),
            r.id in reviewers,
            bool(r.active),
            int(loads.get(r.id, 0)),
        )
        for r in rows
    ]
