"""Factories that build subjects through the engine, never by writing a state column.

``drive`` takes a stored project to any state of its workflow: it finds the shortest path in
the workflow's table and, for each row, satisfies the row's guards the way a user would
(submitting the form, recording the reviews) and fires it as a person the row admits.
So "a trait per state" is derived from the table itself and works for every variant.
"""

from __future__ import annotations

from collections import deque
from datetime import datetime, timedelta
from decimal import Decimal
from typing import TYPE_CHECKING, Any

from sqlalchemy import Engine, select

from grantflow.db.apply import Transitioned, create, fire
from grantflow.db.models import Programme, Project
from grantflow.db.workflows import get_registry
from grantflow.services.records import create_project, next_project_code, record_review, save_submission
from grantflow.states.enums import Category, SelectionMode
from grantflow.states.guards import post_evaluation_years
from grantflow.states.permissions import SYSTEM, Actor, acting_for_adjustment
from grantflow.states.workflow import TransitionDef, Workflow

if TYPE_CHECKING:
    from tests.conftest import People

FORM_FOR_GUARD = {
    "has_proposal": "proposal",
    "has_task_agreement": "task_agreement",
    "has_midterm_report": "midterm_report",
    "has_acceptance_report": "acceptance_report",
    "has_concept_note": "concept_note",
}
REVIEWERS = ("expert1", "expert2", "expert3", "expert4")


def programme_id(engine: Engine, code: int = 7) -> int:
    with engine.connect() as conn:
        return int(conn.execute(select(Programme.id).where(Programme.code == code)).scalar_one())


def launch_programme(engine: Engine, people: People, now: datetime, code: int = 7) -> int:
    pid = programme_id(engine, code)
    fire(
        engine,
        subject="programme",
        subject_id=pid,
        trigger="launch",
        actor=people["leader"],
        payload={"implementation_plan": "实施方案"},
        now=now,
    )
    return pid


def make_call(
    engine: Engine,
    people: People,
    now: datetime,
    *,
    workflow: str = "standard",
    quorum: int = 3,
    open_call: bool = True,
    closes_in: timedelta = timedelta(days=30),
    **values: Any,
) -> int:
    """A call of programme 7 (organised by the demo organiser), published and, by default, open."""
    with engine.begin() as conn:
        call_id = create(
            conn,
            subject="call",
            actor=people["organiser"],
            now=now - timedelta(days=2),
            values={
                "programme_id": programme_id(engine),
                "title": "测试指南",
                "category": Category.SUPPORTED,
                "selection_mode": SelectionMode.MERIT,
                "quorum": quorum,
                "project_workflow": workflow,
                "opens_at": now - timedelta(days=1),
                "closes_at": now + closes_in,
                **values,
            },
        )
    fire(
        engine,
        subject="call",
        subject_id=call_id,
        trigger="publish",
        actor=people["organiser"],
        now=now - timedelta(days=2),
    )
    if open_call:
        fire(engine, subject="call", subject_id=call_id, trigger="open", actor=SYSTEM, now=now - timedelta(days=1))
    return call_id


def make_project(
    engine: Engine,
    people: People,
    now: datetime,
    *,
    call_id: int | None = None,
    applicant: str = "applicant",
    workflow: str = "standard",
    state: str | None = None,
    title: str = "测试项目",
) -> int:
    """A project drafted by ``applicant`` in an open call, then driven to ``state`` if given."""
    if call_id is None:
        call_id = make_call(engine, people, now, workflow=workflow)
    who = people[applicant]
    with engine.begin() as conn:
        pid = create_project(
            conn,
            actor=who,
            now=now,
            values={
                "code": next_project_code(conn, programme_code=7, year=now.year),
                "title": title,
                "call_id": call_id,
                "programme_id": programme_id(engine),
                "undertaking_unit_id": who.organisation_id,
                "principal_investigator_id": who.user_id,
                "category": Category.SUPPORTED,
                "selection_mode": SelectionMode.MERIT,
                "budget_yuan": Decimal("1000000.00"),
                "workflow": workflow,
            },
        )
    if state is not None:
        drive(engine, people, pid, state, now)
    return pid


def path_to(wf: Workflow, target: str) -> list[TransitionDef]:
    """The shortest list of rows from the initial state to ``target`` (resume rows excluded)."""
    start = wf.initial
    prev: dict[str, tuple[str, TransitionDef] | None] = {start: None}
    queue = deque([start])
    while queue:
        state = queue.popleft()
        if state == target:
            break
        for t in wf.transitions:
            if t.source == state and t.dest not in prev and t.trigger != "resume":
                prev[t.dest] = (state, t)
                queue.append(t.dest)
    if target not in prev:
        raise ValueError(f"{target} is unreachable in {wf.name}")
    rows: list[TransitionDef] = []
    cur = target
    while prev[cur] is not None:
        src, row = prev[cur]  # type: ignore[misc]
        rows.append(row)
        cur = src
    return list(reversed(rows))


