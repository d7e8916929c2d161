"""Calls for proposals on the page: the public list of calls taking applications, a call's terms,
and starting an application in it (the same ``services.calls.apply_to_call`` as
``grantflow review apply``); and a project's lifecycle drawn from its table with the path so far.

Which calls are listed is the call workflow table's answer (states marked ``accepting``); no
state is named here.
"""

from __future__ import annotations

import math
from typing import Annotated, Any

from fastapi import APIRouter, Form, Request
from fastapi.responses import RedirectResponse, Response

from grantflow import clock
from grantflow.db.facts import load_facts
from grantflow.db.workflows import get_registry
from grantflow.services.calls import (
    applicant_refusals,
    apply_to_call,
    call_summary,
    open_calls,
    unit_applications,
)
from grantflow.services.lifecycle_view import lifecycle_svg, state_path
from grantflow.services.queries import history, project_for
from grantflow.states.applications import ApplicationRefused
from grantflow.states.errors import GrantflowError
from grantflow.states.permissions import Actor, may_apply
from grantflow.states.text import Text
from grantflow.web.deps import CurrentActor, EngineDep, LangDep, OptionalActor, render
from grantflow.web.errors import status_for

router = APIRouter()

PAGE_SIZE = 20
NO_DIAGRAM = Text("此服务器未安装流程图绘制程序（Graphviz）", "the diagram program (Graphviz) is not installed here")
NOT_ELIGIBLE_NOW = Text(
    "按本单位目前的情况，尚不符合以下申报条件：", "As things stand, your unit does not meet these conditions:"
)


def _detail(engine: Any, actor: Actor | None, call_id: int) -> dict[str, Any]:
    with engine.connect() as conn:
        summary = call_summary(conn, call_id)
        may = actor is not None and may_apply(actor)
        unmet, own = [], []
        if may and actor is not None and actor.organisation_id is not None:
            unmet = applicant_refusals(conn, call_id=call_id, actor=actor, now=clock.now())
            own = unit_applications(conn, call_id=call_id, unit_id=actor.organisation_id)
    past = summary.row.closes_at is not None and clock.now() > summary.row.closes_at
    return {
        "call": summary,
        "may_apply": may,
        "unmet": unmet,
        "own": own,
        "deadline_passed": past,
        "unmet_intro": NOT_ELIGIBLE_NOW,
    }


@router.get("/calls")
def calls_page(request: Request, engine: EngineDep, actor: OptionalActor, page: int = 1) -> Response:
    page = max(1, min(page, 10_000))
    with engine.connect() as conn:
        calls, total = open_calls(conn, page=page, size=PAGE_SIZE)
    pages = max(1, math.ceil(total / PAGE_SIZE))
    now = clock.now()
    ctx = {"calls": calls, "page": page, "pages": pages, "total": total, "now": now, "user": actor}
    return render(request, "calls/list.html", ctx)


@router.get("/calls/{call_id}")
def call_page(request: Request, engine: EngineDep, actor: OptionalActor, call_id: int) -> Response:
    ctx = _detail(engine, actor, call_id)
    return render(request, "calls/detail.html", {**ctx, "user": actor, "error": None, "reasons": [], "typed": ""})


def _first_form(project_id: int, engine: Any) -> str:
    """Where a new draft is filled in: the first form its table lets the applicant edit in the
    state the draft starts in (the proposal, or a concept note first in a two-stage workflow)."""
    with engine.connect() as conn:
        facts = load_facts(conn, "project", project_id)
    here = get_registry().get(facts.workflow).state(facts.state)
    editable = [key for key, who in here.editable.items() if "applicant" in who]
    key = "proposal" if "proposal" in editable else (editable[0] if editable else None)
    return f"/projects/{project_id}/forms/{key}" if key else f"/projects/{project_id}"


@router.post("/calls/{call_id}/apply")
def call_apply(
    request: Request,
    engine: EngineDep,
    actor: CurrentActor,
    lang: LangDep,
    call_id: int,
    title: Annotated[str, Form()] = "",
) -> Response:
    try:
        with engine.begin() as conn:
            project_id = apply_to_call(conn, call_id=call_id, actor=actor, title=title, now=clock.now())
    except GrantflowError as exc:
        reasons = [r.get(lang) for r in exc.reasons] if isinstance(exc, ApplicationRefused) else []
        try:
            ctx = _detail(engine, actor, call_id)
        except GrantflowError:
            raise exc from None  # the call itself is not open to applicants: the plain refusal
        # the title typed stays in the form, every reason listed beside it
        ctx.update(user=actor, error=exc.text(lang), reasons=reasons, typed=title)
        return render(request, "calls/detail.html", ctx, status_code=status_for(exc))
    return RedirectResponse(_first_form(project_id, engine), status_code=303)


@router.get("/projects/{project_id}/lifecycle.svg")
def project_lifecycle(engine: EngineDep, actor: CurrentActor, lang: LangDep, project_id: int) -> Response:
    """The project's lifecycle, its current state and the path so far marked (an image: no script)."""
    with engine.connect() as conn:
        project = project_for(conn, actor, project_id)
        events = history(conn, "project", project_id, viewer=actor)
    path = state_path(events, current=project.state)
    svg = lifecycle_svg(project.workflow, tuple(path), lang)
    headers = {
        "Cache-Control": "private, max-age=60",
        "Content-Security-Policy": "default-src 'none'; style-src 'unsafe-inline'",
    }
    return Response(svg, media_type="image/svg+xml", headers=headers)
