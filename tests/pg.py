"""A throwaway PostgreSQL server for the tests marked ``postgres``.

The session starts its own server from the Debian binaries (``/usr/lib/postgresql/*/bin``,
installed by ``scripts/system-deps.sh``): ``initdb`` into a temporary directory, listening on
127.0.0.1 on a free port with its socket in that directory, and stops it at the end. Nothing
is left behind and no running server is needed. As root, the server runs as the ``postgres``
user (PostgreSQL refuses to run as root). Under xdist each worker has its own server.

The schema is migrated and the demo people seeded once into a template database (exactly as
``grantflow init --demo`` does); each test gets a fresh database copied from it.

Tests skip only when the binaries are truly absent, and say how to get them.
"""

from __future__ import annotations

import contextlib
import glob
import os
import pwd
import shutil
import socket
import subprocess
import tempfile
import uuid
from collections.abc import Iterator
from dataclasses import dataclass
from pathlib import Path

import psycopg
import pytest
from sqlalchemy import Engine

from grantflow.config import reset_settings
from grantflow.db.session import dispose_engines, get_engine, make_engine
from grantflow.db.workflows import clear_cache
from grantflow.services.bootstrap import init_database

SUPERUSER = "grantflow"


def find_bindir() -> Path | None:
    """The newest PostgreSQL server binaries on this machine, or None."""
    candidates = []
    env = os.environ.get("GRANTFLOW_PG_BINDIR")
    if env:
        candidates.append(Path(env))
    versions = sorted(glob.glob("/usr/lib/postgresql/*/bin"), key=lambda p: int(Path(p).parent.name), reverse=True)
    candidates += [Path(p) for p in versions]
    initdb = shutil.which("initdb")
    if initdb:
        candidates.append(Path(initdb).resolve().parent)
    for d in candidates:
        if (d / "initdb").is_file() and (d / "pg_ctl").is_file() and (d / "postgres").is_file():
            return d
    return None


ROOT_PREFIX = "grantflow-pg-"


def _alive(pid: int) -> bool:
    try:
        os.kill(pid, 0)
    except ProcessLookupError:
        return False
    except PermissionError:
        return True
    return True


def reap_orphans(bindir: Path, run_as: str | None) -> None:
    """Stop and remove servers whose test session died without its teardown (killed, timed out).

    Each server directory names the pid of the session that started it; a live session's
    server is never touched.
    """
    for owner_file in Path(tempfile.gettempdir()).glob(f"{ROOT_PREFIX}*/owner"):
        try:
            owner = int(owner_file.read_text())
        except (OSError, ValueError):
            continue
        if _alive(owner):
            continue
        root = owner_file.parent
        if (root / "data" / "postmaster.pid").exists():
            server = PgServer(bindir=bindir, root=root, port=0, run_as=run_as)
            with contextlib.suppress(RuntimeError):
                server.stop()
        shutil.rmtree(root, ignore_errors=True)


def _free_port() -> int:
    with socket.socket() as s:
        s.bind(("127.0.0.1", 0))
        return int(s.getsockname()[1])


@dataclass
class PgServer:
    bindir: Path
    root: Path
    port: int
    run_as: str | None

    @property
    def data(self) -> Path:
        return self.root / "data"

    def url(self, database: str) -> str:
        return f"postgresql+psycopg://{SUPERUSER}@127.0.0.1:{self.port}/{database}"

    def _run(self, *args: str) -> None:
        cmd = [str(a) for a in args]
        if self.run_as is not None:
            cmd = ["runuser", "-u", self.run_as, "--", *cmd]
        result = subprocess.run(cmd, capture_output=True, text=True, check=False)
        if result.returncode != 0:
            log = self.root / "server.log"
            tail = log.read_text(errors="replace")[-2000:] if log.exists() else ""
            raise RuntimeError(f"{' '.join(cmd)} failed:\n{result.stdout}\n{result.stderr}\n{tail}")

    def start(self) -> None:
        self._run(
            self.bindir / "initdb",
            "-D",
            str(self.data),
            "-U",
            SUPERUSER,
            "-A",
            "trust",
            "-E",
            "UTF8",
            "--no-locale",
            "--no-sync",
        )
        options = " ".join(
            [
                "-c listen_addresses=127.0.0.1",
                f"-p {self.port}",
                f"-k {self.root}",  # the socket directory: ours, not /var/run/postgresql
                # a test server: losing it in a crash loses nothing; locking is unchanged
                "-c fsync=off",
                "-c synchronous_commit=off",
                "-c full_page_writes=off",
                "-c max_connections=60",
            ]
        )
        log = str(self.root / "server.log")
        self._run(self.bindir / "pg_ctl", "-D", str(self.data), "-o", options, "-l", log, "-w", "start")

    def stop(self) -> None:
        self._run(self.bindir / "pg_ctl", "-D", str(self.data), "-m", "immediate", "-w", "stop")

    def admin(self, sql: str) -> None:
        """Run a statement outside a transaction (CREATE/DROP DATABASE) in the maintenance database."""
        with psycopg.connect(host="127.0.0.1", port=self.port, user=SUPERUSER, dbname="postgres", autocommit=True) as c:
            c.execute(sql)  # type: ignore[arg-type]

    def create_database(self, template: str | None = None) -> str:
        name = f"t_{uuid.uuid4().hex[:12]}"
        self.admin(f'CREATE DATABASE "{name}"' + (f' TEMPLATE "{template}"' if template else ""))
        return name

    def drop_database(self, name: str) -> None:
        self.admin(f'DROP DATABASE IF EXISTS "{name}" WITH (FORCE)')


