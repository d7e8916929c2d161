"""Time the office overview and full CSV and XLSX exports over many projects (SQLite file, WAL).

    python bench/overview.py                      # 5,000 projects
    python bench/overview.py --projects 100000    # the target size

The database is filled with bulk inserts as fixture data (driving 100,000 projects through the
engine would measure the engine, not the overview): projects spread over the twelve programmes
and the standard lifecycle's states, three targets each with results, two budget lines and a
spending line each, programme targets with weights, start events (on time or late), suspensions,
resumptions and terminations in the audit log, overdue reports and complaints.

Measured: the whole overview (every summary table, the first rows and row counts of the detail
tables), best of three after a warm-up; then the project register (one row per project, the
biggest table) exported as CSV and as XLSX, for one programme and for all of them, each timed
and measured for peak Python memory (tracemalloc, in a separate run from the timing) and the
process's resident memory while it ran. Streaming means the peak does not grow with the rows:
the full export's peak is compared with one programme's. Ends with one JSON line.
"""

from __future__ import annotations

import argparse
import json
import random
import sys
import tempfile
import threading
import time
import tracemalloc
from collections import deque
from collections.abc import Callable
from datetime import UTC, date, datetime, timedelta
from pathlib import Path
from typing import Any

sys.path.insert(0, str(Path(__file__).resolve().parent.parent))

from sqlalchemy import Engine, insert, select

from grantflow.db.audit import chain_of
from grantflow.db.models import (
    Adjustment,
    AuditEvent,
    BudgetLine,
    Complaint,
    DueItem,
    Organisation,
    Programme,
    Project,
    Spending,
    Target,
    TargetResult,
    User,
    table,
)
from grantflow.db.session import make_engine
from grantflow.db.workflows import get_registry
from grantflow.services.actors import actor_for
from grantflow.services.bootstrap import init_database
from grantflow.services.exports import write_csv, write_xlsx
from grantflow.services.overview import Scope, build_overview, table_stream
from grantflow.states.adjustments import KIND_LABELS as ADJUSTMENT_KINDS
from grantflow.states.enums import Category, FundingSource, OrgKind, SelectionMode, SupportMode
from grantflow.states.overview import START_TRIGGER

NOW = datetime(2026, 9, 1, 2, 0, tzinfo=UTC)
TARGET_OVERVIEW_S = 1.0
TARGET_PEAK_MB = 300.0
BATCH = 20_000
KINDS = ["standard", "ip", "talent", "paper", "product", "revenue"]
MODES = {
    Category.ORGANISED: [SupportMode.DIRECT_COMMISSION, SupportMode.TENDER],
    Category.SUPPORTED: [SupportMode.COMPETITIVE, SupportMode.PROCUREMENT, SupportMode.DEMONSTRATION],
    Category.ENCOURAGED: [SupportMode.POST_SUBSIDY, SupportMode.EQUITY_INVESTMENT, SupportMode.COMMON_PLATFORM],
}


def started_states() -> set[str]:
    """States a project can only be in after it started: reachable from where the start trigger leads."""
    wf = get_registry().get("standard")
    first = {t.dest for t in wf.transitions if t.trigger == START_TRIGGER}
    seen, queue = set(first), deque(first)
    while queue:
        state = queue.popleft()
        for t in wf.transitions:
            if t.source == state and t.dest not in seen:
                seen.add(t.dest)
                queue.append(t.dest)
    return seen


def _flush(conn: Any, model: Any, rows: list[dict[str, Any]]) -> None:
    if rows:
        conn.execute(insert(table(model)), rows)
        rows.clear()


