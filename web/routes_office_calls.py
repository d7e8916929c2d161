"""The call desk on the page: the office and organising units list, draft, publish, open and
close calls, form a call's review panel and assign its reviewers.

Every write goes through the functions the CLI uses (``services.calls.create_call``,
``services.office_calls.fire_call`` = the engine, ``services.review.create_panel``,
``assign``/``assign_batch``). The buttons come from the call's workflow table; no state name
is typed here.
"""

from __future__ import annotations

from dataclasses import dataclass, field
from datetime import UTC, datetime
from typing import Annotated, Any
from zoneinfo import ZoneInfo

from fastapi import APIRouter, Form, Request
from fastapi.responses import RedirectResponse, Response
from sqlalchemy import select
from starlette.datastructures import FormData

from grantflow.config import get_settings
from grantflow.db.models import Call, Organisation, table
from grantflow.services.calls import CallInvalid, call_invalid, check_call, create_call
from grantflow.services.office_calls import (
    SORTS,
    call_desk,
    fire_call,
    list_calls,
    programmes_for,
    require_call_manager,
    require_desk,
    state_choices,
)
from grantflow.services.review import STAGES, assign, assign_batch, create_panel
from grantflow.services.review.desk import panel_desk
from grantflow.states.eligibility import QUALIFICATIONS, UNIT_TYPES
from grantflow.states.enums import Category, OrgKind, SelectionMode, SupportMode
from grantflow.states.errors import GrantflowError, PayloadInvalid
from grantflow.states.lifecycle import DEFAULT_QUORUM
from grantflow.states.permissions import Actor
from grantflow.states.text import Text
from grantflow.web.deps import CurrentActor, EngineDep, LangDep, render
from grantflow.web.errors import status_for
from grantflow.web.routes_review import NowDep

router = APIRouter()
_o = table(Organisation)
_c = table(Call)

# --- the list ---------------------------------------------------------------------------------------


def _int_or_none(value: str | None) -> int | None:
    try:
        return int(value) if value not in (None, "") else None
    except ValueError:
        return None


@router.get("/office/calls")
def calls_page(
    request: Request,
    engine: EngineDep,
    actor: CurrentActor,
    programme: str = "",
    state: str = "",
    sort: str = "closes_asc",
    page: int = 1,
) -> Response:
    chosen_state = state if state in {s.name for s in state_choices()} else ""
    chosen_sort = sort if sort in SORTS else SORTS[0]
    with engine.connect() as conn:
        found = list_calls(
            conn,
            actor=actor,
            programme_id=_int_or_none(programme),
            state=chosen_state or None,
            sort=chosen_sort,
            page=page,
        )
        programmes = programmes_for(conn, actor)
    return render(
        request,
        "office_calls/list.html",
        {
            "found": found,
            "programmes": programmes,
            "states": state_choices(),
            "chosen": {"programme": programme, "state": chosen_state, "sort": chosen_sort},
            "sorts": SORTS,
        },
    )


# --- a new call -------------------------------------------------------------------------------------

LIST_FIELDS = ("support_modes", "unit_types", "qualifications")


@dataclass
class Parsed:
    values: dict[str, Any] = field(default_factory=dict)
    bids_open_at: datetime | None = None
    problems: list[tuple[str, Text]] = field(default_factory=list)


def _typed(form: FormData) -> dict[str, Any]:
    typed: dict[str, Any] = {k: str(v) for k, v in form.items() if k not in LIST_FIELDS and k != "csrf_token"}
    for k in LIST_FIELDS:
        typed[k] = [str(v) for v in form.getlist(k)]
    return typed


MOMENTS = {
    "opens_at": Text("开始时间", "opening time"),
    "closes_at": Text("截止时间", "deadline"),
    "bids_open_at": Text("开标时间", "bid-opening time"),
}


