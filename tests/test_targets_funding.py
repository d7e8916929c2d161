"""Targets, results and funding: projects with known targets, results and budgets roll up to their
programme with every total and percentage exact (worked out by hand below); the stage report's
second version feeds them; replacing targets or budgets returns the before and after."""

from __future__ import annotations

from datetime import timedelta
from decimal import Decimal

import pytest
from sqlalchemy import Engine, select, update

from grantflow.db.models import Project, Target, TargetResult
from grantflow.forms.definitions import FORMS
from grantflow.services.forms import save_form
from grantflow.services.funding import (
    apply_budget_changes,
    category_change_problems,
    record_spending,
    replace_budget,
    totals_by_category,
    totals_by_programme,
)
from grantflow.services.targets import (
    programme_rollups,
    project_progress,
    record_results,
    replace_programme_targets,
    replace_project_targets,
)
from grantflow.states.errors import Forbidden, PayloadInvalid
from grantflow.states.targets import Progress, overall
from tests.conftest import T0, People
from tests.factories import make_call, make_project, programme_id

D = Decimal

PUBLISHED_V2 = {
    ("midterm_report", 2): "7a17ea07a0e87b76",
    ("acceptance_report", 2): "29ce557bdc7e19e4",
    ("post_evaluation_report", 2): "de15123ffcc496eb",
}


def test_report_versions_with_results_are_published_and_never_edited() -> None:
    for (key, version), fingerprint in PUBLISHED_V2.items():
        assert FORMS.get(key, version).fingerprint() == fingerprint
        assert FORMS.get(key, 1).fingerprint() != fingerprint  # version 1 is still there, unchanged
        assert FORMS.latest(key).version == 2


def _ids(engine: Engine, project_id: int) -> list[int]:
    with engine.connect() as conn:
        return list(
            conn.execute(
                select(Target.id)
                .where(Target.project_id == project_id, Target.retired_at.is_(None))
                .order_by(Target.position)
            ).scalars()
        )


def _midterm(result_rows: list[dict[str, str]], spending: list[dict[str, str]]) -> dict[str, object]:
    return {
        "progress": "按计划推进",
        "targets_progress": [{"target": "标准研制", "status": "on_track"}],
        "standards_drafted": "2",
        "patents_filed": "7",
        "people_trained": "5",
        "spending": [{"source": "municipal_budget", "budgeted": "500000", "spent": "120000.10"}],
        "next_steps": "继续",
        "results": result_rows,
        "period_spending": spending,
    }


