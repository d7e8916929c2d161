"""Publication records: the claim that makes a disclosure exactly-once, what the guard blocked,
the office's override, the documents published, and what is due.

A publication is keyed by (kind, programme, period). The first run inserts the row in its own
commit (``claim``) before any work; a second run finds it and stops, unless the first one's lease
ran out (it crashed), in which case it takes the row over with a compare-and-set on the token.
Every later write names the token, so a run that lost its claim can never record anything.
"""

from __future__ import annotations

import secrets
from collections.abc import Sequence
from dataclasses import dataclass
from datetime import datetime, timedelta
from typing import Any

from sqlalchemy import Connection, Engine, and_, exists, insert, select, update
from sqlalchemy.exc import IntegrityError

from grantflow.db import audit
from grantflow.db.models import (
    AuditEvent,
    Programme,
    Publication,
    PublicationDocument,
    PublicationSubmission,
    table,
)
from grantflow.states.disclosure import (
    DISCLOSURE_KINDS,
    LAUNCH_TRIGGER,
    OVERRIDE_NEEDS_REASON,
    PUBLISH_FORBIDDEN,
    Granularity,
    Period,
    due_periods,
    may_override_guard,
)
from grantflow.states.errors import Forbidden, NotFound, PayloadInvalid
from grantflow.states.permissions import Actor
from grantflow.states.text import Text

_pub = table(Publication)
_doc = table(PublicationDocument)
_sub = table(PublicationSubmission)
_prog = table(Programme)
_e = table(AuditEvent)

CLAIMED, BLOCKED, RECORDED, PUBLISHED = "claimed", "blocked", "recorded", "published"  # not a workflow state
STATUS_LABELS = {
    None: Text("未开始", "Not started"),
    CLAIMED: Text("发布中（或上次中断，稍后重试）", "Being published (or interrupted: retried later)"),
    BLOCKED: Text("已被内容安全检查拦截", "Blocked by the content guard"),
    RECORDED: Text("已记录，文件待写出", "Recorded; its files are being written"),
    PUBLISHED: Text("已发布", "Published"),
}
"""What the office reads for a publication's progress (the due list shows the unfinished ones)."""


@dataclass(frozen=True)
class Claim:
    """The outcome of asking for a key: ``token`` is set when this run may work on it."""

    publication_id: int
    status: str  # the row's status before this run: new, claimed (taken over), blocked, recorded, published
    token: str | None
    issued_at: datetime
    overridden: bool = False

    @property
    def ours(self) -> bool:
        return self.token is not None


def claim(
    engine: Engine,
    *,
    kind: str,
    programme_id: int,
    period: str,
    now: datetime,
    lease: timedelta,
    project_id: int | None = None,
    title: str | None = None,
) -> Claim:
    """Claim the key in its own commit. Published rows are never claimed again; a live claim of
    another run is left alone; a blocked row is claimed only once the office overrode the guard."""
    token = secrets.token_hex(16)
    key = and_(_pub.c.kind == kind, _pub.c.programme_id == programme_id, _pub.c.period == period)
    try:
        with engine.begin() as conn:
            pid = conn.execute(
                insert(_pub).returning(_pub.c.id),
                {
                    "kind": kind,
                    "programme_id": programme_id,
                    "period": period,
                    "project_id": project_id,
                    "status": CLAIMED,
                    "token": token,
                    "attempts": 1,
                    "claimed_at": now,
                    "lease_until": now + lease,
                    "issued_at": now,
                    "title": title,
                },
            ).scalar_one()
        return Claim(int(pid), "new", token, now)
    except IntegrityError:
        pass  # the key exists: decide from its row below
    with engine.begin() as conn:
        row = conn.execute(select(_pub).where(key)).one()
        issued = row.issued_at or now
        overridden = row.override_reason is not None
        if row.status == PUBLISHED:
            return Claim(row.id, PUBLISHED, None, issued, overridden)
        if row.status == BLOCKED and not overridden:
            return Claim(row.id, BLOCKED, None, issued)
        if row.status in (CLAIMED, RECORDED) and row.lease_until > now:
            return Claim(row.id, row.status, None, issued, overridden)
        taken = conn.execute(
            update(_pub)
            .where(_pub.c.id == row.id, _pub.c.token == row.token)
            .values(token=token, attempts=row.attempts + 1, claimed_at=now, lease_until=now + lease)
        ).rowcount
        if taken != 1:  # another run took it over first
            return Claim(row.id, row.status, None, issued, overridden)
        return Claim(row.id, row.status, token, issued, overridden)


