"""Third-party evaluation: an evaluator is engaged only if qualified on the dates and independent,
and a refusal names every rule it breaks, in both languages; results are scored by the rubric of
the evaluated side and listed per programme and period for the disclosure."""

from __future__ import annotations

from datetime import date, timedelta
from decimal import Decimal

import pytest
from sqlalchemy import Engine, insert, select, update

from grantflow.db.models import Organisation, Programme, Project, User
from grantflow.services.evaluation import (
    add_qualification,
    assign_evaluator,
    evaluator_assigned,
    evaluator_assignments,
    programme_results,
    record_result,
    withdraw_assignment,
)
from grantflow.services.review import set_partners
from grantflow.states.errors import Forbidden, PayloadInvalid
from grantflow.states.evaluation import EvaluatorRefused
from tests.conftest import T0, People
from tests.factories import make_project, programme_id

FULL_MARKS = {"execution": "30", "fund_management": "22.5", "obligations": "18", "reporting": "16"}


def _evaluator(people: People) -> int:
    org = people["evaluator"].organisation_id
    assert org is not None
    return org


def _qualify(
    engine: Engine, people: People, org: int, *, code: str = "project_evaluation", **dates: date | None
) -> None:
    with engine.begin() as conn:
        add_qualification(
            conn,
            organisation_id=org,
            code=code,
            valid_from=dates.get("valid_from") or date(2025, 1, 1),
            valid_until=dates.get("valid_until", date(2027, 12, 31)),
            actor=people["office"],
            now=T0,
            issuer="市科委",
        )


def _assign(engine: Engine, people: People, org: int, project_id: int, **kw: object) -> int:
    with engine.begin() as conn:
        return assign_evaluator(
            conn,
            evaluator_id=org,
            subject=str(kw.pop("subject", "project")),
            subject_id=project_id,
            stage=str(kw.pop("stage", "midterm")),
            actor=kw.pop("actor", people["office"]),  # type: ignore[arg-type]
            now=T0,
            **kw,  # type: ignore[arg-type]
        )


def _refusal(engine: Engine, people: People, org: int, project_id: int, **kw: object) -> EvaluatorRefused:
    with pytest.raises(EvaluatorRefused) as caught:
        _assign(engine, people, org, project_id, **kw)
    return caught.value


def test_an_evaluator_without_a_qualification_is_refused_and_told_why(engine: Engine, people: People) -> None:
    pid = make_project(engine, people, T0, state="in_execution")
    org = _evaluator(people)
    refused = _refusal(engine, people, org, pid)
    assert refused.rules == ["not_qualified"]
    assert "资质不符" in refused.text("zh") and "项目第三方评估资质" in refused.text("zh")
    assert "not qualified" in refused.text("en")
    assert refused.details["rules"] == ["not_qualified"]
    with engine.connect() as conn:
        assert not evaluator_assigned(conn, project_id=pid, organisation_id=org)


def test_a_qualification_must_be_valid_on_the_day_and_until_the_due_date(engine: Engine, people: People) -> None:
    pid = make_project(engine, people, T0, state="in_execution")
    org = _evaluator(people)
    # expired the day before: T0 is 2026-03-02 in Beijing
    _qualify(engine, people, org, valid_from=date(2024, 1, 1), valid_until=date(2026, 3, 1))
    expired = _refusal(engine, people, org, pid)
    assert expired.rules == ["not_qualified"]
    assert "2026-03-02" in expired.text("en") and "2024-01-01 to 2026-03-01" in expired.text("en")
    # renewed from June: not valid today either
    _qualify(engine, people, org, valid_from=date(2026, 6, 1), valid_until=date(2028, 5, 31))
    assert _refusal(engine, people, org, pid).rules == ["not_qualified"]
    # valid today but lapsing before the evaluation is due
    _qualify(engine, people, org, valid_from=date(2026, 3, 1), valid_until=date(2026, 4, 30))
    lapsing = _refusal(engine, people, org, pid, due_on=date(2026, 5, 15))
    assert lapsing.rules == ["not_qualified"] and "2026-05-15" in lapsing.text("zh")
    # the same evaluator, due within its validity: engaged
    aid = _assign(engine, people, org, pid, due_on=date(2026, 4, 30))
    with engine.connect() as conn:
        assert evaluator_assigned(conn, project_id=pid, organisation_id=org, stage="midterm")
        assert evaluator_assigned(conn, project_id=pid, user_id=people["evaluator"].user_id)
        assert not evaluator_assigned(conn, project_id=pid, organisation_id=org, stage="acceptance")
        assert evaluator_assignments(conn, pid) == frozenset({(org, "midterm")})
    # withdrawn engagements no longer count
    with engine.begin() as conn:
        withdraw_assignment(conn, assignment_id=aid, reason="调整评估安排", actor=people["office"], now=T0)
    with engine.connect() as conn:
        assert not evaluator_assigned(conn, project_id=pid, organisation_id=org)


