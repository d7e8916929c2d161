"""Dynamic adjustment requests: start, fill in, submit, decide, apply, list and read.

Every state change goes through ``db.apply`` on the subject ``adjustment``; who may do what and
whether it may happen are the workflow table's answers (``states.adjustments``), so a page's
button, the API's 403 and the CLI's refusal say the same. The request form is the
``adjustment_request`` form definition (its newest version for a new request), kept as typed
while drafted and as checked once submitted.

Functions taking a connection never commit; ``submit`` takes the engine because a refused
submission must still keep what was typed (the draft is saved in its own transaction first).
"""

from __future__ import annotations

import contextlib
from collections.abc import Mapping
from dataclasses import dataclass, field
from datetime import datetime
from typing import Any

from sqlalchemy import Connection, Engine, and_, func, select, update

from grantflow import clock
from grantflow.db import audit
from grantflow.db.apply import Transitioned, apply_trigger, create
from grantflow.db.facts import load_facts
from grantflow.db.models import Adjustment, AuditEvent, Project, table
from grantflow.db.workflows import get_registry
from grantflow.forms import FORMS, FieldError, FormDefinition, Refs, may_fill, tidy, validate
from grantflow.services.forms import organisation_refs
from grantflow.services.queries import HistoryEntry, history, project_for, visible_projects_query
from grantflow.states.adjustments import (
    ACTIONS,
    INITIATORS,
    AdjustmentKind,
    ChangeRow,
    change_rows,
    editing_refusal,
    kind_label,
    summary,
)
from grantflow.states.enums import Role
from grantflow.states.errors import Forbidden, NotFound, PayloadInvalid
from grantflow.states.permissions import Actor
from grantflow.states.text import Text
from grantflow.states.workflow import Availability, Workflow

_a = table(Adjustment)
_p = table(Project)
_e = table(AuditEvent)

FORM_KEY = "adjustment_request"
SUBJECT = "adjustment"

NOT_A_STARTER = Text(
    "只有本项目承担单位的申报人或领导小组办公室可以发起动态调整",
    "only an applicant of the project's undertaking unit or the office may start an adjustment",
)


def error_from_dict(d: Mapping[str, Any]) -> FieldError:
    """A stored form error (the last refused submit's) as the form renderer takes it."""
    return FieldError(path=tuple(d["path"]), code=str(d["code"]), message=Text(str(d["zh"]), str(d["en"])))


def _unknown(adjustment_id: int) -> NotFound:
    return NotFound(Text(f"调整申请 {adjustment_id} 不存在", f"adjustment request {adjustment_id} does not exist"))


def _kind_or_refuse(kind: str) -> str:
    try:
        return AdjustmentKind(kind).value
    except ValueError:
        allowed = ", ".join(k.value for k in AdjustmentKind)
        raise PayloadInvalid(
            Text(
                f"未知的调整类型“{kind}”。可选：{allowed}",
                f"unknown kind of adjustment '{kind}'. Choose one of: {allowed}",
            )
        ) from None


def workflow() -> Workflow:
    return get_registry().get("adjustment")


def request_form(version: int | None = None) -> FormDefinition:
    return FORMS.get(FORM_KEY, version)


def refs(conn: Connection, form: FormDefinition, values: Mapping[str, Any]) -> Refs:
    """The organisations ``values`` name (by id or typed name), for checking the request."""
    organisations, by_name = organisation_refs(conn, [(form, values)])
    return Refs(organisations=organisations, org_names=by_name)


# --- starting and filling in ----------------------------------------------------------------------


def start_refusal(conn: Connection, *, project_id: int, actor: Actor) -> list[Text]:
    """Empty if this person may start a request for the project; else why not (page, API, CLI)."""
    facts = load_facts(conn, "project", project_id)
    return [] if may_fill(request_form(), actor, facts) else [NOT_A_STARTER]


