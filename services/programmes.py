"""The twelve programmes: what each carries (class, organising units, implementation plan, key
tasks, targets) and its own lifecycle (``states.programmes``), fired through ``db.apply``.

The caller owns the transaction; nothing here commits.
"""

from __future__ import annotations

from dataclasses import asdict, dataclass
from datetime import date, datetime
from decimal import Decimal, InvalidOperation
from typing import Any

from sqlalchemy import Connection, and_, func, insert, select

from grantflow import clock
from grantflow.db import audit
from grantflow.db.apply import Transitioned, apply_trigger
from grantflow.db.facts import load_facts
from grantflow.db.models import (
    Organisation,
    Programme,
    ProgrammeKeyTask,
    ProgrammeUnit,
    table,
)
from grantflow.db.models import (
    Target as TargetRow,
)
from grantflow.db.workflows import get_registry
from grantflow.services.queries import HistoryEntry, history
from grantflow.services.targets import TargetIn, replace_programme_targets, snapshot
from grantflow.states.amounts import from_hundredths
from grantflow.states.enums import OrgKind, Role
from grantflow.states.errors import Forbidden, NotFound, PayloadInvalid
from grantflow.states.permissions import Actor
from grantflow.states.programmes import CLASS_LABELS
from grantflow.states.targets import kind_label
from grantflow.states.text import Text
from grantflow.states.workflow import Availability, Workflow

_g = table(Programme)
_kt = table(ProgrammeKeyTask)
_pt = table(TargetRow)
# a programme's own targets: rows of the targets table without a project, not retired
_PROGRAMME_TARGET = and_(_pt.c.project_id.is_(None), _pt.c.retired_at.is_(None))
_pu = table(ProgrammeUnit)
_o = table(Organisation)

OFFICE_ONLY = Text("只有领导小组办公室可以维护专项的基本信息", "only the office maintains a programme's particulars")


@dataclass(frozen=True)
class Target:
    id: int
    kind: str
    kind_label: Text
    description: Text
    quantity: Decimal
    unit: Text
    due_year: int | None
    weight: Decimal | None

    def reads(self, lang: str) -> str:
        """'≥ 10 项 有国际影响力的创新性成果（2017 年）' / '≥ 10 results: ... (by 2017)'."""
        sign = "≥ "  # a target is a minimum to reach
        qty = f"{self.quantity.normalize():f}"
        if lang == "en":
            by = f" (by {self.due_year})" if self.due_year else ""
            return f"{sign}{qty} {self.unit.en}: {self.description.en}{by}"
        by = f"（{self.due_year} 年）" if self.due_year else ""
        return f"{sign}{qty} {self.unit.zh}{self.description.zh}{by}"


@dataclass
class ProgrammeView:
    row: Any
    workflow: Workflow
    class_label: Text
    lead_unit: Text | None
    other_units: list[Text]
    key_tasks: list[Text]
    targets: list[Target]
    buttons: list[Availability]
    events: list[HistoryEntry]


def _by_code(conn: Connection, code: int) -> Any:
    row = conn.execute(select(_g).where(_g.c.code == code)).one_or_none()
    if row is None:
        raise NotFound(Text(f"重大专项 {code} 不存在", f"programme {code} does not exist"))
    return row


def _org_text(row: Any) -> Text:
    return Text(row.name, row.name_en or row.name)


def targets_of(conn: Connection, programme_id: int) -> list[Target]:
    rows = conn.execute(
        select(_pt).where(_pt.c.programme_id == programme_id, _PROGRAMME_TARGET).order_by(_pt.c.position, _pt.c.id)
    ).all()
    return [
        Target(
            id=r.id,
            kind=r.kind,
            kind_label=kind_label(r.kind, r.custom_kind),
            description=Text(r.description, r.description_en or r.description),
            quantity=from_hundredths(r.planned_hundredths),
            unit=Text(r.unit or "", r.unit_en or r.unit or ""),
            due_year=r.due_on.year if r.due_on else None,
            weight=None if r.weight_hundredths is None else from_hundredths(r.weight_hundredths),
        )
        for r in rows
    ]


def list_programmes(conn: Connection) -> list[Any]:
    """Every programme with its state, class and counts of key tasks and targets (public information)."""
    tasks = select(_kt.c.programme_id, func.count().label("n")).group_by(_kt.c.programme_id).subquery()
    targets = (
        select(_pt.c.programme_id, func.count().label("n"))
        .where(_PROGRAMME_TARGET)
        .group_by(_pt.c.programme_id)
        .subquery()
    )
    return list(
        conn.execute(
            select(
                _g,
                func.coalesce(tasks.c.n, 0).label("key_tasks"),
                func.coalesce(targets.c.n, 0).label("targets_count"),
                _o.c.name.label("lead_unit"),
                _o.c.name_en.label("lead_unit_en"),
            )
            .outerjoin(tasks, tasks.c.programme_id == _g.c.id)
            .outerjoin(targets, targets.c.programme_id == _g.c.id)
            .outerjoin(_o, _o.c.id == _g.c.organising_unit_id)
            .order_by(_g.c.code)
        ).all()
    )


