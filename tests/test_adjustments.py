"""Dynamic adjustment: every kind through its whole machine on a real database file, through the engine.

A project in execution with a signed task agreement (budget by funding source, targets) is
adjusted by a request that is drafted, submitted, reviewed by the organising unit, approved by
the office (and by the leadership group when major), and applied; or returned and rejected.
"""

from __future__ import annotations

from datetime import UTC, datetime, timedelta
from decimal import Decimal
from typing import Any

import pytest
from sqlalchemy import Engine, func, select, update

from grantflow.config import get_settings, reset_settings
from grantflow.db.apply import fire
from grantflow.db.models import Adjustment, AuditEvent, DueItem, Organisation, OutboxMessage, Project, Submission
from grantflow.flows import jobs
from grantflow.services import adjustments as adj
from grantflow.services.records import save_submission
from grantflow.states.errors import Forbidden, GuardFailed, InvalidTrigger, NotFound
from grantflow.states.permissions import Actor
from tests.conftest import T0, People
from tests.factories import make_project, state_of

START = datetime(2025, 12, 31, 16, 0, tzinfo=UTC)  # 2026-01-01 in Beijing
END = datetime(2027, 12, 30, 16, 0, tzinfo=UTC)  # 2027-12-31 in Beijing

TASK_AGREEMENT = {
    "start_date": "2026-01-01",
    "end_date": "2027-12-31",
    "objectives": "研制工业机器人关键部件",
    "targets": [
        {"kind": "standard", "description": "行业标准", "measure": "2 项", "due": "2027-06-30"},
        {"kind": "ip", "description": "发明专利", "measure": "5 项", "due": "2027-06-30"},
        {"kind": "talent", "description": "培养博士", "measure": "3 名", "due": "2027-12-31"},
    ],
    "total_budget": "1000000.00",
    "budget": [
        {"source": "municipal_budget", "head": "equipment", "amount": "600000.00"},
        {"source": "own_funds", "head": "labour", "amount": "400000.00"},
    ],
}


def executing_project(engine: Engine, people: People, now: datetime, *, period_on_project: bool = True) -> int:
    """A project in execution with its period and a signed task agreement of known content
    (``period_on_project=False``: the project row carries no period before signing)."""
    pid = make_project(engine, people, now, state="commissioning")
    with engine.begin() as conn:
        if period_on_project:
            conn.execute(update(Project).where(Project.id == pid).values(start_date=START, end_date=END))
        save_submission(
            conn,
            project_id=pid,
            form_key="task_agreement",
            data=TASK_AGREEMENT,
            actor=people["applicant"],
            submit=True,
            now=now,
        )
    fire(engine, subject_id=pid, trigger="sign_agreement", actor=people["office"], now=now)
    return pid


def request_for(kind: str, engine: Engine, people: People) -> dict[str, Any]:
    """A request of each kind that the rules accept for ``executing_project``."""
    base: dict[str, Any] = {"kind": kind, "reason": f"调整理由：{kind}"}
    with engine.connect() as conn:
        other_unit = conn.execute(select(Organisation.id).where(Organisation.name == "首都环境科学研究院")).scalar_one()
    extra: dict[str, dict[str, Any]] = {
        "category": {"new_category": "encouraged", "new_support_modes": ["post_subsidy"]},
        "budget": {
            "budget_changes": [
                {"source": "municipal_budget", "head": "equipment", "change": "-50000"},
                {"source": "district_budget", "head": "equipment", "change": "50000"},
            ]
        },
        "extension": {"new_end_date": "2028-06-30", "no_cost": "yes"},
        "undertaking_unit": {"new_unit": str(other_unit)},
        "principal_investigator": {"new_pi_email": "pi2@jinghua.example.com"},
        "targets": {
            "new_targets": [
                {"kind": "standard", "description": "国家标准", "measure": "1 项", "due": "2027-06-30"},
                {"kind": "ip", "description": "发明专利", "measure": "8 项", "due": "2027-06-30"},
                {"kind": "talent", "description": "培养博士", "measure": "3 名", "due": "2027-12-31"},
            ]
        },
    }
    return {**base, **extra.get(kind, {})}


def second_pi(engine: Engine, people: People) -> None:
    """Another person of the undertaking unit, to take over as principal investigator."""
    from sqlalchemy import insert

    from grantflow.db.models import User, UserRole

    with engine.begin() as conn:
        uid = conn.execute(
            insert(User).returning(User.id),
            {
                "name": "吴工",
                "email": "pi2@jinghua.example.com",
                "language": "zh",
                "organisation_id": people["applicant"].organisation_id,
                "expertise": [],
                "active": True,
                "created_at": T0,
            },
        ).scalar_one()
        conn.execute(insert(UserRole), {"user_id": uid, "role": "applicant"})


