"""Domain errors as HTTP answers, in the person's language: JSON for /api, a page otherwise."""

from __future__ import annotations

from fastapi import FastAPI, Request
from fastapi.responses import JSONResponse, RedirectResponse, Response

from grantflow.states.errors import (
    Conflict,
    Forbidden,
    GrantflowError,
    GuardFailed,
    InvalidTrigger,
    NotFound,
    PayloadInvalid,
)
from grantflow.web.deps import LoginRequired, get_lang, render

STATUS: list[tuple[type[GrantflowError], int]] = [
    (NotFound, 404),
    (Forbidden, 403),
    (Conflict, 409),
    (InvalidTrigger, 409),
    (GuardFailed, 422),
    (PayloadInvalid, 422),
]


def status_for(exc: GrantflowError) -> int:
    return next((code for kind, code in STATUS if isinstance(exc, kind)), 400)


def _wants_json(request: Request) -> bool:
    return request.url.path.startswith("/api/") or "application/json" in request.headers.get("accept", "")


def install(app: FastAPI) -> None:
    @app.exception_handler(GrantflowError)
    async def domain_error(request: Request, exc: GrantflowError) -> Response:
        lang = get_lang(request)
        status = status_for(exc)
        if _wants_json(request):
            body = {"error": exc.code, "message": exc.text(lang), "messages": exc.message.as_dict(), **exc.details}
            return JSONResponse(body, status_code=status)
        return render(request, "error.html", {"message": exc.text(lang), "status": status}, status_code=status)

    @app.exception_handler(LoginRequired)
    async def login_required(request: Request, exc: LoginRequired) -> Response:
        if _wants_json(request):
            msg = {"zh": "请先登录", "en": "please sign in"}
            return JSONResponse({"error": "login_required", "message": msg[get_lang(request)], "messages": msg}, 401)
        return RedirectResponse(f"/login?next={request.url.path}", status_code=303)