def server_user() -> str | None:
    """Who the server runs as: ``postgres`` when we are root (PostgreSQL refuses root), else us."""
    if os.geteuid() != 0:
        return None
    try:
        pwd.getpwnam("postgres")
    except KeyError as missing:
        raise RuntimeError("running as root and there is no 'postgres' user to run a PostgreSQL server as") from missing
    return "postgres"


@contextlib.contextmanager
def throwaway_server(bindir: Path) -> Iterator[PgServer]:
    """A started server in a new directory under /tmp, stopped and removed on leaving (the tests'
    and the benches' server: fsync off, see ``PgServer.start``)."""
    run_as = server_user()
    reap_orphans(bindir, run_as)
    # under /tmp, not pytest's tmp dir: that one is private to root and the server user must enter it
    root = Path(tempfile.mkdtemp(prefix=ROOT_PREFIX))
    (root / "owner").write_text(str(os.getpid()))
    if run_as is not None:
        shutil.chown(root, user=run_as)
    server = PgServer(bindir=bindir, root=root, port=_free_port(), run_as=run_as)
    try:
        server.start()
        yield server
    finally:
        try:
            server.stop()
        finally:
            shutil.rmtree(root, ignore_errors=True)


@pytest.fixture(scope="session")
def pg_server() -> Iterator[PgServer]:
    bindir = find_bindir()
    if bindir is None:
        pytest.skip(
            "PostgreSQL server binaries (initdb, pg_ctl, postgres) not found in /usr/lib/postgresql/*/bin or PATH; "
            "install Debian's 'postgresql' (scripts/system-deps.sh, run by `make test`) or set GRANTFLOW_PG_BINDIR"
        )
    try:
        server_user()
    except RuntimeError as why:
        pytest.fail(str(why))
    with throwaway_server(bindir) as server:
        yield server


@pytest.fixture(scope="session")
def pg_template(pg_server: PgServer, tmp_path_factory: pytest.TempPathFactory) -> str:
    """A database migrated and demo-seeded once, copied for each test."""
    name = pg_server.create_database()
    engine = make_engine(pg_server.url(name))
    try:
        with pytest.MonkeyPatch.context() as mp:  # its audit key stays out of ~/.grantflow
            mp.setenv("GRANTFLOW_HOME", str(tmp_path_factory.mktemp("pg-template-home")))
            reset_settings()
            init_database(engine, demo=True)
        reset_settings()
    finally:
        engine.dispose()  # CREATE DATABASE ... TEMPLATE needs nobody connected to the template
    return name


@pytest.fixture
def pg_url(pg_server: PgServer, pg_template: str) -> Iterator[str]:
    """The URL of a fresh copy of the template database, dropped after the test."""
    name = pg_server.create_database(template=pg_template)
    try:
        yield pg_server.url(name)
    finally:
        dispose_engines()
        pg_server.drop_database(name)


@pytest.fixture
def pg_engine(pg_url: str, tmp_path: Path, monkeypatch: pytest.MonkeyPatch) -> Iterator[Engine]:
    """The configured engine with ``GRANTFLOW_DATABASE_URL`` pointing at the test's PostgreSQL database."""
    monkeypatch.setenv("GRANTFLOW_HOME", str(tmp_path / "home"))
    monkeypatch.setenv("GRANTFLOW_DATABASE_URL", pg_url)
    monkeypatch.delenv("GRANTFLOW_WORKFLOWS_DIR", raising=False)
    monkeypatch.delenv("GRANTFLOW_CONFIG", raising=False)
    reset_settings()
    clear_cache()
    engine = get_engine()
    assert engine.dialect.name == "postgresql"
    yield engine
    dispose_engines()
    reset_settings()
    clear_cache()
