"""Form pages and API: fill in, save, submit, view a project's forms; download attachments.

Every form is drawn from its definition (``forms.render``) and stored through
``services.forms``. Whether a form can be edited is the workflow table's answer for the
project's state (``services.queries.form_refusal``), the same one ``save_form`` gives: a
locked form is shown read-only, with the reason and no save button. A rejected submit answers
422 with the page drawn again from what was posted, errors beside each field, and the working
copy saved as typed, so nothing is lost even if the person closes the page. Files go to the
file store first; a refused file is an error on its field like any other.
"""

from __future__ import annotations

from typing import Annotated, Any
from urllib.parse import quote

from fastapi import APIRouter, Body, Request, UploadFile
from fastapi.concurrency import run_in_threadpool
from fastapi.responses import JSONResponse, RedirectResponse, Response
from sqlalchemy import Connection, Engine

from grantflow import clock
from grantflow.db.apply import fire
from grantflow.db.workflows import get_registry
from grantflow.forms import (
    FORMS,
    UPLOAD_SUFFIX,
    AttachmentRejected,
    Attachments,
    FieldError,
    FormDefinition,
    UnknownForm,
    parse_post,
    render_fields,
    render_readonly,
)
from grantflow.services import st_reports
from grantflow.services.files import open_attachment, store_attachment
from grantflow.services.forms import (
    Status,
    form_periods,
    load_form,
    project_submissions,
    refs_for,
    render_submission,
    save_form,
    submit_questionnaire,
)
from grantflow.services.queries import form_refusal, project_for, viewable_facts
from grantflow.services.signin import count_answer
from grantflow.states.enums import SubmissionStatus
from grantflow.states.errors import GrantflowError, NotFound, TooManyAttempts
from grantflow.states.permissions import Actor
from grantflow.states.st_report import FORM_KEY as ST_REPORT_KEY
from grantflow.states.text import Lang, Text
from grantflow.states.workflow import trigger_label
from grantflow.web.deps import CurrentActor, EngineDep, LangDep, OptionalActor, render
from grantflow.web.errors import status_for

router = APIRouter()

PROJECT_FORMS = (
    "proposal",
    "concept_note",
    "task_agreement",
    "midterm_report",
    "acceptance_report",
    "post_evaluation_report",
)  # an adjustment request has pages of its own (routes_adjustments): a project may file many
STATUS_LABELS = {
    Status.NEW: Text("未填写", "not started"),
    Status.DRAFT: Text("草稿", "saved as a draft"),
    Status.SUBMITTED: Text("已提交", "handed in"),
    Status.SUBMITTED_EDITING: Text("已提交（有未提交的修改）", "submitted (changes not yet submitted)"),
}
SAVED = Text("草稿已保存。", "Draft saved.")
SUBMITTED = Text("已提交。", "Submitted.")
NOT_SUBMITTED = Text(
    "未能提交：请修改标出的内容。您填写的内容已保存为草稿。",
    "Not submitted: please correct the marked fields. What you typed has been kept as a draft.",
)
NOT_HANDED_IN = Text(
    "表单已提交，但项目未能{step}：{why}",
    "The form is submitted, but the project could not be handed in ({step}): {why}",
)
HAND_IN = "hand_in"
"""The form page's button that submits the form and then the project (``Workflow.hand_in_with``)."""
THANKS = Text("感谢您的反馈，需求已收到。", "Thank you: your answer has been received.")


def attachment_url(aid: int) -> str:
    return f"/attachments/{aid}"


def _form_or_404(key: str) -> FormDefinition:
    try:
        return FORMS.get(key)
    except UnknownForm as exc:
        raise NotFound(exc.text) from None


def _period(value: str | None) -> int | None:
    return int(value) if value and value.strip().isdigit() else None


