"""申报书: the proposal an undertaking unit submits in answer to a call."""

from __future__ import annotations

from grantflow.forms.checks import date_order, not_more_than, total_matches_rows
from grantflow.forms.definition import FormDefinition, Section
from grantflow.forms.definitions.common import (
    CATEGORIES,
    EXPERTISE,
    SUPPORT_MODES,
    budget_table,
    narrative,
    period_fields,
    team_table,
)
from grantflow.forms.fields import Attachments, Choice, Money, MultiChoice, OrgRef, ShortText, Table
from grantflow.states.text import Text

_start, _end = period_fields()
_budget = budget_table()
_total = Money(name="total_budget", label=Text("总预算（元）", "Total budget (yuan)"), required=True)
_requested = Money(
    name="requested_funding",
    label=Text("申请市财政资金（元）", "Municipal funding requested (yuan)"),
    required=True,
)

PROPOSAL_V1 = FormDefinition(
    key="proposal",
    version=1,
    title=Text("项目申报书", "Project proposal"),
    description=Text(
        "按申报指南要求填写；提交后进入形式审查。",
        "Fill in as the call asks; once submitted it goes to the formal check.",
    ),
    sections=(
        Section(
            Text("基本信息", "Basic information"),
            (
                ShortText(name="project_title", label=Text("项目名称", "Project title"), required=True, max_length=200),
                Choice(name="category", label=Text("项目类别", "Category"), required=True, choices=CATEGORIES),
                Choice(
                    name="support_mode", label=Text("支持方式", "Support mode"), required=True, choices=SUPPORT_MODES
                ),
                MultiChoice(
                    name="expertise",
                    label=Text("技术领域", "Technical fields"),
                    help=Text("用于匹配评审专家", "used to match reviewers"),
                    required=True,
                    choices=EXPERTISE,
                    min_selected=1,
                    max_selected=3,
                ),
                ShortText(
                    name="principal_investigator",
                    label=Text("项目负责人", "Principal investigator"),
                    required=True,
                    max_length=50,
                ),
                _start,
                _end,
            ),
        ),
        Section(
            Text("研究内容", "Content"),
            (
                narrative("summary", "项目摘要", "Summary", help=Text("不超过 2000 字", "at most 2000 characters")),
                narrative("objectives", "研究目标", "Objectives"),
                narrative("approach", "技术路线与创新点", "Technical approach and innovation"),
                narrative("expected_results", "预期成果（含技术标准、知识产权）", "Expected results (standards, IP)"),
            ),
        ),
        Section(
            Text("承担与合作", "Undertaking and partners"),
            (
                Table(
                    name="partners",
                    label=Text("合作单位", "Collaborating units"),
                    help=Text("评审回避时会用到", "used to avoid conflicts of interest in review"),
                    columns=(
                        OrgRef(name="organisation", label=Text("单位", "Organisation"), required=True),
                        ShortText(name="contribution", label=Text("承担内容", "Contribution"), max_length=300),
                    ),
                ),
                team_table(),
            ),
        ),
        Section(
            Text("经费", "Funding"),
            (_total, _requested, _budget),
        ),
        Section(
            Text("附件", "Attachments"),
            (
                Attachments(
                    name="attachments",
                    label=Text("附件（可行性报告、资质证明等）", "Attachments (feasibility study, qualifications)"),
                    accept=("pdf", "docx", "doc", "xlsx", "xls", "png", "jpg"),
                ),
            ),
        ),
    ),
    names_partners=True,  # collaborating units and team members' units: kept out of its review
    checks=(
        date_order(_start, _end),
        total_matches_rows(_budget, "amount", _total),
        not_more_than(_requested, _total),
    ),
)

DEFINITIONS = [PROPOSAL_V1]
