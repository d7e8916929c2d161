"""``grantflow serve``: the web page and the scheduled flows, in one command.

Unless ``PREFECT_API_URL`` points at an existing Prefect server, a local one is started
(``flows.server``) and stopped again at the end. Then two children run: the flow runner
(``python -m grantflow.flows.runner``, serving every flow on its schedule) and the web app (uvicorn).
If either child dies, or on Ctrl-C / SIGTERM, everything is stopped, the server last.
"""

from __future__ import annotations

import contextlib
import os
import signal
import socket
import subprocess
import sys
import time
from collections.abc import Callable

from grantflow.config import Settings
from grantflow.flows.server import LocalPrefectServer
from grantflow.states.text import Text


def _stop(process: subprocess.Popen[bytes], grace: float = 15.0) -> None:
    if process.poll() is not None:
        return
    # SIGINT: the runner and uvicorn both finish cleanly on it (the runner pauses its schedules)
    with contextlib.suppress(ProcessLookupError):
        os.killpg(process.pid, signal.SIGINT)
    try:
        process.wait(timeout=grace)
    except subprocess.TimeoutExpired:
        with contextlib.suppress(ProcessLookupError):
            os.killpg(process.pid, signal.SIGKILL)
        process.wait(timeout=5)


def port_problem(host: str, port: int) -> Text | None:
    """Why the web page cannot listen on host:port, or None."""
    try:
        infos = socket.getaddrinfo(host, port, type=socket.SOCK_STREAM)
    except (OSError, UnicodeError) as exc:
        return Text(f"无法解析地址 {host}：{exc}", f"cannot resolve {host}: {exc}")
    family, _, _, _, address = infos[0]
    with socket.socket(family, socket.SOCK_STREAM) as probe:
        probe.setsockopt(socket.SOL_SOCKET, socket.SO_REUSEADDR, 1)
        try:
            probe.bind(address)
        except OSError as exc:
            other = port + 1
            return Text(
                f"端口 {port} 已被占用或不可用（{exc.strerror}）："
                f"请换一个，例如 --port {other} 或 make run PORT={other}",
                f"port {port} on {host} is busy or unavailable ({exc.strerror}): choose another, "
                f"e.g. --port {other} or make run PORT={other}",
            )
    return None


def web_command(*, host: str, port: int, workers: int) -> list[str]:
    """How the web app is started: uvicorn on the app factory, ``workers`` processes.

    More than one process uses more than one core (one Python process runs on one at a time);
    what they share (sessions, sign-in limits, the audit chain, files) is in the database and
    the file store, and the secret key is made once (``web.app.secret_key``)."""
    cmd = [sys.executable, "-m", "uvicorn", "--factory", "grantflow.web.app:create_app"]
    cmd += ["--host", host, "--port", str(port)]
    return cmd + (["--workers", str(workers)] if workers > 1 else [])


def serve(
    settings: Settings,
    *,
    web: bool = True,
    host: str = "127.0.0.1",
    port: int = 8000,
    only: list[str] | None = None,
    say: Callable[[str], None] = print,
) -> int:
    """Run until interrupted or until a child stops; returns the exit code."""
    server: LocalPrefectServer | None = None
    api_url = os.environ.get("PREFECT_API_URL")
    children: list[tuple[str, subprocess.Popen[bytes]]] = []
    stopping = False

    def on_signal(signum: int, frame: object) -> None:
        nonlocal stopping
        stopping = True

    previous = {s: signal.signal(s, on_signal) for s in (signal.SIGINT, signal.SIGTERM)}
    try:
        if not api_url:
            server = LocalPrefectServer(settings.home_dir / "prefect", port=settings.prefect_port)
            say(f"starting the embedded Prefect server (SQLite in {server.home}) …")
            api_url = server.start()
            say(f"Prefect server ready: {api_url.removesuffix('/api')}")
        env = {**os.environ, "PREFECT_API_URL": api_url}
        children.append(
            (
                "flow runner",
                subprocess.Popen(
                    [sys.executable, "-m", "grantflow.flows.runner", *(only or [])], env=env, start_new_session=True
                ),
            )
        )
        say("flows served on their schedules: " + ", ".join(only or ["all"]))
        if web:
            children.append(
                (
                    "web app",
                    subprocess.Popen(
                        web_command(host=host, port=port, workers=settings.web_workers),
                        env=env,
                        start_new_session=True,
                    ),
                )
            )
            say(f"web page: http://{host}:{port}/")
        while not stopping:
            for name, child in children:
                if child.poll() is not None:
                    say(f"{name} stopped (exit {child.returncode}); shutting down")
                    return child.returncode or 1
            time.sleep(0.5)
        say("stopping …")
        return 0
    finally:
        for _, child in reversed(children):
            _stop(child)
        if server is not None:
            server.stop()
        for s, handler in previous.items():
            signal.signal(s, handler)