def start_and_submit(
    engine: Engine, people: People, pid: int, request: dict[str, Any], now: datetime, who: str = "applicant"
) -> int:
    with engine.begin() as conn:
        aid = adj.start(conn, project_id=pid, kind=request["kind"], actor=people[who], raw=request, now=now)
    result = adj.submit(engine, adjustment_id=aid, actor=people[who], now=now)
    assert result.ok, result.messages("en")
    return aid


def act(engine: Engine, aid: int, action: str, actor: Actor, now: datetime, reason: str = "同意") -> str:
    with engine.begin() as conn:
        return adj.decide(conn, adjustment_id=aid, action=action, actor=actor, reason=reason, now=now).to_state


def row(engine: Engine, aid: int) -> Any:
    with engine.connect() as conn:
        return conn.execute(select(Adjustment).where(Adjustment.id == aid)).one()


def project(engine: Engine, pid: int) -> Any:
    with engine.connect() as conn:
        return conn.execute(select(Project).where(Project.id == pid)).one()


def task_agreement(engine: Engine, pid: int) -> dict[str, Any]:
    with engine.connect() as conn:
        return dict(
            conn.execute(
                select(Submission.data).where(Submission.project_id == pid, Submission.form_key == "task_agreement")
            ).scalar_one()
        )


MAJOR = {"category", "termination"}
ALL_KINDS = [
    "category",
    "budget",
    "extension",
    "undertaking_unit",
    "principal_investigator",
    "targets",
    "suspension",
    "resumption",
    "withdrawal",
    "termination",
]


def prepare(engine: Engine, people: People, now: datetime, kind: str) -> int:
    pid = executing_project(engine, people, now)
    if kind == "principal_investigator":
        second_pi(engine, people)
    if kind == "resumption":  # a suspended project, suspended by an applied request
        aid = start_and_submit(engine, people, pid, request_for("suspension", engine, people), now)
        for action, who in (("review", "organiser"), ("approve", "office"), ("apply", "office")):
            act(engine, aid, action, people[who], now)
        assert state_of(engine, pid) == "suspended"
    return pid


