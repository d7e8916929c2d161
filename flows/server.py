"""The embedded Prefect server: a ``prefect server start`` child process on SQLite, managed here.

Prefect's ephemeral mode runs no scheduler (a served schedule never fires), so the embedded
default starts a real local server: in its own process group (so stopping it stops its
workers too), with ``PREFECT_HOME`` under grantflow's home, on a free loopback port,
health-checked before use, and stopped with SIGTERM then SIGKILL. The background services
that make SQLite raise "database is locked" under concurrent writers are switched off.
"""

from __future__ import annotations

import contextlib
import os
import shutil
import signal
import socket
import subprocess
import sys
import time
import urllib.error
import urllib.request
from pathlib import Path
from types import TracebackType

QUIET_SERVICES = {
    # concurrent writers on the server's SQLite file: "database is locked" and client retries
    "PREFECT_SERVER_SERVICES_EVENT_PERSISTER_ENABLED": "false",
    "PREFECT_SERVER_SERVICES_TRIGGERS_ENABLED": "false",
    "PREFECT_SERVER_SERVICES_TASK_RUN_RECORDER_ENABLED": "false",
}


def port_free(port: int, host: str = "127.0.0.1") -> bool:
    with socket.socket() as s:
        try:
            s.bind((host, port))
        except OSError:
            return False
    return True


def free_port(host: str = "127.0.0.1") -> int:
    with socket.socket() as s:
        s.bind((host, 0))
        return int(s.getsockname()[1])


def prefect_executable() -> str:
    """The ``prefect`` command of this interpreter's environment (not whatever is first on PATH)."""
    beside = Path(sys.executable).with_name("prefect")
    if beside.exists():
        return str(beside)
    found = shutil.which("prefect")
    if found is None:
        raise RuntimeError("the prefect command is not installed (pip install prefect)")
    return found


class ServerFailed(RuntimeError):
    pass


class LocalPrefectServer:
    """``with LocalPrefectServer(home) as server: server.api_url`` — started, healthy, then stopped."""

    def __init__(self, home: Path, *, port: int = 4200, host: str = "127.0.0.1", env: dict[str, str] | None = None):
        self.home = home
        self.host = host
        # a busy port (another grantflow, another Prefect) is no reason to fail
        self.port = port if port and port_free(port, host) else free_port(host)
        self.extra_env = env or {}
        self.process: subprocess.Popen[bytes] | None = None
        self.log_path = home / "server.log"

    @property
    def api_url(self) -> str:
        return f"http://{self.host}:{self.port}/api"

    def environment(self) -> dict[str, str]:
        env = {k: v for k, v in os.environ.items() if k != "PREFECT_API_URL"}
        env.update(QUIET_SERVICES)
        env.update(
            {
                "PREFECT_HOME": str(self.home),
                "PREFECT_SERVER_API_HOST": self.host,
                "PREFECT_SERVER_API_PORT": str(self.port),
            }
        )
        env.update(self.extra_env)
        return env

    def start(self, timeout: float = 90.0) -> str:
        self.home.mkdir(parents=True, exist_ok=True)
        log = self.log_path.open("ab")
        self.process = subprocess.Popen(
            [prefect_executable(), "server", "start", "--host", self.host, "--port", str(self.port)],
            env=self.environment(),
            stdout=log,
            stderr=subprocess.STDOUT,
            stdin=subprocess.DEVNULL,
            start_new_session=True,  # its own process group: stop() reaches every child
        )
        log.close()
        deadline = time.monotonic() + timeout
        while time.monotonic() < deadline:
            if self.process.poll() is not None:
                raise ServerFailed(f"prefect server exited with {self.process.returncode}; see {self.log_path}")
            if self.healthy():
                return self.api_url
            time.sleep(0.25)
        self.stop()
        raise ServerFailed(f"prefect server not healthy after {timeout:.0f} s; see {self.log_path}")

    def healthy(self) -> bool:
        try:
            with urllib.request.urlopen(f"{self.api_url}/health", timeout=2) as response:
                return bool(response.status == 200)
        except (urllib.error.URLError, OSError):
            return False

    def stop(self, grace: float = 15.0) -> None:
        process, self.process = self.process, None
        if process is None or process.poll() is not None:
            return
        with contextlib.suppress(ProcessLookupError):
            os.killpg(process.pid, signal.SIGTERM)
        try:
            process.wait(timeout=grace)
        except subprocess.TimeoutExpired:
            with contextlib.suppress(ProcessLookupError):
                os.killpg(process.pid, signal.SIGKILL)
            process.wait(timeout=5)

    def __enter__(self) -> LocalPrefectServer:
        self.start()
        return self

    def __exit__(self, t: type[BaseException] | None, e: BaseException | None, tb: TracebackType | None) -> None:
        self.stop()
