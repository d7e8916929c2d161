"""The append-only audit log: a keyed hash chain, anchored outside the database.

Each event's hash is an HMAC-SHA256, under the **audit key**, of its fields (who, what, when,
the channel it came through, the digest of its payload) and the previous event's hash.
``audit_head`` holds the newest id and hash. The key lives in a file outside the database
(``GRANTFLOW_AUDIT_KEY_FILE``, default ``$GRANTFLOW_HOME/keys/audit.key``, beside the bid
master key), so whoever can write to the database but not read the key cannot recompute a
valid chain after editing it.

The head is **anchored** outside the database: ``anchor`` appends the current head (event id,
hash, time, and an HMAC of the line) to an append-only log (``GRANTFLOW_AUDIT_ANCHOR_FILE``,
default ``$GRANTFLOW_HOME/anchors/audit-anchors.jsonl``): the housekeeping flow does so daily
and every publication does. ``verify`` checks every keyed hash, the links, the head and every
anchor, and names what was rewritten, deleted or truncated (docs/audit.md).

Events get consecutive ids from the head row. SQLite serialises writers by itself. On
PostgreSQL an appender reads the head without a lock, computes the event's hash, and then
writes head, event and (when there is one) the outbox message in one statement that only takes
effect if the head is still the one it read; if another transaction moved the head first, it
reads again and recomputes. The head row is therefore locked only from that one statement to
the commit, not for the whole transaction: concurrent transitions on different projects
overlap in everything but that last step.
"""

from __future__ import annotations

import fcntl
import hashlib
import hmac
import json
import os
import secrets
from collections.abc import Iterator, Mapping
from dataclasses import dataclass, field
from datetime import datetime
from pathlib import Path
from typing import Any

from sqlalchemy import Connection, Engine, bindparam, func, insert, inspect, select, update
from sqlalchemy.engine import Dialect

from grantflow.config import Settings, get_settings
from grantflow.db.models import AuditEvent, AuditHead, OutboxMessage, table
from grantflow.db.prepared import Prepared, Statements, cursor
from grantflow.states.channels import Channel
from grantflow.states.errors import GrantflowError
from grantflow.states.permissions import Actor
from grantflow.states.text import Text

GENESIS = "0" * 64
KEY_BYTES = 32

_events = table(AuditEvent)
_head = table(AuditHead)
_outbox = table(OutboxMessage)

_READ_HEAD = select(_head.c.last_event_id, _head.c.last_hash).where(_head.c.id == 1)
_WRITE_HEAD = update(_head).where(_head.c.id == 1)
_INSERT_KEYS = (
    "id",
    "subject",
    "subject_id",
    "actor_id",
    "actor_name",
    "action",
    "from_state",
    "to_state",
    "payload_digest",
    "created_at",
    "prev_hash",
    "channel",
    "channel_detail",
    "key_id",
    "payload",
    "hash",
)
MESSAGE_KEYS = (
    "kind",
    "subject",
    "subject_id",
    "audiences",
    "payload",
    "status",
    "attempts",
    "next_attempt_at",
    "created_at",
)
"""The columns of an outbox message written with its event (``append(message=...)``)."""
_OUTBOX_KEYS = (*MESSAGE_KEYS, "event_id")


def _chain(with_message: bool) -> Any:
    """PostgreSQL: move the head from ``old_id`` to ``id`` and, only if that matched, insert the
    event (and its outbox message); returns how many head rows moved (1, or 0 if another
    transaction moved the head since it was read)."""
    moved = (
        update(_head)
        .where(_head.c.id == 1, _head.c.last_event_id == bindparam("old_id"))
        .values(last_event_id=bindparam("id"), last_hash=bindparam("hash"))
        .returning(_head.c.id)
        .cte("moved")
    )
    event = insert(_events).from_select(
        list(_INSERT_KEYS), select(*[bindparam(k, type_=_events.c[k].type) for k in _INSERT_KEYS]).select_from(moved)
    )
    stmt = select(func.count()).select_from(moved).add_cte(event.cte("event"))
    if with_message:
        values = [bindparam("id" if k == "event_id" else f"m_{k}", type_=_outbox.c[k].type) for k in _OUTBOX_KEYS]
        message = insert(_outbox).from_select(list(_OUTBOX_KEYS), select(*values).select_from(moved))
        stmt = stmt.add_cte(message.cte("message"))
    return stmt


