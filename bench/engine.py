"""How fast does the engine apply transitions, against what the database itself can do?

    python bench/engine.py                      # 10,000 projects in SQLite
    python bench/engine.py --projects 50000     # bigger
    python bench/engine.py --postgres postgresql+psycopg://user@host/db   # also PostgreSQL
    python bench/engine.py --postgres --processes 4   # also PostgreSQL (a throwaway server), 1/2/4 processes

Engine: N projects stored in a fresh SQLite file (WAL, synchronous=NORMAL, foreign keys, busy
timeout: ``db.session.make_engine``), each fired twice (``suspend`` then ``resume``: a
permission check, a guard, an effect column, a required payload field, an outbox row) through
``db.apply.fire``, one committed transaction per transition, exactly as a web request does.

Raw: the physical limit. Plain ``sqlite3`` on a second file of the same schema, pragmas and
rows, running the same statements per transition with no rules: read the joined row,
versioned update, read the head of the project's audit chain and a new event id, insert the
audit event with its keyed chain hash (HMAC-SHA256, channel, key id and place included), update
the chain's head, insert the outbox row, commit.
The two take turns every 500 transitions, so a busy machine slows both alike instead of
skewing their ratio. ``--dir /dev/shm`` puts
the files in memory, leaving only CPU: the hardest case for the ratio.

Memory: the engine again with ``tracemalloc`` on, over a tenth of the projects and then over
all of them; the peak must not grow with the number of projects touched (a design that kept a
state machine or a row per project would).

Concurrent (``--postgres --processes N``): spawned worker processes, each with its own engine,
fire through ``db.apply.fire`` at once: 1, 2, 4... N processes on disjoint projects (each its
own; throughput, p50/p99 latency per fire; scaling of 4 over 1, target ≥ 1.6 on two cores),
then N processes on the same few projects (Conflict and refusals counted). Afterwards every
project's audit events must follow one another, and their number and the project's version
must equal the fires that succeeded: lost 0, doubled 0. Without a URL (``--postgres`` alone, or
no ``--database-url``) a throwaway server is started as the tests start theirs (tests/pg.py),
with fsync off: the figures are the engine's, not the disk's.

Ends with one JSON line: the figures and the targets (ratio ≥ 0.45, memory not growing; with
``--processes``: scaling ≥ 1.6, lost 0, doubled 0).

Measured on this 2-core machine with nothing else running, throwaway PostgreSQL 15 (fsync off):
SQLite engine 1,650 transitions/s against 3,338 raw (ratio 0.49); PostgreSQL 719 against 1,056
(0.68); concurrent, 4,000 fires per process: 1 process 603/s, 2 processes 1,094/s, 4 processes
1,006/s (1.67x one; the backends wait on CPU and on their clients, 5% on a lock), shared
projects 6,901 done of 16,000 attempts with 5,720 conflicts, lost 0, doubled 0. Runs of 1,000
fires (under two seconds each) scatter between 1.2x and 1.8x. Before the audit log became
several chains (one head row for every writer), 4 processes reached 0.5-0.9x one, their
backends waiting on that row's lock 80-90% of the time.

Later, on a host whose CPU speed drifted by tens of percent within minutes (one pass of 1, 2 and
4 processes gave 1.93x and another 3.13x, depending on which count ran in a slow minute), the
counts take turns over rounds (order rotated) and each count's figure is its median round; and a
transition's update and audit-head read became one statement (6 round trips instead of 7). Two
runs, 3 rounds of 4,000 fires a process: 1 process 390 and 366/s, 2 processes 1,173 and 969/s,
4 processes 693 and 732/s: 1.78x and 2.00x; shared projects lost 0, doubled 0. A lone writer is
slow on that host (1.2-1.6 ms of client CPU a fire against 0.9-1.1 for each of two: its vCPU
idles between statements and pays for waking), and 4 writers run 25-40% below 2 (4 clients and 4
backends switching on 2 cores).
"""

from __future__ import annotations

import argparse
import gc
import hashlib
import hmac
import json
import os
import resource
import secrets
import sqlite3
import statistics
import sys
import tempfile
import time
import tracemalloc
from collections.abc import Callable, Iterable, Iterator, Sequence
from contextlib import contextmanager
from datetime import UTC, datetime
from pathlib import Path
from typing import Any

ROOT = Path(__file__).resolve().parent.parent
if str(ROOT) not in sys.path:  # `python bench/engine.py` from a clone without `pip install -e .`
    sys.path.insert(0, str(ROOT))

from sqlalchemy import Engine, func, insert, make_url, select, text  # noqa: E402

from grantflow.config import reset_settings  # noqa: E402
from grantflow.db.apply import fire  # noqa: E402
from grantflow.db.audit import verify  # noqa: E402
from grantflow.db.models import AuditEvent, Organisation, Programme, Project, table  # noqa: E402
from grantflow.db.session import make_engine  # noqa: E402
from grantflow.services.actors import actor_for  # noqa: E402
from grantflow.services.bootstrap import init_database  # noqa: E402
from grantflow.states.permissions import Actor, acting_for_adjustment  # noqa: E402