@pytest.fixture
def programme(engine: Engine, people: People) -> dict[str, int]:
    """Programme 7 with three projects, their targets, results and budgets (the numbers the test checks)."""
    office = people["office"]
    prog = programme_id(engine)
    call = make_call(engine, people, T0)
    p1 = make_project(engine, people, T0, call_id=call, state="in_execution", title="减速器")
    p2 = make_project(engine, people, T0, call_id=call, title="伺服电机")
    p3 = make_project(engine, people, T0, call_id=call, title="增材制造")
    with engine.begin() as conn:
        conn.execute(update(Project).where(Project.id == p3).values(category="encouraged"))
        replace_programme_targets(
            conn,
            programme_id=prog,
            targets=[
                {"kind": "standard", "planned": "10", "weight": "50"},
                {"kind": "ip", "planned": "20", "weight": "30"},
                {"kind": "custom", "custom_kind": "示范工程", "planned": "4", "weight": "20"},
                {"kind": "revenue", "planned": "1000000.00"},  # shown, but carries no weight
            ],
            actor=office,
            now=T0,
        )
        replace_project_targets(
            conn,
            project_id=p1,
            targets=[
                {"kind": "standard", "planned": 4, "description": "行业标准"},
                {"kind": "ip", "planned": 10},
                {"kind": "talent", "planned": 5},
            ],
            actor=people["organiser"],  # the programme's organising unit
            now=T0,
        )
        replace_project_targets(
            conn,
            project_id=p2,
            targets=[
                {"kind": "standard", "planned": 3},
                {"kind": "ip", "planned": 6},
                {"kind": "custom", "custom_kind": "示范工程", "planned": 2},
            ],
            actor=office,
            now=T0,
        )
        replace_project_targets(
            conn,
            project_id=p3,
            targets=[{"kind": "standard", "planned": 2}, {"kind": "revenue", "planned": "500000.50"}],
            actor=office,
            now=T0,
        )
        for pid, lines in (
            (
                p1,
                [
                    {"source": "municipal_budget", "support_mode": "competitive", "amount": "500000.00"},
                    {"source": "own_funds", "amount": "200000"},
                ],
            ),
            (
                p2,
                [
                    {"source": "district_budget", "support_mode": "demonstration", "amount": "300000.50"},
                    {"source": "private_capital", "amount": "100000"},
                ],
            ),
            (
                p3,
                [
                    {"source": "municipal_budget", "support_mode": "post_subsidy", "amount": "1000000"},
                    {"source": "private_capital", "support_mode": "equity_investment", "amount": "250000"},
                ],
            ),
        ):
            replace_budget(conn, project_id=pid, lines=lines, actor=office, now=T0)
    # project 1 reports through its mid-term report (version 2), as an applicant does
    t1 = _ids(engine, p1)
    with engine.begin() as conn:
        saved = save_form(
            conn,
            project_id=p1,
            form_key="midterm_report",
            raw=_midterm(
                [{"target": "1", "value": "2"}, {"target": "2", "value": "7"}, {"target": "3", "value": "5"}],
                [{"source": "municipal_budget", "amount": "120,000.10"}, {"source": "own_funds", "amount": "50000"}],
            ),
            actor=people["applicant"],
            submit=True,
            now=T0,
        )
    assert saved.submitted, saved.errors
    assert len(t1) == 3
    # project 2 over two reports; project 3 reports, then its standard target is replaced away
    t2, t3 = _ids(engine, p2), _ids(engine, p3)
    with engine.begin() as conn:
        record_results(
            conn,
            project_id=p2,
            form_key="midterm_report",
            period=None,
            submission_id=None,
            rows=[(t2[0], "3", None), (t2[1], "2", None), (t2[2], "1", None)],
            now=T0,
        )
        record_results(
            conn,
            project_id=p2,
            form_key="acceptance_report",
            period=None,
            submission_id=None,
            rows=[(t2[0], "1", "超额完成")],
            now=T0,
        )
        record_spending(
            conn,
            project_id=p2,
            form_key="midterm_report",
            period=None,
            submission_id=None,
            rows=[("district_budget", "100000.25")],
            now=T0,
        )
        record_spending(
            conn,
            project_id=p2,
            form_key="acceptance_report",
            period=None,
            submission_id=None,
            rows=[("district_budget", "50000")],
            now=T0,
        )
        record_results(
            conn,
            project_id=p3,
            form_key="post_evaluation_report",
            period=2026,
            submission_id=None,
            rows=[(t3[0], "1", None), (t3[1], "250000.25", None)],
            now=T0,
        )
        replace_project_targets(
            conn,
            project_id=p3,
            targets=[{"id": t3[1], "kind": "revenue", "planned": "500000.50"}],
            actor=office,
            now=T0,
            reason="标准任务调出",
        )
    return {"programme": prog, "p1": p1, "p2": p2, "p3": p3}


def test_programme_roll_up_adds_up(engine: Engine, programme: dict[str, int]) -> None:
    with engine.connect() as conn:
        rollup = programme_rollups(conn)[programme["programme"]]
        assert programme_rollups(conn, programme_id=programme["programme"])[programme["programme"]] == rollup
    by_kind = {line.label.zh: line for line in rollup.lines}
    expected = {
        # kind: (programme target, weight, projects, projects planned, achieved, % of programme, % of projects)
        "技术标准": (D("10.00"), D("50.00"), 2, D("7.00"), D("6.00"), D("60.00"), D("85.71")),
        "专利及其他知识产权": (D("20.00"), D("30.00"), 2, D("16.00"), D("9.00"), D("45.00"), D("56.25")),
        "示范工程": (D("4.00"), D("20.00"), 1, D("2.00"), D("1.00"), D("25.00"), D("50.00")),
        "收入（元）": (D("1000000.00"), None, 1, D("500000.50"), D("250000.25"), D("25.00"), D("50.00")),
        "人才培养": (None, None, 1, D("5.00"), D("5.00"), None, D("100.00")),
    }
    assert set(by_kind) == set(expected)
    for kind, (target, weight, projects, planned, achieved, pct_prog, pct_proj) in expected.items():
        line = by_kind[kind]
        got = (
            line.programme_planned,
            line.weight,
            line.projects,
            line.projects_planned,
            line.achieved,
            line.percent_of_programme_target,
            line.percent_of_project_targets,
        )
        assert got == (target, weight, projects, planned, achieved, pct_prog, pct_proj), kind
    # programme targets first, in their order; then kinds only projects have
    assert [line.kind for line in rollup.lines] == ["standard", "ip", "custom", "revenue", "talent"]
    # weighted: (50 × 0.60 + 30 × 0.45 + 20 × 0.25) / 100; revenue carries no weight and is left out
    assert rollup.overall_percent == D("48.50") and rollup.weighted


