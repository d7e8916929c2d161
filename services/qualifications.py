"""Granting and revoking the qualifications a unit holds (the office), and listing them.

Eligibility rules read these rows (``db.applicant_facts``); the rules about them are in
``states.qualifications`` and who may act in ``states.permissions``. Each grant, renewal and
revocation is an audit event on the organisation. The caller owns the transaction.
"""

from __future__ import annotations

from dataclasses import dataclass
from datetime import date, datetime
from typing import Any

from sqlalchemy import Connection, insert, or_, select, update

from grantflow.config import get_settings
from grantflow.db import audit
from grantflow.db.models import Organisation, OrganisationQualification, User, table
from grantflow.states.errors import Forbidden, NotFound, PayloadInvalid
from grantflow.states.permissions import (
    QUALIFICATIONS_FORBIDDEN,
    QUALIFICATIONS_HIDDEN,
    Actor,
    may_manage_qualifications,
    may_view_qualifications,
)
from grantflow.states.qualifications import (
    STANDING_LABELS,
    Grant,
    Standing,
    first_moment,
    grant_problems,
    last_moment,
    local_day,
    qualification_label,
    standing,
)
from grantflow.states.text import Text, join

_q = table(OrganisationQualification)
_o = table(Organisation)
_u = table(User)


class QualificationInvalid(PayloadInvalid):
    """A grant refused with every problem, in both languages; nothing was written."""

    code = "qualification_invalid"

    def __init__(self, problems: list[Text]) -> None:
        body = join(problems)
        super().__init__(
            Text("资质未登记：" + body.zh, "The qualification was not recorded: " + body.en),
            details={"problems": [p.as_dict() for p in problems]},
        )
        self.problems = problems


@dataclass(frozen=True)
class Unit:
    id: int
    name: Text


@dataclass(frozen=True)
class QualificationView:
    """One qualification of a unit as the office's page and the CLI list it (days are local)."""

    code: str
    label: Text
    valid_from: date | None
    valid_until: date | None
    note: str
    granted_by: str
    granted_at: datetime | None
    revoked_at: datetime | None
    revoked_by: str
    revoked_reason: str
    standing: Standing

    @property
    def standing_label(self) -> Text:
        return STANDING_LABELS[self.standing]

    @property
    def revocable(self) -> bool:
        return self.standing is not Standing.REVOKED


def find_unit(conn: Connection, ref: str | int) -> Unit:
    """An organisation by id, or by its exact Chinese or English name."""
    text = str(ref).strip()
    cond = _o.c.id == int(text) if text.isdigit() else or_(_o.c.name == text, _o.c.name_en == text)
    row = conn.execute(select(_o.c.id, _o.c.name, _o.c.name_en).where(cond)).first()
    if row is None:
        raise NotFound(Text(f"单位“{text}”不存在", f"organisation '{text}' does not exist"))
    return Unit(row.id, Text(row.name, row.name_en or row.name))


def _require_manager(actor: Actor) -> None:
    if not may_manage_qualifications(actor):
        raise Forbidden([QUALIFICATIONS_FORBIDDEN])


def qualifications_of(
    conn: Connection, *, organisation_id: int, actor: Actor, now: datetime
) -> list[QualificationView]:
    """Every qualification recorded for the unit, revoked ones included, for those who may see them."""
    unit = find_unit(conn, organisation_id)
    if not may_view_qualifications(actor, unit.id):
        raise Forbidden([QUALIFICATIONS_HIDDEN])
    tz = get_settings().timezone
    granter = _u.alias("granter")
    revoker = _u.alias("revoker")
    rows = conn.execute(
        select(_q, granter.c.name.label("granter"), revoker.c.name.label("revoker"))
        .select_from(
            _q.outerjoin(granter, _q.c.granted_by == granter.c.id).outerjoin(revoker, _q.c.revoked_by == revoker.c.id)
        )
        .where(_q.c.organisation_id == unit.id)
        .order_by(_q.c.code)
    ).all()
    return [
        QualificationView(
            code=r.code,
            label=qualification_label(r.code),
            valid_from=local_day(r.valid_from, tz) if r.valid_from else None,
            valid_until=local_day(r.valid_until, tz) if r.valid_until else None,
            note=r.note or "",
            granted_by=r.granter or "",
            granted_at=r.granted_at or r.created_at,
            revoked_at=r.revoked_at,
            revoked_by=r.revoker or "",
            revoked_reason=r.revoked_reason or "",
            standing=standing(
                valid_from=r.valid_from, valid_until=r.valid_until, revoked=r.revoked_at is not None, now=now
            ),
        )
        for r in rows
    ]