def test_a_programme_needs_the_programme_qualification(engine: Engine, people: People) -> None:
    org = _evaluator(people)
    _qualify(engine, people, org)  # projects only
    prog = programme_id(engine)
    refused = _refusal(engine, people, org, prog, subject="programme")
    assert refused.rules == ["not_qualified"] and "重大专项第三方评估资质" in refused.text("zh")
    _qualify(engine, people, org, code="programme_evaluation")
    assert _assign(engine, people, org, prog, subject="programme") > 0


def test_the_undertaking_and_organising_units_are_not_independent(engine: Engine, people: People) -> None:
    pid = make_project(engine, people, T0, state="in_execution")
    org = _evaluator(people)
    _qualify(engine, people, org)
    with engine.begin() as conn:
        conn.execute(update(Project).where(Project.id == pid).values(undertaking_unit_id=org))
        conn.execute(update(Programme).where(Programme.id == programme_id(engine)).values(organising_unit_id=org))
    refused = _refusal(engine, people, org, pid)
    assert set(refused.rules) == {"undertaking_unit", "organising_unit"}
    assert "承担单位" in refused.text("zh") and "组织单位" in refused.text("zh")
    assert "undertaking unit" in refused.text("en") and "organising unit" in refused.text("en")


def test_a_collaborating_unit_is_not_independent(engine: Engine, people: People) -> None:
    pid = make_project(engine, people, T0, state="in_execution")
    org = _evaluator(people)
    _qualify(engine, people, org)
    with engine.begin() as conn:
        set_partners(conn, project_id=pid, organisation_ids=[org])
    refused = _refusal(engine, people, org, pid)
    assert refused.rules == ["partner"] and "合作单位" in refused.text("zh") and "collaborating" in refused.text("en")


def test_shared_people_make_an_evaluator_dependent(engine: Engine, people: People) -> None:
    pid = make_project(engine, people, T0, state="in_execution")
    org = _evaluator(people)
    _qualify(engine, people, org)
    # someone registered with the evaluator whose address is the undertaking unit's
    with engine.begin() as conn:
        conn.execute(
            insert(User).values(
                name="双重身份", email="moonlight@jinghua.example.com", organisation_id=org, language="zh"
            )
        )
    refused = _refusal(engine, people, org, pid)
    assert (
        refused.rules == ["shared_people"]
        and "双重身份" in refused.text("zh")
        and "shares people" in refused.text("en")
    )


def test_the_principal_investigator_working_for_the_evaluator_is_shared(engine: Engine, people: People) -> None:
    pid = make_project(engine, people, T0, state="in_execution")
    org = _evaluator(people)
    _qualify(engine, people, org)
    with engine.begin() as conn:
        conn.execute(
            update(Project).where(Project.id == pid).values(principal_investigator_id=people["evaluator"].user_id)
        )
    assert _refusal(engine, people, org, pid).rules == ["shared_people"]


def test_every_failed_rule_is_listed_at_once(engine: Engine, people: People) -> None:
    pid = make_project(engine, people, T0, state="in_execution")
    with engine.connect() as conn:
        unit = conn.execute(select(Project.undertaking_unit_id).where(Project.id == pid)).scalar_one()
    refused = _refusal(engine, people, unit, pid)  # the undertaking unit trying to evaluate itself
    assert refused.rules == ["not_an_evaluator", "not_qualified", "undertaking_unit"]


def test_only_the_office_engages_evaluators(engine: Engine, people: People) -> None:
    pid = make_project(engine, people, T0, state="in_execution")
    org = _evaluator(people)
    _qualify(engine, people, org)
    for who in ("applicant", "organiser", "evaluator"):
        with pytest.raises(Forbidden):
            _assign(engine, people, org, pid, actor=people[who])


def test_stage_and_year_are_checked(engine: Engine, people: People) -> None:
    pid = make_project(engine, people, T0, state="in_execution")
    org = _evaluator(people)
    _qualify(engine, people, org)
    with pytest.raises(PayloadInvalid) as bad:
        _assign(engine, people, org, pid, stage="post_evaluation")
    assert "year" in bad.value.text("en")
    with pytest.raises(PayloadInvalid):
        _assign(engine, people, org, pid, stage="midterm", year=2026)
    _assign(engine, people, org, pid)
    with pytest.raises(PayloadInvalid) as twice:
        _assign(engine, people, org, pid)
    assert "already engaged" in twice.value.text("en")


