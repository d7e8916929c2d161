"""The office overview: every figure the office follows, each as a table with a chart.

Each table is built by one function from grouped reads (no per-project round trips), so the
whole overview over a hundred thousand projects stays within a second. The same tables, row for
row, are what the exports write (``services.exports``). Who may see them is
``states.overview.may_view_overview``; what counts as started on time or as an adjustment is
``states.overview`` too (docs/targets-and-funding.md, "Overview").
"""

from __future__ import annotations

from collections.abc import Callable, Iterable, Iterator
from dataclasses import dataclass, field
from datetime import date, datetime
from decimal import Decimal
from typing import Any
from zoneinfo import ZoneInfo

from sqlalchemy import Connection, Engine, and_, case, func, literal, or_, select

from grantflow.config import get_settings
from grantflow.db.models import (
    Adjustment,
    AuditEvent,
    BudgetLine,
    Complaint,
    DueItem,
    EvaluationAssignment,
    EvaluationResult,
    Organisation,
    Programme,
    Project,
    Spending,
    Target,
    UTCDateTime,
    table,
)
from grantflow.db.workflows import get_registry
from grantflow.services.funding import (
    FundingCells,
    funding_cells,
    totals_by_category,
    totals_by_programme,
    totals_by_support_mode,
)
from grantflow.services.targets import ProgrammeRollup, programme_rollups
from grantflow.states.adjustments import KIND_LABELS as ADJUSTMENT_KIND_LABELS
from grantflow.states.amounts import from_hundredths, percent
from grantflow.states.deadlines import DUE_KIND_LABELS, form_label
from grantflow.states.enums import LABELS
from grantflow.states.errors import Forbidden, NotFound
from grantflow.states.evaluation import GRADE_LABELS, STAGES, SUBJECTS
from grantflow.states.funding import source_label, support_mode_label
from grantflow.states.overview import (
    LIVE_DUE_STATUSES,
    OVERVIEW_FORBIDDEN,
    START_TRIGGER,
    may_view_overview,
    quarter_starts,
    start_deadline,
)
from grantflow.states.permissions import Actor
from grantflow.states.targets import Progress, overall
from grantflow.states.text import Text

_p = table(Project)
_g = table(Programme)
_o = table(Organisation)
_e = table(AuditEvent)
_adj = table(Adjustment)
_due = table(DueItem)
_cp = table(Complaint)
_b = table(BudgetLine)
_s = table(Spending)
_t = table(Target)
_ea = table(EvaluationAssignment)
_er = table(EvaluationResult)

TEXT, INT, DECIMAL, PERCENT, DATE = "text", "int", "decimal", "percent", "date"
YES, NO = Text("是", "yes"), Text("否", "no")


@dataclass(frozen=True)
class Column:
    key: str
    label: Text
    type: str = TEXT  # text | int | decimal | percent (a number of per cent) | date


@dataclass
class Chart:
    """What to draw: one bar per category, split into series when stacked."""

    categories: list[str]
    series: list[tuple[str, list[Decimal]]]
    stacked: bool = False
    percent: bool = False


@dataclass
class OverviewTable:
    name: str
    title: Text
    columns: list[Column]
    rows: list[tuple[Any, ...]]
    chart: Chart | None = None
    note: Text | None = None
    total_rows: int | None = None  # detail tables show a first page; the export has every row
    detail: bool = False


@dataclass(frozen=True)
class Scope:
    """Who asks, in which language, as of when, for which programme (None: all of them)."""

    lang: str
    now: datetime
    programme_id: int | None = None
    zone: str = field(default_factory=lambda: get_settings().timezone)
    # reads several tables share (the money, the target roll-ups), made once per overview
    memo: dict[str, Any] = field(default_factory=dict, compare=False, hash=False, repr=False)

    def once(self, key: str, read: Callable[[], Any]) -> Any:
        if key not in self.memo:
            self.memo[key] = read()
        return self.memo[key]

    def where(self, column: Any) -> list[Any]:
        return [] if self.programme_id is None else [column == self.programme_id]

    def day(self, moment: datetime | None) -> date | None:
        return None if moment is None else moment.astimezone(ZoneInfo(self.zone)).date()


