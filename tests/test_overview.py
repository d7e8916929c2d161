"""The office overview: who may see it (page, API, exports, CLI refuse alike), what it shows (states
in the reader's language, starts on time, overdue items, adjustments, complaints, money, targets),
and exports that open in a spreadsheet with the right types and no live formulas."""

from __future__ import annotations

import csv
import io
from collections.abc import Iterator
from datetime import UTC, date, datetime, timedelta
from decimal import Decimal
from pathlib import Path

import pytest
from fastapi.testclient import TestClient
from openpyxl import load_workbook
from sqlalchemy import Engine, insert, update
from typer.testing import CliRunner

from grantflow.cli.main import app as cli
from grantflow.clock import SimulatedClock
from grantflow.db.models import DueItem, Project
from grantflow.services.complaints import file_complaint
from grantflow.services.funding import replace_budget
from grantflow.services.overview import Scope, build_overview
from grantflow.services.seed import DEMO_PASSWORD
from grantflow.services.targets import record_results, replace_programme_targets, replace_project_targets
from grantflow.services.tenders import open_bids, submit_bid
from grantflow.states.enums import Category, SelectionMode, SupportMode
from grantflow.states.errors import Forbidden
from grantflow.web.app import create_app
from grantflow.web.routes_overview import clock
from grantflow.web.routes_review import clock as review_clock
from tests.conftest import T0, People
from tests.factories import apply_adjustment, make_call, make_project, programme_id
from tests.web import WebClient

runner = CliRunner()
FORMULA_TITLE = '=HYPERLINK("http://example.invalid","点我")'
TYPED = ["+1+1", "-2+3", "@SUM(A1)", "\tTAB", "\rCR"]


@pytest.fixture
def client(engine: Engine) -> Iterator[TestClient]:
    web = create_app()
    web.dependency_overrides[clock] = lambda: T0
    yield WebClient(web)
    web.dependency_overrides.clear()


def _login(client: TestClient, who: str) -> None:
    r = client.post("/login", data={"email": who, "password": DEMO_PASSWORD, "next": "/"}, follow_redirects=False)
    assert r.status_code == 303


@pytest.fixture
def data(engine: Engine, people: People) -> dict[str, int]:
    """Programme 7 with projects in several states, starts on time and late, an overdue report, a
    suspension and resumption, a termination, a complaint, money and targets."""
    call = make_call(engine, people, T0 - timedelta(days=200), closes_in=timedelta(days=400))
    on_time = make_project(engine, people, T0, call_id=call, title=FORMULA_TITLE)
    late = make_project(engine, people, T0, call_id=call, title="迟到的项目")
    never = make_project(engine, people, T0, call_id=call, title=TYPED[0])
    future = make_project(engine, people, T0, call_id=call, title=TYPED[1])
    ended = make_project(engine, people, T0, call_id=call, title=TYPED[2])
    refused = make_project(engine, people, T0, call_id=call, title=TYPED[3])
    with engine.begin() as conn:
        for pid, planned in (
            (on_time, datetime(2026, 1, 15, tzinfo=UTC)),  # Q1 2026, signed 2 March: on time
            (late, datetime(2025, 11, 3, tzinfo=UTC)),  # Q4 2025, signed 2 March: late
            (never, datetime(2025, 12, 1, tzinfo=UTC)),  # Q4 2025, still a draft: late
            (future, datetime(2026, 6, 1, tzinfo=UTC)),  # Q2 2026: not due yet
        ):
            conn.execute(update(Project).where(Project.id == pid).values(start_date=planned))
    from tests.factories import drive

    for pid in (on_time, late, ended):
        drive(engine, people, pid, "in_execution", T0)
    drive(engine, people, refused, "rejected", T0)
    apply_adjustment(engine, people, on_time, "suspension", T0, "核查")
    apply_adjustment(engine, people, on_time, "resumption", T0, "核查完毕")
    apply_adjustment(engine, people, ended, "termination", T0, "终止")
    office = people["office"]
    with engine.begin() as conn:
        conn.execute(
            insert(DueItem).values(
                key=f"test:report:{late}",
                kind="report",
                subject="project",
                subject_id=late,
                form_key="midterm_report",
                due_at=T0 - timedelta(days=5),
                status="open",
                created_at=T0 - timedelta(days=60),
            )
        )
        file_complaint(conn, project_id=refused, actor=people["applicant"], grounds="=1+1 评审不公", now=T0)
        replace_budget(
            conn,
            project_id=on_time,
            lines=[
                {"source": "municipal_budget", "support_mode": "competitive", "amount": "1000000.50"},
                {"source": "own_funds", "amount": "250000"},
            ],
            actor=office,
            now=T0,
        )
        replace_programme_targets(
            conn, programme_id=programme_id(engine), targets=[{"kind": "standard", "planned": 4}], actor=office, now=T0
        )
        replace_project_targets(
            conn,
            project_id=on_time,
            targets=[{"kind": "standard", "planned": 2}, {"kind": "talent", "planned": 8}],
            actor=office,
            now=T0,
        )
    with engine.connect() as conn:
        from grantflow.services.targets import snapshot

        ids = [t["id"] for t in snapshot(conn, project_id=on_time)]
    with engine.begin() as conn:
        record_results(
            conn,
            project_id=on_time,
            form_key="midterm_report",
            period=None,
            submission_id=None,
            rows=[(ids[0], "1", None), (ids[1], "8", None)],
            now=T0,
        )
    return {"on_time": on_time, "late": late, "never": never, "ended": ended, "refused": refused}


