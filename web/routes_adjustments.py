"""Dynamic adjustment pages and API: request from the project page, queues and decision pages.

Buttons come from the workflow table's own checks (``Workflow.available``), the same ones the
engine makes, so a button that is shown greyed out gives the reason the engine would give.
Nothing here writes a state: ``services.adjustments`` calls ``db.apply``.
"""

from __future__ import annotations

from typing import Annotated, Any

from fastapi import APIRouter, Body, Form, Query, Request
from fastapi.responses import JSONResponse, RedirectResponse, Response
from sqlalchemy import Connection

from grantflow.clock import now as clock_now
from grantflow.forms import AttachmentRejected, Attachments, FieldError, parse_post, render_fields, render_readonly
from grantflow.services import adjustments as service
from grantflow.services.files import store_attachment
from grantflow.services.forms import refs_for
from grantflow.services.people import page_prefix, paginate_count
from grantflow.services.queries import project_for
from grantflow.states.adjustments import KIND_LABELS
from grantflow.states.errors import GrantflowError
from grantflow.states.permissions import Actor
from grantflow.states.text import Text
from grantflow.web.deps import CurrentActor, EngineDep, LangDep, render
from grantflow.web.errors import status_for
from grantflow.web.routes_forms import _uploads, attachment_url

router = APIRouter()

SAVED = Text("草稿已保存。", "Draft saved.")
SUBMITTED = Text("调整申请已提交，待组织单位审核。", "Request submitted: the organising unit reviews it next.")
NOT_SUBMITTED = Text(
    "未能提交：请修改标出的内容。您填写的内容已保存为草稿。",
    "Not submitted: please correct the marked fields. What you typed has been kept as a draft.",
)
DONE = Text("已办理。", "Done.")


def _project_page(conn: Connection, actor: Actor, project_id: int) -> dict[str, Any]:
    project = project_for(conn, actor, project_id)
    return {
        "project": project,
        "rows": service.list_for(conn, actor, project_id=project_id),
        "workflow": service.workflow(),
        "start_refusal": service.start_refusal(conn, project_id=project_id, actor=actor),
        "kinds": KIND_LABELS,
        "kind_labels": KIND_LABELS,
    }


@router.get("/projects/{project_id}/adjustments")
def project_adjustments(request: Request, engine: EngineDep, actor: CurrentActor, project_id: int) -> Response:
    with engine.connect() as conn:
        ctx = _project_page(conn, actor, project_id)
    return render(request, "adjustments/project.html", {**ctx, "user": actor, "error": None})


@router.post("/projects/{project_id}/adjustments")
def start_adjustment(
    request: Request,
    engine: EngineDep,
    actor: CurrentActor,
    lang: LangDep,
    project_id: int,
    kind: Annotated[str, Form()] = "",
) -> Response:
    try:
        with engine.begin() as conn:
            aid = service.start(conn, project_id=project_id, kind=kind, actor=actor)
    except GrantflowError as exc:
        with engine.connect() as conn:
            ctx = _project_page(conn, actor, project_id)
        return render(
            request,
            "adjustments/project.html",
            {**ctx, "user": actor, "error": exc.text(lang), "typed_kind": kind},
            status_code=status_for(exc),
        )
    return RedirectResponse(f"/adjustments/{aid}", status_code=303)


@router.get("/adjustments")
def adjustments_queue(
    request: Request,
    engine: EngineDep,
    actor: CurrentActor,
    kind: Annotated[str, Query(max_length=40)] = "",
    page: Annotated[int, Query(ge=1, le=10**6)] = 1,
) -> Response:
    chosen = kind if kind in KIND_LABELS else ""
    with engine.connect() as conn:
        waiting = service.queue(conn, actor)
        total = service.count_for(conn, actor, kind=chosen or None)
        listing = paginate_count(total, page)
        rows = service.list_for(
            conn, actor, kind=chosen or None, limit=listing.per_page, offset=(listing.page - 1) * listing.per_page
        )
    ctx = {
        "waiting": waiting,
        "rows": rows,
        "listing": listing,
        "kind": chosen,
        "prefix": page_prefix("/adjustments", {"kind": chosen}),
        "workflow": service.workflow(),
        "kind_labels": KIND_LABELS,
    }
    return render(request, "adjustments/queue.html", {**ctx, "user": actor})