TITLES: dict[str, Text] = {
    "projects_by_state": Text("各专项项目状态", "Projects by state and programme"),
    "started_on_time": Text("按时启动情况", "Share started on time"),
    "overdue": Text("逾期事项", "Overdue items"),
    "adjustments": Text("动态调整（按类别）", "Adjustments by kind"),
    "complaints": Text("评审投诉", "Complaints"),
    "funding_by_programme": Text("经费来源结构（按专项）", "Funding mix by programme"),
    "funding_by_category": Text("经费来源结构（按类别）", "Funding mix by category"),
    "funding_by_support_mode": Text("支持方式", "Budget by support mode"),
    "target_progress": Text("指标完成进度", "Target progress"),
    "programme_progress": Text("专项总体完成率", "Programme progress"),
    "overdue_items": Text("逾期事项清单", "Overdue items, one by one"),
    "evaluation_results": Text("第三方评估结果", "Third-party evaluation results"),
    "projects": Text("项目一览", "Project register"),
}
"""Every overview table by name, with its title (the page's headings, the sheets' names)."""


def table_title(name: str) -> Text:
    return TITLES[name]


def require_overview(actor: Actor) -> None:
    if not may_view_overview(actor):
        raise Forbidden([OVERVIEW_FORBIDDEN])


def programme_for_code(conn: Connection, code: int | None) -> int | None:
    """The programme's id from its number (1–12), as people name programmes."""
    if code is None:
        return None
    pid = conn.execute(select(_g.c.id).where(_g.c.code == code)).scalar_one_or_none()
    if pid is None:
        raise NotFound(Text(f"专项 {code} 不存在", f"programme {code} does not exist"))
    return int(pid)


def programme_names(conn: Connection, scope: Scope) -> dict[int, str]:
    rows = conn.execute(select(_g.c.id, _g.c.code, _g.c.name, _g.c.name_en).order_by(_g.c.code)).all()
    return {
        r.id: f"{r.code} {r.name_en if scope.lang == 'en' and r.name_en else r.name}"
        for r in rows
        if scope.programme_id is None or r.id == scope.programme_id
    }


def programme_choices(conn: Connection, lang: str) -> list[tuple[int, str]]:
    """(number, name) of every programme, for a filter."""
    rows = conn.execute(select(_g.c.code, _g.c.name, _g.c.name_en).order_by(_g.c.code)).all()
    return [(int(r.code), f"{r.code} {r.name_en if lang == 'en' and r.name_en else r.name}") for r in rows]


PROGRAMME = Column("programme", Text("专项", "Programme"))


# --- projects by state and programme ------------------------------------------------------------------


def projects_by_state(conn: Connection, scope: Scope) -> OverviewTable:
    registry = get_registry()
    rows = conn.execute(
        select(_p.c.programme_id, _p.c.workflow, _p.c.state, func.count())
        .where(*scope.where(_p.c.programme_id))
        .group_by(_p.c.programme_id, _p.c.workflow, _p.c.state)
    ).all()
    # states in the order of the workflows in force (the standard one first), then anything stored
    order: dict[str, Text] = {}
    for wf in registry:
        if wf.subject == "project":
            for name, st in wf.states.items():
                order.setdefault(name, st.label)
    present = {r.state for r in rows}
    states = [s for s in order if s in present] + sorted(present - set(order))
    counts: dict[int, dict[str, int]] = {}
    for pid, _workflow, state, n in rows:
        counts.setdefault(pid, {})
        counts[pid][state] = counts[pid].get(state, 0) + int(n)
    names = programme_names(conn, scope)
    label = {s: (order[s] if s in order else Text(s, s)).get(scope.lang) for s in states}
    columns = [
        PROGRAMME,
        *(Column(f"state:{s}", order.get(s, Text(s, s)), INT) for s in states),
        Column("total", Text("合计", "Total"), INT),
    ]
    table_rows: list[tuple[Any, ...]] = []
    for pid, name in names.items():
        c = counts.get(pid, {})
        if c:
            table_rows.append((name, *(c.get(s, 0) for s in states), sum(c.values())))
    chart = Chart(
        categories=[r[0] for r in table_rows],
        series=[(label[s], [Decimal(r[i + 1]) for r in table_rows]) for i, s in enumerate(states)],
        stacked=True,
    )
    return OverviewTable("projects_by_state", table_title("projects_by_state"), columns, table_rows, chart)


# --- share started on time ------------------------------------------------------------------------------


