"""Time one reminder-and-deadline sweep over many projects (SQLite file, WAL).

    python bench/sweep.py                     # 20,000 projects (and 2,000 for comparison)
    python bench/sweep.py --projects 100000   # the target size

Three databases are built: A) projects/10 with due dates spread over a year; B) projects with
due dates spread over a year (10x the items due); C) projects, of which only projects/10 have
dates in that year and the rest years later (A's items due, B's projects). The sweep reads
ranges of the ``due_items(status, due_at)`` index only, so C should take about A's time and
B about ten times that: time follows the items due, not the projects.

Each database gets a warm-up sweep the day before (it marks the backlog of everything
already past) and then the measured sweep: the steady state of a sweep that runs daily.
The projects are bulk-inserted in state ``in_execution`` as fixture data (driving 100,000
projects through the engine would take minutes and measures the engine, not the sweep).
Ends with one JSON line of figures and targets.
"""

from __future__ import annotations

import argparse
import json
import os
import random
import resource
import sys
import tempfile
import time
import tracemalloc
from datetime import UTC, datetime, timedelta
from pathlib import Path

sys.path.insert(0, str(Path(__file__).resolve().parent.parent))

from sqlalchemy import Engine, func, insert, select

from grantflow.config import Settings, reset_settings
from grantflow.db.models import DueItem, Organisation, OutboxMessage, Programme, Project, table
from grantflow.db.session import make_engine
from grantflow.flows.sweep import full_sweep
from grantflow.services.bootstrap import init_database
from grantflow.states.enums import Category, OrgKind, SelectionMode

START = datetime(2026, 1, 1, 1, 0, tzinfo=UTC)
SWEEP_AT = START + timedelta(days=180, hours=8)  # mid-year, 08:00 UTC
TARGET_SECONDS = 2.0
TARGET_MB = 300.0


def build(path: Path, *, projects: int, in_year: int, seed: int = 7) -> Engine:
    """``projects`` projects in execution, each with one report due; ``in_year`` of them this year."""
    engine = make_engine(f"sqlite:///{path}")
    init_database(engine, demo=True)
    rng = random.Random(seed)
    with engine.begin() as conn:
        programme = conn.execute(select(Programme.id).where(Programme.code == 7)).scalar_one()
        units = list(
            conn.execute(select(Organisation.id).where(Organisation.kind == OrgKind.UNDERTAKING_UNIT)).scalars()
        )
        batch = 20_000
        for first in range(0, projects, batch):
            ids = range(first + 1, min(first + batch, projects) + 1)
            conn.execute(
                insert(table(Project)),
                [
                    {
                        "id": i, "code": f"B{i:07d}", "title": f"bench {i}", "programme_id": programme,
                        "undertaking_unit_id": units[i % len(units)], "category": Category.SUPPORTED,
                        "selection_mode": SelectionMode.MERIT, "workflow": "standard", "state": "in_execution",
                        "version": 1, "state_entered_at": START, "created_at": START,
                    }
                    for i in ids
                ],
            )  # fmt: skip
            rows = []
            for i in ids:
                # this year: spread over 365 days; the rest: two to three years later
                offset = rng.uniform(0, 365) + (0 if i <= in_year else rng.uniform(730, 1095))
                rows.append(
                    {
                        "key": f"bench:{i}", "kind": "report", "subject": "project", "subject_id": i,
                        "form_key": "progress_report", "due_at": START + timedelta(days=offset), "status": "open",
                        "created_at": START,
                    }
                )  # fmt: skip
            conn.execute(insert(table(DueItem)), rows)
    with engine.connect() as conn:
        conn.exec_driver_sql("ANALYZE")
    return engine