def _detail(
    request: Request,
    conn: Connection,
    *,
    actor: Actor,
    lang: str,
    adjustment_id: int,
    values: dict[str, Any] | None = None,
    errors: list[FieldError] | None = None,
    notice: Text | None = None,
    failed: bool = False,
    error: str | None = None,
    typed: dict[str, str] | None = None,
    status_code: int = 200,
) -> Response:
    v = service.show(conn, adjustment_id=adjustment_id, actor=actor)
    shown = (values if values is not None else dict(v.row.draft or {})) if v.editable else None
    mentions = [(v.form, shown), (v.form, v.row.request)]
    refs = refs_for(conn, project_id=v.row.project_id, url=attachment_url, mentions=mentions)
    fields_html = None
    if shown is not None:
        shown_errors = errors if errors is not None else [service.error_from_dict(e) for e in v.row.draft_errors or []]
        fields_html = render_fields(v.form, shown, lang=lang, errors=shown_errors, refs=refs)
    request_html = render_readonly(v.form, v.row.request, lang=lang, refs=refs) if v.row.request is not None else None
    ctx = {
        "v": v,
        "fields_html": fields_html,
        "request_html": request_html,
        "notice": notice,
        "failed": failed,
        "error": error,
        "typed": typed or {},
        "user": actor,
    }
    return render(request, "adjustments/detail.html", ctx, status_code=status_code)


@router.get("/adjustments/{adjustment_id}")
def adjustment_page(
    request: Request,
    engine: EngineDep,
    actor: CurrentActor,
    lang: LangDep,
    adjustment_id: int,
    saved: str | None = None,
) -> Response:
    notice = {"draft": SAVED, "submitted": SUBMITTED, "done": DONE}.get(saved or "")  # not a workflow state
    with engine.connect() as conn:
        return _detail(request, conn, actor=actor, lang=lang, adjustment_id=adjustment_id, notice=notice)


@router.post("/adjustments/{adjustment_id}")
async def adjustment_post(
    request: Request, engine: EngineDep, actor: CurrentActor, lang: LangDep, adjustment_id: int
) -> Response:
    """Save or submit the request form (files are stored first; a refused file keeps it a draft)."""
    pairs, files = await _uploads(request)
    action = next((v for k, v in pairs if k == "action"), "save")
    upload_errors: list[FieldError] = []
    with engine.begin() as conn:
        row = service.adjustment_for(conn, actor, adjustment_id)
        form = service.request_form(row.form_version)
        raw = parse_post(form, pairs)
        for field_name, uploads in files.items():
            if not form.has(field_name) or not isinstance(form.field(field_name), Attachments):
                continue
            ids = list(raw.get(field_name) or [])
            for up in uploads:
                try:
                    stored = store_attachment(
                        conn,
                        project_id=row.project_id,
                        form_key=service.FORM_KEY,
                        field=field_name,
                        filename=up.filename or "file",
                        content=await up.read(),
                        actor=actor,
                    )
                except AttachmentRejected as exc:
                    upload_errors.append(
                        FieldError(path=(field_name,), code="attachment_rejected", message=exc.message)
                    )
                    continue
                ids.append(str(stored.ref.id))
            raw[field_name] = ids
        service.save_draft(conn, adjustment_id=adjustment_id, raw=raw, actor=actor, errors=upload_errors)
    if action != "submit" and not upload_errors:
        return RedirectResponse(f"/adjustments/{adjustment_id}?saved=draft", status_code=303)
    errors: list[FieldError] = list(upload_errors)
    error: str | None = None
    status = 422
    if not upload_errors:
        try:
            result = service.submit(engine, adjustment_id=adjustment_id, actor=actor, raw=raw)
        except GrantflowError as exc:  # refused by the rules: the reasons, and everything typed kept
            error, status = exc.text(lang), status_for(exc)
        else:
            if result.ok:
                return RedirectResponse(f"/adjustments/{adjustment_id}?saved=submitted", status_code=303)
            errors = result.errors
    with engine.connect() as conn:
        return _detail(
            request,
            conn,
            actor=actor,
            lang=lang,
            adjustment_id=adjustment_id,
            values=raw,
            errors=errors,
            notice=NOT_SUBMITTED if errors else None,
            failed=True,
            error=error,
            status_code=status,
        )


@router.post("/adjustments/{adjustment_id}/fire")
def adjustment_fire(
    request: Request,
    engine: EngineDep,
    actor: CurrentActor,
    lang: LangDep,
    adjustment_id: int,
    trigger: Annotated[str, Form()],
    reason: Annotated[str, Form()] = "",
) -> Response:
    try:
        with engine.begin() as conn:
            service.fire_trigger(conn, adjustment_id=adjustment_id, trigger=trigger, actor=actor, reason=reason)
    except GrantflowError as exc:
        with engine.connect() as conn:
            return _detail(
                request,
                conn,
                actor=actor,
                lang=lang,
                adjustment_id=adjustment_id,
                error=exc.text(lang),
                typed={"trigger": trigger, "reason": reason},
                status_code=status_for(exc),
            )
    return RedirectResponse(f"/adjustments/{adjustment_id}?saved=done", status_code=303)


