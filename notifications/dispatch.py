"""Delivering the outbox: fan-out to the in-app inbox, then e-mail at most once.

1. ``fan_out``: each pending outbox row, in one transaction, is claimed (status → done),
   resolved to recipients, rendered in each recipient's language, and written as one inbox
   row per recipient plus, by the recipient's choice, one e-mail delivery (immediate or
   digest). All database work: a failure rolls back and the row is retried with backoff.
2. ``send_emails`` / ``send_digests``: each delivery is *claimed before sending* in its own
   committed transaction (status ``sending``), then sent, then marked ``sent``. If the
   process dies between sending and recording, the row stays ``sending``; once its lease
   has passed it becomes ``uncertain`` and is never resent by itself (the office sees it and
   may resend by hand). So an e-mail goes out at most once per delivery, and since each
   delivery is unique per message and recipient, and each reminder message is unique per
   item, offset and date, a reminder is mailed at most once per item and offset. The in-app
   copy is written in the fan-out transaction, so the recipient always has the message.
   A refusal the server answered (``NotSent``) is safe to retry, with backoff.
"""

from __future__ import annotations

from collections.abc import Callable
from dataclasses import dataclass, field
from datetime import datetime, timedelta
from typing import Any, Protocol
from zoneinfo import ZoneInfo

from sqlalchemy import Connection, Engine, delete, insert, or_, select, update

from grantflow.db import audit
from grantflow.db.models import InboxMessage, NotificationDelivery, NotificationDigest, OutboxMessage, User, table
from grantflow.notifications import context as message_context
from grantflow.notifications.catalogue import DIGEST_TEMPLATE, kind_for
from grantflow.notifications.mailer import CannotConnect, MaybeSent, NotSent, SmtpConfig, compose
from grantflow.notifications.preferences import mode_of, modes_for
from grantflow.notifications.recipients import resolve
from grantflow.notifications.render import render
from grantflow.services.deadlines import insert_ignoring_duplicates
from grantflow.states.errors import Forbidden
from grantflow.states.permissions import RESEND_FORBIDDEN, Actor, may_resend
from grantflow.states.text import normalise_lang

_outbox = table(OutboxMessage)
_inbox = table(InboxMessage)
_dlv = table(NotificationDelivery)
_dig = table(NotificationDigest)
_u = table(User)

BACKOFF_MINUTES = (1, 5, 15, 60, 180, 360)
"""Wait before attempt n+1 (the last value repeats): quick for a blip, hours for an outage."""


def backoff(attempts: int) -> timedelta:
    return timedelta(minutes=BACKOFF_MINUTES[min(max(attempts, 1), len(BACKOFF_MINUTES)) - 1])


class Mailer(Protocol):
    def send(self, msg: Any) -> None: ...


AfterSend = Callable[[int], None]
"""Called with a delivery's id right after the server took it and before it is recorded."""


@dataclass
class DispatchReport:
    fanned_out: int = 0
    inbox_rows: int = 0
    deliveries: int = 0
    outbox_failed: int = 0
    sent: int = 0
    retrying: int = 0
    failed: int = 0
    uncertain: int = 0
    errors: list[str] = field(default_factory=list)

    def as_dict(self) -> dict[str, Any]:
        return {k: v for k, v in self.__dict__.items() if k != "errors"} | {"errors": self.errors[:5]}


# --- 1. fan-out ---------------------------------------------------------------------------------