def _ours(publication_id: int, token: str) -> Any:
    return and_(_pub.c.id == publication_id, _pub.c.token == token)


class LostClaim(RuntimeError):
    """Another run took the publication over (this one outlived its lease): nothing was written."""


def block(
    engine: Engine,
    *,
    publication_id: int,
    token: str,
    findings: list[dict[str, Any]],
    now: datetime,
    actor: Actor,
) -> None:
    """The content guard found something: keep the row blocked with the findings, audited."""
    with engine.begin() as conn:
        done = conn.execute(
            update(_pub)
            .where(_ours(publication_id, token))
            .values(status=BLOCKED, guard={"findings": findings, "at": now.isoformat()}, lease_until=now)
        ).rowcount
        if done != 1:
            raise LostClaim(publication_id)
        audit.note(
            conn,
            subject="publication",
            subject_id=publication_id,
            actor=actor,
            action="publication_blocked",
            payload={"findings": findings},
            now=now,
        )


def override(conn: Connection, *, publication_id: int, actor: Actor, reason: str, now: datetime) -> None:
    """The office releases what the guard blocked, with a reason (audited); the next run publishes it."""
    if not may_override_guard(actor):
        raise Forbidden([PUBLISH_FORBIDDEN])
    if not reason.strip():
        raise PayloadInvalid(OVERRIDE_NEEDS_REASON)
    row = conn.execute(select(_pub).where(_pub.c.id == publication_id)).one_or_none()
    if row is None or row.status != BLOCKED:
        raise NotFound(Text(f"没有被拦截的公开信息 {publication_id}", f"no blocked publication {publication_id}"))
    conn.execute(
        update(_pub)
        .where(_pub.c.id == publication_id)
        .values(override_reason=reason.strip(), override_by=actor.user_id, override_at=now)
    )
    audit.note(
        conn,
        subject="publication",
        subject_id=publication_id,
        actor=actor,
        action="publication_override",
        payload={"reason": reason.strip(), "findings": (row.guard or {}).get("findings", [])},
        now=now,
    )


@dataclass(frozen=True)
class DocumentRecord:
    name: str
    title: str
    sha256: str
    size: int
    pages: int


def record(
    engine: Engine,
    *,
    publication_id: int,
    token: str,
    kind: str,
    period: str,
    title: str,
    documents: Sequence[DocumentRecord],
    now: datetime,
    actor: Actor,
    submit: bool,
    overridden: bool,
) -> audit.AnchorRecord:
    """One transaction: the documents and their hashes, the audit event naming them, the audit
    head after it, and the deliveries to the S&T reporting system. Status ``recorded``: the files
    still have to be moved into place.

    Once committed, every audit chain's head is appended to the anchor log outside the database
    (``db.audit.anchor``), so the published record is covered by an anchor from that moment on;
    not before the commit, so the log never names an event a rolled-back transaction dropped."""
    with engine.begin() as conn:
        if conn.execute(select(_pub.c.id).where(_ours(publication_id, token))).first() is None:
            raise LostClaim(publication_id)
        conn.execute(_doc.delete().where(_doc.c.publication_id == publication_id))
        ids = []
        for d in documents:
            ids.append(
                conn.execute(
                    insert(_doc).returning(_doc.c.id),
                    {
                        "publication_id": publication_id,
                        "name": d.name,
                        "title": d.title,
                        "sha256": d.sha256,
                        "size": d.size,
                        "pages": d.pages,
                    },
                ).scalar_one()
            )
        event_id = audit.note(
            conn,
            subject="publication",
            subject_id=publication_id,
            actor=actor,
            action=f"publish:{kind}",
            payload={
                "kind": kind,
                "period": period,
                "documents": [{"name": d.name, "sha256": d.sha256} for d in documents],
                "guard_overridden": overridden,
            },
            now=now,
        )
        anchor = audit.current_head(conn, now=now)  # read in the transaction that records the publication
        if submit:
            conn.execute(
                insert(_sub),
                [
                    {
                        "document_id": i,
                        "status": "pending",
                        "attempts": 0,
                        "next_attempt_at": now,
                        "created_at": now,
                    }
                    for i in ids
                ],
            )
        conn.execute(
            update(_pub)
            .where(_ours(publication_id, token))
            .values(
                status=RECORDED,
                title=title,
                audit_event_id=event_id,
                audit_head_id=anchor.event_id,
                audit_head_hash=anchor.hash,
                audit_anchored_at=anchor.anchored_at,
            )
        )
    with engine.connect() as conn:
        audit.anchor(conn, now=now)
    return anchor


