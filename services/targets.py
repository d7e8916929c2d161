"""Targets of projects and programmes, results per reporting period, and the programme roll-up.

``replace_project_targets`` / ``replace_programme_targets`` set a subject's targets in the
caller's transaction and return the before and after as JSON (what an adjustment keeps in its
history). Results arrive with the stage reports (``record_report``); each target's achieved
total is rewritten from its results in the same transaction, so roll-ups read one row per
target. The arithmetic is ``states.targets`` (docs/targets-and-funding.md).
"""

from __future__ import annotations

from collections.abc import Iterable, Mapping, Sequence
from dataclasses import dataclass
from datetime import date, datetime
from decimal import Decimal
from typing import Any

from sqlalchemy import Connection, and_, delete, func, insert, select, update

from grantflow.db import audit
from grantflow.db.models import Programme, Project, Target, TargetResult, table
from grantflow.forms.definition import FieldError, FormDefinition
from grantflow.states.amounts import AmountInvalid, from_hundredths, parse, to_hundredths
from grantflow.states.errors import Forbidden, NotFound, PayloadInvalid
from grantflow.states.permissions import Actor
from grantflow.states.targets import (
    CUSTOM,
    DEFAULT_UNITS,
    SET_FORBIDDEN,
    Progress,
    as_percent,
    duplicate_kind_problems,
    kind_label,
    may_set,
    overall,
    target_problems,
)
from grantflow.states.text import Text, join

_t = table(Target)
_tr = table(TargetResult)
_p = table(Project)
_g = table(Programme)


@dataclass(frozen=True)
class TargetIn:
    """One target as a caller gives it; ``id`` keeps an existing target (and its results) when replacing."""

    kind: str
    planned: Any
    description: str = ""
    custom_kind: str | None = None
    unit: str | None = None
    weight: Any = None
    due_on: date | None = None
    id: int | None = None
    description_en: str = ""
    unit_en: str | None = None

    @classmethod
    def of(cls, value: TargetIn | Mapping[str, Any]) -> TargetIn:
        if isinstance(value, TargetIn):
            return value
        due = value.get("due_on")
        return cls(
            kind=str(value.get("kind") or ""),
            planned=value.get("planned"),  # not a workflow state
            description=str(value.get("description") or ""),
            custom_kind=value.get("custom_kind") or None,
            unit=value.get("unit") or None,
            weight=value.get("weight"),
            due_on=date.fromisoformat(due) if isinstance(due, str) and due else (due or None),
            id=int(value["id"]) if value.get("id") is not None else None,
            description_en=str(value.get("description_en") or ""),
            unit_en=value.get("unit_en") or None,
        )


def _invalid(problems: list[Text]) -> PayloadInvalid:
    body = join(problems)
    details: dict[str, object] = {"problems": [p.as_dict() for p in problems]}
    return PayloadInvalid(Text("指标有误：" + body.zh, "Invalid targets: " + body.en), details=details)


def _target_json(r: Any) -> dict[str, Any]:
    return {
        "id": r.id,
        "number": r.position,
        "kind": r.kind,
        "custom_kind": r.custom_kind,
        "description": r.description,
        "description_en": r.description_en,
        "unit": r.unit,
        "unit_en": r.unit_en,
        "planned": str(from_hundredths(r.planned_hundredths)),  # not a workflow state
        "achieved": str(from_hundredths(r.achieved_hundredths)),
        "weight": None if r.weight_hundredths is None else str(from_hundredths(r.weight_hundredths)),
        "due_on": r.due_on.isoformat() if r.due_on else None,
    }


def _active(conn: Connection, *, project_id: int | None, programme_id: int | None) -> list[Any]:
    where = (
        _t.c.project_id == project_id
        if project_id is not None
        else and_(_t.c.programme_id == programme_id, _t.c.project_id.is_(None))
    )
    return list(conn.execute(select(_t).where(where, _t.c.retired_at.is_(None)).order_by(_t.c.position, _t.c.id)))


def snapshot(
    conn: Connection, *, project_id: int | None = None, programme_id: int | None = None
) -> list[dict[str, Any]]:
    """A subject's active targets as plain JSON (amounts as exact decimal strings)."""
    return [_target_json(r) for r in _active(conn, project_id=project_id, programme_id=programme_id)]


