"""Each programme's own lifecycle through the engine, its particulars, and its pages."""

from __future__ import annotations

from datetime import datetime
from decimal import Decimal

import pytest
from fastapi.testclient import TestClient
from sqlalchemy import Engine, func, select
from typer.testing import CliRunner

from grantflow.cli.main import app as cli
from grantflow.db.models import AuditEvent, Organisation, Programme, ProgrammeKeyTask
from grantflow.services import programmes as service
from grantflow.services.seed import KEY_TASKS
from grantflow.states.errors import Forbidden, GuardFailed, InvalidTrigger, PayloadInvalid
from grantflow.web.app import create_app
from tests.conftest import People
from tests.test_web_core import login
from tests.web import WebClient

runner = CliRunner()


def fire(engine: Engine, code: int, trigger: str, actor: object, now: datetime, **kw: str) -> str:
    with engine.begin() as conn:
        return service.fire(conn, code=code, trigger=trigger, actor=actor, now=now, **kw).to_state  # type: ignore[arg-type]


def programme(engine: Engine, code: int) -> object:
    with engine.connect() as conn:
        return conn.execute(select(Programme).where(Programme.code == code)).one()


def test_the_twelve_are_seeded_with_class_key_tasks_and_programme_5s_targets(engine: Engine, people: People):
    with engine.connect() as conn:
        rows = service.list_programmes(conn)
        targets = service.targets_of(conn, programme(engine, 5).id)  # type: ignore[attr-defined]
        tasks = conn.execute(select(func.count()).select_from(ProgrammeKeyTask)).scalar_one()
    assert [r.code for r in rows] == list(range(1, 13))
    assert [r.programme_class for r in rows] == [1] * 5 + [2] * 7
    assert all(r.key_tasks >= 1 for r in rows) and tasks == sum(len(t) for t in KEY_TASKS.values())
    assert [(t.kind, t.quantity, t.due_year) for t in targets] == [
        ("result", Decimal("10.00"), 2017),
        ("discipline", Decimal("30.00"), 2017),
        ("standard", Decimal("100.00"), 2017),
    ]
    assert targets[0].reads("zh") == "≥ 10 项有国际影响力的创新性成果（2017 年）"
    assert targets[2].reads("en") == "≥ 100 norms: diagnosis-and-treatment norms and standards (by 2017)"


def test_a_programme_through_its_lifecycle(engine: Engine, people: People, now: datetime):
    # launched when ready, by the leadership group only, with its implementation plan
    with pytest.raises(Forbidden) as caught:
        fire(engine, 7, "launch", people["office"], now, implementation_plan="方案")
    assert "领导小组" in caught.value.message.zh
    with pytest.raises(PayloadInvalid):
        fire(engine, 7, "launch", people["leader"], now)
    assert fire(engine, 7, "launch", people["leader"], now, implementation_plan="2014-2017 实施方案") == "launched"
    assert programme(engine, 7).implementation_plan == "2014-2017 实施方案"  # type: ignore[attr-defined]
    # its organising unit starts implementation; another programme's cannot
    with pytest.raises(Forbidden):
        fire(engine, 7, "start_implementation", people["other_organiser"], now)
    assert fire(engine, 7, "start_implementation", people["organiser"], now) == "active"
    # adjusted with a reason, twice; the plan may change with it
    with pytest.raises(PayloadInvalid):
        fire(engine, 7, "adjust", people["leader"], now)
    assert fire(engine, 7, "adjust", people["leader"], now, reason="增加机器人应用示范") == "adjusted"
    assert (
        fire(engine, 7, "adjust", people["leader"], now, reason="调整进度", implementation_plan="调整后的方案")
        == "adjusted"
    )
    assert programme(engine, 7).implementation_plan == "调整后的方案"  # type: ignore[attr-defined]
    assert fire(engine, 7, "conclude", people["leader"], now, reason="实施期满") == "concluded"
    with pytest.raises(InvalidTrigger) as ended:
        fire(engine, 7, "adjust", people["leader"], now, reason="x")
    assert ended.value.allowed == []
    with engine.connect() as conn:
        events = conn.execute(
            select(AuditEvent.action, AuditEvent.payload)
            .where(AuditEvent.subject == "programme", AuditEvent.subject_id == programme(engine, 7).id)  # type: ignore[attr-defined]
            .order_by(AuditEvent.id)
        ).all()
    assert [e.action for e in events] == ["launch", "start_implementation", "adjust", "adjust", "conclude"]
    assert events[2].payload == {"reason": "增加机器人应用示范"}


def test_a_programme_is_launched_only_when_ready_and_may_be_stopped(engine: Engine, people: People, now: datetime):
    with pytest.raises(GuardFailed) as caught:  # programme 2 has no lead organising unit yet
        fire(engine, 2, "launch", people["leader"], now, implementation_plan="方案")
    assert "尚未确定牵头组织单位" in caught.value.message.zh
    with engine.connect() as conn:
        unit = conn.execute(select(Organisation.id).where(Organisation.name == "市环境保护局")).scalar_one()
    with engine.begin() as conn, pytest.raises(Forbidden):
        service.add_organising_unit(conn, code=2, organisation_id=unit, actor=people["organiser"], lead=True)
    with engine.begin() as conn:
        service.add_organising_unit(conn, code=2, organisation_id=unit, actor=people["office"], lead=True)
    assert fire(engine, 2, "launch", people["leader"], now, implementation_plan="方案") == "launched"
    assert fire(engine, 3, "stop", people["leader"], now, reason="并入专项二") == "stopped"


def test_programme_cli_and_page(client: TestClient):
    out = runner.invoke(cli, ["programmes", "fire", "7", "launch", "--as", "office@kw.example.cn", "--plan", "x"])
    assert out.exit_code == 2 and "只有领导小组可以执行此操作" in out.output
    out = runner.invoke(
        cli,
        [
            "programmes",
            "add-target",
            "7",
            "--as",
            "office@kw.example.cn",
            "--kind",
            "standard",
            "--description",
            "增材制造技术标准",
            "--quantity",
            "5",
            "--unit",
            "项",
        ],
    )
    assert out.exit_code == 0, out.output
    login(client, "leader@kw.example.cn", lang="en")
    page = client.get("/programmes/7").text
    assert "Lead organising unit" in page and "增材制造技术标准" in page
    r = client.post("/programmes/7/fire", data={"trigger": "launch", "implementation_plan": ""})
    assert r.status_code == 422 and "implementation_plan" in r.text
    r = client.post(
        "/programmes/7/fire", data={"trigger": "launch", "implementation_plan": "方案全文"}, follow_redirects=False
    )
    assert r.status_code == 303
    shown = runner.invoke(cli, ["programmes", "show", "7", "--as", "office@kw.example.cn", "--lang", "en"])
    assert "state: launched" in shown.output and "target added" in shown.output
    listing = client.get("/programmes").text
    assert "Digital manufacturing" in listing


@pytest.fixture
def client(engine: Engine) -> TestClient:
    return WebClient(create_app())
