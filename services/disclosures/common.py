"""What every disclosure shares: a line per project (unit, category, selection mode, budget by
funding source, state, key targets and results) and the programme's header.

Each disclosure kind has its own module that chooses the projects and events of its period and
fills ``Line.event``/``Line.note``; the rows they read are loaded here in batches, so a
1,000-project disclosure costs a handful of queries, not thousands.
"""

from __future__ import annotations

from collections import defaultdict
from collections.abc import Iterable, Mapping, Sequence
from dataclasses import dataclass, field
from datetime import datetime
from decimal import Decimal, InvalidOperation
from typing import Any

from sqlalchemy import Connection, select

from grantflow.db.models import AuditEvent, Organisation, Programme, Project, Review, Submission, table
from grantflow.db.workflows import get_registry
from grantflow.forms.definitions.reports import MET, PROGRESS
from grantflow.states.disclosure import KIND_LABELS, Period
from grantflow.states.enums import LABELS, FundingSource, OrgKind, SubmissionStatus
from grantflow.states.text import Text

_p = table(Project)
_o = table(Organisation)
_s = table(Submission)
_e = table(AuditEvent)
_r = table(Review)
_prog = table(Programme)

BATCH = 500
KEY_ITEMS = 3
"""Key targets and results shown per project; the rest are counted ("等 N 项")."""

UNITEMISED = Text("未分来源", "not itemised")


@dataclass
class Line:
    project_id: int
    code: str
    title: str
    unit: str
    category: Text
    selection_mode: Text
    budget: list[tuple[Text, Decimal]]
    total: Decimal | None
    state: Text
    targets: list[str] = field(default_factory=list)
    results: list[str] = field(default_factory=list)
    event: Text | None = None  # what happened in the period (an adjustment, an evaluation decision)
    event_at: datetime | None = None
    note: str = ""  # the recorded reason, a score


@dataclass
class Disclosure:
    kind: str
    programme_id: int
    programme_code: int
    programme: Text
    organiser: str
    publisher: Text
    period: Period
    lines: list[Line]
    columns: Mapping[str, Text] = field(default_factory=dict)  # kind-specific headings (event, note)
    intro: Text = field(default_factory=lambda: Text("", ""))

    @property
    def title(self) -> Text:
        kind = KIND_LABELS[self.kind]
        label = self.period.label()
        return Text(
            f"{self.programme.zh}{label.zh}{kind.zh}公开",
            f"{self.programme.en}: {kind.en}, {label.en}",
        )

    def budget_by_source(self) -> list[tuple[Text, Decimal]]:
        totals: dict[Text, Decimal] = defaultdict(Decimal)
        for line in self.lines:
            for source, amount in line.budget:
                totals[source] += amount
        order = [LABELS[s] for s in FundingSource] + [UNITEMISED]
        return [(t, totals[t]) for t in order if totals.get(t)]

    def projects_by_state(self) -> list[tuple[Text, int]]:
        counts: dict[Text, int] = defaultdict(int)
        seen: set[int] = set()
        for line in self.lines:
            if line.project_id not in seen:
                seen.add(line.project_id)
                counts[line.state] += 1
        return sorted(counts.items(), key=lambda kv: -kv[1])

    @property
    def project_count(self) -> int:
        return len({line.project_id for line in self.lines})

    @property
    def total_budget(self) -> Decimal:
        return sum((a for _, a in self.budget_by_source()), Decimal(0))


def programme_header(conn: Connection, programme_id: int) -> tuple[int, Text, str, Text]:
    """The programme's code and name, its organising unit, and the publishing office."""
    prog = conn.execute(select(_prog).where(_prog.c.id == programme_id)).one()
    organiser = ""
    if prog.organising_unit_id is not None:
        organiser = conn.execute(select(_o.c.name).where(_o.c.id == prog.organising_unit_id)).scalar_one()
    office = conn.execute(
        select(_o.c.name, _o.c.name_en).where(_o.c.kind == OrgKind.OFFICE).order_by(_o.c.id).limit(1)
    ).one_or_none()
    publisher = Text(office.name, office.name_en or office.name) if office else Text("领导小组办公室", "the office")
    return prog.code, Text(prog.name, prog.name_en), organiser, publisher