def _moment(typed: dict[str, Any], key: str, parsed: Parsed, *, required: bool) -> datetime | None:
    raw = str(typed.get(key, "")).strip()
    what = MOMENTS[key]
    if not raw:
        if required:
            parsed.problems.append((key, Text(f"请填写{what.zh}", f"enter the {what.en}")))
        return None
    try:
        moment = datetime.fromisoformat(raw.replace(" ", "T"))
    except ValueError:
        parsed.problems.append(
            (key, Text(f"{what.zh}的格式应为 年-月-日 时:分", f"write the {what.en} as YYYY-MM-DD HH:MM"))
        )
        return None
    # what people type is the local time of the commission (the field says so), stored as UTC
    if moment.tzinfo is None:
        moment = moment.replace(tzinfo=ZoneInfo(get_settings().timezone))
    return moment.astimezone(UTC)


def _whole(typed: dict[str, Any], key: str, parsed: Parsed, default: int | None) -> int | None:
    raw = str(typed.get(key, "")).strip()
    if not raw:
        return default
    try:
        return int(raw)
    except ValueError:
        parsed.problems.append((key, Text("请填写整数", "enter a whole number")))
        return default


def _parse(typed: dict[str, Any], programme_ids: set[int]) -> Parsed:
    """The typed form as ``create_call`` takes it; what cannot even be read is a problem of its field."""
    parsed = Parsed()
    programme_id = _int_or_none(typed.get("programme_id"))
    if programme_id is None or programme_id not in programme_ids:
        parsed.problems.append(("programme_id", Text("请选择重大专项", "choose a programme")))
    eligibility: dict[str, Any] = {}
    for key in ("unit_types", "qualifications"):
        if typed.get(key):
            eligibility[key] = list(typed[key])
    regions = [r.strip() for r in str(typed.get("regions", "")).replace("，", ",").replace("、", ",").split(",")]
    if any(regions):
        eligibility["regions"] = [r for r in regions if r]
    for key in ("max_active_projects_per_unit", "max_active_projects_per_pi"):
        limit = _whole(typed, key, parsed, None)
        if limit is not None:
            eligibility[key] = limit
    if typed.get("no_overdue_reports") == "yes":
        eligibility["no_overdue_reports"] = True
    values: dict[str, Any] = {
        "programme_id": programme_id,
        "title": str(typed.get("title", "")),
        "category": str(typed.get("category", "")),
        "selection_mode": str(typed.get("selection_mode", "")),
        "support_modes": list(typed.get("support_modes") or []),
        "quorum": _whole(typed, "quorum", parsed, DEFAULT_QUORUM),
        "max_applications_per_unit": _whole(typed, "max_applications_per_unit", parsed, 1),
        "eligibility": eligibility,
        "opens_at": _moment(typed, "opens_at", parsed, required=True),
        "closes_at": _moment(typed, "closes_at", parsed, required=True),
    }
    if str(typed.get("title_en", "")).strip():
        values["title_en"] = str(typed["title_en"]).strip()
    designated = _int_or_none(typed.get("designated_unit_id"))
    if designated is not None:
        values["designated_unit_id"] = designated
    parsed.values = values
    parsed.bids_open_at = _moment(typed, "bids_open_at", parsed, required=False)
    return parsed


def _form_page(
    request: Request,
    engine: Any,
    actor: Actor,
    *,
    typed: dict[str, Any],
    error: CallInvalid | None = None,
    lang: str = "zh",
    status: int = 200,
) -> Response:
    with engine.connect() as conn:
        programmes = programmes_for(conn, actor)
        units = conn.execute(
            select(_o.c.id, _o.c.name, _o.c.name_en).where(_o.c.kind == OrgKind.UNDERTAKING_UNIT).order_by(_o.c.id)
        ).all()
    return render(
        request,
        "office_calls/new.html",
        {
            "programmes": programmes,
            "units": [(u.id, Text(u.name, u.name_en or u.name)) for u in units],
            "categories": list(Category),
            "modes": list(SelectionMode),
            "supports": list(SupportMode),
            "unit_types": UNIT_TYPES,
            "qualifications": QUALIFICATIONS,
            "typed": typed,
            "error": error.text(lang) if error else None,
            "problems": error.fields if error else {},
            "zone": get_settings().timezone,
        },
        status_code=status,
    )