def start(
    conn: Connection,
    *,
    project_id: int,
    kind: str,
    actor: Actor,
    raw: Mapping[str, Any] | None = None,
    now: datetime | None = None,
) -> int:
    """A new request in its first state, started by the project's unit or by the office."""
    moment = now or clock.now()
    project = project_for(conn, actor, project_id)
    chosen = _kind_or_refuse(kind)
    form = request_form()
    refusal = start_refusal(conn, project_id=project_id, actor=actor)
    if refusal:
        raise Forbidden(refusal)
    # the office acts as the office even when its member could also be an applicant elsewhere
    initiator = "office" if actor.has(Role.OFFICE) else "applicant"
    draft = tidy(form, {**(raw or {}), "kind": chosen})
    draft, _ = audit.normalise(draft)
    return create(
        conn,
        subject=SUBJECT,
        actor=actor,
        now=moment,
        values={
            "project_id": project_id,
            "programme_id": project.programme_id,
            "kind": chosen,
            "initiator": initiator,
            "requested_by": actor.user_id,
            "form_version": form.version,
            "draft": draft,  # not a workflow state
            "draft_errors": [],
        },
    )


def _row(conn: Connection, adjustment_id: int) -> Any:
    row = conn.execute(select(_a).where(_a.c.id == adjustment_id)).one_or_none()
    if row is None:
        raise _unknown(adjustment_id)
    return row


def adjustment_for(conn: Connection, actor: Actor, adjustment_id: int) -> Any:
    """The request row if this person may see it (as they may see its project); else NotFound."""
    try:
        facts = load_facts(conn, SUBJECT, adjustment_id)
    except NotFound:
        raise _unknown(adjustment_id) from None
    if not get_registry().get(facts.workflow).may_view(facts, actor):
        raise _unknown(adjustment_id)
    return _row(conn, adjustment_id)


def save_draft(
    conn: Connection,
    *,
    adjustment_id: int,
    raw: Mapping[str, Any],
    actor: Actor,
    errors: list[FieldError] | None = None,
    now: datetime | None = None,
) -> None:
    """Keep what was typed (always succeeds for whoever may edit the request now)."""
    row = adjustment_for(conn, actor, adjustment_id)
    facts = load_facts(conn, SUBJECT, adjustment_id)
    refusal = editing_refusal(workflow(), facts, actor)
    if refusal:
        raise Forbidden(refusal)
    form = request_form(row.form_version)
    kept, _ = audit.normalise(tidy(form, raw))
    values: dict[str, Any] = {
        "draft": kept,  # not a workflow state
        "draft_errors": [e.as_dict() for e in errors or []],
    }
    # an unknown kind stays in the draft as typed; the submit says what is wrong
    with contextlib.suppress(ValueError):
        values["kind"] = AdjustmentKind(str(kept.get("kind") or row.kind)).value
    conn.execute(update(_a).where(_a.c.id == adjustment_id).values(**values))


@dataclass
class SubmitResult:
    ok: bool
    errors: list[FieldError] = field(default_factory=list)
    transition: Transitioned | None = None

    def messages(self, lang: str) -> dict[str, list[str]]:
        out: dict[str, list[str]] = {}
        for e in self.errors:
            out.setdefault(e.key, []).append(e.message.get(lang))
        return out


def submit(
    engine: Engine,
    *,
    adjustment_id: int,
    actor: Actor,
    raw: Mapping[str, Any] | None = None,
    now: datetime | None = None,
) -> SubmitResult:
    """Check the request with its form, then submit it through the engine.

    What was typed is saved first, in its own transaction: a form error (returned, beside each
    field) or a refusal by the rules (raised: ``GuardFailed`` with every reason, ``Forbidden``…)
    never loses it.
    """
    moment = now or clock.now()
    with engine.begin() as conn:
        row = adjustment_for(conn, actor, adjustment_id)
        typed = dict(raw) if raw is not None else dict(row.draft or {})
        form = request_form(row.form_version)
        tidied = tidy(form, typed)
        validated = validate(form, tidied, refs=refs(conn, form, tidied), submit=True)
        save_draft(conn, adjustment_id=adjustment_id, raw=typed, actor=actor, errors=validated.errors, now=moment)
    if not validated.ok:
        return SubmitResult(ok=False, errors=validated.errors)
    with engine.begin() as conn:
        values = validated.as_json()
        conn.execute(
            update(_a).where(_a.c.id == adjustment_id).values(request=values, kind=values["kind"], draft_errors=[])
        )
        moved = apply_trigger(
            conn,
            subject=SUBJECT,
            subject_id=adjustment_id,
            trigger=ACTIONS["submit"],
            actor=actor,
            payload={"request": values},
            now=moment,
        )
    return SubmitResult(ok=True, transition=moved)