def _start_tally(conn: Connection, scope: Scope) -> dict[int, list[int]]:
    """Per programme: [due to have started, started, on time, late or not started], counted by the
    database. A project is on time if it started before the first quarter boundary after its
    planned start (``states.overview.quarter_starts``); a CASE over those boundaries finds it."""
    span = conn.execute(
        select(func.min(_p.c.start_date), func.max(_p.c.start_date)).where(*scope.where(_p.c.programme_id))
    ).one()
    if span[0] is None:
        return {}
    boundaries = quarter_starts(span[0], span[1], scope.zone)
    deadline = case(
        *((_p.c.start_date < b, literal(b, UTCDateTime())) for b in boundaries),
        else_=literal(boundaries[-1], UTCDateTime()),
    )
    started = (
        select(_e.c.subject_id.label("pid"), func.min(_e.c.created_at).label("at"))
        .where(_e.c.action == START_TRIGGER, _e.c.subject == "project")
        .group_by(_e.c.subject_id)
        .subquery()
    )
    each = (
        select(_p.c.programme_id.label("programme"), started.c.at.label("at"), deadline.label("boundary"))
        .select_from(_p.outerjoin(started, started.c.pid == _p.c.id))
        .where(_p.c.start_date.is_not(None), *scope.where(_p.c.programme_id))
        .subquery()
    )
    now = literal(scope.now, UTCDateTime())
    began, due_now = each.c.at.is_not(None), now >= each.c.boundary
    one = literal(1)
    rows = conn.execute(
        select(
            each.c.programme,
            func.sum(case((or_(began, due_now), one), else_=0)),
            func.sum(case((began, one), else_=0)),
            func.sum(case((and_(began, each.c.at < each.c.boundary), one), else_=0)),
            func.sum(case((or_(and_(~began, due_now), each.c.at >= each.c.boundary), one), else_=0)),
        ).group_by(each.c.programme)
    ).all()
    return {int(r[0]): [int(v or 0) for v in r[1:]] for r in rows if r[1]}


def started_on_time(conn: Connection, scope: Scope) -> OverviewTable:
    tally = _start_tally(conn, scope)
    names = programme_names(conn, scope)
    rows: list[tuple[Any, ...]] = [
        (names[pid], *tally[pid], percent(tally[pid][2], tally[pid][0])) for pid in names if pid in tally
    ]
    if rows:
        totals = [sum(r[i] for r in rows) for i in range(1, 5)]
        rows.append((Text("全部", "All").get(scope.lang), *totals, percent(totals[2], totals[0])))
    columns = [
        PROGRAMME,
        Column("due", Text("应已启动", "Due to have started"), INT),
        Column("started", Text("已启动", "Started"), INT),
        Column("on_time", Text("按时启动", "Started on time"), INT),
        Column("late", Text("延迟或未启动", "Late or not started"), INT),
        Column("share", Text("按时启动率（%）", "Share on time (%)"), PERCENT),
    ]
    chart = Chart(
        categories=[r[0] for r in rows],
        series=[(Text("按时启动率", "share on time").get(scope.lang), [r[5] or Decimal(0) for r in rows])],
        percent=True,
    )
    note = Text(
        "签订任务书即为启动；计划开始日期所在季度结束前启动为按时",
        "a project starts when its task agreement is signed; on time means by the end of the quarter it was planned "
        "to start in",
    )
    return OverviewTable("started_on_time", table_title("started_on_time"), columns, rows, chart, note=note)


# --- overdue items ------------------------------------------------------------------------------------------


def _overdue_filter(scope: Scope) -> list[Any]:
    return [_due.c.status.in_(LIVE_DUE_STATUSES), _due.c.due_at < scope.now, _due.c.subject == "project"]


def overdue_summary(conn: Connection, scope: Scope) -> OverviewTable:
    rows = conn.execute(
        select(_p.c.programme_id, _due.c.kind, func.count(), func.min(_due.c.due_at))
        .select_from(_due.join(_p, _p.c.id == _due.c.subject_id))
        .where(*_overdue_filter(scope), *scope.where(_p.c.programme_id))
        .group_by(_p.c.programme_id, _due.c.kind)
    ).all()
    names = programme_names(conn, scope)
    kinds = sorted({r[1] for r in rows})
    by: dict[tuple[int, str], tuple[int, datetime]] = {(r[0], r[1]): (int(r[2]), r[3]) for r in rows}
    out = []
    for pid, name in names.items():
        for kind in kinds:
            if (pid, kind) in by:
                n, oldest = by[(pid, kind)]
                oldest = oldest if oldest.tzinfo else oldest.replace(tzinfo=scope.now.tzinfo)
                out.append(
                    (
                        name,
                        DUE_KIND_LABELS.get(kind, Text(kind, kind)).get(scope.lang),
                        n,
                        scope.day(oldest),
                        (scope.now - oldest).days,
                    )
                )
    columns = [
        PROGRAMME,
        Column("kind", Text("事项类别", "Kind"), TEXT),
        Column("overdue", Text("逾期数", "Overdue"), INT),
        Column("oldest_due", Text("最早截止日", "Oldest due date"), DATE),
        Column("max_days", Text("最长逾期天数", "Most days overdue"), INT),
    ]
    programmes = [n for n in names.values() if any(r[0] == n for r in out)]
    kind_labels = [DUE_KIND_LABELS.get(k, Text(k, k)).get(scope.lang) for k in kinds]
    chart = Chart(
        categories=programmes,
        series=[
            (kl, [Decimal(next((r[2] for r in out if r[0] == p and r[1] == kl), 0)) for p in programmes])
            for kl in kind_labels
        ],
        stacked=True,
    )
    return OverviewTable("overdue", table_title("overdue"), columns, out, chart)


