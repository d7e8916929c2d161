"""Funding: a project's budget by source and support mode, spending per period, and totals.

``replace_budget`` and ``apply_budget_changes`` set a project's budget in the caller's
transaction and return the before and after as JSON (what an adjustment keeps in its history).
Spending arrives with the stage reports (``services.targets.record_report``). Amounts are whole
fen in the database and Decimal yuan everywhere else (docs/targets-and-funding.md).
"""

from __future__ import annotations

from collections.abc import Iterable, Mapping, Sequence
from dataclasses import dataclass
from datetime import datetime
from decimal import Decimal
from typing import Any

from sqlalchemy import Connection, delete, func, insert, select

from grantflow.db import audit
from grantflow.db.models import BudgetLine, Programme, Project, Spending, table
from grantflow.states.amounts import AmountInvalid, from_hundredths, parse, to_hundredths
from grantflow.states.errors import Forbidden, NotFound, PayloadInvalid
from grantflow.states.funding import line_problems, support_mode_problems
from grantflow.states.permissions import Actor
from grantflow.states.targets import SET_FORBIDDEN, may_set
from grantflow.states.text import Text, join

_b = table(BudgetLine)
_s = table(Spending)
_p = table(Project)
_g = table(Programme)


@dataclass(frozen=True)
class BudgetLineIn:
    source: str
    amount: Any
    support_mode: str | None = None
    head: str | None = None
    note: str | None = None

    @classmethod
    def of(cls, value: BudgetLineIn | Mapping[str, Any]) -> BudgetLineIn:
        if isinstance(value, BudgetLineIn):
            return value
        return cls(
            source=str(value.get("source") or ""),
            amount=value.get("amount"),
            support_mode=value.get("support_mode") or None,
            head=value.get("head") or None,
            note=value.get("note") or None,
        )


def _invalid(problems: list[Text]) -> PayloadInvalid:
    body = join(problems)
    details: dict[str, object] = {"problems": [p.as_dict() for p in problems]}
    return PayloadInvalid(Text("预算有误：" + body.zh, "Invalid budget: " + body.en), details=details)


def _project(conn: Connection, project_id: int) -> Any:
    row = conn.execute(
        select(_p.c.id, _p.c.programme_id, _p.c.category, _g.c.organising_unit_id)
        .select_from(_p.join(_g, _p.c.programme_id == _g.c.id))
        .where(_p.c.id == project_id)
    ).one_or_none()
    if row is None:
        raise NotFound(Text(f"项目 {project_id} 不存在", f"project {project_id} does not exist"))
    return row


def snapshot_budget(conn: Connection, *, project_id: int) -> list[dict[str, Any]]:
    rows = conn.execute(select(_b).where(_b.c.project_id == project_id).order_by(_b.c.position, _b.c.id)).all()
    return [
        {
            "source": r.source,
            "support_mode": r.support_mode,
            "head": r.head,
            "amount": str(from_hundredths(r.amount_fen)),
            "note": r.note,
        }
        for r in rows
    ]


def support_modes_of(conn: Connection, *, project_id: int) -> frozenset[str]:
    """The support modes a project's budget uses: what a category change must re-check."""
    return frozenset(
        conn.execute(
            select(_b.c.support_mode).where(_b.c.project_id == project_id, _b.c.support_mode.is_not(None)).distinct()
        ).scalars()
    )


def category_change_problems(conn: Connection, *, project_id: int, category: str) -> list[Text]:
    """Why the project's budget would not fit ``category`` (empty when it would)."""
    return support_mode_problems(category, sorted(support_modes_of(conn, project_id=project_id)))