def _page(
    request: Request,
    conn: Connection,
    *,
    actor: Actor,
    project_id: int,
    key: str,
    period: int | None,
    lang: str,
    values: dict[str, Any] | None = None,
    errors: list[FieldError] | None = None,
    notice: Text | str | None = None,
    failed: bool | None = None,
    status_code: int = 200,
) -> Response:
    project = project_for(conn, actor, project_id)
    state = load_form(conn, project_id=project_id, form_key=key, actor=actor, period=period)
    # the same answer save_form gives: the project's state decides whether this person may edit
    facts = viewable_facts(conn, actor, project_id)
    locked = form_refusal(facts, actor, key)
    editable = locked is None
    hand_in = get_registry().get(facts.workflow).hand_in_with(key, facts=facts, actor=actor) if editable else None
    shown_values = values if values is not None else state.values
    shown_errors = errors if errors is not None else state.errors
    submitted = state.submission if state.submission and state.submission.status == SubmissionStatus.SUBMITTED else None
    mentions = [(state.form, shown_values)] + ([(submitted.form, submitted.data)] if submitted else [])
    refs = refs_for(conn, project_id=project_id, url=attachment_url, mentions=mentions)
    fields_html = (
        render_fields(state.form, shown_values, lang=lang, errors=shown_errors, refs=refs) if editable else None
    )
    submitted_html = render_readonly(submitted.form, submitted.data, lang=lang, refs=refs) if submitted else None
    ctx = {
        "project": project,
        "form": state.form,
        "form_key": key,
        "period": period,
        "status": STATUS_LABELS[state.status],
        "fields_html": fields_html,
        "submitted_html": submitted_html,
        "submission": state.submission,
        "notice": notice,
        "locked": locked.reasons[0] if locked is not None else None,
        "failed": failed if failed is not None else bool(shown_errors) and status_code >= 400,
        # the project's own submit (as its page labels it), offered beside the form's: one press
        # submits the form and then the project, as people expect of a button named for it
        "hand_in": trigger_label(hand_in) if hand_in else None,
        "user": actor,
    }
    return render(request, "forms/page.html", ctx, status_code=status_code)


PERIODIC_FORMS = (ST_REPORT_KEY, "post_evaluation_report")
"""Forms a project hands in once per period: its S&T reports (numbered) and its annual reports (by year)."""


def _period_label(key: str, period: int) -> Text:
    if key == ST_REPORT_KEY:
        return Text(f"第 {period} 份", f"no. {period}")
    return Text(f"{period} 年度", f"year {period}")


@router.get("/projects/{project_id}/forms")
def forms_list(request: Request, engine: EngineDep, actor: CurrentActor, lang: LangDep, project_id: int) -> Response:
    with engine.connect() as conn:
        project = project_for(conn, actor, project_id)
        submitted = project_submissions(conn, project_id=project_id, actor=actor)
        subs = {s.form.key: s for s in submitted if not s.form.periodic}
        workflow = get_registry().get(project.workflow)
        rows = []
        for key in PROJECT_FORMS:
            form = FORMS.get(key)
            if form.periodic:
                continue
            st = load_form(conn, project_id=project_id, form_key=key, actor=actor)
            if st.status == Status.NEW and not workflow.editable_in(key):
                continue  # a form of another lifecycle (a concept note in a one-stage call): nothing to do here
            rows.append({"key": key, "form": form, "status": STATUS_LABELS[st.status], "submission": subs.get(key)})
        checks = st_reports.checks_of_project(conn, project_id)
        periodic = []
        next_report = 1
        for key in PERIODIC_FORMS:
            for period in form_periods(conn, project_id=project_id, form_key=key):
                st = load_form(conn, project_id=project_id, form_key=key, actor=actor, period=period)
                periodic.append(
                    {
                        "key": key,
                        "form": st.form,
                        "period": period,
                        "period_label": _period_label(key, period),
                        "status": STATUS_LABELS[st.status],
                        "submission": st.submission,
                        "check": st_reports.check_outcome(
                            checks.get(period), st.submission.submitted_at if st.submission else None
                        )
                        if key == ST_REPORT_KEY
                        else None,
                    }
                )
                if key == ST_REPORT_KEY:
                    next_report = max(next_report, period + 1)
    return render(
        request,
        "forms/list.html",
        {
            "project": project,
            "rows": rows,
            "periodic": periodic,
            "st_report": {"key": ST_REPORT_KEY, "form": FORMS.get(ST_REPORT_KEY), "next": next_report},
            "user": actor,
        },
    )


@router.get("/projects/{project_id}/forms/{key}")
def form_page(
    request: Request,
    engine: EngineDep,
    actor: CurrentActor,
    lang: LangDep,
    project_id: int,
    key: str,
    period: str | None = None,
    saved: str | None = None,
) -> Response:
    _form_or_404(key)
    notice = {Status.DRAFT.value: SAVED, Status.SUBMITTED.value: SUBMITTED}.get(saved or "")
    with engine.connect() as conn:
        return _page(
            request, conn, actor=actor, project_id=project_id, key=key, period=_period(period), lang=lang, notice=notice
        )


async def _uploads(request: Request) -> tuple[list[tuple[str, Any]], dict[str, list[UploadFile]]]:
    posted = await request.form()
    pairs: list[tuple[str, Any]] = []
    files: dict[str, list[UploadFile]] = {}
    for name, value in posted.multi_items():
        if isinstance(value, str):
            pairs.append((name, value))
        elif name.endswith(UPLOAD_SUFFIX) and getattr(value, "filename", None):
            files.setdefault(name[: -len(UPLOAD_SUFFIX)], []).append(value)  # type: ignore[arg-type]
    return pairs, files