def _tables(engine: Engine, people: People, lang: str = "zh") -> dict[str, object]:
    with engine.connect() as conn:
        tables = build_overview(conn, actor=people["office"], scope=Scope(lang=lang, now=T0))
    return {t.name: t for t in tables}


def test_the_overview_counts_what_happened(engine: Engine, people: People, data: dict[str, int]) -> None:
    tables = _tables(engine, people)
    name = "7 数字化制造技术创新及产业培育"
    by_state = tables["projects_by_state"]
    header = [c.label.zh for c in by_state.columns]  # type: ignore[attr-defined]
    row = dict(zip(header, by_state.rows[0], strict=True))  # type: ignore[attr-defined]
    assert row["专项"] == name and row["合计"] == 6
    assert (row["申报书填写中"], row["执行中"], row["未立项"], row["已终止（动态调整）"]) == (2, 2, 1, 1)
    started = tables["started_on_time"].rows  # type: ignore[attr-defined]
    assert started[0] == (name, 3, 2, 1, 2, Decimal("33.33"))
    assert started[-1][0] == "全部"
    (overdue,) = tables["overdue"].rows  # type: ignore[attr-defined]
    assert overdue == (name, "报告", 1, date(2026, 2, 25), 5)
    assert tables["adjustments"].rows == [(name, 1, 1, 1, 3)]  # type: ignore[attr-defined]
    assert tables["complaints"].rows == [(name, 1, 1, 0)]  # type: ignore[attr-defined]
    funding = {r[1]: r[2:] for r in tables["funding_by_programme"].rows}  # type: ignore[attr-defined]
    assert funding == {
        "市级财政": (Decimal("1000000.50"), Decimal("0.00"), Decimal("0.00")),
        "单位自筹": (Decimal("250000.00"), Decimal("0.00"), Decimal("0.00")),
    }
    progress = {r[1]: r for r in tables["target_progress"].rows if r[0] == name}  # type: ignore[attr-defined]
    assert progress["技术标准"][2:] == (
        Decimal("4.00"),
        None,
        1,
        Decimal("2.00"),
        Decimal("1.00"),
        Decimal("25.00"),
        Decimal("50.00"),
    )
    # programme 5 carries the action plan's three targets from the seed, nothing achieved yet
    assert tables["programme_progress"].rows == [  # type: ignore[attr-defined]
        ("5 重大疾病科技攻关与管理", 3, Decimal("0.00"), "否"),
        (name, 1, Decimal("25.00"), "否"),
    ]
    register = tables["projects"]
    assert register.total_rows == 6  # type: ignore[attr-defined]
    first = {r[0]: r for r in register.rows}  # type: ignore[attr-defined]
    row_on_time = next(r for r in first.values() if r[1] == FORMULA_TITLE)
    assert row_on_time[3] == "执行中" and row_on_time[8] == "是" and row_on_time[9] == Decimal("1250000.50")
    assert row_on_time[11] == 2 and row_on_time[12] == Decimal("75.00")  # (1/2 + 8/8) / 2


def test_states_are_shown_in_the_readers_language(engine: Engine, people: People, data: dict[str, int]) -> None:
    english = _tables(engine, people, "en")
    labels = [c.label.en for c in english["projects_by_state"].columns]  # type: ignore[attr-defined]
    assert "in execution" in labels
    register = english["projects"].rows  # type: ignore[attr-defined]
    assert {r[3] for r in register} >= {"in execution", "proposal being drafted", "terminated (dynamic adjustment)"}


