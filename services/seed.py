"""Reference data: the twelve programmes, the commission's own bodies, and optional demo people."""

from __future__ import annotations

from dataclasses import dataclass
from datetime import date

from sqlalchemy import Connection, select
from sqlalchemy.orm import Session

from grantflow import clock
from grantflow.db.models import Organisation, Programme, ProgrammeKeyTask, SiteFlag, Target, User, UserRole
from grantflow.services.passwords import hash_password
from grantflow.states.enums import LABELS, OrgKind, Role
from grantflow.states.text import Text

# (code, class, zh, en, targets) from the action plan (DESIGN.md, "The twelve programmes")
PROGRAMMES: list[tuple[int, int, str, str, str | None]] = [
    (1, 1, "首都蓝天行动", "Capital blue-sky action", None),
    (2, 1, "首都生态环境建设与环保产业发展", "Capital ecological environment and environmental industry", None),
    (3, 1, "城市精细化管理与应急保障", "Fine-grained city management and emergency support", None),
    (4, 1, "首都食品质量安全保障", "Capital food quality and safety", None),
    (
        5,
        1,
        "重大疾病科技攻关与管理",
        "Major diseases: research and management",
        "到2017年：10项以上有国际影响力的创新性成果、30个优势学科、100项诊疗技术规范和标准",
    ),
    (6, 2, "新一代移动通信技术突破及产业发展", "Next-generation mobile communications", None),
    (7, 2, "数字化制造技术创新及产业培育", "Digital manufacturing (3D printing, robots and automation)", None),
    (8, 2, "生物医药产业跨越发展", "Leap-forward development of biomedicine", None),
    (9, 2, "轨道交通产业发展", "Rail transit industry", None),
    (10, 2, "面向未来的能源结构技术创新与辐射带动", "Future energy structure innovation", None),
    (11, 2, "先导与优势材料创新发展", "Leading and advantageous materials", None),
    (12, 2, "现代服务业创新发展", "Modern service industry innovation", None),
]

# Key tasks (重点任务). The action plan names them for programmes 1, 5 and 7; for the others the
# seed states the programme's aim as its one key task until the office records the tasks of
# its implementation plan (``grantflow programmes ...``).
KEY_TASKS: dict[int, list[tuple[str, str]]] = {
    1: [
        ("大气污染成因与预警预报研究", "causes of air pollution, its early warning and forecasting"),
        ("能源清洁高效利用", "clean and efficient use of energy"),
        ("推广应用新能源和清洁能源汽车", "wider use of new-energy and clean-energy vehicles"),
        ("重点污染源防治技术研究与示范", "control of major pollution sources: research and demonstration"),
    ],
    2: [("生态环境建设与环保产业技术创新", "technology for the ecological environment and the environmental industry")],
    3: [("城市精细化管理与应急保障技术创新", "technology for fine-grained city management and emergency support")],
    4: [("食品质量安全保障技术创新", "technology safeguarding food quality and safety")],
    5: [
        ("十大疾病科技攻关与管理", "research on and management of ten major diseases"),
        ("生命科学前沿技术创新研究", "frontier technology in the life sciences"),
        ("首都特色学科创新研究", "innovation in the capital's distinctive disciplines"),
    ],
    6: [
        (
            "新一代移动通信技术突破及产业发展",
            "breakthroughs in next-generation mobile communications and their industry",
        )
    ],
    7: [
        (
            "数字化增材制造（3D打印）创新及产业培育",
            "digital additive manufacturing (3D printing): innovation and industry",
        ),
        ("机器人及自动化成套装备创新及产业培育", "robots and automated production lines: innovation and industry"),
    ],
    8: [("生物医药产业技术创新与跨越发展", "technology for a leap forward of the biomedicine industry")],
    9: [("轨道交通关键技术、装备与产业发展", "rail-transit technology, equipment and industry")],
    10: [("面向未来的能源结构技术创新与辐射带动", "technology for the future energy mix and its wider uptake")],
    11: [("先导与优势材料创新发展", "innovation in leading and advantageous materials")],
    12: [("现代服务业创新发展", "innovation in modern services")],
}

# Targets the action plan sets (by 2017): programme 5's. Kinds: ``states.targets.TARGET_KINDS``.
# (code, kind, zh, en, quantity, unit zh, unit en, due year)
PROGRAMME_TARGETS: list[tuple[int, str, str, str, int, str, str, int]] = [
    (
        5,
        "result",
        "有国际影响力的创新性成果",
        "internationally influential innovative results",
        10,
        "项",
        "results",
        2017,
    ),
    (5, "discipline", "国内领先的优势学科", "leading disciplines in the country", 30, "个", "disciplines", 2017),
    (5, "standard", "诊疗技术规范、标准", "diagnosis-and-treatment norms and standards", 100, "项", "norms", 2017),
]

