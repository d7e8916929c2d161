"""Backup and restore of a whole grantflow installation, while it keeps running.

A backup is a directory:

    manifest.json              what is inside: every file's SHA-256 and size, the row count of
                               every table, the Alembic revision and the audit head, as of the copy
    database/grantflow.db      SQLite: a copy made with SQLite's online backup API
    database/grantflow.dump    PostgreSQL: ``pg_dump --format=custom``
    files/…                    the file store (attachments, by SHA-256)
    publications/…             the public disclosure directory
    keys/…                     the audit key, the bid master key, the web secret key (mode 0600)
    anchors/audit-anchors.jsonl  the audit anchor log

Why the order of copying matters while writes go on: the anchor log is copied *before* the
database, so every anchor in the backup names an event the copied database holds (an anchor
written later would name an event the copy lacks and ``audit verify`` would call the copy
truncated). The file store and the publications are copied *after* the database: a file is
written before the row that refers to it, so every row in the copy finds its file.

The database copy is one consistent snapshot: SQLite's backup API copies all pages in one
step inside one read transaction (WAL lets writers go on meanwhile); on PostgreSQL the counts
are read in a repeatable-read transaction whose snapshot ``pg_dump --snapshot`` then dumps.
Either way the counts in the manifest are those of the copy, not of a later moment.
"""

from __future__ import annotations

import fcntl
import hashlib
import json
import os
import shutil
import sqlite3
import subprocess
import tempfile
from collections.abc import Callable, Iterator
from contextlib import contextmanager
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

from sqlalchemy import Connection, Engine, inspect, text
from sqlalchemy.engine import make_url

from grantflow import clock
from grantflow.config import Settings, get_settings
from grantflow.db import audit
from grantflow.states.errors import GrantflowError
from grantflow.states.text import Text

FORMAT = "grantflow-backup"
VERSION = 1
MANIFEST = "manifest.json"
SQLITE_COPY = "database/grantflow.db"
PG_DUMP = "database/grantflow.dump"
KEY_MODE = 0o600
CHUNK = 1 << 20

MAIN_TABLES = (
    "programmes",
    "calls",
    "projects",
    "submissions",
    "attachments",
    "bids",
    "reviews",
    "publications",
    "audit_events",
    "users",
)
"""The tables printed first after a backup or restore (every table is counted in the manifest)."""

Progress = Callable[[Text], None]


class BackupRefused(GrantflowError):
    code = "backup_refused"


class RestoreRefused(GrantflowError):
    code = "restore_refused"


@dataclass(frozen=True)
class Part:
    """One thing a backup carries: where it sits in the backup, where it lives when installed."""

    name: str
    """path inside the backup (``keys/audit.key``) or folder prefix (``files``)"""
    source: Path
    secret: bool = False
    folder: bool = False


def parts(settings: Settings) -> list[Part]:
    """Everything outside the database, with its configured place (keys may live outside home)."""
    return [
        Part("keys/audit.key", settings.audit_key_path, secret=True),
        Part("keys/bid-master.key", settings.bid_master_key_path, secret=True),
        Part("keys/secret_key", settings.home_dir / "secret_key", secret=True),
        Part("anchors/audit-anchors.jsonl", settings.audit_anchor_path),
        Part("files", settings.files_dir, folder=True),
        Part("publications", settings.publications_dir, folder=True),
    ]


