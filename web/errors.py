"""Every error as an answer in the person's language: JSON under /api, a page everywhere else.

Nothing a person sends may end in a raw 500 or in FastAPI's default JSON on a page: unknown paths,
wrong methods, malformed ids and forms, numbers beyond what the database stores and text that
cannot be stored all get a bilingual page (or JSON body) with the right status. A failed
validation never echoes the input back (it may be the very text that cannot be encoded).
"""

from __future__ import annotations

import logging
import secrets

from fastapi import FastAPI, Request
from fastapi.exceptions import RequestValidationError
from fastapi.responses import JSONResponse, RedirectResponse, Response
from sqlalchemy.exc import DataError
from starlette.exceptions import HTTPException as StarletteHTTPException
from starlette.types import Receive, Scope, Send

from grantflow.states.errors import (
    Conflict,
    Forbidden,
    GrantflowError,
    GuardFailed,
    InvalidTrigger,
    NotFound,
    PayloadInvalid,
    TooManyAttempts,
)
from grantflow.states.text import Text
from grantflow.web.deps import LoginRequired, get_lang, render
from grantflow.web.security import BAD_TEXT, CROSS_SITE, CSP, STATIC_HEADERS, CsrfRefused

log = logging.getLogger("grantflow.web")

STATUS: list[tuple[type[GrantflowError], int]] = [
    (NotFound, 404),
    (Forbidden, 403),
    (Conflict, 409),
    (InvalidTrigger, 409),
    (GuardFailed, 422),
    (PayloadInvalid, 422),
    (TooManyAttempts, 429),
]

HTTP_TEXT: dict[int, Text] = {
    400: Text("请求格式不正确", "The request is malformed"),
    404: Text("页面不存在", "This page does not exist"),
    405: Text("此地址不支持这种操作", "This address does not accept that kind of request"),
    413: Text("提交的内容过大", "What was sent is too large"),
    415: Text("不支持的内容类型", "Unsupported content type"),
}
OTHER_HTTP = Text("无法完成请求", "The request could not be completed")
NOT_FOUND = Text("所请求的内容不存在", "What you asked for does not exist")
OUT_OF_RANGE = Text("提交的数字超出范围", "A number sent is out of range")
INTERNAL = Text(
    "服务器内部错误，已记录（编号 {ref}）。请稍后重试。", "Internal error, logged as {ref}. Please try again later."
)
LOGIN = Text("请先登录", "please sign in")


def status_for(exc: GrantflowError) -> int:
    return next((code for kind, code in STATUS if isinstance(exc, kind)), 400)


def _wants_json(request: Request) -> bool:
    return request.url.path.startswith("/api/") or "application/json" in request.headers.get("accept", "")


def error_response(
    request: Request,
    status: int,
    message: Text,
    *,
    code: str,
    extra: dict[str, object] | None = None,
    headers: dict[str, str] | None = None,
) -> Response:
    """One shape for every error: {error, message, messages, ...} as JSON, or the error page."""
    lang = get_lang(request)
    if _wants_json(request):
        body = {"error": code, "message": message.get(lang), "messages": message.as_dict(), **(extra or {})}
        return JSONResponse(body, status_code=status, headers=headers)
    ctx = {"message": message.get(lang), "status": status}
    response = render(request, "error.html", ctx, status_code=status)
    response.headers.update(headers or {})
    return response


async def refuse(scope: Scope, receive: Receive, send: Send, status: int, message: Text) -> None:
    """Answer a request refused before routing (used by the origin check)."""
    code = {403: "cross_site", 413: "too_large", 422: "invalid_text"}.get(status, "refused")
    response = error_response(Request(scope, receive), status, message, code=code)
    await response(scope, receive, send)


def _field(loc: tuple[int | str, ...]) -> str:
    return ".".join(str(part) for part in loc[1:]) or str(loc[0]) if loc else ""