@pytest.mark.parametrize("kind", ALL_KINDS)
def test_each_kind_through_its_whole_machine(engine: Engine, people: People, now: datetime, kind: str):
    pid = prepare(engine, people, now, kind)
    before_project = project(engine, pid)
    aid = start_and_submit(engine, people, pid, request_for(kind, engine, people), now)
    assert row(engine, aid).state == "submitted"
    assert act(engine, aid, "review", people["organiser"], now, "组织单位审核同意") == "unit_reviewed"
    to = act(engine, aid, "approve", people["office"], now, "办公室同意")
    if kind in MAJOR:
        assert to == "awaiting_leadership" and row(engine, aid).major is True
        with pytest.raises(InvalidTrigger):  # nothing is applied before the leadership group decides
            act(engine, aid, "apply", people["office"], now)
        assert act(engine, aid, "approve", people["leader"], now, "领导小组同意") == "approved"
    else:
        assert to == "approved" and row(engine, aid).major is False
    later = now + timedelta(hours=1)
    assert act(engine, aid, "apply", people["office"], later, "执行") == "applied"

    stored = row(engine, aid)
    assert stored.applied_at == later
    assert stored.before["project"]["code"] == before_project.code
    after = project(engine, pid)
    ta = task_agreement(engine, pid)
    if kind == "category":
        assert (after.category, after.support_modes) == ("encouraged", ["post_subsidy"])
        assert stored.before["project"]["category"] == "supported"
        assert stored.after["project"]["category"] == "encouraged"
    elif kind == "budget":
        lines = {(b["source"], b["head"]): b["amount"] for b in ta["budget"]}
        assert lines[("municipal_budget", "equipment")] == "550000.00"
        assert lines[("district_budget", "equipment")] == "50000.00"
        assert ta["total_budget"] == "1000000.00" and after.budget_yuan == Decimal("1000000.00")
        assert stored.before["budget"]["by_source"]["municipal_budget"] == "600000.00"
        assert stored.after["budget"]["by_source"] == {
            "district_budget": "50000.00",
            "municipal_budget": "550000.00",
            "own_funds": "400000.00",
        }
        assert stored.before["task_agreement"]["data"]["budget"] == TASK_AGREEMENT["budget"]
    elif kind == "extension":
        assert stored.before["project"]["end_date"] == "2027-12-31"
        assert stored.after["project"]["end_date"] == "2028-06-30" and ta["end_date"] == "2028-06-30"
        assert ta["budget"] == TASK_AGREEMENT["budget"]  # no-cost: the money stays as it was
    elif kind == "undertaking_unit":
        assert after.undertaking_unit_id != before_project.undertaking_unit_id
        assert stored.after["project"]["undertaking_unit"]["name"] == "首都环境科学研究院"
    elif kind == "principal_investigator":
        assert stored.after["project"]["principal_investigator"]["email"] == "pi2@jinghua.example.com"
        assert stored.before["project"]["principal_investigator"]["email"] == "pi@jinghua.example.com"
    elif kind == "targets":
        assert [t["description"] for t in ta["targets"]] == ["国家标准", "发明专利", "培养博士"]
        assert stored.before["targets"] == TASK_AGREEMENT["targets"]
    else:
        expected = {
            "suspension": "suspended",
            "resumption": "in_execution",
            "withdrawal": "withdrawn",
            "termination": "terminated",
        }[kind]
        assert after.state == expected and stored.after["project"]["state"] == expected
    # the full history: who decided at each step and why, on the request; the change on the project
    steps = [(d["action"], d["actor"], d["reason"]) for d in adj.decisions(_conn(engine), aid)]
    assert steps[0][0] == "submit_adjustment"
    assert ("review_adjustment", people["organiser"].name, "组织单位审核同意") in steps
    assert ("approve_adjustment", people["office"].name, "办公室同意") in steps
    assert steps[-1] == ("apply_adjustment", people["office"].name, "执行")
    with engine.connect() as conn:
        project_actions = list(
            conn.execute(
                select(AuditEvent.action).where(AuditEvent.subject == "project", AuditEvent.subject_id == pid)
            ).scalars()
        )
    trigger = {"suspension": "suspend", "resumption": "resume", "withdrawal": "withdraw", "termination": "terminate"}
    assert (trigger.get(kind) or f"adjusted:{kind}") in project_actions


def _conn(engine: Engine) -> Any:
    return engine.connect()


REJECTERS = {"submitted": "organiser", "unit_reviewed": "office", "awaiting_leadership": "leader"}


@pytest.mark.parametrize("kind", ALL_KINDS)
def test_each_kind_can_be_returned_and_then_rejected(engine: Engine, people: People, now: datetime, kind: str):
    pid = prepare(engine, people, now, kind)
    before = project(engine, pid)
    aid = start_and_submit(engine, people, pid, request_for(kind, engine, people), now)
    # returned by the organising unit with a reason, changed and submitted again
    assert act(engine, aid, "return", people["organiser"], now, "请补充说明") == "returned"
    with engine.begin() as conn:
        adj.save_draft(
            conn,
            adjustment_id=aid,
            raw={**request_for(kind, engine, people), "reason": "补充后的理由"},
            actor=people["applicant"],
        )
    assert adj.submit(engine, adjustment_id=aid, actor=people["applicant"], now=now).ok
    assert row(engine, aid).request["reason"] == "补充后的理由"
    # then rejected at the last step this kind reaches
    act(engine, aid, "review", people["organiser"], now)
    step = "unit_reviewed"
    if kind in MAJOR:
        act(engine, aid, "approve", people["office"], now)
        step = "awaiting_leadership"
    assert act(engine, aid, "reject", people[REJECTERS[step]], now, "不予批准的理由") == "rejected"
    after = project(engine, pid)
    assert (after.state, after.category, after.version) == (before.state, before.category, before.version)
    assert row(engine, aid).after is None
    with pytest.raises(InvalidTrigger) as caught:
        act(engine, aid, "apply", people["office"], now)
    assert caught.value.allowed == []  # rejected is final


def test_a_decision_needs_its_reason(engine: Engine, people: People, now: datetime):
    pid = executing_project(engine, people, now)
    aid = start_and_submit(engine, people, pid, request_for("extension", engine, people), now)
    from grantflow.states.errors import PayloadInvalid

    with pytest.raises(PayloadInvalid) as caught:
        act(engine, aid, "reject", people["organiser"], now, reason="")
    assert "reason" in caught.value.message.en
    assert row(engine, aid).state == "submitted"


