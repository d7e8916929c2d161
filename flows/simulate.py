"""Run a flow "as of" another moment, never against the real database.

``grantflow flows run NAME --at T`` answers "what would this flow do at T?". Acting at T on the
real database would write audit events dated T (back-dated or in the future) and open calls or
sealed bids before their time, so a simulation runs on a copy instead:

- ``--dry-run``: a throwaway copy in a temporary directory, deleted afterwards (nothing kept);
- ``--scratch PATH``: a copy at PATH that is kept (made on first use, reused afterwards, so a
  sequence of moments can be stepped through); it is refused if PATH is the real database.

The copy is taken with SQLite's online backup (consistent while others write). In a
simulation no e-mail is sent (SMTP is switched off) and an anchor the housekeeping flow writes
goes to a log beside the copy, never to the real anchor log. Events carry the channel
``flow`` with a detail naming the simulation. PostgreSQL: restore a backup into a database of
its own and run grantflow against it with its own configuration.
"""

from __future__ import annotations

import sqlite3
import tempfile
from dataclasses import dataclass
from datetime import datetime
from pathlib import Path
from typing import Any

from sqlalchemy import make_url

from grantflow.clock import SimulatedClock, use_clock
from grantflow.config import Settings
from grantflow.db.session import make_engine
from grantflow.flows import jobs
from grantflow.states.channels import Channel, ChannelKind
from grantflow.states.errors import GrantflowError
from grantflow.states.permissions import SYSTEM
from grantflow.states.text import Text


class SimulationRefused(GrantflowError):
    code = "simulation_refused"


AT_NEEDS_COPY = Text(
    "--at 只能用于模拟：请加 --dry-run（在临时副本上运行，不保留任何数据）或 --scratch 路径（在数据库副本上运行）；"
    "定时任务在真实数据库上只按当前时间运行",
    "--at only simulates: add --dry-run (runs on a throwaway copy, nothing is kept) or --scratch PATH "
    "(runs on a copy of the database); on the real database a flow runs at the current time only",
)


def sqlite_file(url: str) -> Path | None:
    """The file of a SQLite URL; None for any other database."""
    parsed = make_url(url)
    if parsed.get_backend_name() != "sqlite" or not parsed.database or parsed.database == ":memory:":
        return None
    return Path(parsed.database).expanduser().resolve()


def copy_database(source: Path, target: Path) -> None:
    """A consistent copy of a live SQLite database (the online backup API, safe under WAL)."""
    target.parent.mkdir(parents=True, exist_ok=True)
    with sqlite3.connect(source) as src, sqlite3.connect(target) as dst:
        src.backup(dst)
    src.close()
    dst.close()


@dataclass(frozen=True)
class Simulation:
    report: dict[str, Any]
    database: Path | None
    """The scratch copy kept, or None after a dry run (its copy is deleted)."""


def simulate(name: str, settings: Settings, *, at: datetime, scratch: Path | None, dry_run: bool) -> Simulation:
    """Run flow ``name`` at ``at`` on a copy of the configured SQLite database."""
    if name not in jobs.STEPS:
        raise KeyError(f"unknown flow {name!r}; known: {', '.join(jobs.STEPS)}")
    if dry_run == (scratch is not None):
        raise SimulationRefused(
            Text("请在 --dry-run 与 --scratch 之间二选一", "choose one of --dry-run and --scratch")
            if dry_run
            else AT_NEEDS_COPY
        )
    real = sqlite_file(settings.url)
    if real is None:
        raise SimulationRefused(
            Text(
                "模拟运行需要 SQLite 数据库的副本；PostgreSQL 请将备份恢复到单独的数据库后再运行",
                "a simulation copies a SQLite database; for PostgreSQL restore a backup into a database "
                "of its own and run grantflow against that",
            )
        )
    if dry_run:
        with tempfile.TemporaryDirectory(prefix="grantflow-dry-run-") as tmp:
            copy = Path(tmp) / "grantflow.db"
            copy_database(real, copy)
            return Simulation(_run(name, settings, at, copy, "dry run"), None)
    assert scratch is not None
    target = scratch.expanduser().resolve()
    if target == real:
        raise SimulationRefused(
            Text(
                f"{target} 是真实数据库，不能用作模拟副本",
                f"{target} is the real database, not a scratch copy",
            )
        )
    if not target.exists():
        copy_database(real, target)
    return Simulation(_run(name, settings, at, target, f"scratch copy {target.name}"), target)


def _run(name: str, settings: Settings, at: datetime, copy: Path, what: str) -> dict[str, Any]:
    scratch_settings = settings.model_copy(
        update={
            "database_url": f"sqlite:///{copy}",
            "smtp_host": None,  # a simulation sends no e-mail
            "audit_anchor_file": copy.with_name(copy.name + ".anchors.jsonl"),
        }
    )
    actor = SYSTEM.via(Channel(ChannelKind.FLOW, f"flows run --at {at.isoformat()} ({what})"))
    engine = make_engine(scratch_settings.url, busy_timeout_ms=settings.sqlite_busy_timeout_ms)
    try:
        # code deeper down that reads the clock sees the simulated moment, not the machine's
        with use_clock(SimulatedClock(at)):
            return jobs.run(name, engine, at, scratch_settings, actor)
    finally:
        engine.dispose()