@pytest.mark.parametrize("who", ["applicant", "organiser", "expert1", "evaluator"])
def test_only_the_office_and_leadership_see_the_overview(
    engine: Engine, people: People, client: TestClient, who: str
) -> None:
    email = People.SHORT[who]
    with engine.connect() as conn, pytest.raises(Forbidden):
        build_overview(conn, actor=people[who], scope=Scope(lang="zh", now=T0))
    _login(client, email)
    page = client.get("/office/overview")
    assert page.status_code == 403 and "只有领导小组办公室和领导小组" in page.text
    assert "/office/overview" not in client.get("/").text  # no link to what would be refused
    assert client.get("/office/overview/projects.csv").status_code == 403
    assert client.get("/office/overview/funding_by_programme.xlsx").status_code == 403
    api = client.get("/api/office/overview")
    assert api.status_code == 403 and api.json()["error"] == "forbidden"
    out = runner.invoke(cli, ["export", "projects", "--as", email, "--lang", "en"])
    assert out.exit_code == 2 and "only the office and the leadership group" in out.output


@pytest.mark.parametrize("who", ["office", "leader"])
def test_the_office_and_leadership_see_tables_and_charts(
    engine: Engine, people: People, client: TestClient, data: dict[str, int], who: str
) -> None:
    _login(client, People.SHORT[who])
    page = client.get("/office/overview")
    assert page.status_code == 200
    html = page.text
    for title in (
        "各专项项目状态",
        "按时启动情况",
        "逾期事项",
        "动态调整（按类别）",
        "评审投诉",
        "经费来源结构（按专项）",
        "指标完成进度",
    ):
        assert title in html
    main = html.split("<main>", 1)[1]
    assert main.count("<svg") >= 7 and "<script" not in main  # charts drawn on the server, no script
    assert "执行中" in html and 'href="/office/overview/projects.xlsx"' in html
    assert "&#34;点我&#34;" in html or "&quot;点我&quot;" in html  # typed text is escaped, never markup
    assert 'href="/office/overview"' in client.get("/").text
    filtered = client.get("/office/overview?programme=1")
    assert filtered.status_code == 200 and "迟到的项目" not in filtered.text
    assert client.get("/office/overview?programme=99").status_code == 404


def test_the_page_in_english(client: TestClient, data: dict[str, int]) -> None:
    _login(client, People.SHORT["clerk"])  # an English-speaking member of the office
    html = client.get("/office/overview").text
    assert "Projects by state and programme" in html and "in execution" in html and "Export" in html
    assert "各专项项目状态" not in html


def test_anonymous_visitors_are_sent_to_sign_in(client: TestClient) -> None:
    r = client.get("/office/overview", follow_redirects=False)
    assert r.status_code == 303 and r.headers["location"].startswith("/login")


def _csv_rows(body: bytes) -> list[list[str]]:
    assert body.startswith("\ufeff".encode())
    return list(csv.reader(io.StringIO(body.decode("utf-8-sig"), newline="")))


def test_csv_export_neutralises_formulas_and_keeps_numbers_plain(client: TestClient, data: dict[str, int]) -> None:
    _login(client, People.SHORT["office"])
    r = client.get("/office/overview/projects.csv")
    assert r.status_code == 200 and r.headers["content-type"].startswith("text/csv")
    assert 'filename="projects.csv"' in r.headers["content-disposition"]
    rows = _csv_rows(r.content)
    assert rows[0][:3] == ["项目编号", "项目名称", "专项"]
    titles = {row[1] for row in rows[1:]}
    assert "'" + FORMULA_TITLE in titles
    for typed in TYPED[:4]:
        assert "'" + typed in titles
    assert not any(cell.startswith(("=", "+", "-", "@", "\t", "\r")) for row in rows for cell in row)
    mine = next(row for row in rows if row[1] == "'" + FORMULA_TITLE)
    assert mine[6] == "2026-01-15" and mine[9] == "1250000.50" and mine[12] == "75.00" and mine[11] == "2"


def test_xlsx_export_opens_with_proper_types(client: TestClient, data: dict[str, int], tmp_path: Path) -> None:
    _login(client, People.SHORT["office"])
    r = client.get("/office/overview/projects.xlsx")
    assert r.status_code == 200 and r.content[:2] == b"PK"
    path = tmp_path / "p.xlsx"
    path.write_bytes(r.content)
    ws = load_workbook(path).active
    rows = list(ws.iter_rows())
    assert [c.value for c in rows[0][:3]] == ["项目编号", "项目名称", "专项"]
    mine = next(row for row in rows[1:] if row[1].value == "'" + FORMULA_TITLE)
    assert all(c.data_type != "f" for row in rows for c in row)
    assert not any(isinstance(c.value, str) and c.value.startswith(("=", "+", "-", "@")) for row in rows for c in row)
    assert mine[6].is_date and mine[6].value == datetime(2026, 1, 15)
    assert mine[7].is_date and mine[7].value == datetime(2026, 3, 2)
    assert mine[9].data_type == "n" and mine[9].value == pytest.approx(1250000.50)
    assert mine[9].number_format == "#,##0.00"
    assert mine[11].value == 2 and mine[12].value == pytest.approx(75.0)
    summary = client.get("/office/overview/started_on_time.xlsx")
    sheet = load_workbook(io.BytesIO(summary.content)).active
    values = [[c.value for c in row] for row in sheet.iter_rows()]
    assert values[1][1:] == [3, 2, 1, 2, pytest.approx(33.33)]