def _chunks(ids: Sequence[int]) -> Iterable[Sequence[int]]:
    for i in range(0, len(ids), BATCH):
        yield ids[i : i + BATCH]


def _amount(value: Any) -> Decimal | None:
    try:
        return Decimal(str(value)) if value not in (None, "") else None
    except InvalidOperation:
        return None


def _budget(data: Mapping[str, Any]) -> list[tuple[Text, Decimal]]:
    sums: dict[str, Decimal] = defaultdict(Decimal)
    for row in data.get("budget") or []:
        if not isinstance(row, Mapping):
            continue
        amount = _amount(row.get("amount"))
        if amount is not None and row.get("source") in LABELS:
            sums[str(row["source"])] += amount
    return [(LABELS[s], sums[s]) for s in FundingSource if sums.get(s)]


def _items(rows: Any, fmt: Any) -> list[str]:
    out = [fmt(r) for r in rows or [] if isinstance(r, Mapping)]
    out = [x for x in out if x]
    if len(out) > KEY_ITEMS:
        return [*out[:KEY_ITEMS], f"等{len(out)}项"]
    return out


def _targets(data: Mapping[str, Any]) -> list[str]:
    return _items(
        data.get("targets"),
        lambda r: "：".join(str(x) for x in (r.get("description"), r.get("measure")) if x),
    )


_MET = {o.value: o.label.zh for o in MET}
_PROGRESS = {o.value: o.label.zh for o in PROGRESS}


def _results(form_key: str, data: Mapping[str, Any]) -> list[str]:
    """Key results from the most recent stage report (what the unit reported, not a judgement)."""
    if form_key == "acceptance_report":
        out = _items(
            data.get("targets_achieved"),
            lambda r: f"{r.get('target', '')}：{r.get('achieved', '')}（{_MET.get(str(r.get('met')), '')}）",
        )
        counts = [("技术标准", "standards_formed"), ("专利申请", "patents_filed"), ("授权专利", "patents_granted")]
    elif form_key == "midterm_report":
        out = _items(
            data.get("targets_progress"),
            lambda r: f"{r.get('target', '')}：{_PROGRESS.get(str(r.get('status')), '')}",
        )
        counts = [("起草标准", "standards_drafted"), ("专利申请", "patents_filed"), ("培养人才", "people_trained")]
    else:
        out = []
        counts = [("标准发布/采用", "standards_adopted"), ("授权专利", "patents_granted"), ("带动就业", "jobs")]
        revenue = _amount(data.get("revenue"))
        if revenue:
            out.append(f"成果转化收入{revenue / 10_000:,.2f}万元")
    out.extend(f"{name}{data[key]}项" for name, key in counts if isinstance(data.get(key), int) and data[key])
    return out


def latest_submissions(
    conn: Connection, project_ids: Sequence[int], form_keys: Sequence[str], *, before: datetime | None = None
) -> dict[int, tuple[str, dict[str, Any]]]:
    """Per project, the most recently submitted of these forms (submitted before ``before``)."""
    out: dict[int, tuple[str, datetime, dict[str, Any]]] = {}
    for chunk in _chunks(list(project_ids)):
        stmt = select(_s.c.project_id, _s.c.form_key, _s.c.submitted_at, _s.c.data).where(
            _s.c.project_id.in_(chunk), _s.c.form_key.in_(list(form_keys)), _s.c.status == SubmissionStatus.SUBMITTED
        )
        if before is not None:
            stmt = stmt.where(_s.c.submitted_at < before)
        for r in conn.execute(stmt):
            seen = out.get(r.project_id)
            if seen is None or r.submitted_at > seen[1]:
                out[r.project_id] = (r.form_key, r.submitted_at, dict(r.data or {}))
    return {pid: (key, data) for pid, (key, _, data) in out.items()}