def overdue_items(conn: Connection, scope: Scope) -> tuple[list[Column], Iterator[tuple[Any, ...]]]:
    names = programme_names(conn, scope)
    stmt = (
        select(
            _p.c.code,
            _p.c.title,
            _p.c.programme_id,
            _due.c.kind,
            _due.c.form_key,
            _due.c.stage,
            _due.c.label,
            _due.c.period,
            _due.c.due_at,
        )
        .select_from(_due.join(_p, _p.c.id == _due.c.subject_id))
        .where(*_overdue_filter(scope), *scope.where(_p.c.programme_id))
        .order_by(_due.c.due_at, _due.c.id)
    )
    columns = [
        Column("code", Text("项目编号", "Project code")),
        Column("title", Text("项目名称", "Project title")),
        PROGRAMME,
        Column("kind", Text("事项类别", "Kind")),
        Column("what", Text("事项", "Item")),
        Column("period", Text("期次", "Period"), INT),
        Column("due", Text("截止日", "Due date"), DATE),
        Column("days", Text("逾期天数", "Days overdue"), INT),
    ]

    def rows() -> Iterator[tuple[Any, ...]]:
        for r in conn.execution_options(yield_per=2000).execute(stmt):
            due = r.due_at if r.due_at.tzinfo else r.due_at.replace(tzinfo=scope.now.tzinfo)
            if r.label:
                what = Text(str(r.label.get("zh", "")), str(r.label.get("en", ""))).get(scope.lang)
            elif r.form_key:
                what = form_label(r.form_key).get(scope.lang)
            else:
                what = r.stage or ""
            yield (
                r.code,
                r.title,
                names.get(r.programme_id, ""),
                DUE_KIND_LABELS.get(r.kind, Text(r.kind, r.kind)).get(scope.lang),
                what,
                r.period,
                scope.day(due),
                (scope.now - due).days,
            )

    return columns, rows()


# --- adjustments ------------------------------------------------------------------------------------------


def adjustments(conn: Connection, scope: Scope) -> OverviewTable:
    """Applied dynamic adjustments by programme and kind, from the adjustment records."""
    rows = conn.execute(
        select(_adj.c.programme_id, _adj.c.kind, func.count())
        .where(_adj.c.applied_at.is_not(None), *scope.where(_adj.c.programme_id))
        .group_by(_adj.c.programme_id, _adj.c.kind)
    ).all()
    by = {(r[0], r[1]): int(r[2]) for r in rows}
    names = programme_names(conn, scope)
    kinds = [k for k in ADJUSTMENT_KIND_LABELS if any(kind == k for _, kind in by)]
    out: list[tuple[Any, ...]] = [
        (name, *(by.get((pid, k), 0) for k in kinds), sum(by.get((pid, k), 0) for k in kinds))
        for pid, name in names.items()
        if any((pid, k) in by for k in kinds)
    ]
    columns = [
        PROGRAMME,
        *(Column(f"kind:{k}", ADJUSTMENT_KIND_LABELS[k], INT) for k in kinds),
        Column("total", Text("合计", "Total"), INT),
    ]
    chart = Chart(
        categories=[r[0] for r in out],
        series=[
            (ADJUSTMENT_KIND_LABELS[k].get(scope.lang), [Decimal(r[i + 1]) for r in out]) for i, k in enumerate(kinds)
        ],
        stacked=True,
    )
    note = Text("按已执行的动态调整申请统计", "counted from the dynamic-adjustment requests applied")
    return OverviewTable("adjustments", table_title("adjustments"), columns, out, chart, note=note)


# --- complaints -------------------------------------------------------------------------------------------


