"""Reference data: the twelve programmes, the commission's own bodies, and optional demo people."""

from __future__ import annotations

from dataclasses import dataclass

from sqlalchemy import select
from sqlalchemy.orm import Session

from grantflow.db.models import Organisation, Programme, User, UserRole
from grantflow.services.passwords import hash_password
from grantflow.states.enums import OrgKind, Role

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
    session.flush()
    return added
