"""Protections every request passes through, whatever route serves it (see docs/security.md).

- ``SessionMiddleware``: server-side sessions. The cookie holds a random token only; the row holds
  who is signed in. Signing in always starts a new token, signing out ends the row.
- ``OriginMiddleware``: a state-changing request (any method but GET/HEAD/OPTIONS) whose ``Origin``
  (or, without one, ``Referer``) names another site, or whose ``Sec-Fetch-Site`` says cross-site,
  is refused before any route runs. Lone UTF-16 surrogates in a JSON body are refused here too.
- ``require_csrf``: an app-wide dependency; every state-changing request must carry the session's
  CSRF token, as the ``csrf_token`` form field (added to every POST form by ``inject_csrf``) or the
  ``X-CSRF-Token`` header (JSON API, scripts; the token is served by ``GET /api/session``).
- ``HeadersMiddleware``: CSP without inline scripts, no framing, no sniffing, a strict referrer
  policy, HSTS over HTTPS, and ``Cache-Control: no-store`` on everything a signed-in person sees.

A refused request changes nothing: the session middleware does not even note the visit.
"""

from __future__ import annotations

import base64
import hashlib
import hmac
import json
import re
from collections.abc import Awaitable, Callable
from datetime import timedelta
from typing import Any
from urllib.parse import urlsplit

import anyio
from fastapi import Request
from sqlalchemy import Engine
from starlette.datastructures import MutableHeaders
from starlette.requests import HTTPConnection
from starlette.types import ASGIApp, Message, Receive, Scope, Send

from grantflow import clock
from grantflow.config import Settings
from grantflow.services import sessions as store
from grantflow.states.text import Text

SAFE_METHODS = frozenset({"GET", "HEAD", "OPTIONS"})
CSRF_FIELD = "csrf_token"
CSRF_HEADER = "x-csrf-token"
REFUSED = "grantflow.refused"
"""Scope key set when a request is refused for its origin or token: nothing may be written then."""

CROSS_SITE = Text(
    "请求被拒绝：它来自其他网站，或页面已过期。请回到本站页面，刷新后重试。",
    "Request refused: it came from another site, or the page has expired. "
    "Go back to this site's page, reload it and try again.",
)
BAD_TEXT = Text(
    "提交的文字含有无法保存的字符（不成对的代理项）。",
    "The text sent contains characters that cannot be stored (unpaired surrogates).",
)


class CsrfRefused(Exception):
    """A state-changing request without this session's token, or from another site."""


# --- sessions -------------------------------------------------------------------------------------


class ServerSession(dict[str, Any]):
    """``request.session``: a dict as Starlette's, persisted in ``web_sessions`` by the middleware.

    ``uid`` is the signed-in person (the row's ``user_id``); any other key is kept in the row's data.
    """

    def __init__(self, stored: store.StoredSession | None, token: str | None, secret: bytes) -> None:
        super().__init__(stored.data if stored else {})
        if stored is not None and stored.user_id is not None:
            self["uid"] = stored.user_id
        self.stored = stored
        self.token = token
        self.minted = False
        self.initial = dict(self)
        self._secret = secret

    def _mint(self) -> str:
        self.token = store.new_token()
        self.minted = True
        return self.token

    def csrf_token(self) -> str:
        """This browser's CSRF token: a keyed hash of its session token (minted on first need)."""
        token = self.token or self._mint()
        digest = hmac.new(self._secret, b"csrf:" + token.encode(), hashlib.sha256).digest()
        return base64.urlsafe_b64encode(digest).decode().rstrip("=")

    def csrf_matches(self, supplied: str | None) -> bool:
        if not supplied or not self.token:
            return False
        return hmac.compare_digest(self.csrf_token().encode(), supplied.strip().encode("utf-8", "replace"))


def cookie_is_secure(settings: Settings, scope: Scope) -> bool:
    if settings.cookie_secure is not None:
        return settings.cookie_secure
    return settings.production or scope.get("scheme") == "https"


def cookie_name(secure: bool) -> str:
    # the __Host- prefix: the browser keeps it only if Secure, Path=/ and no Domain (no cookie tossing)
    return "__Host-grantflow" if secure else "grantflow"