def complaints(conn: Connection, scope: Scope) -> OverviewTable:
    rows = conn.execute(
        select(
            _p.c.programme_id,
            func.count(),
            func.sum(case((_cp.c.answered_at.is_(None), 1), else_=0)),
        )
        .select_from(_cp.join(_p, _p.c.id == _cp.c.project_id))
        .where(*scope.where(_p.c.programme_id))
        .group_by(_p.c.programme_id)
    ).all()
    by = {r[0]: (int(r[1]), int(r[2] or 0)) for r in rows}
    names = programme_names(conn, scope)
    out = [(name, by[pid][0], by[pid][1], by[pid][0] - by[pid][1]) for pid, name in names.items() if pid in by]
    columns = [
        PROGRAMME,
        Column("filed", Text("投诉总数", "Filed"), INT),
        Column("open", Text("待答复", "Open"), INT),  # not a workflow state
        Column("answered", Text("已答复", "Answered"), INT),
    ]
    chart = Chart(
        categories=[r[0] for r in out],
        series=[
            (Text("待答复", "open").get(scope.lang), [Decimal(r[2]) for r in out]),  # not a workflow state
            (Text("已答复", "answered").get(scope.lang), [Decimal(r[3]) for r in out]),
        ],
        stacked=True,
    )
    return OverviewTable("complaints", table_title("complaints"), columns, out, chart)


# --- funding ----------------------------------------------------------------------------------------------


def _cells(conn: Connection, scope: Scope) -> FundingCells:
    cells: FundingCells = scope.once("funding", lambda: funding_cells(conn, programme_id=scope.programme_id))
    return cells


def _rollups(conn: Connection, scope: Scope) -> dict[int, ProgrammeRollup]:
    rollups: dict[int, ProgrammeRollup] = scope.once(
        "rollups", lambda: programme_rollups(conn, programme_id=scope.programme_id)
    )
    return rollups


MONEY_COLUMNS = [
    Column("budget", Text("预算（元）", "Budget (yuan)"), DECIMAL),
    Column("spent", Text("已支出（元）", "Spent (yuan)"), DECIMAL),
    Column("spent_share", Text("支出比例（%）", "Spent (%)"), PERCENT),
]


def _mix_chart(groups: list[str], rows: list[tuple[Any, ...]], lang: str) -> Chart:
    sources = list(dict.fromkeys(r[1] for r in rows))
    return Chart(
        categories=groups,
        series=[
            (s, [sum((r[2] for r in rows if r[0] == g and r[1] == s), Decimal(0)) for g in groups]) for s in sources
        ],
        stacked=True,
    )


def funding_by_programme(conn: Connection, scope: Scope) -> OverviewTable:
    names = programme_names(conn, scope)
    totals = totals_by_programme(conn, cells=_cells(conn, scope))
    out = [
        (names[t.group], source_label(t.source).get(scope.lang), t.budget, t.spent, percent(t.spent, t.budget))
        for pid in names
        for t in totals
        if t.group == pid
    ]
    columns = [PROGRAMME, Column("source", Text("经费来源", "Funding source")), *MONEY_COLUMNS]
    chart = _mix_chart([n for n in names.values() if any(r[0] == n for r in out)], out, scope.lang)
    return OverviewTable("funding_by_programme", table_title("funding_by_programme"), columns, out, chart)


def funding_by_category(conn: Connection, scope: Scope) -> OverviewTable:
    totals = totals_by_category(conn, cells=_cells(conn, scope))
    out = [
        (
            LABELS.get(t.group, Text(str(t.group), str(t.group))).get(scope.lang),
            source_label(t.source).get(scope.lang),
            t.budget,
            t.spent,
            percent(t.spent, t.budget),
        )
        for t in totals
    ]
    columns = [
        Column("category", Text("项目类别", "Category")),
        Column("source", Text("经费来源", "Funding source")),
        *MONEY_COLUMNS,
    ]
    chart = _mix_chart(list(dict.fromkeys(r[0] for r in out)), out, scope.lang)
    return OverviewTable("funding_by_category", table_title("funding_by_category"), columns, out, chart)


def funding_by_support_mode(conn: Connection, scope: Scope) -> OverviewTable:
    names = programme_names(conn, scope)
    totals = totals_by_support_mode(conn, cells=_cells(conn, scope))
    out = [
        (names[pid], support_mode_label(mode).get(scope.lang), amount)
        for p in names
        for pid, mode, amount in sorted(totals, key=lambda x: (x[0], x[1] or ""))
        if pid == p
    ]
    columns = [PROGRAMME, Column("mode", Text("支持方式", "Support mode")), MONEY_COLUMNS[0]]
    modes = list(dict.fromkeys(r[1] for r in out))
    chart = Chart(
        categories=modes,
        series=[
            (Text("预算", "budget").get(scope.lang), [sum((r[2] for r in out if r[1] == m), Decimal(0)) for m in modes])
        ],
    )
    return OverviewTable("funding_by_support_mode", table_title("funding_by_support_mode"), columns, out, chart)