def test_incompatible_category_and_support_mode_is_refused_with_the_reason(
    engine: Engine, people: People, now: datetime
):
    pid = executing_project(engine, people, now)
    typed = {
        "kind": "category",
        "reason": "转为政府直接组织",
        "new_category": "organised",
        "new_support_modes": ["competitive"],  # a supported project's mode: not allowed when organised
    }
    with engine.begin() as conn:
        aid = adj.start(conn, project_id=pid, kind="category", actor=people["applicant"], raw=typed, now=now)
    with pytest.raises(GuardFailed) as caught:
        adj.submit(engine, adjustment_id=aid, actor=people["applicant"], now=now)
    assert "竞争性项目" in caught.value.message.zh and "不相容" in caught.value.message.zh
    assert "cannot use support mode 'competitive project'" in caught.value.message.en
    stored = row(engine, aid)
    assert stored.state == "drafted" and stored.draft["new_support_modes"] == ["competitive"]  # nothing lost
    # keeping the current support modes is refused too: competitive is the call's mode
    typed.pop("new_support_modes")
    with pytest.raises(GuardFailed):
        adj.submit(engine, adjustment_id=aid, actor=people["applicant"], raw=typed, now=now)
    # a compatible combination goes through
    typed["new_support_modes"] = ["direct_commission"]
    assert adj.submit(engine, adjustment_id=aid, actor=people["applicant"], raw=typed, now=now).ok
    assert project(engine, pid).category == "supported"  # nothing changes before it is applied


def test_the_check_is_made_again_when_applying(engine: Engine, people: People, now: datetime):
    """Two approved requests that cannot both happen: the second is refused at application."""
    pid = executing_project(engine, people, now)
    first = start_and_submit(engine, people, pid, request_for("termination", engine, people), now)
    second = start_and_submit(engine, people, pid, request_for("suspension", engine, people), now)
    for aid in (first, second):
        act(engine, aid, "review", people["organiser"], now)
        act(engine, aid, "approve", people["office"], now)
    act(engine, first, "approve", people["leader"], now)
    act(engine, first, "apply", people["office"], now)
    with pytest.raises(GuardFailed) as caught:
        act(engine, second, "apply", people["office"], now)
    assert "已终止" in caught.value.message.zh
    assert row(engine, second).state == "approved"


def test_form_errors_come_back_beside_the_fields_and_keep_what_was_typed(engine: Engine, people: People, now: datetime):
    pid = executing_project(engine, people, now)
    with engine.begin() as conn:
        aid = adj.start(conn, project_id=pid, kind="extension", actor=people["applicant"], now=now)
    result = adj.submit(
        engine, adjustment_id=aid, actor=people["applicant"], raw={"kind": "extension", "new_end_date": "明年"}, now=now
    )
    assert not result.ok
    keys = result.messages("en")
    assert set(keys) >= {"reason", "new_end_date"}
    stored = row(engine, aid)
    assert stored.state == "drafted" and stored.draft["new_end_date"] == "明年" and stored.draft_errors


def test_termination_stops_reminders_and_appears_in_the_listing(engine: Engine, people: People, now: datetime):
    pid = executing_project(engine, people, now)  # signing scheduled the mid-term and acceptance reports
    with engine.connect() as conn:
        items = conn.execute(select(DueItem.id, DueItem.status).where(DueItem.subject_id == pid)).all()
    assert len(items) == 2 and {i.status for i in items} == {"open"}
    # the office starts it after a poor mid-term review
    aid = start_and_submit(engine, people, pid, request_for("termination", engine, people), now, who="office")
    assert row(engine, aid).initiator == "office"
    act(engine, aid, "review", people["organiser"], now)
    act(engine, aid, "approve", people["office"], now)
    act(engine, aid, "approve", people["leader"], now, "领导小组决定终止")
    applied_at = now + timedelta(days=1)
    act(engine, aid, "apply", people["office"], applied_at)
    with engine.connect() as conn:
        statuses = set(conn.execute(select(DueItem.status).where(DueItem.subject_id == pid)).scalars())
    assert statuses == {"cancelled"}
    # no reminder goes out for the terminated project, however close its old dates come
    mid_term = START + (END - START) / 2
    with engine.connect() as conn:
        before = conn.execute(select(func.count()).select_from(OutboxMessage)).scalar_one()
    for moment in (mid_term - timedelta(days=7), mid_term + timedelta(days=1), END - timedelta(days=1)):
        jobs.run("reminders", engine, moment, get_settings())
    with engine.connect() as conn:
        after = conn.execute(select(func.count()).select_from(OutboxMessage)).scalar_one()
    assert after == before
    # the disclosure's listing of the period shows it, with kind, project, change, decision and date
    with engine.connect() as conn:
        listed = adj.applied_adjustments(
            conn, programme_id=project(engine, pid).programme_id, start=now, end=now + timedelta(days=30)
        )
        outside = adj.applied_adjustments(conn, start=now + timedelta(days=2), end=now + timedelta(days=30))
    assert [a.id for a in listed] == [aid] and outside == []
    item = listed[0]
    assert (item.kind, item.kind_label.en, item.project_code) == (
        "termination",
        "termination",
        project(engine, pid).code,
    )
    assert item.changes == {"project.state": {"before": "in_execution", "after": "terminated"}}
    assert item.major and item.decision.en == "approved by the leadership group"
    assert item.decided_by == (people["office"].name, people["leader"].name)
    assert item.applied_at == applied_at


