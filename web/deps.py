"""Typed dependencies for routes: the engine, the language, the signed-in person, rendering."""

from __future__ import annotations

from datetime import datetime
from pathlib import Path
from typing import Annotated, Any
from zoneinfo import ZoneInfo

from fastapi import Depends, Request
from fastapi.responses import HTMLResponse
from fastapi.templating import Jinja2Templates
from jinja2 import Environment, FileSystemLoader, select_autoescape
from sqlalchemy import Engine

from grantflow.config import get_settings
from grantflow.services.actors import actor_for
from grantflow.states.channels import API, PAGE, Channel
from grantflow.states.disclosure import may_publish
from grantflow.states.enums import label as enum_label
from grantflow.states.errors import NotFound
from grantflow.states.overview import may_view_overview
from grantflow.states.permissions import (
    Actor,
    complaint_scope,
    may_follow_adjustments,
    may_follow_programmes,
    may_list_units,
    may_manage_people,
    may_review,
    may_run_calls,
)
from grantflow.states.text import Lang, Text, normalise_lang
from grantflow.states.workflow import event_label
from grantflow.web.i18n import translations
from grantflow.web.security import ServerSession, inject_csrf

TEMPLATES = Path(__file__).parent / "templates"


def local_time(moment: datetime | None) -> str:
    """A stored UTC time as people here read it: in the configured zone, with the zone named."""
    if moment is None:
        return ""
    zone = ZoneInfo(get_settings().timezone)
    return moment.astimezone(zone).strftime("%Y-%m-%d %H:%M %Z")


def _environment(lang: Lang) -> Environment:
    env = Environment(
        loader=FileSystemLoader(TEMPLATES),
        autoescape=select_autoescape(["html", "xml"]),
        extensions=["jinja2.ext.i18n"],
    )
    env.install_gettext_translations(translations(lang), newstyle=True)  # type: ignore[attr-defined]
    env.globals["lang"] = lang
    env.globals["t"] = lambda text: text.get(lang) if isinstance(text, Text) else text
    env.globals["enum_label"] = lambda value: enum_label(value, lang)
    env.globals["event_label"] = event_label
    env.globals["local_time"] = local_time
    env.globals["may_view_overview"] = may_view_overview
    # the navigation offers each person the pages their role uses (states.permissions decides)
    for ask in (may_review, may_follow_adjustments, complaint_scope, may_run_calls, may_publish, may_manage_people):
        env.globals[ask.__name__] = ask
    env.globals["may_follow_programmes"] = may_follow_programmes
    env.globals["may_list_units"] = may_list_units
    return env


_TEMPLATES: dict[Lang, Jinja2Templates] = {}


def templates(lang: Lang) -> Jinja2Templates:
    if lang not in _TEMPLATES:
        _TEMPLATES[lang] = Jinja2Templates(env=_environment(lang))
    return _TEMPLATES[lang]


# Dependencies that only read the request are ``async``: FastAPI runs a plain ``def`` dependency
# in a worker thread, and a hop there and back for each of them, on every request, cost more
# than the work. Those that read the database stay plain functions (off the event loop).


async def get_engine_dep(request: Request) -> Engine:
    engine: Engine = request.app.state.engine
    return engine


EngineDep = Annotated[Engine, Depends(get_engine_dep)]


def get_lang(request: Request) -> Lang:
    chosen = request.session.get("lang") if "session" in request.scope else None
    if chosen:
        return normalise_lang(chosen)
    header = request.headers.get("accept-language", "")
    if header:
        return normalise_lang(header.split(",")[0])
    return normalise_lang(get_settings().language)


async def lang_dep(request: Request) -> Lang:
    return get_lang(request)


LangDep = Annotated[Lang, Depends(lang_dep)]


class LoginRequired(Exception):
    """Raised by `CurrentActor` when nobody is signed in: pages redirect, the API answers 401."""


def channel_of(request: Request) -> Channel:
    """The JSON API under ``/api/``, the page everywhere else: recorded with every audit event."""
    return API if request.url.path.startswith("/api/") else PAGE


def optional_actor(request: Request, engine: EngineDep) -> Actor | None:
    uid = request.session.get("uid")
    if uid is None:
        return None
    try:
        with engine.connect() as conn:
            actor = actor_for(conn, user_id=int(uid)).via(channel_of(request))
    except NotFound:
        request.session.clear()
        return None
    request.state.actor = actor
    return actor


OptionalActor = Annotated[Actor | None, Depends(optional_actor)]


async def current_actor(actor: OptionalActor) -> Actor:
    if actor is None:
        raise LoginRequired()
    return actor


CurrentActor = Annotated[Actor, Depends(current_actor)]


def _unread(request: Request, user: object) -> int:
    """The inbox badge's count: every page shows how many messages wait unread."""
    if not isinstance(user, Actor) or user.user_id is None:
        return 0
    from grantflow.services.todo import unread  # pulls in the services; deps is imported by every route

    engine: Engine = request.app.state.engine
    with engine.connect() as conn:
        return unread(conn, user)


def render(
    request: Request, template: str, context: dict[str, Any] | None = None, *, status_code: int = 200
) -> HTMLResponse:
    lang = get_lang(request)
    session = request.scope.get("session")
    token = session.csrf_token() if isinstance(session, ServerSession) else None
    ctx = {"request": request, "user": getattr(request.state, "actor", None), "csrf_token": token}
    ctx.update(context or {})
    ctx.setdefault("nav_unread", _unread(request, ctx["user"]))
    response = templates(lang).TemplateResponse(request, template, ctx, status_code=status_code)
    if token is None:
        return response
    # every POST form on the page gets this session's CSRF token (see web/security.py)
    html = inject_csrf(bytes(response.body).decode("utf-8"), token)
    return HTMLResponse(html, status_code=status_code)