COMMISSION_BODIES = [
    ("首都科技创新领导小组", "Leadership group", OrgKind.LEADERSHIP_GROUP),
    ("领导小组办公室（市科委）", "Leadership group office (science commission)", OrgKind.OFFICE),
]


def seed_reference(session: Session) -> int:
    """Create what is missing of the reference data; returns how many rows were added."""
    added = 0
    for name, name_en, kind in COMMISSION_BODIES:
        if session.scalar(select(Organisation.id).where(Organisation.name == name)) is None:
            session.add(Organisation(name=name, name_en=name_en, kind=kind, region="北京市", email_domains=[]))
            added += 1
    existing = set(session.scalars(select(Programme.code)))
    for code, klass, zh, en, targets in PROGRAMMES:
        if code not in existing:
            session.add(Programme(code=code, programme_class=klass, name=zh, name_en=en, targets=targets))
            added += 1
    session.flush()
    return added + _seed_programme_details(session)


def _seed_programme_details(session: Session) -> int:
    """Key tasks and targets of programmes that have none yet (never overwrites what the office set)."""
    added = 0
    by_code = {g.code: g.id for g in session.scalars(select(Programme))}
    with_tasks = set(session.scalars(select(ProgrammeKeyTask.programme_id).distinct()))
    for code, tasks in KEY_TASKS.items():
        if code in by_code and by_code[code] not in with_tasks:
            for seq, (zh, en) in enumerate(tasks, start=1):
                session.add(ProgrammeKeyTask(programme_id=by_code[code], seq=seq, title=zh, title_en=en))
                added += 1
    with_targets = set(session.scalars(select(Target.programme_id).where(Target.project_id.is_(None)).distinct()))
    positions: dict[int, int] = {}
    for code, kind, zh, en, quantity, unit, unit_en, year in PROGRAMME_TARGETS:
        if code in by_code and by_code[code] not in with_targets:
            pid = by_code[code]
            positions[pid] = positions.get(pid, 0) + 1
            session.add(
                Target(
                    programme_id=pid,
                    project_id=None,
                    kind=kind,
                    description=zh,
                    description_en=en,
                    unit=unit,
                    unit_en=unit_en,
                    planned_hundredths=quantity * 100,
                    achieved_hundredths=0,
                    due_on=date(year, 12, 31),
                    position=positions[pid],
                    created_at=clock.now(),
                )
            )
            added += 1
    session.flush()
    return added


@dataclass(frozen=True)
class DemoPerson:
    email: str
    name: str
    org: str
    roles: tuple[str, ...]
    language: str = "zh"
    expertise: tuple[str, ...] = ()


DEMO_ORGS: list[tuple[str, str, str, str | None, list[str]]] = [
    (
        "市经济和信息化委员会",
        "Municipal Economy and Information Commission",
        OrgKind.ORGANISING_UNIT,
        None,
        ["jxw.example.cn"],
    ),
    ("市环境保护局", "Municipal Environmental Protection Bureau", OrgKind.ORGANISING_UNIT, None, ["hbj.example.cn"]),
    (
        "京华智造科技有限公司",
        "Jinghua Smart Manufacturing Co.",
        OrgKind.UNDERTAKING_UNIT,
        "enterprise",
        ["jinghua.example.com"],
    ),
    ("燕园大学", "Yanyuan University", OrgKind.UNDERTAKING_UNIT, "university", ["yanyuan.example.edu"]),
    (
        "首都环境科学研究院",
        "Capital Institute of Environmental Science",
        OrgKind.UNDERTAKING_UNIT,
        "institute",
        ["cies.example.cn"],
    ),
    ("清源评估咨询中心", "Qingyuan Evaluation Centre", OrgKind.EVALUATOR, None, ["qingyuan.example.cn"]),
]