# --- targets ----------------------------------------------------------------------------------------------


def target_progress(conn: Connection, scope: Scope) -> OverviewTable:
    names = programme_names(conn, scope)
    rollups = _rollups(conn, scope)
    out = [
        (
            names[pid],
            line.label.get(scope.lang),
            line.programme_planned,
            line.weight,
            line.projects,
            line.projects_planned,
            line.achieved,
            line.percent_of_programme_target,
            line.percent_of_project_targets,
        )
        for pid in names
        if pid in rollups
        for line in rollups[pid].lines
    ]
    columns = [
        PROGRAMME,
        Column("kind", Text("指标类别", "Kind")),
        Column("programme_target", Text("专项目标值", "Programme target"), DECIMAL),
        Column("weight", Text("权重", "Weight"), DECIMAL),
        Column("projects", Text("项目数", "Projects"), INT),
        Column("projects_planned", Text("项目考核值合计", "Planned by projects"), DECIMAL),
        Column("achieved", Text("已完成", "Achieved"), DECIMAL),
        Column("of_programme", Text("专项目标完成率（%）", "Of programme target (%)"), PERCENT),
        Column("of_projects", Text("项目指标完成率（%）", "Of project targets (%)"), PERCENT),
    ]
    overall_rows = [(names[pid], rollups[pid].overall_percent) for pid in names if pid in rollups]
    chart = Chart(
        categories=[r[0] for r in overall_rows],
        series=[
            (Text("专项目标总体完成率", "overall progress").get(scope.lang), [r[1] or Decimal(0) for r in overall_rows])
        ],
        percent=True,
    )
    return OverviewTable("target_progress", table_title("target_progress"), columns, out, chart)


def programme_progress(conn: Connection, scope: Scope) -> OverviewTable:
    names = programme_names(conn, scope)
    rollups = _rollups(conn, scope)
    out = [
        (
            names[pid],
            sum(1 for line in rollups[pid].lines if line.programme_planned),
            rollups[pid].overall_percent,
            (YES if rollups[pid].weighted else NO).get(scope.lang),
        )
        for pid in names
        if pid in rollups
    ]
    columns = [
        PROGRAMME,
        Column("targets", Text("专项目标数", "Programme targets"), INT),
        Column("overall", Text("总体完成率（%）", "Overall progress (%)"), PERCENT),
        Column("weighted", Text("加权", "Weighted")),
    ]
    note = Text(
        "有权重时按权重加权；每项按不超过 100% 计入",
        "weighted where the targets carry weights; each target counts at most 100 %",
    )
    chart = Chart(categories=[r[0] for r in out], series=[("%", [r[2] or Decimal(0) for r in out])], percent=True)
    return OverviewTable("programme_progress", table_title("programme_progress"), columns, out, chart, note=note)


# --- detail tables: evaluation results, the project register -------------------------------------------------


def evaluation_results(conn: Connection, scope: Scope) -> tuple[list[Column], Iterator[tuple[Any, ...]]]:
    names = programme_names(conn, scope)
    stmt = (
        select(
            _er.c.programme_id,
            _ea.c.subject,
            _ea.c.subject_id,
            _p.c.code,
            _p.c.title,
            _ea.c.stage,
            _ea.c.year,
            _o.c.name,
            _er.c.total,
            _er.c.grade,
            _er.c.submitted_at,
        )
        .select_from(
            _er.join(_ea, _ea.c.id == _er.c.assignment_id)
            .join(_o, _o.c.id == _ea.c.evaluator_id)
            .outerjoin(_p, and_(_ea.c.subject == "project", _p.c.id == _ea.c.subject_id))
        )
        .where(*scope.where(_er.c.programme_id))
        .order_by(_er.c.submitted_at, _er.c.id)
    )
    columns = [
        PROGRAMME,
        Column("subject", Text("评估对象", "Evaluated")),
        Column("code", Text("项目编号", "Project code")),
        Column("title", Text("项目名称", "Project title")),
        Column("stage", Text("评估阶段", "Stage")),
        Column("year", Text("年度", "Year"), INT),
        Column("evaluator", Text("评估机构", "Evaluator")),
        Column("total", Text("总分", "Total score"), DECIMAL),
        Column("grade", Text("等级", "Grade")),
        Column("submitted", Text("提交日期", "Submitted"), DATE),  # not a workflow state
    ]

    def rows() -> Iterator[tuple[Any, ...]]:
        for r in conn.execution_options(yield_per=2000).execute(stmt):
            yield (
                names.get(r.programme_id, ""),
                SUBJECTS.get(r.subject, Text(r.subject, r.subject)).get(scope.lang),
                r.code or "",
                r.title or "",
                STAGES.get(r.stage, Text(r.stage, r.stage)).get(scope.lang),
                r.year,
                r.name,
                Decimal(str(r.total)).quantize(Decimal("0.01")),
                GRADE_LABELS.get(r.grade, Text(r.grade, r.grade)).get(scope.lang),
                scope.day(r.submitted_at),
            )

    return columns, rows()


