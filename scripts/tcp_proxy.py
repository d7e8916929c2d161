"""A tiny round-robin TCP proxy: one public port in front of several web processes.

``python scripts/tcp_proxy.py --listen 127.0.0.1:8000 --backend 127.0.0.1:8001 --backend 127.0.0.1:8002
--stats stats.json``

Each new client connection goes to the next backend in turn (a backend that refuses the
connection is skipped), and bytes are copied both ways until either side closes. It stands in
for the load balancer (nginx, HAProxy, a cloud balancer) that would sit in front of web
processes on several machines. It works on TCP, not HTTP, so it needs no knowledge of the
application: sessions and CSRF tokens must work whichever process a request reaches, which is
exactly what ``scripts/scale-out.sh`` checks. The per-backend counts of connections are written
to ``--stats`` (JSON) after every connection, so a checker can see that every backend served.
"""

from __future__ import annotations

import argparse
import asyncio
import contextlib
import itertools
import json
import os
import signal
from pathlib import Path


def _address(value: str) -> tuple[str, int]:
    host, _, port = value.rpartition(":")
    return host or "127.0.0.1", int(port)


class Proxy:
    def __init__(self, backends: list[tuple[str, int]], stats: Path | None) -> None:
        self.backends = backends
        self.stats = stats
        self.turn = itertools.cycle(range(len(backends)))
        self.connections = {f"{h}:{p}": 0 for h, p in backends}
        self.refused = {f"{h}:{p}": 0 for h, p in backends}

    def _write_stats(self) -> None:
        if self.stats is None:
            return
        tmp = self.stats.with_suffix(".tmp")
        tmp.write_text(json.dumps({"connections": self.connections, "refused": self.refused}))
        os.replace(tmp, self.stats)  # readers never see a half-written file

    async def _connect(self) -> tuple[str, asyncio.StreamReader, asyncio.StreamWriter] | None:
        for _ in range(len(self.backends)):
            host, port = self.backends[next(self.turn)]
            name = f"{host}:{port}"
            try:
                reader, writer = await asyncio.open_connection(host, port)
            except OSError:
                self.refused[name] += 1
                continue
            return name, reader, writer
        return None

    async def handle(self, client_r: asyncio.StreamReader, client_w: asyncio.StreamWriter) -> None:
        backend = await self._connect()
        if backend is None:  # every backend is down: close, as a balancer with no healthy target does
            client_w.close()
            return
        name, server_r, server_w = backend
        self.connections[name] += 1
        self._write_stats()

        async def pipe(src: asyncio.StreamReader, dst: asyncio.StreamWriter) -> None:
            try:
                while data := await src.read(65536):
                    dst.write(data)
                    await dst.drain()
            except (ConnectionError, OSError):
                pass
            finally:
                # half-close so the other direction can finish its reply
                with contextlib.suppress(OSError, RuntimeError):
                    if dst.can_write_eof():
                        dst.write_eof()

        await asyncio.gather(pipe(client_r, server_w), pipe(server_r, client_w))
        for w in (client_w, server_w):
            w.close()
            with contextlib.suppress(OSError):
                await w.wait_closed()


async def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--listen", required=True, type=_address, help="HOST:PORT to accept clients on")
    parser.add_argument("--backend", action="append", required=True, type=_address, help="HOST:PORT (repeat)")
    parser.add_argument("--stats", type=Path, help="JSON file of connections per backend, rewritten as they come")
    args = parser.parse_args()
    proxy = Proxy(args.backend, args.stats)
    proxy._write_stats()
    server = await asyncio.start_server(proxy.handle, *args.listen, reuse_address=True)
    stop = asyncio.Event()
    loop = asyncio.get_running_loop()
    for sig in (signal.SIGTERM, signal.SIGINT):
        loop.add_signal_handler(sig, stop.set)
    backends = ", ".join(f"{h}:{p}" for h, p in args.backend)
    print(f"proxy on {args.listen[0]}:{args.listen[1]} → {backends}", flush=True)
    async with server:
        await stop.wait()
    proxy._write_stats()


if __name__ == "__main__":
    asyncio.run(main())