def build(path: Path, *, projects: int, seed: int = 11) -> Engine:
    engine = make_engine(f"sqlite:///{path}")
    init_database(engine, demo=True)
    rng = random.Random(seed)
    wf = get_registry().get("standard")
    states = list(wf.states)
    after_start = started_states()
    with engine.begin() as conn:
        programmes = list(conn.execute(select(Programme.id).order_by(Programme.code)).scalars())
        applicant = conn.execute(select(User.id).where(User.email == "pi@jinghua.example.com")).scalar_one()
        units = [
            int(conn.execute(
                insert(table(Organisation)).returning(table(Organisation).c.id),
                {"name": f"承担单位{u:04d}", "kind": OrgKind.UNDERTAKING_UNIT, "email_domains": [], "created_at": NOW},
            ).scalar_one())
            for u in range(300)
        ]  # fmt: skip
        # each programme's own targets, weighted
        conn.execute(
            insert(table(Target)),
            [
                {
                    "programme_id": p, "project_id": None, "kind": k, "description": k, "position": i,
                    "planned_hundredths": 100 * (projects // 10 + 1) * (1_000_000 if k == "revenue" else 1),
                    "achieved_hundredths": 0, "weight_hundredths": 100 * (10 + 5 * i), "created_at": NOW,
                }
                for p in programmes
                for i, k in enumerate(KINDS[:4])
            ],
        )  # fmt: skip
        buffers: dict[Any, list[dict[str, Any]]] = {
            m: [] for m in (Project, AuditEvent, Target, BudgetLine, Spending, DueItem, Complaint, Adjustment)
        }
        target_id = 10_000
        places: dict[int, int] = {}
        results: list[dict[str, Any]] = []
        for i in range(1, projects + 1):
            prog = programmes[i % len(programmes)]
            category = rng.choice(list(MODES))
            state = rng.choice(states)
            planned_start = NOW - timedelta(days=rng.randint(30, 900))
            buffers[Project].append(
                {
                    "id": i, "code": f"B{i:07d}", "title": f"基准项目 {i}", "programme_id": prog,
                    "undertaking_unit_id": units[i % len(units)], "principal_investigator_id": applicant,
                    "category": category, "selection_mode": SelectionMode.MERIT, "workflow": "standard",
                    "state": state, "version": 1, "state_entered_at": NOW, "created_at": planned_start,
                    "start_date": planned_start,
                }
            )  # fmt: skip
            event = {"subject": "project", "subject_id": i, "actor_id": None, "actor_name": "bench", "payload": {},
                     "payload_digest": "0" * 64, "prev_hash": "0" * 64, "hash": "0" * 64, "key_id": "bench",
                     "channel": "code"}  # fmt: skip
            chain = chain_of(i)  # the events are only read here, never verified: placed, not hashed
            places[chain] = places.get(chain, 0) + 1
            buffers[AuditEvent].append(
                {**event, "action": "create", "created_at": planned_start - timedelta(days=60), "chain": chain,
                 "seq": places[chain]}
            )  # fmt: skip
            if state in after_start:
                late = timedelta(days=rng.choice([3, 20, 40, 200]))
                places[chain] += 1
                buffers[AuditEvent].append(
                    {**event, "action": START_TRIGGER, "created_at": planned_start + late, "chain": chain,
                     "seq": places[chain]}
                )  # fmt: skip
                for n, kind in enumerate(rng.sample(KINDS, 3), start=1):
                    target_id += 1
                    planned = rng.randint(1, 20) * (100_000 if kind == "revenue" else 1)
                    achieved = rng.randint(0, planned)
                    buffers[Target].append(
                        {
                            "id": target_id, "programme_id": prog, "project_id": i, "kind": kind, "description": kind,
                            "planned_hundredths": planned * 100, "achieved_hundredths": achieved * 100,
                            "weight_hundredths": None if n > 2 else 5000, "position": n, "created_at": NOW,
                        }
                    )  # fmt: skip
                    results.append(
                        {"target_id": target_id, "project_id": i, "form_key": "midterm_report", "period": 0,
                         "value_hundredths": achieved * 100, "reported_at": NOW}
                    )  # fmt: skip
                for source, mode in (
                    (FundingSource.MUNICIPAL_BUDGET, rng.choice(MODES[category])),
                    (rng.choice([FundingSource.OWN_FUNDS, FundingSource.PRIVATE_CAPITAL]), None),
                ):
                    buffers[BudgetLine].append(
                        {"project_id": i, "programme_id": prog, "source": source, "support_mode": mode,
                         "amount_fen": rng.randint(10_000, 5_000_000) * 100, "position": 1, "created_at": NOW}
                    )  # fmt: skip
                buffers[Spending].append(
                    {"project_id": i, "programme_id": prog, "source": FundingSource.MUNICIPAL_BUDGET,
                     "form_key": "midterm_report", "period": 0, "amount_fen": rng.randint(0, 1_000_000) * 100,
                     "reported_at": NOW}
                )  # fmt: skip
                if rng.random() < 0.05:
                    for kind in rng.sample(list(ADJUSTMENT_KINDS), rng.randint(1, 3)):
                        applied = NOW - timedelta(days=9)
                        buffers[Adjustment].append(
                            {"project_id": i, "programme_id": prog, "kind": kind, "initiator": "applicant",
                             "form_version": 1, "draft": {}, "draft_errors": [], "major": False,
                             "applied_at": applied, "state": "applied", "version": 5,
                             "state_entered_at": applied, "created_at": applied - timedelta(days=30)}
                        )  # fmt: skip
                if rng.random() < 0.05:
                    buffers[DueItem].append(
                        {"key": f"bench:{i}", "kind": "report", "subject": "project", "subject_id": i,
                         "form_key": "midterm_report", "due_at": NOW - timedelta(days=rng.randint(1, 90)),
                         "status": "overdue", "created_at": NOW}
                    )  # fmt: skip
            if i % BATCH == 0 or i == projects:
                for model in (Project, AuditEvent, Target, BudgetLine, Spending, DueItem, Adjustment):
                    _flush(conn, model, buffers[model])
                _flush(conn, TargetResult, results)
        # a complaint needs the decision it appeals: the 'create' events stand in for it in the fixture
        events = conn.execute(
            select(table(AuditEvent).c.id, table(AuditEvent).c.subject_id)
            .where(table(AuditEvent).c.action == "create", table(AuditEvent).c.subject == "project")
            .limit(max(1, projects // 100))
        ).all()
        conn.execute(
            insert(table(Complaint)),
            [
                {"project_id": pid, "decision": "reject", "decision_event_id": eid, "complainant_id": applicant,
                 "grounds": "=1+1 bench", "filed_at": NOW, "answered_at": NOW if eid % 2 else None}
                for eid, pid in events
            ],
        )  # fmt: skip
    with engine.connect() as conn:
        conn.exec_driver_sql("ANALYZE")
    return engine


class RssSampler:
    """The process's resident memory, sampled every 20 ms while a step runs (its peak, in MB)."""

    def __init__(self) -> None:
        self.peak = 0.0
        self._stop = threading.Event()
        self._thread = threading.Thread(target=self._run, daemon=True)

    @staticmethod
    def now_mb() -> float:
        with open("/proc/self/statm") as fh:
            pages = int(fh.read().split()[1])
        return pages * 4096 / 1e6

    def _run(self) -> None:
        while not self._stop.is_set():
            self.peak = max(self.peak, self.now_mb())
            time.sleep(0.02)

    def __enter__(self) -> RssSampler:
        self.peak = self.now_mb()
        self._thread.start()
        return self

    def __exit__(self, *exc: object) -> None:
        self._stop.set()
        self._thread.join()
        self.peak = max(self.peak, self.now_mb())


def measure(step: Callable[[], object]) -> dict[str, float]:
    """Time a step, then run it again under tracemalloc for its peak Python memory."""
    with RssSampler() as rss:
        start = time.perf_counter()
        step()
        seconds = time.perf_counter() - start
    tracemalloc.start()
    step()
    _, peak = tracemalloc.get_traced_memory()
    tracemalloc.stop()
    return {"seconds": round(seconds, 3), "peak_mb": round(peak / 1e6, 2), "rss_peak_mb": round(rss.peak, 1)}


def main(argv: list[str] | None = None) -> int:
    parser = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    parser.add_argument("--projects", type=int, default=5_000)
    args = parser.parse_args(argv)
    with tempfile.TemporaryDirectory(prefix="grantflow-bench-") as tmp:
        folder = Path(tmp)
        t0 = time.perf_counter()
        engine = build(folder / "overview.db", projects=args.projects)
        print(f"built {args.projects:,} projects in {time.perf_counter() - t0:.1f} s")
        with engine.connect() as conn:
            office = actor_for(conn, email="office@kw.example.cn")
            one = conn.execute(select(Programme.id).where(Programme.code == 5)).scalar_one()
        scope = Scope(lang="zh", now=NOW, zone="Asia/Shanghai")

        def overview() -> None:
            with engine.connect() as conn:
                build_overview(conn, actor=office, scope=scope)

        overview()  # warm-up: the first read pulls the file into the page cache
        runs = []
        for _ in range(3):
            start = time.perf_counter()
            overview()
            runs.append(time.perf_counter() - start)
        overview_s = min(runs)
        print(f"overview: {overview_s:.3f} s (best of 3; runs {', '.join(f'{r:.3f}' for r in runs)})")

        def export(fmt: str, programme: int | None) -> Callable[[], None]:
            target = folder / f"projects-{programme}.{fmt}"
            sc = Scope(lang="zh", now=NOW, zone="Asia/Shanghai", programme_id=programme)

            def run() -> None:
                with engine.connect() as conn:
                    columns, rows = table_stream(conn, "projects", actor=office, scope=sc)
                    if fmt == "csv":
                        with target.open("wb") as fh:
                            write_csv(columns, rows, fh, lang="zh")
                    else:
                        write_xlsx(columns, rows, target, lang="zh", title="项目一览")

            return run

        figures: dict[str, Any] = {}
        for fmt in ("csv", "xlsx"):
            for label, programme in (("one_programme", one), ("all", None)):
                m = measure(export(fmt, programme))
                size = (folder / f"projects-{programme}.{fmt}").stat().st_size
                figures[f"{fmt}_{label}"] = {**m, "bytes": size}
                print(
                    f"{fmt} export, {label.replace('_', ' ')}: {m['seconds']:.2f} s, "
                    f"peak {m['peak_mb']:.1f} MB (tracemalloc), RSS peak {m['rss_peak_mb']:.0f} MB, {size:,} bytes"
                )
    peaks = [figures[k]["peak_mb"] for k in figures]
    rss = [figures[k]["rss_peak_mb"] for k in figures]
    growth = {
        fmt: round(figures[f"{fmt}_all"]["peak_mb"] / max(figures[f"{fmt}_one_programme"]["peak_mb"], 0.01), 2)
        for fmt in ("csv", "xlsx")
    }
    ok = overview_s < TARGET_OVERVIEW_S and max(peaks) < TARGET_PEAK_MB and max(rss) < TARGET_PEAK_MB
    print(f"peak growth from one programme (1/12 of the rows) to all: {growth}")
    print(
        json.dumps(
            {
                "bench": "overview",
                "projects": args.projects,
                "date": date.today().isoformat(),
                "overview_s": round(overview_s, 3),
                "exports": figures,
                "peak_growth_all_vs_one_programme": growth,
                "targets": {"overview_s": TARGET_OVERVIEW_S, "export_peak_mb": TARGET_PEAK_MB},
                "ok": ok,
            },
            ensure_ascii=False,
        )
    )
    return 0


if __name__ == "__main__":
    sys.exit(main())