def _parse_targets(
    items: Sequence[TargetIn | Mapping[str, Any]],
) -> tuple[list[tuple[TargetIn, int, int | None]], list[Text]]:
    parsed: list[tuple[TargetIn, int, int | None]] = []
    problems: list[Text] = []
    for n, raw in enumerate(items, start=1):
        item = TargetIn.of(raw)
        try:
            planned = parse(item.planned)
            weight = None if item.weight in (None, "") else parse(item.weight)
        except AmountInvalid as exc:
            problems.append(Text(f"第 {n} 项：{exc.text.zh}", f"target {n}: {exc.text.en}"))
            continue
        for p in target_problems(kind=item.kind, custom_kind=item.custom_kind, planned=planned, weight=weight):
            problems.append(Text(f"第 {n} 项：{p.zh}", f"target {n}: {p.en}"))
        parsed.append((item, to_hundredths(planned), None if weight is None else to_hundredths(weight)))
    return parsed, problems


def _replace(
    conn: Connection,
    *,
    programme_id: int,
    project_id: int | None,
    items: Sequence[TargetIn | Mapping[str, Any]],
    actor: Actor,
    now: datetime,
    reason: str | None,
) -> dict[str, Any]:
    organiser = conn.execute(select(_g.c.organising_unit_id).where(_g.c.id == programme_id)).scalar_one()
    if not may_set(actor, organising_unit_id=organiser):
        raise Forbidden([SET_FORBIDDEN])
    parsed, problems = _parse_targets(items)
    if project_id is None:
        problems += duplicate_kind_problems((i.kind, i.custom_kind) for i, _, _ in parsed)
    current = _active(conn, project_id=project_id, programme_id=programme_id)
    known = {r.id for r in current}
    for item, _, _ in parsed:
        if item.id is not None and item.id not in known:
            problems.append(Text(f"指标 {item.id} 不属于此对象", f"target {item.id} does not belong here"))
    if problems:
        raise _invalid(problems)
    before = [_target_json(r) for r in current]
    kept = {item.id for item, _, _ in parsed if item.id is not None}
    retired = [r.id for r in current if r.id not in kept]
    if retired:
        conn.execute(update(_t).where(_t.c.id.in_(retired)).values(retired_at=now))
    for position, (item, planned, weight) in enumerate(parsed, start=1):
        values = {
            "kind": item.kind,
            "custom_kind": (item.custom_kind or "").strip() or None if item.kind == CUSTOM else None,
            "description": item.description.strip() or kind_label(item.kind, item.custom_kind).zh,
            "description_en": item.description_en.strip() or None,
            "unit": item.unit or (DEFAULT_UNITS[item.kind].zh if item.kind in DEFAULT_UNITS else None),
            "unit_en": item.unit_en or (DEFAULT_UNITS[item.kind].en if item.kind in DEFAULT_UNITS else None),
            "planned_hundredths": planned,
            "weight_hundredths": weight,
            "due_on": item.due_on,
            "position": position,
        }
        if item.id is not None:
            conn.execute(update(_t).where(_t.c.id == item.id).values(**values))
        else:
            conn.execute(
                insert(_t),
                {
                    **values,
                    "programme_id": programme_id,
                    "project_id": project_id,
                    "achieved_hundredths": 0,
                    "created_at": now,
                },
            )
    after = snapshot(conn, project_id=project_id, programme_id=programme_id)
    change = {"before": before, "after": after}
    audit.note(
        conn,
        subject="project" if project_id is not None else "programme",
        subject_id=project_id if project_id is not None else programme_id,
        actor=actor,
        action="targets_set",
        payload={**change, "reason": reason},
        now=now,
    )
    return change


def replace_project_targets(
    conn: Connection,
    *,
    project_id: int,
    targets: Sequence[TargetIn | Mapping[str, Any]],
    actor: Actor,
    now: datetime,
    reason: str | None = None,
) -> dict[str, Any]:
    """Set a project's targets (in the caller's transaction); ``{"before": [...], "after": [...]}``.

    A listed ``id`` keeps that target with its results; an unlisted target is retired (kept, with
    its results, out of every roll-up); a target without ``id`` is new."""
    programme = conn.execute(select(_p.c.programme_id).where(_p.c.id == project_id)).scalar_one_or_none()
    if programme is None:
        raise NotFound(Text(f"项目 {project_id} 不存在", f"project {project_id} does not exist"))
    return _replace(
        conn, programme_id=programme, project_id=project_id, items=targets, actor=actor, now=now, reason=reason
    )


def replace_programme_targets(
    conn: Connection,
    *,
    programme_id: int,
    targets: Sequence[TargetIn | Mapping[str, Any]],
    actor: Actor,
    now: datetime,
    reason: str | None = None,
) -> dict[str, Any]:
    """Set a programme's own targets (at most one per kind); same contract as ``replace_project_targets``."""
    if conn.execute(select(_g.c.id).where(_g.c.id == programme_id)).first() is None:
        raise NotFound(Text(f"专项 {programme_id} 不存在", f"programme {programme_id} does not exist"))
    return _replace(
        conn, programme_id=programme_id, project_id=None, items=targets, actor=actor, now=now, reason=reason
    )