# --- deciding -------------------------------------------------------------------------------------


def decide(
    conn: Connection,
    *,
    adjustment_id: int,
    action: str,
    actor: Actor,
    reason: str | None = None,
    now: datetime | None = None,
) -> Transitioned:
    """Review, approve, return, reject, apply or cancel a request (the workflow table decides)."""
    if action not in ACTIONS:
        allowed = ", ".join(ACTIONS)
        raise PayloadInvalid(
            Text(f"未知的操作“{action}”。可选：{allowed}", f"unknown action '{action}'. Choose: {allowed}")
        )
    adjustment_for(conn, actor, adjustment_id)
    payload = {"reason": reason} if reason and reason.strip() else {}
    return apply_trigger(
        conn,
        subject=SUBJECT,
        subject_id=adjustment_id,
        trigger=ACTIONS[action],
        actor=actor,
        payload=payload,
        now=now or clock.now(),
    )


def fire_trigger(
    conn: Connection,
    *,
    adjustment_id: int,
    trigger: str,
    actor: Actor,
    reason: str | None = None,
    now: datetime | None = None,
) -> Transitioned:
    """Fire a button's trigger (the page posts the trigger its button showed)."""
    action = next((a for a, t in ACTIONS.items() if t == trigger), None)
    if action is None or action == "submit":
        # submitting goes through the form check; anything else is not a request's trigger
        raise PayloadInvalid(Text(f"不能在此执行“{trigger}”", f"'{trigger}' cannot be done here"))
    return decide(conn, adjustment_id=adjustment_id, action=action, actor=actor, reason=reason, now=now)


# --- reading --------------------------------------------------------------------------------------


@dataclass
class AdjustmentView:
    row: Any
    project: Any
    workflow: Workflow
    form: FormDefinition
    buttons: list[Availability]
    events: list[HistoryEntry]
    decisions: list[dict[str, Any]]
    editable: bool
    changes: dict[str, Any]
    change_rows: list[ChangeRow]
    kind: Text
    initiator: Text


def decisions(conn: Connection, adjustment_id: int) -> list[dict[str, Any]]:
    """Who decided at each step and why: the request's transitions with their reasons."""
    rows = conn.execute(
        select(_e.c.id, _e.c.created_at, _e.c.actor_name, _e.c.action, _e.c.from_state, _e.c.to_state, _e.c.payload)
        .where(_e.c.subject == SUBJECT, _e.c.subject_id == adjustment_id, _e.c.from_state.is_not(None))
        .order_by(_e.c.id)
    ).all()
    return [
        {
            "at": r.created_at,
            "actor": r.actor_name,
            "action": r.action,
            "from": r.from_state,
            "to": r.to_state,
            "reason": (r.payload or {}).get("reason"),
        }
        for r in rows
    ]


def show(conn: Connection, *, adjustment_id: int, actor: Actor, now: datetime | None = None) -> AdjustmentView:
    row = adjustment_for(conn, actor, adjustment_id)
    project = conn.execute(select(Project).where(Project.id == row.project_id)).one()
    wf = get_registry().get(row.workflow)
    facts = load_facts(conn, SUBJECT, adjustment_id)
    buttons = [
        b for b in wf.available(facts=facts, actor=actor, now=now or clock.now()) if b.trigger != ACTIONS["submit"]
    ]
    return AdjustmentView(
        row=row,
        project=project,
        workflow=wf,
        form=request_form(row.form_version),
        buttons=buttons,
        events=history(conn, SUBJECT, adjustment_id, viewer=actor),
        decisions=decisions(conn, adjustment_id),
        editable=not editing_refusal(wf, facts, actor),
        changes=summary(row.kind, row.before, row.after) if row.after is not None else {},
        change_rows=(
            change_rows(row.kind, row.before, row.after, state_label=get_registry().get(project.workflow).state_label)
            if row.after is not None
            else []
        ),
        kind=kind_label(row.kind),
        initiator=INITIATORS.get(row.initiator, Text(row.initiator, row.initiator)),
    )


