"""The signed-in person's own account: the session as scripts see it, and changing the password.

``GET /api/session`` gives the CSRF token a script must send as ``X-CSRF-Token`` with every
state-changing API call (see docs/security.md); pages get theirs inside every form.
"""

from __future__ import annotations

from typing import Annotated, Any

from fastapi import APIRouter, Form, Request
from fastapi.responses import RedirectResponse, Response
from sqlalchemy import select

from grantflow import clock
from grantflow.db.models import User
from grantflow.services.passwords import verify_password
from grantflow.services.signin import check_new_password, set_password
from grantflow.states.text import Text
from grantflow.web.deps import CurrentActor, EngineDep, LangDep, OptionalActor, render
from grantflow.web.security import ServerSession

router = APIRouter()

WRONG_CURRENT = Text("当前密码不正确", "the current password is wrong")
MISMATCH = Text("两次输入的新密码不一致", "the two new passwords differ")


@router.get("/api/session")
def api_session(request: Request, actor: OptionalActor) -> dict[str, Any]:
    """Who is signed in, and the CSRF token for state-changing calls."""
    session = request.scope.get("session")
    token = session.csrf_token() if isinstance(session, ServerSession) else None
    settings = request.app.state.settings
    return {
        "signed_in": actor is not None,
        "user": None if actor is None else {"id": actor.user_id, "name": actor.name, "roles": sorted(actor.roles)},
        "csrf_token": token,
        "csrf_header": "X-CSRF-Token",
        "idle_timeout_s": settings.session_idle_s,
    }


@router.get("/account/password")
def password_page(request: Request, actor: CurrentActor, done: str | None = None) -> Response:
    return render(request, "account/password.html", {"user": actor, "errors": [], "notice": None})


@router.post("/account/password")
def password_change(
    request: Request,
    engine: EngineDep,
    actor: CurrentActor,
    lang: LangDep,
    current: Annotated[str, Form()] = "",
    new: Annotated[str, Form()] = "",
    repeat: Annotated[str, Form()] = "",
) -> Response:
    assert actor.user_id is not None
    with engine.connect() as conn:
        email, stored = conn.execute(select(User.email, User.password_hash).where(User.id == actor.user_id)).one()
    problems = [] if verify_password(current, stored) else [WRONG_CURRENT]
    problems += check_new_password(new, email=email)
    if new != repeat:
        problems.append(MISMATCH)
    if problems:
        ctx = {"user": actor, "errors": [p.get(lang) for p in problems], "notice": None}
        return render(request, "account/password.html", ctx, status_code=422)
    with engine.begin() as conn:
        set_password(conn, user_id=actor.user_id, password=new, now=clock.now(), actor=actor, check=False)
    request.session.clear()  # this browser too: every session of this person has ended
    return RedirectResponse("/login?changed=1", status_code=303)