@router.post("/projects/{project_id}/forms/{key}")
async def form_post(
    request: Request,
    engine: EngineDep,
    actor: CurrentActor,
    lang: LangDep,
    project_id: int,
    key: str,
    period: str | None = None,
) -> Response:
    _form_or_404(key)
    pairs, files = await _uploads(request)  # the body, files spooled to disk as they arrive
    # the rest reads and writes the database and the file store (fsync): a worker thread's job.
    # On the event loop it stalled every other request, and a busy wait for the write lock
    # there stopped the whole server until the lock holder's thread finished.
    return await run_in_threadpool(
        _save_posted,
        request,
        engine,
        actor,
        lang,
        project_id=project_id,
        key=key,
        per=_period(period),
        pairs=pairs,
        files=files,
    )


def _save_posted(
    request: Request,
    engine: Engine,
    actor: Actor,
    lang: Lang,
    *,
    project_id: int,
    key: str,
    per: int | None,
    pairs: list[tuple[str, Any]],
    files: dict[str, list[UploadFile]],
) -> Response:
    action = next((v for k, v in pairs if k == "action"), "save")
    upload_errors: list[FieldError] = []
    hand_in: str | None = None
    with engine.begin() as conn:
        draft_form = load_form(conn, project_id=project_id, form_key=key, actor=actor, period=per).form
        if action == HAND_IN:
            facts = viewable_facts(conn, actor, project_id)
            hand_in = get_registry().get(facts.workflow).hand_in_with(key, facts=facts, actor=actor)
        raw = parse_post(draft_form, pairs)
        for field_name, uploads in files.items():
            target = draft_form.field(field_name) if draft_form.has(field_name) else None
            if not isinstance(target, Attachments):
                continue
            ids = list(raw.get(field_name) or [])
            for up in uploads:
                up.file.seek(0)
                content = up.file.read()
                try:
                    stored = store_attachment(
                        conn,
                        project_id=project_id,
                        form_key=key,
                        field=field_name,
                        filename=up.filename or "file",
                        content=content,
                        actor=actor,
                    )
                except AttachmentRejected as exc:
                    upload_errors.append(
                        FieldError(path=(field_name,), code="attachment_rejected", message=exc.message)
                    )
                    continue
                ids.append(str(stored.ref.id))
            raw[field_name] = ids
        # a refused file is never silently left out of a submission: keep it a draft instead
        submit = action in ("submit", HAND_IN) and not upload_errors
        result = save_form(conn, project_id=project_id, form_key=key, raw=raw, actor=actor, submit=submit, period=per)
    query = f"&period={per}" if per is not None else ""
    if result.submitted and hand_in is not None:
        # the form is in (committed above, whatever follows); now the project, through the engine
        try:
            fire(engine, subject_id=project_id, trigger=hand_in, actor=actor)
        except GrantflowError as exc:  # the form stays submitted; the page says why the project is not
            with engine.connect() as conn:
                return _page(
                    request,
                    conn,
                    actor=actor,
                    project_id=project_id,
                    key=key,
                    period=per,
                    lang=lang,
                    notice=NOT_HANDED_IN.get(lang).format(step=trigger_label(hand_in).get(lang), why=exc.text(lang)),
                    failed=True,
                    status_code=status_for(exc),
                )
        return RedirectResponse(f"/projects/{project_id}", status_code=303)
    if result.submitted:
        return RedirectResponse(f"/projects/{project_id}/forms/{key}?saved={Status.SUBMITTED}{query}", status_code=303)
    if not upload_errors and action not in ("submit", HAND_IN):
        return RedirectResponse(f"/projects/{project_id}/forms/{key}?saved={Status.DRAFT}{query}", status_code=303)
    errors = upload_errors + result.errors
    with engine.connect() as conn:
        state = load_form(conn, project_id=project_id, form_key=key, actor=actor, period=per)
        return _page(
            request,
            conn,
            actor=actor,
            project_id=project_id,
            key=key,
            period=per,
            lang=lang,
            values=state.values,  # the working copy just saved: exactly what was typed
            errors=errors,
            notice=NOT_SUBMITTED if action in ("submit", HAND_IN) else SAVED,
            status_code=422,
        )


@router.get("/submissions/{submission_id}")
def submission_page(
    request: Request, engine: EngineDep, actor: CurrentActor, lang: LangDep, submission_id: int
) -> Response:
    with engine.connect() as conn:
        html = render_submission(conn, submission_id=submission_id, actor=actor, lang=lang, url=attachment_url)
    return render(request, "forms/view.html", {"document": html, "user": actor})