class SessionMiddleware:
    def __init__(self, app: ASGIApp, *, engine: Engine, settings: Settings, secret: str) -> None:
        self.app = app
        self.engine = engine
        self.settings = settings
        self.secret = secret.encode()
        self.lifetimes = store.Lifetimes(
            max_age=timedelta(seconds=settings.session_max_age_s), idle=timedelta(seconds=settings.session_idle_s)
        )

    async def __call__(self, scope: Scope, receive: Receive, send: Send) -> None:
        if scope["type"] != "http" or scope["path"].startswith("/static/"):
            await self.app(scope, receive, send)
            return
        secure = cookie_is_secure(self.settings, scope)
        name = cookie_name(secure)
        cookies = HTTPConnection(scope).cookies
        token = cookies.get(name) or cookies.get(cookie_name(not secure))
        stored = await anyio.to_thread.run_sync(self._load, token) if token else None
        session = ServerSession(stored, token, self.secret)
        scope["session"] = session

        async def send_with_cookie(message: Message) -> None:
            if message["type"] == "http.response.start" and not scope.get(REFUSED):
                new_token = await anyio.to_thread.run_sync(self._persist, session)
                if new_token is not None:
                    headers = MutableHeaders(scope=message)
                    attrs = "; Path=/; HttpOnly; SameSite=Lax" + ("; Secure" if secure else "")
                    headers.append("Set-Cookie", f"{name}={new_token}{attrs}")
            await send(message)

        await self.app(scope, receive, send_with_cookie)

    def _load(self, token: str) -> store.StoredSession | None:
        with self.engine.begin() as conn:
            return store.load(conn, token=token, now=clock.now(), lifetimes=self.lifetimes)

    def _persist(self, session: ServerSession) -> str | None:
        """Write what changed; the token to set as the cookie, or None to leave it as it is."""
        now = clock.now()
        data = {k: v for k, v in session.items() if k != "uid"}
        uid = session.get("uid")
        stored = session.stored
        old_uid = stored.user_id if stored is not None else None
        if stored is None and uid is None and not data:
            return session.token if session.minted else None  # no row to write: skip the connection
        if (
            stored is not None
            and uid == old_uid
            and session == session.initial
            and stored.last_seen_at is not None
            and now - stored.last_seen_at < store.TOUCH_EVERY
        ):
            return None
        with self.engine.begin() as conn:
            if stored is not None and uid != old_uid:
                # signed in, out, or as someone else: the old token is finished, a new one begins
                store.end(conn, token=stored.token)
                if uid is None and not data:
                    return session._mint()
                stored = None
            if stored is None:
                if uid is None and not data:
                    return session.token if session.minted else None
                created = store.create(
                    conn, user_id=int(uid) if uid is not None else None, data=data, now=now, lifetimes=self.lifetimes
                )
                return created.token
            if session != session.initial:
                store.save(conn, token=stored.token, data=data, now=now)
            else:
                store.touch(conn, session=stored, now=now)
        return None


# --- origin checks and request hygiene -------------------------------------------------------------

MAX_ID = 2**63 - 1
"""The largest id the database stores (64-bit signed); anything beyond names nothing."""


def parse_id(value: object) -> int | None:
    """An id typed into a form, or None when it is not one (letters, signs, beyond 64 bits)."""
    text = str(value).strip() if value is not None else ""
    if not text.isascii() or not text.isdigit():
        return None
    number = int(text)
    return number if 0 < number <= MAX_ID else None


_SURROGATE_ESCAPE = re.compile(rb"\\u[dD][89a-fA-F][0-9a-fA-F]{2}")
JSON_BODY_LIMIT = 4 * 1024 * 1024


def _netloc(value: str) -> str | None:
    try:
        parts = urlsplit(value)
    except ValueError:
        return None
    if parts.scheme not in ("http", "https") or not parts.netloc:
        return None
    return parts.netloc.lower()


def origin_allowed(headers: dict[str, str], *, host: str, trusted: list[str]) -> bool:
    """Same site by Origin, else by Referer; a request with neither is left to the token check."""
    allowed = {host.lower()} | {n for n in (_netloc(t) for t in trusted) if n}
    fetch_site = headers.get("sec-fetch-site")
    origin = headers.get("origin")
    if origin is not None:
        netloc = _netloc(origin) if origin != "null" else None
        return netloc is not None and netloc in allowed
    if fetch_site in ("cross-site", "same-site"):
        return False
    referer = headers.get("referer")
    if referer:
        netloc = _netloc(referer)
        return netloc is not None and netloc in allowed
    return True


def _has_lone_surrogate(value: Any) -> bool:
    if isinstance(value, str):
        try:
            value.encode("utf-8")
        except UnicodeEncodeError:
            return True
        return False
    if isinstance(value, dict):
        return any(_has_lone_surrogate(k) or _has_lone_surrogate(v) for k, v in value.items())
    if isinstance(value, list):
        return any(_has_lone_surrogate(v) for v in value)
    return False


Refuse = Callable[[Scope, Receive, Send, int, Text], Awaitable[None]]


class OriginMiddleware:
    def __init__(self, app: ASGIApp, *, settings: Settings, refuse: Refuse) -> None:
        self.app = app
        self.trusted = list(settings.trusted_origins)
        self.refuse = refuse

    async def __call__(self, scope: Scope, receive: Receive, send: Send) -> None:
        if scope["type"] != "http" or scope["method"] in SAFE_METHODS:
            await self.app(scope, receive, send)
            return
        headers = {k.decode("latin-1").lower(): v.decode("latin-1") for k, v in scope["headers"]}
        host = headers.get("host", "")
        if not origin_allowed(headers, host=host, trusted=self.trusted):
            scope[REFUSED] = True
            await self.refuse(scope, receive, send, 403, CROSS_SITE)
            return
        if "json" in headers.get("content-type", ""):
            body = await _read_body(receive, JSON_BODY_LIMIT)
            if body is None:
                scope[REFUSED] = True
                too_big = Text("请求内容过大", "request body too large")
                await self.refuse(scope, receive, send, 413, too_big)
                return
            if _SURROGATE_ESCAPE.search(body) and _lone_surrogate_in(body):
                scope[REFUSED] = True
                await self.refuse(scope, receive, send, 422, BAD_TEXT)
                return
            receive = _replay(body, receive)
        await self.app(scope, receive, send)


