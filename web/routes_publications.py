"""Public disclosures on the web page. Public side (no sign-in): what is published, downloads and
the Atom feed. Office side: the schedule, what is due, what the content guard blocked (with the
override), returned S&T reports, and "publish now". Who may publish is ``states.disclosure``'s rule."""

from __future__ import annotations

from datetime import datetime
from typing import Annotated, Any
from zoneinfo import ZoneInfo

from fastapi import APIRouter, Form, Request
from fastapi.responses import FileResponse, JSONResponse, RedirectResponse, Response

from grantflow.clock import now as clock_now
from grantflow.flows.jobs import SCHEDULE_SETTING
from grantflow.reports import outputs
from grantflow.reports.publish import publish_disclosure, publish_reports
from grantflow.services import publications, st_reports
from grantflow.states.disclosure import (
    DEFAULT_GRANULARITY,
    DISCLOSURE_KINDS,
    KIND_LABELS,
    PUBLISH_FORBIDDEN,
    may_publish,
)
from grantflow.states.errors import Forbidden, GrantflowError, NotFound
from grantflow.states.text import Text
from grantflow.web.deps import CurrentActor, EngineDep, LangDep, OptionalActor, render
from grantflow.web.errors import status_for

router = APIRouter()

NO_FILE = Text("文件不存在或尚未公开", "no such published file")
OUTCOMES = {
    "published": Text("已发布", "Published"),  # not a workflow state
    "already": Text("此前已发布，未重复发布", "Already published; not published again"),
    "busy": Text("另一次发布正在进行", "Another run is publishing it"),
    "blocked": Text("内容安全检查发现可疑内容，已拦截", "The content guard found suspicious passages: blocked"),
}


@router.get("/publications")
def public_list(request: Request, engine: EngineDep, actor: OptionalActor) -> Response:
    data = outputs.manifest(engine)
    tz = ZoneInfo(request.app.state.settings.timezone)
    items = [
        {**it, "published_local": datetime.fromisoformat(it["published_at"]).astimezone(tz).strftime("%Y-%m-%d %H:%M")}
        for it in data["publications"]
    ]
    return render(request, "publications.html", {"items": items, "user": actor})


@router.get("/publications/feed.atom")
def public_feed(request: Request, engine: EngineDep) -> Response:
    # rendered for this page rather than the directory's file: here the files are under
    # /publications/files/, and a feed with nothing published yet is still a valid feed
    base = request.app.state.settings.publish_base_url
    body = outputs.feed(engine, now=clock_now(), links=outputs.WEB_FEED_LINKS, base_url=base)
    return Response(body, media_type="application/atom+xml")


@router.get("/publications/manifest.json")
def public_manifest(request: Request, engine: EngineDep) -> Response:
    path = request.app.state.settings.publications_dir / outputs.MANIFEST
    if not path.is_file():
        return JSONResponse(outputs.manifest(engine))
    return FileResponse(path, media_type="application/json")


@router.get("/publications/files/{name:path}")
def public_file(request: Request, engine: EngineDep, name: str) -> Response:
    # only names recorded as published are served, never anything else in the directory
    recorded = {d["name"] for item in outputs.manifest(engine)["publications"] for d in item["documents"]}
    path = outputs.published_path(request.app.state.settings.publications_dir, name) if name in recorded else None
    if path is None:
        raise NotFound(NO_FILE)
    return FileResponse(path, media_type="application/pdf", filename=path.name)


def _office_context(request: Request, engine: Any, lang: str) -> dict[str, Any]:
    settings = request.app.state.settings
    now = clock_now()
    with engine.connect() as conn:
        due = publications.due(
            conn, now=now, tz=settings.timezone, granularity=DEFAULT_GRANULARITY, since=settings.publish_since
        )
        blocked = publications.blocked(conn)
        checks = [c for c in st_reports.latest_checks(conn) if not c.ok]
        programmes = [p for p, _ in publications.launched_programmes(conn)]
    schedule = [
        {"flow": name, "cron": getattr(settings, setting), "setting": f"GRANTFLOW_{setting.upper()}"}
        for name, setting in SCHEDULE_SETTING.items()
        if name.startswith("publish")
    ]
    return {
        "schedule": schedule,
        "tz": settings.timezone,
        "due": due,
        "blocked": blocked,
        "returned": checks,  # not a workflow state
        "kinds": [(k, KIND_LABELS[k].get(lang)) for k in DISCLOSURE_KINDS],
        "kind_labels": KIND_LABELS,
        "programmes": programmes,
        "outcome": None,
        "error": None,
        "typed": {},
    }


def _office_only(actor: Any) -> None:
    if not may_publish(actor) or actor.user_id is None:
        raise Forbidden([PUBLISH_FORBIDDEN])


@router.get("/office/publications")
def office_page(request: Request, engine: EngineDep, actor: CurrentActor, lang: LangDep) -> Response:
    _office_only(actor)
    return render(request, "office_publications.html", {**_office_context(request, engine, lang), "user": actor})


@router.post("/office/publications/publish")
def office_publish(
    request: Request,
    engine: EngineDep,
    actor: CurrentActor,
    lang: LangDep,
    kind: Annotated[str, Form()],
    programme: Annotated[str, Form()] = "",
    period: Annotated[str, Form()] = "",
) -> Response:
    _office_only(actor)
    settings = request.app.state.settings
    scanner = getattr(request.app.state, "scanner", None)
    now = clock_now()
    typed = {"kind": kind, "programme": programme, "period": period}
    published: list[dict[str, Any]] = []
    try:
        if kind == "reports":
            result = publish_reports(engine, settings, now=now, actor=actor, scanner=scanner)
            outcome = Text(
                f"已检查 {result['checked']['checked']} 份，发布 {len(result['published'])} 份",  # not a workflow state
                f"{result['checked']['checked']} checked, {len(result['published'])} published",  # not a workflow state
            )
        else:
            out = publish_disclosure(
                engine,
                settings,
                kind=kind,
                programme=programme.strip() or "0",
                period=period,
                now=now,
                actor=actor,
                scanner=scanner,
            )
            outcome = OUTCOMES[out.status]
            published = [{"title": d.title, "name": d.name, "pages": d.pages} for d in out.documents]
    except (GrantflowError, ValueError) as exc:
        message = exc.text(lang) if isinstance(exc, GrantflowError) else str(exc)
        ctx = {**_office_context(request, engine, lang), "user": actor, "error": message, "typed": typed}
        status = status_for(exc) if isinstance(exc, GrantflowError) else 422
        return render(request, "office_publications.html", ctx, status_code=status)
    ctx = {
        **_office_context(request, engine, lang),
        **{"user": actor, "outcome": outcome.get(lang), "new_documents": published, "typed": typed},
    }
    return render(request, "office_publications.html", ctx)


@router.post("/office/publications/{publication_id}/override")
def office_override(
    request: Request,
    engine: EngineDep,
    actor: CurrentActor,
    lang: LangDep,
    publication_id: int,
    reason: Annotated[str, Form()] = "",
) -> Response:
    try:
        with engine.begin() as conn:
            publications.override(conn, publication_id=publication_id, actor=actor, reason=reason, now=clock_now())
    except GrantflowError as exc:
        ctx = {
            **_office_context(request, engine, lang),
            "user": actor,
            "error": exc.text(lang),
            "typed": {"reason": reason, "override": publication_id},
        }
        return render(request, "office_publications.html", ctx, status_code=status_for(exc))
    return RedirectResponse("/office/publications", status_code=303)