# --- results from the stage reports ------------------------------------------------------------------------


def _numbered(conn: Connection, project_id: int) -> dict[int, int]:
    """Target number (as the project page lists them) → target id."""
    return {r.position: r.id for r in _active(conn, project_id=project_id, programme_id=None)}


def report_errors(
    conn: Connection, *, project_id: int, form: FormDefinition, values: Mapping[str, Any]
) -> list[FieldError]:
    """Checks of a report that need the project's targets: every line names one of them, once."""
    if not form.has("results"):
        return []
    numbers = _numbered(conn, project_id)
    errors: list[FieldError] = []
    seen: set[int] = set()
    for i, row in enumerate(values.get("results") or []):
        if not isinstance(row, Mapping) or row.get("target") in (None, ""):
            continue
        n = int(row["target"])
        if n not in numbers:
            shown = ", ".join(str(k) for k in sorted(numbers)) or "—"
            errors.append(
                FieldError(
                    ("results", i, "target"),
                    "unknown_target",
                    Text(
                        f"本项目没有序号为 {n} 的指标（现有：{shown}）",
                        f"the project has no target {n} (it has: {shown})",
                    ),
                )
            )
        elif n in seen:
            errors.append(
                FieldError(
                    ("results", i, "target"),
                    "duplicate_target",
                    Text(f"指标 {n} 填写了两次", f"target {n} appears twice"),
                )
            )
        seen.add(n)
    return errors


def _recompute(conn: Connection, target_ids: Iterable[int]) -> None:
    ids = sorted(set(target_ids))
    if not ids:
        return
    total = (
        select(func.coalesce(func.sum(_tr.c.value_hundredths), 0)).where(_tr.c.target_id == _t.c.id).scalar_subquery()
    )
    conn.execute(update(_t).where(_t.c.id.in_(ids)).values(achieved_hundredths=total))


def record_results(
    conn: Connection,
    *,
    project_id: int,
    form_key: str,
    period: int | None,
    submission_id: int | None,
    rows: Iterable[tuple[int, Any, str | None]],
    now: datetime,
) -> None:
    """The results one report states, by (target id, value, note); a report submitted again replaces
    its earlier lines. Achieved totals of the targets touched are rewritten from their results."""
    key = {"project_id": project_id, "form_key": form_key, "period": period or 0}
    rows_list = list(rows)
    old = list(conn.execute(select(_tr.c.target_id).where(*(getattr(_tr.c, k) == v for k, v in key.items()))).scalars())
    conn.execute(delete(_tr).where(*(getattr(_tr.c, k) == v for k, v in key.items())))
    new = [
        {
            **key,
            "target_id": tid,
            "submission_id": submission_id,
            "value_hundredths": to_hundredths(value),
            "note": note or None,
            "reported_at": now,
        }
        for tid, value, note in rows_list
    ]
    if new:
        conn.execute(insert(_tr), new)
    _recompute(conn, [*old, *(int(tid) for tid, _, _ in rows_list)])


def record_report(
    conn: Connection,
    *,
    project_id: int,
    form: FormDefinition,
    values: Mapping[str, Any],
    submission_id: int | None,
    period: int | None,
    now: datetime,
) -> None:
    """What a submitted stage report says of targets and money, stored where the roll-ups read it."""
    from grantflow.services.funding import record_spending

    if form.has("results"):
        numbers = _numbered(conn, project_id)
        rows = [
            (numbers[int(r["target"])], r["value"], r.get("note"))
            for r in values.get("results") or []
            if isinstance(r, Mapping) and r.get("target") not in (None, "") and int(r["target"]) in numbers
        ]
        record_results(
            conn,
            project_id=project_id,
            form_key=form.key,
            period=period,
            submission_id=submission_id,
            rows=rows,
            now=now,
        )
    if form.has("period_spending"):
        record_spending(
            conn,
            project_id=project_id,
            form_key=form.key,
            period=period,
            submission_id=submission_id,
            rows=[
                (r["source"], r["amount"])
                for r in values.get("period_spending") or []
                if isinstance(r, Mapping) and r.get("source")
            ],
            now=now,
        )


# --- progress and the programme roll-up -----------------------------------------------------------------


@dataclass(frozen=True)
class TargetProgress:
    id: int
    number: int
    kind: str
    custom_kind: str | None
    description: str
    unit: str | None
    planned: Decimal
    achieved: Decimal
    weight: Decimal | None
    percent: Decimal | None

    @property
    def label(self) -> Text:
        return kind_label(self.kind, self.custom_kind)