@dataclass
class Manifest:
    created_at: str
    dialect: str
    alembic_revision: str | None
    audit_head: dict[str, Any]
    tables: dict[str, int]
    files: dict[str, dict[str, Any]] = field(default_factory=dict)

    def to_json(self) -> str:
        body = {
            "format": FORMAT,
            "version": VERSION,
            "created_at": self.created_at,
            "dialect": self.dialect,
            "alembic_revision": self.alembic_revision,
            "audit_head": self.audit_head,
            "tables": self.tables,
            "files": self.files,
        }
        return json.dumps(body, ensure_ascii=False, indent=2, sort_keys=True) + "\n"

    @classmethod
    def read(cls, root: Path) -> Manifest:
        path = root / MANIFEST
        try:
            data = json.loads(path.read_text(encoding="utf-8"))
        except FileNotFoundError:
            raise RestoreRefused(
                Text(
                    f"{root} 不是完整的备份：缺少 {MANIFEST}", f"{root} is not a complete backup: {MANIFEST} is missing"
                )
            ) from None
        except (OSError, ValueError) as exc:
            raise RestoreRefused(
                Text(f"无法读取备份清单 {path}：{exc}", f"the backup manifest {path} cannot be read: {exc}")
            ) from None
        if not isinstance(data, dict) or data.get("format") != FORMAT:
            raise RestoreRefused(Text(f"{path} 不是 grantflow 备份清单", f"{path} is not a grantflow backup manifest"))
        try:
            manifest = cls(
                created_at=str(data["created_at"]),
                dialect=str(data["dialect"]),
                alembic_revision=data.get("alembic_revision"),
                audit_head=dict(data.get("audit_head") or {}),
                tables={str(k): int(v) for k, v in dict(data["tables"]).items()},
                files={str(k): dict(v) for k, v in dict(data["files"]).items()},
            )
            for entry in manifest.files.values():
                int(entry["size"]), str(entry["sha256"])
        except (KeyError, TypeError, ValueError) as exc:
            raise RestoreRefused(
                Text(
                    f"备份清单 {path} 不完整或有误：{exc!r}",
                    f"the backup manifest {path} is incomplete or wrong: {exc!r}",
                )
            ) from None
        if manifest.dialect not in ("sqlite", "postgresql"):
            raise RestoreRefused(
                Text(
                    f"备份清单中的数据库类型未知：{manifest.dialect}",
                    f"unknown database kind in the manifest: {manifest.dialect}",
                )
            )
        return manifest


@dataclass(frozen=True)
class RestoreReport:
    manifest: Manifest
    restored_tables: dict[str, int]
    audit_ok: bool
    audit_checked: int
    audit_problems: tuple[Text, ...]

    @property
    def count_mismatches(self) -> dict[str, tuple[int, int | None]]:
        """table → (manifest, restored) where they differ."""
        return {
            name: (want, self.restored_tables.get(name))
            for name, want in self.manifest.tables.items()
            if self.restored_tables.get(name) != want
        }

    @property
    def ok(self) -> bool:
        return self.audit_ok and not self.count_mismatches


# --- helpers -----------------------------------------------------------------------------------------


def _sha256(path: Path) -> str:
    h = hashlib.sha256()
    with path.open("rb") as fh:
        while chunk := fh.read(CHUNK):
            h.update(chunk)
    return h.hexdigest()


def _copy(source: Path, target: Path, *, secret: bool = False) -> dict[str, Any]:
    """Copy one file, hashing the bytes as they are written (what is in the backup is what is hashed)."""
    target.parent.mkdir(parents=True, exist_ok=True, mode=0o700)
    h = hashlib.sha256()
    size = 0
    fd = os.open(target, os.O_WRONLY | os.O_CREAT | os.O_EXCL, KEY_MODE if secret else 0o640)
    with source.open("rb") as src, os.fdopen(fd, "wb") as dst:
        while chunk := src.read(CHUNK):
            h.update(chunk)
            size += len(chunk)
            dst.write(chunk)
        dst.flush()
        os.fsync(dst.fileno())
    entry: dict[str, Any] = {"sha256": h.hexdigest(), "size": size}
    if secret:
        entry["mode"] = f"{KEY_MODE:04o}"
    return entry


def _walk(root: Path) -> Iterator[Path]:
    """Files under ``root``, skipping dot-names: half-written uploads and staging areas are
    dot-named and only become real files by an atomic rename."""
    if not root.is_dir():
        return
    for path in sorted(root.rglob("*")):
        rel = path.relative_to(root)
        if any(p.startswith(".") for p in rel.parts) or not path.is_file():
            continue
        yield path


def _is_empty_dir(path: Path) -> bool:
    return not path.exists() or (path.is_dir() and not any(path.iterdir()))


def _count_tables(conn: Connection) -> dict[str, int]:
    names = sorted(n for n in inspect(conn).get_table_names() if n != "alembic_version")
    preparer = conn.dialect.identifier_preparer
    return {n: int(conn.execute(text(f"SELECT count(*) FROM {preparer.quote(n)}")).scalar_one()) for n in names}


