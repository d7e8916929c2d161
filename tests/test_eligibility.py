"""Eligibility (准入条件): the rules purely, then at submission through the engine."""

from __future__ import annotations

from datetime import UTC, datetime, timedelta

import pytest
from sqlalchemy import Engine

from grantflow.clock import SimulatedClock
from grantflow.db.apply import fire
from grantflow.services.eligibility import Ineligible, check, submit
from grantflow.states.eligibility import (
    ApplicantFacts,
    EligibilityRules,
    RulesInvalid,
    describe,
    parse_rules,
    post_evaluation_report_due,
    problems,
)
from grantflow.states.enums import SelectionMode
from grantflow.states.errors import GuardFailed
from grantflow.states.text import Text
from tests.conftest import People
from tests.factories import drive, state_of
from tests.test_review_helpers import call, draft, move_org, qualify

NOW = datetime(2026, 3, 2, 1, 0, tzinfo=UTC)
DAY = timedelta(days=1)


def _applicant(**kw: object) -> ApplicantFacts:
    base: dict[str, object] = {
        "unit_id": 1,
        "unit_kind": "undertaking_unit",
        "unit_type": "enterprise",
        "region": "北京市",
    }
    base.update(kw)
    return ApplicantFacts(**base)  # type: ignore[arg-type]


def test_empty_rules_admit_everyone() -> None:
    assert problems(parse_rules({}), _applicant(), NOW) == []
    assert parse_rules(None).empty


def test_every_failed_condition_is_listed_in_both_languages() -> None:
    rules = parse_rules(
        {
            "unit_kinds": ["undertaking_unit"],
            "unit_types": ["university", "institute"],
            "regions": ["北京市"],
            "qualifications": ["high_tech_enterprise", "iso9001"],
            "max_active_projects_per_unit": 2,
            "max_active_projects_per_pi": 1,
            "no_overdue_reports": True,
        }
    )
    applicant = _applicant(
        unit_kind="evaluator",
        region="天津市",
        qualifications={"iso9001": NOW - timedelta(days=1)},  # expired yesterday
        active_projects_of_unit=2,
        active_projects_of_pi=1,
        reports_due=(
            (Text("ZX07-2024-00001 2025年度后评估报告", "ZX07-2024-00001 post-evaluation report 2025"), NOW - DAY),
            (Text("ZX07-2024-00002 2026年度后评估报告", "ZX07-2024-00002 post-evaluation report 2026"), NOW + DAY),
        ),
    )
    found = problems(rules, applicant, NOW)
    assert len(found) == 7
    en = " | ".join(t.en for t in found)
    zh = " | ".join(t.zh for t in found)
    for part in (
        "wrong kind",
        "type does not qualify",
        "registered in",
        "high-tech enterprise",
        "ISO 9001",
        "limit is 2",
        "limit is 1",
        "post-evaluation report 2025",
    ):
        assert part in en
    assert "post-evaluation report 2026" not in en  # not due yet
    for part in ("单位类别", "单位性质", "注册地", "高新技术企业", "逾期未交"):
        assert part in zh


def test_valid_qualification_and_open_ended_one_pass() -> None:
    rules = EligibilityRules(qualifications=frozenset({"gmp", "iso9001"}))
    ok = _applicant(qualifications={"gmp": None, "iso9001": NOW + timedelta(days=30)})
    assert problems(rules, ok, NOW) == []


def test_directed_call_admits_only_the_designated_unit() -> None:
    other = _applicant(
        unit_id=2, selection_mode=SelectionMode.DIRECTED, designated_unit_id=1, designated_unit_name="京华"
    )
    (reason,) = problems(EligibilityRules(), other, NOW)
    assert "京华" in reason.zh and "directed commission" in reason.en
    assert problems(EligibilityRules(), _applicant(selection_mode="directed", designated_unit_id=1), NOW) == []


@pytest.mark.parametrize(
    ("doc", "fragment"),
    [
        ({"colour": "red"}, "unknown eligibility condition 'colour'"),
        ({"unit_types": ["spaceship"]}, "unknown value 'spaceship'"),
        ({"qualifications": "nonsense"}, "unknown value 'nonsense'"),
        ({"max_active_projects_per_pi": -1}, "whole number"),
        ({"max_active_projects_per_unit": "3"}, "whole number"),
        ({"no_overdue_reports": "yes"}, "true or false"),
        ({"regions": [""]}, "list of names"),
    ],
)
def test_bad_rule_documents_are_refused_with_a_reason(doc: dict[str, object], fragment: str) -> None:
    with pytest.raises(RulesInvalid) as info:
        parse_rules(doc)
    assert any(fragment in p.en for p in info.value.problems)
    assert all(p.zh for p in info.value.problems)


def test_rules_describe_themselves() -> None:
    rules = parse_rules({"unit_types": ["enterprise"], "max_active_projects_per_pi": 1, "no_overdue_reports": True})
    assert [t.en for t in describe(rules)] == [
        "unit type: enterprise",
        "at most 1 projects under way per principal investigator",
        "no overdue reports on earlier projects",
    ]
    assert parse_rules(rules.as_dict()) == rules