def _build(name: str, dialect: Dialect) -> Prepared:
    if name == "read_head":
        return Prepared(_READ_HEAD, dialect)
    if name == "write_head":
        return Prepared(_WRITE_HEAD, dialect, ("last_event_id", "last_hash"))
    if name == "outbox":
        return Prepared(insert(_outbox).inline(), dialect, _OUTBOX_KEYS)
    if name.startswith("chain"):
        return Prepared(_chain(with_message=name == "chain+message"), dialect)
    return Prepared(insert(_events), dialect, _INSERT_KEYS)


STATEMENTS = Statements(_build)
"""The statements of ``append``, compiled per dialect (see ``db.prepared``)."""


# --- the key ---------------------------------------------------------------------------------------


class AuditKeyUnavailable(GrantflowError):
    code = "audit_key_unavailable"


@dataclass(frozen=True)
class AuditKey:
    secret: bytes = field(repr=False)
    id: str
    path: Path


def key_id_of(secret: bytes) -> str:
    """A short public name for a key (stored with each event), never the key itself."""
    return hashlib.sha256(b"grantflow-audit-key:" + secret).hexdigest()[:16]


def _read_key(path: Path) -> AuditKey:
    secret = path.read_bytes()
    if len(secret) != KEY_BYTES:
        raise AuditKeyUnavailable(
            Text(
                f"审计密钥文件 {path} 已损坏（应为 {KEY_BYTES} 字节）",
                f"the audit key file {path} is damaged (expected {KEY_BYTES} bytes)",
            )
        )
    return AuditKey(secret, key_id_of(secret), path)


def create_key(path: Path) -> AuditKey:
    """A new random key, written with mode 0600 in a 0700 directory; an existing key is kept."""
    path.parent.mkdir(parents=True, exist_ok=True, mode=0o700)
    try:
        # O_EXCL: two processes creating the key at once must not end with different keys
        fd = os.open(path, os.O_WRONLY | os.O_CREAT | os.O_EXCL, 0o600)
    except FileExistsError:
        return _read_key(path)
    secret = secrets.token_bytes(KEY_BYTES)
    with os.fdopen(fd, "wb") as fh:
        fh.write(secret)
        fh.flush()
        os.fsync(fh.fileno())
    return AuditKey(secret, key_id_of(secret), path)


_cache: tuple[Settings, AuditKey] | None = None


def current_key(*, create: bool = False, settings: Settings | None = None) -> AuditKey:
    """The configured audit key, read once per settings object; created only when asked."""
    global _cache
    s = settings or get_settings()
    if _cache is not None and _cache[0] is s:
        return _cache[1]
    path = s.audit_key_path
    if path.is_file():
        key = _read_key(path)
    elif create:
        key = create_key(path)
    else:
        raise AuditKeyUnavailable(
            Text(
                f"找不到审计密钥文件 {path}：请从备份恢复该文件（或设置 GRANTFLOW_AUDIT_KEY_FILE）",
                f"the audit key file {path} is missing: restore it from your backup "
                "(or point GRANTFLOW_AUDIT_KEY_FILE at it)",
            )
        )
    _cache = (s, key)
    return key


def forget_key() -> None:
    """Drop the cached key (after a key file was replaced in the same process)."""
    global _cache
    _cache = None


