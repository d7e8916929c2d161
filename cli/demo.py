"""`grantflow demo`: a complete story on the configured database, through the engine only.

Time is simulated: every step passes its own ``now``, so a story that spans a call, three
years of execution and four years of post-evaluation runs in seconds. Nothing here edits a
state column; every change is a trigger fired through ``db.apply``.
"""

from __future__ import annotations

from collections.abc import Callable
from dataclasses import dataclass, field
from datetime import UTC, datetime, timedelta
from decimal import Decimal
from typing import Any

from sqlalchemy import Engine, select

from grantflow.db.apply import Transitioned, create, fire
from grantflow.db.models import AuditEvent, Programme, Project
from grantflow.services import adjustments
from grantflow.services.actors import actor_for
from grantflow.services.bootstrap import init_database
from grantflow.services.records import create_project, next_project_code, record_review, save_submission
from grantflow.states.enums import Category, SelectionMode, SupportMode
from grantflow.states.permissions import SYSTEM, Actor

TASK_TARGETS = ["形成技术标准2项", "申请发明专利5项", "培养博士3名"]


@dataclass
class Story:
    engine: Engine
    now: datetime
    first_event_id: int = 0
    steps: list[str] = field(default_factory=list)
    on_step: Callable[[str], None] | None = None

    def later(self, **delta: float) -> datetime:
        self.now = self.now + timedelta(**delta)
        return self.now

    def actor(self, email: str) -> Actor:
        with self.engine.connect() as conn:
            return actor_for(conn, email=email)

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
        self.say(f"{subject} {subject_id}: {t.from_state} → {t.to_state} ({trigger}, {who.name})")
        return t

    def say(self, line: str) -> None:
        self.steps.append(line)
        if self.on_step:
            self.on_step(line)


def run_demo(engine: Engine, *, start: datetime | None = None, on_step: Callable[[str], None] | None = None) -> Story:
    init_database(engine, demo=True)
    story = Story(engine, start or datetime.now(UTC).replace(microsecond=0), on_step=on_step)
    with engine.connect() as conn:
        story.first_event_id = conn.execute(select(AuditEvent.id).order_by(AuditEvent.id.desc()).limit(1)).scalar() or 0
        programme = conn.execute(select(Programme.id, Programme.state, Programme.code).where(Programme.code == 7)).one()

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
    if programme.state == "planned":
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
    story.say(f"call {call_id} created by {organiser.name}")
    story.fire(call_id, "publish", organiser, subject="call")
    story.later(days=1)
    story.fire(call_id, "open", SYSTEM, subject="call")

    # 3. three applicants draft and submit proposals
    projects: list[int] = []
    titles = ["金属增材制造装备研制", "Collaborative robot arm for elderly care", "环保机器人巡检系统"]
    for applicant, title in zip(applicants, titles, strict=True):
        story.later(days=3)
        with engine.begin() as conn:
            pid = create_project(
                conn,
                actor=applicant,
                now=story.now,
                values={
                    "code": next_project_code(conn, programme_code=programme.code, year=story.now.year),
                    "title": title,
                    "call_id": call_id,
                    "programme_id": programme.id,
                    "undertaking_unit_id": applicant.organisation_id,
                    "principal_investigator_id": applicant.user_id,
                    "category": Category.SUPPORTED,
                    "selection_mode": SelectionMode.MERIT,
                    "budget_yuan": Decimal("3000000.00"),
                },
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
        story.say(f"project {pid} drafted by {applicant.name}: {title}")
        story.fire(pid, "submit", applicant)

    # 4. formal check: one is returned for correction and comes back
    story.later(days=30)
    story.fire(call_id, "close_call", SYSTEM, subject="call")
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
        story.say(f"project {pid}: 3 reviews, mean {sum(marks) / 3:.1f}")
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
    story.say(f"adjustment {aid} (project {projects[1]}): submitted={submitted.ok}")
    for action, who, why in (
        ("review", organiser, "延期理由充分"),
        ("approve", office, "同意不增加经费延期"),
        ("apply", office, "执行"),
    ):
        with engine.begin() as conn:
            t = adjustments.decide(conn, adjustment_id=aid, action=action, actor=who, reason=why, now=story.now)
        story.say(f"adjustment {aid}: {t.from_state} → {t.to_state} ({t.trigger}, {who.name})")

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
        story.say(f"post-evaluation reports for {year} submitted")
    story.later(days=20)
    for pid in projects[:2]:
        story.fire(pid, "close", office)
    return story


def _unit_of(story: Story, project_id: int) -> int:
    with story.engine.connect() as conn:
        return int(conn.execute(select(Project.undertaking_unit_id).where(Project.id == project_id)).scalar_one())