def show(conn: Connection, *, code: int, actor: Actor, now: datetime | None = None) -> ProgrammeView:
    row = _by_code(conn, code)
    wf = get_registry().get(row.workflow)
    lead = conn.execute(select(_o).where(_o.c.id == row.organising_unit_id)).one_or_none()
    others = conn.execute(
        select(_o).join(_pu, _pu.c.organisation_id == _o.c.id).where(_pu.c.programme_id == row.id).order_by(_o.c.id)
    ).all()
    tasks = conn.execute(select(_kt).where(_kt.c.programme_id == row.id).order_by(_kt.c.seq)).all()
    facts = load_facts(conn, "programme", row.id)
    return ProgrammeView(
        row=row,
        workflow=wf,
        class_label=CLASS_LABELS.get(row.programme_class, Text(str(row.programme_class), str(row.programme_class))),
        lead_unit=_org_text(lead) if lead is not None else None,
        other_units=[_org_text(o) for o in others],
        key_tasks=[Text(t.title, t.title_en) for t in tasks],
        targets=targets_of(conn, row.id),
        buttons=wf.available(facts=facts, actor=actor, now=now or clock.now()),
        events=history(conn, "programme", row.id, viewer=actor),
    )


def fire(
    conn: Connection,
    *,
    code: int,
    trigger: str,
    actor: Actor,
    reason: str | None = None,
    implementation_plan: str | None = None,
    now: datetime | None = None,
) -> Transitioned:
    """Launch, start implementation, adjust, conclude or stop a programme (the table decides who)."""
    row = _by_code(conn, code)
    payload: dict[str, Any] = {}
    if reason and reason.strip():
        payload["reason"] = reason.strip()
    if implementation_plan and implementation_plan.strip():
        payload["implementation_plan"] = implementation_plan.strip()
    return apply_trigger(
        conn,
        subject="programme",
        subject_id=row.id,
        trigger=trigger,
        actor=actor,
        payload=payload,
        now=now or clock.now(),
    )


# --- the office maintains the particulars (each change audited on the programme) ------------------


def _office(actor: Actor) -> None:
    if not actor.has(Role.OFFICE):
        raise Forbidden([OFFICE_ONLY])


def _note(
    conn: Connection, programme_id: int, actor: Actor, action: str, payload: dict[str, Any], now: datetime
) -> None:
    audit.note(conn, subject="programme", subject_id=programme_id, actor=actor, action=action, payload=payload, now=now)


def add_key_task(
    conn: Connection, *, code: int, title: str, title_en: str, actor: Actor, now: datetime | None = None
) -> int:
    _office(actor)
    row = _by_code(conn, code)
    if not title.strip():
        raise PayloadInvalid(Text("请填写重点任务", "give the key task"))
    seq = conn.execute(select(func.coalesce(func.max(_kt.c.seq), 0)).where(_kt.c.programme_id == row.id)).scalar_one()
    tid = int(
        conn.execute(
            insert(_kt).returning(_kt.c.id),
            {"programme_id": row.id, "seq": seq + 1, "title": title.strip(), "title_en": title_en.strip() or title},
        ).scalar_one()
    )
    _note(conn, row.id, actor, "key_task_added", {"title": title, "title_en": title_en}, now or clock.now())
    return tid


def add_target(
    conn: Connection,
    *,
    code: int,
    kind: str,
    description: str,
    description_en: str,
    quantity: str,
    unit: str,
    unit_en: str,
    actor: Actor,
    due_year: int | None = None,
    weight: str | None = None,
    now: datetime | None = None,
) -> int:
    _office(actor)
    row = _by_code(conn, code)
    try:
        qty = Decimal(quantity)
        wt = Decimal(weight) if weight not in (None, "") else None
    except InvalidOperation:
        raise PayloadInvalid(Text("指标数量或权重不是数字", "the quantity or weight is not a number")) from None
    if qty < 0 or (wt is not None and wt < 0):
        raise PayloadInvalid(Text("指标数量和权重不能为负数", "quantity and weight cannot be negative"))
    if not kind.strip() or not description.strip():
        raise PayloadInvalid(Text("请填写指标类别和内容", "give the target's kind and description"))
    existing = snapshot(conn, programme_id=row.id)
    new = TargetIn(
        kind=kind.strip(),
        planned=qty,
        description=description.strip(),
        description_en=description_en.strip() or description.strip(),
        unit=unit.strip() or None,
        unit_en=unit_en.strip() or unit.strip() or None,
        weight=wt,
        due_on=date(due_year, 12, 31) if due_year else None,
    )
    moment = now or clock.now()
    replace_programme_targets(conn, programme_id=row.id, targets=[*existing, new], actor=actor, now=moment)
    tid = max(t["id"] for t in snapshot(conn, programme_id=row.id))
    logged = {
        k: v.isoformat() if isinstance(v, date) else str(v) if isinstance(v, Decimal) else v
        for k, v in asdict(new).items()
        if v not in (None, "")
    }
    _note(conn, row.id, actor, "target_added", logged, moment)
    return tid


def add_organising_unit(
    conn: Connection, *, code: int, organisation_id: int, actor: Actor, lead: bool = False, now: datetime | None = None
) -> None:
    """Name the programme's lead organising unit, or add one more organising unit to it."""
    _office(actor)
    row = _by_code(conn, code)
    org = conn.execute(select(_o).where(_o.c.id == organisation_id)).one_or_none()
    if org is None or org.kind != OrgKind.ORGANISING_UNIT:
        raise PayloadInvalid(
            Text(f"单位 {organisation_id} 不是组织单位", f"organisation {organisation_id} is not an organising unit")
        )
    if lead:
        conn.execute(_g.update().where(_g.c.id == row.id).values(organising_unit_id=organisation_id))
    elif organisation_id != row.organising_unit_id:
        exists = conn.execute(
            select(_pu.c.programme_id).where(_pu.c.programme_id == row.id, _pu.c.organisation_id == organisation_id)
        ).first()
        if exists is None:
            conn.execute(insert(_pu), {"programme_id": row.id, "organisation_id": organisation_id})
    _note(
        conn,
        row.id,
        actor,
        "organising_unit_added",
        {"organisation_id": organisation_id, "name": org.name, "lead": lead},
        now or clock.now(),
    )
