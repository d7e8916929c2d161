"""The office's directory on the page: people (list, filter, register, switch off and on) and
new organisations (the list itself is ``/orgs``, shared with the qualifications desk).

Every decision is ``services.people`` asking ``states.permissions``; a refused registration
shows the page again with each problem beside its field and everything typed kept (the
password excepted: it is never sent back to the browser).
"""

from __future__ import annotations

from typing import Annotated, Any

from fastapi import APIRouter, Form, Query, Request
from fastapi.responses import RedirectResponse, Response
from sqlalchemy import select

from grantflow.db.models import Organisation, table
from grantflow.services import people
from grantflow.states.enums import LABELS, OrgKind
from grantflow.states.errors import Forbidden
from grantflow.states.people import GRANTABLE_ROLES
from grantflow.states.permissions import PEOPLE_FORBIDDEN, Actor, may_manage_people
from grantflow.states.text import Lang, Text
from grantflow.web.deps import CurrentActor, EngineDep, LangDep, render
from grantflow.web.routes_review import NowDep

router = APIRouter()
_o = table(Organisation)

SAVED = {
    "user": Text(
        "已登记该人员，请把初始密码告知本人并提醒其登录后修改。",
        "Registered. Tell the person their first password and ask them to change it.",
    ),
    "org": Text("已登记该单位。", "The organisation is registered."),
    "off": Text("账号已停用，其所有登录已结束。", "The account is switched off; every sign-in of it has ended."),
    "on": Text("账号已恢复。", "The account is switched on again."),
}


def _choices(lang: Lang) -> dict[str, Any]:
    return {
        "role_choices": [(r.value, LABELS[r].get(lang)) for r in GRANTABLE_ROLES],
        "kind_choices": [(k.value, LABELS[k].get(lang)) for k in OrgKind],
    }


def _people_page(
    request: Request,
    engine: Any,
    actor: Actor,
    lang: Lang,
    *,
    q: str = "",
    org: int | None = None,
    role: str = "",
    page: int = 1,
    typed: dict[str, Any] | None = None,
    problems: dict[str, list[str]] | None = None,
    notice: str | None = None,
    status_code: int = 200,
) -> Response:
    with engine.connect() as conn:
        listing = people.users(conn, actor=actor, q=q, organisation_id=org, role=role, page=page)
        units = conn.execute(select(_o.c.id, _o.c.name, _o.c.name_en).order_by(_o.c.name)).all()
    ctx = {
        "listing": listing,
        "filters": {"q": q, "org": org, "role": role},
        "prefix": people.page_prefix("/office/people", {"q": q, "org": org, "role": role}),
        "units": [(u.id, u.name if lang == "zh" else (u.name_en or u.name)) for u in units],
        "typed": typed or {"roles": [], "language": lang},
        "problems": problems or {},
        "notice": notice,
        **_choices(lang),
    }
    return render(request, "office/people.html", ctx, status_code=status_code)


@router.get("/office/people")
def people_page(
    request: Request,
    engine: EngineDep,
    actor: CurrentActor,
    lang: LangDep,
    q: Annotated[str, Query(max_length=100)] = "",
    org: Annotated[int | None, Query(ge=1, le=2**62)] = None,
    role: Annotated[str, Query(max_length=40)] = "",
    page: Annotated[int, Query(ge=1, le=10**6)] = 1,
    saved: str = "",
) -> Response:
    if not may_manage_people(actor):
        raise Forbidden([PEOPLE_FORBIDDEN])
    notice = SAVED[saved].get(lang) if saved in SAVED else None
    return _people_page(request, engine, actor, lang, q=q, org=org, role=role, page=page, notice=notice)


@router.post("/office/people")
def people_add(
    request: Request,
    engine: EngineDep,
    actor: CurrentActor,
    lang: LangDep,
    now: NowDep,
    email: Annotated[str, Form(max_length=200)] = "",
    name: Annotated[str, Form(max_length=200)] = "",
    organisation_id: Annotated[str, Form(max_length=20)] = "",
    roles: Annotated[list[str] | None, Form()] = None,
    language: Annotated[str, Form(max_length=5)] = "zh",
    password: Annotated[str, Form(max_length=500)] = "",
) -> Response:
    if not may_manage_people(actor):
        raise Forbidden([PEOPLE_FORBIDDEN])
    org_id = int(organisation_id) if organisation_id.isdigit() and len(organisation_id) < 19 else None
    typed = {"email": email, "name": name, "organisation_id": org_id, "roles": roles or [], "language": language}
    try:
        with engine.begin() as conn:
            people.add_user(
                conn,
                email=email,
                name=name,
                organisation_id=org_id,
                roles=roles or [],
                language=language,
                password=password,
                actor=actor,
                now=now,
            )
    except people.PeopleInvalid as exc:
        shown = exc.shown(lang)
        return _people_page(request, engine, actor, lang, typed=typed, problems=shown, status_code=422)
    return RedirectResponse("/office/people?saved=user", status_code=303)


@router.post("/office/people/{user_id}/active")
def people_active(
    engine: EngineDep,
    actor: CurrentActor,
    now: NowDep,
    user_id: int,
    enable: Annotated[str, Form(max_length=5)] = "",
) -> Response:
    switch_on = enable == "1"
    with engine.begin() as conn:
        people.set_active(conn, user_id=user_id, active=switch_on, actor=actor, now=now)
    return RedirectResponse(f"/office/people?saved={'on' if switch_on else 'off'}", status_code=303)