def _state_of(conn: Connection) -> tuple[str | None, dict[str, Any]]:
    """The Alembic revision and the audit head (id, hash) as this connection sees them."""
    names = set(inspect(conn).get_table_names())
    revision = None
    if "alembic_version" in names:
        revision = conn.execute(text("SELECT version_num FROM alembic_version")).scalar_one_or_none()
    head: dict[str, Any] = {}
    if "audit_head" in names:
        if "last_seq" in {c["name"] for c in inspect(conn).get_columns("audit_head")}:
            record = audit.current_head(conn, now=clock.now())
            head = {"id": record.event_id, "hash": record.hash, "chains": len(record.heads)}
        else:  # a database from before the log had several chains
            row = conn.execute(text("SELECT last_event_id, last_hash FROM audit_head WHERE id = 1")).first()
            if row is not None:
                head = {"id": int(row[0]), "hash": str(row[1])}
    return revision, head


def sqlite_path(url: str) -> Path:
    database = make_url(url).database
    if not database or database == ":memory:":
        raise BackupRefused(Text("内存数据库无法备份", "an in-memory database cannot be backed up"))
    return Path(database).expanduser().resolve()


def _libpq_env(url: str) -> dict[str, str]:
    """libpq's variables for ``pg_dump``/``pg_restore``: the password never on a command line."""
    u = make_url(url)
    env = dict(os.environ)
    for var, value in (
        ("PGHOST", u.host),
        ("PGPORT", str(u.port) if u.port else None),
        ("PGUSER", u.username),
        ("PGPASSWORD", u.password),
        ("PGDATABASE", u.database),
    ):
        if value:
            env[var] = str(value)
    return env


def pg_tool(name: str) -> str:
    """``pg_dump`` or ``pg_restore``: on PATH, else the newest Debian server binaries."""
    found = shutil.which(name)
    if found:
        return found
    versions = sorted(Path("/usr/lib/postgresql").glob("*/bin"), key=lambda p: p.parent.name, reverse=True)
    for d in versions:
        if (d / name).is_file():
            return str(d / name)
    raise BackupRefused(
        Text(
            f"找不到 {name}：请安装 PostgreSQL 客户端（Debian：postgresql-client）",
            f"{name} not found: install the PostgreSQL client tools (Debian: postgresql-client)",
        )
    )


def _run(cmd: list[str], env: dict[str, str], what: Text) -> None:
    result = subprocess.run(cmd, env=env, capture_output=True, text=True, check=False)
    if result.returncode != 0:
        detail = (result.stderr or result.stdout).strip()[-1500:]
        raise BackupRefused(Text(f"{what.zh}失败：{detail}", f"{what.en} failed: {detail}"))


@contextmanager
def _shared_lock(path: Path) -> Iterator[None]:
    """Hold the anchor log's lock (``audit.anchor`` appends under an exclusive one): no half line."""
    fd = os.open(path, os.O_RDONLY)
    try:
        fcntl.flock(fd, fcntl.LOCK_SH)
        yield
    finally:
        os.close(fd)


# --- backup ------------------------------------------------------------------------------------------


def _backup_sqlite(engine: Engine, url: str, target: Path) -> tuple[dict[str, int], str | None, dict[str, Any]]:
    source = sqlite_path(url)
    if not source.is_file():
        raise BackupRefused(Text(f"数据库文件 {source} 不存在", f"the database file {source} does not exist"))
    target.parent.mkdir(parents=True, exist_ok=True, mode=0o700)
    with engine.connect() as conn:
        raw = conn.connection.dbapi_connection
        assert isinstance(raw, sqlite3.Connection)
        dst = sqlite3.connect(target)
        try:
            # pages=-1: every page in one step, inside one read transaction: one snapshot, and
            # under WAL the writers are not held up while it is taken
            raw.backup(dst, pages=-1)
        finally:
            dst.close()
        conn.rollback()
    os.chmod(target, 0o600)
    copy = sqlite3.connect(target)
    try:
        # a self-contained file: no -wal beside it, so the checksum covers the whole database
        copy.execute("PRAGMA journal_mode=DELETE")
    finally:
        copy.close()
    from grantflow.db.session import make_engine

    check = make_engine(f"sqlite:///{target}")
    try:
        with check.connect() as conn:
            tables = _count_tables(conn)
            revision, head = _state_of(conn)
    finally:
        check.dispose()
    return tables, revision, head