def project_progress(conn: Connection, *, project_id: int) -> tuple[list[TargetProgress], Decimal | None, bool]:
    """A project's targets with progress, its overall progress (per cent) and whether it is weighted."""
    lines = []
    for r in _active(conn, project_id=project_id, programme_id=None):
        planned, achieved = from_hundredths(r.planned_hundredths), from_hundredths(r.achieved_hundredths)
        weight = None if r.weight_hundredths is None else from_hundredths(r.weight_hundredths)
        lines.append(
            TargetProgress(
                r.id,
                r.position,
                r.kind,
                r.custom_kind,
                r.description,
                r.unit,
                planned,
                achieved,
                weight,
                as_percent(Progress(planned, achieved, weight).share),
            )
        )
    figure, weighted = overall(Progress(t.planned, t.achieved, t.weight) for t in lines)
    return lines, figure, weighted


@dataclass(frozen=True)
class RollupLine:
    """One kind of target in one programme: the programme's own target, what its projects planned and achieved."""

    programme_id: int
    kind: str
    custom_kind: str | None
    programme_planned: Decimal | None
    weight: Decimal | None
    projects: int
    projects_planned: Decimal
    achieved: Decimal
    percent_of_programme_target: Decimal | None
    percent_of_project_targets: Decimal | None

    @property
    def label(self) -> Text:
        return kind_label(self.kind, self.custom_kind)


@dataclass(frozen=True)
class ProgrammeRollup:
    programme_id: int
    lines: list[RollupLine]
    overall_percent: Decimal | None
    weighted: bool


def programme_rollups(conn: Connection, *, programme_id: int | None = None) -> dict[int, ProgrammeRollup]:
    """Every programme's targets rolled up from its projects (one programme if given), by kind.

    Two grouped reads over the targets table (achieved totals are kept on each target), so the
    cost grows with the number of targets, once."""
    live = _t.c.retired_at.is_(None)
    scope = [live] if programme_id is None else [live, _t.c.programme_id == programme_id]
    project_rows = conn.execute(
        select(
            _t.c.programme_id,
            _t.c.kind,
            func.coalesce(_t.c.custom_kind, "").label("custom"),
            func.count(func.distinct(_t.c.project_id)).label("projects"),
            func.sum(_t.c.planned_hundredths).label("planned"),  # not a workflow state
            func.sum(_t.c.achieved_hundredths).label("achieved"),
        )
        .where(*scope, _t.c.project_id.is_not(None))
        .group_by(_t.c.programme_id, _t.c.kind, func.coalesce(_t.c.custom_kind, ""))
    ).all()
    own_rows = conn.execute(
        select(
            _t.c.programme_id,
            _t.c.kind,
            func.coalesce(_t.c.custom_kind, "").label("custom"),
            _t.c.planned_hundredths,
            _t.c.weight_hundredths,
            _t.c.position,
        )
        .where(*scope, _t.c.project_id.is_(None))
        .order_by(_t.c.programme_id, _t.c.position)
    ).all()
    achieved: dict[tuple[int, str, str], Any] = {(r.programme_id, r.kind, r.custom): r for r in project_rows}
    out: dict[int, ProgrammeRollup] = {}
    keys: list[tuple[int, str, str]] = [(r.programme_id, r.kind, r.custom) for r in own_rows]
    keys += sorted(k for k in achieved if k not in set(keys))
    own = {(r.programme_id, r.kind, r.custom): r for r in own_rows}
    lines: dict[int, list[RollupLine]] = {}
    progress: dict[int, list[Progress]] = {}
    for key in keys:
        pid, kind, custom = key
        mine, theirs = own.get(key), achieved.get(key)
        done = from_hundredths(theirs.achieved if theirs else 0)
        planned_by_projects = from_hundredths(theirs.planned if theirs else 0)
        target = from_hundredths(mine.planned_hundredths) if mine else None
        weight = None if mine is None or mine.weight_hundredths is None else from_hundredths(mine.weight_hundredths)
        lines.setdefault(pid, []).append(
            RollupLine(
                programme_id=pid,
                kind=kind,
                custom_kind=custom or None,
                programme_planned=target,
                weight=weight,
                projects=int(theirs.projects) if theirs else 0,
                projects_planned=planned_by_projects,
                achieved=done,
                percent_of_programme_target=as_percent(Progress(target, done).share) if target else None,
                percent_of_project_targets=as_percent(Progress(planned_by_projects, done).share),
            )
        )
        if target:
            progress.setdefault(pid, []).append(Progress(target, done, weight))
    for pid, ls in lines.items():
        figure, weighted = overall(progress.get(pid, []))
        out[pid] = ProgrammeRollup(pid, ls, figure, weighted)
    return out
