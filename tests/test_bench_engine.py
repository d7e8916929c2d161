"""bench/engine.py keeps working: a tiny run ends with one JSON line of figures and targets.

Speed is the bench's business, never asserted here.
"""

from __future__ import annotations

import importlib.util
import json
from pathlib import Path

import pytest

BENCH = Path(__file__).resolve().parent.parent / "bench" / "engine.py"


def test_tiny_bench_run_prints_its_figures(tmp_path: Path, capsys: pytest.CaptureFixture[str]):
    spec = importlib.util.spec_from_file_location("bench_engine", BENCH)
    assert spec is not None and spec.loader is not None
    bench = importlib.util.module_from_spec(spec)
    spec.loader.exec_module(bench)
    assert bench.main(["--projects", "30", "--warmup", "5", "--dir", str(tmp_path)]) == 0
    lines = capsys.readouterr().out.strip().splitlines()
    assert any("audit chain verified" in line for line in lines)
    figures = json.loads(lines[-1])
    assert figures["bench"] == "engine" and figures["projects"] == 30 and figures["transitions"] == 60
    assert figures["transitions_per_s"] > 0 and figures["raw_per_s"] > 0
    assert figures["targets"]["ratio_min"] == 0.15
    assert set(figures["met"]) == {"ratio", "memory"}
    assert list(tmp_path.iterdir()) == []  # the bench's own temporary database is gone
