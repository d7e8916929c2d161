"""Starting an application: only in a call whose state accepts them, and once per unit unless the
call allows more. Through the CLI (``grantflow review apply``) and the service it calls."""

from __future__ import annotations

import re
from datetime import UTC, datetime, timedelta

import pytest
from sqlalchemy import Engine, func, select
from typer.testing import CliRunner

from grantflow.cli.main import app as cli
from grantflow.db.apply import create, fire
from grantflow.db.models import Call, Project
from grantflow.db.workflows import get_registry
from grantflow.services.calls import CallInvalid, create_call, new_project
from grantflow.states.applications import ApplicationRefused
from grantflow.states.enums import Category, SelectionMode, SupportMode
from grantflow.states.errors import Forbidden
from grantflow.states.permissions import SYSTEM
from tests.conftest import People
from tests.factories import programme_id
from tests.test_review_helpers import call

runner = CliRunner()
APPLICANT = "pi@jinghua.example.com"


def flat(text: str) -> str:
    return " ".join(text.split())


def squeeze(text: str) -> str:
    return re.sub(r"\s+", "", text)


def _count(engine: Engine, call_id: int) -> int:
    with engine.connect() as conn:
        return int(conn.execute(select(func.count()).where(Project.call_id == call_id)).scalar_one())


def _draft_call(engine: Engine, people: People, now: datetime, **values: object) -> int:
    with engine.begin() as conn:
        return create_call(
            conn,
            values={
                "programme_id": programme_id(engine),
                "title": "草拟中的指南",
                "title_en": "A call being drafted",
                "category": Category.SUPPORTED,
                "selection_mode": SelectionMode.MERIT,
                "support_modes": [SupportMode.COMPETITIVE],
                "opens_at": now - timedelta(days=1),
                "closes_at": now + timedelta(days=30),
                **values,
            },
            actor=people["organiser"],
            now=now,
        )


def test_apply_is_refused_until_the_call_opens_and_says_when_it_would_be_accepted(
    engine: Engine, people: People
) -> None:
    now = datetime.now(UTC)  # the CLI acts at the real time
    call_id = _draft_call(engine, people, now)
    en = runner.invoke(cli, ["review", "apply", str(call_id), "我的项目", "--as", APPLICANT, "--lang", "en"])
    assert en.exit_code == 2
    assert (
        "Cannot apply: the call 'A call being drafted' is being drafted and does not accept applications"
        " (it accepts them while: open)" in flat(en.output)
    )
    zh = runner.invoke(cli, ["review", "apply", str(call_id), "我的项目", "--as", APPLICANT])
    assert zh.exit_code == 2 and "不能申报：申报指南“草拟中的指南”当前状态为“编制中”，不接受申报" in squeeze(zh.output)
    fire(engine, subject="call", subject_id=call_id, trigger="publish", actor=people["organiser"], now=now)
    published = runner.invoke(cli, ["review", "apply", str(call_id), "我的项目", "--as", APPLICANT, "--lang", "en"])
    assert published.exit_code == 2 and "is published, not yet open" in flat(published.output)
    assert _count(engine, call_id) == 0

    fire(engine, subject="call", subject_id=call_id, trigger="open", actor=SYSTEM, now=now)
    ok = runner.invoke(cli, ["review", "apply", str(call_id), "我的项目", "--as", APPLICANT])
    assert ok.exit_code == 0, ok.output
    assert _count(engine, call_id) == 1


def test_apply_twice_in_a_row_makes_one_project(engine: Engine, people: People) -> None:
    now = datetime.now(UTC)
    call_id = call(engine, people, now)
    first = runner.invoke(cli, ["review", "apply", str(call_id), "第一次", "--as", APPLICANT])
    assert first.exit_code == 0, first.output
    again = runner.invoke(cli, ["review", "apply", str(call_id), "第二次", "--as", APPLICANT, "--lang", "en"])
    assert again.exit_code == 2
    with engine.connect() as conn:
        code = conn.execute(select(Project.code).where(Project.call_id == call_id)).scalar_one()
    assert f"your unit already has 1 application(s) in the call '测试指南' ({code}); the call allows 1 per unit" in (
        flat(again.output)
    )
    assert _count(engine, call_id) == 1
    # another unit may still apply
    other = runner.invoke(cli, ["review", "apply", str(call_id), "燕园的项目", "--as", "pi@yanyuan.example.edu"])
    assert other.exit_code == 0, other.output
    assert _count(engine, call_id) == 2


def test_a_call_may_allow_more_per_unit_and_ended_applications_do_not_count(
    engine: Engine, people: People, now: datetime
) -> None:
    call_id = call(engine, people, now, per_unit=2)
    applicant = people["applicant"]
    with engine.begin() as conn:
        a = new_project(conn, call_id=call_id, actor=applicant, title="一", now=now)
        new_project(conn, call_id=call_id, actor=applicant, title="二", now=now)
    with engine.begin() as conn, pytest.raises(ApplicationRefused) as info:
        new_project(conn, call_id=call_id, actor=applicant, title="三", now=now)
    assert "the call allows 2 per unit" in info.value.text("en") and "每个单位最多 2 项" in info.value.text("zh")
    fire(engine, subject_id=a, trigger="withdraw", actor=applicant, now=now)  # withdrawn: no longer counts
    with engine.begin() as conn:
        new_project(conn, call_id=call_id, actor=applicant, title="三", now=now)
    assert _count(engine, call_id) == 3


def test_a_call_past_its_deadline_or_closed_takes_no_application(engine: Engine, people: People, now: datetime) -> None:
    call_id = call(engine, people, now, closes_in=timedelta(days=1))
    later = now + timedelta(days=2)
    with engine.begin() as conn, pytest.raises(ApplicationRefused, match="closed at"):
        new_project(conn, call_id=call_id, actor=people["applicant"], title="迟到", now=later)
    fire(engine, subject="call", subject_id=call_id, trigger="close_call", actor=SYSTEM, now=later)
    with engine.begin() as conn, pytest.raises(ApplicationRefused) as info:
        new_project(conn, call_id=call_id, actor=people["applicant"], title="迟到", now=later)
    assert "does not accept applications" in info.value.text("en") and "已截止" in info.value.text("zh")
    with engine.begin() as conn, pytest.raises(Forbidden, match="only an applicant"):
        new_project(conn, call_id=call_id, actor=people["office"], title="办公室", now=now)
    assert _count(engine, call_id) == 0


def test_which_call_states_accept_applications_comes_from_the_table(engine: Engine, people: People) -> None:
    call_wf = get_registry().get("call")
    assert call_wf.states_where(lambda s: s.accepting) == ["open"]
    assert all(not wf.states_where(lambda s: s.accepting) for wf in get_registry() if wf.subject != "call")


def test_the_per_unit_limit_must_be_at_least_one(engine: Engine, people: People, now: datetime) -> None:
    with pytest.raises(CallInvalid, match="at least 1"):
        _draft_call(engine, people, now, max_applications_per_unit=0)
    with engine.begin() as conn:  # a call stored without the setting allows one
        cid = create(
            conn,
            subject="call",
            actor=people["organiser"],
            now=now,
            values={
                "programme_id": programme_id(engine),
                "title": "旧指南",
                "category": Category.SUPPORTED,
                "selection_mode": SelectionMode.MERIT,
            },
        )
        assert conn.execute(select(Call.max_applications_per_unit).where(Call.id == cid)).scalar_one() == 1
