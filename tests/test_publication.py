"""Disclosures end to end: data → PDF → content guard → publication directory, exactly once."""

from __future__ import annotations

import json
import subprocess
import sys
from datetime import datetime, timedelta
from pathlib import Path

import pytest
from sqlalchemy import Engine, func, select

from grantflow.clock import SimulatedClock
from grantflow.config import get_settings
from grantflow.db.audit import verify
from grantflow.db.models import AuditEvent, Publication, PublicationDocument
from grantflow.reports.publish import publish_disclosure
from grantflow.services.publications import override
from grantflow.states.errors import Forbidden, PayloadInvalid
from tests.conftest import People
from tests.factories import launch_programme, make_call, make_project
from tests.publishing import PUBLISHED_LATER, FakeScanner, doc_info, embedded_fonts, first_page_png, text_of

TITLES = ["面向城市轨道交通的智能运维关键技术研究", "金属增材制造装备研制与示范应用", "工业机器人精密减速器攻关"]


@pytest.fixture
def established(engine: Engine, people: People, now: datetime) -> list[int]:
    """Three projects of programme 7 approved at ``now`` (March 2026, Beijing time)."""
    call = make_call(engine, people, now)
    return [make_project(engine, people, now, call_id=call, title=t, state="commissioning") for t in TITLES]


def _publish(engine: Engine, now: datetime, scanner: FakeScanner | None = None, **kw: object):
    return publish_disclosure(
        engine,
        get_settings(),
        kind=str(kw.pop("kind", "establishment")),
        programme=7,
        period=str(kw.pop("period", "2026-03")),
        now=now + PUBLISHED_LATER,
        scanner=scanner or FakeScanner(),
        **kw,  # type: ignore[arg-type]
    )


def test_establishment_results_are_published_as_a_chinese_pdf(
    engine: Engine, established: list[int], now: datetime
) -> None:
    scanner = FakeScanner()
    out = _publish(engine, now, scanner)
    assert out.status == "published", out
    root = get_settings().publications_dir
    [doc] = out.documents
    pdf = (root / doc.name).read_bytes()
    text = text_of(pdf)
    for title in TITLES:
        assert title in text.replace("\n", "")
    assert "300.00" in text  # three budgets of 100 万元 each, the total in the overview
    assert "立项结果" in text and "第 1 页" not in text.split("目")[0]  # the cover has no page number
    fonts = embedded_fonts(pdf)
    cjk = {name: size for name, size in fonts.items() if "CJK" in name or "WenQuanYi" in name}
    assert cjk and all(size > 0 for size in cjk.values()), fonts
    assert max(cjk.values()) < 4_000_000, "the CJK font must be subset, not embedded whole"
    info = doc_info(pdf)
    assert "立项结果" in info["/Title"] and info["/Author"] and info["lang"] == "zh-CN"
    assert info["/CreationDate"].startswith("D:2026")
    assert scanner.seen and TITLES[0] in scanner.seen[0].replace("\n", "")  # the guard read the text
    png = first_page_png(root / doc.name, "establishment-page1")
    assert png.stat().st_size > 1000
    manifest = json.loads((root / "manifest.json").read_text())
    [item] = manifest["publications"]
    assert item["documents"][0]["sha256"] == doc.sha256
    assert item["audit"]["head_hash"] and item["audit"]["head_event_id"] >= item["audit"]["event_id"]
    assert doc.name in (root / "index.html").read_text() and doc.sha256 in (root / "feed.atom").read_text()
    # the directory's own feed links relative to itself: it works wherever the directory is served
    assert (
        f'href="{doc.name}"' in (root / "feed.atom").read_text()
        and 'href="feed.atom"' in (root / "feed.atom").read_text()
    )


def test_publishing_twice_publishes_once(engine: Engine, established: list[int], now: datetime) -> None:
    first = _publish(engine, now)
    again = _publish(engine, now + timedelta(hours=1))
    assert (first.status, again.status) == ("published", "already")
    with engine.connect() as conn:
        assert conn.execute(select(func.count()).select_from(Publication)).scalar_one() == 1
        assert conn.execute(select(func.count()).select_from(PublicationDocument)).scalar_one() == 1
    pdfs = [p for p in get_settings().publications_dir.rglob("*.pdf") if ".staging" not in p.parts]
    assert len(pdfs) == 1


