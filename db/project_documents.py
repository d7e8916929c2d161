"""A project's changeable terms as one JSON document, and where each part is stored.

An adjustment records the project as it was before and after as documents of this shape, so a
history stays readable whichever tables hold the values later:

```
{"project": {"code", "title", "state", "category", "support_modes", "start_date", "end_date",
             "undertaking_unit": {"id", "name", "name_en"},
             "principal_investigator": {"id", "name", "email"} | null, "budget_yuan"},
 "budget": {"total", "lines": [{"source", "head", "amount", "note"}], "by_source": {source: amount}},
 "targets": [{"kind", "description", "measure", "due"}],
 "task_agreement": {"form_version", "data"} | null}
```

Today the budget lines and targets are the task agreement's own tables (its ``budget`` and
``targets`` fields, amounts as text): this module is the one place that reads and writes them,
so moving them to tables of their own changes only the two pairs of functions below.
"""

from __future__ import annotations

from collections.abc import Iterable, Mapping
from datetime import UTC, date, datetime, time
from decimal import Decimal, InvalidOperation
from typing import Any
from zoneinfo import ZoneInfo

from sqlalchemy import Connection, select, update

from grantflow.db.models import Call, Organisation, Project, Submission, User, table
from grantflow.states.adjustments import BudgetLine
from grantflow.states.enums import SubmissionStatus

_p = table(Project)
_c = table(Call)
_s = table(Submission)
_o = table(Organisation)
_u = table(User)

TASK_AGREEMENT = "task_agreement"


def _dec(value: Any) -> Decimal | None:
    if value is None or value == "":
        return None
    try:
        return Decimal(str(value))
    except InvalidOperation:
        return None


def _money(value: Decimal | None) -> str | None:
    return None if value is None else f"{value:.2f}"


def _day(value: datetime | date | None, tz: str) -> str | None:
    if value is None:
        return None
    if isinstance(value, datetime):
        return value.astimezone(ZoneInfo(tz)).date().isoformat()
    return value.isoformat()


def day_start(d: date, tz: str) -> datetime:
    """A calendar date as the stored moment: its local midnight, in UTC."""
    return datetime.combine(d, time(0), tzinfo=ZoneInfo(tz)).astimezone(UTC)


# --- the task agreement --------------------------------------------------------------------------


def task_agreement(conn: Connection, project_id: int) -> Any:
    """The project's submitted task agreement row (id, form_version, data), or None."""
    return conn.execute(
        select(_s.c.id, _s.c.form_version, _s.c.data).where(
            _s.c.project_id == project_id,
            _s.c.form_key == TASK_AGREEMENT,
            _s.c.period.is_(None),
            _s.c.status == SubmissionStatus.SUBMITTED,
        )
    ).one_or_none()


def write_task_agreement(conn: Connection, *, submission_id: int, data: Mapping[str, Any], now: datetime) -> None:
    conn.execute(update(_s).where(_s.c.id == submission_id).values(data=dict(data), updated_at=now))


# --- budget lines and targets (today: inside the task agreement) -----------------------------------


def budget_lines(ta_data: Mapping[str, Any] | None) -> list[BudgetLine]:
    lines = []
    for row in (ta_data or {}).get("budget") or []:
        if not isinstance(row, Mapping):
            continue
        amount = _dec(row.get("amount"))
        if row.get("source") and row.get("head") and amount is not None:
            lines.append(BudgetLine(str(row["source"]), str(row["head"]), amount))
    return lines


def with_budget_lines(ta_data: Mapping[str, Any], lines: Iterable[BudgetLine]) -> dict[str, Any]:
    """The task agreement's data with these budget lines (notes kept) and the total that matches them."""
    notes = {
        (r.get("source"), r.get("head")): r.get("note") for r in ta_data.get("budget") or [] if isinstance(r, Mapping)
    }
    rows = []
    total = Decimal(0)
    for line in lines:
        row: dict[str, Any] = {"source": line.source, "head": line.head, "amount": _money(line.amount)}
        if notes.get((line.source, line.head)):
            row["note"] = notes[(line.source, line.head)]
        rows.append(row)
        total += line.amount
    return {**ta_data, "budget": rows, "total_budget": _money(total)}


