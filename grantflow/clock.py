"""Where "now" comes from.

Every deadline, opening time, complaint window and audit timestamp is decided against this
clock. In production it is the system clock, and nothing a user passes (a command-line flag,
an environment variable, a form field, a flow parameter) can move it: there is deliberately no
setting for it. Only code running in the same process can install another clock, with
``use_clock``: the demo (a story that spans years in seconds), the tests, and a simulation of
a flow against a scratch copy of the database (``grantflow flows run --at … --scratch``).
"""

from __future__ import annotations

from collections.abc import Iterator
from contextlib import contextmanager
from dataclasses import dataclass
from datetime import UTC, datetime, timedelta
from typing import Protocol


class Clock(Protocol):
    def now(self) -> datetime:
        """The current moment, timezone-aware (UTC)."""
        ...


class SystemClock:
    """The machine's clock: what production reads."""

    def now(self) -> datetime:
        return datetime.now(UTC)


@dataclass
class SimulatedClock:
    """A clock that stands still until moved: the demo and the tests step it forward by hand."""

    moment: datetime

    def __post_init__(self) -> None:
        if self.moment.tzinfo is None:
            raise ValueError("a simulated clock needs a timezone-aware moment")

    def now(self) -> datetime:
        return self.moment

    def set(self, moment: datetime) -> datetime:
        if moment.tzinfo is None:
            raise ValueError("a simulated clock needs a timezone-aware moment")
        self.moment = moment
        return moment

    def advance(self, **delta: float) -> datetime:
        """Move forward by ``timedelta(**delta)``; returns the new moment."""
        self.moment = self.moment + timedelta(**delta)
        return self.moment


SYSTEM_CLOCK = SystemClock()
_current: Clock = SYSTEM_CLOCK


def get_clock() -> Clock:
    return _current


def now() -> datetime:
    """The current moment from the installed clock (the system clock unless a simulation runs)."""
    return _current.now()


def is_simulated() -> bool:
    return _current is not SYSTEM_CLOCK


@contextmanager
def use_clock(clock: Clock) -> Iterator[Clock]:
    """Install ``clock`` for this process until the block ends (demo, tests, scratch simulations)."""
    global _current
    previous = _current
    _current = clock
    try:
        yield clock
    finally:
        _current = previous


__all__ = ["SYSTEM_CLOCK", "Clock", "SimulatedClock", "SystemClock", "get_clock", "is_simulated", "now", "use_clock"]
