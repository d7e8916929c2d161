"""任务书: rights and duties, targets (standards, IP, talent), budget by source, milestones (docs/domain.md, rule 5)."""

from __future__ import annotations

from grantflow.forms.checks import date_order, dates_within, table_includes, total_matches_rows
from grantflow.forms.definition import FormDefinition, Section
from grantflow.forms.definitions.common import budget_table, milestones_table, narrative, period_fields, targets_table
from grantflow.forms.fields import Attachments, Money
from grantflow.states.text import Text

_start, _end = period_fields()
_targets = targets_table()
_budget = budget_table()
_milestones = milestones_table()
_total = Money(name="total_budget", label=Text("总经费（元）", "Total budget (yuan)"), required=True)

TASK_AGREEMENT_V1 = FormDefinition(
    key="task_agreement",
    version=1,
    title=Text("项目任务书", "Task agreement"),
    description=Text(
        "任务书明确双方权利义务、考核指标、经费和进度，是验收的依据。",
        "The task agreement fixes rights and duties, targets, budget and schedule; acceptance is judged against it.",
    ),
    sections=(
        Section(Text("执行期", "Period"), (_start, _end)),
        Section(
            Text("目标与指标", "Objectives and targets"),
            (
                narrative("objectives", "总体目标", "Objectives"),
                _targets,
                narrative(
                    "ip_plan",
                    "知识产权管理计划",
                    "Intellectual-property plan",
                    help=Text(
                        "检索、分析、申请、预警、保护与维护贯穿项目全过程",
                        "search, analysis, filing, early warning, protection and maintenance throughout the project",
                    ),
                ),
                narrative("talent_plan", "人才培养计划", "Talent-training plan"),
                narrative("obligations", "双方权利与义务", "Rights and duties of the parties"),
            ),
        ),
        Section(Text("经费", "Budget"), (_total, _budget)),
        Section(Text("进度", "Schedule"), (_milestones,)),
        Section(
            Text("附件", "Attachments"),
            (
                Attachments(
                    name="signed_copy",
                    label=Text("签字盖章的任务书扫描件", "Signed and sealed copy"),
                    required=True,
                    accept=("pdf",),
                    max_files=1,
                ),
            ),
        ),
    ),
    checks=(
        date_order(_start, _end),
        table_includes(
            _targets, "kind", "standard", Text("形成技术标准是重点考核指标", "technical standards are a key target")
        ),
        table_includes(
            _targets, "kind", "ip", Text("知识产权管理贯穿项目全过程", "IP management runs through the project")
        ),
        table_includes(
            _targets, "kind", "talent", Text("人才培养是立项考核指标", "talent training is a target from the start")
        ),
        total_matches_rows(_budget, "amount", _total),
        dates_within(_milestones, "due", _start, _end),
        dates_within(_targets, "due", _start, _end),
    ),
)

DEFINITIONS = [TASK_AGREEMENT_V1]
