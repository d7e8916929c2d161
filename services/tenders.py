"""Sealed bids of a public tender: encrypted at rest, readable only once opened.

Key handling (envelope encryption):

- A **master key** (256 random bits) lives in a file outside the database:
  ``GRANTFLOW_BID_MASTER_KEY_FILE``, default ``$GRANTFLOW_HOME/keys/bid-master.key``, created
  with mode 0600 on first use. Backups and exports of the database never contain it.
- Each tender call gets its own **data key** (AES-256), generated when the tender is set up,
  stored only wrapped (AES key wrap, RFC 3394) by the master key in ``tenders.wrapped_key``
  with the master key's id. Rotating the master key re-wraps data keys, no bid is re-encrypted.
- Each bid is encrypted with AES-256-GCM under its call's data key, with a fresh 96-bit
  nonce; the associated data binds the ciphertext to its call, project and unit, so a
  ciphertext copied onto another bid row fails to decrypt.

The time lock is the application's: ``read_bid`` (the one function every path uses: web
page, JSON API, CLI, export) refuses before the call's bids are opened, and opening is
refused before the opening time. Someone holding both the database and the master key file
(an operator with shell access) could decrypt early; keeping the key file on a separate
volume or in a KMS narrows that to the people who run the machine, and every opening is an
audit event.
"""

from __future__ import annotations

import hashlib
import os
import secrets
from dataclasses import dataclass
from datetime import datetime
from pathlib import Path

from cryptography.hazmat.primitives.ciphers.aead import AESGCM
from cryptography.hazmat.primitives.keywrap import InvalidUnwrap, aes_key_unwrap, aes_key_wrap
from sqlalchemy import Connection, Engine, insert, select, update

from grantflow.config import get_settings
from grantflow.db import audit
from grantflow.db.models import Bid, Call, Programme, Project, ReviewAssignment, Tender, table
from grantflow.db.workflows import get_registry
from grantflow.states.enums import SelectionMode
from grantflow.states.errors import Forbidden, GrantflowError, GuardFailed, NotFound, PayloadInvalid
from grantflow.states.permissions import OPEN_BIDS_FORBIDDEN, SYSTEM, Actor, may_bid, may_open_bids
from grantflow.states.permissions import may_read_bids as rules_may_read_bids
from grantflow.states.text import Text

_t = table(Tender)
_b = table(Bid)
_p = table(Project)
_c = table(Call)
_g = table(Programme)

MAX_BID_BYTES = 5 * 1024 * 1024


class BidSealed(GuardFailed):
    """Refused because the bids are still sealed: a condition of time, not of the person."""

    code = "bid_sealed"

    def __init__(self, reason: Text) -> None:
        super().__init__([reason])


class KeyUnavailable(GrantflowError):
    code = "key_unavailable"


# --- the master key --------------------------------------------------------------------------


def _key_id(key: bytes) -> str:
    return hashlib.sha256(b"grantflow-bid-master:" + key).hexdigest()[:16]


def master_key(path: Path | None = None, *, create: bool = False) -> bytes:
    """The master key from its file; created (0600, in a 0700 directory) when asked and missing."""
    p = path or get_settings().bid_master_key_path
    if p.is_file():
        key = p.read_bytes()
        if len(key) != 32:
            raise KeyUnavailable(
                Text(f"投标主密钥文件 {p} 已损坏", f"the bid master key file {p} is damaged (expected 32 bytes)")
            )
        return key
    if not create:
        raise KeyUnavailable(Text(f"找不到投标主密钥文件 {p}", f"the bid master key file {p} is missing"))
    p.parent.mkdir(parents=True, exist_ok=True, mode=0o700)
    key = secrets.token_bytes(32)
    # O_EXCL: two processes creating the key at once must not end with different keys
    try:
        fd = os.open(p, os.O_WRONLY | os.O_CREAT | os.O_EXCL, 0o600)
    except FileExistsError:
        return master_key(p)
    with os.fdopen(fd, "wb") as fh:
        fh.write(key)
    return key