def prepare_key(engine: Engine, settings: Settings | None = None) -> AuditKey:
    """Make sure the audit key exists before the database is migrated or written (``grantflow
    init`` and every start). A missing key is created only while no event depends on one: if
    the log already holds keyed events, a new key would make all of them unverifiable, so the
    operator is told to restore the old key instead."""
    s = settings or get_settings()
    if s.audit_key_path.is_file():
        return current_key(settings=s)
    with engine.connect() as conn:
        names = inspect(conn).get_table_names()
        if "audit_events" in names:
            columns = {c["name"] for c in inspect(conn).get_columns("audit_events")}
            if "key_id" in columns:
                keyed = conn.execute(select(_events.c.key_id).where(_events.c.key_id != "").limit(1)).first()
                if keyed is not None:
                    raise AuditKeyUnavailable(
                        Text(
                            f"找不到审计密钥文件 {s.audit_key_path}，而审计日志中已有用密钥 {keyed[0]} 计算的事件："
                            "请从备份恢复该密钥文件，不要新建",
                            f"the audit key file {s.audit_key_path} is missing, and the audit log holds events "
                            f"keyed with key {keyed[0]}: restore that key file from your backup, "
                            "do not create a new one",
                        )
                    )
    return current_key(create=True, settings=s)


# --- hashing ----------------------------------------------------------------------------------------


def canonical(payload: Mapping[str, Any]) -> str:
    """One text for one payload: sorted keys, no spaces, non-JSON values as strings."""
    return json.dumps(payload, sort_keys=True, ensure_ascii=False, separators=(",", ":"), default=str)


def normalise(payload: Mapping[str, Any] | None) -> tuple[dict[str, Any], str]:
    """The payload as stored (plain JSON types) and its digest."""
    text = canonical(payload or {})
    return json.loads(text), hashlib.sha256(text.encode()).hexdigest()


def event_hash(
    secret: bytes,
    *,
    id: int,
    subject: str,
    subject_id: int,
    actor_id: int | None,
    actor_name: str,
    action: str,
    from_state: str | None,
    to_state: str | None,
    payload_digest: str,
    created_at: datetime,
    prev_hash: str,
    channel: str | None,
    channel_detail: str | None,
    key_id: str,
) -> str:
    """HMAC-SHA256 under the audit key of the event's fields and the previous event's hash."""
    fields = [
        id,
        subject,
        subject_id,
        actor_id,
        actor_name,
        action,
        from_state,
        to_state,
        payload_digest,
        created_at.isoformat(timespec="microseconds"),
        prev_hash,
        channel,
        channel_detail,
        key_id,
    ]
    return hmac.new(secret, canonical({"e": fields}).encode(), hashlib.sha256).hexdigest()


# --- writing ----------------------------------------------------------------------------------------


def append(
    conn: Connection,
    *,
    subject: str,
    subject_id: int,
    actor_id: int | None,
    actor_name: str,
    action: str,
    from_state: str | None,
    to_state: str | None,
    payload: Mapping[str, Any] | None,
    now: datetime,
    channel: Channel,
    message: Mapping[str, Any] | None = None,
) -> int:
    """Append one event inside the caller's transaction; returns its id.

    ``message`` (the ``MESSAGE_KEYS`` of an outbox row) is written with the event and points
    at it. Callers that can should append last in their transaction: on PostgreSQL the head is
    held from here to the commit.
    """
    stored, digest = normalise(payload)
    dialect = conn.dialect
    cur = cursor(conn)
    read_head = STATEMENTS.get(dialect, "read_head")
    concurrent = dialect.name == "postgresql"
    while True:
        head = read_head.row(read_head.execute(cur).fetchone())
        if head is None:
            raise RuntimeError("the audit_head row is missing: run `grantflow db upgrade`")
        last_id, prev = head
        # the first event of a new log may create the key; later ones need the key already in use
        key = current_key(create=last_id == 0)
        new_id = last_id + 1
        row: dict[str, Any] = {
            "id": new_id,
            "subject": subject,
            "subject_id": subject_id,
            "actor_id": actor_id,
            "actor_name": actor_name,
            "action": action,
            "from_state": from_state,
            "to_state": to_state,
            "payload_digest": digest,
            "created_at": now,
            "prev_hash": prev,
            "channel": channel.kind,
            "channel_detail": channel.detail,
            "key_id": key.id,
        }
        h = event_hash(key.secret, **row)
        row["payload"] = stored
        row["hash"] = h
        if not concurrent:
            # SQLite: this transaction already holds the only write lock, nobody moves the head
            STATEMENTS.get(dialect, "insert").execute(cur, row)
            STATEMENTS.get(dialect, "write_head").execute(cur, {"last_event_id": new_id, "last_hash": h})
            if message is not None:
                STATEMENTS.get(dialect, "outbox").execute(cur, {**message, "event_id": new_id})
            return new_id
        row["old_id"] = last_id
        name = "chain"
        if message is not None:
            row.update({f"m_{k}": message[k] for k in MESSAGE_KEYS})
            name = "chain+message"
        chain = STATEMENTS.get(dialect, name)
        if chain.execute(cur, row).fetchone()[0] == 1:
            return new_id
        # another transaction appended (and committed) since the read: read its head again