def _fan_out_one(conn: Connection, outbox_id: int, *, now: datetime, tz: str, email: bool) -> tuple[int, int] | None:
    claimed = conn.execute(
        update(_outbox)
        .where(_outbox.c.id == outbox_id, _outbox.c.status == "pending")
        .values(status="done", processed_at=now, attempts=_outbox.c.attempts + 1)
    ).rowcount
    if claimed != 1:
        return None  # another dispatcher took it
    msg = conn.execute(select(_outbox).where(_outbox.c.id == outbox_id)).one()
    kind = kind_for(msg.kind)
    people = resolve(conn, subject=msg.subject, subject_id=msg.subject_id, audiences=msg.audiences, payload=msg.payload)
    if not people:
        return (0, 0)
    contexts = message_context.build(
        conn, kind=msg.kind, subject=msg.subject, subject_id=msg.subject_id, payload=msg.payload, tz=tz
    )
    choices = modes_for(conn, [p.user_id for p in people])
    inbox_rows = deliveries = 0
    for person in people:
        lang = normalise_lang(person.language)
        text = render(kind.template, lang, {**contexts[lang], "recipient": person.name})
        inbox_id = conn.execute(
            insert(_inbox).returning(_inbox.c.id),
            {
                "outbox_id": outbox_id,
                "user_id": person.user_id,
                "kind": msg.kind,
                "language": lang,
                "title": text.title[:300],
                "body": text.body,
                "subject": msg.subject,
                "subject_id": msg.subject_id,
                "created_at": now,
                "read_at": None,
            },
        ).scalar_one()
        inbox_rows += 1
        mode = mode_of(choices.get(person.user_id, {}), msg.kind)
        if email and mode in ("immediate", "digest"):
            conn.execute(
                insert(_dlv),
                {
                    "inbox_id": inbox_id,
                    "user_id": person.user_id,
                    "channel": "email" if mode == "immediate" else "digest",
                    "status": "pending",
                    "attempts": 0,
                    "next_attempt_at": now,
                    "created_at": now,
                },
            )
            deliveries += 1
    return inbox_rows, deliveries


def fan_out(
    engine: Engine, *, now: datetime, tz: str, email: bool, max_attempts: int = 8, limit: int = 1000
) -> DispatchReport:
    """Turn pending outbox rows into inbox rows and e-mail deliveries. Idempotent."""
    report = DispatchReport()
    with engine.connect() as conn:
        ids = list(
            conn.execute(
                select(_outbox.c.id)
                .where(_outbox.c.status == "pending", _outbox.c.next_attempt_at <= now)
                .order_by(_outbox.c.id)
                .limit(limit)
            ).scalars()
        )
    for outbox_id in ids:
        try:
            with engine.begin() as conn:
                done = _fan_out_one(conn, outbox_id, now=now, tz=tz, email=email)
        except Exception as exc:  # any failure: the transaction rolled back; record it and retry later
            report.outbox_failed += 1
            report.errors.append(f"outbox {outbox_id}: {exc!r}")
            with engine.begin() as conn:
                attempts = conn.execute(select(_outbox.c.attempts).where(_outbox.c.id == outbox_id)).scalar_one() + 1
                conn.execute(
                    update(_outbox)
                    .where(_outbox.c.id == outbox_id)
                    .values(
                        attempts=attempts,
                        last_error=repr(exc)[:2000],
                        next_attempt_at=now + backoff(attempts),
                        # 'failed' stays visible to the office; it is still retried, just rarely
                        status="failed" if attempts >= max_attempts else "pending",
                    )
                )
            continue
        if done is not None:
            report.fanned_out += 1
            report.inbox_rows += done[0]
            report.deliveries += done[1]
    return report


# --- 2. sending, at most once ---------------------------------------------------------------------


def recover_stale(engine: Engine, *, now: datetime, lease: timedelta) -> int:
    """Claims older than the lease belong to a process that died mid-send: possibly sent."""
    note = "the sender stopped after claiming this e-mail; it may have been sent, so it is not resent by itself"
    with engine.begin() as conn:
        n = conn.execute(
            update(_dlv)
            .where(_dlv.c.status == "sending", _dlv.c.claimed_at < now - lease)
            .values(status="uncertain", last_error=note)
        ).rowcount
        conn.execute(
            update(_dig)
            .where(_dig.c.status == "sending", _dig.c.claimed_at < now - lease)
            .values(status="uncertain", last_error=note)
        )
    return int(n or 0)


def _claim(conn: Connection, delivery_id: int, now: datetime) -> bool:
    return (
        conn.execute(
            update(_dlv)
            .where(_dlv.c.id == delivery_id, _dlv.c.status == "pending")
            .values(status="sending", claimed_at=now, attempts=_dlv.c.attempts + 1)
        ).rowcount
        == 1
    )


def _refused(conn: Connection, ids: list[int], *, now: datetime, error: str, max_attempts: int) -> int:
    """Record a refusal the server answered: retry with backoff, or 'failed' after the last attempt."""
    failed = 0
    for delivery_id, attempts in conn.execute(select(_dlv.c.id, _dlv.c.attempts).where(_dlv.c.id.in_(ids))).all():
        last = attempts >= max_attempts
        failed += last
        conn.execute(
            update(_dlv)
            .where(_dlv.c.id == delivery_id)
            .values(
                status="failed" if last else "pending",
                next_attempt_at=now + backoff(attempts),
                last_error=error[:2000],
                digest_id=None,
            )
        )
    return failed