def test_results_are_scored_by_the_rubric_and_listed_for_the_disclosure(engine: Engine, people: People) -> None:
    pid = make_project(engine, people, T0, state="in_execution")
    org = _evaluator(people)
    _qualify(engine, people, org)
    aid = _assign(engine, people, org, pid)
    with engine.begin() as conn, pytest.raises(Forbidden):
        record_result(conn, assignment_id=aid, scores=FULL_MARKS, conclusion="好", actor=people["office"], now=T0)
    with engine.begin() as conn, pytest.raises(PayloadInvalid) as bad:
        record_result(
            conn,
            assignment_id=aid,
            scores={"execution": "36", "plan_drafting": "10"},
            conclusion="",
            actor=people["evaluator"],
            now=T0,
        )
    message = bad.value.text("en")
    for expected in (
        "no score for 'fund management'",
        "between 0 and 35",
        "'plan_drafting' is not a criterion",
        "conclusion",
    ):
        assert expected in message
    with engine.begin() as conn:
        record_result(
            conn,
            assignment_id=aid,
            scores=FULL_MARKS,
            conclusion="执行良好，经费使用规范",
            actor=people["evaluator"],
            now=T0 + timedelta(days=1),
        )
    with engine.connect() as conn:
        rows = programme_results(conn, programme_id=programme_id(engine), start=T0, end=T0 + timedelta(days=31))
        before = programme_results(conn, programme_id=programme_id(engine), start=T0 - timedelta(days=31), end=T0)
    assert before == []
    (row,) = rows
    assert row.total == Decimal("86.50") and row.grade == "excellent" and row.rubric == "undertaking_unit"
    assert row.scores["fund_management"] == Decimal("22.50") and row.stage == "midterm" and row.subject_id == pid
    assert row.evaluator_name == "清源评估咨询中心"
    with engine.connect() as conn:
        name = conn.execute(select(Organisation.name).where(Organisation.id == org)).scalar_one()
    assert name == row.evaluator_name


def test_the_command_line_refuses_with_the_same_rules_and_records_results(engine: Engine, people: People) -> None:
    from typer.testing import CliRunner

    from grantflow.cli.main import app as cli

    runner = CliRunner()
    pid = make_project(engine, people, T0, state="in_execution")
    org = str(_evaluator(people))
    office = "office@kw.example.cn"
    refused = runner.invoke(
        cli, ["evaluation", "assign", org, "--project", str(pid), "--stage", "midterm", "--as", office, "--lang", "en"]
    )
    assert refused.exit_code == 2 and "not qualified" in refused.output and "rules: not_qualified" in refused.output
    qualified = runner.invoke(
        cli, ["evaluation", "qualify", org, "--from", "2020-01-01", "--as", office, "--issuer", "市科委"]
    )
    assert qualified.exit_code == 0, qualified.output
    by_organiser = runner.invoke(
        cli,
        ["evaluation", "assign", org, "--project", str(pid), "--stage", "midterm", "--as", People.SHORT["organiser"]],
    )
    assert by_organiser.exit_code == 2 and "只有领导小组办公室或领导小组可以委托第三方评估" in by_organiser.output
    engaged = runner.invoke(
        cli, ["evaluation", "assign", org, "--project", str(pid), "--stage", "midterm", "--as", office]
    )
    assert engaged.exit_code == 0, engaged.output
    aid = engaged.output.split()[-1]
    scores = [arg for k, v in FULL_MARKS.items() for arg in ("--score", f"{k}={v}")]
    recorded = runner.invoke(
        cli, ["evaluation", "record", aid, *scores, "--conclusion", "良好", "--as", People.SHORT["evaluator"]]
    )
    assert recorded.exit_code == 0, recorded.output
    listed = runner.invoke(cli, ["evaluation", "list", "--project", str(pid), "--as", office, "--lang", "en"])
    assert listed.exit_code == 0 and "86.50" in listed.output and "excellent" in listed.output


def test_an_engaged_evaluation_organisation_reads_and_decides_until_withdrawn(engine: Engine, people: People) -> None:
    """The office's engagement is what admits the evaluator's people to the project: they see it
    and may pass its mid-term review; once the engagement is withdrawn they are refused again."""
    from grantflow.db.apply import fire
    from grantflow.db.facts import load_facts
    from grantflow.db.workflows import get_registry

    withdrawn, engaged = (make_project(engine, people, T0, state="midterm_review") for _ in range(2))
    evaluator = people["evaluator"]
    wf = get_registry().get("standard")
    with engine.connect() as conn:
        assert not wf.may_view(load_facts(conn, "project", engaged), evaluator)
    org = _evaluator(people)
    _qualify(engine, people, org)
    first = _assign(engine, people, org, withdrawn, due_on=date(2026, 6, 30))
    _assign(engine, people, org, engaged, due_on=date(2026, 6, 30))
    with engine.connect() as conn:
        assert wf.may_view(load_facts(conn, "project", withdrawn), evaluator)
    with engine.begin() as conn:
        withdraw_assignment(conn, assignment_id=first, reason="换人", actor=people["office"], now=T0)
    with engine.connect() as conn:
        assert not wf.may_view(load_facts(conn, "project", withdrawn), evaluator)
    with pytest.raises(Forbidden):
        fire(engine, subject_id=withdrawn, trigger="pass_midterm", actor=evaluator, now=T0)
    done = fire(engine, subject_id=engaged, trigger="pass_midterm", actor=evaluator, now=T0)
    assert done.from_state != done.to_state
