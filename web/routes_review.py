"""Review pages and API: eligibility at submission, panels and assignment, the reviewer's
form with its conflict statement, ranking and batch decisions, sealed bids, complaints.

Pages and API call the same ``db`` functions as the CLI; a bid's contents come only from
``db.bids.read_bids``, which withholds them from everyone before the bids are opened.
"""

from __future__ import annotations

import csv
import io
from datetime import datetime
from typing import Annotated, Any

from fastapi import APIRouter, Body, Depends, Form, Request, UploadFile
from fastapi.responses import RedirectResponse, Response
from pydantic import BaseModel, Field
from sqlalchemy import select

from grantflow.clock import now as clock_now
from grantflow.config import get_settings
from grantflow.db.models import Call, Programme, table
from grantflow.db.workflows import get_registry
from grantflow.services.complaints import (
    answer_complaint,
    complaints_for,
    file_complaint,
    latest_outcome,
    may_list_complaints,
)
from grantflow.services.eligibility import check, submit_checked
from grantflow.services.exports import BID_HEADER, bid_rows
from grantflow.services.queries import project_for
from grantflow.services.review import (
    RECOMMENDATIONS,
    STAGES,
    Decision,
    ItemResult,
    assign_batch,
    assignments_of,
    decide_batch,
    declare_conflict,
    item,
    my_assignment,
    panel_for,
    ranking,
    reviews_for,
    rubric_for,
    submit_review,
)
from grantflow.services.review.desk import ranking_desk
from grantflow.services.tenders import (
    BidSealed,
    open_bids,
    read_bid,
    read_bids,
    require_open,
    submit_bid,
    tender_status,
)
from grantflow.states.eligibility import describe, parse_rules
from grantflow.states.errors import Forbidden, GrantflowError, NotFound
from grantflow.states.permissions import Actor
from grantflow.states.review_rules import MANAGE_FORBIDDEN, VisibleReview, may_manage
from grantflow.states.text import Text
from grantflow.web.deps import CurrentActor, EngineDep, LangDep, render
from grantflow.web.errors import status_for

router = APIRouter()


def clock() -> datetime:
    """The time routes act at: the process clock (``grantflow.clock``), never a request parameter."""
    return clock_now()


NowDep = Annotated[datetime, Depends(clock)]


def _call(conn: Any, call_id: int) -> Any:
    row = conn.execute(select(table(Call)).where(Call.id == call_id)).one_or_none()
    if row is None:
        raise NotFound(Text(f"申报指南 {call_id} 不存在", f"call {call_id} does not exist"))
    return row


def _organiser_of_call(conn: Any, call: Any) -> int | None:
    return conn.execute(select(Programme.organising_unit_id).where(Programme.id == call.programme_id)).scalar_one()


def _require_manager(conn: Any, actor: Actor, call: Any) -> None:
    if not may_manage(actor, _organiser_of_call(conn, call)):
        raise Forbidden([MANAGE_FORBIDDEN])


def _results_json(results: list[ItemResult], lang: str) -> list[dict[str, Any]]:
    return [
        {
            "project_id": r.project_id,
            "ok": r.ok,
            "message": r.message.get(lang),
            "messages": r.message.as_dict(),
            **{k: v for k, v in r.detail.items() if k in ("reviewers", "to", "event", "error")},
        }
        for r in results
    ]


def _review_json(r: VisibleReview, lang: str) -> dict[str, Any]:
    return {
        "reviewer": r.label.get(lang),
        "reviewer_id": r.reviewer_id,
        "own": r.own,
        "score": str(r.score) if r.score is not None else None,
        "recommendation": r.recommendation,
        "comments": r.comments,
        "criteria": {k: str(v) for k, v in r.criteria.items()},
    }


# --- a call's review desk (office, organising unit) --------------------------------------------------


def _call_view(engine: Any, actor: Actor, call_id: int, stage: str, now: datetime) -> dict[str, Any]:
    with engine.connect() as conn:
        call = _call(conn, call_id)
        _require_manager(conn, actor, call)
        rules = parse_rules(call.eligibility) if call.eligibility else None
        return {
            "call": call,
            "stage": stage,
            "stages": STAGES,
            "rules": describe(rules) if rules else [],
            "panel": panel_for(conn, call_id=call_id, stage=stage),
            "rows": ranking_desk(conn, call_id=call_id, stage=stage, actor=actor, now=now),
            "tender": tender_status(conn, call_id=call_id),
            "now": now,
        }