def _backup_postgres(engine: Engine, url: str, target: Path) -> tuple[dict[str, int], str | None, dict[str, Any]]:
    tool = pg_tool("pg_dump")
    target.parent.mkdir(parents=True, exist_ok=True, mode=0o700)
    with engine.connect() as conn:
        conn.execute(text("SET TRANSACTION ISOLATION LEVEL REPEATABLE READ, READ ONLY"))
        snapshot = str(conn.execute(text("SELECT pg_export_snapshot()")).scalar_one())
        tables = _count_tables(conn)
        revision, head = _state_of(conn)
        # the dump reads the very snapshot the counts came from, while this transaction holds it
        _run(
            [tool, "--format=custom", "--no-owner", f"--snapshot={snapshot}", f"--file={target}"],
            _libpq_env(url),
            Text("pg_dump ", "pg_dump"),
        )
        conn.rollback()
    os.chmod(target, 0o600)
    return tables, revision, head


def backup(
    destination: Path,
    *,
    settings: Settings | None = None,
    engine: Engine | None = None,
    on_step: Progress | None = None,
) -> Manifest:
    """Write a complete, consistent backup into ``destination`` (absent or empty)."""
    from grantflow.db.session import get_engine

    s = settings or get_settings()
    say = on_step or (lambda _t: None)
    dest = destination.expanduser().resolve()
    if not _is_empty_dir(dest):
        raise BackupRefused(
            Text(
                f"备份目录 {dest} 不是空目录：请指定一个不存在或为空的目录",
                f"the backup directory {dest} is not empty: give a directory that is absent or empty",
            )
        )
    for p in parts(s):
        if p.folder and dest.is_relative_to(p.source.resolve()):
            raise BackupRefused(
                Text(f"备份目录不能位于 {p.source} 之内", f"the backup directory cannot be inside {p.source}")
            )
    url = s.url
    if not url.startswith(("sqlite", "postgresql")):
        raise BackupRefused(
            Text(
                f"不支持备份此类数据库：{make_url(url).drivername}",
                f"cannot back up a {make_url(url).drivername} database",
            )
        )
    db = engine or get_engine(s)
    dest.mkdir(parents=True, exist_ok=True, mode=0o700)
    os.chmod(dest, 0o700)  # it holds the keys
    try:
        return _write(dest, s, db, url, say)
    except BaseException:
        # it was empty: leave it empty, so the same command can simply be run again
        for child in dest.iterdir():
            if child.is_dir() and not child.is_symlink():
                shutil.rmtree(child, ignore_errors=True)
            else:
                child.unlink(missing_ok=True)
        raise


def _write(dest: Path, s: Settings, db: Engine, url: str, say: Progress) -> Manifest:
    files: dict[str, dict[str, Any]] = {}

    by_name = {p.name: p for p in parts(s)}
    anchors = by_name["anchors/audit-anchors.jsonl"]
    if anchors.source.is_file():  # before the database: see the module's note
        with _shared_lock(anchors.source):
            files[anchors.name] = _copy(anchors.source, dest / anchors.name)
    say(Text("数据库快照…", "database snapshot…"))
    if url.startswith("sqlite"):
        name = SQLITE_COPY
        tables, revision, head = _backup_sqlite(db, url, dest / name)
        dialect = "sqlite"
    else:
        name = PG_DUMP
        tables, revision, head = _backup_postgres(db, url, dest / name)
        dialect = "postgresql"
    files[name] = {"sha256": _sha256(dest / name), "size": (dest / name).stat().st_size, "mode": f"{KEY_MODE:04o}"}
    for p in parts(s):
        if p.name == anchors.name:
            continue
        if p.folder:
            say(Text(f"复制 {p.source} …", f"copying {p.source} …"))
            for path in _walk(p.source):
                rel = f"{p.name}/{path.relative_to(p.source).as_posix()}"
                files[rel] = _copy(path, dest / rel)
        elif p.source.is_file():
            files[p.name] = _copy(p.source, dest / p.name, secret=p.secret)
    manifest = Manifest(
        created_at=clock.now().isoformat(timespec="seconds"),
        dialect=dialect,
        alembic_revision=revision,
        audit_head=head,
        tables=tables,
        files=dict(sorted(files.items())),
    )
    # the manifest last, by rename: a backup without one was interrupted and restore refuses it
    fd, tmp = tempfile.mkstemp(dir=dest, prefix=".manifest-")
    with os.fdopen(fd, "w", encoding="utf-8") as fh:
        fh.write(manifest.to_json())
        fh.flush()
        os.fsync(fh.fileno())
    os.replace(tmp, dest / MANIFEST)
    return manifest


