"""bench/engine.py keeps working: a tiny run ends with one JSON line of figures and targets.

Speed is the bench's business, never asserted here.
"""

from __future__ import annotations

import importlib.util
import json
from pathlib import Path
from typing import Any

import pytest

BENCH = Path(__file__).resolve().parent.parent / "bench" / "engine.py"


def _load() -> Any:
    spec = importlib.util.spec_from_file_location("bench_engine", BENCH)
    assert spec is not None and spec.loader is not None
    bench = importlib.util.module_from_spec(spec)
    spec.loader.exec_module(bench)
    return bench


def test_tiny_bench_run_prints_its_figures(tmp_path: Path, capsys: pytest.CaptureFixture[str]):
    bench = _load()
    assert bench.main(["--projects", "30", "--warmup", "5", "--dir", str(tmp_path)]) == 0
    lines = capsys.readouterr().out.strip().splitlines()
    assert any("audit chain verified" in line for line in lines)
    figures = json.loads(lines[-1])
    assert figures["bench"] == "engine" and figures["projects"] == 30 and figures["transitions"] == 60
    assert figures["transitions_per_s"] > 0 and figures["raw_per_s"] > 0
    assert figures["targets"]["ratio_min"] == 0.45
    assert set(figures["met"]) == {"ratio", "memory"}
    assert list(tmp_path.iterdir()) == []  # the bench's own temporary database is gone


@pytest.mark.postgres
@pytest.mark.slow
def test_tiny_concurrent_run_on_postgres_checks_every_history(capsys: pytest.CaptureFixture[str]):
    """Two spawned worker processes on a throwaway PostgreSQL server: disjoint and shared
    projects, the histories checked afterwards (nothing lost, nothing doubled)."""
    from tests.pg import find_bindir

    if find_bindir() is None:
        pytest.skip("PostgreSQL server binaries not found (scripts/system-deps.sh installs them)")
    bench = _load()
    argv = ["--projects", "10", "--warmup", "2", "--postgres", "--processes", "2", "--concurrent-fires", "10"]
    assert bench.main(argv) == 0
    lines = capsys.readouterr().out.strip().splitlines()
    assert any("fsync=off" in line for line in lines)  # says the server is not a durable one
    figures = json.loads(lines[-1])
    assert figures["postgres"]["transitions_per_s"] > 0
    concurrent = figures["concurrency"]
    assert [run["processes"] for run in concurrent["disjoint"]] == [1, 2]
    # the counts took turns over three rounds; each one's figure is its median round
    assert concurrent["rounds"] == 3
    assert {n: len(v) for n, v in concurrent["disjoint_per_s_by_round"].items()} == {"1": 3, "2": 3}
    for run in concurrent["disjoint"]:
        assert run["fires"] == run["attempts"] == 10 * run["processes"] and run["conflicts"] == 0
        assert run["per_s"] > 0 and run["p99_ms"] >= run["p50_ms"] > 0
    shared = concurrent["shared"]
    assert shared["attempts"] == 20 and shared["fires"] + shared["conflicts"] + shared["refused"] == 20
    assert concurrent["lost"] == 0 and concurrent["doubled"] == 0
    assert figures["targets"]["scaling_4_vs_1_min"] == 1.6
    assert figures["met"]["lost"] and figures["met"]["doubled"]
    assert not figures["met"]["scaling"]  # two processes at most: the 4-vs-1 target is not claimed


def test_the_history_check_sees_a_lost_and_a_doubled_transition(tmp_path: Path):
    """The concurrent run's verdict is only as good as its check: a fire the workers counted but
    the database lacks is lost; one the database holds twice over the count is doubled."""
    bench = _load()
    with bench.audit_key_in(tmp_path):
        engine = bench.make_engine(f"sqlite:///{tmp_path / 'h.db'}")
        office, (first, second) = bench.prepare(engine, 2)
        bench.fire(engine, subject_id=first, trigger="suspend", actor=office, payload={"reason": "测试 test"})
        assert bench.check_histories(engine, {first: 1, second: 0}) == (0, 0)
        assert bench.check_histories(engine, {first: 2, second: 0}) == (1, 0)  # counted, never written
        assert bench.check_histories(engine, {first: 0, second: 0}) == (0, 1)  # written, never counted
        engine.dispose()