@router.get("/review/calls/{call_id}")
def call_page(
    request: Request, engine: EngineDep, actor: CurrentActor, now: NowDep, call_id: int, stage: str = "proposal"
) -> Response:
    ctx = _call_view(engine, actor, call_id, stage, now)
    return render(request, "review/call.html", {**ctx, "results": None, "error": None})


@router.post("/review/calls/{call_id}/assign")
def call_assign(
    request: Request,
    engine: EngineDep,
    actor: CurrentActor,
    now: NowDep,
    lang: LangDep,
    call_id: int,
    project: Annotated[list[int], Form()],
    stage: Annotated[str, Form()] = "proposal",
) -> Response:
    with engine.connect() as conn:
        _require_manager(conn, actor, _call(conn, call_id))  # refused before anything is tried
    results = assign_batch(engine, project_ids=project, stage=stage, actor=actor, now=now)
    ctx = _call_view(engine, actor, call_id, stage, now)
    return render(request, "review/call.html", {**ctx, "results": results, "error": None})


@router.post("/review/calls/{call_id}/decide")
def call_decide(
    request: Request,
    engine: EngineDep,
    actor: CurrentActor,
    now: NowDep,
    call_id: int,
    approve: Annotated[list[int] | None, Form()] = None,
    reject: Annotated[list[int] | None, Form()] = None,
    reason: Annotated[str, Form()] = "",
) -> Response:
    with engine.connect() as conn:
        _require_manager(conn, actor, _call(conn, call_id))  # refused before anything is tried
    decisions = [Decision(p, "approve") for p in approve or []] + [Decision(p, "reject", reason) for p in reject or []]
    results = decide_batch(engine, decisions=decisions, actor=actor, now=now)
    ctx = _call_view(engine, actor, call_id, "proposal", now)
    return render(request, "review/call.html", {**ctx, "results": results, "error": None})


@router.post("/review/calls/{call_id}/bids/open")
def call_open_bids(
    request: Request, engine: EngineDep, actor: CurrentActor, now: NowDep, lang: LangDep, call_id: int
) -> Response:
    try:
        with engine.begin() as conn:
            open_bids(conn, call_id=call_id, actor=actor, now=now)
    except GrantflowError as exc:
        ctx = _call_view(engine, actor, call_id, "proposal", now)
        return render(
            request, "review/call.html", {**ctx, "results": None, "error": exc.text(lang)}, status_code=status_for(exc)
        )
    return RedirectResponse(f"/review/calls/{call_id}/bids", status_code=303)


@router.get("/review/calls/{call_id}/bids")
def call_bids_page(request: Request, engine: EngineDep, actor: CurrentActor, now: NowDep, call_id: int) -> Response:
    now = now
    with engine.connect() as conn:
        call = _call(conn, call_id)
        try:
            views = read_bids(conn, call_id=call_id, actor=actor, now=now)
        except BidSealed as exc:  # sealed: the page says until when, and nothing about how many
            return render(request, "review/bids.html", {"call": call, "bids": [], "texts": {}, "sealed": exc.message})
    texts = {v.bid_id: v.content.decode("utf-8", errors="replace") if v.content is not None else None for v in views}
    return render(request, "review/bids.html", {"call": call, "bids": views, "texts": texts, "sealed": None})


@router.get("/review/calls/{call_id}/bids.csv")
def call_bids_export(engine: EngineDep, actor: CurrentActor, now: NowDep, call_id: int) -> Response:
    """The export: refused as a whole (403/423) while the bids are sealed."""
    with engine.connect() as conn:
        views = read_bids(conn, call_id=call_id, actor=actor, now=now)
    for v in views:
        require_open(v)
    buf = io.StringIO()
    writer = csv.writer(buf)
    writer.writerow(BID_HEADER)
    writer.writerows(bid_rows(views))  # typed text never becomes a spreadsheet formula
    return Response(
        buf.getvalue(),
        media_type="text/csv; charset=utf-8",
        headers={"Content-Disposition": f'attachment; filename="call-{call_id}-bids.csv"'},
    )