def test_project_progress_caps_over_achievement_in_the_overall_figure(
    engine: Engine, programme: dict[str, int]
) -> None:
    with engine.connect() as conn:
        lines, figure, weighted = project_progress(conn, project_id=programme["p2"])
    assert [(t.number, t.planned, t.achieved, t.percent) for t in lines] == [
        (1, D("3.00"), D("4.00"), D("133.33")),
        (2, D("6.00"), D("2.00"), D("33.33")),
        (3, D("2.00"), D("1.00"), D("50.00")),
    ]
    # (1 + 1/3 + 1/2) / 3, over-achievement capped at 100 %
    assert figure == D("61.11") and not weighted


def test_achieved_totals_equal_the_sum_of_results(engine: Engine, programme: dict[str, int]) -> None:
    with engine.connect() as conn:
        for target_id, achieved in conn.execute(select(Target.id, Target.achieved_hundredths)):
            results = conn.execute(
                select(TargetResult.value_hundredths).where(TargetResult.target_id == target_id)
            ).scalars()
            assert achieved == sum(results)


def test_a_report_submitted_again_replaces_its_results(
    engine: Engine, people: People, programme: dict[str, int]
) -> None:
    p1 = programme["p1"]
    with engine.begin() as conn:
        again = save_form(
            conn,
            project_id=p1,
            form_key="midterm_report",
            raw=_midterm([{"target": "1", "value": "3"}], []),
            actor=people["applicant"],
            submit=True,
            now=T0 + timedelta(days=1),
        )
    assert again.submitted, again.errors
    with engine.connect() as conn:
        lines, _, _ = project_progress(conn, project_id=p1)
        totals = {t.group: t for t in totals_by_programme(conn) if t.source == "own_funds"}
    assert [t.achieved for t in lines] == [D("3.00"), D("0.00"), D("0.00")]
    assert totals[programme["programme"]].spent == D("0.00")


def test_a_report_naming_a_target_the_project_lacks_is_refused_in_place(
    engine: Engine, people: People, programme: dict[str, int]
) -> None:
    with engine.begin() as conn:
        result = save_form(
            conn,
            project_id=programme["p1"],
            form_key="midterm_report",
            raw=_midterm(
                [{"target": "9", "value": "1"}, {"target": "1", "value": "1"}, {"target": "1", "value": "2"}], []
            ),
            actor=people["applicant"],
            submit=True,
            now=T0,
        )
    assert not result.submitted
    messages = result.messages("en")
    assert "the project has no target 9 (it has: 1, 2, 3)" in messages["results[0].target"]
    assert "target 1 appears twice" in messages["results[2].target"]


def test_funding_totals_per_programme_and_per_category(engine: Engine, programme: dict[str, int]) -> None:
    prog = programme["programme"]
    with engine.connect() as conn:
        by_programme = {(t.group, t.source): (t.budget, t.spent) for t in totals_by_programme(conn)}
        by_category = {(t.group, t.source): (t.budget, t.spent) for t in totals_by_category(conn)}
    assert by_programme == {
        (prog, "municipal_budget"): (D("1500000.00"), D("120000.10")),
        (prog, "own_funds"): (D("200000.00"), D("50000.00")),
        (prog, "district_budget"): (D("300000.50"), D("150000.25")),
        (prog, "private_capital"): (D("350000.00"), D("0.00")),
    }
    assert by_category == {
        ("supported", "municipal_budget"): (D("500000.00"), D("120000.10")),
        ("supported", "own_funds"): (D("200000.00"), D("50000.00")),
        ("supported", "district_budget"): (D("300000.50"), D("150000.25")),
        ("supported", "private_capital"): (D("100000.00"), D("0.00")),
        ("encouraged", "municipal_budget"): (D("1000000.00"), D("0.00")),
        ("encouraged", "private_capital"): (D("250000.00"), D("0.00")),
    }


