"""Prefect for real: a ``prefect server start`` on loopback (SQLite under a temporary
PREFECT_HOME), a process worker running the deployed reminder flow, and ``grantflow serve``
whose schedule really fires. Slow (a server start is ~10 s) but part of the default suite."""

from __future__ import annotations

import json
import os
import signal
import socket
import subprocess
import sys
import time
import urllib.request
from datetime import UTC, datetime, timedelta
from pathlib import Path
from typing import Any

import pytest
from sqlalchemy import Engine, select

from grantflow.db.models import AuditEvent, InboxMessage, OutboxMessage
from grantflow.flows.server import LocalPrefectServer, free_port, prefect_executable
from grantflow.services.deadlines import set_report_schedule
from tests.conftest import People
from tests.factories import make_call, make_project

REPO = Path(__file__).resolve().parent.parent
BIN = Path(sys.executable).parent

# quick polling for tests: the scheduler, the runner and the worker look every second
QUICK = {
    "PREFECT_SERVER_SERVICES_SCHEDULER_LOOP_SECONDS": "1",
    "PREFECT_RUNNER_POLL_FREQUENCY": "1",
    "PREFECT_WORKER_QUERY_SECONDS": "1",
    "PREFECT_UI_ENABLED": "false",
}


def due_in_three_days(engine: Engine, people: People, now: datetime, due: datetime) -> int:
    pid = make_project(engine, people, now, state="in_execution")
    with engine.begin() as conn:
        set_report_schedule(
            conn, project_id=pid, form_key="progress_report", kind="one_off", first_due=due, now=now, tz="Asia/Shanghai"
        )
    return pid


def reminders_written(engine: Engine, pid: int) -> list[Any]:
    with engine.connect() as conn:
        return conn.execute(
            select(OutboxMessage).where(OutboxMessage.kind == "reminder.due_soon", OutboxMessage.subject_id == pid)
        ).all()


def api(url: str, path: str, body: dict[str, Any]) -> Any:
    req = urllib.request.Request(
        f"{url}{path}", data=json.dumps(body).encode(), headers={"Content-Type": "application/json"}
    )
    with urllib.request.urlopen(req, timeout=10) as response:
        return json.loads(response.read())


def wait_for(check: Any, timeout: float, what: str) -> Any:
    deadline = time.monotonic() + timeout
    while time.monotonic() < deadline:
        found = check()
        if found:
            return found
        time.sleep(0.5)  # waiting for another process, not for a deadline: time is passed in
    raise AssertionError(f"timed out after {timeout:.0f} s waiting for {what}")


def stop(process: subprocess.Popen[bytes]) -> None:
    if process.poll() is None:
        os.killpg(process.pid, signal.SIGINT)
        try:
            process.wait(timeout=20)
        except subprocess.TimeoutExpired:
            os.killpg(process.pid, signal.SIGKILL)
            process.wait()


