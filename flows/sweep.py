"""The sweeps the scheduled flows run, composed from ``services.sweep`` (where the queries live).

Prefect wraps these (``flows.prefect_flows``); the CLI and the tests call them directly.
Running any of them twice for the same ``now`` changes nothing the second time.
"""

from __future__ import annotations

from datetime import datetime

from sqlalchemy import Engine

from grantflow.config import Settings
from grantflow.services.sweep import SweepReport, mark_overdue, reconcile, remind, sweep_calls, sync_assignments
from grantflow.states.permissions import SYSTEM, Actor

__all__ = ["SweepReport", "deadline_sweep", "full_sweep", "reconcile", "reminder_sweep"]


def deadline_sweep(engine: Engine, *, now: datetime, settings: Settings, actor: Actor = SYSTEM) -> SweepReport:
    """Calls and bids at their times, then due items past their date marked."""
    return sweep_calls(engine, now=now, actor=actor).merge(mark_overdue(engine, now=now))


def reminder_sweep(engine: Engine, *, now: datetime, settings: Settings) -> SweepReport:
    """Assignments turned into due items, then reminders, overdue notices and escalations."""
    report = SweepReport(assignments_added=sync_assignments(engine, now=now, review_days=settings.review_days))
    # items that passed their date since the last deadline sweep get their overdue notice now
    report.merge(mark_overdue(engine, now=now))
    return report.merge(
        remind(engine, now=now, offsets_days=settings.reminder_offsets_days, escalation_days=settings.escalation_days)
    )


def full_sweep(engine: Engine, *, now: datetime, settings: Settings) -> SweepReport:
    """One reminder-and-deadline sweep: what ``bench/sweep.py`` times."""
    return deadline_sweep(engine, now=now, settings=settings).merge(reminder_sweep(engine, now=now, settings=settings))
