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

The log is ``CHAINS`` chains side by side: an event belongs to the chain of its subject
(``chain_of``), holds its place there (``seq``, from 1) and links to the event before it in that
chain; ``audit_head`` has one row per chain. Deleting or rewriting any event, wherever it is,
breaks its chain for whoever lacks the key, as with one chain, while writers on different
chains never wait for one another. Event ids are unique across chains (on PostgreSQL from the
sequence ``audit_event_ids``) and say roughly in which order events happened; the places in a
chain say exactly. SQLite serialises writers by itself. On PostgreSQL an appender reads its
chain's head without a lock, computes the event's hash, then writes head, event and (when there
is one) the outbox message in one statement that only takes effect if the head is still the one
it read; if another transaction moved it first, it reads again. The head row is held only from
that statement to the commit. Anchors record every chain's head.
"""

from __future__ import annotations

import fcntl
import hashlib
import hmac
import json
import os
import secrets
from collections.abc import Iterable, Iterator, Mapping, Sequence
from dataclasses import dataclass, field
from datetime import datetime
from pathlib import Path
from typing import Any

from sqlalchemy import Connection, Engine, bindparam, func, insert, inspect, literal, select, update
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

CHAINS = 64
"""How many chains the log has (rows of ``audit_head``; fixed by migration 0008c)."""


def chain_of(subject_id: int) -> int:
    """The chain a subject's events go to: all of one project's history is in one chain."""
    return 1 + subject_id % CHAINS


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
    "chain",
    "seq",
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


def _read_head(dialect: Dialect) -> Any:
    """The chain's head and a new event id: from the sequence on PostgreSQL (never waits, may leave
    gaps), the next after the largest on SQLite (whose single writer holds the database)."""
    new_id: Any
    if dialect.name == "postgresql":
        new_id = func.nextval("audit_event_ids")
    else:
        new_id = select(func.coalesce(func.max(_events.c.id), 0) + 1).scalar_subquery()
    return select(_head.c.last_event_id, _head.c.last_hash, _head.c.last_seq, new_id).where(
        _head.c.id == bindparam("chain")
    )


def head_after(write: Any, dialect: Dialect) -> Any:
    """PostgreSQL: one statement that runs ``write`` (an UPDATE) and reads what ``read_head``
    reads (the head of chain ``:chain`` and a new event id), then how many rows ``write`` changed.
    The engine's transition saves a round trip with it, one of the seven it costs (each a wake-up
    of client and server: what several writers on few cores pay most for). A head that moves
    before the append (another writer, or an effect of the same transition appending to the same
    chain) fails the append's compare-and-set and is read again."""
    changed = write.returning(literal(1)).cte("changed")
    return _read_head(dialect).add_columns(select(func.count()).select_from(changed).scalar_subquery())


