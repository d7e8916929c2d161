"""The scaled topology for real (docs/scale-out.md): ``scripts/scale-out.sh`` brings up PostgreSQL,
a Prefect server on PostgreSQL with two process workers, and two web processes behind a TCP
proxy, then checks that every submission, reminder and published document exists exactly once.
Slow (about three minutes here) but part of the default suite, so CI runs it."""

from __future__ import annotations

import asyncio
import contextlib
import json
import os
import signal
import socket
import subprocess
import sys
from pathlib import Path
from typing import Any

import pytest

from tests.pg import find_bindir

REPO = Path(__file__).resolve().parent.parent
SCRIPT = REPO / "scripts" / "scale-out.sh"


def run_script(env: dict[str, str], timeout: float) -> tuple[int, str]:
    """Run the script in its own process group; on a timeout, SIGTERM lets its trap stop what it started."""
    process = subprocess.Popen(
        ["bash", str(SCRIPT)],
        cwd=REPO,
        env=env,
        stdout=subprocess.PIPE,
        stderr=subprocess.STDOUT,
        text=True,
        start_new_session=True,
    )
    try:
        out, _ = process.communicate(timeout=timeout)
    except subprocess.TimeoutExpired:
        os.killpg(process.pid, signal.SIGTERM)
        try:
            out, _ = process.communicate(timeout=60)
        except subprocess.TimeoutExpired:
            os.killpg(process.pid, signal.SIGKILL)
            out, _ = process.communicate()
        pytest.fail(f"scripts/scale-out.sh took more than {timeout:.0f} s:\n{out[-5000:]}")
    return process.returncode, out


@pytest.mark.slow
@pytest.mark.postgres
def test_scale_out_stores_every_submission_reminder_and_document_exactly_once() -> None:
    if find_bindir() is None:
        pytest.skip("PostgreSQL server binaries not found; scripts/system-deps.sh (run by `make test`) installs them")
    # the script configures each process itself; the suite's own settings stay out of it
    env = {k: v for k, v in os.environ.items() if not k.startswith(("GRANTFLOW_", "PREFECT_"))}
    env |= {"PYTHON": sys.executable, "SCALE_OUT_SUBMISSIONS": "36", "SCALE_OUT_REMINDERS": "6"}
    code, out = run_script(env, timeout=600)
    assert code == 0, out[-8000:]
    [line] = [line for line in out.splitlines() if line.startswith("SCALE-OUT ")]
    counts = json.loads(line.removeprefix("SCALE-OUT "))
    assert counts["problems"] == 0, out[-8000:]
    assert counts["clients"] == counts["submissions"] == 36
    assert counts["reminded_projects"] == counts["reminders"] == 6
    assert counts["publications"] == counts["documents"] == 2  # programmes 7 and 1, one period each
    assert counts["calls_opened"] == 1
    assert counts["flow_runs"] == 4
    web = counts["web_connections"]
    assert len(web) == 2 and all(n > 0 for n in web.values()), web
    assert "all checks passed" in out
    assert "stopped everything" in out


# --- the proxy on its own (fast) -------------------------------------------------------------------


def _free_port() -> int:
    with socket.socket() as s:
        s.bind(("127.0.0.1", 0))
        return int(s.getsockname()[1])


async def _backend(name: bytes) -> asyncio.Server:
    async def answer(reader: asyncio.StreamReader, writer: asyncio.StreamWriter) -> None:
        data = await reader.read(100)
        writer.write(name + b":" + data)
        await writer.drain()
        writer.close()

    return await asyncio.start_server(answer, "127.0.0.1", 0)


async def _exchange(port: int, message: bytes) -> bytes:
    for _ in range(100):  # the proxy process may still be starting
        try:
            reader, writer = await asyncio.open_connection("127.0.0.1", port)
            break
        except OSError:
            await asyncio.sleep(0.1)
    writer.write(message)
    await writer.drain()
    data = await reader.read()
    writer.close()
    return data


def test_proxy_takes_turns_between_backends_and_counts_them(tmp_path: Path) -> None:
    async def scenario() -> tuple[list[bytes], Any]:
        a, b = await _backend(b"A"), await _backend(b"B")
        ports = [s.sockets[0].getsockname()[1] for s in (a, b)]
        down = _free_port()  # nothing listens here: the proxy skips it
        listen = _free_port()
        stats = tmp_path / "stats.json"
        proxy = await asyncio.create_subprocess_exec(
            sys.executable, str(REPO / "scripts" / "tcp_proxy.py"), "--listen", f"127.0.0.1:{listen}",
            "--backend", f"127.0.0.1:{ports[0]}", "--backend", f"127.0.0.1:{down}",
            "--backend", f"127.0.0.1:{ports[1]}", "--stats", str(stats),
            stdout=asyncio.subprocess.DEVNULL,
        )  # fmt: skip
        try:
            replies = [await _exchange(listen, f"hello {i}".encode()) for i in range(4)]
        finally:
            proxy.terminate()
            await proxy.wait()
            for s in (a, b):
                s.close()
                with contextlib.suppress(Exception):
                    await s.wait_closed()
        return replies, json.loads(stats.read_text())

    replies, stats = asyncio.run(scenario())
    assert replies == [b"A:hello 0", b"B:hello 1", b"A:hello 2", b"B:hello 3"]
    assert sorted(stats["connections"].values()) == [0, 2, 2]
    assert sum(stats["refused"].values()) == 2
