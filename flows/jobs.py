"""One function per flow: what it does, given an engine, ``now``, the settings and the actor.

These are the bodies the Prefect flows run, and what ``grantflow flows run NAME`` calls
directly when no Prefect server is configured. The actor is the scheduler (``SYSTEM``)
carrying the channel it runs through: a Prefect flow run (its id) or a run by hand.
"""

from __future__ import annotations

from collections.abc import Callable
from datetime import datetime, timedelta
from typing import Any

from sqlalchemy import Engine

from grantflow.config import Settings
from grantflow.db import audit
from grantflow.flows import sweep
from grantflow.notifications import dispatch
from grantflow.notifications.mailer import SmtpConfig, session
from grantflow.services import sessions, throttle
from grantflow.states.permissions import SYSTEM, Actor

Job = Callable[[Engine, datetime, Settings, Actor], dict[str, Any]]


def deadlines(engine: Engine, now: datetime, settings: Settings, actor: Actor = SYSTEM) -> dict[str, Any]:
    return sweep.deadline_sweep(engine, now=now, settings=settings, actor=actor).as_dict()


def reminders(engine: Engine, now: datetime, settings: Settings, actor: Actor = SYSTEM) -> dict[str, Any]:
    return sweep.reminder_sweep(engine, now=now, settings=settings).as_dict()


def fan_out(engine: Engine, now: datetime, settings: Settings, actor: Actor = SYSTEM) -> dict[str, Any]:
    smtp = SmtpConfig.from_settings(settings)
    return dispatch.fan_out(
        engine, now=now, tz=settings.timezone, email=smtp is not None, max_attempts=settings.notify_max_attempts
    ).as_dict()


def send_emails(engine: Engine, now: datetime, settings: Settings, actor: Actor = SYSTEM) -> dict[str, Any]:
    smtp = SmtpConfig.from_settings(settings)
    if smtp is None:
        return {"sent": 0, "note": "no SMTP host configured: in-app inbox only"}
    with session(smtp) as mailer:
        return dispatch.send_emails(
            engine,
            now=now,
            smtp=smtp,
            mailer=mailer,
            lease=timedelta(seconds=settings.notify_lease_s),
            max_attempts=settings.notify_max_attempts,
        ).as_dict()


def send_digests(engine: Engine, now: datetime, settings: Settings, actor: Actor = SYSTEM) -> dict[str, Any]:
    smtp = SmtpConfig.from_settings(settings)
    if smtp is None:
        return {"sent": 0, "note": "no SMTP host configured: in-app inbox only"}
    with session(smtp) as mailer:
        return dispatch.send_digests(
            engine,
            now=now,
            tz=settings.timezone,
            smtp=smtp,
            mailer=mailer,
            lease=timedelta(seconds=settings.notify_lease_s),
            max_attempts=settings.notify_max_attempts,
        ).as_dict()


def housekeeping(engine: Engine, now: datetime, settings: Settings, actor: Actor = SYSTEM) -> dict[str, Any]:
    """Close due items whose work was done, forget ended sign-ins and old throttling attempts, then
    anchor the audit chain's head outside the database (daily, with the flow's schedule; see
    docs/audit.md)."""
    lifetimes = sessions.Lifetimes(
        max_age=timedelta(seconds=settings.session_max_age_s), idle=timedelta(seconds=settings.session_idle_s)
    )
    longest_window = timedelta(seconds=max(settings.signin_window_s, settings.needs_window_s))
    with engine.begin() as conn:
        ended = sessions.purge_expired(conn, now=now, lifetimes=lifetimes)
        forgotten = throttle.purge(conn, now=now, older_than=longest_window)
    closed = sweep.reconcile(engine, now=now)
    with engine.connect() as conn:
        head = audit.anchor(conn, now=now, path=settings.audit_anchor_path)
    return {
        "items_closed": closed,
        "sessions_ended": ended,
        "attempts_forgotten": forgotten,
        "anchored": {"event_id": head.event_id, "hash": head.hash},
    }


def publisher(kind: str) -> Job:
    """The last completed period's disclosure of ``kind`` for every launched programme, and the
    earlier ones it still owes (exactly once each)."""

    def publish(engine: Engine, now: datetime, settings: Settings, actor: Actor = SYSTEM) -> dict[str, Any]:
        from grantflow.reports.publish import publish_due

        return publish_due(engine, settings, kind=kind, now=now, actor=actor)

    publish.__name__ = f"publish_{kind}"
    return publish


def publish_reports(engine: Engine, now: datetime, settings: Settings, actor: Actor = SYSTEM) -> dict[str, Any]:
    from grantflow.reports.publish import publish_reports as run

    return run(engine, settings, now=now, actor=actor)


def submit_documents(engine: Engine, now: datetime, settings: Settings, actor: Actor = SYSTEM) -> dict[str, Any]:
    from grantflow.reports.submit import submit_pending

    if not settings.strs_endpoint:
        return {"sent": 0, "note": "no S&T reporting system endpoint configured"}
    return submit_pending(engine, settings, now=now).as_dict()


STEPS: dict[str, list[tuple[str, Job]]] = {
    "deadlines": [("deadlines", deadlines), ("fan-out", fan_out), ("send-emails", send_emails)],
    "reminders": [("reminders", reminders), ("fan-out", fan_out), ("send-emails", send_emails)],
    "dispatch": [("fan-out", fan_out), ("send-emails", send_emails)],
    "digest": [("fan-out", fan_out), ("send-digests", send_digests)],
    "housekeeping": [("housekeeping", housekeeping)],
    "publish-establishment": [("publish", publisher("establishment")), ("submit", submit_documents)],
    "publish-progress": [("publish", publisher("progress")), ("submit", submit_documents)],
    "publish-adjustments": [("publish", publisher("adjustments")), ("submit", submit_documents)],
    "publish-evaluations": [("publish", publisher("evaluations")), ("submit", submit_documents)],
    "publish-reports": [("check-and-publish", publish_reports), ("submit", submit_documents)],
    "publish-submit": [("submit", submit_documents)],
}
"""Each flow as its steps (one Prefect task each): a sweep also delivers what it wrote, so a
reminder does not wait for the next dispatch run."""

SCHEDULE_SETTING = {
    "deadlines": "schedule_deadlines",
    "reminders": "schedule_reminders",
    "dispatch": "schedule_dispatch",
    "digest": "schedule_digest",
    "housekeeping": "schedule_housekeeping",
    "publish-establishment": "schedule_publish_establishment",
    "publish-progress": "schedule_publish_progress",
    "publish-adjustments": "schedule_publish_adjustments",
    "publish-evaluations": "schedule_publish_evaluations",
    "publish-reports": "schedule_publish_reports",
    "publish-submit": "schedule_publish_submit",
}


def run(name: str, engine: Engine, now: datetime, settings: Settings, actor: Actor = SYSTEM) -> dict[str, Any]:
    """Run a flow's steps in order without Prefect; returns each step's report."""
    if name not in STEPS:
        raise KeyError(f"unknown flow {name!r}; known: {', '.join(STEPS)}")
    return {step: job(engine, now, settings, actor) for step, job in STEPS[name]}