DEMO_PEOPLE: list[DemoPerson] = [
    DemoPerson("leader@kw.example.cn", "王组长", "首都科技创新领导小组", (Role.LEADERSHIP_GROUP,)),
    DemoPerson("office@kw.example.cn", "李主任", "领导小组办公室（市科委）", (Role.OFFICE,)),
    DemoPerson("clerk@kw.example.cn", "Chen Clerk", "领导小组办公室（市科委）", (Role.OFFICE,), "en"),
    DemoPerson("organiser@jxw.example.cn", "赵处长", "市经济和信息化委员会", (Role.ORGANISING_UNIT,)),
    DemoPerson("organiser@hbj.example.cn", "孙处长", "市环境保护局", (Role.ORGANISING_UNIT,)),
    DemoPerson("pi@jinghua.example.com", "周工", "京华智造科技有限公司", (Role.APPLICANT,)),
    DemoPerson("pi@yanyuan.example.edu", "Prof. Wu", "燕园大学", (Role.APPLICANT,), "en"),
    DemoPerson("pi@cies.example.cn", "郑研究员", "首都环境科学研究院", (Role.APPLICANT,)),
    DemoPerson(
        "expert1@yanyuan.example.edu", "钱教授", "燕园大学", (Role.REVIEWER,), "zh", ("manufacturing", "robotics")
    ),
    DemoPerson(
        "expert2@cies.example.cn",
        "冯研究员",
        "首都环境科学研究院",
        (Role.REVIEWER,),
        "zh",
        ("environment", "manufacturing"),
    ),
    DemoPerson(
        "expert3@qingyuan.example.cn",
        "Dr. Lin",
        "清源评估咨询中心",
        (Role.REVIEWER,),
        "en",
        ("manufacturing", "materials"),
    ),
    DemoPerson(
        "expert4@jinghua.example.com",
        "何高工",
        "京华智造科技有限公司",
        (Role.REVIEWER,),
        "zh",
        ("environment", "robotics"),
    ),
    DemoPerson("evaluator@qingyuan.example.cn", "褚评估师", "清源评估咨询中心", (Role.EVALUATOR,)),
]


DEMO_PASSWORD = "grantflow"
"""Every demo person's password (demo data only; `grantflow users passwd` changes it)."""


def seed_demo(session: Session) -> int:
    """Demo organisations and people (idempotent). Organising units take programmes 7 and 1."""
    added = seed_reference(session)
    orgs = {o.name: o for o in session.scalars(select(Organisation))}
    for name, name_en, kind, unit_type, domains in DEMO_ORGS:
        if name not in orgs:
            org = Organisation(
                name=name, name_en=name_en, kind=kind, unit_type=unit_type, region="北京市", email_domains=domains
            )
            session.add(org)
            orgs[name] = org
            added += 1
    session.flush()
    known = set(session.scalars(select(User.email)))
    demo_hash = hash_password(DEMO_PASSWORD)
    for p in DEMO_PEOPLE:
        if p.email in known:
            continue
        user = User(
            name=p.name,
            email=p.email,
            language=p.language,
            organisation_id=orgs[p.org].id,
            expertise=list(p.expertise),
            password_hash=demo_hash,
            roles=[UserRole(role=r) for r in p.roles],
        )
        session.add(user)
        added += 1
    programmes = {g.code: g for g in session.scalars(select(Programme))}
    for code, org_name in ((7, "市经济和信息化委员会"), (1, "市环境保护局")):
        if programmes[code].organising_unit_id is None:
            programmes[code].organising_unit_id = orgs[org_name].id
    if session.get(SiteFlag, DEMO_FLAG) is None:
        # recorded once: the sign-in page lists the demo accounts only where they were seeded
        session.add(SiteFlag(name=DEMO_FLAG, value="seeded", set_at=clock.now()))
    session.flush()
    return added


DEMO_FLAG = "demo"


@dataclass(frozen=True)
class DemoAccount:
    """One line of the sign-in page's list of demo accounts."""

    email: str
    name: str
    role: Text
    org: str


def demo_mode(conn: Connection) -> bool:
    """Whether ``grantflow init --demo`` seeded this database (its demo people share one known password)."""
    return conn.execute(select(SiteFlag.value).where(SiteFlag.name == DEMO_FLAG)).first() is not None


def demo_accounts(conn: Connection, *, production: bool) -> list[DemoAccount]:
    """The demo people that still exist, for the sign-in page; none in production or where demo
    data was never seeded. (Checking each one's password would cost a slow hash per person on every
    page view: one whose password was changed simply no longer signs in with the demo password.)"""
    if production or not demo_mode(conn):
        return []
    known = set(conn.execute(select(User.email).where(User.email.in_([p.email for p in DEMO_PEOPLE]))).scalars())
    return [
        DemoAccount(
            p.email,
            p.name,
            Text("、".join(LABELS[r].zh for r in p.roles), ", ".join(LABELS[r].en for r in p.roles)),
            p.org,
        )
        for p in DEMO_PEOPLE
        if p.email in known
    ]


def _roles(roles: tuple[str, ...]) -> Text:
    return Text("、".join(LABELS[r].zh for r in roles), ", ".join(LABELS[r].en for r in roles))