# --- restore -----------------------------------------------------------------------------------------


def verify_backup(source: Path) -> Manifest:
    """Read the manifest and check every file's size and SHA-256; refuse naming the first that differs."""
    root = source.expanduser().resolve()
    if not root.is_dir():
        raise RestoreRefused(Text(f"备份目录 {root} 不存在", f"the backup directory {root} does not exist"))
    manifest = Manifest.read(root)
    for rel, entry in manifest.files.items():
        path = (root / rel).resolve()
        if not path.is_relative_to(root) or rel.startswith("/"):
            raise RestoreRefused(
                Text(f"备份清单含非法路径：{rel}", f"the manifest names a path outside the backup: {rel}")
            )
        if not path.is_file():
            raise RestoreRefused(
                Text(f"备份不完整：缺少文件 {rel}", f"the backup is incomplete: the file {rel} is missing")
            )
        size, digest = path.stat().st_size, _sha256(path)
        if size != int(entry["size"]) or digest != entry["sha256"]:
            raise RestoreRefused(
                Text(
                    f"备份文件 {rel} 与清单不符（SHA-256 {digest[:16]}…，"
                    f"清单为 {str(entry['sha256'])[:16]}…）：拒绝恢复",
                    f"the backup file {rel} differs from the manifest (SHA-256 {digest[:16]}…, manifest "
                    f"{str(entry['sha256'])[:16]}…): restore refused",
                ),
                details={"file": rel},
            )
    if manifest.dialect == "sqlite" and SQLITE_COPY not in manifest.files:
        raise RestoreRefused(Text(f"备份中没有数据库 {SQLITE_COPY}", f"the backup holds no database {SQLITE_COPY}"))
    if manifest.dialect == "postgresql" and PG_DUMP not in manifest.files:
        raise RestoreRefused(Text(f"备份中没有数据库转储 {PG_DUMP}", f"the backup holds no database dump {PG_DUMP}"))
    return manifest


IGNORED_IN_HOME = frozenset({"grantflow.toml"})
"""May already sit in the home a backup is restored into: the configuration is not data."""


def _refuse_non_empty(s: Settings, manifest: Manifest) -> None:
    home = s.home_dir
    if home.exists():
        if not home.is_dir():
            raise RestoreRefused(Text(f"{home} 不是目录", f"{home} is not a directory"))
        present = sorted(p.name for p in home.iterdir() if p.name not in IGNORED_IN_HOME)
        if present:
            shown = ", ".join(present[:5])
            raise RestoreRefused(
                Text(
                    f"GRANTFLOW_HOME（{home}）不是空的（已有 {shown}）：只能恢复到空的数据目录",
                    f"GRANTFLOW_HOME ({home}) is not empty (it holds {shown}): restore only into an empty home",
                )
            )
    for p in parts(s):
        if p.source.exists() and not _is_empty_dir(p.source):
            raise RestoreRefused(
                Text(f"{p.source} 已存在：拒绝覆盖", f"{p.source} exists already: restore will not overwrite it")
            )
    if manifest.dialect == "sqlite":
        if not s.url.startswith("sqlite"):
            raise RestoreRefused(
                Text(
                    "这是 SQLite 备份，而 GRANTFLOW_DATABASE_URL 指向其他数据库",
                    "this is a SQLite backup, but GRANTFLOW_DATABASE_URL names another kind of database",
                )
            )
        db = sqlite_path(s.url)
        if db.exists():
            raise RestoreRefused(Text(f"数据库文件 {db} 已存在", f"the database file {db} exists already"))
    elif not s.url.startswith("postgresql"):
        raise RestoreRefused(
            Text(
                "这是 PostgreSQL 备份：请把 GRANTFLOW_DATABASE_URL 设为一个空的 PostgreSQL 数据库",
                "this is a PostgreSQL backup: set GRANTFLOW_DATABASE_URL to an empty PostgreSQL database",
            )
        )


