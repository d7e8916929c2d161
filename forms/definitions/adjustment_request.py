"""动态调整申请: a request to change targets, budget, schedule or people, or to suspend or stop."""

from __future__ import annotations

from grantflow.forms.definition import FormDefinition, Section
from grantflow.forms.definitions.common import EXPENSE_HEADS, FUNDING_SOURCES, narrative
from grantflow.forms.fields import Attachments, Choice, DateField, Money, MultiChoice, OrgRef, Table, options
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

DEFINITIONS = [ADJUSTMENT_REQUEST_V1]