@router.get("/office/calls/new")
def new_call_page(request: Request, engine: EngineDep, actor: CurrentActor) -> Response:
    require_desk(actor)
    typed: dict[str, Any] = {"quorum": str(DEFAULT_QUORUM), "max_applications_per_unit": "1"}
    return _form_page(request, engine, actor, typed={**typed, **{k: [] for k in LIST_FIELDS}})


@router.post("/office/calls/new")
async def new_call_post(
    request: Request, engine: EngineDep, actor: CurrentActor, now: NowDep, lang: LangDep
) -> Response:
    require_desk(actor)
    typed = _typed(await request.form())
    with engine.connect() as conn:
        programme_ids = {p.id for p in programmes_for(conn, actor)}
    parsed = _parse(typed, programme_ids)
    try:
        if parsed.problems:
            # what could be read is checked too, so every problem of the form shows at once
            with engine.connect() as conn:
                more = check_call(conn, values=parsed.values, bids_open_at=parsed.bids_open_at)
            unread = {name for name, _ in parsed.problems}
            raise call_invalid(parsed.problems + [(k, t) for k, t in more if k not in unread])
        with engine.begin() as conn:
            call_id = create_call(conn, values=parsed.values, actor=actor, now=now, bids_open_at=parsed.bids_open_at)
    except CallInvalid as exc:
        return _form_page(request, engine, actor, typed=typed, error=exc, lang=lang, status=422)
    return RedirectResponse(f"/office/calls/{call_id}", status_code=303)


# --- one call and its buttons ------------------------------------------------------------------------


def _desk_page(
    request: Request,
    engine: Any,
    actor: Actor,
    call_id: int,
    now: datetime,
    *,
    error: str | None = None,
    typed: dict[str, str] | None = None,
    status: int = 200,
) -> Response:
    with engine.connect() as conn:
        desk = call_desk(conn, call_id=call_id, actor=actor, now=now)
    return render(
        request,
        "office_calls/detail.html",
        {"d": desk, "error": error, "typed": typed or {}},
        status_code=status,
    )


@router.get("/office/calls/{call_id}")
def call_page(request: Request, engine: EngineDep, actor: CurrentActor, now: NowDep, call_id: int) -> Response:
    return _desk_page(request, engine, actor, call_id, now)


@router.post("/office/calls/{call_id}/fire")
def call_fire(
    request: Request,
    engine: EngineDep,
    actor: CurrentActor,
    now: NowDep,
    lang: LangDep,
    call_id: int,
    trigger: Annotated[str, Form()] = "",
    reason: Annotated[str, Form()] = "",
) -> Response:
    try:
        with engine.begin() as conn:
            fire_call(conn, call_id=call_id, trigger=trigger, actor=actor, now=now, reason=reason)
    except GrantflowError as exc:
        return _desk_page(
            request,
            engine,
            actor,
            call_id,
            now,
            error=exc.text(lang),
            typed={"trigger": trigger, "reason": reason},
            status=status_for(exc),
        )
    return RedirectResponse(f"/office/calls/{call_id}", status_code=303)


# --- the panel and who reviews what -------------------------------------------------------------------