def _data_key(conn: Connection, call_id: int) -> tuple[bytes, datetime, datetime | None]:
    row = conn.execute(
        select(_t.c.wrapped_key, _t.c.master_key_id, _t.c.bids_open_at, _t.c.opened_at).where(_t.c.call_id == call_id)
    ).one_or_none()
    if row is None:
        raise NotFound(Text(f"申报指南 {call_id} 不是招标", f"call {call_id} is not a tender"))
    key = master_key()
    if _key_id(key) != row.master_key_id:
        raise KeyUnavailable(
            Text("投标主密钥与封存时所用的不一致", "the bid master key is not the one the bids were sealed with")
        )
    try:
        return aes_key_unwrap(key, row.wrapped_key), row.bids_open_at, row.opened_at
    except InvalidUnwrap as exc:  # pragma: no cover - only with a tampered wrapped key
        raise KeyUnavailable(Text("招标数据密钥无法解封", "the tender's data key cannot be unwrapped")) from exc


def set_up_tender(conn: Connection, *, call_id: int, bids_open_at: datetime) -> None:
    """Give a tender call its opening time and its own data key (wrapped by the master key)."""
    key = master_key(create=True)
    conn.execute(
        insert(_t),
        {
            "call_id": call_id,
            "bids_open_at": bids_open_at,
            "wrapped_key": aes_key_wrap(key, AESGCM.generate_key(bit_length=256)),
            "master_key_id": _key_id(key),
        },
    )


def _aad(call_id: int, project_id: int, organisation_id: int) -> bytes:
    return f"grantflow-bid:{call_id}:{project_id}:{organisation_id}".encode()


# --- bidding -----------------------------------------------------------------------------------


@dataclass(frozen=True)
class BidReceipt:
    bid_id: int
    call_id: int
    project_id: int
    submitted_at: datetime
    ciphertext_sha256: str
    size: int


def submit_bid(conn: Connection, *, project_id: int, content: bytes, actor: Actor, now: datetime) -> BidReceipt:
    """Seal a bid for a tender project (replacing an earlier one while bidding is open).

    Only the project's own unit bids, only while its call is open and before its deadline.
    The audit event records the ciphertext's digest (a receipt), never the contents.
    """
    row = conn.execute(
        select(
            _p.c.id,
            _p.c.undertaking_unit_id,
            _p.c.call_id,
            _p.c.state,
            _p.c.workflow,
            _c.c.selection_mode,
            _c.c.state.label("call_state"),
            _c.c.workflow.label("call_workflow"),
            _c.c.closes_at,
        )
        .select_from(_p.join(_c, _p.c.call_id == _c.c.id))
        .where(_p.c.id == project_id)
    ).one_or_none()
    if row is None or row.selection_mode != SelectionMode.TENDER:
        raise NotFound(Text(f"项目 {project_id} 不是招标项目", f"project {project_id} is not in a tender"))
    if not may_bid(actor, undertaking_unit_id=row.undertaking_unit_id):
        raise Forbidden([Text("只有投标单位本身可以递交投标文件", "only the bidding unit itself may submit its bid")])
    registry = get_registry()
    accepting = registry.get(row.call_workflow).state(row.call_state).accepting
    if not accepting or (row.closes_at is not None and now > row.closes_at):
        raise PayloadInvalid(Text("投标已截止", "bidding is closed"))
    here = registry.get(row.workflow).state(row.state)
    if not here.bids:  # the workflow table says where a bid may still be sealed or replaced
        raise PayloadInvalid(
            Text(
                f"项目处于“{here.label.zh}”，投标文件提交后不能再修改",
                f"the project is {here.label.en}: the bid cannot be changed once the project is submitted",
            )
        )
    if not content:
        raise PayloadInvalid(Text("投标文件不能为空", "the bid is empty"))
    if len(content) > MAX_BID_BYTES:
        raise PayloadInvalid(
            Text(f"投标文件超过 {MAX_BID_BYTES // 1048576} MB", f"the bid exceeds {MAX_BID_BYTES // 1048576} MB")
        )
    key, _, _ = _data_key(conn, row.call_id)
    nonce = secrets.token_bytes(12)
    sealed = AESGCM(key).encrypt(nonce, content, _aad(row.call_id, project_id, row.undertaking_unit_id))
    digest = hashlib.sha256(sealed).hexdigest()
    values = {
        "nonce": nonce,
        "ciphertext": sealed,
        "ciphertext_sha256": digest,
        "submitted_by": actor.user_id,
        "submitted_at": now,
    }
    existing = conn.execute(select(_b.c.id).where(_b.c.project_id == project_id)).scalar_one_or_none()
    if existing is None:
        bid_id = int(
            conn.execute(
                insert(_b).returning(_b.c.id),
                {
                    "call_id": row.call_id,
                    "project_id": project_id,
                    "organisation_id": row.undertaking_unit_id,
                    **values,
                },
            ).scalar_one()
        )
    else:
        bid_id = existing
        conn.execute(update(_b).where(_b.c.id == bid_id).values(**values))
    audit.note(
        conn,
        subject_id=project_id,
        actor=actor,
        action="bid_sealed",
        payload={"bid": bid_id, "ciphertext_sha256": digest, "size": len(content)},
        now=now,
    )
    return BidReceipt(bid_id, row.call_id, project_id, now, digest, len(content))