def note(
    conn: Connection,
    *,
    subject: str = "project",
    subject_id: int,
    actor: Actor,
    action: str,
    payload: Mapping[str, Any] | None,
    now: datetime,
) -> int:
    """Append an event that changes no state (a form submitted, a review recorded, a bid sealed)."""
    return append(
        conn,
        subject=subject,
        subject_id=subject_id,
        actor_id=actor.user_id,
        actor_name=actor.name,
        action=action,
        from_state=None,
        to_state=None,
        payload=payload,
        now=now,
        channel=actor.channel,
    )


# --- anchors ----------------------------------------------------------------------------------------


@dataclass(frozen=True)
class AnchorRecord:
    """The chain's head as written to the anchor log at ``anchored_at``."""

    event_id: int
    hash: str
    anchored_at: datetime


def _anchor_mac(secret: bytes, line: Mapping[str, Any]) -> str:
    body = {k: v for k, v in line.items() if k != "mac"}
    return hmac.new(secret, ("grantflow-anchor:" + canonical(body)).encode(), hashlib.sha256).hexdigest()


def anchor(conn: Connection, *, now: datetime, path: Path | None = None) -> AnchorRecord:
    """Append the current head of the chain to the anchor log (created on first use).

    The line holds the newest event's id and hash, the time, the key id and an HMAC of the line
    under the audit key. The file is only ever opened for appending, and each line is written
    whole under an exclusive lock and synced, so concurrent anchors (a publication during the
    daily flow) never interleave.
    """
    last_id, last_hash = conn.execute(select(_head.c.last_event_id, _head.c.last_hash).where(_head.c.id == 1)).one()
    key = current_key(create=last_id == 0)
    record = AnchorRecord(int(last_id), str(last_hash), now)
    line: dict[str, Any] = {
        "event_id": record.event_id,
        "hash": record.hash,
        "anchored_at": now.isoformat(timespec="microseconds"),
        "key_id": key.id,
    }
    line["mac"] = _anchor_mac(key.secret, line)
    target = path or get_settings().audit_anchor_path
    target.parent.mkdir(parents=True, exist_ok=True, mode=0o700)
    fd = os.open(target, os.O_WRONLY | os.O_APPEND | os.O_CREAT, 0o640)
    try:
        fcntl.flock(fd, fcntl.LOCK_EX)
        os.write(fd, (json.dumps(line, ensure_ascii=False, separators=(",", ":")) + "\n").encode())
        os.fsync(fd)
    finally:
        os.close(fd)  # closing releases the lock
    return record


@dataclass(frozen=True)
class AnchorLine:
    number: int
    """1-based line number in the anchor log."""
    event_id: int
    hash: str
    anchored_at: str
    key_id: str
    mac_ok: bool


def read_anchors(path: Path | None = None, *, key: AuditKey | None = None) -> tuple[list[AnchorLine], list[int]]:
    """The anchor log's lines (MAC checked) and the numbers of lines that cannot be read at all."""
    target = path or get_settings().audit_anchor_path
    if not target.is_file():
        return [], []
    secret = (key or current_key()).secret
    lines: list[AnchorLine] = []
    damaged: list[int] = []
    with target.open(encoding="utf-8") as fh:
        for number, text in enumerate(fh, 1):
            if not text.strip():
                continue
            try:
                data = json.loads(text)
                lines.append(
                    AnchorLine(
                        number,
                        int(data["event_id"]),
                        str(data["hash"]),
                        str(data["anchored_at"]),
                        str(data.get("key_id", "")),
                        hmac.compare_digest(str(data.get("mac", "")), _anchor_mac(secret, data)),
                    )
                )
            except (ValueError, KeyError, TypeError):
                damaged.append(number)
    return lines, damaged