@pytest.mark.slow
def test_deployed_reminder_flow_completes_through_a_process_worker(
    engine: Engine, people: People, now: datetime, home: Path, tmp_path: Path
) -> None:
    real_now = datetime.now(UTC)  # a flow acts at the moment it runs: it takes no time parameter
    pid = due_in_three_days(engine, people, now, real_now + timedelta(days=2, hours=23))
    with LocalPrefectServer(tmp_path / "prefect", port=free_port(), env=QUICK) as server:
        env = {**os.environ, **QUICK, "PREFECT_API_URL": server.api_url, "PREFECT_HOME": str(tmp_path / "prefect")}
        deployed = subprocess.run(
            [str(BIN / "grantflow"), "deploy", "--pool", "test-pool", "--only", "reminders", "--only", "deadlines",
             "--paused"],
            env=env, cwd=REPO, capture_output=True, text=True, timeout=120,
        )  # fmt: skip
        assert deployed.returncode == 0, deployed.stdout + deployed.stderr
        assert "reminders/grantflow" in deployed.stdout
        worker = subprocess.Popen(
            [prefect_executable(), "worker", "start", "--pool", "test-pool", "--type", "process"],
            env=env, cwd=tmp_path, stdout=subprocess.DEVNULL, stderr=subprocess.DEVNULL, start_new_session=True,
        )  # fmt: skip
        try:
            started = subprocess.run(
                [prefect_executable(), "deployment", "run", "reminders/grantflow"],
                env=env, capture_output=True, text=True, timeout=60,
            )  # fmt: skip
            assert started.returncode == 0, started.stdout + started.stderr

            def finished() -> Any:
                runs = api(server.api_url, "/flow_runs/filter", {"limit": 5})
                done = [r for r in runs if r["state_type"] in ("COMPLETED", "FAILED", "CRASHED")]
                return done[0] if done else None

            run = wait_for(finished, 120, "the worker to finish the flow run")
            assert run["state_type"] == "COMPLETED", run
            assert run["name"].startswith(f"reminders-{real_now:%Y-%m-%d}")
            assert run["work_queue_name"] == "default"
            # a flow's audit events name its run: the deadline flow opens a call whose time has come
            call_id = make_call(engine, people, real_now, open_call=False)
            started = subprocess.run(
                [prefect_executable(), "deployment", "run", "deadlines/grantflow"],
                env=env, capture_output=True, text=True, timeout=60,
            )  # fmt: skip
            assert started.returncode == 0, started.stdout + started.stderr

            def deadlines_finished() -> Any:
                runs = api(server.api_url, "/flow_runs/filter", {"limit": 10})
                done = [
                    r
                    for r in runs
                    if r["name"].startswith("deadlines-") and r["state_type"] in ("COMPLETED", "FAILED", "CRASHED")
                ]
                return done[0] if done else None

            deadline_run = wait_for(deadlines_finished, 120, "the worker to finish the deadlines run")
            assert deadline_run["state_type"] == "COMPLETED", deadline_run
        finally:
            stop(worker)
    with engine.connect() as conn:
        opened = conn.execute(
            select(AuditEvent).where(AuditEvent.subject == "call", AuditEvent.subject_id == call_id)
            .where(AuditEvent.action == "open")
        ).one()  # fmt: skip
    assert (opened.channel, opened.channel_detail) == ("flow", f"prefect flow run {deadline_run['id']}")
    [message] = reminders_written(engine, pid)
    assert message.payload["days"] == 3
    with engine.connect() as conn:  # the flow's fan-out step put it in the applicant's inbox
        titles = conn.execute(select(InboxMessage.title).where(InboxMessage.outbox_id == message.id)).scalars()
        assert [t for t in titles if "3天后截止" in t]


@pytest.mark.slow
def test_grantflow_serve_runs_the_schedule_on_its_own_prefect_server(
    engine: Engine, people: People, now: datetime, home: Path
) -> None:
    real_now = datetime.now(UTC)  # a scheduled run acts for the moment it runs
    pid = due_in_three_days(engine, people, now, real_now + timedelta(days=3, hours=1))
    port = free_port()
    env = {k: v for k, v in os.environ.items() if k != "PREFECT_API_URL"}
    env |= QUICK | {"GRANTFLOW_SCHEDULE_REMINDERS": "every 5 seconds", "GRANTFLOW_PREFECT_PORT": str(port)}
    log = (home / "serve.log").open("wb")  # a file, not a pipe: an unread pipe fills and blocks the children
    serve = subprocess.Popen(
        [str(BIN / "grantflow"), "serve", "--no-web", "--only", "reminders"],
        env=env, cwd=REPO, stdout=log, stderr=subprocess.STDOUT, start_new_session=True,
    )  # fmt: skip
    try:
        wait_for(lambda: reminders_written(engine, pid), 150, "a scheduled reminders run")
        api_url = f"http://127.0.0.1:{port}/api"
        completed = {"flow_runs": {"state": {"type": {"any_": ["COMPLETED"]}}}}
        runs = wait_for(lambda: api(api_url, "/flow_runs/filter", completed), 60, "the run to complete")
        assert runs and all(r["name"].startswith("reminders-") for r in runs)
        assert any(r["auto_scheduled"] for r in runs)  # made by the server's scheduler, not by hand
    finally:
        os.killpg(serve.pid, signal.SIGINT)
        serve.wait(timeout=60)
        log.close()
    output = (home / "serve.log").read_text(errors="replace")
    assert serve.returncode == 0, output
    assert "Prefect server ready" in output
    with pytest.raises(ConnectionRefusedError):  # the embedded server was stopped with it
        socket.create_connection(("127.0.0.1", port), timeout=2).close()
    assert (home / "prefect" / "server.log").exists()
