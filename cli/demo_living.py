"""The living part of the demo: projects in every state of their lifecycle, dated around today.

The narrated story (``cli.demo``) ends years ago with projects closed or rejected. This part
starts about two years before the real now and stops at it, so that after ``make run`` each demo
person signs in to work waiting for them: an open call, a tender call, proposals to check,
reviews assigned and half done, a mid-term review for the evaluator, an adjustment request for
the office and one for the leadership group, an appeal to answer, reports due soon and one overdue.

Everything goes through the engine and the services, as a person would act, on the story's
simulated clock; nothing is dated after the real now except the deadlines still to come.
"""

from __future__ import annotations

from dataclasses import dataclass
from datetime import UTC, date, datetime, timedelta
from decimal import Decimal
from typing import TYPE_CHECKING, Any

from sqlalchemy import Engine, select, update

from grantflow.config import get_settings
from grantflow.db.apply import create
from grantflow.db.models import Call, InboxMessage, Programme, Project, table
from grantflow.db.workflows import get_registry
from grantflow.services import adjustments
from grantflow.services.calls import create_call, new_project
from grantflow.services.complaints import file_complaint
from grantflow.services.deadlines import set_report_schedule
from grantflow.services.evaluation import add_qualification, assign_evaluator
from grantflow.services.records import save_submission
from grantflow.services.review.assignment import assign
from grantflow.services.review.scoring import submit_review
from grantflow.services.sweep import mark_overdue, reconcile, sync_assignments
from grantflow.services.tenders import submit_bid
from grantflow.states.channels import DEMO
from grantflow.states.enums import Category, SelectionMode, SupportMode
from grantflow.states.permissions import SYSTEM, Actor
from grantflow.states.review_rules import DEFAULT_RUBRICS
from grantflow.states.text import Text

if TYPE_CHECKING:  # typing only: cli.demo imports this module
    from grantflow.cli.demo import Story

_p = table(Project)
_inbox = table(InboxMessage)

PANEL_COMMENT = "技术路线清晰，团队基础较好，建议细化经费测算。"

READ_AFTER_DAYS = 14
"""Inbox messages older than this were read by the demo people; newer ones wait unread."""

# --- plausible content ----------------------------------------------------------------------------


@dataclass(frozen=True)
class Idea:
    """One proposal's content: enough for every form page to read like a real application."""

    title: str
    summary: str
    objectives: str
    approach: str
    results: str
    budget: int  # yuan
    targets: tuple[str, ...] = ("形成技术标准1项", "申请发明专利4项", "培养研究生3名")