def test_the_guard_blocks_until_the_office_overrides_with_a_reason(
    engine: Engine, established: list[int], now: datetime, people: People
) -> None:
    scanner = FakeScanner("精密减速器")
    out = _publish(engine, now, scanner)
    assert out.status == "blocked" and out.findings[0]["passage"] == "精密减速器"
    root = get_settings().publications_dir
    assert not list(root.rglob("*.pdf"))
    assert _publish(engine, now + timedelta(hours=1), scanner).status == "blocked"  # still blocked
    with engine.begin() as conn, pytest.raises(Forbidden):
        override(conn, publication_id=out.publication_id, actor=people["applicant"], reason="x", now=now)
    with engine.begin() as conn, pytest.raises(PayloadInvalid):
        override(conn, publication_id=out.publication_id, actor=people["office"], reason="  ", now=now)
    with engine.begin() as conn:
        override(conn, publication_id=out.publication_id, actor=people["office"], reason="专业术语，非篡改", now=now)
    again = _publish(engine, now + timedelta(hours=2), scanner)
    assert again.status == "published" and again.findings
    with engine.connect() as conn:
        actions = [r.action for r in conn.execute(select(AuditEvent.action).where(AuditEvent.subject == "publication"))]
        assert actions == ["publication_blocked", "publication_override", "publish:establishment"]
        assert verify(conn).ok
    manifest = json.loads((root / "manifest.json").read_text())
    assert manifest["publications"][0]["guard"] == {"overridden": True, "reason": "专业术语，非篡改"}


def test_an_empty_period_still_publishes_a_document(engine: Engine, now: datetime) -> None:
    out = _publish(engine, now, period="2026-01")
    assert out.status == "published"
    text = text_of(get_settings().publications_dir / out.documents[0].name)
    assert "本期无相关项目" in text


CRASH = """
import os, sys
from datetime import datetime
from grantflow.config import get_settings
from grantflow.db.session import get_engine
from grantflow.reports.publish import publish_disclosure
from tests.publishing import FakeScanner

def die():
    os._exit(9)  # killed between rendering and recording: no cleanup, no finally

publish_disclosure(get_engine(), get_settings(), kind="establishment", programme=7, period="2026-03",
                   now=datetime.fromisoformat(sys.argv[1]), scanner=FakeScanner(), after_render=die)
"""


def test_a_run_killed_between_rendering_and_recording_leaves_nothing_half_done(
    engine: Engine, established: list[int], now: datetime
) -> None:

    root = get_settings().publications_dir
    repo = Path(__file__).resolve().parent.parent
    at = (now + PUBLISHED_LATER).isoformat()
    done = subprocess.run([sys.executable, "-c", CRASH, at], cwd=repo, capture_output=True, timeout=300)
    assert done.returncode == 9, done.stderr.decode()[-2000:]
    public = [p for p in root.rglob("*") if p.is_file() and ".staging" not in p.relative_to(root).parts]
    assert public == [], "nothing is visible before the publication is recorded"
    with engine.connect() as conn:
        row = conn.execute(select(Publication)).one()
        assert (
            row.status == "claimed"
            and conn.execute(select(func.count()).select_from(PublicationDocument)).scalar() == 0
        )
    # while the dead run's lease lasts, a rerun leaves it alone; afterwards it takes over
    assert _publish(engine, now + timedelta(minutes=1)).status == "busy"
    out = _publish(engine, now + timedelta(hours=1))
    assert out.status == "published"
    pdfs = [p for p in root.rglob("*.pdf")]
    assert [p.relative_to(root).as_posix() for p in pdfs] == [out.documents[0].name]
    assert not (root / ".staging").exists() or not any((root / ".staging").iterdir())
    with engine.connect() as conn:
        assert conn.execute(select(func.count()).select_from(PublicationDocument)).scalar_one() == 1
        assert conn.execute(select(Publication.attempts)).scalar_one() == 2
    manifest = json.loads((root / "manifest.json").read_text())
    assert [d["name"] for p in manifest["publications"] for d in p["documents"]] == [out.documents[0].name]