def _panel_page(
    request: Request,
    engine: Any,
    actor: Actor,
    call_id: int,
    stage: str,
    *,
    error: str | None = None,
    message: str | None = None,
    results: list[Any] | None = None,
    typed: dict[str, Any] | None = None,
    status: int = 200,
) -> Response:
    with engine.connect() as conn:
        desk = panel_desk(conn, call_id=call_id, stage=stage, actor=actor)
        call = conn.execute(select(_c).where(_c.c.id == call_id)).one()
    if typed is None:
        typed = {
            "name": desk.panel.name if desk.panel else "",
            "members": [str(m) for m in desk.panel.members] if desk.panel else [],
            "tags": " ".join(desk.panel.tags) if desk.panel else "",
            "hide_peers": bool(desk.panel and not desk.panel.peers_after_submit),
        }
    return render(
        request,
        "office_calls/panel.html",
        {
            "call": call,
            "stage": stage,
            "stages": STAGES,
            "desk": desk,
            "error": error,
            "message": message,
            "results": results,
            "typed": typed,
        },
        status_code=status,
    )


@router.get("/review/calls/{call_id}/panel")
def panel_page(
    request: Request, engine: EngineDep, actor: CurrentActor, call_id: int, stage: str = "proposal"
) -> Response:
    return _panel_page(request, engine, actor, call_id, stage)


class PanelEmpty(PayloadInvalid):
    code = "panel_empty"

    def __init__(self) -> None:
        super().__init__(Text("请至少选择一位评审专家", "choose at least one reviewer"))


@router.post("/review/calls/{call_id}/panel")
async def panel_post(
    request: Request, engine: EngineDep, actor: CurrentActor, now: NowDep, lang: LangDep, call_id: int
) -> Response:
    form = await request.form()
    stage = str(form.get("stage", "proposal"))
    typed: dict[str, Any] = {
        "name": str(form.get("name", "")),
        "members": [str(m) for m in form.getlist("member")],
        "tags": str(form.get("tags", "")),
        "hide_peers": form.get("hide_peers") == "yes",
    }
    members = [m for m in (_int_or_none(v) for v in typed["members"]) if m is not None]
    with engine.connect() as conn:
        require_call_manager(conn, call_id=call_id, actor=actor)  # refused before anything is tried
    try:
        if not members:
            raise PanelEmpty()
        with engine.begin() as conn:
            create_panel(
                conn,
                call_id=call_id,
                stage=stage,
                name=typed["name"].strip() or Text("评审专家组", "review panel").get(lang),
                members=members,
                actor=actor,
                now=now,
                tags=[t for t in typed["tags"].replace(",", " ").split() if t],
                peers_after_submit=not typed["hide_peers"],
            )
    except GrantflowError as exc:
        return _panel_page(
            request, engine, actor, call_id, stage, error=exc.text(lang), typed=typed, status=status_for(exc)
        )
    done = Text(f"专家组已组建（{len(members)} 位专家）", f"Panel formed ({len(members)} reviewers)")
    return _panel_page(request, engine, actor, call_id, stage, message=done.get(lang))


@router.post("/review/calls/{call_id}/panel/assign")
def panel_assign(
    request: Request,
    engine: EngineDep,
    actor: CurrentActor,
    now: NowDep,
    lang: LangDep,
    call_id: int,
    project: Annotated[list[int], Form()],
    stage: Annotated[str, Form()] = "proposal",
    reviewer: Annotated[str, Form()] = "",
) -> Response:
    with engine.connect() as conn:
        require_call_manager(conn, call_id=call_id, actor=actor)  # refused before anything is tried
    reviewer_id = _int_or_none(reviewer)
    if reviewer_id is not None and len(project) == 1:
        try:
            with engine.begin() as conn:
                assign(conn, project_id=project[0], stage=stage, reviewer_id=reviewer_id, actor=actor, now=now)
        except GrantflowError as exc:
            return _panel_page(request, engine, actor, call_id, stage, error=exc.text(lang), status=status_for(exc))
        return _panel_page(request, engine, actor, call_id, stage, message=Text("已分配", "Assigned").get(lang))
    results = assign_batch(engine, project_ids=project, stage=stage, actor=actor, now=now, reviewer_id=reviewer_id)
    return _panel_page(request, engine, actor, call_id, stage, results=results)


__all__ = ["router"]