def send_emails(
    engine: Engine,
    *,
    now: datetime,
    smtp: SmtpConfig,
    mailer: Mailer,
    lease: timedelta,
    max_attempts: int = 8,
    after_send: AfterSend | None = None,
    limit: int = 500,
) -> DispatchReport:
    """Send due immediate e-mails, each claimed before and recorded after it is sent."""
    report = DispatchReport(uncertain=recover_stale(engine, now=now, lease=lease))
    with engine.connect() as conn:
        rows = conn.execute(
            select(_dlv.c.id, _inbox.c.title, _inbox.c.body, _inbox.c.language, _u.c.name, _u.c.email)
            .select_from(_dlv.join(_inbox, _dlv.c.inbox_id == _inbox.c.id).join(_u, _dlv.c.user_id == _u.c.id))
            .where(_dlv.c.channel == "email", _dlv.c.status == "pending", _dlv.c.next_attempt_at <= now)
            .order_by(_dlv.c.id)
            .limit(limit)
        ).all()
    for row in rows:
        with engine.begin() as conn:
            if not _claim(conn, row.id, now):
                continue  # another sender has it
        message_id = f"grantflow.delivery.{row.id}"
        msg = compose(
            smtp, to_name=row.name, to_email=row.email, lang=row.language, title=row.title, body=row.body,
            message_id=message_id,
        )  # fmt: skip
        try:
            mailer.send(msg)
        except NotSent as exc:
            with engine.begin() as conn:
                report.failed += _refused(conn, [row.id], now=now, error=str(exc), max_attempts=max_attempts)
            report.retrying += 1
            report.errors.append(f"delivery {row.id}: {exc}")
            if isinstance(exc, CannotConnect):
                break  # the server is unreachable: the rest wait for the next run
            continue
        except MaybeSent as exc:
            with engine.begin() as conn:
                conn.execute(update(_dlv).where(_dlv.c.id == row.id).values(status="uncertain", last_error=str(exc)))
            report.uncertain += 1
            continue
        if after_send is not None:
            after_send(row.id)
        with engine.begin() as conn:
            conn.execute(
                update(_dlv).where(_dlv.c.id == row.id).values(status="sent", sent_at=now, message_id=message_id)
            )
        report.sent += 1
    return report


def send_digests(
    engine: Engine,
    *,
    now: datetime,
    tz: str,
    smtp: SmtpConfig,
    mailer: Mailer,
    lease: timedelta,
    max_attempts: int = 8,
    after_send: AfterSend | None = None,
) -> DispatchReport:
    """One digest e-mail per user and local day, with the same claim-send-record protocol."""
    report = DispatchReport(uncertain=recover_stale(engine, now=now, lease=lease))
    day = now.astimezone(ZoneInfo(tz)).date().isoformat()
    pending = (_dlv.c.channel == "digest", _dlv.c.status == "pending", _dlv.c.next_attempt_at <= now)
    with engine.connect() as conn:
        users = list(conn.execute(select(_dlv.c.user_id).where(*pending).distinct().order_by(_dlv.c.user_id)).scalars())
    for user_id in users:
        with engine.begin() as conn:
            if not insert_ignoring_duplicates(
                conn, _dig, [{"user_id": user_id, "day": day, "status": "sending", "claimed_at": now}]
            ):
                continue  # today's digest for this user exists (sent, or being sent elsewhere)
            digest_id = conn.execute(select(_dig.c.id).where(_dig.c.user_id == user_id, _dig.c.day == day)).scalar_one()
            conn.execute(
                update(_dlv)
                .where(_dlv.c.user_id == user_id, *pending)
                .values(status="sending", claimed_at=now, digest_id=digest_id, attempts=_dlv.c.attempts + 1)
            )
            ids = list(conn.execute(select(_dlv.c.id).where(_dlv.c.digest_id == digest_id)).scalars())
            items = conn.execute(
                select(_inbox.c.title, _inbox.c.body)
                .select_from(_dlv.join(_inbox, _dlv.c.inbox_id == _inbox.c.id))
                .where(_dlv.c.digest_id == digest_id)
                .order_by(_inbox.c.created_at, _inbox.c.id)
            ).all()
            person = conn.execute(select(_u.c.name, _u.c.email, _u.c.language).where(_u.c.id == user_id)).one()
        lang = normalise_lang(person.language)
        text = render(
            DIGEST_TEMPLATE,
            lang,
            {"recipient": person.name, "day": day, "items": [{"title": i.title, "body": i.body} for i in items]},
        )
        message_id = f"grantflow.digest.{digest_id}"
        msg = compose(
            smtp, to_name=person.name, to_email=person.email, lang=lang, title=text.title, body=text.body,
            message_id=message_id,
        )  # fmt: skip
        try:
            mailer.send(msg)
        except NotSent as exc:
            with engine.begin() as conn:
                # nothing left: free the day so the next run can try again
                conn.execute(update(_dlv).where(_dlv.c.digest_id == digest_id).values(digest_id=None))
                conn.execute(delete(_dig).where(_dig.c.id == digest_id))
                report.failed += _refused(conn, ids, now=now, error=str(exc), max_attempts=max_attempts)
            report.retrying += 1
            report.errors.append(f"digest for user {user_id}: {exc}")
            if isinstance(exc, CannotConnect):
                break
            continue
        except MaybeSent as exc:
            with engine.begin() as conn:
                conn.execute(update(_dig).where(_dig.c.id == digest_id).values(status="uncertain", last_error=str(exc)))
                conn.execute(update(_dlv).where(_dlv.c.digest_id == digest_id).values(status="uncertain"))
            report.uncertain += 1
            continue
        if after_send is not None:
            after_send(digest_id)
        with engine.begin() as conn:
            conn.execute(
                update(_dig).where(_dig.c.id == digest_id).values(status="sent", sent_at=now, message_id=message_id)
            )
            conn.execute(
                update(_dlv)
                .where(_dlv.c.digest_id == digest_id)
                .values(status="sent", sent_at=now, message_id=message_id)
            )
        report.sent += 1
    return report