def test_a_run_killed_after_recording_is_finished_by_the_next(
    engine: Engine, established: list[int], now: datetime, monkeypatch: pytest.MonkeyPatch
) -> None:
    from grantflow.reports import outputs

    def crash(*args: object, **kw: object) -> None:
        raise KeyboardInterrupt  # the process is stopped after the record, before any file moved

    monkeypatch.setattr(outputs, "move_into_place", crash)
    with pytest.raises(KeyboardInterrupt):
        _publish(engine, now)
    monkeypatch.undo()
    root = get_settings().publications_dir
    assert not [p for p in root.rglob("*.pdf") if ".staging" not in p.relative_to(root).parts]
    out = _publish(engine, now + timedelta(hours=1))
    assert out.status == "published"
    assert (root / out.documents[0].name).is_file()
    with engine.connect() as conn:
        assert conn.execute(select(func.count()).select_from(PublicationDocument)).scalar_one() == 1
        events = conn.execute(select(func.count()).where(AuditEvent.action == "publish:establishment")).scalar_one()
        assert events == 1


def test_adjustments_evaluations_and_progress_read_what_the_engine_recorded(
    engine: Engine, people: People, now: datetime
) -> None:
    from decimal import Decimal

    from grantflow.db.apply import fire
    from grantflow.services.records import record_review
    from tests.factories import apply_adjustment, drive

    call = make_call(engine, people, now)
    suspended = make_project(engine, people, now, call_id=call, title="城市应急指挥平台", state="in_execution")
    reviewed = make_project(engine, people, now, call_id=call, title="高端医疗影像装备")
    drive(engine, people, reviewed, "midterm_review", now)
    with engine.begin() as conn:
        for expert, score in (("expert1", 80), ("expert2", 82)):
            record_review(
                conn,
                project_id=reviewed,
                stage="midterm",
                reviewer=people[expert],
                score=Decimal(score),
                recommendation="pass",
                comments="",
                no_conflict_declared=True,
                now=now,
            )
    fire(engine, subject_id=reviewed, trigger="pass_midterm", actor=people["organiser"], now=now)
    apply_adjustment(engine, people, suspended, "suspension", now, "关键设备进口受限，暂停执行")
    adjustments = _publish(engine, now, kind="adjustments", period="2026-03")
    text = text_of(get_settings().publications_dir / adjustments.documents[0].name).replace("\n", "")
    assert "城市应急指挥平台" in text and "关键设备进口受限，暂停执行" in text and "暂停" in text
    assert "高端医疗影像装备" not in text
    evaluations = _publish(engine, now, kind="evaluations", period="2026-Q1")
    text = text_of(get_settings().publications_dir / evaluations.documents[0].name).replace("\n", "")
    assert "高端医疗影像装备" in text and "中期评估通过" in text and "专家平均分 81.0" in text
    progress = _publish(engine, now, kind="progress", period="2026-Q1")
    text = text_of(get_settings().publications_dir / progress.documents[0].name).replace("\n", "")
    assert "城市应急指挥平台" in text and "高端医疗影像装备" in text
    assert "已暂停（动态调整）" in text  # the state at the end of the period, from the audit chain


def test_the_cli_publishes_once_and_refuses_clearly(engine: Engine, established: list[int], now: datetime) -> None:
    from typer.testing import CliRunner

    from grantflow.cli.main import app

    runner = CliRunner()
    bad = runner.invoke(app, ["publish", "--kind", "establishment", "--programme", "7", "--period", "2026-13"])
    assert bad.exit_code == 2 and "2026-Q1" in bad.output
    unknown = runner.invoke(app, ["publish", "--kind", "rumours", "--programme", "7", "--period", "2026-03"])
    assert unknown.exit_code == 2 and "establishment" in unknown.output
    applicant = runner.invoke(
        app,
        [
            "publish",
            "--kind",
            "establishment",
            "--programme",
            "7",
            "--period",
            "2026-03",
            "--as",
            "pi@jinghua.example.com",
        ],
    )
    assert applicant.exit_code == 2 and "领导小组办公室" in applicant.output
    assert _publish(engine, now).status == "published"
    again = runner.invoke(app, ["publish", "--kind", "establishment", "--programme", "7", "--period", "2026-03"])
    assert again.exit_code == 0 and json.loads(again.stdout)["status"] == "already"
    listed = runner.invoke(app, ["publications", "list"])
    [line] = listed.stdout.splitlines()
    kind, code, period, _, name, sha = line.split("\t")
    assert (kind, code, period) == ("establishment", "7", "2026-03")
    assert (get_settings().publications_dir / name).is_file() and len(sha) == 64


