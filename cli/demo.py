"""`grantflow demo`: a complete story on the configured database, through the engine only.

Time is simulated: the story installs its own clock (``grantflow.clock.SimulatedClock``) for
the length of the run and steps it forward, so a story that spans a call, three years of
execution and four years of post-evaluation runs in seconds; every step also passes that
``now`` explicitly. Every event is recorded with the channel ``demo``. Nothing here edits a
state column; every change is a trigger fired through ``db.apply``.
"""

from __future__ import annotations

from collections.abc import Callable
from dataclasses import dataclass, field
from datetime import UTC, datetime, timedelta
from decimal import Decimal
from typing import Any

from sqlalchemy import Engine, select

from grantflow import clock
from grantflow.cli.demo_living import tell_living
from grantflow.clock import SimulatedClock, use_clock
from grantflow.config import get_settings
from grantflow.db.apply import Transitioned, create, fire
from grantflow.db.models import AuditEvent, Call, Programme, Project
from grantflow.db.workflows import get_registry
from grantflow.notifications.dispatch import fan_out
from grantflow.services import adjustments
from grantflow.services.actors import actor_for
from grantflow.services.bootstrap import init_database
from grantflow.services.calls import new_project
from grantflow.services.records import record_review, save_submission
from grantflow.states.channels import DEMO
from grantflow.states.enums import Category, SelectionMode, SupportMode
from grantflow.states.permissions import SYSTEM, Actor
from grantflow.states.text import Text
from grantflow.states.workflow import trigger_label

SUBJECTS = {
    "project": Text("项目", "project"),
    "call": Text("申报指南", "call"),
    "programme": Text("专项", "programme"),
}

TASK_TARGETS = ["形成技术标准2项", "申请发明专利5项", "培养博士3名"]


@dataclass
class Story:
    engine: Engine
    clock: SimulatedClock
    first_event_id: int = 0
    steps: list[str] = field(default_factory=list)
    on_step: Callable[[str], None] | None = None
    lang: str = "zh"

    @property
    def now(self) -> datetime:
        return self.clock.now()

    @now.setter
    def now(self, moment: datetime) -> None:
        self.clock.set(moment)

    def later(self, **delta: float) -> datetime:
        return self.clock.advance(**delta)

    def actor(self, email: str) -> Actor:
        with self.engine.connect() as conn:
            return actor_for(conn, email=email).via(DEMO)

    def fire(self, subject_id: int, trigger: str, who: Actor, subject: str = "project", **payload: Any) -> Transitioned:
        t = fire(
            self.engine,
            subject=subject,
            subject_id=subject_id,
            trigger=trigger,
            actor=who,
            payload=payload,
            now=self.now,
        )
        before, after = _state_label(subject, t.from_state), _state_label(subject, t.to_state)
        what = trigger_label(trigger)
        noun = SUBJECTS.get(subject, Text(subject, subject))
        self.say(
            Text(
                f"{noun.zh} {subject_id}：{before.zh} → {after.zh}（{what.zh}，{who.name}）",
                f"{noun.en} {subject_id}: {before.en} → {after.en} ({what.en}, {who.name})",
            )
        )
        self.deliver()
        return t

    def deliver(self) -> None:
        """Turn what was notified so far into inbox messages, at the story's moment (what the
        dispatcher does every few seconds), so nothing notified in the past is left queued."""
        fan_out(self.engine, now=self.now, tz=get_settings().timezone, email=False)

    def say(self, line: Text) -> None:
        text = line.get(self.lang)
        self.steps.append(text)
        if self.on_step:
            self.on_step(text)


def _scheduled_trigger(engine: Engine, call_id: int) -> str:
    """The row the scheduler fires from the call's current state (its opening, as the table says)."""
    with engine.connect() as conn:
        call = conn.execute(select(Call.state, Call.workflow).where(Call.id == call_id)).one()
    return next(rule.trigger for rule, _ in get_registry().get(call.workflow).scheduled() if rule.source == call.state)


def _state_label(subject: str, state: str) -> Text:
    registry = get_registry()
    for name in registry.names(subject):
        wf = registry.get(name)
        if state in wf.states:
            return wf.state_label(state)
    return Text(state, state)


HISTORY_DAYS = 3500
"""How long before the real now the narrated story starts: its projects run a call, three years of
execution and four years of post-evaluation, so they close before the living demo's calls begin."""


def run_demo(
    engine: Engine,
    *,
    until: datetime | None = None,
    on_step: Callable[[str], None] | None = None,
    lang: str = "zh",
) -> Story:
    """The narrated story (finished years ago), then the living demo up to ``until`` (default: the
    real now), so nothing is dated after the moment the demo is seeded except deadlines to come."""
    init_database(engine, demo=True)
    real_now = (until or clock.now()).replace(microsecond=0)
    story = Story(engine, SimulatedClock(real_now - timedelta(days=HISTORY_DAYS)), on_step=on_step, lang=lang)
    with use_clock(story.clock):
        _tell(engine, story)
        tell_living(story, real_now)
    return story


