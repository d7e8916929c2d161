"""Programme pages: the twelve programmes, each with its particulars, targets, history and the
buttons its lifecycle table offers this person (``states.programmes``); firing goes through
``services.programmes`` to ``db.apply``."""

from __future__ import annotations

from typing import Annotated

from fastapi import APIRouter, Form, Request
from fastapi.responses import RedirectResponse, Response

from grantflow.db.workflows import get_registry
from grantflow.services import programmes as service
from grantflow.states.errors import GrantflowError
from grantflow.states.programmes import CLASS_LABELS
from grantflow.web.deps import CurrentActor, EngineDep, LangDep, render
from grantflow.web.errors import status_for

router = APIRouter()


@router.get("/programmes")
def programmes_page(request: Request, engine: EngineDep, actor: CurrentActor) -> Response:
    with engine.connect() as conn:
        rows = service.list_programmes(conn)
    ctx = {"rows": rows, "workflow": get_registry().get("programme"), "classes": CLASS_LABELS, "user": actor}
    return render(request, "programmes/list.html", ctx)


def _page(request: Request, engine: EngineDep, actor: CurrentActor, code: int, **extra: object) -> Response:
    status = int(extra.pop("status_code", 200))  # type: ignore[call-overload]
    with engine.connect() as conn:
        v = service.show(conn, code=code, actor=actor)
    return render(request, "programmes/detail.html", {"v": v, "user": actor, **extra}, status_code=status)


@router.get("/programmes/{code}")
def programme_page(request: Request, engine: EngineDep, actor: CurrentActor, code: int) -> Response:
    return _page(request, engine, actor, code, error=None, typed={})


@router.post("/programmes/{code}/fire")
def programme_fire(
    request: Request,
    engine: EngineDep,
    actor: CurrentActor,
    lang: LangDep,
    code: int,
    trigger: Annotated[str, Form()],
    reason: Annotated[str, Form()] = "",
    implementation_plan: Annotated[str, Form()] = "",
) -> Response:
    try:
        with engine.begin() as conn:
            service.fire(
                conn, code=code, trigger=trigger, actor=actor, reason=reason, implementation_plan=implementation_plan
            )
    except GrantflowError as exc:
        typed = {"trigger": trigger, "reason": reason, "implementation_plan": implementation_plan}
        return _page(request, engine, actor, code, error=exc.text(lang), typed=typed, status_code=status_for(exc))
    return RedirectResponse(f"/programmes/{code}", status_code=303)
