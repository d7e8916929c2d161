"""S&T reports: written as a stage form, formally checked (returned with reasons), published by
release scope; a deferred report shows only its basic-information sheet until its release date."""

from __future__ import annotations

from datetime import datetime, timedelta
from typing import Any

from sqlalchemy import Engine, select

from grantflow.config import get_settings
from grantflow.db.models import AuditEvent, OutboxMessage, Publication
from grantflow.notifications.context import build
from grantflow.reports.publish import publish_reports
from grantflow.services.forms import save_form
from grantflow.services.seed import DEMO_PASSWORD
from grantflow.states.st_report import compliance_problems
from grantflow.web.app import create_app
from tests.conftest import People
from tests.factories import make_project
from tests.publishing import FakeScanner, first_page_png, text_of
from tests.web import WebClient

ABSTRACT = (
    "本报告总结了金属增材制造装备研制项目的主要研究内容和成果。项目围绕大尺寸构件激光选区熔化成形开展攻关，"
    "突破了多激光拼接、在线监测和工艺数据库等关键技术，研制出成形尺寸一米级的装备样机，"
    "形成国家标准草案一项，申请发明专利五项，并在航空航天领域完成示范应用。"
)


def report(**over: Any) -> dict[str, Any]:
    data: dict[str, Any] = {
        "title": "大尺寸金属构件激光选区熔化成形装备研制最终报告",
        "report_kind": "final",
        "authors": [{"name": "王明", "unit": "京华智造科技有限公司"}, {"name": "李华", "unit": "燕园大学"}],
        "org_code": "91110108MA01ABCD2X",
        "release_scope": "public",
        "report_date": "2026-02-20",
        "keywords": "增材制造；激光选区熔化；装备；标准",
        "abstract": ABSTRACT,
        "funding_channel": "市科技计划重大专项",
        "introduction": "增材制造是数字化制造的重要方向。",
        "sections": [
            {"heading": "总体方案", "body": "采用四激光协同扫描方案。"},
            {"heading": "关键技术", "body": "多激光拼接精度控制在0.05毫米以内。"},
        ],
        "conclusions": "项目全面完成任务书约定的考核指标。",
        "references": "[1] GB/T 7713.3—2014 科技报告编写规则",
    }
    data.update(over)
    return data


def _submit(engine: Engine, people: People, project: int, seq: int, data: dict[str, Any], now: datetime) -> None:
    with engine.begin() as conn:
        r = save_form(
            conn,
            project_id=project,
            form_key="st_report",
            raw=data,
            actor=people["applicant"],
            submit=True,
            period=seq,
            now=now,
        )
    assert r.ok, r.messages("zh")


def test_compliance_problems_name_every_missing_part() -> None:
    assert compliance_problems(report()) == []
    problems = [p.zh for p in compliance_problems(report(keywords="增材制造；装备", abstract="", sections=[]))]
    assert any("关键词应为3至8个" in p for p in problems)
    assert any("摘要" in p for p in problems) and any("正文章节" in p for p in problems)
    late = compliance_problems(report(release_scope="deferred", release_date="2032-03-01", deferral_reason="专利"))
    assert [p.en for p in late] == ["deferral may not exceed 5 years (latest 2031-02-20)"]
    assert next(p.en for p in compliance_problems(report(org_code="12345"))).startswith("organisation code '12345'")


