"""Sign-in, language, the project list and page, and firing triggers (page and JSON API).

Buttons come from the same two checks the engine makes (who may act, may it happen):
``Workflow.available``. A page offers only the rows this person could ever fire
(``Availability.offered``): pressable now, or greyed out with why; rows only an applied dynamic
adjustment fires become a link to the project's adjustment requests. Pressing one calls
``db.apply.fire``; nothing here writes a state. The home page lists what needs this person now
(``services.todo``).
"""

from __future__ import annotations

from typing import Annotated, Any

from fastapi import APIRouter, Body, Form, Query, Request
from fastapi.responses import JSONResponse, RedirectResponse, Response
from sqlalchemy import func, or_, select

from grantflow import clock
from grantflow.db.apply import fire
from grantflow.db.facts import load_facts
from grantflow.db.models import Project
from grantflow.db.workflows import get_registry
from grantflow.services import adjustments
from grantflow.services.lifecycle_view import graphviz_available, state_path, timeline
from grantflow.services.people import page_prefix, paginate_count
from grantflow.services.queries import history, project_for, visible_projects, visible_projects_query
from grantflow.services.seed import DEMO_PASSWORD, DemoAccount, demo_accounts
from grantflow.services.signin import BadLogin, sign_in
from grantflow.services.targets import project_progress
from grantflow.services.todo import todo_for
from grantflow.states.errors import GrantflowError, TooManyAttempts
from grantflow.states.text import normalise_lang
from grantflow.web.deps import CurrentActor, EngineDep, LangDep, OptionalActor, render
from grantflow.web.errors import status_for

router = APIRouter()


def _safe_next(value: str | None) -> str:
    # only same-site paths: an open redirect would let a link sign people into another site
    return value if value and value.startswith("/") and not value.startswith("//") else "/"


def _demo_accounts(request: Request, engine: Any) -> list[DemoAccount]:
    """The demo people, listed on the sign-in page only where ``grantflow init --demo`` seeded them
    (a flag in the database) and never in production."""
    with engine.connect() as conn:
        return demo_accounts(conn, production=request.app.state.settings.production)


def _login_context(request: Request, engine: Any, **values: Any) -> dict[str, Any]:
    return {"demo_accounts": _demo_accounts(request, engine), "demo_password": DEMO_PASSWORD, **values}


@router.get("/login")
def login_page(request: Request, engine: EngineDep, actor: OptionalActor, next: str = "/") -> Response:
    ctx = _login_context(request, engine, next=_safe_next(next), email="", error=None, user=actor)
    return render(request, "login.html", ctx)


@router.post("/login")
def login(
    request: Request,
    engine: EngineDep,
    lang: LangDep,
    email: Annotated[str, Form()] = "",
    password: Annotated[str, Form()] = "",
    next: Annotated[str, Form()] = "/",
) -> Response:
    settings = request.app.state.settings
    address = request.client.host if request.client else "unknown"
    try:
        who = sign_in(engine, email=email, password=password, address=address, now=clock.now(), settings=settings)
    except (BadLogin, TooManyAttempts) as exc:
        ctx = _login_context(request, engine, next=_safe_next(next), email=email, error=exc.text(lang))
        headers = {"Retry-After": str(exc.retry_after)} if isinstance(exc, TooManyAttempts) else {}
        response = render(request, "login.html", ctx, status_code=status_for(exc) if headers else 401)
        response.headers.update(headers)
        return response
    request.session.clear()
    request.session["uid"] = who.user_id
    request.session["lang"] = who.language
    return RedirectResponse(_safe_next(next), status_code=303)


@router.post("/logout")
def logout(request: Request) -> Response:
    request.session.clear()
    return RedirectResponse("/login", status_code=303)


@router.get("/lang/{code}")
def choose_language(request: Request, code: str, next: str = "/") -> Response:
    request.session["lang"] = normalise_lang(code)
    return RedirectResponse(_safe_next(next), status_code=303)


@router.get("/")
def home(
    request: Request,
    engine: EngineDep,
    actor: CurrentActor,
    lang: LangDep,
    q: Annotated[str, Query(max_length=100)] = "",
    page: Annotated[int, Query(ge=1, le=10**6)] = 1,
) -> Response:
    registry = get_registry()
    with engine.connect() as conn:
        found = visible_projects_query(actor)
        if q.strip():
            pattern = f"%{q.strip()}%"
            found = found.where(or_(Project.title.contains(q.strip()), Project.code.like(pattern)))
        total = int(conn.execute(select(func.count()).select_from(found.order_by(None).subquery())).scalar_one())
        listing = paginate_count(total, page)
        rows = conn.execute(found.limit(listing.per_page).offset((listing.page - 1) * listing.per_page)).all()
        todo = todo_for(conn, actor, now=clock.now())
    projects = [
        {
            "row": p,
            "state": registry.get(p.workflow).state_label(p.state).get(lang) if p.workflow in registry else p.state,
        }
        for p in rows
    ]
    ctx = {
        "projects": projects,
        "listing": listing,
        "q": q,
        "prefix": page_prefix("/", {"q": q}),
        "todo": todo,
        "user": actor,
    }
    return render(request, "home.html", ctx)