# --- a project: eligibility, submission, bid, complaint ------------------------------------------------


def _project_view(engine: Any, actor: Actor, project_id: int, now: datetime) -> dict[str, Any]:
    with engine.connect() as conn:
        project = project_for(conn, actor, project_id)
        # what the project's state allows comes from its workflow table
        here = get_registry().get(project.workflow).state(project.state)
        reasons = check(conn, project_id=project_id, now=now) if here.applying else []
        stage = here.review_stage or next(iter(here.decided_stages), "proposal")
        reviews = reviews_for(conn, project_id=project_id, stage=stage, actor=actor)
        tender = tender_status(conn, call_id=project.call_id) if project.call_id else None
        bid = None
        if tender is not None:
            try:
                bid = read_bid(conn, project_id=project_id, actor=actor, now=now)
            except (NotFound, Forbidden, BidSealed):
                bid = None
        complaints = complaints_for(conn, actor=actor, project_id=project_id).rows if may_list_complaints(actor) else []
        outcome = latest_outcome(conn, project_id)
    return {
        "project": project,
        "here": here,
        "reasons": reasons,
        "reviews": reviews,
        "stage": stage,
        "tender": tender,
        "bid": bid,
        "complaints": complaints,
        "outcome": outcome,
        "days": get_settings().complaint_days,
    }


def _project_page(
    request: Request,
    engine: Any,
    actor: Actor,
    project_id: int,
    now: datetime,
    *,
    error: str | None = None,
    message: str | None = None,
    typed: dict[str, str] | None = None,
    status: int = 200,
) -> Response:
    ctx = _project_view(engine, actor, project_id, now)
    return render(
        request,
        "review/project.html",
        {**ctx, "error": error, "message": message, "typed": typed or {}},
        status_code=status,
    )


@router.get("/review/projects/{project_id}")
def project_page(request: Request, engine: EngineDep, actor: CurrentActor, now: NowDep, project_id: int) -> Response:
    return _project_page(request, engine, actor, project_id, now)


@router.post("/review/projects/{project_id}/submit")
def project_submit(
    request: Request, engine: EngineDep, actor: CurrentActor, now: NowDep, lang: LangDep, project_id: int
) -> Response:
    with engine.connect() as conn:
        project_for(conn, actor, project_id)
    try:
        with engine.begin() as conn:
            # the workflow table says which trigger submits from the current state
            submit_checked(conn, project_id=project_id, actor=actor, now=now)
    except GrantflowError as exc:
        return _project_page(request, engine, actor, project_id, now, error=exc.text(lang), status=status_for(exc))
    return RedirectResponse(f"/projects/{project_id}", status_code=303)


@router.post("/review/projects/{project_id}/bid")
async def project_bid(
    request: Request,
    engine: EngineDep,
    actor: CurrentActor,
    now: NowDep,
    lang: LangDep,
    project_id: int,
    file: UploadFile,
) -> Response:
    content = await file.read()
    try:
        with engine.begin() as conn:
            receipt = submit_bid(conn, project_id=project_id, content=content, actor=actor, now=now)
    except GrantflowError as exc:
        return _project_page(request, engine, actor, project_id, now, error=exc.text(lang), status=status_for(exc))
    done = Text(
        f"投标文件已密封，回执：{receipt.ciphertext_sha256}", f"Bid sealed. Receipt: {receipt.ciphertext_sha256}"
    )
    return _project_page(request, engine, actor, project_id, now, message=done.get(lang))


@router.post("/review/projects/{project_id}/complaints")
def project_complain(
    request: Request,
    engine: EngineDep,
    actor: CurrentActor,
    now: NowDep,
    lang: LangDep,
    project_id: int,
    grounds: Annotated[str, Form()] = "",
) -> Response:
    try:
        with engine.begin() as conn:
            file_complaint(conn, project_id=project_id, actor=actor, grounds=grounds, now=now)
    except GrantflowError as exc:
        return _project_page(
            request,
            engine,
            actor,
            project_id,
            now,
            error=exc.text(lang),
            typed={"grounds": grounds},
            status=status_for(exc),
        )
    return _project_page(request, engine, actor, project_id, now, message=Text("申诉已提交", "Appeal filed").get(lang))


# --- the reviewer ---------------------------------------------------------------------------------------