def test_post_evaluation_report_is_due_at_the_end_of_march() -> None:
    assert post_evaluation_report_due(2025) == datetime(2026, 3, 31, 16, 0, tzinfo=UTC)


# --- through the engine ------------------------------------------------------------------------------


def test_refused_applicant_sees_every_reason_and_nothing_changes(engine: Engine, people: People, now: datetime) -> None:
    call_id = call(
        engine,
        people,
        now,
        eligibility={
            "unit_types": ["enterprise", "university"],
            "regions": ["北京市"],
            "qualifications": ["rd_centre"],
        },
    )
    qualify(engine, people, "applicant", "rd_centre")
    move_org(engine, people, "applicant3", region="天津市")
    bad = draft(engine, people, now, call_id, "applicant3")
    with pytest.raises(Ineligible) as info:
        submit(engine, project_id=bad, actor=people["applicant3"], now=now)
    assert len(info.value.reasons) == 3
    assert "research institute" in info.value.text("en") and "天津市" in info.value.text("zh")
    assert "R&D centre" in info.value.text("en")
    assert state_of(engine, bad) == "draft"
    # the guard on the row refuses any path that skips the check, listing the same reasons
    with pytest.raises(GuardFailed) as guard:
        fire(engine, subject_id=bad, trigger="submit", actor=people["applicant3"], now=now)
    assert guard.value.reasons == info.value.reasons

    good = draft(engine, people, now, call_id, "applicant")
    assert submit(engine, project_id=good, actor=people["applicant"], now=now).to_state == "submitted"


def test_concurrency_limits_count_projects_under_way(engine: Engine, people: People, now: datetime) -> None:
    call_id = call(
        engine,
        people,
        now,
        eligibility={"max_active_projects_per_pi": 1, "max_active_projects_per_unit": 2},
        per_unit=2,
    )
    first = draft(engine, people, now, call_id, "applicant")
    second = draft(engine, people, now, call_id, "applicant")
    with engine.connect() as conn:
        assert check(conn, project_id=second, now=now) == []  # drafts do not count
    submit(engine, project_id=first, actor=people["applicant"], now=now)
    with pytest.raises(Ineligible) as info:
        submit(engine, project_id=second, actor=people["applicant"], now=now)
    assert [r.en for r in info.value.reasons] == [
        "the principal investigator already leads 1 projects under way; the limit is 1"
    ]
    fire(engine, subject_id=first, trigger="withdraw", actor=people["applicant"], now=now)
    assert submit(engine, project_id=second, actor=people["applicant"], now=now).to_state == "submitted"


def test_overdue_post_evaluation_report_blocks_a_new_application(engine: Engine, people: People, now: datetime) -> None:
    old_call = call(engine, people, now)
    earlier = draft(engine, people, now, old_call, "applicant2")
    drive(engine, people, earlier, "post_evaluation", now)  # accepted today: 2026 is its first year
    new_call = call(engine, people, now, eligibility={"no_overdue_reports": True})
    pid = draft(engine, people, now, new_call, "applicant2")
    with engine.connect() as conn:
        assert check(conn, project_id=pid, now=now) == []  # the 2026 report is not due until 2027-03-31
    later = datetime(2027, 4, 2, 1, 0, tzinfo=UTC)
    with engine.connect() as conn:
        (reason,) = check(conn, project_id=pid, now=later)
    assert "post-evaluation report 2026" in reason.en and "2026年度后评估报告" in reason.zh


def test_cli_lists_every_reason_in_the_chosen_language(
    engine: Engine, people: People, now: datetime, clock: SimulatedClock
) -> None:
    from typer.testing import CliRunner

    from grantflow.cli.main import app

    runner = CliRunner()
    call_id = call(engine, people, now, eligibility={"unit_types": ["enterprise"], "qualifications": ["gmp"]})
    pid = draft(engine, people, now, call_id, "applicant2")
    when = now.isoformat()
    en = runner.invoke(app, ["review", "eligibility", str(pid), "--lang", "en"])
    assert en.exit_code == 1
    said = " ".join(en.output.split())
    assert "type does not qualify" in said and "GMP" in said
    # one language for the whole command line (the global --lang), whoever acts
    refused = runner.invoke(app, ["--lang", "en", "review", "submit", str(pid), "--as", "pi@yanyuan.example.edu"])
    assert refused.exit_code == 2 and "Not eligible" in refused.output
    assert state_of(engine, pid) == "draft"
    bad_call = runner.invoke(
        app,
        [
            "review",
            "call-create",
            "--as",
            "organiser@jxw.example.cn",
            "--programme",
            "7",
            "--title",
            "t",
            "--category",
            "organised",
            "--mode",
            "merit",
            "--support",
            "competitive",
            "--opens",
            when,
            "--closes",
            when,
        ],
    )
    assert bad_call.exit_code == 2
    said = bad_call.output.replace("\n", "")  # rich wraps long lines
    assert "政府直接组织开展类项目只能采用" in said and "截止时间须晚于开始时间" in said