def targets(ta_data: Mapping[str, Any] | None) -> list[Any]:
    """The targets as stored; rows of another shape (an older form version's) are kept as they are."""
    return [dict(r) if isinstance(r, Mapping) else r for r in (ta_data or {}).get("targets") or []]


def with_targets(ta_data: Mapping[str, Any], rows: Iterable[Mapping[str, Any]]) -> dict[str, Any]:
    return {**ta_data, "targets": [dict(r) for r in rows]}


def total_budget(ta_data: Mapping[str, Any] | None, fallback: Decimal | None) -> Decimal | None:
    total = _dec((ta_data or {}).get("total_budget"))
    if total is not None:
        return total
    lines = budget_lines(ta_data)
    return sum((b.amount for b in lines), Decimal(0)) if lines else fallback


# --- the whole document ---------------------------------------------------------------------------


def project_row(conn: Connection, project_id: int) -> Any:
    return conn.execute(
        select(
            _p.c.id,
            _p.c.code,
            _p.c.title,
            _p.c.state,
            _p.c.workflow,
            _p.c.version,
            _p.c.category,
            _p.c.support_modes,
            _c.c.support_modes.label("call_support_modes"),
            _p.c.start_date,
            _p.c.end_date,
            _p.c.undertaking_unit_id,
            _p.c.principal_investigator_id,
            _p.c.budget_yuan,
        )
        .select_from(_p.outerjoin(_c, _p.c.call_id == _c.c.id))
        .where(_p.c.id == project_id)
    ).one()


def support_modes(row: Any) -> list[str]:
    """The project's own support modes once re-chosen, else those of its call."""
    chosen = row.support_modes if row.support_modes is not None else row.call_support_modes
    return [str(m) for m in chosen or []]


def snapshot(conn: Connection, project_id: int, *, tz: str) -> dict[str, Any]:
    """The project's changeable terms now, as one JSON document (see the module's docstring)."""
    p = project_row(conn, project_id)
    unit = conn.execute(select(_o.c.id, _o.c.name, _o.c.name_en).where(_o.c.id == p.undertaking_unit_id)).one_or_none()
    pi = (
        conn.execute(select(_u.c.id, _u.c.name, _u.c.email).where(_u.c.id == p.principal_investigator_id)).one_or_none()
        if p.principal_investigator_id is not None
        else None
    )
    ta = task_agreement(conn, project_id)
    data = dict(ta.data or {}) if ta is not None else None
    lines = budget_lines(data)
    by_source: dict[str, Decimal] = {}
    for b in lines:
        by_source[b.source] = by_source.get(b.source, Decimal(0)) + b.amount
    return {
        "project": {
            "code": p.code,
            "title": p.title,
            "state": p.state,
            "category": p.category,
            "support_modes": support_modes(p),
            "start_date": _day(p.start_date, tz),
            "end_date": _day(p.end_date, tz),
            "undertaking_unit": None
            if unit is None
            else {"id": unit.id, "name": unit.name, "name_en": unit.name_en or unit.name},
            "principal_investigator": None if pi is None else {"id": pi.id, "name": pi.name, "email": pi.email},
            "budget_yuan": _money(p.budget_yuan),
        },
        "budget": {
            "total": _money(total_budget(data, p.budget_yuan)),
            "lines": [{"source": b.source, "head": b.head, "amount": _money(b.amount)} for b in lines],
            "by_source": {k: _money(v) for k, v in sorted(by_source.items())},
        },
        "targets": targets(data),
        "task_agreement": None if ta is None else {"form_version": ta.form_version, "data": data},
    }