@router.get("/review/mine")
def my_reviews(request: Request, engine: EngineDep, actor: CurrentActor) -> Response:
    with engine.connect() as conn:
        rows = assignments_of(conn, reviewer_id=actor.user_id or 0)
    return render(request, "review/mine.html", {"rows": rows, "stages": STAGES})


def _review_form(engine: Any, actor: Actor, project_id: int, stage: str, now: datetime) -> dict[str, Any]:
    with engine.connect() as conn:
        mine = my_assignment(conn, actor=actor, project_id=project_id, stage=stage)
        ctx = item(conn, project_id)
        rubric = rubric_for(conn, call_id=ctx.call_id, stage=stage)
        reviews = reviews_for(conn, project_id=project_id, stage=stage, actor=actor)
        bid = None
        if ctx.call_id is not None and tender_status(conn, call_id=ctx.call_id) is not None:
            try:
                bid = read_bid(conn, project_id=project_id, actor=actor, now=now)
            except (NotFound, BidSealed):
                bid = None
    return {
        "item": ctx,
        "assignment": mine,
        "rubric": rubric,
        "reviews": reviews,
        "stage": stage,
        "stages": STAGES,
        "recommendations": RECOMMENDATIONS,
        "bid": bid,
    }


@router.get("/review/projects/{project_id}/{stage}")
def review_page(
    request: Request, engine: EngineDep, actor: CurrentActor, now: NowDep, project_id: int, stage: str
) -> Response:
    ctx = _review_form(engine, actor, project_id, stage, now)
    return render(request, "review/review.html", {**ctx, "error": None, "typed": {}})


@router.post("/review/projects/{project_id}/{stage}")
async def review_post(
    request: Request, engine: EngineDep, actor: CurrentActor, now: NowDep, lang: LangDep, project_id: int, stage: str
) -> Response:
    form = await request.form()
    typed = {k: str(v) for k, v in form.items()}
    try:
        with engine.begin() as conn:
            if typed.get("action") == "conflict":
                declare_conflict(
                    conn,
                    project_id=project_id,
                    stage=stage,
                    reviewer=actor,
                    statement=typed.get("statement", ""),
                    now=now,
                )
            else:
                rubric = rubric_for(conn, call_id=item(conn, project_id).call_id, stage=stage)
                submit_review(
                    conn,
                    project_id=project_id,
                    stage=stage,
                    reviewer=actor,
                    scores={c.key: typed.get(f"score.{c.key}", "") for c in rubric.criteria},
                    recommendation=typed.get("recommendation", ""),
                    comments=typed.get("comments", ""),
                    no_conflict=typed.get("no_conflict") == "yes",
                    statement=typed.get("statement", ""),
                    now=now,
                )
    except GrantflowError as exc:
        ctx = _review_form(engine, actor, project_id, stage, now)
        # what the reviewer typed stays on the page beside the reasons
        return render(
            request, "review/review.html", {**ctx, "error": exc.text(lang), "typed": typed}, status_code=status_for(exc)
        )
    return RedirectResponse("/review/mine", status_code=303)


# --- complaints desk ------------------------------------------------------------------------------------


@router.get("/review/complaints")
def complaints_page(request: Request, engine: EngineDep, actor: CurrentActor) -> Response:
    with engine.connect() as conn:
        seen = complaints_for(conn, actor=actor)
    return render(request, "review/complaints.html", {"rows": seen.rows, "counts": seen.counts, "error": None})


@router.post("/review/complaints/{complaint_id}/answer")
def complaint_answer(
    request: Request,
    engine: EngineDep,
    actor: CurrentActor,
    now: NowDep,
    lang: LangDep,
    complaint_id: int,
    answer: Annotated[str, Form()] = "",
) -> Response:
    try:
        with engine.begin() as conn:
            answer_complaint(conn, complaint_id=complaint_id, actor=actor, answer=answer, now=now)
    except GrantflowError as exc:
        with engine.connect() as conn:
            seen = complaints_for(conn, actor=actor)
        return render(
            request,
            "review/complaints.html",
            {"rows": seen.rows, "counts": seen.counts, "error": exc.text(lang)},
            status_code=status_for(exc),
        )
    return RedirectResponse("/review/complaints", status_code=303)


