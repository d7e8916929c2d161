"""Signing in and changing a password, with the protections around them.

- Failed sign-ins are counted per account and per address over a sliding window; past the limit,
  further attempts are refused (even with the right password) until the window frees up, with a
  message saying how long to wait. The moment an account reaches its limit is written to the
  audit trail and the log.
- An unknown e-mail costs the same scrypt as a known one (``verify_password``), and is counted the
  same way, so neither timing nor throttling tells whether an account exists.
- A new password must be 12 characters or more; setting it ends every session of that person.
"""

from __future__ import annotations

import logging
from dataclasses import dataclass
from datetime import datetime, timedelta

from sqlalchemy import Connection, Engine, select, update

from grantflow.config import Settings
from grantflow.db import audit
from grantflow.db.models import User, table
from grantflow.services import sessions, throttle
from grantflow.services.passwords import MAX_LENGTH, MIN_LENGTH, hash_password, verify_password
from grantflow.states.errors import GrantflowError, PayloadInvalid, TooManyAttempts
from grantflow.states.permissions import SYSTEM, Actor
from grantflow.states.text import Text

log = logging.getLogger("grantflow.signin")
_u = table(User)

BAD_LOGIN = Text("邮箱或密码不正确", "wrong e-mail or password")


class BadLogin(GrantflowError):
    code = "bad_login"

    def __init__(self) -> None:
        super().__init__(BAD_LOGIN)


def waiting(seconds: int) -> Text:
    minutes = max(1, -(-seconds // 60))
    return Text(
        f"登录失败次数过多，已暂停登录。请在 {minutes} 分钟后再试，或联系领导小组办公室。",
        f"Too many failed sign-ins: signing in is paused. Try again in {minutes} minute"
        f"{'s' if minutes != 1 else ''}, or contact the office.",
    )


def account_policy(settings: Settings) -> throttle.Policy:
    return throttle.Policy("signin_account", settings.signin_account_limit, timedelta(seconds=settings.signin_window_s))


def address_policy(settings: Settings) -> throttle.Policy:
    return throttle.Policy("signin_address", settings.signin_address_limit, timedelta(seconds=settings.signin_window_s))


@dataclass(frozen=True)
class SignedIn:
    user_id: int
    language: str


def sign_in(engine: Engine, *, email: str, password: str, address: str, now: datetime, settings: Settings) -> SignedIn:
    """The person behind these credentials, or ``BadLogin`` / ``TooManyAttempts``."""
    email_key = email.strip().lower()
    by_account, by_address = account_policy(settings), address_policy(settings)
    with engine.connect() as conn:
        wait = max(
            throttle.retry_after(conn, by_account, email_key, now=now),
            throttle.retry_after(conn, by_address, address, now=now),
        )
        if wait:
            raise TooManyAttempts(waiting(wait), retry_after=wait)
        row = conn.execute(
            select(_u.c.id, _u.c.password_hash, _u.c.active, _u.c.language).where(_u.c.email == email_key[:200])
        ).one_or_none()
    # hashed outside any transaction: scrypt is slow on purpose and must not hold a write lock
    ok = verify_password(password, row.password_hash if row is not None and row.active else None)
    if ok and row is not None:
        with engine.begin() as conn:
            throttle.clear(conn, by_account, email_key)
        return SignedIn(user_id=row.id, language=row.language)
    with engine.begin() as conn:
        failures = throttle.record(conn, by_account, email_key, now=now)
        throttle.record(conn, by_address, address, now=now)
        if failures == by_account.limit and row is not None:
            audit.note(
                conn,
                subject="user",
                subject_id=row.id,
                actor=SYSTEM,
                action="signin_throttled",
                payload={"address": address, "failures": failures, "window_s": settings.signin_window_s},
                now=now,
            )
            log.warning("sign-in paused for user %s after %s failures (last from %s)", row.id, failures, address)
    raise BadLogin()


def check_new_password(password: str, *, email: str = "") -> list[Text]:
    problems: list[Text] = []
    if len(password) < MIN_LENGTH:
        problems.append(Text(f"新密码至少需要 {MIN_LENGTH} 个字符", f"the new password needs {MIN_LENGTH} characters"))
    if len(password) > MAX_LENGTH:
        problems.append(Text(f"新密码最多 {MAX_LENGTH} 个字符", f"the new password may have at most {MAX_LENGTH}"))
    if email and password.strip().lower() == email.strip().lower():
        problems.append(Text("新密码不能与邮箱相同", "the new password cannot be the e-mail address"))
    return problems


def set_password(
    conn: Connection, *, user_id: int, password: str, now: datetime, check: bool = True, actor: Actor = SYSTEM
) -> int:
    """Store a new password and end every session of that person; returns how many sessions ended."""
    if check:
        email = conn.execute(select(_u.c.email).where(_u.c.id == user_id)).scalar_one()
        problems = check_new_password(password, email=email)
        if problems:
            raise PayloadInvalid(
                Text("；".join(p.zh for p in problems), "; ".join(p.en for p in problems)),
                details={"reasons": [p.as_dict() for p in problems]},
            )
    conn.execute(update(_u).where(_u.c.id == user_id).values(password_hash=hash_password(password)))
    ended = sessions.end_for_user(conn, user_id=user_id)
    audit.note(conn, subject="user", subject_id=user_id, actor=actor, action="password_changed", payload=None, now=now)
    return ended


def needs_policy(settings: Settings) -> throttle.Policy:
    return throttle.Policy("needs_address", settings.needs_address_limit, timedelta(seconds=settings.needs_window_s))


def count_answer(conn: Connection, *, address: str, now: datetime, settings: Settings) -> None:
    """Count one public questionnaire answer from an address; past the limit, ``TooManyAttempts``
    (raised inside the caller's transaction, so the answer over the limit is not kept)."""
    policy = needs_policy(settings)
    wait = throttle.retry_after(conn, policy, address, now=now)
    if wait:
        minutes = max(1, -(-wait // 60))
        raise TooManyAttempts(
            Text(
                f"此网络地址提交过于频繁，请在 {minutes} 分钟后再提交。您填写的内容仍在下方。",
                f"Too many answers from this network address: please send again in {minutes} minute"
                f"{'s' if minutes != 1 else ''}. What you typed is still below.",
            ),
            retry_after=wait,
        )
    throttle.record(conn, policy, address, now=now)