def state_of(engine: Engine, project_id: int) -> str:
    with engine.connect() as conn:
        return str(conn.execute(select(Project.state).where(Project.id == project_id)).scalar_one())


def actor_for_rule(people: People, rule: TransitionDef, *, applicant: str = "applicant") -> Actor:
    """A person the row's presets admit (for projects of the demo organiser's programme 7)."""
    preference = {
        "applicant": applicant,
        "organiser": "organiser",
        "office": "office",
        "leadership": "leader",
        "evaluator": "evaluator",
    }
    for name in rule.who:
        if name == "system":
            return SYSTEM
        if name == "adjustment":  # what an applied adjustment request fires (states.adjustments)
            return acting_for_adjustment(people["office"])
        if name in preference:
            return people[preference[name]]
    raise ValueError(f"no demo person for {rule.who}")


def satisfy(engine: Engine, people: People, project_id: int, rule: TransitionDef, now: datetime) -> None:
    """Do what a user would do so that the row's guards pass."""
    with engine.connect() as conn:
        project = conn.execute(select(Project).where(Project.id == project_id)).one()
    owner = next(
        k for k in ("applicant", "applicant2", "applicant3") if people[k].organisation_id == project.undertaking_unit_id
    )
    for guard in rule.guards:
        if guard in FORM_FOR_GUARD:
            with engine.begin() as conn:
                save_submission(
                    conn,
                    project_id=project_id,
                    form_key=FORM_FOR_GUARD[guard],
                    actor=people[owner],
                    submit=True,
                    data={"filled": True},
                    now=now,
                )
        elif guard == "quorum_reached":
            stage = get_registry().get(project.workflow).review_stage(rule.source)
            assert stage is not None, f"{rule.source} counts a quorum but has no review stage"
            panel = [people[r] for r in REVIEWERS if people[r].organisation_id != project.undertaking_unit_id][:3]
            with engine.begin() as conn:
                for i, expert in enumerate(panel):
                    record_review(
                        conn,
                        project_id=project_id,
                        stage=stage,
                        reviewer=expert,
                        score=Decimal(80 + i),
                        recommendation="fund",
                        comments="",
                        no_conflict_declared=True,
                        now=now,
                    )
        elif guard == "post_evaluation_complete":
            assert project.accepted_at is not None
            with engine.begin() as conn:
                for year in post_evaluation_years(project.accepted_at):
                    save_submission(
                        conn,
                        project_id=project_id,
                        form_key="post_evaluation_report",
                        actor=people[owner],
                        submit=True,
                        period=year,
                        data={"year": year},
                        now=now,
                    )


def drive(engine: Engine, people: People, project_id: int, target: str, now: datetime) -> list[Transitioned]:
    with engine.connect() as conn:
        project = conn.execute(select(Project).where(Project.id == project_id)).one()
    wf = get_registry().get(project.workflow)
    owner = next(
        k for k in ("applicant", "applicant2", "applicant3") if people[k].organisation_id == project.undertaking_unit_id
    )
    if project.state != wf.initial:
        raise ValueError("drive() starts from the workflow's initial state")
    done = []
    for rule in path_to(wf, target):
        satisfy(engine, people, project_id, rule, now)
        payload = {key: f"测试{key}" for key in rule.requires}
        done.append(
            fire(
                engine,
                subject_id=project_id,
                trigger=rule.trigger,
                payload=payload,
                now=now,
                actor=actor_for_rule(people, rule, applicant=owner),
            )
        )
    return done


def apply_adjustment(
    engine: Engine, people: People, project_id: int, kind: str, now: datetime, reason: str, **fields: Any
) -> int:
    """A dynamic-adjustment request of ``kind`` (suspension, resumption, termination need only a
    reason) started by the project's unit, then reviewed, approved and applied as its table says:
    the only way a project is suspended, resumed or terminated."""
    from grantflow.services import adjustments

    with engine.begin() as conn:
        aid = adjustments.start(
            conn,
            project_id=project_id,
            kind=kind,
            actor=people["applicant"],
            raw={"kind": kind, "reason": reason, **fields},
            now=now,
        )
    sent = adjustments.submit(engine, adjustment_id=aid, actor=people["applicant"], now=now)
    assert sent.ok, sent.messages("en")
    steps = {"review": people["organiser"], "approve": people["office"]}
    for action, who in steps.items():
        with engine.begin() as conn:
            adjustments.decide(conn, adjustment_id=aid, action=action, actor=who, reason="同意", now=now)
    from grantflow.db.models import Adjustment

    with engine.connect() as conn:
        major = bool(conn.execute(select(Adjustment.major).where(Adjustment.id == aid)).scalar_one())
    if major:
        with engine.begin() as conn:
            adjustments.decide(
                conn, adjustment_id=aid, action="approve", actor=people["leader"], reason="同意", now=now
            )
    with engine.begin() as conn:
        adjustments.decide(conn, adjustment_id=aid, action="apply", actor=people["office"], reason="执行", now=now)
    return aid