def test_major_budget_change_needs_the_leadership_group(
    engine: Engine, people: People, now: datetime, monkeypatch: pytest.MonkeyPatch
):
    pid = executing_project(engine, people, now)
    small = {
        "kind": "budget",
        "reason": "设备降价",
        "budget_changes": [{"source": "municipal_budget", "head": "equipment", "change": "-100000"}],
    }
    big = {
        "kind": "budget",
        "reason": "扩大试验规模",
        "budget_changes": [{"source": "private_capital", "head": "equipment", "change": "300000"}],
    }
    minor = start_and_submit(engine, people, pid, small, now)  # 10% of 1,000,000: not above the share
    major = start_and_submit(engine, people, pid, big, now)  # 30%
    assert (row(engine, minor).major, row(engine, major).major) == (False, True)
    assert row(engine, major).major_reason["en"].startswith("the budget change exceeds 10%")
    for aid in (minor, major):
        act(engine, aid, "review", people["organiser"], now)
    assert act(engine, minor, "approve", people["office"], now) == "approved"
    assert act(engine, major, "approve", people["office"], now) == "awaiting_leadership"
    with pytest.raises(Forbidden) as caught:  # the office cannot take the leadership group's decision
        act(engine, major, "approve", people["office"], now)
    assert "领导小组" in caught.value.message.zh
    assert act(engine, major, "approve", people["leader"], now) == "approved"
    # a lower configured share makes the small change major too
    monkeypatch.setenv("GRANTFLOW_ADJUSTMENT_MAJOR_BUDGET_SHARE", "0.05")
    reset_settings()
    third = start_and_submit(engine, people, pid, small, now)
    assert row(engine, third).major is True


def test_only_an_applied_request_suspends_or_terminates_a_project(engine: Engine, people: People, now: datetime):
    pid = executing_project(engine, people, now)
    for trigger, who in (("suspend", "office"), ("terminate", "leader")):
        with pytest.raises(Forbidden) as caught:
            fire(engine, subject_id=pid, trigger=trigger, actor=people[who], payload={"reason": "x"}, now=now)
        assert "an approved dynamic adjustment" in caught.value.message.en
    assert state_of(engine, pid) == "in_execution"


def test_who_may_act_at_each_step(engine: Engine, people: People, now: datetime):
    pid = executing_project(engine, people, now)
    with pytest.raises(Forbidden) as started, engine.begin() as conn:  # the organising unit does not start one
        adj.start(conn, project_id=pid, kind="suspension", actor=people["organiser"], now=now)
    assert "承担单位" in started.value.message.zh
    # an office-started request is submitted by the office, not by the unit
    with engine.begin() as conn:
        aid = adj.start(
            conn, project_id=pid, kind="suspension", actor=people["office"], raw={"reason": "中期评估不合格"}, now=now
        )
    with pytest.raises(Forbidden):
        adj.submit(engine, adjustment_id=aid, actor=people["applicant"], now=now)
    assert adj.submit(engine, adjustment_id=aid, actor=people["office"], now=now).ok
    # the applicant and the leadership group cannot review; another programme's organising unit
    # cannot even see the request
    for who in ("applicant", "leader"):
        with pytest.raises(Forbidden) as caught:
            act(engine, aid, "review", people[who], now)
        assert "只有本专项组织单位的人员可以执行此操作" in caught.value.message.zh
    with pytest.raises(NotFound):
        act(engine, aid, "review", people["other_organiser"], now)
    assert row(engine, aid).state == "submitted"