def _day(value: datetime | None, tz: str) -> str | None:
    return local_day(value, tz).isoformat() if value else None


def grant(
    conn: Connection,
    *,
    organisation_id: int,
    code: str,
    actor: Actor,
    now: datetime,
    valid_from: date | None = None,
    valid_until: date | None = None,
    note: str = "",
) -> int:
    """Record (or renew, or restore after a revocation) a unit's qualification; audited.

    Refused with every problem at once (``QualificationInvalid``), nothing written.
    """
    _require_manager(actor)
    unit = find_unit(conn, organisation_id)
    tz = get_settings().timezone
    typed = Grant(code=code.strip(), valid_from=valid_from, valid_until=valid_until, note=note.strip())
    problems = grant_problems(typed, today=local_day(now, tz))
    if problems:
        raise QualificationInvalid(problems)
    values: dict[str, Any] = {
        "valid_from": first_moment(valid_from, tz) if valid_from else None,
        "valid_until": last_moment(valid_until, tz) if valid_until else None,
        "note": typed.note or None,
        "granted_by": actor.user_id,
        "granted_at": now,
        "revoked_at": None,
        "revoked_by": None,
        "revoked_reason": None,
    }
    existing = conn.execute(select(_q).where(_q.c.organisation_id == unit.id, _q.c.code == typed.code)).one_or_none()
    previous: dict[str, Any] | None = None
    if existing is None:
        qid = int(
            conn.execute(
                insert(_q).returning(_q.c.id),
                {"organisation_id": unit.id, "code": typed.code, "created_at": now, **values},
            ).scalar_one()
        )
    else:
        qid = existing.id
        previous = {
            "valid_from": _day(existing.valid_from, tz),
            "valid_until": _day(existing.valid_until, tz),
            "revoked": existing.revoked_at is not None,
        }
        conn.execute(update(_q).where(_q.c.id == qid).values(**values))
    audit.note(
        conn,
        subject="organisation",
        subject_id=unit.id,
        actor=actor,
        action=f"qualification_granted:{typed.code}",
        payload={
            "code": typed.code,
            "valid_from": valid_from.isoformat() if valid_from else None,
            "valid_until": valid_until.isoformat() if valid_until else None,
            "note": typed.note,
            "previous": previous,
        },
        now=now,
    )
    return qid


def revoke(conn: Connection, *, organisation_id: int, code: str, actor: Actor, now: datetime, reason: str = "") -> None:
    """Withdraw a unit's qualification at once (it stops counting for eligibility); audited."""
    _require_manager(actor)
    unit = find_unit(conn, organisation_id)
    code = code.strip()
    row = conn.execute(
        select(_q.c.id, _q.c.revoked_at).where(_q.c.organisation_id == unit.id, _q.c.code == code)
    ).one_or_none()
    label = qualification_label(code)
    if row is None or row.revoked_at is not None:
        raise NotFound(
            Text(
                f"单位“{unit.name.zh}”没有可撤销的资质“{label.zh}”",
                f"'{unit.name.en}' holds no qualification '{label.en}' to revoke",
            )
        )
    reason = reason.strip()
    if len(reason) > 500:
        raise QualificationInvalid([Text("撤销理由不能超过 500 字", "the reason must be at most 500 characters")])
    conn.execute(
        update(_q)
        .where(_q.c.id == row.id)
        .values(revoked_at=now, revoked_by=actor.user_id, revoked_reason=reason or None)
    )
    audit.note(
        conn,
        subject="organisation",
        subject_id=unit.id,
        actor=actor,
        action=f"qualification_revoked:{code}",
        payload={"code": code, "reason": reason},
        now=now,
    )