def _chain(with_message: bool) -> Any:
    """PostgreSQL: move the chain's head from place ``old_seq`` to ``seq`` and, only if that
    matched, insert the event (and its outbox message); returns how many head rows moved (1, or
    0 if another transaction moved the head since it was read)."""
    moved = (
        update(_head)
        .where(_head.c.id == bindparam("chain"), _head.c.last_seq == bindparam("old_seq"))
        .values(last_event_id=bindparam("id"), last_hash=bindparam("hash"), last_seq=bindparam("seq"))
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
        return Prepared(_read_head(dialect), dialect)
    if name == "write_head":
        stmt = update(_head).where(_head.c.id == bindparam("chain"))
        return Prepared(stmt, dialect, ("last_event_id", "last_hash", "last_seq"))
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
    chain: int = 1,
    seq: int | None = None,
) -> str:
    """HMAC-SHA256 under the audit key of the event's fields, its place and the previous event's hash.

    An event of chain 1 whose place equals its id (every event written while there was one chain)
    is hashed without its place, as it was then: the id already says where it is.
    """
    fields: list[Any] = [
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
    if not (chain == 1 and (seq is None or seq == id)):
        fields += [chain, seq]
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
    head: Sequence[Any] | None = None,
) -> int:
    """Append one event inside the caller's transaction; returns its id.

    ``message`` (the ``MESSAGE_KEYS`` of an outbox row) is written with the event and points
    at it. Callers that can should append last in their transaction: on PostgreSQL the head is
    held from here to the commit. ``head``: what ``read_head`` returns for this subject's chain,
    already read by the caller in this transaction (``head_after``); tried first, read again if
    another writer moved the chain since.
    """
    stored, digest = normalise(payload)
    dialect = conn.dialect
    cur = cursor(conn)
    read_head = STATEMENTS.get(dialect, "read_head")
    concurrent = dialect.name == "postgresql"
    chain = chain_of(subject_id)
    while True:
        if head is None:
            head = read_head.row(read_head.execute(cur, {"chain": chain}).fetchone())
        if head is None:
            raise RuntimeError(f"the audit_head row of chain {chain} is missing: run `grantflow db upgrade`")
        _, prev, last_seq, new_id = head
        # the first event of a new log may create the key; later ones need the key already in use
        key = current_key(create=new_id == 1)
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
            "chain": chain,
            "seq": last_seq + 1,
        }
        h = event_hash(key.secret, **row)
        row["payload"] = stored
        row["hash"] = h
        if not concurrent:
            # SQLite: this transaction holds the only write lock, nobody moves the head
            STATEMENTS.get(dialect, "insert").execute(cur, row)
            STATEMENTS.get(dialect, "write_head").execute(
                cur, {"chain": chain, "last_event_id": new_id, "last_hash": h, "last_seq": last_seq + 1}
            )
            if message is not None:
                STATEMENTS.get(dialect, "outbox").execute(cur, {**message, "event_id": new_id})
            return int(new_id)
        row["old_seq"] = last_seq
        name = "chain"
        if message is not None:
            row.update({f"m_{k}": message[k] for k in MESSAGE_KEYS})
            name = "chain+message"
        if STATEMENTS.get(dialect, name).execute(cur, row).fetchone()[0] == 1:
            return int(new_id)
        # another transaction appended to this chain (and committed) since the read: read again
        head = None


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
class ChainHead:
    """One chain's newest event: its place, id and hash (place 0: the chain is still empty)."""

    chain: int
    seq: int
    event_id: int
    hash: str


@dataclass(frozen=True)
class AnchorRecord:
    """Every chain's head as written to the anchor log at ``anchored_at``. ``event_id`` is the
    newest id among them and ``hash`` one digest of all of them (what a publication's manifest
    carries); ``heads`` are the non-empty chains' heads themselves."""

    event_id: int
    hash: str
    anchored_at: datetime
    heads: tuple[ChainHead, ...] = ()


def heads_digest(heads: Iterable[ChainHead]) -> str:
    """One SHA-256 over every chain's head, in chain order: it changes when any chain moves."""
    listed = [[h.chain, h.seq, h.event_id, h.hash] for h in sorted(heads, key=lambda h: h.chain)]
    return hashlib.sha256(("grantflow-heads:" + canonical({"heads": listed})).encode()).hexdigest()


def chain_heads(conn: Connection) -> list[ChainHead]:
    """Every chain's head as stored now, in chain order."""
    rows = conn.execute(
        select(_head.c.id, _head.c.last_seq, _head.c.last_event_id, _head.c.last_hash).order_by(_head.c.id)
    ).all()
    return [ChainHead(int(r[0]), int(r[1]), int(r[2]), str(r[3])) for r in rows]


def current_head(conn: Connection, *, now: datetime) -> AnchorRecord:
    """The log's head now: every non-empty chain's head, the newest id and their digest."""
    heads = tuple(h for h in chain_heads(conn) if h.seq > 0)
    newest = max((h.event_id for h in heads), default=0)
    return AnchorRecord(newest, heads_digest(heads) if heads else GENESIS, now, heads)


def _anchor_mac(secret: bytes, line: Mapping[str, Any]) -> str:
    body = {k: v for k, v in line.items() if k != "mac"}
    return hmac.new(secret, ("grantflow-anchor:" + canonical(body)).encode(), hashlib.sha256).hexdigest()