def _write(
    conn: Connection,
    *,
    project: Any,
    lines: Sequence[BudgetLineIn],
    actor: Actor,
    now: datetime,
    action: str,
    reason: str | None,
    category: str | None,
) -> dict[str, Any]:
    problems: list[Text] = []
    rows: list[dict[str, Any]] = []
    for n, line in enumerate(lines, start=1):
        try:
            amount = parse(line.amount)
        except AmountInvalid as exc:
            problems.append(Text(f"第 {n} 行：{exc.text.zh}", f"line {n}: {exc.text.en}"))
            continue
        for p in line_problems(
            source=line.source, support_mode=line.support_mode, amount=amount, category=category or project.category
        ):
            problems.append(Text(f"第 {n} 行：{p.zh}", f"line {n}: {p.en}"))
        rows.append(
            {
                "project_id": project.id,
                "programme_id": project.programme_id,
                "source": line.source,
                "support_mode": line.support_mode,
                "head": line.head,
                "amount_fen": to_hundredths(amount),
                "note": line.note,
                "position": n,
                "created_at": now,
            }
        )
    if problems:
        raise _invalid(problems)
    before = snapshot_budget(conn, project_id=project.id)
    conn.execute(delete(_b).where(_b.c.project_id == project.id))
    if rows:
        conn.execute(insert(_b), rows)
    after = snapshot_budget(conn, project_id=project.id)
    change = {"before": before, "after": after}
    audit.note(
        conn,
        subject="project",
        subject_id=project.id,
        actor=actor,
        action=action,
        payload={**change, "reason": reason},
        now=now,
    )
    return change


def replace_budget(
    conn: Connection,
    *,
    project_id: int,
    lines: Sequence[BudgetLineIn | Mapping[str, Any]],
    actor: Actor,
    now: datetime,
    reason: str | None = None,
    category: str | None = None,
) -> dict[str, Any]:
    """Set a project's budget lines (in the caller's transaction); ``{"before": [...], "after": [...]}``.

    Support modes are checked against the project's category, or against ``category`` when a
    category change and a new budget are applied together."""
    project = _project(conn, project_id)
    if not may_set(actor, organising_unit_id=project.organising_unit_id):
        raise Forbidden([SET_FORBIDDEN])
    items = [BudgetLineIn.of(x) for x in lines]
    return _write(
        conn,
        project=project,
        lines=items,
        actor=actor,
        now=now,
        action="budget_set",
        reason=reason,
        category=category,
    )


def apply_budget_changes(
    conn: Connection,
    *,
    project_id: int,
    changes: Sequence[Mapping[str, Any]],
    actor: Actor,
    now: datetime,
    reason: str | None = None,
) -> dict[str, Any]:
    """Add signed amounts to the lines matching (source, head, support mode), creating lines that do
    not exist; a line brought to zero disappears, below zero is refused. Returns before and after."""
    project = _project(conn, project_id)
    if not may_set(actor, organising_unit_id=project.organising_unit_id):
        raise Forbidden([SET_FORBIDDEN])
    current = [BudgetLineIn.of(x) for x in snapshot_budget(conn, project_id=project_id)]
    amounts: dict[tuple[str, str | None, str | None], Decimal] = {}
    notes: dict[tuple[str, str | None, str | None], str | None] = {}
    for line in current:
        key = (line.source, line.head, line.support_mode)
        amounts[key] = amounts.get(key, Decimal(0)) + parse(line.amount)
        notes[key] = line.note
    problems: list[Text] = []
    for n, change in enumerate(changes, start=1):
        key = (str(change.get("source") or ""), change.get("head") or None, change.get("support_mode") or None)
        try:
            delta = parse(change.get("change"))
        except AmountInvalid as exc:
            problems.append(Text(f"第 {n} 项：{exc.text.zh}", f"change {n}: {exc.text.en}"))
            continue
        amounts[key] = amounts.get(key, Decimal(0)) + delta
        if amounts[key] < 0:
            problems.append(
                Text(
                    f"第 {n} 项：调整后金额为负（{amounts[key]} 元）",
                    f"change {n}: the line would become negative ({amounts[key]} yuan)",
                )
            )
    if problems:
        raise _invalid(problems)
    lines = [
        BudgetLineIn(source=k[0], head=k[1], support_mode=k[2], amount=v, note=notes.get(k))
        for k, v in amounts.items()
        if v != 0
    ]
    return _write(
        conn,
        project=project,
        lines=lines,
        actor=actor,
        now=now,
        action="budget_changed",
        reason=reason,
        category=None,
    )


