"""Vocabularies and column sets shared by several forms (one definition, so they agree)."""

from __future__ import annotations

from grantflow.forms.fields import (
    Choice,
    DateField,
    Integer,
    LongText,
    Money,
    Option,
    OrgRef,
    ShortText,
    Table,
    options,
)
from grantflow.states.enums import LABELS, Category, FundingSource, SupportMode
from grantflow.states.text import Text

FUNDING_SOURCES: tuple[Option, ...] = tuple(Option(s.value, LABELS[s]) for s in FundingSource)
CATEGORIES: tuple[Option, ...] = tuple(Option(c.value, LABELS[c]) for c in Category)
SUPPORT_MODES: tuple[Option, ...] = tuple(Option(m.value, LABELS[m]) for m in SupportMode)

# 经费开支科目: the usual heads of a municipal S&T project budget.
EXPENSE_HEADS = options(
    [
        ("equipment", Text("设备费", "equipment")),
        ("materials", Text("材料费", "materials")),
        ("testing", Text("测试化验加工费", "testing and processing")),
        ("fuel_power", Text("燃料动力费", "fuel and power")),
        ("travel_meetings", Text("差旅/会议/国际合作与交流费", "travel, meetings and international exchange")),
        ("publication_ip", Text("出版/文献/信息传播/知识产权事务费", "publication, literature and IP fees")),
        ("labour", Text("劳务费", "labour")),
        ("consultancy", Text("专家咨询费", "expert consultancy")),
        ("indirect", Text("间接费用", "indirect costs")),
        ("other", Text("其他支出", "other")),
    ]
)

# Kinds of target in a task agreement (docs/domain.md, rule 5: standards, IP and talent are targets).
TARGET_KINDS = options(
    [
        ("technical", Text("技术指标", "technical performance")),
        ("standard", Text("技术标准", "technical standard")),
        ("ip", Text("知识产权", "intellectual property")),
        ("talent", Text("人才培养", "talent training")),
        ("economic", Text("经济社会效益", "economic and social benefit")),
        ("demonstration", Text("示范应用", "demonstration and application")),
        ("other", Text("其他", "other")),
    ]
)

EXPERTISE = options(
    [
        ("environment", Text("大气与环境", "air and environment")),
        ("ecology", Text("生态建设", "ecology")),
        ("city_management", Text("城市管理与应急", "city management and emergencies")),
        ("food_safety", Text("食品安全", "food safety")),
        ("medicine", Text("医学与疾病防治", "medicine and disease control")),
        ("communications", Text("移动通信", "mobile communications")),
        ("manufacturing", Text("数字化制造", "digital manufacturing")),
        ("robotics", Text("机器人与自动化", "robotics and automation")),
        ("biomedicine", Text("生物医药", "biomedicine")),
        ("rail_transit", Text("轨道交通", "rail transit")),
        ("energy", Text("能源", "energy")),
        ("materials", Text("新材料", "materials")),
        ("services", Text("现代服务业", "modern services")),
    ]
)

# The twelve programmes (DESIGN.md), by code, for forms that are filled before a project exists.
PROGRAMMES = options(
    [
        ("1", Text("首都蓝天行动", "Capital blue-sky action")),
        ("2", Text("首都生态环境建设与环保产业发展", "Capital ecological environment and environmental industry")),
        ("3", Text("城市精细化管理与应急保障", "Fine-grained city management and emergency support")),
        ("4", Text("首都食品质量安全保障", "Capital food quality and safety")),
        ("5", Text("重大疾病科技攻关与管理", "Major diseases: research and management")),
        ("6", Text("新一代移动通信技术突破及产业发展", "Next-generation mobile communications")),
        ("7", Text("数字化制造技术创新及产业培育", "Digital manufacturing (3D printing, robots and automation)")),
        ("8", Text("生物医药产业跨越发展", "Leap-forward development of biomedicine")),
        ("9", Text("轨道交通产业发展", "Rail transit industry")),
        ("10", Text("面向未来的能源结构技术创新与辐射带动", "Future energy structure innovation")),
        ("11", Text("先导与优势材料创新发展", "Leading and advantageous materials")),
        ("12", Text("现代服务业创新发展", "Modern service industry innovation")),
    ]
)

YES_NO = options([("yes", Text("是", "yes")), ("no", Text("否", "no"))])


def budget_table(name: str = "budget", *, required: bool = True) -> Table:
    """Budget lines by funding source and expense head (docs/domain.md, rule 9)."""
    return Table(
        name=name,
        label=Text("经费预算（按来源）", "Budget by funding source"),
        help=Text("每行一个来源和科目；金额以元为单位", "one line per source and expense head; amounts in yuan"),
        required=required,
        columns=(
            Choice(name="source", label=Text("经费来源", "Funding source"), required=True, choices=FUNDING_SOURCES),
            Choice(name="head", label=Text("开支科目", "Expense head"), required=True, choices=EXPENSE_HEADS),
            Money(name="amount", label=Text("金额（元）", "Amount (yuan)"), required=True),
            ShortText(name="note", label=Text("说明", "Note"), max_length=200),
        ),
    )


def team_table(*, min_rows: int = 1) -> Table:
    return Table(
        name="team",
        label=Text("项目组成员", "Team members"),
        required=min_rows > 0,
        min_rows=min_rows,
        max_rows=100,
        columns=(
            ShortText(name="name", label=Text("姓名", "Name"), required=True, max_length=50),
            ShortText(name="title", label=Text("职称", "Title"), max_length=50),
            OrgRef(name="organisation", label=Text("所在单位", "Organisation")),
            ShortText(name="role", label=Text("项目分工", "Role in the project"), max_length=200),
            Integer(
                name="months",
                label=Text("投入月数", "Months on the project"),
                min_value=1,
                max_value=120,
                unit=Text("个月", "months"),
            ),
        ),
    )


def targets_table(name: str = "targets", *, label: Text | None = None) -> Table:
    return Table(
        name=name,
        label=label or Text("考核指标", "Targets"),
        help=Text(
            "须包括技术标准、知识产权和人才培养指标",
            "include technical-standard, intellectual-property and talent-training targets",
        ),
        required=True,
        columns=(
            Choice(name="kind", label=Text("指标类别", "Kind"), required=True, choices=TARGET_KINDS),
            ShortText(name="description", label=Text("指标内容", "Target"), required=True, max_length=500),
            ShortText(name="measure", label=Text("考核值", "Measure"), required=True, max_length=100),
            DateField(name="due", label=Text("完成时间", "Due")),
        ),
    )


def milestones_table() -> Table:
    return Table(
        name="milestones",
        label=Text("进度安排（里程碑）", "Milestones"),
        required=True,
        columns=(
            ShortText(name="title", label=Text("节点", "Milestone"), required=True, max_length=200),
            DateField(name="due", label=Text("完成日期", "Due date"), required=True),
            ShortText(name="deliverable", label=Text("交付成果", "Deliverable"), max_length=300),
        ),
    )


def period_fields() -> tuple[DateField, DateField]:
    return (
        DateField(name="start_date", label=Text("执行期开始", "Project start"), required=True),
        DateField(name="end_date", label=Text("执行期结束", "Project end"), required=True),
    )


def narrative(name: str, zh: str, en: str, *, required: bool = True, help: Text | None = None) -> LongText:
    return LongText(name=name, label=Text(zh, en), required=required, help=help)