# --- verifying --------------------------------------------------------------------------------------


@dataclass(frozen=True)
class Problem:
    """One finding of ``verify``. ``kind``: rewritten, deleted, truncated, anchor or key."""

    kind: str
    event_id: int | None
    text: Text


@dataclass(frozen=True)
class Verification:
    ok: bool
    checked: int
    anchors_checked: int = 0
    problems: tuple[Problem, ...] = ()
    last_event_id: int = 0

    @property
    def broken_event_id(self) -> int | None:
        return self.problems[0].event_id if self.problems else None

    @property
    def problem(self) -> str | None:
        return self.problems[0].text.en if self.problems else None

    @property
    def problem_zh(self) -> str | None:
        return self.problems[0].text.zh if self.problems else None


def _rows(conn: Connection) -> Iterator[Any]:
    result = conn.execution_options(yield_per=2000).execute(select(_events).order_by(_events.c.id))
    yield from result


def _span(first: int, last: int) -> tuple[str, str]:
    if first == last:
        return f"第 {first} 号事件", f"event {first}"
    return f"第 {first}–{last} 号事件", f"events {first}–{last}"


class _Runs:
    """Consecutive events with the same finding, reported once as a range."""

    def __init__(self) -> None:
        self.runs: list[tuple[str, int, int]] = []

    def add(self, kind: str, event_id: int) -> None:
        if self.runs and self.runs[-1][0] == kind and self.runs[-1][2] == event_id - 1:
            self.runs[-1] = (kind, self.runs[-1][1], event_id)
        else:
            self.runs.append((kind, event_id, event_id))