def _proposal(idea: Idea, pi: str) -> dict[str, Any]:
    return {
        "project_title": idea.title,
        "category": Category.SUPPORTED,
        "support_mode": SupportMode.COMPETITIVE,
        "principal_investigator": pi,
        "summary": idea.summary,
        "objectives": idea.objectives,
        "approach": idea.approach,
        "expected_results": idea.results,
        "total_budget": str(idea.budget),
        "requested_funding": str(idea.budget * 6 // 10),
        "team": [
            {"name": pi, "title": "正高级", "role": "项目负责人，总体方案", "months": 24},
            {"name": "刘工", "title": "高级工程师", "role": "样机研制与测试", "months": 20},
        ],
    }


def _task_agreement(idea: Idea, start: date, end: date) -> dict[str, Any]:
    return {
        "total_budget": str(idea.budget),
        "start_date": start.isoformat(),
        "end_date": end.isoformat(),
        "targets": list(idea.targets),
        "milestones": [
            {"title": "完成方案设计与关键部件选型", "due": (start + timedelta(days=180)).isoformat()},
            {"title": "完成工程样机并通过第三方检测", "due": (end - timedelta(days=120)).isoformat()},
        ],
    }


def _midterm(idea: Idea) -> dict[str, Any]:
    return {
        "progress": f"{idea.title}：已完成方案设计和关键部件研制，工程样机进入联调阶段，经费执行率52%。",
        "targets_progress": [{"target": t, "status": "on_track", "note": "按计划推进"} for t in idea.targets],
        "standards_drafted": 1,
        "patents_filed": 2,
        "people_trained": 2,
    }


def _acceptance(idea: Idea) -> dict[str, Any]:
    return {
        "summary": f"{idea.title}：完成任务书约定的研究内容，样机通过第三方检测，具备示范应用条件。",
        "targets_achieved": [
            {"target": t, "planned": t, "achieved": t, "met": "met"}  # not a workflow state: column names
            for t in idea.targets
        ],
        "standards_formed": 1,
        "patents_filed": 4,
        "patents_granted": 1,
        "people_trained": 3,
    }


IDEAS: dict[str, Idea] = {
    "reducer": Idea(
        "工业机器人精密减速器国产化研制",
        "面向六轴工业机器人，研制RV减速器并实现小批量生产，打破进口依赖。",
        "传动精度≤1弧分，额定寿命≥6000小时，成本较进口产品降低30%。",
        "摆线轮修形设计—精密磨削工艺—整机可靠性试验，创新点在于修形参数的数字化优化。",
        "形成企业标准1项，申请发明专利4项，建成年产5000台示范线。",
        4_200_000,
    ),
    "joint": Idea(
        "协作机器人柔性关节与力控系统",
        "研制集成力矩传感的柔性关节模组，支撑人机协作场景下的安全作业。",
        "关节力矩控制带宽≥200Hz，碰撞检测响应≤10ms。",
        "串联弹性驱动结构设计、基于模型的力矩估计、安全控制策略验证。",
        "发表论文6篇，申请发明专利5项，形成团体标准草案1项。",
        3_600_000,
    ),
    "swarm": Idea(
        "环境监测机器人集群协同巡检系统",
        "面向化工园区，研制多机器人协同巡检与异常气体溯源系统。",
        "巡检覆盖率≥95%，泄漏定位误差≤5米。",
        "多源传感融合、集群任务分配、气体扩散反演模型。",
        "在2个园区开展示范应用，申请发明专利3项。",
        2_800_000,
    ),
    "titanium": Idea(
        "增材制造钛合金航空构件工艺与装备",
        "开发激光定向能量沉积钛合金大型构件成形工艺及配套装备。",
        "构件力学性能达到锻件标准，成形效率提高40%。",
        "工艺参数数据库、在线熔池监测、闭环控制。",
        "完成3类典型构件验证，申请发明专利5项。",
        5_000_000,
    ),
    "care": Idea(
        "面向居家养老的服务机器人",
        "研制具备跌倒检测、用药提醒和远程看护功能的居家服务机器人。",
        "跌倒识别准确率≥95%，连续工作≥12小时。",
        "轻量化本体设计、多模态感知、社区服务平台对接。",
        "在3个社区开展试用，形成产品技术规范1项。",
        2_400_000,
    ),
    "vision": Idea(
        "机器人视觉缺陷检测平台",
        "面向汽车零部件产线，研制基于深度学习的在线视觉检测平台。",
        "缺陷检出率≥99%，单件检测时间≤0.5秒。",
        "小样本缺陷数据增强、边缘推理加速、产线集成。",
        "在2条产线部署应用，申请软件著作权4项。",
        1_900_000,
    ),
    "welding": Idea(
        "焊接机器人离线编程软件",
        "开发面向中小企业的焊接机器人离线编程与仿真软件。",
        "编程效率提高3倍。",
        "三维模型自动识别焊缝、轨迹规划与碰撞检测。",
        "软件著作权3项。",
        900_000,
    ),
    "line": Idea(
        "可重构柔性装配产线",
        "研制模块化可重构装配产线，支持多品种小批量生产。",
        "换型时间≤30分钟。",
        "模块化工位设计、产线数字孪生、调度优化。",
        "建成示范产线1条。",
        3_000_000,
    ),
    "twin": Idea(
        "数字孪生车间管控系统",
        "构建离散制造车间的数字孪生模型，实现生产过程实时监控与优化调度。",
        "设备综合效率提高15%，计划达成率≥95%。",
        "多源数据采集、孪生模型同步、仿真优化闭环。",
        "在3家企业部署应用，形成行业标准草案1项。",
        3_200_000,
    ),
    "software": Idea(
        "工业控制软件可信验证平台",
        "研制工业控制软件的形式化验证与测试平台，提升关键软件可信度。",
        "覆盖IEC 61131-3五种编程语言，缺陷检出率提高30%。",
        "模型检测、符号执行与硬件在环测试相结合。",
        "申请发明专利4项，服务企业10家以上。",
        2_600_000,
    ),
    "sensor": Idea(
        "污染源在线监测智能装备",
        "研制固定污染源烟气多组分在线监测装备。",
        "检测下限达到1mg/m³，连续运行无故障时间≥2000小时。",
        "光谱分析、自校准与远程运维。",
        "完成10个点位示范，形成地方标准草案1项。",
        2_200_000,
    ),
    "laser": Idea(
        "高精度激光选区熔化装备",
        "研制成形尺寸500mm级的多激光选区熔化装备。",
        "尺寸精度±0.05mm，成形效率≥100cm³/h。",
        "多激光拼接标定、铺粉质量监测、热应力控制。",
        "装备样机1台，申请发明专利5项。",
        4_800_000,
    ),
    "hand": Idea(
        "人形机器人灵巧手",
        "研制具有20个自由度和触觉感知的灵巧手。",
        "抓取成功率≥95%，指尖力控精度0.1N。",
        "腱绳驱动、电子皮肤、强化学习抓取策略。",
        "论文8篇，发明专利6项。",
        3_800_000,
    ),
    "source": Idea(
        "大气污染源解析移动机器人",
        "研制搭载质谱仪的移动机器人，开展城市大气污染源走航解析。",
        "源解析时间分辨率≤1分钟。",
        "移动平台集成、实时源解析算法。",
        "形成走航监测技术规范1项。",
        1_800_000,
    ),
    "grinding": Idea(
        "复杂曲面机器人打磨系统",
        "研制面向叶片类复杂曲面的机器人恒力打磨系统。",
        "型面精度≤0.05mm，效率较人工提高5倍。",
        "三维测量与路径自动生成、恒力控制末端。",
        "在2家企业示范应用。",
        2_100_000,
    ),
    "patrol": Idea(
        "智慧工厂巡检机器人示范应用",
        "在电子制造工厂开展轮式巡检机器人示范，覆盖设备状态与安全巡检。",
        "巡检替代率≥80%。",
        "激光SLAM导航、红外与声学多模态诊断。",
        "示范点2个。",
        1_500_000,
    ),
    "exo": Idea(
        "康复外骨骼机器人临床示范",
        "在三家医院开展下肢康复外骨骼机器人的临床示范应用。",
        "完成临床病例200例。",
        "步态识别、阻抗控制、康复评估。",
        "形成临床应用指南1项。",
        2_000_000,
    ),
    "plant": Idea(
        "城市污水厂智能巡检与加药机器人",
        "研制污水处理厂智能巡检与精准加药机器人。",
        "药剂消耗降低15%。",
        "水质在线感知、加药模型预测控制。",
        "示范水厂2座。",
        1_600_000,
    ),
    "haze": Idea(
        "重污染天气应急减排智能决策系统",
        "构建重污染天气应急减排清单动态管理与智能决策系统。",
        "减排措施评估时效≤2小时。",
        "排放清单动态更新、空气质量模型耦合。",
        "在全市16个区应用。",
        1_200_000,
    ),
    "vehicle": Idea(
        "重型柴油车排放遥感监测网络",
        "建设重型柴油车尾气遥感监测网络并开展执法应用。",
        "监测点位30个，识别准确率≥90%。",
        "遥感监测、车牌识别、数据联网。",
        "形成技术规范1项。",
        1_400_000,
    ),
    "dust": Idea(
        "施工扬尘智能识别与抑尘装备",
        "研制施工工地扬尘视频识别与自动抑尘装备。",
        "扬尘识别准确率≥90%。",
        "视频识别、物联网控制。",
        "示范工地10个。",
        1_000_000,
    ),
}


# --- the actors ---------------------------------------------------------------------------------


@dataclass
class Cast:
    leader: Actor
    office: Actor
    organiser: Actor  # programme 7
    organiser_env: Actor  # programme 1
    jinghua: Actor
    yanyuan: Actor
    cies: Actor
    experts: dict[str, Actor]
    evaluator: Actor


class Living:
    """Steps the story's clock to moments relative to the real now and acts through the engine."""

    def __init__(self, story: Story, real_now: datetime) -> None:
        self.story = story
        self.engine: Engine = story.engine
        self.real_now = real_now
        s = story.actor
        self.cast = Cast(
            leader=s("leader@kw.example.cn"),
            office=s("office@kw.example.cn"),
            organiser=s("organiser@jxw.example.cn"),
            organiser_env=s("organiser@hbj.example.cn"),
            jinghua=s("pi@jinghua.example.com"),
            yanyuan=s("pi@yanyuan.example.edu"),
            cies=s("pi@cies.example.cn"),
            experts={
                "e1": s("expert1@yanyuan.example.edu"),
                "e2": s("expert2@cies.example.cn"),
                "e3": s("expert3@qingyuan.example.cn"),
                "e4": s("expert4@jinghua.example.com"),
                # the third-party evaluator takes part in the mid-term as an assigned member
                "evaluator": s("evaluator@qingyuan.example.cn"),
            },
            evaluator=s("evaluator@qingyuan.example.cn"),
        )

    # time
    def at(self, days_ago: float) -> datetime:
        """Set the clock to ``days_ago`` before the real now (never after it), after delivering what
        the steps so far notified (their inbox messages carry the moment they happened)."""
        self.story.deliver()
        moment = self.real_now - timedelta(days=max(days_ago, 0))
        return self.story.clock.set(moment)

    @property
    def now(self) -> datetime:
        return self.story.now

    def programme(self, code: int) -> Any:
        with self.engine.connect() as conn:
            return conn.execute(select(Programme.id, Programme.state).where(Programme.code == code)).one()

    # calls
    def call(
        self,
        *,
        code: int,
        title: str,
        title_en: str,
        opens: float,
        closes: float,
        organiser: Actor,
        workflow: str = "standard",
        mode: SelectionMode = SelectionMode.MERIT,
        per_unit: int = 4,
        bids_open_at: datetime | None = None,
    ) -> int:
        """A call created and published a few days before it opens; opened by the scheduler if its
        opening has come (``opens``/``closes``: days before the real now; negative is still to come)."""
        self.at(opens + 5)
        tender = mode == SelectionMode.TENDER
        support = [SupportMode.TENDER] if tender else [SupportMode.COMPETITIVE]
        values = {
            "programme_id": self.programme(code).id,
            "title": title,
            "title_en": title_en,
            # a public tender is how the government organises work itself (docs/domain.md, rule 4)
            "category": Category.ORGANISED if tender else Category.SUPPORTED,
            "selection_mode": mode,
            "support_modes": support,
            "quorum": 3,
            "project_workflow": workflow,
            "max_applications_per_unit": per_unit,
            "opens_at": self.real_now - timedelta(days=opens),
            "closes_at": self.real_now - timedelta(days=closes),
        }
        with self.engine.begin() as conn:
            if bids_open_at is not None:
                call_id = create_call(conn, values=values, actor=organiser, now=self.now, bids_open_at=bids_open_at)
            else:
                call_id = create(conn, subject="call", actor=organiser, now=self.now, values=values)
        self.story.say(Text(f"申报指南 {call_id}：{title}", f"call {call_id}: {title_en}"))
        self.story.fire(call_id, "publish", organiser, subject="call")
        if opens >= 0:
            self.at(opens)
            self.story.fire(call_id, self._opening(call_id), SYSTEM.via(DEMO), subject="call")
        return call_id

    def _opening(self, call_id: int) -> str:
        """The row the scheduler fires when a published call's opening comes (as the table says)."""
        with self.engine.connect() as conn:
            row = conn.execute(select(Call.state, Call.workflow).where(Call.id == call_id)).one()
        rows = get_registry().get(row.workflow).scheduled()
        return next(rule.trigger for rule, _ in rows if rule.source == row.state)

    def close_call(self, call_id: int, closes: float) -> None:
        self.at(closes)
        self.story.fire(call_id, "close_call", SYSTEM.via(DEMO), subject="call")

    # projects
    def apply(self, call_id: int, who: Actor, idea: Idea, days_ago: float, *, submit_form: bool = True) -> int:
        self.at(days_ago)
        with self.engine.begin() as conn:
            pid = new_project(
                conn, call_id=call_id, actor=who, title=idea.title, now=self.now, budget_yuan=Decimal(idea.budget)
            )
            workflow = conn.execute(select(_p.c.workflow).where(_p.c.id == pid)).scalar_one()
            wf = get_registry().get(workflow)
            # a two-stage call starts with the concept note: the form its first state lets them edit
            form = "concept_note" if "concept_note" in wf.state(wf.initial).editable else "proposal"
            data = (
                {"title": idea.title, "summary": idea.summary, "objectives": idea.objectives}
                if form == "concept_note"
                else _proposal(idea, who.name)
            )
            save_submission(conn, project_id=pid, form_key=form, actor=who, submit=submit_form, now=self.now, data=data)
        self.story.say(Text(f"项目 {pid} 由{who.name}起草：{idea.title}", f"project {pid} drafted by {who.name}"))
        return pid

    def fire(self, pid: int, trigger: str, who: Actor, days_ago: float, **payload: Any) -> None:
        self.at(days_ago)
        self.story.fire(pid, trigger, who, **payload)

    def form(self, pid: int, key: str, who: Actor, data: dict[str, Any], days_ago: float, **kw: Any) -> None:
        self.at(days_ago)
        with self.engine.begin() as conn:
            save_submission(conn, project_id=pid, form_key=key, actor=who, submit=True, now=self.now, data=data, **kw)

    def assign(self, pid: int, stage: str, experts: list[str], days_ago: float, manager: Actor) -> None:
        self.at(days_ago)
        with self.engine.begin() as conn:
            for key in experts:
                expert = self.cast.experts[key]
                assert expert.user_id is not None
                assign(conn, project_id=pid, stage=stage, reviewer_id=expert.user_id, actor=manager, now=self.now)
        names = "、".join(self.cast.experts[k].name for k in experts)
        self.story.say(Text(f"项目 {pid}：分配评审专家 {names}", f"project {pid}: reviewers assigned ({names})"))

    def review(self, pid: int, stage: str, expert: str, score: int, days_ago: float, comments: str) -> None:
        self.at(days_ago)
        rubric = DEFAULT_RUBRICS[stage]
        recommendation = "support" if score >= 75 else "revise" if score >= 65 else "oppose"
        with self.engine.begin() as conn:
            submit_review(
                conn,
                project_id=pid,
                stage=stage,
                reviewer=self.cast.experts[expert],
                scores={c.key: str(score) for c in rubric.criteria},
                recommendation=recommendation,
                comments=comments,
                no_conflict=True,
                now=self.now,
            )
        self.story.say(Text(f"项目 {pid}：评审意见已提交（{score} 分）", f"project {pid}: review submitted ({score})"))

    def set_period(self, pid: int, start: date, end: date) -> None:
        # the execution period the task agreement states (the stage reports fall due from it); no
        # service copies it onto the project yet, so the demo records it as the office would
        # (a plain column, not a state)
        with self.engine.begin() as conn:
            conn.execute(
                update(_p)
                .where(_p.c.id == pid)
                .values(
                    start_date=datetime(start.year, start.month, start.day, tzinfo=UTC),
                    end_date=datetime(end.year, end.month, end.day, tzinfo=UTC),
                )
            )

    def commission(self, pid: int, who: Actor, idea: Idea, days_ago: float, months: int = 30) -> None:
        """Task agreement filled by the unit and signed by the organising unit: execution starts."""
        start = (self.real_now - timedelta(days=days_ago)).date()
        end = start + timedelta(days=months * 30)
        self.form(pid, "task_agreement", who, _task_agreement(idea, start, end), days_ago + 3)
        wf = get_registry().get(self._workflow_of(pid))
        if wf.states_where(lambda st: st.review_stage == "midterm"):
            # the stage reports fall due from the period (mid-term and acceptance); a short project
            # has no mid-term, so its period is left for the office to schedule by hand
            self.set_period(pid, start, end)
        manager = self.cast.organiser if self._programme_of(pid) == 7 else self.cast.organiser_env
        self.fire(pid, "sign_agreement", manager, days_ago)

    def _workflow_of(self, pid: int) -> str:
        with self.engine.connect() as conn:
            return str(conn.execute(select(_p.c.workflow).where(_p.c.id == pid)).scalar_one())

    def _programme_of(self, pid: int) -> int:
        with self.engine.connect() as conn:
            return int(
                conn.execute(
                    select(Programme.code).join(Project, Project.programme_id == Programme.id).where(Project.id == pid)
                ).scalar_one()
            )

    def through_review(self, pid: int, experts: list[str], scores: list[int], days_ago: float, manager: Actor) -> None:
        """Formal check passed, three experts assigned, all three reviews in."""
        self.fire(pid, "accept_formal", manager, days_ago)
        self.assign(pid, "proposal", experts, days_ago - 1, manager)
        for i, (key, score) in enumerate(zip(experts, scores, strict=True)):
            self.review(
                pid, "proposal", key, score, days_ago - 4 - i * 2, "技术路线清晰，团队基础较好，建议细化经费测算。"
            )

    def adjustment(
        self, pid: int, kind: str, who: Actor, raw: dict[str, Any], days_ago: float, steps: list[tuple[str, Actor, str]]
    ) -> int:
        self.at(days_ago)
        with self.engine.begin() as conn:
            aid = adjustments.start(conn, project_id=pid, kind=kind, actor=who, raw=raw, now=self.now)
        sent = adjustments.submit(self.engine, adjustment_id=aid, actor=who, now=self.now)
        if not sent.ok:
            raise RuntimeError(f"demo adjustment {aid} could not be submitted: {sent}")
        self.story.say(Text(f"调整申请 {aid}（项目 {pid}）已提交", f"adjustment {aid} (project {pid}) sent"))
        for i, (action, actor, why) in enumerate(steps, start=1):
            self.at(days_ago - i * 2)
            with self.engine.begin() as conn:
                adjustments.decide(conn, adjustment_id=aid, action=action, actor=actor, reason=why, now=self.now)
            self.story.say(
                Text(f"调整申请 {aid}：{action}（{actor.name}）", f"adjustment {aid}: {action} ({actor.name})")
            )
        return aid


def _two_stage() -> str:
    """The project workflow whose first step is a concept note (``states/workflows/concept.toml``)."""
    registry = get_registry()
    return next(
        wf.name
        for wf in (registry.get(n) for n in registry.names("project"))
        if "concept_note" in wf.state(wf.initial).editable
    )


def tell_living(story: Story, real_now: datetime) -> None:
    """Projects in every state, the newest steps a few days before the real now."""
    life = Living(story, real_now)
    c = life.cast
    office, org7, org1 = c.office, c.organiser, c.organiser_env
    J, Y, C = c.jinghua, c.yanyuan, c.cies

    # programme 1 (blue sky, organised by the environment bureau) is launched for the newer calls
    if life.programme(1).state == get_registry().get("programme").initial:
        life.at(800)
        story.fire(
            life.programme(1).id,
            "launch",
            c.leader,
            subject="programme",
            implementation_plan="首都蓝天行动专项实施方案（2025—2028）",
        )

    # --- call A, two years ago: the projects now deep in execution --------------------------------
    a = life.call(
        code=7,
        title="智能制造关键共性技术（第一批）",
        title_en="Key generic technologies for smart manufacturing (first batch)",
        opens=760,
        closes=730,
        organiser=org7,
    )
    a1 = life.apply(a, J, IDEAS["reducer"], 755)
    a2 = life.apply(a, Y, IDEAS["joint"], 752)
    a3 = life.apply(a, C, IDEAS["swarm"], 750)
    a4 = life.apply(a, J, IDEAS["titanium"], 748)
    a5 = life.apply(a, Y, IDEAS["care"], 746)
    a6 = life.apply(a, C, IDEAS["vision"], 745)
    a7 = life.apply(a, C, IDEAS["welding"], 744)
    a8 = life.apply(a, Y, IDEAS["line"], 742)
    for pid, who, day in ((a1, J, 754), (a2, Y, 751), (a3, C, 749), (a4, J, 747), (a5, Y, 745), (a6, C, 744)):
        life.fire(pid, "submit", who, day)
    life.fire(a7, "submit", C, 743)
    life.fire(a8, "submit", Y, 741)
    life.fire(a7, "withdraw", C, 738)  # the unit chose to concentrate on one application
    life.close_call(a, 730)
    panels = {a1: ["e1", "e2", "e3"], a2: ["e2", "e3", "e4"], a3: ["e1", "e3", "e4"]}
    panels |= {a4: ["e1", "e2", "e3"], a5: ["e2", "e3", "e4"], a6: ["e1", "e3", "e4"], a8: ["e2", "e3", "e4"]}
    for n, (pid, panel) in enumerate(panels.items()):
        life.through_review(pid, panel, [86, 82, 88], 728 - n, org7)
    for n, pid in enumerate(panels):
        life.fire(pid, "approve", office, 700 - n)
    owners = {a1: J, a2: Y, a3: C, a4: J, a5: Y, a6: C, a8: Y}
    ideas = {a1: "reducer", a2: "joint", a3: "swarm", a4: "titanium", a5: "care", a6: "vision", a8: "line"}
    for n, pid in enumerate(panels):
        life.commission(pid, owners[pid], IDEAS[ideas[pid]], 680 - n * 2, months=24)
    # mid-term: all but the line (terminated before its mid-term) report and pass
    for n, pid in enumerate((a1, a2, a3, a6, a4, a8)):
        life.form(pid, "midterm_report", owners[pid], _midterm(IDEAS[ideas[pid]]), 330 - n)
        life.fire(pid, "submit_midterm", owners[pid], 330 - n)
        life.fire(pid, "pass_midterm", org7, 310 - n)
    # suspension of the titanium project: a supplier's furnace failed (applied, so it is suspended)
    life.adjustment(
        a4,
        "suspension",
        J,
        {"reason": "关键设备激光器返厂维修，预计停工四个月，申请暂停执行。"},
        130,
        [("review", org7, "情况属实"), ("approve", office, "同意暂停"), ("apply", office, "执行")],
    )
    # termination of the care robot: the office proposes it, the leadership group decides (applied)
    life.adjustment(
        a5,
        "termination",
        office,
        {"reason": "中期评估后核心团队整体离职，项目无法继续执行。"},
        240,
        [
            ("review", org7, "同意终止"),
            ("approve", office, "提请领导小组审定"),
            ("approve", c.leader, "同意终止"),
            ("apply", office, "执行"),
        ],
    )
    # the flexible line: termination proposed, now waiting for the leadership group
    life.adjustment(
        a8,
        "termination",
        office,
        {"reason": "承担单位经营困难，自筹经费无法到位，建议终止项目。"},
        14,
        [("review", org7, "同意提请终止"), ("approve", office, "提请领导小组审定")],
    )
    # acceptance: the reducer passed (post-evaluation), the joint waits, the swarm is rectifying
    for pid, day in ((a1, 95), (a2, 20), (a3, 70)):
        life.form(pid, "acceptance_report", owners[pid], _acceptance(IDEAS[ideas[pid]]), day)
        life.fire(pid, "submit_acceptance", owners[pid], day)
    life.fire(a1, "pass_acceptance", office, 60)
    life.fire(a3, "require_rectification", office, 40, reason="两项发明专利尚未受理，需补充受理通知书")
    life.assign(a2, "acceptance", ["e3", "e4"], 9, org7)
    # the vision platform asks for a no-cost extension: reviewed, now with the office
    life.adjustment(
        a6,
        "extension",
        C,
        {
            "reason": "合作企业产线改造推迟，现场验证需顺延六个月。",
            "new_end_date": (real_now + timedelta(days=300)).date().isoformat(),
            "no_cost": "yes",
        },
        12,
        [("review", org7, "延期理由充分，同意报办公室审批")],
    )

    # --- call B, a year ago: execution and its mid-term ---------------------------------------------
    b = life.call(
        code=7,
        title="数字化车间与工业软件",
        title_en="Digital workshops and industrial software",
        opens=420,
        closes=390,
        organiser=org7,
    )
    b1 = life.apply(b, J, IDEAS["twin"], 415)
    b2 = life.apply(b, Y, IDEAS["software"], 412)
    b3 = life.apply(b, C, IDEAS["sensor"], 410)
    for pid, who, day in ((b1, J, 414), (b2, Y, 411), (b3, C, 409)):
        life.fire(pid, "submit", who, day)
    life.close_call(b, 390)
    for n, (pid, panel) in enumerate(((b1, ["e1", "e2", "e3"]), (b2, ["e2", "e3", "e4"]), (b3, ["e1", "e3", "e4"]))):
        life.through_review(pid, panel, [84, 80, 83], 385 - n, org7)
    life.fire(b1, "approve", office, 360)
    life.fire(b2, "approve", office, 360)
    life.commission(b1, J, IDEAS["twin"], 340, months=24)
    life.commission(b2, Y, IDEAS["software"], 335, months=30)
    # the sensor project waited for its co-funding: approved only lately, agreement still to sign
    life.fire(b3, "approve", office, 45)
    # the twin reports at mid-term: an evaluator and an expert are engaged
    life.form(b1, "midterm_report", J, _midterm(IDEAS["twin"]), 10)
    life.fire(b1, "submit_midterm", J, 10)
    life.at(9)
    evaluator_org = c.evaluator.organisation_id
    assert evaluator_org is not None
    with life.engine.begin() as conn:
        add_qualification(
            conn,
            organisation_id=evaluator_org,
            code="project_evaluation",
            valid_from=(real_now - timedelta(days=400)).date(),
            valid_until=(real_now + timedelta(days=700)).date(),
            actor=office,
            now=life.now,
            issuer="市科委",
        )
        assign_evaluator(
            conn,
            evaluator_id=evaluator_org,
            subject="project",
            subject_id=b1,
            stage="midterm",
            actor=office,
            now=life.now,
            due_on=(real_now + timedelta(days=21)).date(),
        )
    story.say(Text(f"项目 {b1}：委托第三方评估机构开展中期评估", f"project {b1}: evaluator engaged for the mid-term"))
    life.assign(b1, "midterm", ["e2", "evaluator"], 8, org7)
    # the software platform's reports: a technical report overdue, the mid-term report due soon
    life.at(200)
    with life.engine.begin() as conn:
        set_report_schedule(
            conn,
            project_id=b2,
            form_key="st_report",
            kind="milestones",
            now=life.now,
            tz=get_settings().timezone,
            milestones=[
                ("年度科技报告", "annual S&T report", real_now - timedelta(days=12)),
                ("第二年度科技报告", "second annual S&T report", real_now + timedelta(days=353)),
            ],
        )

    # --- call C, closed last month: review under way, an appeal, a correction -----------------------
    cc = life.call(
        code=7,
        title="机器人与增材制造（第二批）",
        title_en="Robotics and additive manufacturing (second batch)",
        opens=85,
        closes=28,
        organiser=org7,
        per_unit=2,
    )
    c1 = life.apply(cc, J, IDEAS["laser"], 60)
    c2 = life.apply(cc, Y, IDEAS["hand"], 55)
    c3 = life.apply(cc, C, IDEAS["source"], 50)
    c4 = life.apply(cc, J, IDEAS["grinding"], 45)
    for pid, who, day in ((c1, J, 59), (c2, Y, 54), (c3, C, 49), (c4, J, 44)):
        life.fire(pid, "submit", who, day)
    life.close_call(cc, 28)
    life.fire(c4, "return_for_correction", org7, 16, reason="预算表中设备费超过总预算的50%，请补充说明或调整")
    life.fire(c1, "accept_formal", org7, 15)
    life.fire(c2, "accept_formal", org7, 15)
    life.fire(c3, "accept_formal", org7, 15)
    life.assign(c1, "proposal", ["e1", "e2", "e3"], 11, org7)
    life.assign(c2, "proposal", ["e2", "e3", "e4"], 11, org7)
    life.assign(c3, "proposal", ["e1", "e3", "e4"], 11, org7)
    life.review(c1, "proposal", "e3", 85, 6, "激光拼接标定方案可行，建议补充热应力仿真结果。")
    for key, score, day in (("e2", 90, 10), ("e3", 87, 9), ("e4", 84, 7)):
        life.review(c2, "proposal", key, score, day, "研究基础扎实，指标先进，建议支持。")
    for key, score, day in (("e1", 62, 10), ("e3", 58, 9), ("e4", 64, 8)):
        life.review(c3, "proposal", key, score, day, "与专项重点任务契合度不高，技术路线不够具体。")
    life.fire(c3, "reject", office, 5, reason="综合评分未达到立项线")
    life.at(2)
    with life.engine.begin() as conn:
        file_complaint(
            conn,
            project_id=c3,
            actor=C,
            grounds="评审意见认为与重点任务契合度不高，但本项目直接对应“重点污染源防治技术”，请求复核。",
            now=life.now,
        )
    story.say(Text(f"项目 {c3}：申报单位提出申诉", f"project {c3}: the applicant appealed"))

    # --- call D, open now: drafts and fresh submissions ----------------------------------------------
    d = life.call(
        code=7,
        title="智能机器人应用示范（2027年度）",
        title_en="Demonstrations of intelligent robots (2027)",
        opens=14,
        closes=-35,
        organiser=org7,
        per_unit=2,
    )
    life.apply(d, J, IDEAS["patrol"], 6, submit_form=False)  # the proposal is still a draft
    d2 = life.apply(d, Y, IDEAS["exo"], 5)
    life.fire(d2, "submit", Y, 3)

    # --- a tender, open now: one bid sealed until the opening -----------------------------------------
    closes_at = real_now + timedelta(days=28)
    e = life.call(
        code=7,
        title="工业机器人公共检测服务平台建设（招标）",
        title_en="Public testing platform for industrial robots (tender)",
        opens=7,
        closes=-28,
        organiser=org7,
        mode=SelectionMode.TENDER,
        bids_open_at=closes_at + timedelta(days=1),
    )
    e1 = life.apply(e, C, IDEAS["plant"], 3)
    life.at(2)
    with life.engine.begin() as conn:
        submit_bid(conn, project_id=e1, content="投标报价：1,580,000元；工期：18个月。".encode(), actor=C, now=life.now)
    story.say(Text(f"项目 {e1}：投标文件已密封提交", f"project {e1}: bid sealed"))

    # --- programme 1: a two-stage call (concept notes first), open now -------------------------------
    f = life.call(
        code=1,
        title="蓝天行动：大气污染精准治理（两阶段申报）",
        title_en="Blue sky: precise air-pollution control (two-stage call)",
        opens=30,
        closes=-21,
        organiser=org1,
        workflow=_two_stage(),
    )
    life.apply(f, C, IDEAS["haze"], 4, submit_form=False)
    f2 = life.apply(f, Y, IDEAS["vehicle"], 9)
    life.fire(f2, "submit_concept", Y, 8)
    f3 = life.apply(f, J, IDEAS["dust"], 20)
    life.fire(f3, "submit_concept", J, 19)
    life.fire(f3, "decline_concept", org1, 11, reason="与本专项大气污染治理方向关联度不足")

    # --- programme 1: short projects (no mid-term) -----------------------------------------------------
    g = life.call(
        code=1,
        title="蓝天行动：快速攻关（短周期）",
        title_en="Blue sky: rapid projects (short cycle)",
        opens=520,
        closes=490,
        organiser=org1,
        workflow="short",
    )
    g1 = life.apply(g, C, IDEAS["sensor"], 515)
    g2 = life.apply(g, J, IDEAS["dust"], 512)
    life.fire(g1, "submit", C, 514)
    life.fire(g2, "submit", J, 511)
    life.close_call(g, 490)
    life.through_review(g1, ["e1", "e3", "e4"], [81, 79, 85], 488, org1)
    life.through_review(g2, ["e1", "e2", "e3"], [83, 86, 80], 487, org1)
    life.fire(g1, "approve", org1, 470)
    life.fire(g2, "approve", org1, 470)
    life.commission(g1, C, IDEAS["sensor"], 450, months=18)
    life.commission(g2, J, IDEAS["dust"], 450, months=15)
    life.form(g2, "acceptance_report", J, _acceptance(IDEAS["dust"]), 5)
    life.fire(g2, "submit_acceptance", J, 5)

    # --- today: the scheduler's sweeps as they run at the real now ------------------------------------
    life.at(0)
    settings = get_settings()
    reconcile(story.engine, now=real_now)
    sync_assignments(story.engine, now=real_now, review_days=settings.review_days)
    mark_overdue(story.engine, now=real_now)
    story.deliver()
    # people read their mail: what arrived more than two weeks ago has been opened
    with story.engine.begin() as conn:
        read_by = real_now - timedelta(days=READ_AFTER_DAYS)
        conn.execute(
            update(_inbox)
            .where(_inbox.c.read_at.is_(None), _inbox.c.created_at < read_by)
            .values(read_at=_inbox.c.created_at)
        )
    story.say(
        Text("演示数据已到今天：各角色登录即可看到待办事项", "demo data reaches today: every role has work waiting")
    )