# --- JSON API ----------------------------------------------------------------------------------------------


@router.get("/api/review/projects/{project_id}/eligibility")
def api_eligibility(
    engine: EngineDep, actor: CurrentActor, now: NowDep, lang: LangDep, project_id: int
) -> dict[str, Any]:
    with engine.connect() as conn:
        project_for(conn, actor, project_id)
        reasons = check(conn, project_id=project_id, now=now)
    return {
        "eligible": not reasons,
        "reasons": [r.get(lang) for r in reasons],
        "messages": [r.as_dict() for r in reasons],
    }


@router.post("/api/review/projects/{project_id}/submit")
def api_submit(engine: EngineDep, actor: CurrentActor, now: NowDep, project_id: int) -> dict[str, Any]:
    with engine.connect() as conn:
        project_for(conn, actor, project_id)
    with engine.begin() as conn:
        t = submit_checked(conn, project_id=project_id, actor=actor, now=now)
    return {"project_id": project_id, "from": t.from_state, "to": t.to_state, "event": t.event_id}


@router.post("/api/review/calls/{call_id}/assign")
def api_assign(
    engine: EngineDep,
    actor: CurrentActor,
    now: NowDep,
    lang: LangDep,
    call_id: int,
    project_ids: Annotated[list[int], Body()],
    stage: Annotated[str, Body()] = "proposal",
    reviewer_id: Annotated[int | None, Body()] = None,
) -> list[dict[str, Any]]:
    with engine.connect() as conn:
        _require_manager(conn, actor, _call(conn, call_id))  # as the page: the call's desk is its managers'
    results = assign_batch(engine, project_ids=project_ids, stage=stage, actor=actor, now=now, reviewer_id=reviewer_id)
    return _results_json(results, lang)


class DecisionIn(BaseModel):
    """One item of a batch decision; a malformed item is a 422 naming it, not a crash."""

    project_id: Annotated[int, Field(ge=1, le=2**63 - 1)]
    trigger: Annotated[str, Field(max_length=80)]
    reason: Annotated[str | None, Field(max_length=4000)] = None


@router.post("/api/review/decisions")
def api_decide(
    engine: EngineDep,
    actor: CurrentActor,
    now: NowDep,
    lang: LangDep,
    decisions: Annotated[list[DecisionIn], Body(embed=True)],
) -> list[dict[str, Any]]:
    parsed = [Decision(d.project_id, d.trigger, d.reason) for d in decisions]
    return _results_json(decide_batch(engine, decisions=parsed, actor=actor, now=now), lang)


@router.get("/api/review/calls/{call_id}/ranking")
def api_ranking(
    engine: EngineDep, actor: CurrentActor, now: NowDep, call_id: int, stage: str = "proposal"
) -> list[dict[str, Any]]:
    with engine.connect() as conn:
        rows = ranking(conn, call_id=call_id, stage=stage, actor=actor)
    return [
        {
            "project_id": r.project_id,
            "code": r.code,
            "state": r.state,
            "rank": r.ranked.rank,
            "reviews": len(r.ranked.scores),
            "quorum_reached": r.ranked.quorum_reached,
            "mean": str(r.ranked.mean) if r.ranked.mean is not None else None,
            "trimmed_mean": str(r.ranked.trimmed_mean) if r.ranked.trimmed_mean is not None else None,
        }
        for r in rows
    ]


@router.get("/api/review/projects/{project_id}/reviews")
def api_reviews(
    engine: EngineDep, actor: CurrentActor, now: NowDep, lang: LangDep, project_id: int, stage: str = "proposal"
) -> list[dict[str, Any]]:
    with engine.connect() as conn:
        reviews = reviews_for(conn, project_id=project_id, stage=stage, actor=actor)
        if not reviews and not any(
            a.project_id == project_id for a in assignments_of(conn, reviewer_id=actor.user_id or 0)
        ):
            # nothing to show and no assignment: answer as for a project this person cannot see
            project_for(conn, actor, project_id)
        return [_review_json(r, lang) for r in reviews]