def _project_view(engine: Any, actor: Any, project_id: int) -> dict[str, Any]:
    registry = get_registry()
    with engine.connect() as conn:
        project = project_for(conn, actor, project_id)
        facts = load_facts(conn, "project", project_id)
        wf = registry.get(project.workflow)
        every = wf.available(facts=facts, actor=actor, now=clock.now())
        # rows only an applied adjustment request fires are asked for there, not pressed here
        by_request = any(b.by_adjustment and not b.offered for b in every)
        may_request = by_request and not adjustments.start_refusal(conn, project_id=project_id, actor=actor)
        events = history(conn, "project", project_id, viewer=actor)
        targets = project_progress(conn, project_id=project_id)  # numbered as the stage reports name them
        deadlines = timeline(conn, project_id=project_id, now=clock.now())
    return {
        "project": project,
        "workflow": wf,
        "buttons": [b for b in every if b.offered],
        "all_buttons": every,
        "may_request_adjustment": may_request,
        "events": events,
        "targets": targets,
        "timeline": deadlines,
        "path": state_path(events, current=project.state),
        "diagram": graphviz_available(),
    }


@router.get("/projects/{project_id}")
def project_page(request: Request, engine: EngineDep, actor: CurrentActor, project_id: int) -> Response:
    ctx = _project_view(engine, actor, project_id)
    return render(request, "project.html", {**ctx, "user": actor, "error": None, "typed": {}})


@router.post("/projects/{project_id}/fire")
def project_fire(
    request: Request,
    engine: EngineDep,
    actor: CurrentActor,
    lang: LangDep,
    project_id: int,
    trigger: Annotated[str, Form()],
    reason: Annotated[str, Form()] = "",
) -> Response:
    with engine.connect() as conn:
        project_for(conn, actor, project_id)  # may this person see it at all
    try:
        fire(engine, subject_id=project_id, trigger=trigger, actor=actor, payload={"reason": reason} if reason else {})
    except GrantflowError as exc:
        ctx = _project_view(engine, actor, project_id)
        # what the person typed stays in the form next to the message
        return render(
            request,
            "project.html",
            {**ctx, "user": actor, "error": exc.text(lang), "typed": {"trigger": trigger, "reason": reason}},
            status_code=status_for(exc),
        )
    return RedirectResponse(f"/projects/{project_id}", status_code=303)


# --- JSON API -----------------------------------------------------------------------------------


def _project_json(view: dict[str, Any]) -> dict[str, Any]:
    p, wf = view["project"], view["workflow"]
    return {
        "id": p.id,
        "code": p.code,
        "title": p.title,
        "workflow": wf.name,
        "state": p.state,
        "state_label": wf.state_label(p.state).as_dict(),
        "version": p.version,
        "available": [
            {
                "trigger": b.trigger,
                "label": b.label.as_dict(),
                "allowed": b.allowed,
                "offered": b.offered,
                "reasons": [r.as_dict() for r in b.reasons],
                "requires": list(b.requires),
            }
            for b in view["all_buttons"]
        ],
    }


@router.get("/api/projects")
def api_projects(engine: EngineDep, actor: CurrentActor) -> list[dict[str, Any]]:
    with engine.connect() as conn:
        rows = visible_projects(conn, actor)
    return [{"id": p.id, "code": p.code, "title": p.title, "state": p.state, "version": p.version} for p in rows]


@router.get("/api/projects/{project_id}")
def api_project(engine: EngineDep, actor: CurrentActor, project_id: int) -> dict[str, Any]:
    return _project_json(_project_view(engine, actor, project_id))


@router.post("/api/projects/{project_id}/triggers/{trigger}")
def api_fire(
    engine: EngineDep,
    actor: CurrentActor,
    project_id: int,
    trigger: str,
    payload: Annotated[dict[str, Any] | None, Body()] = None,
) -> Response:
    with engine.connect() as conn:
        project_for(conn, actor, project_id)
    t = fire(engine, subject_id=project_id, trigger=trigger, actor=actor, payload=payload or {})
    return JSONResponse(
        {
            "id": t.subject_id,
            "trigger": t.trigger,
            "from": t.from_state,
            "to": t.to_state,
            "version": t.version,
            "event_id": t.event_id,
        }
    )