@router.get("/attachments/{attachment_id}")
def attachment_download(engine: EngineDep, actor: CurrentActor, attachment_id: int) -> Response:
    with engine.connect() as conn:
        row, content = open_attachment(conn, attachment_id=attachment_id, actor=actor)
    ascii_name = row.filename.encode("ascii", "replace").decode().replace('"', "_")
    return Response(
        content,
        media_type=row.content_type,
        headers={
            # always a download, never rendered inline: an uploaded file cannot run in our origin
            "Content-Disposition": f"attachment; filename=\"{ascii_name}\"; filename*=UTF-8''{quote(row.filename)}",
            "X-Content-Type-Options": "nosniff",
            "Content-Security-Policy": "default-src 'none'; sandbox",
            "Cache-Control": "private, no-store",
            "X-Content-SHA256": row.sha256,
        },
    )


# --- public needs-solicitation questionnaire -----------------------------------------------------


@router.get("/needs")
def needs_page(request: Request, actor: OptionalActor, lang: LangDep, done: str | None = None) -> Response:
    form = FORMS.get("needs_questionnaire")
    ctx = {
        "form": form,
        "fields_html": render_fields(form, {}, lang=lang),
        "notice": THANKS if done else None,
        "user": actor,
    }
    return render(request, "forms/needs.html", ctx)


@router.post("/needs")
async def needs_post(request: Request, engine: EngineDep, actor: OptionalActor, lang: LangDep) -> Response:
    form = FORMS.get("needs_questionnaire")
    posted = await request.form()
    raw = parse_post(form, [(k, v) for k, v in posted.multi_items() if isinstance(v, str)])
    address = request.client.host if request.client else "unknown"
    try:
        with engine.begin() as conn:
            rid, validated = submit_questionnaire(conn, raw=raw, actor=actor)
            if rid is not None:  # only answers that are kept count towards the limit
                count_answer(conn, address=address, now=clock.now(), settings=request.app.state.settings)
    except TooManyAttempts as exc:  # the answer is not kept; what was typed stays on the page
        ctx = {"form": form, "fields_html": render_fields(form, raw, lang=lang), "notice": None, "user": actor}
        ctx["error"] = exc.text(lang)
        response = render(request, "forms/needs.html", ctx, status_code=429)
        response.headers["Retry-After"] = str(exc.retry_after)
        return response
    if rid is not None:
        return RedirectResponse("/needs?done=1", status_code=303)
    ctx = {
        "form": form,
        "fields_html": render_fields(form, raw, lang=lang, errors=validated.errors),
        "notice": None,
        "user": actor,
    }
    return render(request, "forms/needs.html", ctx, status_code=422)


# --- JSON API -------------------------------------------------------------------------------------


@router.get("/api/forms/{key}")
def api_form_definition(key: str, version: int | None = None) -> dict[str, Any]:
    try:
        form = FORMS.get(key, version)
    except UnknownForm as exc:
        raise NotFound(exc.text) from None
    return {
        "key": form.key,
        "version": form.version,
        "versions": FORMS.versions(key),
        "title": form.title.as_dict(),
        "structure": form.describe(),
    }


@router.get("/api/projects/{project_id}/forms/{key}")
def api_form_get(
    engine: EngineDep, actor: CurrentActor, project_id: int, key: str, period: int | None = None
) -> dict[str, Any]:
    _form_or_404(key)
    with engine.connect() as conn:
        st = load_form(conn, project_id=project_id, form_key=key, actor=actor, period=period)
        locked = form_refusal(viewable_facts(conn, actor, project_id), actor, key)
    sub = st.submission
    return {
        "form": key,
        "version": st.form.version,
        "status": st.status,
        "editable": locked is None,
        "locked": locked.reasons[0].as_dict() if locked is not None else None,
        "values": st.values,
        "errors": [e.as_dict() for e in st.errors],
        "submission": None
        if sub is None
        else {"id": sub.id, "version": sub.form.version, "data": sub.data, "status": sub.status},
    }


@router.post("/api/projects/{project_id}/forms/{key}")
def api_form_save(
    engine: EngineDep,
    actor: CurrentActor,
    lang: LangDep,
    project_id: int,
    key: str,
    data: Annotated[dict[str, Any], Body()],
    submit: Annotated[bool, Body()] = False,
    period: Annotated[int | None, Body()] = None,
) -> Response:
    """Save a draft or submit. 422 with every error, keyed by field, in both languages."""
    _form_or_404(key)
    with engine.begin() as conn:
        r = save_form(conn, project_id=project_id, form_key=key, raw=data, actor=actor, submit=submit, period=period)
    # ok, submitted, submission_id, draft_id as the result has them; the version and errors spelled out
    body = {k: v for k, v in vars(r).items() if k not in ("errors", "form_version")}
    body.update(version=r.form_version, errors=[e.as_dict() for e in r.errors], messages=r.messages(lang))
    return JSONResponse(body, status_code=200 if r.ok else 422)