def _tell(engine: Engine, story: Story) -> None:
    """The story itself, on the story's clock."""
    system = SYSTEM.via(DEMO)
    with engine.connect() as conn:
        story.first_event_id = conn.execute(select(AuditEvent.id).order_by(AuditEvent.id.desc()).limit(1)).scalar() or 0
        programme = conn.execute(
            select(Programme.id, Programme.state, Programme.code, Programme.workflow).where(Programme.code == 7)
        ).one()
    registry = get_registry()

    leader = story.actor("leader@kw.example.cn")
    office = story.actor("office@kw.example.cn")
    organiser = story.actor("organiser@jxw.example.cn")
    applicants = [story.actor(e) for e in ("pi@jinghua.example.com", "pi@yanyuan.example.edu", "pi@cies.example.cn")]
    experts = [
        story.actor(e)
        for e in (
            "expert1@yanyuan.example.edu",
            "expert2@cies.example.cn",
            "expert3@qingyuan.example.cn",
            "expert4@jinghua.example.com",
        )
    ]

    # 1. the leadership group launches programme 7 when it is ready (成熟一个、启动一个)
    if programme.state == registry.get(programme.workflow).initial:
        story.fire(
            programme.id,
            "launch",
            leader,
            subject="programme",
            implementation_plan="数字化制造技术创新及产业培育专项实施方案（2014—2017）",
        )

    # 2. the organising unit publishes a merit-based call; the scheduler opens it
    with engine.begin() as conn:
        call_id = create(
            conn,
            subject="call",
            actor=organiser,
            now=story.now,
            values={
                "programme_id": programme.id,
                "title": "3D打印与机器人关键技术攻关",
                "title_en": "Key technologies for 3D printing and robotics",
                "category": Category.SUPPORTED,
                "selection_mode": SelectionMode.MERIT,
                "support_modes": [SupportMode.COMPETITIVE],
                "quorum": 3,
                "opens_at": story.now + timedelta(days=1),
                "closes_at": story.now + timedelta(days=31),
            },
        )
    story.say(Text(f"申报指南 {call_id} 由{organiser.name}创建", f"call {call_id} created by {organiser.name}"))
    story.fire(call_id, "publish", organiser, subject="call")
    story.later(days=1)
    story.fire(call_id, _scheduled_trigger(engine, call_id), system, subject="call")

    # 3. three applicants draft and submit proposals
    projects: list[int] = []
    titles = ["金属增材制造装备研制", "Collaborative robot arm for elderly care", "环保机器人巡检系统"]
    for applicant, title in zip(applicants, titles, strict=True):
        story.later(days=3)
        with engine.begin() as conn:
            pid = new_project(
                conn,
                call_id=call_id,
                actor=applicant,
                title=title,
                now=story.now,
                budget_yuan=Decimal("3000000.00"),
            )
            save_submission(
                conn,
                project_id=pid,
                form_key="proposal",
                actor=applicant,
                submit=True,
                now=story.now,
                data={"title": title, "budget_yuan": "3000000.00"},
            )
        projects.append(pid)
        story.say(
            Text(f"项目 {pid} 由{applicant.name}起草：{title}", f"project {pid} drafted by {applicant.name}: {title}")
        )
        story.fire(pid, "submit", applicant)

    # 4. formal check: one is returned for correction and comes back
    story.later(days=30)
    story.fire(call_id, "close_call", system, subject="call")
    story.fire(projects[0], "accept_formal", office)
    story.fire(projects[1], "accept_formal", office)
    story.fire(projects[2], "return_for_correction", office, reason="预算表缺少自筹经费来源说明")
    story.later(days=2)
    story.fire(projects[2], "resubmit", applicants[2])
    story.fire(projects[2], "accept_formal", office)

    # 5. expert review: three reviews each, then the office decides (it scored nothing)
    story.later(days=10)
    scores = {projects[0]: [88, 91, 85], projects[1]: [82, 79, 86], projects[2]: [61, 58, 66]}
    for pid, marks in scores.items():
        panel = [e for e in experts if e.organisation_id != _unit_of(story, pid)][:3]
        with engine.begin() as conn:
            for expert, mark in zip(panel, marks, strict=True):
                record_review(
                    conn,
                    project_id=pid,
                    stage="proposal",
                    reviewer=expert,
                    score=Decimal(mark),
                    recommendation="fund" if mark >= 70 else "reject",
                    comments="",
                    no_conflict_declared=True,
                    now=story.now,
                )
        mean = f"{sum(marks) / 3:.1f}"
        story.say(Text(f"项目 {pid}：3 份评审，平均分 {mean}", f"project {pid}: 3 reviews, mean {mean}"))
    story.later(days=5)
    story.fire(projects[0], "approve", office)
    story.fire(projects[1], "approve", office)
    story.fire(projects[2], "reject", office, reason="综合评分未达到立项线")

    # 6. commissioning: task agreements signed, execution starts
    for pid, applicant in zip(projects[:2], applicants[:2], strict=True):
        story.later(days=7)
        with engine.begin() as conn:
            save_submission(
                conn,
                project_id=pid,
                form_key="task_agreement",
                actor=applicant,
                submit=True,
                now=story.now,
                data={"targets": TASK_TARGETS},
            )
        story.fire(pid, "sign_agreement", organiser)

    # 7. mid-term review a year and a half later
    story.later(days=540)
    for pid, applicant in zip(projects[:2], applicants[:2], strict=True):
        with engine.begin() as conn:
            save_submission(
                conn,
                project_id=pid,
                form_key="midterm_report",
                actor=applicant,
                submit=True,
                now=story.now,
                data={"progress": "按计划推进"},
            )
        story.fire(pid, "submit_midterm", applicant)
        story.fire(pid, "pass_midterm", organiser)

    # 7b. dynamic adjustment: the second project's unit asks for a no-cost extension; the
    # organising unit reviews it, the office approves and applies it (a minor adjustment)
    story.later(days=30)
    request = {
        "kind": "extension",
        "reason": "关键部件供货推迟，需延长执行期三个月",
        "new_end_date": (story.now + timedelta(days=400)).date().isoformat(),
        "no_cost": "yes",
    }
    with engine.begin() as conn:
        aid = adjustments.start(
            conn, project_id=projects[1], kind="extension", actor=applicants[1], raw=request, now=story.now
        )
    submitted = adjustments.submit(engine, adjustment_id=aid, actor=applicants[1], now=story.now)
    story.say(
        Text(
            f"调整申请 {aid}（项目 {projects[1]}）" + ("已提交" if submitted.ok else "未能提交"),
            f"adjustment {aid} (project {projects[1]}) " + ("sent" if submitted.ok else "could not be sent"),
        )
    )
    for action, who, why in (
        ("review", organiser, "延期理由充分"),
        ("approve", office, "同意不增加经费延期"),
        ("apply", office, "执行"),
    ):
        with engine.begin() as conn:
            t = adjustments.decide(conn, adjustment_id=aid, action=action, actor=who, reason=why, now=story.now)
        wf = adjustments.workflow()
        before, after = wf.state(t.from_state).label, wf.state(t.to_state).label
        story.say(
            Text(
                f"调整申请 {aid}：{before.zh} → {after.zh}（{who.name}）",
                f"adjustment {aid}: {before.en} → {after.en} ({who.name})",
            )
        )

    # 8. acceptance, with one rectification and re-acceptance
    story.later(days=500)
    for pid, applicant in zip(projects[:2], applicants[:2], strict=True):
        with engine.begin() as conn:
            save_submission(
                conn,
                project_id=pid,
                form_key="acceptance_report",
                actor=applicant,
                submit=True,
                now=story.now,
                data={"summary": "完成任务书全部指标"},
            )
        story.fire(pid, "submit_acceptance", applicant)
    story.fire(projects[1], "require_rectification", office, reason="技术标准草案尚未报送标准化主管部门")
    story.later(days=45)
    story.fire(projects[1], "resubmit_acceptance", applicants[1])
    for pid in projects[:2]:
        story.fire(pid, "pass_acceptance", office)

    # 9. post-evaluation: the acceptance year and the three after it, then closing
    accepted_year = story.now.year
    for year in range(accepted_year, accepted_year + 4):
        story.now = max(story.now, datetime(year, 12, 15, 2, 0, tzinfo=UTC))
        with engine.begin() as conn:
            for pid, applicant in zip(projects[:2], applicants[:2], strict=True):
                save_submission(
                    conn,
                    project_id=pid,
                    form_key="post_evaluation_report",
                    actor=applicant,
                    submit=True,
                    period=year,
                    now=story.now,
                    data={"year": year},
                )
        story.say(Text(f"{year} 年度后评估报告已提交", f"post-evaluation reports for {year} submitted"))
    story.later(days=20)
    for pid in projects[:2]:
        story.fire(pid, "close", office)


def _unit_of(story: Story, project_id: int) -> int:
    with story.engine.connect() as conn:
        return int(conn.execute(select(Project.undertaking_unit_id).where(Project.id == project_id)).scalar_one())