def measure(engine: Engine, path: Path, settings: Settings) -> dict[str, float | int]:
    full_sweep(engine, now=SWEEP_AT - timedelta(days=1), settings=settings)  # warm-up: the backlog
    engine.dispose()
    # the same sweep on a copy, traced for its heap peak (tracemalloc slows Python ~8x, so not timed)
    copy = path.with_suffix(".copy.db")
    with make_engine(f"sqlite:///{path}").connect() as conn:
        conn.exec_driver_sql(f"VACUUM INTO '{copy}'")
    traced = make_engine(f"sqlite:///{copy}")
    tracemalloc.start()
    full_sweep(traced, now=SWEEP_AT, settings=settings)
    peak_heap = tracemalloc.get_traced_memory()[1] / 2**20
    tracemalloc.stop()
    traced.dispose()
    with engine.connect() as conn:
        before = conn.execute(select(func.count()).select_from(table(OutboxMessage))).scalar_one()
    t0 = time.perf_counter()
    report = full_sweep(engine, now=SWEEP_AT, settings=settings)
    seconds = time.perf_counter() - t0
    with engine.connect() as conn:
        after = conn.execute(select(func.count()).select_from(table(OutboxMessage))).scalar_one()
    return {
        "seconds": round(seconds, 4),
        "sweep_heap_peak_mb": round(peak_heap, 1),
        "rows_touched": report.rows_touched,
        "items_scanned": report.items_scanned,
        "items_overdue": report.items_overdue,
        "messages": after - before,
    }


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    parser.add_argument("--projects", type=int, default=20_000, help="projects in the big databases (B and C)")
    parser.add_argument("--keep", action="store_true", help="keep the database files (printed)")
    args = parser.parse_args()
    n, small = args.projects, max(args.projects // 10, 1)
    settings = Settings(_env_file=None)  # type: ignore[call-arg]
    out = Path(tempfile.mkdtemp(prefix="grantflow-bench-"))
    # the audit key and anchors stay with the scratch databases, never in the user's GRANTFLOW_HOME
    os.environ["GRANTFLOW_AUDIT_KEY_FILE"] = str(out / "audit.key")
    os.environ["GRANTFLOW_AUDIT_ANCHOR_FILE"] = str(out / "audit-anchors.jsonl")
    reset_settings()
    cases = {
        "A_small": (small, small),
        "B_large": (n, n),
        "C_large_same_due": (n, small),
    }
    results: dict[str, dict[str, float | int]] = {}
    for name, (projects, in_year) in cases.items():
        t0 = time.perf_counter()
        engine = build(out / f"{name}.db", projects=projects, in_year=in_year)
        built = time.perf_counter() - t0
        print(f"{name}: built {projects:,} projects ({in_year:,} with dates this year) in {built:.1f} s")
        r = measure(engine, out / f"{name}.db", settings)
        engine.dispose()
        results[name] = {"projects": projects, **r}
        print(
            f"{name}: sweep {r['seconds']:.3f} s, {r['rows_touched']:,} rows touched "
            f"({r['items_scanned']:,} items looked at, {r['items_overdue']:,} newly overdue, "
            f"{r['messages']:,} messages), heap peak {r['sweep_heap_peak_mb']} MB"
        )
    peak_rss = resource.getrusage(resource.RUSAGE_SELF).ru_maxrss / 1024  # KiB on Linux
    a, b, c = (results[k]["seconds"] for k in cases)
    print(f"process peak RSS (building included): {peak_rss:.0f} MB")
    print(f"C/A (10x projects, same items due): {c / a:.2f}x;  B/A (10x items due): {b / a:.2f}x")
    if not args.keep:
        for f in out.glob("*"):
            f.unlink()
        out.rmdir()
    else:
        print(f"databases kept in {out}")
    biggest = max(results.values(), key=lambda r: (r["projects"], r["seconds"]))
    print(
        json.dumps(
            {
                "bench": "sweep",
                "database": "sqlite",
                "projects": n,
                "cases": results,
                "seconds": biggest["seconds"],
                "peak_mb": round(peak_rss, 1),
                "rows_touched": biggest["rows_touched"],
                "ratio_same_due_vs_small": round(c / a, 2),
                "ratio_10x_due_vs_small": round(b / a, 2),
                "targets": {"seconds": TARGET_SECONDS, "peak_mb": TARGET_MB, "projects": 100_000},
                "met": biggest["seconds"] < TARGET_SECONDS and peak_rss < TARGET_MB,
            }
        )
    )


if __name__ == "__main__":
    main()
