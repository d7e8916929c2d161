"""bench/deadline_rush.py keeps working: a tiny run ends with one JSON line of figures and targets.

Speed is the bench's business, never asserted here; what is asserted is that nothing went wrong.
"""

from __future__ import annotations

import json
import subprocess
import sys
from pathlib import Path

import pytest

pytestmark = pytest.mark.slow

BENCH = Path(__file__).resolve().parent.parent / "bench" / "deadline_rush.py"


def test_tiny_deadline_rush_prints_its_figures(tmp_path: Path) -> None:
    run = subprocess.run(
        [sys.executable, str(BENCH), "--applicants", "20", "--concurrency", "8", "--size-kib", "256"],
        capture_output=True,
        text=True,
        timeout=300,
        cwd=tmp_path,
    )
    assert run.returncode == 0, run.stdout[-2000:] + run.stderr[-2000:]
    lines = run.stdout.strip().splitlines()
    figures = json.loads(lines[-1])
    assert figures["bench"] == "deadline_rush" and figures["applicants"] == 20
    assert figures["errors"] == 0 and figures["lost"] == 0 and figures["duplicates"] == 0
    assert figures["projects_submitted"] == 20
    assert figures["rush_s"] > 0 and figures["signin_s"] > 0 and figures["floor_s"] > 0 and figures["ratio"] > 0
    assert figures["p99_ms"] >= figures["p50_ms"] > 0
    assert figures["targets"] == {"rush_s": 60, "p99_ms": 2000, "errors": 0, "lost": 0}
    assert any(line.startswith("rush:") for line in lines) and any(line.startswith("floor:") for line in lines)