def anchor(conn: Connection, *, now: datetime, path: Path | None = None) -> AnchorRecord:
    """Append every chain's head to the anchor log (created on first use).

    The line holds each non-empty chain's place, newest event id and hash, the newest id and the
    digest of them all, the time, the key id and an HMAC of the line under the audit key. The
    file is only ever opened for appending, and each line is written whole under an exclusive
    lock and synced, so concurrent anchors (a publication during the daily flow) never interleave.
    """
    record = current_head(conn, now=now)
    key = current_key(create=record.event_id == 0)
    line: dict[str, Any] = {
        "event_id": record.event_id,
        "hash": record.hash,
        "heads": [[h.chain, h.seq, h.event_id, h.hash] for h in record.heads],
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
    heads: tuple[ChainHead, ...] | None = None
    """Every chain's head; None on a line written while the log was one chain (``event_id`` and
    ``hash`` are then that chain's head)."""


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
                heads = (
                    tuple(ChainHead(int(c), int(q), int(i), str(h)) for c, q, i, h in data["heads"])
                    if "heads" in data
                    else None
                )
                lines.append(
                    AnchorLine(
                        number,
                        int(data["event_id"]),
                        str(data["hash"]),
                        str(data["anchored_at"]),
                        str(data.get("key_id", "")),
                        hmac.compare_digest(str(data.get("mac", "")), _anchor_mac(secret, data)),
                        heads,
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
    result = conn.execution_options(yield_per=2000).execute(select(_events).order_by(_events.c.chain, _events.c.seq))
    yield from result


def _places(chain: int, first: int, last: int) -> tuple[str, str]:
    where = f"第 {first} 位" if first == last else f"第 {first}–{last} 位"
    place = f"place {first}" if first == last else f"places {first}–{last}"
    return f"第 {chain} 条链{where}", f"{place} of chain {chain}"


def _ids(ids: list[int]) -> tuple[str, str]:
    if len(ids) == 1:
        return f"第 {ids[0]} 号事件", f"event {ids[0]}"
    if ids == list(range(ids[0], ids[-1] + 1)):
        return f"第 {ids[0]}–{ids[-1]} 号事件", f"events {ids[0]}–{ids[-1]}"
    return f"{len(ids)} 条事件（第 {ids[0]} 至 {ids[-1]} 号）", f"{len(ids)} events ({ids[0]} to {ids[-1]})"


class _Runs:
    """Events one after another in a chain with the same finding, reported once together."""

    def __init__(self) -> None:
        self.runs: list[tuple[str, int, int, list[int], int | None]] = []  # kind, chain, last seq, ids, id before

    def add(self, kind: str, chain: int, seq: int, event_id: int, before: int | None) -> None:
        last = self.runs[-1] if self.runs else None
        if last is not None and last[0] == kind and last[1] == chain and last[2] == seq - 1:
            self.runs[-1] = (kind, chain, seq, [*last[3], event_id], last[4])
        else:
            self.runs.append((kind, chain, seq, [event_id], before))


@dataclass
class _Chain:
    seq: int = 0
    prev: str = GENESIS
    last_id: int | None = None


def verify(conn: Connection, *, anchors: Path | None = None, key: AuditKey | None = None) -> Verification:
    """Walk every chain from its start and check every anchor; name each altered, missing or cut event."""
    key = key or current_key()
    anchor_lines, damaged = read_anchors(anchors, key=key)
    wanted = {a.event_id for a in anchor_lines if a.heads is None}
    wanted |= {h.event_id for a in anchor_lines for h in a.heads or ()}
    stored_hash: dict[int, str] = {}
    problems: list[Problem] = []
    runs = _Runs()
    other_keys: dict[str, int] = {}
    chains: dict[int, _Chain] = {}
    checked = newest = 0
    for row in _rows(conn):
        at = chains.setdefault(row.chain, _Chain())
        if row.seq != at.seq + 1:
            zh, en = _places(row.chain, at.seq + 1, row.seq - 1)
            problems.append(
                Problem(
                    "deleted",
                    row.id,
                    Text(
                        f"{zh}的事件缺失（已被删除）；其后存储的是第 {row.id} 号事件",
                        f"the events at {en} are missing (deleted); the next stored event there is {row.id}"
                        if row.seq - at.seq > 2
                        else f"the event at {en} is missing (deleted); the next stored event there is {row.id}",
                    ),
                )
            )
            at.prev = row.prev_hash  # carry on from what is there, to find what else is wrong
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
                chain=row.chain,
                seq=row.seq,
            )
            if digest != row.payload_digest or not hmac.compare_digest(recomputed, row.hash):
                runs.add("rewritten", row.chain, row.seq, row.id, at.last_id)
            elif row.prev_hash != at.prev:
                # its own hash holds, so what it follows is what changed
                runs.add("unlinked", row.chain, row.seq, row.id, at.last_id)
        if row.id in wanted:
            stored_hash[row.id] = row.hash
        at.prev, at.seq, at.last_id = row.hash, row.seq, row.id
        newest = max(newest, row.id)
        checked += 1
    for kind, _chain_no, _seq, ids, before in runs.runs:
        zh, en = _ids(ids)
        if kind == "rewritten":
            text = Text(
                f"{zh}被改写：内容与其密钥哈希不符",
                f"{en} rewritten: the content does not match the keyed hash",
            )
            problems.append(Problem("rewritten", ids[0], text))
        else:
            # these events' own hashes hold: the one before the run was rewritten or replaced
            b_zh, b_en = ("链首", "the chain's start") if before is None else (f"第 {before} 号事件", f"event {before}")
            text = Text(
                f"{b_zh}被改写或替换：{zh}与其不衔接",
                f"{b_en} rewritten or replaced: {en} no longer follow{'s' if len(ids) == 1 else ''} it",
            )
            problems.append(Problem("rewritten", before, text))
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
    heads = {h.chain: h for h in chain_heads(conn)}
    for chain_no in sorted(set(heads) | set(chains)):
        head, at = heads.get(chain_no), chains.get(chain_no, _Chain())
        if head is None:
            problems.append(
                Problem(
                    "rewritten",
                    at.last_id,
                    Text(
                        f"第 {chain_no} 条链没有记录的末端（audit_head 中缺少该行）",
                        f"chain {chain_no} has no recorded head (its audit_head row is missing)",
                    ),
                )
            )
        elif head.seq > at.seq:
            zh, en = _places(chain_no, at.seq + 1, head.seq)
            problems.append(
                Problem(
                    "truncated",
                    head.event_id,
                    Text(
                        f"{zh}的事件缺失（链的末尾被删除）；该链应截止于第 {head.event_id} 号事件",
                        f"the event{'s' if head.seq > at.seq + 1 else ''} at {en} "
                        f"{'are' if head.seq > at.seq + 1 else 'is'} missing (deleted from the end); "
                        f"the chain should end at event {head.event_id}",
                    ),
                )
            )
        elif head.seq != at.seq or head.hash != at.prev or (at.last_id is not None and head.event_id != at.last_id):
            problems.append(
                Problem(
                    "rewritten",
                    at.last_id,
                    Text(
                        f"第 {chain_no} 条链记录的末端与第 {at.last_id} 号事件不符",
                        f"the recorded head of chain {chain_no} does not match event {at.last_id}",
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
            continue
        # a line from the one-chain days names chain 1's head by its id, which was also its place
        named = a.heads
        if named is None:
            named = (ChainHead(1, a.event_id, a.event_id, a.hash),) if a.event_id else ()
        for h in named:
            ends = chains.get(h.chain, _Chain())
            if h.seq > ends.seq:
                problems.append(
                    Problem(
                        "truncated",
                        h.event_id,
                        Text(
                            f"日志被截断：{a.anchored_at} 的锚点（第 {a.number} 行）记录了第 {h.event_id} 号事件"
                            f"（第 {h.chain} 条链第 {h.seq} 位），而该链现止于第 {ends.last_id or 0} 号事件",
                            f"the log was truncated: the anchor of {a.anchored_at} (line {a.number}) names event "
                            f"{h.event_id} (place {h.seq} of chain {h.chain}), but that chain now ends at event "
                            f"{ends.last_id or 0}",
                        ),
                    )
                )
            elif stored_hash.get(h.event_id) != h.hash:
                problems.append(
                    Problem(
                        "rewritten",
                        h.event_id,
                        Text(
                            f"第 {h.event_id} 号事件与 {a.anchored_at} 的锚点（第 {a.number} 行）不符："
                            "日志在此处或之前被改写",
                            f"event {h.event_id} differs from its anchor of {a.anchored_at} (line {a.number}): "
                            "the log was rewritten at or before it",
                        ),
                    )
                )
    return Verification(not problems, checked, len(anchor_lines), tuple(problems), newest)


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