@router.post("/api/review/projects/{project_id}/reviews")
def api_submit_review(
    engine: EngineDep,
    actor: CurrentActor,
    now: NowDep,
    project_id: int,
    scores: Annotated[dict[str, Any], Body()],
    recommendation: Annotated[str, Body()],
    comments: Annotated[str, Body()],
    no_conflict: Annotated[bool | None, Body()] = None,
    statement: Annotated[str, Body()] = "",
    stage: Annotated[str, Body()] = "proposal",
) -> dict[str, Any]:
    with engine.begin() as conn:
        rid = submit_review(
            conn,
            project_id=project_id,
            stage=stage,
            reviewer=actor,
            scores=scores,
            recommendation=recommendation,
            comments=comments,
            no_conflict=no_conflict,
            statement=statement,
            now=now,
        )
    return {"review_id": rid}


@router.post("/api/review/projects/{project_id}/conflict")
def api_conflict(
    engine: EngineDep,
    actor: CurrentActor,
    now: NowDep,
    project_id: int,
    statement: Annotated[str, Body()],
    stage: Annotated[str, Body()] = "proposal",
) -> dict[str, Any]:
    with engine.begin() as conn:
        moved = declare_conflict(conn, project_id=project_id, stage=stage, reviewer=actor, statement=statement, now=now)
    return {"reassigned": bool(moved)}


def _bid_json(v: Any, lang: str) -> dict[str, Any]:
    return {
        "bid_id": v.bid_id,
        "project_id": v.project_id,
        "code": v.project_code,
        "submitted_at": v.submitted_at.isoformat(),
        "sha256": v.ciphertext_sha256,
        "sealed": v.content is None,
        "content": v.content.decode("utf-8", errors="replace") if v.content is not None else None,
        "notice": v.sealed_reason.get(lang) if v.sealed_reason else None,
    }


@router.get("/api/review/calls/{call_id}/bids")
def api_bids(engine: EngineDep, actor: CurrentActor, now: NowDep, lang: LangDep, call_id: int) -> list[dict[str, Any]]:
    with engine.connect() as conn:
        return [_bid_json(v, lang) for v in read_bids(conn, call_id=call_id, actor=actor, now=now)]


@router.get("/api/review/projects/{project_id}/bid")
def api_bid(engine: EngineDep, actor: CurrentActor, now: NowDep, lang: LangDep, project_id: int) -> dict[str, Any]:
    with engine.connect() as conn:
        return _bid_json(read_bid(conn, project_id=project_id, actor=actor, now=now), lang)


@router.post("/api/review/projects/{project_id}/bid")
def api_submit_bid(
    engine: EngineDep, actor: CurrentActor, now: NowDep, project_id: int, content: Annotated[str, Body(embed=True)]
) -> dict[str, Any]:
    with engine.begin() as conn:
        r = submit_bid(conn, project_id=project_id, content=content.encode("utf-8"), actor=actor, now=now)
    return {"bid_id": r.bid_id, "sha256": r.ciphertext_sha256, "size": r.size}


@router.post("/api/review/calls/{call_id}/bids/open")
def api_open_bids(engine: EngineDep, actor: CurrentActor, now: NowDep, call_id: int) -> dict[str, Any]:
    with engine.begin() as conn:
        return {"opened": open_bids(conn, call_id=call_id, actor=actor, now=now)}


@router.get("/api/review/complaints")
def api_complaints(engine: EngineDep, actor: CurrentActor) -> dict[str, Any]:
    with engine.connect() as conn:
        seen = complaints_for(conn, actor=actor)
    return {"counts": seen.counts.as_dict(), "complaints": [r.as_json() for r in seen.rows]}


@router.post("/api/review/projects/{project_id}/complaints")
def api_complain(
    engine: EngineDep, actor: CurrentActor, now: NowDep, project_id: int, grounds: Annotated[str, Body(embed=True)]
) -> dict[str, Any]:
    with engine.begin() as conn:
        return {"id": file_complaint(conn, project_id=project_id, actor=actor, grounds=grounds, now=now)}


@router.post("/api/review/complaints/{complaint_id}/answer")
def api_answer(
    engine: EngineDep, actor: CurrentActor, now: NowDep, complaint_id: int, answer: Annotated[str, Body(embed=True)]
) -> dict[str, Any]:
    with engine.begin() as conn:
        answer_complaint(conn, complaint_id=complaint_id, actor=actor, answer=answer, now=now)
    return {"id": complaint_id, "answered": True}


__all__ = ["clock", "router"]
