"""The account page's calendar section and the private "my deadlines" feed it gives out.

``GET /calendar/{token}.ics`` needs no sign-in (calendar apps cannot sign in): the token in the
address is the key, stored only as its hash (``services.calendar``). An unknown or replaced
token is answered 404, like any address that does not exist.
"""

from __future__ import annotations

from fastapi import APIRouter, Request
from fastapi.responses import Response

from grantflow import clock
from grantflow.services.calendar import feed, issue_token, token_created, user_for_token
from grantflow.states.errors import NotFound
from grantflow.states.permissions import Actor
from grantflow.states.text import Text
from grantflow.web.deps import CurrentActor, EngineDep, render

router = APIRouter()

NO_FEED = Text("日历订阅地址不存在或已被重置", "This calendar address does not exist or has been reset")


def _feed_url(request: Request, token: str) -> str:
    return str(request.base_url).rstrip("/") + f"/calendar/{token}.ics"


def _account(request: Request, engine: EngineDep, actor: Actor, new_url: str | None, status: int = 200) -> Response:
    assert actor.user_id is not None
    with engine.connect() as conn:
        created = token_created(conn, user_id=actor.user_id)
    ctx = {"user": actor, "calendar_created": created, "calendar_url": new_url}
    return render(request, "account/index.html", ctx, status_code=status)


@router.get("/account")
def account_page(request: Request, engine: EngineDep, actor: CurrentActor) -> Response:
    return _account(request, engine, actor, None)


@router.post("/account/calendar")
def calendar_reset(request: Request, engine: EngineDep, actor: CurrentActor) -> Response:
    """Make (or make anew) the person's feed address; shown once, on the page this answers with."""
    assert actor.user_id is not None
    with engine.begin() as conn:
        token = issue_token(conn, user_id=actor.user_id, now=clock.now())
    response = _account(request, engine, actor, _feed_url(request, token))
    response.headers["Cache-Control"] = "no-store"  # the address is a secret
    return response


@router.get("/calendar/{token}.ics")
def calendar_feed(request: Request, engine: EngineDep, token: str) -> Response:
    with engine.connect() as conn:
        user_id = user_for_token(conn, token)
        if user_id is None:
            raise NotFound(NO_FEED)
        body = feed(conn, user_id=user_id, now=clock.now(), base_url=str(request.base_url))
    headers = {"Cache-Control": "private, no-store", "Referrer-Policy": "no-referrer"}
    return Response(body, media_type="text/calendar; charset=utf-8", headers=headers)