def test_the_cli_publishes_with_the_shipped_guard(engine: Engine, established: list[int]) -> None:
    from typer.testing import CliRunner

    from grantflow.cli.main import app

    out = CliRunner().invoke(app, ["publish", "--kind", "establishment", "--programme", "7", "--period", "2026-03"])
    assert out.exit_code == 0, out.output
    # the projects were approved at the fixed test clock (March 2026): the document lists them
    status = json.loads(out.stdout)["status"]
    assert status == "published"


def test_the_cli_lists_what_is_due_in_the_users_language(engine: Engine, people: People, clock: SimulatedClock) -> None:
    from typer.testing import CliRunner

    from grantflow.cli.main import app

    launch_programme(engine, people, clock.now())
    clock.set(clock.now() + PUBLISHED_LATER)  # 2 April 2026: March and the first quarter have ended
    runner = CliRunner()
    zh = runner.invoke(app, ["publications", "due"], terminal_width=200)
    assert zh.exit_code == 0 and "2026-03" in zh.stdout and "2026-Q1" in zh.stdout
    assert "状态" in zh.stdout and "未开始" in zh.stdout and "not started" not in zh.stdout.lower()
    en = runner.invoke(app, ["--lang", "en", "publications", "due"], terminal_width=200)
    assert "Not started" in en.stdout and "未开始" not in en.stdout
    publish_q2 = ["publish", "--kind", "progress", "--programme", "7", "--period", "2026-Q2"]
    running = runner.invoke(app, ["--lang", "en", *publish_q2])
    assert running.exit_code == 2 and "has not ended yet: it can be published from 2026-07-01" in running.output


def test_a_scheduled_run_publishes_what_earlier_runs_missed(engine: Engine, people: People, now: datetime) -> None:
    from grantflow.flows import jobs

    launch_programme(engine, people, now)  # 2 March 2026
    make_project(engine, people, now, call_id=make_call(engine, people, now), title=TITLES[0], state="commissioning")
    # no worker ran on 1 April or 1 May: the run of 1 June publishes March, April and May, oldest first
    june = datetime(2026, 6, 1, 1, 0, tzinfo=now.tzinfo)
    report = jobs.run("publish-establishment", engine, june, get_settings())["publish"]
    assert report["period"] == "2026-05"
    assert [(o["period"], o["status"]) for o in report["outcomes"]] == [
        ("2026-03", "published"),
        ("2026-04", "published"),
        ("2026-05", "published"),
    ]
    texts = {
        o["period"]: text_of((get_settings().publications_dir / o["documents"][0]["name"]).read_bytes())
        for o in report["outcomes"]
    }
    assert TITLES[0] in texts["2026-03"].replace("\n", "") and TITLES[0] not in texts["2026-04"].replace("\n", "")
    again = jobs.run("publish-establishment", engine, june + timedelta(hours=1), get_settings())["publish"]
    assert [(o["period"], o["status"]) for o in again["outcomes"]] == [("2026-05", "already")]


def test_the_directorys_feed_links_under_its_configured_public_url() -> None:
    from grantflow.reports import outputs

    links = outputs.FeedLinks.of_directory("https://kw.example.cn/pub/")
    assert (links.self_url, links.index_url) == (
        "https://kw.example.cn/pub/feed.atom",
        "https://kw.example.cn/pub/index.html",
    )
    assert links.files + "ZX07/a.pdf" == "https://kw.example.cn/pub/ZX07/a.pdf"
    assert outputs.feed_id("https://kw.example.cn/pub/") == "https://kw.example.cn/pub/feed.atom"
    assert outputs.feed_id() == "urn:grantflow:publications/feed.atom" == outputs.feed_id("")