def _visible_requests(
    actor: Actor, *, project_id: int | None, programme_id: int | None, state: str | None, kind: str | None
) -> list[Any]:
    visible = visible_projects_query(actor).with_only_columns(_p.c.id).order_by(None)
    where: list[Any] = [_a.c.project_id.in_(visible)]
    if project_id is not None:
        where.append(_a.c.project_id == project_id)
    if programme_id is not None:
        where.append(_a.c.programme_id == programme_id)
    if state is not None:
        where.append(_a.c.state == state)
    if kind:
        where.append(_a.c.kind == kind)
    return where


def list_for(
    conn: Connection,
    actor: Actor,
    *,
    project_id: int | None = None,
    programme_id: int | None = None,
    state: str | None = None,
    kind: str | None = None,
    limit: int = 200,
    offset: int = 0,
) -> list[Any]:
    """Requests this person may see (those of projects they may see), newest first."""
    where = _visible_requests(actor, project_id=project_id, programme_id=programme_id, state=state, kind=kind)
    stmt = (
        select(_a, _p.c.code.label("project_code"), _p.c.title.label("project_title"))
        .join(_p, _a.c.project_id == _p.c.id)
        .where(*where)
        .order_by(_a.c.id.desc())
        .limit(limit)
        .offset(offset)
    )
    return list(conn.execute(stmt).all())


def count_for(conn: Connection, actor: Actor, *, kind: str | None = None) -> int:
    """How many requests ``list_for`` would show this person in all."""
    where = _visible_requests(actor, project_id=None, programme_id=None, state=None, kind=kind)
    return int(conn.execute(select(func.count()).select_from(_a).where(*where)).scalar_one())


def queue(conn: Connection, actor: Actor, *, now: datetime | None = None, limit: int = 200) -> list[Any]:
    """Requests waiting for this person: those where one of their buttons is pressable now."""
    wf = workflow()
    moment = now or clock.now()
    # only states with a decision left to take can be waiting for anyone
    open_states = [s for s in wf.states if s not in wf.terminal_states]
    rows = [r for r in list_for(conn, actor, limit=limit * 5) if r.state in open_states]
    waiting = []
    for r in rows:
        facts = load_facts(conn, SUBJECT, r.id)
        if any(b.allowed for b in wf.available(facts=facts, actor=actor, now=moment)):
            waiting.append(r)
        if len(waiting) >= limit:
            break
    return waiting


# --- what the disclosure of dynamic adjustments reads ---------------------------------------------


@dataclass(frozen=True)
class AppliedAdjustment:
    """One applied adjustment as the public disclosure lists it."""

    id: int
    kind: str
    kind_label: Text
    project_id: int
    project_code: str
    project_title: str
    major: bool
    changes: dict[str, Any]  # {"project.end_date": {"before": ..., "after": ...}}
    decision: Text  # who approved it (the office, and the leadership group for a major one)
    decided_by: tuple[str, ...]
    reason: str | None  # the reason the request gave
    applied_at: datetime


def applied_adjustments(
    conn: Connection, *, programme_id: int | None = None, start: datetime, end: datetime
) -> list[AppliedAdjustment]:
    """Applied adjustments (of one programme, or all) with ``start <= applied_at < end``, in order."""
    stmt = (
        select(_a, _p.c.code.label("project_code"), _p.c.title.label("project_title"))
        .join(_p, _a.c.project_id == _p.c.id)
        .where(_a.c.applied_at.is_not(None), and_(_a.c.applied_at >= start, _a.c.applied_at < end))
        .order_by(_a.c.applied_at, _a.c.id)
    )
    if programme_id is not None:
        stmt = stmt.where(_a.c.programme_id == programme_id)
    rows = conn.execute(stmt).all()
    out = []
    for r in rows:
        deciders = tuple(d["actor"] for d in decisions(conn, r.id) if d["action"] == ACTIONS["approve"])
        decision = (
            Text("经领导小组决定批准", "approved by the leadership group")
            if r.major
            else Text("经领导小组办公室批准", "approved by the office")
        )
        out.append(
            AppliedAdjustment(
                id=r.id,
                kind=r.kind,
                kind_label=kind_label(r.kind),
                project_id=r.project_id,
                project_code=r.project_code,
                project_title=r.project_title,
                major=bool(r.major),
                changes=summary(r.kind, r.before, r.after),
                decision=decision,
                decided_by=deciders,
                reason=(r.request or {}).get("reason"),
                applied_at=r.applied_at,
            )
        )
    return out