def test_budget_support_modes_must_fit_the_category(engine: Engine, people: People, programme: dict[str, int]) -> None:
    p1 = programme["p1"]
    with engine.begin() as conn, pytest.raises(PayloadInvalid) as bad:
        replace_budget(
            conn,
            project_id=p1,
            lines=[
                {"source": "municipal_budget", "support_mode": "post_subsidy", "amount": "1"},
                {"source": "district_budget", "amount": "2"},
                {"source": "own_funds", "amount": "0.001"},
            ],
            actor=people["office"],
            now=T0,
        )
    message = bad.value.text("en")
    assert "line 1: support mode 'post-completion subsidy' does not fit a government-supported project" in message
    assert "line 2: money from the district budget must state its support mode" in message
    assert "line 3: '0.001' is not a valid number" in message
    with engine.connect() as conn:
        # project 3's budget is post-subsidy and equity: a change to 'supported' would not fit it
        problems = category_change_problems(conn, project_id=programme["p3"], category="supported")
        assert len(problems) == 2 and "后补助" in problems[1].zh + problems[0].zh
        assert category_change_problems(conn, project_id=programme["p3"], category="encouraged") == []


def test_budget_changes_return_before_and_after(engine: Engine, people: People, programme: dict[str, int]) -> None:
    with engine.begin() as conn:
        change = apply_budget_changes(
            conn,
            project_id=programme["p1"],
            changes=[
                {"source": "municipal_budget", "support_mode": "competitive", "change": "-100000.00"},
                {"source": "own_funds", "change": "-200000"},
                {"source": "private_capital", "change": "50000.5"},
            ],
            actor=people["organiser"],
            now=T0,
            reason="中期评估后调整",
        )
    assert change["before"] == [
        {
            "source": "municipal_budget",
            "support_mode": "competitive",
            "head": None,
            "amount": "500000.00",
            "note": None,
        },
        {"source": "own_funds", "support_mode": None, "head": None, "amount": "200000.00", "note": None},
    ]
    assert [(x["source"], x["amount"]) for x in change["after"]] == [
        ("municipal_budget", "400000.00"),
        ("private_capital", "50000.50"),
    ]
    with engine.begin() as conn, pytest.raises(PayloadInvalid) as negative:
        apply_budget_changes(
            conn,
            project_id=programme["p1"],
            changes=[{"source": "private_capital", "change": "-60000"}],
            actor=people["office"],
            now=T0,
        )
    assert "negative" in negative.value.text("en")


def test_only_the_office_or_the_organising_unit_sets_targets_and_budgets(
    engine: Engine, people: People, programme: dict[str, int]
) -> None:
    for who in ("applicant", "other_organiser", "evaluator"):
        with engine.begin() as conn, pytest.raises(Forbidden):
            replace_project_targets(conn, project_id=programme["p1"], targets=[], actor=people[who], now=T0)
        with engine.begin() as conn, pytest.raises(Forbidden):
            replace_budget(conn, project_id=programme["p1"], lines=[], actor=people[who], now=T0)


def test_programme_targets_are_one_per_kind_and_checked(engine: Engine, people: People) -> None:
    with engine.begin() as conn, pytest.raises(PayloadInvalid) as bad:
        replace_programme_targets(
            conn,
            programme_id=programme_id(engine),
            targets=[
                {"kind": "standard", "planned": "1"},
                {"kind": "standard", "planned": "2"},
                {"kind": "custom", "planned": "3"},
                {"kind": "patents", "planned": "0"},
                {"kind": "paper", "planned": "1", "weight": "0"},
            ],
            actor=people["office"],
            now=T0,
        )
    message = bad.value.text("en")
    for part in (
        "target 3: a free-form target needs the name of its kind",
        "target 4: unknown target kind 'patents'",
        "target 4: a target's planned value must be above 0",
        "target 5: a weight must be in (0, 100]",
        "programme target 'technical standards' repeated",
    ):
        assert part in message


def test_replacing_targets_keeps_history_and_returns_before_and_after(
    engine: Engine, people: People, programme: dict[str, int]
) -> None:
    p3 = programme["p3"]
    with engine.connect() as conn:
        retired = conn.execute(select(Target).where(Target.project_id == p3, Target.retired_at.is_not(None))).all()
        kept = project_progress(conn, project_id=p3)[0]
    assert [r.kind for r in retired] == ["standard"] and retired[0].achieved_hundredths == 100
    assert [(t.kind, t.number, t.achieved) for t in kept] == [("revenue", 1, D("250000.25"))]


def test_overall_without_weights_is_the_plain_mean_of_capped_shares() -> None:
    figure, weighted = overall([Progress(D(3), D(1)), Progress(D(2), D(4)), Progress(D(8), D(2))])
    assert (figure, weighted) == (D("52.78"), False)  # (1/3 + 1 + 1/4) / 3 = 0.527777…
    assert overall([]) == (None, False)