def project_register(conn: Connection, scope: Scope) -> tuple[list[Column], Iterator[tuple[Any, ...]]]:
    """One row per project: state, category, unit, start, money and target progress. Streamed: the
    projects, their budget and spending sums and their targets are read as parallel ordered streams
    and merged, so memory stays flat however many projects there are."""
    registry = get_registry()
    names = programme_names(conn, scope)
    started = (
        select(func.min(_e.c.created_at))
        .where(_e.c.action == START_TRIGGER, _e.c.subject == "project", _e.c.subject_id == _p.c.id)
        .scalar_subquery()
    )
    budget = select(func.coalesce(func.sum(_b.c.amount_fen), 0)).where(_b.c.project_id == _p.c.id).scalar_subquery()
    spent = select(func.coalesce(func.sum(_s.c.amount_fen), 0)).where(_s.c.project_id == _p.c.id).scalar_subquery()
    projects = (
        select(
            _p.c.id,
            _p.c.code,
            _p.c.title,
            _p.c.programme_id,
            _p.c.workflow,
            _p.c.state,
            _p.c.category,
            _o.c.name.label("unit"),
            _p.c.start_date,
            started.label("started_at"),
            budget.label("budget"),
            spent.label("spent"),
        )
        .select_from(_p.join(_o, _o.c.id == _p.c.undertaking_unit_id))
        .where(*scope.where(_p.c.programme_id))
        .order_by(_p.c.id)
    )
    targets = (
        select(_t.c.project_id, _t.c.planned_hundredths, _t.c.achieved_hundredths, _t.c.weight_hundredths)
        .where(_t.c.project_id.is_not(None), _t.c.retired_at.is_(None), *scope.where(_t.c.programme_id))
        .order_by(_t.c.project_id)
    )
    columns = [
        Column("code", Text("项目编号", "Project code")),
        Column("title", Text("项目名称", "Project title")),
        PROGRAMME,
        Column("state", Text("状态", "State")),
        Column("category", Text("项目类别", "Category")),
        Column("unit", Text("承担单位", "Undertaking unit")),
        Column("planned_start", Text("计划开始", "Planned start"), DATE),
        Column("started", Text("启动日期", "Started"), DATE),
        Column("on_time", Text("按时启动", "Started on time")),
        Column("budget", Text("预算（元）", "Budget (yuan)"), DECIMAL),
        Column("spent", Text("已支出（元）", "Spent (yuan)"), DECIMAL),
        Column("targets", Text("指标数", "Targets"), INT),
        Column("progress", Text("指标完成率（%）", "Target progress (%)"), PERCENT),
    ]
    labels: dict[tuple[str, str], str] = {}
    deadlines: dict[datetime, datetime] = {}
    yes, no = YES.get(scope.lang), NO.get(scope.lang)

    def state_label(workflow: str, state: str) -> str:
        key = (workflow, state)
        if key not in labels:
            wf = registry.get(workflow) if workflow in registry else None
            labels[key] = wf.state_label(state).get(scope.lang) if wf else state
        return labels[key]

    def rows() -> Iterator[tuple[Any, ...]]:
        target_stream = iter(conn.execution_options(yield_per=5000).execute(targets))
        pending = next(target_stream, None)
        for r in conn.execution_options(yield_per=2000).execute(projects):
            lines: list[Progress] = []
            while pending is not None and pending.project_id < r.id:
                pending = next(target_stream, None)
            while pending is not None and pending.project_id == r.id:
                lines.append(
                    Progress(
                        from_hundredths(pending.planned_hundredths),
                        from_hundredths(pending.achieved_hundredths),
                        None if pending.weight_hundredths is None else from_hundredths(pending.weight_hundredths),
                    )
                )
                pending = next(target_stream, None)
            on_time = ""
            started_at = r.started_at
            if started_at is not None and started_at.tzinfo is None:
                started_at = started_at.replace(tzinfo=scope.now.tzinfo)
            if r.start_date is not None:
                deadline = deadlines.get(r.start_date)
                if deadline is None:
                    if len(deadlines) > 4096:  # bounded: memory must not grow with the rows exported
                        deadlines.clear()
                    deadline = deadlines[r.start_date] = start_deadline(r.start_date, scope.zone)
                if started_at is not None:
                    on_time = yes if started_at <= deadline else no
                elif scope.now > deadline:
                    on_time = no
            yield (
                r.code,
                r.title,
                names.get(r.programme_id, ""),
                state_label(r.workflow, r.state),
                LABELS.get(r.category, Text(r.category, r.category)).get(scope.lang),
                r.unit,
                scope.day(r.start_date),
                scope.day(started_at),
                on_time,
                from_hundredths(int(r.budget or 0)),
                from_hundredths(int(r.spent or 0)),
                len(lines),
                overall(lines)[0],
            )

    return columns, rows()