TARGET_RATIO = 0.45  # engine vs bare sqlite3 writes, the keyed audit hash included
MEMORY_SLACK = 1.25  # the peak over all projects may exceed the peak over a tenth by this factor…
MEMORY_SLACK_BYTES = 64 * 1024  # …plus this much (allocator noise), and no more
OFFICE = "office@kw.example.cn"  # a demo person applying adjustments: suspend and resume any project
NOW = datetime(2026, 11, 23, 2, 0, tzinfo=UTC)  # when the stored projects entered execution
WARMUP = 200  # default: extra projects fired first, untimed (caches, compiled statements, page cache)
CHUNK = 500  # engine and raw take turns every this many transitions
MEMORY_WARMUP_ROUNDS = 8  # suspend + resume of the warm-up projects: 3,200 traced transitions


def say(line: str) -> None:
    print(line, flush=True)


# --- the database both sides start from -------------------------------------------------------


def prepare(engine: Engine, projects: int) -> tuple[Actor, list[int]]:
    """Migrate, seed the demo people, insert ``projects`` projects in execution (not timed)."""
    init_database(engine, demo=True)
    with engine.begin() as conn:
        # suspension and resumption are what an applied adjustment request fires (states.adjustments)
        office = acting_for_adjustment(actor_for(conn, email=OFFICE))
        programme_id = conn.execute(select(Programme.id).where(Programme.code == 7)).scalar_one()
        unit_id = conn.execute(select(Organisation.id).order_by(Organisation.id)).scalars().first()
        projects_table = table(Project)
        batch = 5000
        for start in range(0, projects, batch):
            conn.execute(
                insert(projects_table),
                [
                    {
                        "code": f"BENCH-{i:07d}",
                        "title": f"基准项目 {i}",
                        "programme_id": programme_id,
                        "undertaking_unit_id": unit_id,
                        "category": "supported",
                        "selection_mode": "merit",
                        "workflow": "standard",
                        "state": "in_execution",
                        "version": 1,
                        "state_entered_at": NOW,
                        "created_at": NOW,
                    }
                    for i in range(start, min(start + batch, projects))
                ],
            )
        ids = list(
            conn.execute(
                select(projects_table.c.id).where(projects_table.c.code.like("BENCH-%")).order_by(projects_table.c.id)
            ).scalars()
        )
    return office, ids


# --- the engine ------------------------------------------------------------------------------------