def _place(source: Path, target: Path, *, secret: bool, placed: list[Path]) -> None:
    target.parent.mkdir(parents=True, exist_ok=True, mode=0o700 if secret else 0o755)
    fd = os.open(target, os.O_WRONLY | os.O_CREAT | os.O_EXCL, KEY_MODE if secret else 0o640)
    placed.append(target)
    with source.open("rb") as src, os.fdopen(fd, "wb") as dst:
        shutil.copyfileobj(src, dst, CHUNK)
        dst.flush()
        os.fsync(dst.fileno())
    if secret:
        os.chmod(target, KEY_MODE)


def _target_for(s: Settings, rel: str) -> tuple[Path, bool] | None:
    for p in parts(s):
        if p.folder and rel.startswith(p.name + "/"):
            return p.source / rel[len(p.name) + 1 :], False
        if not p.folder and rel == p.name:
            return p.source, p.secret
    return None


def _install(s: Settings, root: Path, manifest: Manifest, placed: list[Path], say: Progress) -> None:
    url = s.url
    s.home_dir.mkdir(parents=True, exist_ok=True)
    say(Text("恢复数据库…", "restoring the database…"))
    if manifest.dialect == "sqlite":
        _place(root / SQLITE_COPY, sqlite_path(url), secret=True, placed=placed)
    else:
        # one transaction: a failure leaves the target database as empty as it was
        _run(
            [
                pg_tool("pg_restore"),
                "--no-owner",
                "--exit-on-error",
                "--single-transaction",
                f"--dbname={make_url(url).database}",
                str(root / PG_DUMP),
            ],
            _libpq_env(url),
            Text("pg_restore ", "pg_restore"),
        )
    say(Text("恢复文件、密钥与锚点…", "restoring files, keys and anchors…"))
    for rel in manifest.files:
        if rel in (SQLITE_COPY, PG_DUMP):
            continue
        target = _target_for(s, rel)
        if target is None:
            continue  # a part a newer version backs up; nothing here knows where it goes
        _place(root / rel, target[0], secret=target[1], placed=placed)


def _undo(s: Settings, placed: list[Path]) -> None:
    for path in placed:
        path.unlink(missing_ok=True)
    if s.home_dir.is_dir():
        for child in s.home_dir.iterdir():
            if child.name in IGNORED_IN_HOME:
                continue
            if child.is_dir() and not child.is_symlink():
                shutil.rmtree(child, ignore_errors=True)
            else:
                child.unlink(missing_ok=True)


def restore(source: Path, *, settings: Settings | None = None, on_step: Progress | None = None) -> RestoreReport:
    """Check the backup, then install it into an empty home (and an empty database on PostgreSQL);
    finally check the audit chain and every table's row count against the manifest."""
    from grantflow.db.audit import current_key, forget_key, verify
    from grantflow.db.session import dispose_engines, make_engine

    s = settings or get_settings()
    say = on_step or (lambda _t: None)
    root = source.expanduser().resolve()
    say(Text("校验备份文件…", "checking the backup's checksums…"))
    manifest = verify_backup(root)
    _refuse_non_empty(s, manifest)
    url = s.url
    if manifest.dialect == "postgresql":
        target_engine = make_engine(url)
        try:
            with target_engine.connect() as conn:
                existing = list(inspect(conn).get_table_names())
        finally:
            target_engine.dispose()
        if existing:
            raise RestoreRefused(
                Text(
                    f"目标数据库 {make_url(url).database} 不是空的（已有 {len(existing)} 张表）",
                    f"the target database {make_url(url).database} is not empty ({len(existing)} tables)",
                )
            )
    placed: list[Path] = []
    try:
        _install(s, root, manifest, placed, say)
    except BaseException:
        # the home was empty before: leave it so, and the restore can simply be run again
        _undo(s, placed)
        raise
    s.ensure_dirs()
    forget_key()
    dispose_engines()
    check = make_engine(url, busy_timeout_ms=s.sqlite_busy_timeout_ms)
    try:
        with check.connect() as conn:
            restored = _count_tables(conn)
            try:
                result = verify(conn, anchors=s.audit_anchor_path, key=current_key(settings=s))
            except GrantflowError as exc:  # the key itself missing or damaged
                return RestoreReport(manifest, restored, False, 0, (exc.message,))
    finally:
        check.dispose()
    return RestoreReport(manifest, restored, result.ok, result.checked, tuple(p.text for p in result.problems))