def finish(engine: Engine, *, publication_id: int, token: str, now: datetime) -> None:
    with engine.begin() as conn:
        done = conn.execute(
            update(_pub)
            .where(_ours(publication_id, token))
            .values(status=PUBLISHED, published_at=now, lease_until=now, last_error=None)
        ).rowcount
        if done != 1:
            raise LostClaim(publication_id)


def fail(engine: Engine, *, publication_id: int, token: str, error: str, now: datetime) -> None:
    """Give the claim back at once (the next run retries) and keep the error for the office."""
    with engine.begin() as conn:
        conn.execute(update(_pub).where(_ours(publication_id, token)).values(last_error=error[:2000], lease_until=now))


def documents_of(conn: Connection, publication_id: int) -> list[Any]:
    return list(conn.execute(select(_doc).where(_doc.c.publication_id == publication_id).order_by(_doc.c.id)))


def published(conn: Connection, *, limit: int | None = None) -> list[Any]:
    """Published rows, newest first, with the programme's code and names."""
    stmt = (
        select(
            _pub,
            _prog.c.code.label("programme_code"),
            _prog.c.name.label("programme_name"),
            _prog.c.name_en.label("programme_name_en"),
        )
        .join(_prog, _prog.c.id == _pub.c.programme_id)
        .where(_pub.c.status == PUBLISHED)
        .order_by(_pub.c.published_at.desc(), _pub.c.id.desc())
    )
    if limit:
        stmt = stmt.limit(limit)
    return list(conn.execute(stmt))


def blocked(conn: Connection) -> list[Any]:
    return list(
        conn.execute(
            select(_pub, _prog.c.name.label("programme_name"), _prog.c.name_en.label("programme_name_en"))
            .join(_prog, _prog.c.id == _pub.c.programme_id)
            .where(_pub.c.status == BLOCKED)
            .order_by(_pub.c.id.desc())
        )
    )


def launched_programmes(conn: Connection) -> list[Any]:
    """Programmes with a launch event, and when (what the office owes disclosures for)."""
    rows = conn.execute(
        select(_e.c.subject_id, _e.c.created_at)
        .where(_e.c.subject == "programme", _e.c.action == LAUNCH_TRIGGER)
        .order_by(_e.c.id)
    ).all()
    first: dict[int, datetime] = {}
    for r in rows:
        first.setdefault(r.subject_id, r.created_at)
    progs = conn.execute(select(_prog).where(_prog.c.id.in_(list(first)))).all() if first else []
    return [(p, first[p.id]) for p in sorted(progs, key=lambda p: p.code)]


@dataclass(frozen=True)
class Due:
    kind: str
    programme_id: int
    programme_code: int
    programme: Text
    period: Period
    status: str | None  # None: not yet attempted

    @property
    def status_label(self) -> Text:
        return STATUS_LABELS.get(self.status, Text(str(self.status), str(self.status)))


def due(
    conn: Connection,
    *,
    now: datetime,
    tz: str,
    granularity: dict[str, Granularity],
    since: str = "",
    limit: int = 6,
    kinds: Sequence[str] = DISCLOSURE_KINDS,
) -> list[Due]:
    """Completed periods of ``kinds`` since each programme's launch with no published disclosure yet."""
    start = Period.parse(since).start(tz) if since else None
    out: list[Due] = []
    for prog, launched in launched_programmes(conn):
        begin = max(launched, start) if start else launched
        for kind in kinds:
            for period in due_periods(now, granularity[kind], tz, since=begin, limit=limit):
                row = conn.execute(
                    select(_pub.c.status).where(
                        _pub.c.kind == kind, _pub.c.programme_id == prog.id, _pub.c.period == period.key
                    )
                ).first()
                if row is None or row.status != PUBLISHED:
                    out.append(
                        Due(
                            kind, prog.id, prog.code, Text(prog.name, prog.name_en), period, row.status if row else None
                        )
                    )
    return out


def has_publication(conn: Connection, *, kind: str, programme_id: int, period: str) -> bool:
    return bool(
        conn.execute(
            select(exists().where(_pub.c.kind == kind, _pub.c.programme_id == programme_id, _pub.c.period == period))
        ).scalar()
    )
