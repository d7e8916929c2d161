"""The in-app inbox: every notification a user received, how they want each kind delivered,
and, for the office, e-mails that failed or may have been sent (with a resend button)."""

from __future__ import annotations

from typing import Any

from fastapi import APIRouter, Request
from fastapi.responses import JSONResponse, RedirectResponse, Response

from grantflow import clock
from grantflow.notifications.catalogue import MODES, preference_kinds
from grantflow.notifications.dispatch import problems, resend
from grantflow.notifications.inbox import mark_read, messages_for, unread_count
from grantflow.notifications.preferences import mode_of, modes_for, set_mode
from grantflow.states.errors import NotFound
from grantflow.states.permissions import may_see_delivery_problems
from grantflow.states.text import Text
from grantflow.web.deps import CurrentActor, EngineDep, LangDep, render
from grantflow.web.security import parse_id

router = APIRouter()


@router.get("/inbox")
def inbox_page(request: Request, actor: CurrentActor, engine: EngineDep, lang: LangDep) -> Response:
    assert actor.user_id is not None
    with engine.connect() as conn:
        messages = messages_for(conn, user_id=actor.user_id)
        unread = unread_count(conn, user_id=actor.user_id)
        choices = modes_for(conn, [actor.user_id]).get(actor.user_id, {})
        trouble = problems(conn) if may_see_delivery_problems(actor) else []
    kinds = [{"name": k.name, "label": k.label.get(lang), "mode": mode_of(choices, k.name)} for k in preference_kinds()]
    modes = [{"name": name, "label": label.get(lang)} for name, label in MODES.items()]
    ctx = {"messages": messages, "unread": unread, "kinds": kinds, "modes": modes, "problems": trouble}
    return render(request, "inbox.html", ctx)


@router.post("/inbox/read")
async def inbox_read(request: Request, actor: CurrentActor, engine: EngineDep) -> Response:
    form = await request.form()
    raw = form.get("message_id")
    message_id = parse_id(raw) if raw else None
    if raw and message_id is None:
        raise NotFound(Text("消息不存在", "no such message"))
    assert actor.user_id is not None
    with engine.begin() as conn:
        mark_read(conn, user_id=actor.user_id, message_id=message_id, now=clock.now())
    return RedirectResponse("/inbox", status_code=303)


@router.post("/inbox/preferences")
async def inbox_preferences(request: Request, actor: CurrentActor, engine: EngineDep) -> Response:
    form = await request.form()
    assert actor.user_id is not None
    with engine.begin() as conn:
        for kind in preference_kinds():
            mode = form.get(f"mode:{kind.name}")
            if isinstance(mode, str) and mode in MODES:
                set_mode(conn, user_id=actor.user_id, kind=kind.name, mode=mode)
    return RedirectResponse("/inbox", status_code=303)


@router.post("/inbox/deliveries/{delivery_id}/resend")
def inbox_resend(delivery_id: int, actor: CurrentActor, engine: EngineDep) -> Response:
    with engine.begin() as conn:
        resend(conn, delivery_id=delivery_id, actor=actor, now=clock.now())
    return RedirectResponse("/inbox", status_code=303)


@router.get("/api/inbox")
def inbox_api(actor: CurrentActor, engine: EngineDep) -> Response:
    assert actor.user_id is not None
    with engine.connect() as conn:
        rows = messages_for(conn, user_id=actor.user_id)
        unread = unread_count(conn, user_id=actor.user_id)
    items: list[dict[str, Any]] = [
        {
            "id": r.id,
            "kind": r.kind,
            "title": r.title,
            "body": r.body,
            "language": r.language,
            "subject": r.subject,
            "subject_id": r.subject_id,
            "created_at": r.created_at.isoformat(),
            "read": r.read_at is not None,
        }
        for r in rows
    ]
    return JSONResponse({"unread": unread, "messages": items})