def record_spending(
    conn: Connection,
    *,
    project_id: int,
    form_key: str,
    period: int | None,
    submission_id: int | None,
    rows: Iterable[tuple[str, Any]],
    now: datetime,
) -> None:
    """What one report says was spent per source in its period; a report submitted again replaces it."""
    project = _project(conn, project_id)
    key = {"project_id": project_id, "form_key": form_key, "period": period or 0}
    conn.execute(delete(_s).where(*(getattr(_s.c, k) == v for k, v in key.items())))
    by_source: dict[str, int] = {}
    for source, amount in rows:
        by_source[source] = by_source.get(source, 0) + to_hundredths(amount)
    if by_source:
        conn.execute(
            insert(_s),
            [
                {
                    **key,
                    "programme_id": project.programme_id,
                    "source": source,
                    "submission_id": submission_id,
                    "amount_fen": fen,
                    "reported_at": now,
                }
                for source, fen in by_source.items()
            ],
        )


# --- totals --------------------------------------------------------------------------------------------


@dataclass(frozen=True)
class FundingTotal:
    """Budget and spending of one group (a programme, a category) from one source."""

    group: Any  # programme id, or category
    source: str
    budget: Decimal
    spent: Decimal


@dataclass(frozen=True)
class FundingCells:
    """Budget and spending summed by (programme, category, source[, support mode]) in whole fen: two
    grouped reads from which every funding total is derived, so an overview reads the money once."""

    budget: list[tuple[int, str, str, str | None, int]]  # programme, category, source, support mode, fen
    spent: list[tuple[int, str, str, int]]  # programme, category, source, fen


def funding_cells(conn: Connection, *, programme_id: int | None = None) -> FundingCells:
    scope_b = [] if programme_id is None else [_b.c.programme_id == programme_id]
    scope_s = [] if programme_id is None else [_s.c.programme_id == programme_id]
    budget = conn.execute(
        select(_b.c.programme_id, _p.c.category, _b.c.source, _b.c.support_mode, func.sum(_b.c.amount_fen))
        .select_from(_b.join(_p, _b.c.project_id == _p.c.id))
        .where(*scope_b)
        .group_by(_b.c.programme_id, _p.c.category, _b.c.source, _b.c.support_mode)
    ).all()
    spent = conn.execute(
        select(_s.c.programme_id, _p.c.category, _s.c.source, func.sum(_s.c.amount_fen))
        .select_from(_s.join(_p, _s.c.project_id == _p.c.id))
        .where(*scope_s)
        .group_by(_s.c.programme_id, _p.c.category, _s.c.source)
    ).all()
    return FundingCells(
        [(int(p), str(c), str(s), m, int(f or 0)) for p, c, s, m, f in budget],
        [(int(p), str(c), str(s), int(f or 0)) for p, c, s, f in spent],
    )


def _group(cells: FundingCells, by_programme: bool) -> list[FundingTotal]:
    sums: dict[tuple[Any, str], list[int]] = {}
    for programme, category, source, _mode, fen in cells.budget:
        sums.setdefault((programme if by_programme else category, source), [0, 0])[0] += fen
    for programme, category, source, fen in cells.spent:
        sums.setdefault((programme if by_programme else category, source), [0, 0])[1] += fen
    return [
        FundingTotal(g, source, from_hundredths(b), from_hundredths(s))
        for (g, source), (b, s) in sorted(sums.items(), key=lambda kv: (str(kv[0][0]), kv[0][1]))
    ]


def totals_by_programme(
    conn: Connection, *, programme_id: int | None = None, cells: FundingCells | None = None
) -> list[FundingTotal]:
    return _group(cells or funding_cells(conn, programme_id=programme_id), True)


def totals_by_category(
    conn: Connection, *, programme_id: int | None = None, cells: FundingCells | None = None
) -> list[FundingTotal]:
    """By the project's current category (a category change moves its money with it)."""
    return _group(cells or funding_cells(conn, programme_id=programme_id), False)


def totals_by_support_mode(
    conn: Connection, *, programme_id: int | None = None, cells: FundingCells | None = None
) -> list[tuple[int, str | None, Decimal]]:
    """Budget by programme and support mode (how public and other money is given)."""
    sums: dict[tuple[int, str | None], int] = {}
    for programme, _category, _source, mode, fen in (cells or funding_cells(conn, programme_id=programme_id)).budget:
        sums[(programme, mode)] = sums.get((programme, mode), 0) + fen
    return [(p, m, from_hundredths(f)) for (p, m), f in sums.items()]
