"""bench/overview.py keeps working: a tiny run ends with one JSON line of figures and targets.

Speed and memory are the bench's business, never asserted here.
"""

from __future__ import annotations

import importlib.util
import json
from pathlib import Path

import pytest

BENCH = Path(__file__).resolve().parent.parent / "bench" / "overview.py"


def test_tiny_overview_bench_prints_its_figures(capsys: pytest.CaptureFixture[str]) -> None:
    spec = importlib.util.spec_from_file_location("bench_overview", BENCH)
    assert spec is not None and spec.loader is not None
    bench = importlib.util.module_from_spec(spec)
    spec.loader.exec_module(bench)
    assert bench.main(["--projects", "240"]) == 0
    lines = capsys.readouterr().out.strip().splitlines()
    figures = json.loads(lines[-1])
    assert figures["bench"] == "overview" and figures["projects"] == 240 and figures["overview_s"] > 0
    assert set(figures["exports"]) == {"csv_one_programme", "csv_all", "xlsx_one_programme", "xlsx_all"}
    assert all(f["bytes"] > 0 and f["peak_mb"] > 0 for f in figures["exports"].values())
    assert figures["targets"] == {"overview_s": 1.0, "export_peak_mb": 300.0}