def _problem(error: dict[str, object]) -> dict[str, object]:
    raw = error.get("loc")
    loc: tuple[int | str, ...] = tuple(raw) if isinstance(raw, list | tuple) else ()
    name = _field(loc)
    text = Text(f"“{name}”的值缺失或不正确", f"'{name}' is missing or invalid")
    return {"field": name, "where": str(loc[0]) if loc else "", "type": error.get("type"), "messages": text.as_dict()}


def install(app: FastAPI) -> None:
    @app.exception_handler(GrantflowError)
    async def domain_error(request: Request, exc: GrantflowError) -> Response:
        headers = {"Retry-After": str(exc.retry_after)} if isinstance(exc, TooManyAttempts) else None
        return error_response(request, status_for(exc), exc.message, code=exc.code, extra=exc.details, headers=headers)

    @app.exception_handler(LoginRequired)
    async def login_required(request: Request, exc: LoginRequired) -> Response:
        if _wants_json(request):
            return error_response(request, 401, LOGIN, code="login_required")
        return RedirectResponse(f"/login?next={request.url.path}", status_code=303)

    @app.exception_handler(CsrfRefused)
    async def csrf_refused(request: Request, exc: CsrfRefused) -> Response:
        return error_response(request, 403, CROSS_SITE, code="csrf")

    @app.exception_handler(StarletteHTTPException)
    async def http_error(request: Request, exc: StarletteHTTPException) -> Response:
        message = HTTP_TEXT.get(exc.status_code, OTHER_HTTP)
        headers = dict(exc.headers) if exc.headers else None
        return error_response(request, exc.status_code, message, code=f"http_{exc.status_code}", headers=headers)

    @app.exception_handler(RequestValidationError)
    async def invalid_request(request: Request, exc: RequestValidationError) -> Response:
        errors = list(exc.errors())
        if errors and all((e.get("loc") or ("",))[0] == "path" for e in errors):
            # /projects/abc names nothing that exists: the same answer as a missing id
            return error_response(request, 404, NOT_FOUND, code="not_found")
        problems = [_problem(e) for e in errors]
        message = Text(
            "提交的内容有误：" + "；".join(str(p["field"]) for p in problems),
            "What was sent is not valid: " + ", ".join(str(p["field"]) for p in problems),
        )
        return error_response(request, 422, message, code="invalid_request", extra={"problems": problems})

    @app.exception_handler(OverflowError)
    async def overflow(request: Request, exc: OverflowError) -> Response:
        # an id beyond 64 bits names nothing stored; any other number that large is out of range
        huge_in_path = any(v.isdigit() and int(v) >= 2**63 for v in request.path_params.values() if isinstance(v, str))
        if huge_in_path:
            return error_response(request, 404, NOT_FOUND, code="not_found")
        return error_response(request, 422, OUT_OF_RANGE, code="out_of_range")

    @app.exception_handler(DataError)
    async def data_error(request: Request, exc: DataError) -> Response:
        return error_response(request, 422, OUT_OF_RANGE, code="out_of_range")

    @app.exception_handler(UnicodeError)
    async def bad_text(request: Request, exc: UnicodeError) -> Response:
        return error_response(request, 422, BAD_TEXT, code="invalid_text")

    @app.exception_handler(Exception)
    async def internal(request: Request, exc: Exception) -> Response:
        ref = secrets.token_hex(4)
        log.exception("unhandled error %s on %s %s", ref, request.method, request.url.path)
        message = Text(INTERNAL.zh.format(ref=ref), INTERNAL.en.format(ref=ref))
        try:
            response = error_response(request, 500, message, code="internal")
        except Exception:  # the page itself failed: plain text, still in both languages
            response = Response(f"{message.zh}\n{message.en}\n", status_code=500, media_type="text/plain")
        # this answer leaves through the outermost layer, past the headers middleware
        for key, value in STATIC_HEADERS:
            response.headers.setdefault(key, value)
        response.headers.setdefault("Content-Security-Policy", CSP)
        response.headers["Cache-Control"] = "no-store"
        return response
