"""Schedules from configuration, and the flows as deployments (served locally or on a work pool)."""

from __future__ import annotations

import re
from collections.abc import Iterable
from datetime import timedelta
from typing import Any

from prefect.schedules import Cron, Interval, Schedule

from grantflow.config import Settings
from grantflow.flows.jobs import SCHEDULE_SETTING

_EVERY = re.compile(r"^every\s+(\d+)\s*(s|sec|secs|seconds?|m|min|minutes?)$", re.IGNORECASE)

DEPLOYMENT_NAME = "grantflow"


def schedule_for(expression: str, tz: str) -> Schedule:
    """A cron expression in ``tz`` (``0 8 * * *``), or an interval (``every 30 seconds``, ``every 5 min``)."""
    m = _EVERY.match(expression.strip())
    if m:
        amount = int(m.group(1))
        seconds = amount if m.group(2).lower().startswith("s") else amount * 60
        return Interval(timedelta(seconds=seconds), timezone=tz)
    return Cron(expression.strip(), timezone=tz)


def schedules(settings: Settings, names: Iterable[str]) -> dict[str, Schedule]:
    return {n: schedule_for(getattr(settings, SCHEDULE_SETTING[n]), settings.timezone) for n in names}


def selected(only: Iterable[str] | None) -> list[str]:
    from grantflow.flows.prefect_flows import FLOWS

    names = list(only or FLOWS)
    unknown = [n for n in names if n not in FLOWS]
    if unknown:
        raise KeyError(f"unknown flow(s): {', '.join(unknown)}; known: {', '.join(FLOWS)}")
    return names


def local_deployments(settings: Settings, only: Iterable[str] | None = None) -> list[Any]:
    """Runner deployments for ``prefect.serve`` in this process (the embedded default)."""
    from grantflow.flows.prefect_flows import FLOWS

    names = selected(only)
    return [
        FLOWS[n].to_deployment(name=DEPLOYMENT_NAME, schedule=s, description=FLOWS[n].description)
        for n, s in schedules(settings, names).items()
    ]
