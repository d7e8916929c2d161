"""Second versions of the stage reports: results per target and spending per source for the period.

The first versions stay registered (submissions made with them are shown with them). These add
two tables the programme roll-ups read: what was achieved of each task-agreement target in the
period the report covers, and what was spent from each funding source in that period. Targets
are named by their number in the project's target list (shown on the project page), so an
applicant types what they see there (docs/targets-and-funding.md).
"""

from __future__ import annotations

from dataclasses import dataclass
from decimal import Decimal, InvalidOperation
from typing import Any, ClassVar

from grantflow.forms.definition import FormDefinition, Section
from grantflow.forms.definitions.common import FUNDING_SOURCES
from grantflow.forms.definitions.reports import ACCEPTANCE_REPORT_V1, MIDTERM_REPORT_V1, POST_EVALUATION_REPORT_V1
from grantflow.forms.fields import EMPTY, Choice, Integer, Money, Refs, ShortText, Table, is_blank
from grantflow.states.text import Text


@dataclass(frozen=True, kw_only=True)
class Quantity(Money):
    """A count or measure with up to two decimals (standards, patents, people, yuan of revenue)."""

    kind: ClassVar[str] = "quantity"

    def display(self, value: Any, lang: str, refs: Refs) -> str:
        if is_blank(value):
            return EMPTY.get(lang)
        try:
            amount = Decimal(str(value)).normalize()
        except (InvalidOperation, ValueError):
            return str(value)
        return f"{amount:,f}"


def results_table() -> Table:
    return Table(
        name="results",
        label=Text("考核指标本期完成情况", "Results against targets in this period"),
        help=Text(
            "按项目页面“考核指标”列表的序号填写，每个指标一行，填本期新增完成量（不是累计）",
            "one line per target, by its number in the project's target list; "
            "enter what was achieved in this period (not the running total)",
        ),
        columns=(
            Integer(name="target", label=Text("指标序号", "Target number"), required=True, min_value=1, max_value=500),
            Quantity(name="value", label=Text("本期完成量", "Achieved this period"), required=True),
            ShortText(name="note", label=Text("说明", "Note"), max_length=500),
        ),
    )


def period_spending_table() -> Table:
    return Table(
        name="period_spending",
        label=Text("本期经费支出（按来源）", "Spending in this period by source"),
        help=Text("每个来源一行，填本期支出（不是累计）", "one line per source; what was spent in this period"),
        columns=(
            Choice(name="source", label=Text("经费来源", "Funding source"), required=True, choices=FUNDING_SOURCES),
            Money(name="amount", label=Text("本期支出（元）", "Spent this period (yuan)"), required=True),
        ),
    )


RESULTS_SECTION = Section(
    Text("本期指标成果与经费", "This period's results and spending"),
    (results_table(), period_spending_table()),
)


def _with_results(v1: FormDefinition) -> FormDefinition:
    # the results come before the last section (attachments or problems), the rest as in version 1
    sections = (*v1.sections[:-1], RESULTS_SECTION, v1.sections[-1])
    return FormDefinition(
        key=v1.key,
        version=2,
        title=v1.title,
        sections=sections,
        checks=v1.checks,
        filled_by=v1.filled_by,
        periodic=v1.periodic,
        description=v1.description,
    )


MIDTERM_REPORT_V2 = _with_results(MIDTERM_REPORT_V1)
ACCEPTANCE_REPORT_V2 = _with_results(ACCEPTANCE_REPORT_V1)
POST_EVALUATION_REPORT_V2 = _with_results(POST_EVALUATION_REPORT_V1)

DEFINITIONS = [MIDTERM_REPORT_V2, ACCEPTANCE_REPORT_V2, POST_EVALUATION_REPORT_V2]
RESULT_FORMS = frozenset(d.key for d in DEFINITIONS)