def _lone_surrogate_in(body: bytes) -> bool:
    try:
        parsed = json.loads(body)
    except ValueError:
        return False  # not JSON at all: the route's own validation says so
    return _has_lone_surrogate(parsed)


async def _read_body(receive: Receive, limit: int) -> bytes | None:
    chunks: list[bytes] = []
    size = 0
    while True:
        message = await receive()
        if message["type"] == "http.disconnect":
            break
        chunk = message.get("body", b"")
        size += len(chunk)
        if size > limit:
            return None
        chunks.append(chunk)
        if not message.get("more_body", False):
            break
    return b"".join(chunks)


def _replay(body: bytes, receive: Receive) -> Receive:
    sent = False

    async def replay() -> Message:
        nonlocal sent
        if not sent:
            sent = True
            return {"type": "http.request", "body": body, "more_body": False}
        return await receive()

    return replay


async def require_csrf(request: Request) -> None:
    """App-wide dependency: every state-changing route needs this session's token."""
    if request.method in SAFE_METHODS:
        return
    session = request.scope.get("session")
    supplied = request.headers.get(CSRF_HEADER)
    if not supplied:
        content_type = request.headers.get("content-type", "")
        if content_type.startswith(("application/x-www-form-urlencoded", "multipart/form-data")):
            value = (await request.form()).get(CSRF_FIELD)
            supplied = value if isinstance(value, str) else None
    if not isinstance(session, ServerSession) or not session.csrf_matches(supplied):
        request.scope[REFUSED] = True
        raise CsrfRefused()


_POST_FORM = re.compile(r"<form\b[^>]*\bmethod\s*=\s*[\"']?post\b[^>]*>", re.IGNORECASE)


def inject_csrf(html: str, token: str) -> str:
    """Put the token into every POST form of a page, so no template can forget it."""
    field = f'<input type="hidden" name="{CSRF_FIELD}" value="{token}">'
    return _POST_FORM.sub(lambda m: m.group(0) + field, html)


# --- response headers -----------------------------------------------------------------------------

CSP = (
    "default-src 'self'; script-src 'self'; style-src 'self'; img-src 'self' data:; font-src 'self'; "
    "connect-src 'self'; object-src 'none'; base-uri 'none'; form-action 'self'; frame-ancestors 'none'"
)
# FastAPI's interactive API page loads Swagger UI from a CDN with an inline start-up script;
# it is served outside production only (see create_app), with this looser policy.
DOCS_CSP = (
    "default-src 'self'; script-src 'self' 'unsafe-inline' https://cdn.jsdelivr.net; "
    "style-src 'self' https://cdn.jsdelivr.net; img-src 'self' data: https://fastapi.tiangolo.com; "
    "object-src 'none'; base-uri 'none'; frame-ancestors 'none'"
)
STATIC_HEADERS: list[tuple[str, str]] = [
    ("X-Content-Type-Options", "nosniff"),
    ("Referrer-Policy", "same-origin"),
    ("X-Frame-Options", "DENY"),
    ("Cross-Origin-Opener-Policy", "same-origin"),
    ("Permissions-Policy", "camera=(), microphone=(), geolocation=(), payment=()"),
]


class HeadersMiddleware:
    def __init__(self, app: ASGIApp, *, docs_path: str | None) -> None:
        self.app = app
        self.docs_path = docs_path

    async def __call__(self, scope: Scope, receive: Receive, send: Send) -> None:
        if scope["type"] != "http":
            await self.app(scope, receive, send)
            return

        async def send_with_headers(message: Message) -> None:
            if message["type"] == "http.response.start":
                headers = MutableHeaders(scope=message)
                path = scope["path"]
                csp = DOCS_CSP if self.docs_path and path == self.docs_path else CSP
                headers.setdefault("Content-Security-Policy", csp)
                for key, value in STATIC_HEADERS:
                    headers.setdefault(key, value)
                if scope.get("scheme") == "https":
                    headers.setdefault("Strict-Transport-Security", "max-age=31536000")
                if not path.startswith("/static/"):
                    session = scope.get("session")
                    private = bool(session and session.get("uid")) or "set-cookie" in headers
                    if private:
                        headers["Cache-Control"] = "no-store"
                    else:
                        headers.setdefault("Cache-Control", "no-cache")
            await send(message)

        await self.app(scope, receive, send_with_headers)