# --- opening -------------------------------------------------------------------------------------


def sealed_reason(bids_open_at: datetime, opened_at: datetime | None, now: datetime) -> Text | None:
    """Why a bid cannot be read now; None once it can."""
    if opened_at is None or now < bids_open_at:
        when = bids_open_at.strftime("%Y-%m-%d %H:%M UTC")
        return Text(f"投标文件在开标（{when}）前不可查看", f"bids stay sealed until they are opened ({when})")
    return None


def open_bids(conn: Connection, *, call_id: int, actor: Actor, now: datetime) -> bool:
    """Open a tender's bids: the office (or the scheduler) after the opening time.

    Returns False when they were already open (idempotent); writes one audit event.
    """
    if not may_open_bids(actor):
        raise Forbidden([OPEN_BIDS_FORBIDDEN])
    row = conn.execute(select(_t.c.bids_open_at, _t.c.opened_at).where(_t.c.call_id == call_id)).one_or_none()
    if row is None:
        raise NotFound(Text(f"申报指南 {call_id} 不是招标", f"call {call_id} is not a tender"))
    if row.opened_at is not None:
        return False
    if now < row.bids_open_at:
        when = row.bids_open_at.strftime("%Y-%m-%d %H:%M UTC")
        raise BidSealed(Text(f"开标时间（{when}）未到", f"the bid-opening time ({when}) has not come"))
    changed = conn.execute(
        update(_t).where(_t.c.call_id == call_id, _t.c.opened_at.is_(None)).values(opened_at=now, opened_by=actor.name)
    ).rowcount
    if changed != 1:  # opened by someone else in the meantime
        return False
    count = len(conn.execute(select(_b.c.id).where(_b.c.call_id == call_id)).all())
    audit.note(
        conn,
        subject="call",
        subject_id=call_id,
        actor=actor,
        action="bids_opened",
        payload={"bids": count},
        now=now,
    )
    return True


def open_due_bids(engine: Engine, now: datetime, *, actor: Actor = SYSTEM) -> list[int]:
    """Open every tender whose opening time has come: for the scheduled deadline flow.

    Each call is opened in its own transaction, so one failure does not hold back the
    others; running it twice opens nothing twice. Returns the calls opened now.
    """
    with engine.connect() as conn:
        due = list(
            conn.execute(select(_t.c.call_id).where(_t.c.opened_at.is_(None), _t.c.bids_open_at <= now)).scalars()
        )
    opened = []
    for call_id in due:
        with engine.begin() as conn:
            if open_bids(conn, call_id=call_id, actor=actor, now=now):
                opened.append(call_id)
    return opened


# --- reading ---------------------------------------------------------------------------------------


@dataclass(frozen=True)
class BidView:
    bid_id: int
    project_id: int
    project_code: str
    organisation_id: int
    submitted_at: datetime
    ciphertext_sha256: str
    content: bytes | None  # None while sealed
    sealed_reason: Text | None