def states_at(conn: Connection, project_ids: Sequence[int], moment: datetime) -> dict[int, str]:
    """Each project's state at ``moment``, replayed from the audit chain (the last state change before it)."""
    out: dict[int, tuple[int, str]] = {}
    for chunk in _chunks(list(project_ids)):
        rows = conn.execute(
            select(_e.c.id, _e.c.subject_id, _e.c.to_state).where(
                _e.c.subject == "project",
                _e.c.subject_id.in_(chunk),
                _e.c.to_state.is_not(None),
                _e.c.created_at < moment,
            )
        )
        for r in rows:
            if r.subject_id not in out or r.id > out[r.subject_id][0]:
                out[r.subject_id] = (r.id, r.to_state)
    return {pid: state for pid, (_, state) in out.items()}


def mean_scores(conn: Connection, project_ids: Sequence[int], stage: str) -> dict[int, Decimal]:
    sums: dict[int, list[Decimal]] = defaultdict(list)
    for chunk in _chunks(list(project_ids)):
        for r in conn.execute(
            select(_r.c.project_id, _r.c.score).where(
                _r.c.project_id.in_(chunk), _r.c.stage == stage, _r.c.submitted_at.is_not(None)
            )
        ):
            if r.score is not None:
                sums[r.project_id].append(Decimal(r.score))
    return {pid: (sum(v, Decimal(0)) / len(v)).quantize(Decimal("0.1")) for pid, v in sums.items() if v}


def project_lines(
    conn: Connection,
    project_ids: Sequence[int],
    *,
    at: datetime,
    with_results: bool = False,
    result_forms: Sequence[str] = ("acceptance_report", "midterm_report"),
) -> dict[int, Line]:
    """One line per project as it stood at ``at``: budget and targets from the task agreement
    (else the proposal), state replayed from the audit chain, results from the latest report."""
    ids = sorted(set(project_ids))
    if not ids:
        return {}
    registry = get_registry()
    units = {r.id: r.name for r in conn.execute(select(_o.c.id, _o.c.name))}
    agreements = latest_submissions(conn, ids, ("task_agreement",), before=at)
    proposals = latest_submissions(conn, ids, ("proposal",), before=at)
    results = latest_submissions(conn, ids, result_forms, before=at) if with_results else {}
    states = states_at(conn, ids, at)
    lines: dict[int, Line] = {}
    for chunk in _chunks(ids):
        for p in conn.execute(select(_p).where(_p.c.id.in_(chunk))):
            plan = agreements.get(p.id) or proposals.get(p.id)
            data = plan[1] if plan else {}
            budget = _budget(data)
            total = _amount(data.get("total_budget")) or p.budget_yuan
            if not budget and total:
                budget = [(UNITEMISED, Decimal(total))]
            state = states.get(p.id, p.state)
            wf = registry.get(p.workflow) if p.workflow in registry else None
            lines[p.id] = Line(
                project_id=p.id,
                code=p.code,
                title=p.title,
                unit=units.get(p.undertaking_unit_id, ""),
                category=LABELS.get(p.category, Text(p.category, p.category)),
                selection_mode=LABELS.get(p.selection_mode, Text(p.selection_mode, p.selection_mode)),
                budget=budget,
                total=Decimal(total) if total is not None else None,
                state=wf.state_label(state) if wf else Text(state, state),
                targets=_targets(agreements[p.id][1]) if p.id in agreements else [],
                results=_results(*results[p.id]) if p.id in results else [],
            )
    return lines


def events_in(conn: Connection, programme_id: int, actions: Iterable[str], start: datetime, end: datetime) -> list[Any]:
    """Project events of a programme with these actions in [start, end), oldest first."""
    return list(
        conn.execute(
            select(_e.c.id, _e.c.subject_id, _e.c.action, _e.c.payload, _e.c.created_at, _e.c.to_state)
            .join(_p, _p.c.id == _e.c.subject_id)
            .where(
                _e.c.subject == "project",
                _e.c.action.in_(list(actions)),
                _e.c.created_at >= start,
                _e.c.created_at < end,
                _p.c.programme_id == programme_id,
            )
            .order_by(_e.c.id)
        )
    )