# --- the whole overview -------------------------------------------------------------------------------------

SUMMARY: dict[str, Callable[[Connection, Scope], OverviewTable]] = {
    "projects_by_state": projects_by_state,
    "started_on_time": started_on_time,
    "overdue": overdue_summary,
    "adjustments": adjustments,
    "complaints": complaints,
    "funding_by_programme": funding_by_programme,
    "funding_by_category": funding_by_category,
    "funding_by_support_mode": funding_by_support_mode,
    "target_progress": target_progress,
    "programme_progress": programme_progress,
}
DETAIL: dict[str, tuple[Text, Callable[[Connection, Scope], tuple[list[Column], Iterator[tuple[Any, ...]]]]]] = {
    "overdue_items": (TITLES["overdue_items"], overdue_items),
    "evaluation_results": (TITLES["evaluation_results"], evaluation_results),
    "projects": (TITLES["projects"], project_register),
}
TABLE_NAMES: tuple[str, ...] = (*SUMMARY, *DETAIL)
PREVIEW_ROWS = 20


def unknown_table(name: str) -> NotFound:
    return NotFound(
        Text(
            f"没有名为“{name}”的统计表（可选：{'、'.join(TABLE_NAMES)}）",
            f"no overview table '{name}' (one of: {', '.join(TABLE_NAMES)})",
        )
    )


def build_overview(conn: Connection, *, actor: Actor, scope: Scope) -> list[OverviewTable]:
    """Every summary table in full, and the first rows of each detail table with its row count."""
    require_overview(actor)
    tables = [build(conn, scope) for build in SUMMARY.values()]
    counts = _detail_counts(conn, scope)
    for name, (title, build_detail) in DETAIL.items():
        columns, stream = build_detail(conn, scope)
        first = [row for _, row in zip(range(PREVIEW_ROWS), stream, strict=False)]
        tables.append(OverviewTable(name, title, columns, first, total_rows=counts[name], detail=True))
    return tables


def _detail_counts(conn: Connection, scope: Scope) -> dict[str, int]:
    overdue = conn.execute(
        select(func.count())
        .select_from(_due.join(_p, _p.c.id == _due.c.subject_id))
        .where(*_overdue_filter(scope), *scope.where(_p.c.programme_id))
    ).scalar_one()
    results = conn.execute(select(func.count()).select_from(_er).where(*scope.where(_er.c.programme_id))).scalar_one()
    projects = conn.execute(select(func.count()).select_from(_p).where(*scope.where(_p.c.programme_id))).scalar_one()
    return {"overdue_items": int(overdue), "evaluation_results": int(results), "projects": int(projects)}


def table_stream(
    conn: Connection, name: str, *, actor: Actor, scope: Scope
) -> tuple[list[Column], Iterable[tuple[Any, ...]]]:
    """One table's columns and every row, for an export (detail tables are streamed from the database)."""
    require_overview(actor)
    if name in SUMMARY:
        t = SUMMARY[name](conn, scope)
        return t.columns, t.rows
    if name in DETAIL:
        return DETAIL[name][1](conn, scope)
    raise unknown_table(name)


def open_scope(engine: Engine, *, lang: str, now: datetime, programme_code: int | None) -> Scope:
    with engine.connect() as conn:
        return Scope(lang=lang, now=now, programme_id=programme_for_code(conn, programme_code))