def may_read_bids(conn: Connection, *, actor: Actor, call_id: int, project_id: int | None = None) -> bool:
    """After opening: the office, the programme's organising unit, reviewers assigned to the item
    (decided by ``states.permissions.may_read_bids``; this loads what it reads)."""
    organiser = conn.execute(
        select(_g.c.organising_unit_id).select_from(_c.join(_g, _c.c.programme_id == _g.c.id)).where(_c.c.id == call_id)
    ).scalar_one_or_none()
    assigned = False
    if project_id is not None and actor.user_id is not None:
        ra = table(ReviewAssignment)
        hit = conn.execute(
            select(ra.c.id).where(
                ra.c.project_id == project_id, ra.c.reviewer_id == actor.user_id, ra.c.conflict_declared_at.is_(None)
            )
        ).first()
        assigned = hit is not None
    return rules_may_read_bids(actor, organising_unit_id=organiser, assigned=assigned)


def read_bids(
    conn: Connection, *, call_id: int, actor: Actor, now: datetime, project_id: int | None = None
) -> list[BidView]:
    """The call's bids (or one project's) as this person may see them now.

    Before opening nobody gets contents, the office included, nor the number of bids: those who
    may read bids after the opening get ``BidSealed`` saying until when. The bidding unit sees
    its own receipt only, never contents through here (it has its own copy).
    """
    stmt = (
        select(_b, _p.c.code)
        .select_from(_b.join(_p, _b.c.project_id == _p.c.id))
        .where(_b.c.call_id == call_id)
        .order_by(_b.c.id)
    )
    if project_id is not None:
        stmt = stmt.where(_b.c.project_id == project_id)
    own_only = not may_read_bids(conn, actor=actor, call_id=call_id, project_id=project_id)
    if not own_only:
        status = tender_status(conn, call_id=call_id)
        early = sealed_reason(*status, now) if status is not None else None
        if early is not None:
            # before the opening not even the number of bids is told (nor whether a project bid)
            raise BidSealed(early)
    rows = conn.execute(stmt).all()
    if own_only:
        rows = [r for r in rows if may_bid(actor, undertaking_unit_id=r.organisation_id)]
        if not rows:
            raise Forbidden([Text("无权查看这些投标文件", "you may not see these bids")])
    key, bids_open_at, opened_at = _data_key(conn, call_id)
    reason = sealed_reason(bids_open_at, opened_at, now)
    out = []
    for r in rows:
        content = None
        if reason is None and not own_only:
            content = AESGCM(key).decrypt(r.nonce, r.ciphertext, _aad(call_id, r.project_id, r.organisation_id))
        out.append(
            BidView(
                r.id,
                r.project_id,
                r.code,
                r.organisation_id,
                r.submitted_at,
                r.ciphertext_sha256,
                content,
                reason if not own_only else Text("投标单位不通过本系统查看投标内容", "bidders do not read bids here"),
            )
        )
    return out


def read_bid(conn: Connection, *, project_id: int, actor: Actor, now: datetime) -> BidView:
    """One project's bid: the contents only after opening, for those who may read them."""
    none = NotFound(Text(f"项目 {project_id} 没有投标文件", f"project {project_id} has no bid"))
    call_id = conn.execute(select(_p.c.call_id).where(_p.c.id == project_id)).scalar_one_or_none()
    if call_id is None or tender_status(conn, call_id=call_id) is None:
        raise none
    # read_bids refuses a sealed tender before looking, so a refusal does not say whether a bid exists
    views = read_bids(conn, call_id=call_id, actor=actor, now=now, project_id=project_id)
    if not views:
        raise none
    return views[0]


def require_open(view: BidView) -> bytes:
    """The contents, or the refusal that says why not (for paths that must show them)."""
    if view.content is None:
        raise BidSealed(view.sealed_reason or Text("投标文件不可查看", "the bid cannot be read"))
    return view.content


def tender_status(conn: Connection, *, call_id: int) -> tuple[datetime, datetime | None] | None:
    row = conn.execute(select(_t.c.bids_open_at, _t.c.opened_at).where(_t.c.call_id == call_id)).one_or_none()
    return None if row is None else (row.bids_open_at, row.opened_at)