# --- JSON API -----------------------------------------------------------------------------------


def _json(v: service.AdjustmentView) -> dict[str, Any]:
    r = v.row
    return {
        "id": r.id,
        "project_id": r.project_id,
        "kind": r.kind,
        "kind_label": v.kind.as_dict(),
        "initiator": r.initiator,
        "state": r.state,
        "state_label": v.workflow.state_label(r.state).as_dict(),
        "version": r.version,
        "major": r.major,
        "major_reason": r.major_reason,
        "request": r.request,
        "draft": r.draft if v.editable else None,  # not a workflow state
        "decisions": [{**d, "at": d["at"].isoformat()} for d in v.decisions],
        "changes": v.changes,
        "before": r.before,
        "after": r.after,
        "applied_at": r.applied_at.isoformat() if r.applied_at else None,
        "available": [
            {
                "trigger": b.trigger,
                "label": b.label.as_dict(),
                "allowed": b.allowed,
                "reasons": [x.as_dict() for x in b.reasons],
                "requires": list(b.requires),
            }
            for b in v.buttons
        ],
    }


@router.get("/api/adjustments")
def api_adjustments(engine: EngineDep, actor: CurrentActor, project_id: int | None = None) -> list[dict[str, Any]]:
    with engine.connect() as conn:
        rows = service.list_for(conn, actor, project_id=project_id)
    return [{"id": r.id, "project_id": r.project_id, "kind": r.kind, "state": r.state, "major": r.major} for r in rows]


@router.get("/api/adjustments/{adjustment_id}")
def api_adjustment(engine: EngineDep, actor: CurrentActor, adjustment_id: int) -> dict[str, Any]:
    with engine.connect() as conn:
        return _json(service.show(conn, adjustment_id=adjustment_id, actor=actor))


@router.post("/api/projects/{project_id}/adjustments")
def api_start(
    engine: EngineDep, actor: CurrentActor, project_id: int, body: Annotated[dict[str, Any], Body()]
) -> Response:
    """Start a request: ``{"kind": ..., "reason": ..., other fields}``; ``"submit": true`` submits it."""
    raw = {k: v for k, v in body.items() if k != "submit"}
    with engine.begin() as conn:
        aid = service.start(conn, project_id=project_id, kind=str(raw.get("kind") or ""), actor=actor, raw=raw)
    if body.get("submit"):
        return _api_submit(engine, actor, aid)
    return JSONResponse({"id": aid, "state": "created"}, status_code=201)


def _api_submit(engine: Any, actor: Actor, aid: int, raw: dict[str, Any] | None = None) -> Response:
    result = service.submit(engine, adjustment_id=aid, actor=actor, raw=raw)
    if not result.ok:
        return JSONResponse(
            {
                "error": "form_invalid",
                "id": aid,
                "errors": [{"key": e.key, "zh": e.message.zh, "en": e.message.en} for e in result.errors],
            },
            status_code=422,
        )
    t = result.transition
    assert t is not None
    return JSONResponse({"id": aid, "from": t.from_state, "to": t.to_state, "event_id": t.event_id})


@router.post("/api/adjustments/{adjustment_id}/submit")
def api_submit(
    engine: EngineDep,
    actor: CurrentActor,
    adjustment_id: int,
    body: Annotated[dict[str, Any] | None, Body()] = None,
) -> Response:
    return _api_submit(engine, actor, adjustment_id, body)


@router.post("/api/adjustments/{adjustment_id}/actions/{action}")
def api_act(
    engine: EngineDep,
    actor: CurrentActor,
    adjustment_id: int,
    action: str,
    body: Annotated[dict[str, Any] | None, Body()] = None,
) -> Response:
    """review, approve, return, reject, apply, cancel: ``{"reason": "..."}``."""
    with engine.begin() as conn:
        t = service.decide(
            conn,
            adjustment_id=adjustment_id,
            action=action,
            actor=actor,
            reason=str((body or {}).get("reason") or ""),
            now=clock_now(),
        )
    return JSONResponse({"id": adjustment_id, "from": t.from_state, "to": t.to_state, "event_id": t.event_id})
