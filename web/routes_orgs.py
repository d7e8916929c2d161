"""The office's page for the qualifications units hold: list them, grant (or renew), revoke.

Who may see and who may change them is asked of ``states.permissions`` (through
``services.qualifications``), the same functions the CLI's ``grantflow orgs qualify`` asks,
so a refusal reads the same on the page and in the terminal. A refused grant shows the page
again with every problem and everything that was typed.
"""

from __future__ import annotations

from datetime import date, datetime
from typing import Annotated, Any

from fastapi import APIRouter, Form, Query, Request
from fastapi.responses import JSONResponse, RedirectResponse, Response

from grantflow.db.models import Organisation, table
from grantflow.services import people
from grantflow.services.forms import find_organisations
from grantflow.services.qualifications import QualificationInvalid, find_unit, grant, qualifications_of, revoke
from grantflow.states.eligibility import QUALIFICATIONS
from grantflow.states.enums import LABELS, OrgKind
from grantflow.states.permissions import Actor, may_manage_people, may_manage_qualifications, may_view_qualifications
from grantflow.states.qualifications import Standing
from grantflow.states.text import Lang, Text
from grantflow.web.deps import CurrentActor, EngineDep, LangDep, render
from grantflow.web.routes_review import NowDep

router = APIRouter()

_o = table(Organisation)

BAD_DATE = Text("日期格式应为 YYYY-MM-DD", "dates are written YYYY-MM-DD")


def _page(
    request: Request,
    *,
    engine: EngineDep,
    actor: Actor,
    org_id: int,
    now: datetime,
    lang: Lang,
    typed: dict[str, str] | None = None,
    problems: list[Text] | None = None,
    status_code: int = 200,
) -> Response:
    with engine.connect() as conn:
        unit = find_unit(conn, org_id)
        rows = qualifications_of(conn, organisation_id=unit.id, actor=actor, now=now)
    codes = [{"code": k, "label": v.get(lang)} for k, v in QUALIFICATIONS.items()]
    ctx: dict[str, Any] = {
        "unit": unit,
        "rows": rows,
        "codes": codes,
        "may_manage": may_manage_qualifications(actor),
        "typed": typed or {},
        "problems": [p.get(lang) for p in problems or []],
    }
    return render(request, "orgs/qualifications.html", ctx, status_code=status_code)


def _orgs_page(
    request: Request,
    engine: Any,
    actor: Actor,
    lang: Lang,
    *,
    q: str = "",
    kind: str = "",
    sort: str = "name",
    page: int = 1,
    typed: dict[str, str] | None = None,
    problems: dict[str, list[str]] | None = None,
    notice: str | None = None,
    status_code: int = 200,
) -> Response:
    with engine.connect() as conn:
        rows = people.organisations(conn, q=q, kind=kind, sort=sort)
    visible = [r for r in rows if may_view_qualifications(actor, r.id)]
    listing = people.paginate(visible, page)
    units = [
        {
            "id": r.id,
            "name": r.name if lang == "zh" else (r.name_en or r.name),
            "kind": r.kind,
            "region": r.region or "",
            "people": r.people,
        }
        for r in listing.rows
    ]
    ctx = {
        "units": units,
        "listing": listing,
        "filters": {"q": q, "kind": kind, "sort": sort},
        "prefix": people.page_prefix("/orgs", {"q": q, "kind": kind, "sort": sort}),
        "kind_choices": [(k.value, LABELS[k].get(lang)) for k in OrgKind],
        "may_add": may_manage_people(actor),
        "typed": typed or {},
        "problems": problems or {},
        "notice": notice,
    }
    return render(request, "orgs/list.html", ctx, status_code=status_code)


@router.get("/orgs")
def orgs_page(
    request: Request,
    actor: CurrentActor,
    engine: EngineDep,
    lang: LangDep,
    q: Annotated[str, Query(max_length=100)] = "",
    kind: Annotated[str, Query(max_length=40)] = "",
    sort: Annotated[str, Query(max_length=10)] = "name",
    page: Annotated[int, Query(ge=1, le=10**6)] = 1,
    saved: str = "",
) -> Response:
    """The units whose qualifications this person may see; the office also registers new ones."""
    notice = Text("已登记该单位。", "The organisation is registered.").get(lang) if saved == "org" else None
    return _orgs_page(request, engine, actor, lang, q=q, kind=kind, sort=sort, page=page, notice=notice)