def test_a_failing_report_is_returned_with_its_reasons_then_published_when_fixed(
    engine: Engine, people: People, now: datetime
) -> None:
    project = make_project(engine, people, now, title="金属增材制造装备研制", state="in_execution")
    settings = get_settings()
    _submit(engine, people, project, 1, report(keywords="增材制造", references=""), now)
    out = publish_reports(engine, settings, now=now, scanner=FakeScanner())
    assert out["checked"]["returned"] and out["published"] == []
    with engine.connect() as conn:
        event = conn.execute(select(AuditEvent).where(AuditEvent.action == "st_report_returned")).one()
        reasons = [p["zh"] for p in event.payload["problems"]]
        assert any("关键词" in r for r in reasons) and any("参考文献" in r for r in reasons)
        msg = conn.execute(select(OutboxMessage).where(OutboxMessage.kind == "st_report.returned")).one()
        body = build(conn, kind=msg.kind, subject="project", subject_id=project, payload=msg.payload, tz="UTC")
        assert body["en"]["problems"] and "keywords" in body["en"]["problems"][0]
    # the same version is checked once, however often the flow runs
    assert publish_reports(engine, settings, now=now, scanner=FakeScanner())["checked"]["checked"] == 0
    _submit(engine, people, project, 1, report(), now + timedelta(days=1))
    out = publish_reports(engine, settings, now=now + timedelta(days=1), scanner=FakeScanner())
    [published] = out["published"]
    assert published["status"] == "published" and published["kind"] == "st_full"
    pdf = settings.publications_dir / published["documents"][0]["name"]
    text = text_of(pdf).replace("\n", "")
    assert "91110108MA01ABCD2X-ZX07-2026-00001-01-GK" in text  # org code + project + sequence + scope mark
    assert "多激光拼接精度控制在0.05毫米以内" in text and "基本信息表" in text and "参考文献" in text
    first_page_png(pdf, "st-report-page1")


def test_a_deferred_report_shows_its_sheet_until_the_release_date(
    engine: Engine, people: People, now: datetime
) -> None:
    project = make_project(engine, people, now, title="工业机器人精密减速器攻关", state="in_execution")
    settings = get_settings()
    deferred = report(release_scope="deferred", release_date="2028-02-20", deferral_reason="涉及未公开专利申请")
    _submit(engine, people, project, 1, deferred, now)
    out = publish_reports(engine, settings, now=now, scanner=FakeScanner())
    [sheet] = out["published"]
    assert sheet["kind"] == "st_sheet"
    text = text_of(settings.publications_dir / sheet["documents"][0]["name"]).replace("\n", "")
    assert "-01-YQ" in text and "2028-02-20" in text and ABSTRACT[:20] in text
    assert "0.05毫米" not in text  # the main text waits for the release date
    assert publish_reports(engine, settings, now=now + timedelta(days=30), scanner=FakeScanner())["published"] == []
    release = datetime(2028, 2, 21, 1, 0, tzinfo=now.tzinfo)
    [full] = publish_reports(engine, settings, now=release, scanner=FakeScanner())["published"]
    assert full["kind"] == "st_full"
    assert "0.05毫米" in text_of(settings.publications_dir / full["documents"][0]["name"]).replace("\n", "")
    with engine.connect() as conn:
        kinds = sorted(r.kind for r in conn.execute(select(Publication.kind)))
    assert kinds == ["st_full", "st_sheet"]


def test_the_unit_finds_writes_and_follows_its_reports_on_the_forms_page(
    engine: Engine, people: People, now: datetime
) -> None:
    project = make_project(engine, people, now, title="金属增材制造装备研制", state="in_execution")
    page = WebClient(create_app())
    r = page.post("/login", data={"email": "pi@jinghua.example.com", "password": DEMO_PASSWORD, "next": "/"})
    assert r.status_code == 200
    listed = page.get(f"/projects/{project}/forms").text
    assert f"/projects/{project}/forms/st_report?period=1" in listed and "撰写科技报告（第 1 份）" in listed
    saved = page.post(f"/projects/{project}/forms/st_report?period=1", data={"action": "save", "title": "阶段科技报告"})
    assert saved.status_code == 200
    listed = page.get(f"/projects/{project}/forms").text
    assert "科技报告 · 第 1 份" in listed and "草稿" in listed and "撰写科技报告（第 2 份）" in listed
    _submit(engine, people, project, 1, report(keywords="增材制造"), now)
    assert "待形式审查" in page.get(f"/projects/{project}/forms").text
    publish_reports(engine, get_settings(), now=now, scanner=FakeScanner())
    returned = page.get(f"/projects/{project}/forms").text
    assert "退回修改：" in returned and "关键词应为3至8个" in returned
    _submit(engine, people, project, 1, report(), now + timedelta(days=1))
    publish_reports(engine, get_settings(), now=now + timedelta(days=1), scanner=FakeScanner())
    passed = page.get(f"/projects/{project}/forms", headers={"accept-language": "en"})
    assert "91110108MA01ABCD2X-ZX07-2026-00001-01-GK" in passed.text and "退回修改" not in passed.text