def test_cli_export_writes_csv_and_xlsx_for_one_programme(engine: Engine, data: dict[str, int], tmp_path: Path) -> None:
    target = tmp_path / "funding.xlsx"
    out = runner.invoke(
        cli,
        [
            "export",
            "funding_by_programme",
            "--as",
            People.SHORT["office"],
            "--format",
            "xlsx",
            "--programme",
            "7",
            "--output",
            str(target),
        ],
    )
    assert out.exit_code == 0, out.output
    ws = load_workbook(target).active
    rows = [[c.value for c in row] for row in ws.iter_rows()]
    assert rows[0] == ["专项", "经费来源", "预算（元）", "已支出（元）", "支出比例（%）"]
    assert rows[1][1:3] == ["市级财政", pytest.approx(1000000.5)]
    csv_file = tmp_path / "states.csv"
    out = runner.invoke(
        cli, ["export", "projects_by_state", "--as", People.SHORT["leader"], "--output", str(csv_file), "--lang", "en"]
    )
    assert out.exit_code == 0, out.output
    rows_csv = _csv_rows(csv_file.read_bytes())
    assert rows_csv[0][0] == "Programme" and "in execution" in rows_csv[0]
    empty = runner.invoke(cli, ["export", "projects", "--as", People.SHORT["office"], "--programme", "1"])
    assert empty.exit_code == 0 and len(_csv_rows(empty.stdout_bytes)) == 1  # the header only
    bad = runner.invoke(cli, ["export", "nonsense", "--as", People.SHORT["office"], "--lang", "en"])
    assert bad.exit_code == 2 and "no overview table 'nonsense'" in bad.output and "projects_by_state" in bad.output


def test_the_bids_export_neutralises_typed_text(
    engine: Engine, people: People, tmp_path: Path, clock: SimulatedClock
) -> None:
    from tests.test_review_helpers import call

    opening = T0 + timedelta(days=6)
    call_id = call(
        engine,
        people,
        T0,
        category=Category.ORGANISED,
        mode=SelectionMode.TENDER,
        support=[SupportMode.TENDER],
        bids_open_at=opening,
        closes_in=timedelta(days=5),
        quorum=1,
    )
    from grantflow.services.calls import new_project

    with engine.begin() as conn:
        pid = new_project(conn, call_id=call_id, actor=people["applicant"], title="投标项目", now=T0)
        submit_bid(conn, project_id=pid, content=b"=cmd|' /C calc'!A0", actor=people["applicant"], now=T0)
    with engine.begin() as conn:
        open_bids(conn, call_id=call_id, actor=people["office"], now=opening)
    web = create_app()
    web.dependency_overrides[review_clock] = lambda: opening + timedelta(minutes=1)
    client = WebClient(web)
    _login(client, People.SHORT["office"])
    r = client.get(f"/review/calls/{call_id}/bids.csv")
    assert r.status_code == 200
    rows = list(csv.reader(io.StringIO(r.text)))
    assert rows[1][-1] == "'=cmd|' /C calc'!A0"
    target = tmp_path / "bids.csv"
    clock.set(opening + timedelta(minutes=1))
    out = runner.invoke(cli, ["review", "bids-export", str(call_id), "--as", People.SHORT["office"], "-o", str(target)])
    assert out.exit_code == 0, out.output
    assert list(csv.reader(target.open(encoding="utf-8", newline="")))[1][-1] == "'=cmd|' /C calc'!A0"


def test_the_project_page_numbers_the_targets_reports_name(client: TestClient, data: dict[str, int]) -> None:
    _login(client, People.SHORT["applicant"])
    html = client.get(f"/projects/{data['on_time']}").text
    assert "考核指标" in html and "技术标准" in html and "总体完成率" in html and "75.00%" in html
    _login(client, People.SHORT["clerk"])
    english = client.get(f"/projects/{data['on_time']}").text
    assert "Targets" in english and "technical standards" in english and "talent trained" in english