@router.post("/orgs")
def orgs_add(
    request: Request,
    actor: CurrentActor,
    engine: EngineDep,
    lang: LangDep,
    now: NowDep,
    name: Annotated[str, Form(max_length=300)] = "",
    name_en: Annotated[str, Form(max_length=300)] = "",
    kind: Annotated[str, Form(max_length=40)] = "",
    region: Annotated[str, Form(max_length=100)] = "",
    domains: Annotated[str, Form(max_length=1000)] = "",
) -> Response:
    typed = {"name": name, "name_en": name_en, "kind": kind, "region": region, "domains": domains}
    try:
        with engine.begin() as conn:
            people.add_organisation(
                conn,
                name=name,
                name_en=name_en,
                kind=kind,
                region=region,
                domains=domains.replace("，", ",").replace(" ", ",").split(","),
                actor=actor,
                now=now,
            )
    except people.PeopleInvalid as exc:
        shown = exc.shown(lang)
        return _orgs_page(request, engine, actor, lang, typed=typed, problems=shown, status_code=422)
    return RedirectResponse("/orgs?saved=org", status_code=303)


@router.get("/orgs/{org_id}/qualifications")
def qualifications_page(
    request: Request, org_id: int, actor: CurrentActor, engine: EngineDep, lang: LangDep, now: NowDep
) -> Response:
    return _page(request, engine=engine, actor=actor, org_id=org_id, now=now, lang=lang)


def _parse_day(value: str, problems: list[Text]) -> date | None:
    text = value.strip()
    if not text:
        return None
    try:
        return date.fromisoformat(text)
    except ValueError:
        problems.append(Text(f"“{text}”不是有效日期；{BAD_DATE.zh}", f"'{text}' is not a date; {BAD_DATE.en}"))
        return None


@router.post("/orgs/{org_id}/qualifications")
def qualifications_grant(
    request: Request,
    org_id: int,
    actor: CurrentActor,
    engine: EngineDep,
    lang: LangDep,
    now: NowDep,
    code: str = Form(""),
    valid_from: str = Form(""),
    valid_until: str = Form(""),
    note: str = Form(""),
) -> Response:
    typed = {"code": code, "valid_from": valid_from, "valid_until": valid_until, "note": note}
    problems: list[Text] = []
    first = _parse_day(valid_from, problems)
    last = _parse_day(valid_until, problems)
    try:
        if problems:
            raise QualificationInvalid(problems)
        with engine.begin() as conn:
            grant(
                conn,
                organisation_id=org_id,
                code=code,
                valid_from=first,
                valid_until=last,
                note=note,
                actor=actor,
                now=now,
            )
    except QualificationInvalid as exc:
        return _page(
            request,
            engine=engine,
            actor=actor,
            org_id=org_id,
            now=now,
            lang=lang,
            typed=typed,
            problems=exc.problems,
            status_code=422,
        )
    return RedirectResponse(f"/orgs/{org_id}/qualifications", status_code=303)


@router.post("/orgs/{org_id}/qualifications/{code}/revoke")
def qualifications_revoke(
    org_id: int, code: str, actor: CurrentActor, engine: EngineDep, now: NowDep, reason: str = Form("")
) -> Response:
    with engine.begin() as conn:
        revoke(conn, organisation_id=org_id, code=code, reason=reason, actor=actor, now=now)
    return RedirectResponse(f"/orgs/{org_id}/qualifications", status_code=303)


@router.get("/api/orgs/search")
def orgs_search(
    actor: CurrentActor, engine: EngineDep, lang: LangDep, q: Annotated[str, Query(max_length=200)] = ""
) -> Response:
    """Organisations whose name contains ``q`` (a few), for the suggestions of a form's organisation
    fields: anyone signed in may name any registered unit there, as a partner or a new unit."""
    with engine.connect() as conn:
        found = find_organisations(conn, q)
    return JSONResponse(
        {"organisations": [{"id": oid, **name.as_dict(), "label": name.get(lang)} for oid, name in found]}
    )


@router.get("/api/orgs/{org_id}/qualifications")
def qualifications_api(org_id: int, actor: CurrentActor, engine: EngineDep, now: NowDep) -> Response:
    with engine.connect() as conn:
        unit = find_unit(conn, org_id)
        rows = qualifications_of(conn, organisation_id=unit.id, actor=actor, now=now)
    return JSONResponse(
        {
            "organisation": {"id": unit.id, **unit.name.as_dict()},
            "qualifications": [
                {
                    "code": q.code,
                    "label": q.label.as_dict(),
                    "valid_from": q.valid_from.isoformat() if q.valid_from else None,
                    "valid_until": q.valid_until.isoformat() if q.valid_until else None,
                    "note": q.note,
                    "standing": q.standing.value,
                    "counts": q.standing is Standing.VALID,
                    "revoked_at": q.revoked_at.isoformat() if q.revoked_at else None,
                    "revoked_reason": q.revoked_reason,
                }
                for q in rows
            ],
        }
    )