def test_the_project_has_no_request_before_the_task_agreement(engine: Engine, people: People, now: datetime):
    pid = make_project(engine, people, now, state="under_review")
    with engine.begin() as conn:
        aid = adj.start(conn, project_id=pid, kind="suspension", actor=people["applicant"], raw={"reason": "x"})
    with pytest.raises(GuardFailed) as caught:
        adj.submit(engine, adjustment_id=aid, actor=people["applicant"], now=now)
    assert "不在可调整的阶段" in caught.value.message.zh


def test_the_docs_name_every_row_of_the_adjustment_table():
    from pathlib import Path

    from grantflow.db.workflows import get_registry

    text = (Path(__file__).resolve().parent.parent / "docs" / "adjustments.md").read_text(encoding="utf-8")
    for row in get_registry().get("adjustment").transitions:
        assert f"{row.source} --> {row.dest}: {row.trigger}" in text, row


def test_decisions_reach_the_people_concerned(engine: Engine, people: People, now: datetime):
    from grantflow.db.models import InboxMessage

    pid = executing_project(engine, people, now)
    aid = start_and_submit(engine, people, pid, request_for("extension", engine, people), now)
    act(engine, aid, "review", people["organiser"], now)
    act(engine, aid, "approve", people["office"], now)
    act(engine, aid, "apply", people["office"], now)
    jobs.run("dispatch", engine, now, get_settings())
    with engine.connect() as conn:
        inbox = conn.execute(
            select(InboxMessage.kind, InboxMessage.title, InboxMessage.body).where(
                InboxMessage.user_id == people["applicant"].user_id
            )
        ).all()
    kinds = {m.kind for m in inbox}
    assert {"adjustment.approve_adjustment", "adjustment.apply_adjustment", "project.adjusted:extension"} & kinds
    applied = next(m for m in inbox if m.kind == "adjustment.apply_adjustment")
    assert "延长执行期" in applied.title + applied.body


@pytest.mark.postgres
@pytest.mark.slow
def test_a_major_adjustment_applied_on_postgresql(pg_engine: Engine, now: datetime):
    """The same machine on PostgreSQL: JSON documents, the nested project trigger, one transaction."""
    people = People(pg_engine)
    pid = executing_project(pg_engine, people, now)
    aid = start_and_submit(pg_engine, people, pid, request_for("termination", pg_engine, people), now)
    for action, who in (("review", "organiser"), ("approve", "office"), ("approve", "leader"), ("apply", "office")):
        act(pg_engine, aid, action, people[who], now)
    stored = row(pg_engine, aid)
    assert (stored.state, stored.after["project"]["state"]) == ("applied", "terminated")
    assert stored.before["task_agreement"]["data"]["budget"] == TASK_AGREEMENT["budget"]
    with pg_engine.connect() as conn:
        assert set(conn.execute(select(DueItem.status).where(DueItem.subject_id == pid)).scalars()) == {"cancelled"}


def test_before_and_after_are_said_in_the_readers_words() -> None:
    from grantflow.db.workflows import get_registry
    from grantflow.states.adjustments import change_rows

    wf = get_registry().get("standard")
    executing = next(s for s in wf.states if wf.state(s).active and not wf.state(s).terminal)
    rows = change_rows(
        "extension",
        {"project": {"end_date": None}},
        {"project": {"end_date": "2028-03-31"}},
        state_label=wf.state_label,
    )
    assert [(r.label.zh, r.before.zh, r.after.en) for r in rows] == [("结束日期", "未设定", "2028-03-31")]
    rows = change_rows(
        "category",
        {"project": {"category": "supported", "support_modes": ["competitive"]}},
        {"project": {"category": "supported", "support_modes": ["competitive", "procurement"]}},
        state_label=wf.state_label,
    )
    assert "competitive" not in rows[1].before.zh and "、" in rows[1].after.zh
    rows = change_rows(
        "suspension", {"project": {"state": executing}}, {"project": {"state": executing}}, state_label=wf.state_label
    )
    assert rows[0].before == wf.state_label(executing)


def test_signing_the_task_agreement_gives_the_project_its_period_and_report_tasks(
    engine: Engine, people: People, now: datetime
) -> None:
    pid = executing_project(engine, people, now, period_on_project=False)
    with engine.connect() as conn:
        row = conn.execute(select(Project.start_date, Project.end_date).where(Project.id == pid)).one()
        tasks = set(
            conn.execute(
                select(DueItem.form_key).where(DueItem.subject == "project", DueItem.subject_id == pid)
            ).scalars()
        )
    assert (row.start_date, row.end_date) == (START, END)
    assert {"midterm_report", "acceptance_report"} <= tasks