def verify(conn: Connection, *, anchors: Path | None = None, key: AuditKey | None = None) -> Verification:
    """Walk the chain from the start and check every anchor; name each altered, missing or cut event."""
    key = key or current_key()
    anchor_lines, damaged = read_anchors(anchors, key=key)
    wanted = {a.event_id for a in anchor_lines}
    stored_hash: dict[int, str] = {}
    problems: list[Problem] = []
    runs = _Runs()
    other_keys: dict[str, int] = {}
    expected_id = 1
    prev = GENESIS
    checked = 0
    for row in _rows(conn):
        if row.id != expected_id:
            zh, en = _span(expected_id, row.id - 1)
            problems.append(
                Problem(
                    "deleted",
                    expected_id,
                    Text(
                        f"{zh}缺失（已被删除）；其后存储的是第 {row.id} 号事件",
                        f"{en} missing (deleted); the next stored event is {row.id}",
                    ),
                )
            )
            prev = row.prev_hash  # carry on from what is there, to find what else is wrong
        _, digest = normalise(row.payload)
        if row.key_id != key.id:
            other_keys[row.key_id] = other_keys.get(row.key_id, 0) + 1
        else:
            recomputed = event_hash(
                key.secret,
                id=row.id,
                subject=row.subject,
                subject_id=row.subject_id,
                actor_id=row.actor_id,
                actor_name=row.actor_name,
                action=row.action,
                from_state=row.from_state,
                to_state=row.to_state,
                payload_digest=row.payload_digest,
                created_at=row.created_at,
                prev_hash=row.prev_hash,
                channel=row.channel,
                channel_detail=row.channel_detail,
                key_id=row.key_id,
            )
            if digest != row.payload_digest or not hmac.compare_digest(recomputed, row.hash):
                runs.add("rewritten", row.id)
            elif row.prev_hash != prev:
                # its own hash holds, so what it follows is what changed
                runs.add("unlinked", row.id)
        if row.id in wanted:
            stored_hash[row.id] = row.hash
        prev = row.hash
        expected_id = row.id + 1
        checked += 1
    last_seen = expected_id - 1
    for kind, first, last in runs.runs:
        zh, en = _span(first, last)
        if kind == "rewritten":
            text = Text(
                f"{zh}被改写：内容与其密钥哈希不符",
                f"{en} rewritten: the content does not match the keyed hash",
            )
            problems.append(Problem("rewritten", first, text))
        else:
            # these events' own hashes hold: the one before the run was rewritten or replaced
            text = Text(
                f"第 {first - 1} 号事件被改写或替换：{zh}与其不衔接",
                f"event {first - 1} rewritten or replaced: {en} no longer follow{'s' if first == last else ''} it",
            )
            problems.append(Problem("rewritten", first - 1, text))
    for kid, count in other_keys.items():
        problems.append(
            Problem(
                "key",
                None,
                Text(
                    f"{count} 条事件由密钥 {kid} 计算，而当前审计密钥为 {key.id}（{key.path}）：密钥文件不对，"
                    "或这些事件是用别的密钥伪造的",
                    f"{count} events were keyed with key {kid}, but the audit key in use is {key.id} ({key.path}): "
                    "the wrong key file, or these events were forged under another key",
                ),
            )
        )
    head_id, head_hash = conn.execute(select(_head.c.last_event_id, _head.c.last_hash)).one()
    if head_id > last_seen:
        zh, en = _span(last_seen + 1, head_id)
        problems.append(
            Problem(
                "truncated",
                last_seen + 1,
                Text(
                    f"{zh}缺失（日志末尾被删除）；日志应截止于第 {head_id} 号事件",
                    f"{en} missing (deleted from the end); the log should end at event {head_id}",
                ),
            )
        )
    elif head_id != last_seen or head_hash != prev:
        problems.append(
            Problem(
                "rewritten",
                last_seen,
                Text(
                    f"日志末端记录与第 {last_seen} 号事件不符",
                    f"the recorded head of the log does not match event {last_seen}",
                ),
            )
        )
    for number in damaged:
        problems.append(
            Problem(
                "anchor",
                None,
                Text(f"锚点日志第 {number} 行无法读取（已损坏）", f"anchor line {number} cannot be read (damaged)"),
            )
        )
    for a in anchor_lines:
        if not a.mac_ok:
            problems.append(
                Problem(
                    "anchor",
                    a.event_id,
                    Text(
                        f"锚点日志第 {a.number} 行被改动：其校验码不符",
                        f"anchor line {a.number} was altered: its MAC does not match",
                    ),
                )
            )
        elif a.event_id > last_seen:
            problems.append(
                Problem(
                    "truncated",
                    a.event_id,
                    Text(
                        f"日志被截断：{a.anchored_at} 的锚点（第 {a.number} 行）记录了第 {a.event_id} 号事件，"
                        f"而日志现止于第 {last_seen} 号事件",
                        f"the log was truncated: the anchor of {a.anchored_at} (line {a.number}) names event "
                        f"{a.event_id}, but the log now ends at event {last_seen}",
                    ),
                )
            )
        elif a.event_id > 0 and stored_hash.get(a.event_id) != a.hash:
            problems.append(
                Problem(
                    "rewritten",
                    a.event_id,
                    Text(
                        f"第 {a.event_id} 号事件与 {a.anchored_at} 的锚点（第 {a.number} 行）不符："
                        "日志在此处或之前被改写",
                        f"event {a.event_id} differs from its anchor of {a.anchored_at} (line {a.number}): "
                        "the log was rewritten at or before it",
                    ),
                )
            )
    return Verification(not problems, checked, len(anchor_lines), tuple(problems), last_seen)


# --- reading ----------------------------------------------------------------------------------------


def events(
    conn: Connection,
    *,
    channel: str | None = None,
    subject: str | None = None,
    subject_id: int | None = None,
    limit: int = 50,
) -> list[Any]:
    """The newest events first, optionally of one channel and one subject."""
    stmt = select(_events).order_by(_events.c.id.desc()).limit(limit)
    if channel is not None:
        stmt = stmt.where(_events.c.channel == channel)
    if subject is not None:
        stmt = stmt.where(_events.c.subject == subject)
    if subject_id is not None:
        stmt = stmt.where(_events.c.subject_id == subject_id)
    return list(conn.execute(stmt))