# --- the office's view and hand --------------------------------------------------------------------


def problems(conn: Connection, *, limit: int = 200) -> list[dict[str, Any]]:
    """Deliveries and outbox rows that need a look: failed, retrying, or possibly sent."""
    out: list[dict[str, Any]] = []
    for r in conn.execute(
        select(_dlv.c.id, _dlv.c.status, _dlv.c.attempts, _dlv.c.last_error, _dlv.c.channel, _u.c.email, _inbox.c.title)
        .select_from(_dlv.join(_inbox, _dlv.c.inbox_id == _inbox.c.id).join(_u, _dlv.c.user_id == _u.c.id))
        .where(or_(_dlv.c.status.in_(("failed", "uncertain")), (_dlv.c.status == "pending") & (_dlv.c.attempts > 0)))
        .order_by(_dlv.c.id.desc())
        .limit(limit)
    ):
        out.append({"what": "delivery", **r._asdict()})
    for r in conn.execute(
        select(_outbox.c.id, _outbox.c.status, _outbox.c.attempts, _outbox.c.last_error, _outbox.c.kind)
        .where(or_(_outbox.c.status == "failed", (_outbox.c.status == "pending") & (_outbox.c.attempts > 0)))
        .order_by(_outbox.c.id.desc())
        .limit(limit)
    ):
        out.append({"what": "outbox", **r._asdict()})
    return out


def resend(conn: Connection, *, delivery_id: int, actor: Actor, now: datetime) -> bool:
    """The office's decision to send a failed or possibly-sent e-mail again.

    Refused for anyone else (``states.permissions.may_resend``: the page and the CLI ask the same
    function); recorded in the audit trail on the message's subject, with who decided.
    """
    if not may_resend(actor):
        raise Forbidden([RESEND_FORBIDDEN])
    queued = (
        conn.execute(
            update(_dlv)
            .where(_dlv.c.id == delivery_id, _dlv.c.status.in_(("failed", "uncertain")))
            .values(status="pending", next_attempt_at=now, digest_id=None, last_error=None)
        ).rowcount
        == 1
    )
    about = conn.execute(
        select(_inbox.c.subject, _inbox.c.subject_id, _dlv.c.user_id)
        .select_from(_dlv.join(_inbox, _dlv.c.inbox_id == _inbox.c.id))
        .where(_dlv.c.id == delivery_id)
    ).one_or_none()
    if queued and about is not None and about.subject_id is not None:
        audit.note(
            conn,
            subject=about.subject,
            subject_id=about.subject_id,
            actor=actor,
            action="email_resent",
            payload={"delivery": delivery_id, "recipient": about.user_id},
            now=now,
        )
    return queued
