"""动态调整申请: a request to change targets, budget, schedule or people, or to suspend or stop.

Version 2 is the request of one adjustment (``states.adjustments``): one kind per request, with
the fields that kind needs. It is stored on the request itself, not as a project submission,
because a project may have many requests over its life. Version 1 stays for what was filed with it.
"""

from __future__ import annotations

from dataclasses import replace

from grantflow.forms.checks import required_when
from grantflow.forms.definition import FormDefinition, Section
from grantflow.forms.definitions.common import (
    CATEGORIES,
    EXPENSE_HEADS,
    FUNDING_SOURCES,
    SUPPORT_MODES,
    YES_NO,
    narrative,
    targets_table,
)
from grantflow.forms.fields import Attachments, Choice, DateField, Money, MultiChoice, OrgRef, ShortText, Table, options
from grantflow.states.adjustments import KIND_LABELS
from grantflow.states.text import Text

ADJUSTMENTS = options(
    [
        ("targets", Text("调整考核指标", "change targets")),
        ("budget", Text("调整经费预算", "change budget")),
        ("extension", Text("延长执行期", "extend the period")),
        ("principal_investigator", Text("变更项目负责人", "change principal investigator")),
        ("partners", Text("变更合作单位", "change collaborating units")),
        ("category", Text("调整项目类别", "change category")),
        ("suspend", Text("暂停项目", "suspend the project")),
        ("terminate", Text("终止项目", "terminate the project")),
    ]
)

ADJUSTMENT_REQUEST_V1 = FormDefinition(
    key="adjustment_request",
    version=1,
    title=Text("动态调整申请", "Dynamic-adjustment request"),
    # Adjustment can start with the undertaking unit or be proposed by those supervising it.
    filled_by=("applicant", "organiser", "office"),
    sections=(
        Section(
            Text("调整事项", "What changes"),
            (
                MultiChoice(
                    name="kinds",
                    label=Text("调整类型", "Kinds of change"),
                    required=True,
                    choices=ADJUSTMENTS,
                    min_selected=1,
                ),
                narrative("reason", "调整理由", "Reason"),
                narrative("proposal", "调整方案", "Proposed change"),
                DateField(name="new_end_date", label=Text("调整后结束日期", "New end date")),
                OrgRef(name="new_partner", label=Text("新增合作单位", "New collaborating unit")),
                Table(
                    name="budget_changes",
                    label=Text("预算调整", "Budget changes"),
                    help=Text("减少填负数", "enter a reduction as a negative amount"),
                    columns=(
                        Choice(
                            name="source",
                            label=Text("经费来源", "Funding source"),
                            required=True,
                            choices=FUNDING_SOURCES,
                        ),
                        Choice(
                            name="head", label=Text("开支科目", "Expense head"), required=True, choices=EXPENSE_HEADS
                        ),
                        Money(
                            name="change", label=Text("调整金额（元）", "Change (yuan)"), required=True, min_value=None
                        ),
                    ),
                ),
                Attachments(name="attachments", label=Text("附件", "Attachments")),
            ),
        ),
    ),
)

_kind = Choice(
    name="kind",
    label=Text("调整类型", "Kind of change"),
    required=True,
    choices=options([(k, t) for k, t in KIND_LABELS.items()]),
)
_new_category = Choice(name="new_category", label=Text("调整后的项目类别", "New category"), choices=CATEGORIES)
_new_support = MultiChoice(
    name="new_support_modes",
    label=Text("调整后的支持方式", "Support modes after the change"),
    help=Text("不填则沿用现有支持方式", "leave empty to keep the current support modes"),
    choices=SUPPORT_MODES,
)
_budget_changes = Table(
    name="budget_changes",
    label=Text("预算调整（按经费来源）", "Budget changes by funding source"),
    help=Text(
        "减少填负数；新来源或科目新增一行", "enter a reduction as a negative amount; a new source or head adds a line"
    ),
    columns=(
        Choice(name="source", label=Text("经费来源", "Funding source"), required=True, choices=FUNDING_SOURCES),
        Choice(name="head", label=Text("开支科目", "Expense head"), required=True, choices=EXPENSE_HEADS),
        Money(name="change", label=Text("调整金额（元）", "Change (yuan)"), required=True, min_value=None),
    ),
)
_new_end = DateField(name="new_end_date", label=Text("调整后结束日期", "New end date"))
_no_cost = Choice(
    name="no_cost",
    label=Text("不增加经费的延期", "No-cost extension"),
    help=Text("延期且经费不变", "a longer period with the same money"),
    choices=YES_NO,
)
_new_unit = OrgRef(name="new_unit", label=Text("新的承担单位", "New undertaking unit"))
_new_pi = ShortText(
    name="new_pi_email",
    label=Text("新项目负责人邮箱", "New principal investigator's e-mail"),
    help=Text("须为承担单位在本系统登记的人员", "a person of the undertaking unit registered here"),
    max_length=200,
)
_new_targets = replace(
    targets_table("new_targets", label=Text("调整后的考核指标（全部）", "Targets after the change (all of them)")),
    required=False,
)

ADJUSTMENT_REQUEST_V2 = FormDefinition(
    key="adjustment_request",
    version=2,
    title=Text("动态调整申请", "Dynamic-adjustment request"),
    description=Text(
        "每份申请一项调整；经组织单位审核、办公室审批（重大调整报领导小组决定）后执行。",
        "One change per request; reviewed by the organising unit, approved by the office (a major one by the "
        "leadership group), then applied.",
    ),
    filled_by=("applicant", "office"),
    sections=(
        Section(
            Text("调整事项", "What changes"),
            (
                _kind,
                narrative("reason", "调整理由", "Reason"),
                narrative("proposal", "调整方案", "Proposed change", required=False),
            ),
        ),
        Section(Text("项目类别", "Category"), (_new_category, _new_support)),
        Section(Text("经费", "Budget"), (_budget_changes,)),
        Section(Text("执行期", "Period"), (_new_end, _no_cost)),
        Section(Text("承担单位与负责人", "Unit and principal investigator"), (_new_unit, _new_pi)),
        Section(Text("考核指标", "Targets"), (_new_targets,)),
        Section(Text("附件", "Attachments"), (Attachments(name="attachments", label=Text("附件", "Attachments")),)),
    ),
    checks=(
        required_when(
            _kind,
            {
                "category": (_new_category,),
                "budget": (_budget_changes,),
                "extension": (_new_end,),
                "undertaking_unit": (_new_unit,),
                "principal_investigator": (_new_pi,),
                "targets": (_new_targets,),
            },
        ),
    ),
)

DEFINITIONS = [ADJUSTMENT_REQUEST_V1, ADJUSTMENT_REQUEST_V2]
