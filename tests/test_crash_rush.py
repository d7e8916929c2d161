"""A deadline rush through a server that is killed (SIGKILL) in the middle and started again.

Every submission whose client was told "submitted" (a 303 from the proposal POST or from the
project's submit button) must be in the database afterwards, with the attachment whose SHA-256
the client sent; nobody's proposal, attachment or submit event may be stored twice, even though
the clients whose requests failed try again (from the form page, as a person would) until
they get through. Uses bench/deadline_rush.py's fixture, server and browser code.
"""

from __future__ import annotations

import asyncio
import importlib.util
import os
import signal
import sqlite3
import subprocess
import sys
from pathlib import Path
from types import ModuleType

import pytest

pytestmark = pytest.mark.slow

BENCH = Path(__file__).resolve().parent.parent / "bench" / "deadline_rush.py"
APPLICANTS = 100
KILL_AFTER = 30  # finished submissions before the server is killed


def load_bench() -> ModuleType:
    spec = importlib.util.spec_from_file_location("bench_deadline_rush", BENCH)
    assert spec is not None and spec.loader is not None
    module = importlib.util.module_from_spec(spec)
    sys.modules[spec.name] = module  # dataclasses look their module up by name
    spec.loader.exec_module(module)
    return module


def test_killed_server_keeps_every_acknowledged_submission_once(
    tmp_path: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    bench = load_bench()
    home = tmp_path / "home"
    home.mkdir()
    for key in ("GRANTFLOW_HOME", "GRANTFLOW_ENV", *bench.APP_ENV_DROP):
        monkeypatch.delenv(key, raising=False)
    monkeypatch.setenv("GRANTFLOW_HOME", str(home))  # populate() points the services here; restored after
    bench.init_home(home)
    applicants = bench.populate(home, APPLICANTS, say=lambda _line: None)
    trigger, applying = bench.submitted_state()
    port = bench.free_port()
    base = f"http://127.0.0.1:{port}"
    servers: list[subprocess.Popen[bytes]] = [bench.start_app(home, port)]
    killed_at: list[int] = []

    async def scenario() -> list:
        finished = 0
        kill = asyncio.Event()

        def on_done(_outcome: object) -> None:
            nonlocal finished
            finished += 1
            if finished == KILL_AFTER:
                kill.set()

        async def killer() -> None:
            await kill.wait()
            victim = servers[-1]
            os.killpg(victim.pid, signal.SIGKILL)  # no clean shutdown: mid-request, mid-transaction
            victim.wait()
            killed_at.append(finished)
            servers.append(bench.start_app(home, port))
            await asyncio.to_thread(bench.wait_ready, base, servers[-1])

        restart = asyncio.create_task(killer())
        _, outcomes = await bench.rush(
            base,
            applicants,
            cookies,
            concurrency=16,
            pdf=bench.PdfMaker(128 * 1024),
            submit_trigger=trigger,
            retry_for_s=45.0,
            on_done=on_done,
        )
        await restart
        return outcomes

    try:
        bench.wait_ready(base, servers[0])
        # two sign in over HTTP; the rest get their sessions straight in the database (scrypt is not the subject)
        _, cookies, signin_errors = asyncio.run(bench.sign_in_all(base, applicants[:2], 2))
        assert signin_errors == [] and len(cookies) == 2
        cookies.update(bench.sessions_for(home, applicants[2:]))
        outcomes = asyncio.run(scenario())
    finally:
        for server in servers:
            bench.stop(server)

    assert killed_at and killed_at[0] < APPLICANTS, "the server was not killed during the rush"
    hit = [o for o in outcomes if o.errors]
    assert hit, "the kill interrupted nobody: no request failed"
    assert all(o.done for o in outcomes), [o.errors for o in outcomes if not o.done][:3]
    stored = bench.check_database(home, outcomes, applying)
    assert stored["lost"] == [] and stored["duplicates"] == []
    told = [o for o in outcomes if o.form_ok]
    assert stored["attachments_matching"] == len(told)  # each one told "submitted" has its file stored
    assert stored["projects_submitted"] == APPLICANTS
    # the database survived the kill whole: SQLite's own check and the hashed audit chain
    with sqlite3.connect(home / "grantflow.db") as db:
        assert db.execute("PRAGMA integrity_check").fetchone()[0] == "ok"
    check = subprocess.run(
        [sys.executable, "-m", "grantflow", "audit", "verify"],
        env=bench.app_env(home),
        capture_output=True,
        text=True,
    )
    assert check.returncode == 0, check.stdout + check.stderr
