"""The distribution installs one top-level package, ``grantflow``, and builds quietly.

Built as a user's ``pip`` builds it: ``pip wheel --no-deps`` with build isolation (a fresh
setuptools from the index), from a copy of the source tree so the working tree is untouched.
"""

from __future__ import annotations

import re
import shutil
import subprocess
import sys
import zipfile
from pathlib import Path

import pytest

ROOT = Path(__file__).resolve().parent.parent
SKIP = shutil.ignore_patterns(
    ".git", ".venv", "venv", "build", "dist", "*.egg-info", "__pycache__", ".*_cache", "*.db", "*.whl"
)


@pytest.fixture(scope="module")
def built(tmp_path_factory: pytest.TempPathFactory) -> tuple[Path, str]:
    """(the wheel, the build's output) from a fresh copy of the source tree."""
    base = tmp_path_factory.mktemp("wheel")
    src = base / "src"
    shutil.copytree(ROOT, src, ignore=SKIP)
    out = base / "out"
    proc = subprocess.run(
        [sys.executable, "-m", "pip", "wheel", "--no-deps", "--verbose", "--wheel-dir", str(out), str(src)],
        capture_output=True,
        text=True,
        timeout=600,
        check=False,
    )
    log = proc.stdout + proc.stderr
    assert proc.returncode == 0, log[-4000:]
    (wheel,) = out.glob("grantflow-*.whl")
    return wheel, log


@pytest.mark.slow
def test_the_wheel_holds_only_the_grantflow_package(built: tuple[Path, str]) -> None:
    wheel, _ = built
    with zipfile.ZipFile(wheel) as zf:
        record = next(n for n in zf.namelist() if n.endswith(".dist-info/RECORD"))
        listed = [line.split(",")[0] for line in zf.read(record).decode().splitlines() if line.strip()]
    tops = {path.split("/")[0] for path in listed}
    dist_info = record.split("/")[0]
    assert tops == {"grantflow", dist_info}, sorted(tops)
    # the data the app reads at run time travels inside the package
    for needed in (
        "grantflow/states/workflows/short.toml",
        "grantflow/db/migrations/script.py.mako",
        "grantflow/web/templates/base.html",
        "grantflow/web/templates/orgs/qualifications.html",
        "grantflow/web/translations/en/LC_MESSAGES/orgs.po",
        "grantflow/cli/main.py",
    ):
        assert needed in listed, needed
    assert not any(p.startswith("grantflow/tests/") or p.startswith("tests/") for p in listed)


@pytest.mark.slow
def test_building_shows_no_deprecation_warnings(built: tuple[Path, str]) -> None:
    _, log = built
    warned = [line.strip() for line in log.splitlines() if re.search(r"deprecat", line, re.IGNORECASE)]
    assert warned == [], "\n".join(warned)