def engine_pass(engine: Engine, office: Actor, ids: Sequence[int], trigger: str, label: str) -> float:
    """Fire ``trigger`` on every id, one transaction each; prints progress; returns seconds."""
    payload = {"reason": "基准测试 benchmark"} if trigger == "suspend" else {}
    step = max(len(ids) // 4, 1)
    start = time.perf_counter()
    for n, pid in enumerate(ids, 1):
        # no ``now``: the engine reads the clock, as it does for a request
        fire(engine, subject_id=pid, trigger=trigger, actor=office, payload=payload)
        if n % step == 0 and label:
            elapsed = time.perf_counter() - start
            say(f"  {label} {trigger:8s} {n:>8,} / {len(ids):,}  {n / elapsed:>9,.0f} transitions/s")
    return time.perf_counter() - start


# --- the physical limit ----------------------------------------------------------------------------

# The engine's statements, written out by hand (SQLAlchemy renders the same).
READ_ROW = """
SELECT p.id, p.state, p.version, p.workflow, p.undertaking_unit_id, g.organising_unit_id, p.category,
       p.selection_mode, c.opens_at, c.closes_at, c.state, coalesce(c.quorum, 3), p.suspended_from, p.accepted_at
FROM projects p JOIN programmes g ON p.programme_id = g.id LEFT OUTER JOIN calls c ON p.call_id = c.id
WHERE p.id = ?"""
UPDATE_ROW = (
    "UPDATE projects SET state = ?, version = ?, suspended_from = ?, state_entered_at = ? WHERE id = ? AND version = ?"
)
# the project's chain (as db.audit.chain_of) and a new event id, as the engine reads them
READ_HEAD = (
    "SELECT last_hash, last_seq, (SELECT coalesce(max(id), 0) + 1 FROM audit_events) FROM audit_head WHERE id = ?"
)
READ_HEAD_PG = "SELECT last_hash, last_seq, nextval('audit_event_ids') FROM audit_head WHERE id = ? FOR UPDATE"
INSERT_EVENT = (
    "INSERT INTO audit_events (id, subject, subject_id, actor_id, actor_name, action, from_state, to_state,"
    " payload, payload_digest, created_at, prev_hash, hash, channel, channel_detail, key_id, chain, seq)"
    " VALUES (?, ?, ?, ?, ?, ?, ?, ?, ?, ?, ?, ?, ?, ?, ?, ?, ?, ?)"
)
CHAINS = 64
RAW_KEY = secrets.token_bytes(32)  # the raw side keys its hashes too, with a key of its own
RAW_KEY_ID = hashlib.sha256(b"grantflow-audit-key:" + RAW_KEY).hexdigest()[:16]
WRITE_HEAD = "UPDATE audit_head SET last_event_id = ?, last_hash = ?, last_seq = ? WHERE id = ?"
INSERT_OUTBOX = (
    "INSERT INTO outbox (kind, subject, subject_id, audiences, payload, event_id, status, attempts,"
    " next_attempt_at, created_at) VALUES (?, ?, ?, ?, ?, ?, ?, ?, ?, ?)"
)


MOVES = {
    "suspend": ("in_execution", "suspended", {"reason": "基准测试 benchmark"}),
    "resume": ("suspended", "in_execution", {}),
}


def _canonical(value: Any) -> str:
    return json.dumps(value, sort_keys=True, ensure_ascii=False, separators=(",", ":"), default=str)


Stamp = Callable[[datetime], Any]


def sqlite_stamp(moment: datetime) -> str:
    """The text SQLAlchemy stores a SQLite datetime as (naive UTC, microseconds)."""
    return moment.replace(tzinfo=None).isoformat(sep=" ", timespec="microseconds")


def pg_stamp(moment: datetime) -> datetime:
    return moment.replace(tzinfo=None)


def raw_transition(
    cur: Any, commit: Callable[[], None], sql: dict[str, str], pid: int, moves: tuple[str, str, Any], stamp_of: Stamp
) -> None:
    """One transition with nothing but the driver: the same statements as the engine, and commit."""
    source, dest, payload = moves
    moment = datetime.now(UTC)
    stamp = stamp_of(moment)
    row = cur.execute(sql["read_row"], (pid,)).fetchone()
    version = row[2]
    assert row[1] == source
    suspended_from = source if dest == "suspended" else None
    cur.execute(sql["update_row"], (dest, version + 1, suspended_from, stamp, pid, version))
    assert cur.rowcount == 1
    chain = 1 + pid % CHAINS
    cur.execute(sql["read_head"], (chain,))
    prev, last_seq, new_id = cur.fetchone()
    seq = last_seq + 1
    text_payload = _canonical(payload)
    digest = hashlib.sha256(text_payload.encode()).hexdigest()
    iso = moment.replace(tzinfo=None).isoformat(timespec="microseconds")
    action = "suspend" if dest == "suspended" else "resume"
    fields = [new_id, "project", pid, 2, "李主任", action, source, dest, digest, iso, prev, "code", "", RAW_KEY_ID]
    h = hmac.new(RAW_KEY, _canonical({"e": [*fields, chain, seq]}).encode(), hashlib.sha256).hexdigest()
    cur.execute(
        sql["insert_event"],
        (
            *(new_id, "project", pid, 2, "李主任", action, source, dest, json.dumps(payload), digest, stamp),
            *(prev, h, "code", "", RAW_KEY_ID, chain, seq),
        ),
    )
    cur.execute(sql["write_head"], (new_id, h, seq, chain))
    body = json.dumps({"from": source, "to": dest, "actor": "李主任", "reason": payload.get("reason")})
    audiences = '["applicant","organiser"]'
    cur.execute(
        sql["insert_outbox"],
        (f"project.{action}", "project", pid, audiences, body, new_id, "pending", 0, stamp, stamp),
    )
    commit()


def raw_pass(
    cur: Any, commit: Callable[[], None], sql: dict[str, str], ids: Sequence[int], trigger: str, stamp: Stamp
) -> float:
    """The raw transitions for ``ids``; returns seconds."""
    move = MOVES[trigger]
    start = time.perf_counter()
    for pid in ids:
        raw_transition(cur, commit, sql, pid, move, stamp)
    return time.perf_counter() - start


class Raw:
    """The raw side's connection: a cursor, its commit, the SQL in the driver's placeholder style."""

    def __init__(self, cur: Any, commit: Callable[[], None], sql: dict[str, str], stamp: Stamp) -> None:
        self.cur, self.commit, self.sql, self.stamp = cur, commit, sql, stamp

    def run(self, ids: Sequence[int], trigger: str) -> float:
        return raw_pass(self.cur, self.commit, self.sql, ids, trigger, self.stamp)


def race(
    engine: Engine, office: Actor, ids: list[int], raw: Raw, raw_ids: list[int], label: str, warmup: int
) -> tuple[float, float]:
    """Engine and raw rates (transitions/s), measured in alternating chunks.

    The two sides take turns every ``CHUNK`` transitions, so both see the same machine: a
    busy neighbour slows both, instead of skewing the ratio towards whichever ran later.
    """
    for trigger in ("suspend", "resume"):
        engine_pass(engine, office, ids[:warmup], trigger, "")
        raw.run(raw_ids[:warmup], trigger)
    gc.collect()
    timed, raw_timed = ids[warmup:], raw_ids[warmup:]
    engine_s = raw_s = 0.0
    done = 0
    report_every = max(len(timed) // 2, CHUNK)
    for trigger in ("suspend", "resume"):
        for k in range(0, len(timed), CHUNK):
            engine_s += engine_pass(engine, office, timed[k : k + CHUNK], trigger, "")
            raw_s += raw.run(raw_timed[k : k + CHUNK], trigger)
            done += len(timed[k : k + CHUNK])
            if done % report_every < CHUNK:
                e, r = done / engine_s, done / raw_s
                say(f"  {label} {done:>8,} transitions each: engine {e:>7,.0f}/s  raw {r:>7,.0f}/s  ratio {e / r:.3f}")
    return done / engine_s, done / raw_s


def open_raw_sqlite(path: Path, busy_timeout_ms: int) -> tuple[sqlite3.Connection, Raw]:
    conn = sqlite3.connect(path, timeout=busy_timeout_ms / 1000)
    for pragma in ("journal_mode=WAL", "synchronous=NORMAL", "foreign_keys=ON", f"busy_timeout={busy_timeout_ms}"):
        conn.execute(f"PRAGMA {pragma}")
    sql = {
        "read_row": READ_ROW,
        "update_row": UPDATE_ROW,
        "read_head": READ_HEAD,
        "insert_event": INSERT_EVENT,
        "write_head": WRITE_HEAD,
        "insert_outbox": INSERT_OUTBOX,
    }
    return conn, Raw(conn.cursor(), conn.commit, sql, sqlite_stamp)


# --- memory ------------------------------------------------------------------------------------------


def memory(engine: Engine, office: Actor, warm: list[int], ids: list[int]) -> dict[str, Any]:
    """Peak traced memory firing on a tenth of the projects, then on all of them.

    Tracing starts with a warm-up of a few thousand transitions on the warm-up projects: the
    interpreter keeps up to 2,000 freed tuples (and floats, lists...) of each size for reuse,
    and tracemalloc counts them as allocated, so before they fill up every run looks as if
    it grew. After it, whatever grows is really held.
    """
    small = ids[: max(len(ids) // 10, 1)]
    rest = ids[len(small) :]
    gc.collect()
    tracemalloc.start()
    for _ in range(MEMORY_WARMUP_ROUNDS):
        for trigger in ("suspend", "resume"):
            engine_pass(engine, office, warm, trigger, "")
    # no gc.collect() here: a full collection empties those free lists again
    base = tracemalloc.get_traced_memory()[0]
    tracemalloc.reset_peak()
    engine_pass(engine, office, small, "suspend", "")
    peak_small = tracemalloc.get_traced_memory()[1] - base
    engine_pass(engine, office, rest, "suspend", "")
    current, peak = tracemalloc.get_traced_memory()
    tracemalloc.stop()
    peak_all = peak - base
    say(
        f"  memory: peak {peak_small / 1024:,.0f} KiB over {len(small):,} projects, "
        f"{peak_all / 1024:,.0f} KiB over {len(ids):,}; retained {(current - base) / 1024:,.0f} KiB"
    )
    return {
        "projects_small": len(small),
        "projects_all": len(ids),
        "tracemalloc_peak_small_kib": round(peak_small / 1024, 1),
        "tracemalloc_peak_all_kib": round(peak_all / 1024, 1),
        "tracemalloc_retained_kib": round((current - base) / 1024, 1),
        "not_growing": peak_all <= peak_small * MEMORY_SLACK + MEMORY_SLACK_BYTES,
    }


def max_rss_mib() -> float:
    return resource.getrusage(resource.RUSAGE_SELF).ru_maxrss / 1024  # kilobytes on Linux


# --- checks after the timed runs (not timed) --------------------------------------------------------


def check(engine: Engine, ids: Iterable[int]) -> None:
    with engine.connect() as conn:
        result = verify(conn)
        states = dict(
            conn.execute(
                select(Project.state, func.count()).where(Project.id.in_(list(ids))).group_by(Project.state)
            ).all()
        )
    if not result.ok:
        raise SystemExit(f"audit chain broken after the run: {result.problem}")
    say(f"  check: audit chain verified ({result.checked:,} events); project states {states}")


# --- PostgreSQL (optional) ---------------------------------------------------------------------------


def run_postgres(url: str, projects: int, warmup: int) -> dict[str, Any]:
    """The same engine and raw runs, each in a scratch database created on the given server."""
    import psycopg

    base = make_url(url)
    stem = f"grantflow_bench_{int(time.time())}"
    names = {"engine": f"{stem}_engine", "raw": f"{stem}_raw"}
    admin = make_engine(base.render_as_string(hide_password=False)).execution_options(isolation_level="AUTOCOMMIT")
    urls = {k: base.set(database=v).render_as_string(hide_password=False) for k, v in names.items()}
    try:
        with admin.connect() as conn:
            for name in names.values():
                conn.execute(text(f'CREATE DATABASE "{name}"'))
        say(f"PostgreSQL: {projects:,} projects, scratch databases {stem}_*")
        raw_engine = make_engine(urls["raw"])
        _, raw_ids = prepare(raw_engine, projects + warmup)
        raw_engine.dispose()
        engine = make_engine(urls["engine"])
        office, ids = prepare(engine, projects + warmup)
        sql = {
            "read_row": READ_ROW,
            "update_row": UPDATE_ROW,
            "read_head": READ_HEAD_PG,
            "insert_event": INSERT_EVENT,
            "write_head": WRITE_HEAD,
            "insert_outbox": INSERT_OUTBOX,
        }
        dsn = make_url(urls["raw"]).set(drivername="postgresql").render_as_string(hide_password=False)
        try:
            with psycopg.connect(dsn) as pg:
                pg_sql = {k: v.replace("?", "%s") for k, v in sql.items()}
                rate, raw = race(
                    engine, office, ids, Raw(pg.cursor(), pg.commit, pg_sql, pg_stamp), raw_ids, "pg", warmup
                )
            check(engine, ids)
        finally:
            engine.dispose()
    finally:
        with admin.connect() as conn:
            for name in names.values():
                conn.execute(text(f'DROP DATABASE IF EXISTS "{name}" WITH (FORCE)'))
        admin.dispose()
    say(f"PostgreSQL: engine {rate:,.0f}/s, raw {raw:,.0f}/s, ratio {rate / raw:.3f}")
    return {"transitions_per_s": round(rate), "raw_per_s": round(raw), "ratio": round(rate / raw, 3)}


# --- concurrent worker processes (PostgreSQL) ---------------------------------------------------

SCALING_TARGET = 1.6  # throughput of 4 processes over 1, on disjoint projects (a 2-core machine)
SHARED_PROJECTS = 3  # the few projects every process fires on in the contended run
WORKER_WARMUP = 20  # untimed fires of each worker on a project of its own before the timed start


def worker(
    url: str, ids: list[int], warm: int, fires: int, shared: bool, barrier: Any, results: Any, seed: int
) -> None:  # pragma: no cover - runs in a spawned process
    """One worker process: its own engine and connection pool, firing through ``db.apply.fire``.

    Disjoint: suspend then resume each of its own projects, ``fires`` transitions in all.
    Shared: ``fires`` attempts on the same few projects as every other worker; each attempt
    reads the project's state, asks for the move out of it, and counts what the engine says:
    done, Conflict (someone moved the version between its read and its write: nothing written),
    or refused (someone moved the state before its read: the trigger no longer applies).
    Before the start, untimed, it fires on its own warm-up project ``warm`` (imports, compiled
    statements, the pool's connection), so all start together and warm.
    """
    from grantflow.states.errors import Conflict, InvalidTrigger

    engine = make_engine(url)
    with engine.connect() as conn:
        office = acting_for_adjustment(actor_for(conn, email=OFFICE))
    done: dict[int, int] = dict.fromkeys(ids, 0)
    for n in range(WORKER_WARMUP):
        trigger = "suspend" if n % 2 == 0 else "resume"
        fire(engine, subject_id=warm, trigger=trigger, actor=office, payload={"reason": "预热 warm-up"})
    done[warm] = WORKER_WARMUP
    latencies: list[float] = []
    conflicts = refused = 0
    barrier.wait()
    start, cpu = time.monotonic(), time.process_time()
    for n in range(fires):
        if shared:
            pid = ids[(n + seed) % len(ids)]
            with engine.connect() as conn:
                state = conn.execute(select(Project.state).where(Project.id == pid)).scalar_one()
            trigger = "suspend" if state == "in_execution" else "resume"
        else:
            pid = ids[(n // 2) % len(ids)]
            trigger = "suspend" if n % 2 == 0 else "resume"
        payload = {"reason": "并发基准 benchmark"} if trigger == "suspend" else {}
        t0 = time.monotonic()
        try:
            fire(engine, subject_id=pid, trigger=trigger, actor=office, payload=payload)
        except Conflict:
            conflicts += 1
        except InvalidTrigger:
            refused += 1
        else:
            done[pid] += 1
        latencies.append(time.monotonic() - t0)
    end, cpu = time.monotonic(), time.process_time() - cpu
    engine.dispose()
    timed = sum(done.values()) - WORKER_WARMUP
    results.put(
        {
            **{"start": start, "end": end, "done": done, "timed": timed, "latencies": latencies},
            **{"conflicts": conflicts, "refused": refused, "cpu_s": cpu},
        }
    )


def collect(url: str, results: Any, expected: int) -> tuple[list[dict[str, Any]], dict[str, float]]:
    """The workers' reports, sampling meanwhile what the server's busy backends wait for
    (``pg_stat_activity``): a row or transaction lock (``Lock``: the audit head row, a project
    row) or nothing (running, or the client: ``Client``)."""
    import queue

    monitor = make_engine(url)
    seen: dict[str, int] = {}
    reports: list[dict[str, Any]] = []
    deadline = time.monotonic() + 600
    with monitor.connect() as conn:
        while len(reports) < expected:
            if time.monotonic() > deadline:
                raise SystemExit("the worker processes did not finish in 10 minutes")
            try:
                reports.append(results.get(timeout=0.05))
                continue
            except queue.Empty:
                pass
            rows = conn.execute(
                text(
                    "SELECT coalesce(wait_event_type, 'CPU') FROM pg_stat_activity "
                    "WHERE datname = current_database() AND pid <> pg_backend_pid() AND state LIKE 'active%'"
                )
            ).scalars()
            for kind in rows:
                seen[kind] = seen.get(kind, 0) + 1
            conn.rollback()  # each sample its own snapshot
    monitor.dispose()
    total = sum(seen.values()) or 1
    return reports, {kind: round(n / total, 3) for kind, n in sorted(seen.items())}


def run_processes(
    url: str, ids: list[int], warm: list[int], processes: int, fires: int, shared: bool
) -> dict[str, Any]:
    """``processes`` spawned workers firing at once (disjoint slices of ``ids``, or all of them on
    ``ids``); ``warm`` holds a warm-up project for each."""
    import multiprocessing

    ctx = multiprocessing.get_context("spawn")  # fresh interpreters: no engine or connection inherited
    barrier = ctx.Barrier(processes)
    results = ctx.Queue()
    per = len(ids) // processes
    slices = [ids if shared else ids[k * per : (k + 1) * per] for k in range(processes)]
    # the worker by an importable name: a spawned child cannot import this file as the test loads it
    from bench.engine import worker as target

    procs = [
        ctx.Process(target=target, args=(url, slices[k], warm[k], fires, shared, barrier, results, k))
        for k in range(processes)
    ]
    for proc in procs:
        proc.start()
    reports, waits = collect(url, results, len(procs))
    for proc in procs:
        proc.join(timeout=60)
        if proc.exitcode != 0:
            raise SystemExit(f"a worker process failed (exit code {proc.exitcode})")
    latencies = sorted(x for r in reports for x in r["latencies"])
    done: dict[int, int] = {}
    for r in reports:
        for pid, n in r["done"].items():
            done[int(pid)] = done.get(int(pid), 0) + n
    successes = sum(r["timed"] for r in reports)
    seconds = max(r["end"] for r in reports) - min(r["start"] for r in reports)

    def pct(q: float) -> float:
        return latencies[min(int(q * len(latencies)), len(latencies) - 1)] * 1000

    return {
        "processes": processes,
        "fires": successes,
        "attempts": len(latencies),
        "seconds": round(seconds, 3),
        "per_s": round(successes / seconds, 1),
        "p50_ms": round(pct(0.50), 2),
        "p99_ms": round(pct(0.99), 2),
        "conflicts": sum(r["conflicts"] for r in reports),
        "refused": sum(r["refused"] for r in reports),
        # the workers' own CPU (Python, the driver) per attempt: what more processes can spread over the cores
        "client_cpu_ms_per_fire": round(sum(r["cpu_s"] for r in reports) / len(latencies) * 1000, 2),
        # share of sampled busy backends by what they waited on (Lock: a row lock held by another fire)
        "server_waits": waits,
        "done": done,
    }


def check_histories(engine: Engine, done: dict[int, int]) -> tuple[int, int]:
    """(lost, doubled): each project's audit events follow one another (each leaves the state the
    previous one entered), and their number and the project's version both equal the fires its
    workers saw succeed. Also verifies the whole log (every chain's places, links and hashes)."""
    lost = doubled = 0
    with engine.connect() as conn:
        result = verify(conn)
        if not result.ok:
            raise SystemExit(f"audit chain broken after the concurrent run: {result.problem}")
        # two reads in all (not two a project: a run of tens of thousands of projects)
        histories: dict[int, list[tuple[str | None, str | None]]] = {}
        for pid, source, dest in conn.execute(
            select(AuditEvent.subject_id, AuditEvent.from_state, AuditEvent.to_state)
            .where(AuditEvent.subject == "project")
            .order_by(AuditEvent.subject_id, AuditEvent.seq)
        ):
            histories.setdefault(pid, []).append((source, dest))
        stored = {
            pid: (state, version)
            for pid, state, version in conn.execute(select(Project.id, Project.state, Project.version))
        }
    for pid, succeeded in done.items():
        events = histories.get(pid, [])
        state, version = stored[pid]
        expected = "in_execution"
        broken = 0
        for source, dest in events:
            if source != expected:  # a transition from a state the project was not in: applied twice
                broken += 1
            expected = dest
        recorded = version - 1  # each transition adds one to the version
        missing = max(succeeded - len(events), succeeded - recorded, int(expected != state), 0)
        lost += missing
        doubled += max(len(events) - succeeded, recorded - succeeded, broken, 0)
    return lost, doubled


def process_counts(most: int) -> list[int]:
    counts = [1]
    while counts[-1] * 2 <= most:
        counts.append(counts[-1] * 2)
    return counts if counts[-1] == most else [*counts, most]


def turns(counts: Sequence[int], rounds: int) -> list[int]:
    """The runs in the order they are made: every count once a round, the round's order rotated
    (1, 2, 4 / 2, 4, 1 / 4, 1, 2), so a machine that speeds up or slows down during the bench
    (a shared host's CPU does, by tens of percent within minutes) touches every count alike."""
    return [counts[(r + k) % len(counts)] for r in range(rounds) for k in range(len(counts))]


def run_concurrency(url: str, most: int, fires: int, rounds: int = 3) -> dict[str, Any]:
    """Throughput with 1, 2, 4... worker processes on disjoint projects, taking turns over
    ``rounds`` rounds (each count's figure is its median round), then all of them on the same few
    projects; every history checked afterwards. One scratch database on the server."""
    from grantflow.db.audit import current_key

    base = make_url(url)
    name = f"grantflow_bench_{int(time.time())}_concurrent"
    admin = make_engine(base.render_as_string(hide_password=False)).execution_options(isolation_level="AUTOCOMMIT")
    scratch = base.set(database=name).render_as_string(hide_password=False)
    counts = process_counts(most)
    per_process = max(fires // 2, 1)  # each project suspended then resumed
    order = turns(counts, rounds)
    with admin.connect() as conn:
        conn.execute(text(f'CREATE DATABASE "{name}"'))
    try:
        engine = make_engine(scratch)
        current_key(create=True)  # made once here, not raced for by the workers
        # each count has its projects (and a warm-up project a worker), used again every round:
        # suspend then resume leaves them in execution, ready for the next
        _, ids = prepare(engine, sum(counts) * per_process + SHARED_PROJECTS + sum(counts) + most)
        warm_ids, ids = ids[: sum(counts) + most], ids[sum(counts) + most :]
        projects_of: dict[int, tuple[list[int], list[int]]] = {}
        offset = 0
        for n in counts:
            projects_of[n] = (ids[offset : offset + n * per_process], warm_ids[:n])
            offset += n * per_process
            warm_ids = warm_ids[n:]
        load = os.getloadavg()[0]
        say(
            f"concurrent: worker processes (spawned) firing through db.apply.fire; {fires} fires per process and "
            f"run; counts {counts} taking turns over {rounds} rounds; {os.cpu_count()} cores, load average "
            f"{load:.1f} (others' work shares them)"
        )
        by_count: dict[int, list[dict[str, Any]]] = {n: [] for n in counts}
        done: dict[int, int] = {}
        for i, n in enumerate(order):
            mine, warm = projects_of[n]
            run = run_processes(scratch, mine, warm, n, 2 * per_process, shared=False)
            for pid, k in run.pop("done").items():
                done[pid] = done.get(pid, 0) + k
            by_count[n].append(run)
            say(
                f"  round {i // len(counts) + 1}, disjoint {n} process{'es' if n > 1 else ''}: "
                f"{run['per_s']:>8,.0f} fires/s  p50 {run['p50_ms']:.1f} ms  p99 {run['p99_ms']:.1f} ms  "
                f"conflicts {run['conflicts']}  client CPU {run['client_cpu_ms_per_fire']:.2f} ms/fire  "
                f"busy backends wait on {run['server_waits']}"
            )
        shared_ids = ids[offset : offset + SHARED_PROJECTS]
        contended = run_processes(scratch, shared_ids, warm_ids[:most], most, fires, shared=True)
        shared_done = contended.pop("done")
        say(
            f"  shared {most} processes on {len(shared_ids)} projects: {contended['fires']} done of "
            f"{contended['attempts']} attempts, {contended['conflicts']} Conflict, {contended['refused']} refused "
            f"(state moved first); p99 {contended['p99_ms']:.1f} ms"
        )
        lost, doubled = check_histories(engine, {**done, **shared_done})
        engine.dispose()
    finally:
        with admin.connect() as conn:
            conn.execute(text(f'DROP DATABASE IF EXISTS "{name}" WITH (FORCE)'))
        admin.dispose()
    # each count's median round (by throughput) stands for it
    runs = [sorted(by_count[n], key=lambda r: r["per_s"])[len(by_count[n]) // 2] for n in counts]
    per_round = {n: [r["per_s"] for r in by_count[n]] for n in counts}
    top = 4 if 4 in by_count else counts[-1]
    scaling = statistics.median(per_round[top]) / statistics.median(per_round[1])
    for n in counts:
        say(f"  disjoint {n}: median {statistics.median(per_round[n]):,.0f} fires/s of rounds {per_round[n]}")
    say(
        f"  check: every history consecutive; lost {lost}, doubled {doubled}; "
        f"scaling {top} vs 1 process: {scaling:.2f}x, medians of {rounds} rounds (target ≥ {SCALING_TARGET} for 4)"
    )
    return {
        "fires_per_process": 2 * per_process,
        "rounds": rounds,
        "disjoint": runs,
        "disjoint_per_s_by_round": {str(n): v for n, v in per_round.items()},
        "shared": {**contended, "projects": len(shared_ids)},
        "cores": os.cpu_count(),
        "loadavg_1m_at_start": round(load, 2),
        "scaling_processes": top,
        "scaling": round(scaling, 2),
        "lost": lost,
        "doubled": doubled,
        "met": {"scaling": top == 4 and scaling >= SCALING_TARGET, "lost": lost == 0, "doubled": doubled == 0},
    }


@contextmanager
def postgres_url(given: str | None) -> Iterator[tuple[str, str]]:
    """The server to use: the one given, or a throwaway one started here as the tests start theirs."""
    if given:
        yield given, "given server"
        return
    from tests.pg import find_bindir, throwaway_server

    bindir = find_bindir()
    if bindir is None:
        raise SystemExit("no PostgreSQL server binaries (scripts/system-deps.sh installs them); or pass --database-url")
    with throwaway_server(bindir) as server:
        yield server.url("postgres"), f"throwaway server {bindir.parent.name} on port {server.port}, fsync=off"


# --- main ----------------------------------------------------------------------------------------------


@contextmanager
def audit_key_in(directory: Path) -> Iterator[None]:
    """The bench's audit key and anchor log live with its scratch databases, never in the user's
    GRANTFLOW_HOME (the engine keys every event it writes)."""
    names = ("GRANTFLOW_AUDIT_KEY_FILE", "GRANTFLOW_AUDIT_ANCHOR_FILE")
    saved = {name: os.environ.get(name) for name in names}
    os.environ["GRANTFLOW_AUDIT_KEY_FILE"] = str(directory / "audit.key")
    os.environ["GRANTFLOW_AUDIT_ANCHOR_FILE"] = str(directory / "audit-anchors.jsonl")
    reset_settings()
    try:
        yield
    finally:
        for name, value in saved.items():
            if value is None:
                os.environ.pop(name, None)
            else:
                os.environ[name] = value
        reset_settings()


def main(argv: list[str] | None = None) -> int:
    parser = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    parser.add_argument("--projects", type=int, default=10_000, help="projects stored and fired (default 10,000)")
    parser.add_argument(
        "--postgres",
        metavar="URL",
        nargs="?",
        const="",
        help="also run on PostgreSQL: this server (scratch databases), or without URL a throwaway server started here",
    )
    parser.add_argument("--database-url", metavar="URL", help="the PostgreSQL server for --postgres")
    parser.add_argument(
        "--processes",
        type=int,
        metavar="N",
        help="with --postgres: up to N worker processes firing at once (1, 2, 4... N), disjoint and shared projects",
    )
    parser.add_argument(
        "--concurrent-fires",
        type=int,
        default=4000,
        help="transitions each worker process fires in a run (default 4,000: a few seconds, long enough to be steady)",
    )
    parser.add_argument(
        "--rounds",
        type=int,
        default=3,
        help="with --processes: rounds of runs (1, 2, 4... taking turns); each count's figure is its median round",
    )
    parser.add_argument("--busy-timeout-ms", type=int, default=10_000)
    parser.add_argument("--warmup", type=int, default=WARMUP, help="extra projects fired first, untimed")
    parser.add_argument("--dir", type=Path, help="where the SQLite files go (default: the system's temp dir)")
    args = parser.parse_args(argv)
    if args.processes is not None and args.postgres is None and not args.database_url:
        parser.error("--processes runs on PostgreSQL: add --postgres (and --database-url, or a throwaway server)")
    if args.processes is not None and args.processes < 1:
        parser.error("--processes must be at least 1")
    warmup = args.warmup
    total = args.projects + warmup

    with tempfile.TemporaryDirectory(prefix="grantflow-bench-", dir=args.dir) as tmp, audit_key_in(Path(tmp)):
        engine_file, raw_file = Path(tmp) / "engine.db", Path(tmp) / "raw.db"
        say(f"grantflow engine bench: {args.projects:,} projects, 2 transitions each, SQLite files in {tmp}")
        engine = make_engine(f"sqlite:///{engine_file}", busy_timeout_ms=args.busy_timeout_ms)
        office, ids = prepare(engine, total)
        raw_engine = make_engine(f"sqlite:///{raw_file}", busy_timeout_ms=args.busy_timeout_ms)
        _, raw_ids = prepare(raw_engine, total)
        raw_engine.dispose()
        say(f"  prepared two databases of {total:,} projects (incl. {warmup} for warm-up)")

        rss_before = max_rss_mib()
        say("engine: db.apply.fire, one committed transaction per transition; raw: plain sqlite3, same statements")
        raw_conn, raw_side = open_raw_sqlite(raw_file, args.busy_timeout_ms)
        try:
            rate, raw = race(engine, office, ids, raw_side, raw_ids, "sqlite", warmup)
        finally:
            raw_conn.close()
        ratio = rate / raw
        say(f"engine {rate:,.0f} transitions/s, raw {raw:,.0f}/s, ratio {ratio:.3f} (target ≥ {TARGET_RATIO})")
        check(engine, ids)
        say("memory: tracemalloc while firing over a tenth of the projects, then over all of them")
        mem = memory(engine, office, ids[:warmup], ids[warmup:])
        rss_after = max_rss_mib()
        engine.dispose()

    pg = concurrency = None
    if args.postgres is not None or args.database_url:
        with (
            tempfile.TemporaryDirectory(prefix="grantflow-bench-keys-") as keys,
            audit_key_in(Path(keys)),
            postgres_url(args.database_url or args.postgres or None) as (url, where),
        ):
            say(f"PostgreSQL: {where}")
            pg = {**run_postgres(url, args.projects, warmup), "server": where}
            if args.processes:
                concurrency = run_concurrency(url, args.processes, args.concurrent_fires, max(args.rounds, 1))
    figures = {
        "bench": "engine",
        "database": "sqlite",
        "projects": args.projects,
        "transitions": 2 * args.projects,
        "transitions_per_s": round(rate),
        "raw_per_s": round(raw),
        "ratio": round(ratio, 3),
        "memory": {
            **mem,
            "ru_maxrss_mib_before_runs": round(rss_before, 1),
            "ru_maxrss_mib_after_runs": round(rss_after, 1),
        },
        "postgres": pg,
        "targets": {"ratio_min": TARGET_RATIO, "memory": "peak does not grow with the number of projects"},
        "met": {"ratio": ratio >= TARGET_RATIO, "memory": mem["not_growing"]},
    }
    if concurrency is not None:
        figures["concurrency"] = {k: v for k, v in concurrency.items() if k != "met"}
        figures["targets"].update({"scaling_4_vs_1_min": SCALING_TARGET, "lost": 0, "doubled": 0})
        figures["met"].update(concurrency["met"])
    print(json.dumps(figures, ensure_ascii=False), flush=True)
    return 0


if __name__ == "__main__":
    sys.exit(main())
