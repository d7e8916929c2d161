"""Reports during and after execution: mid-term, acceptance and the annual post-evaluation report."""

from __future__ import annotations

from grantflow.forms.definition import FormDefinition, Section
from grantflow.forms.definitions.common import FUNDING_SOURCES, narrative
from grantflow.forms.fields import Attachments, Choice, Field, Integer, Money, ShortText, Table, options
from grantflow.states.text import Text

PROGRESS = options(
    [
        ("achieved", Text("已完成", "achieved")),
        ("on_track", Text("按计划推进", "on track")),
        ("delayed", Text("滞后", "delayed")),
        ("at_risk", Text("存在风险", "at risk")),
    ]
)
MET = options(
    [
        ("met", Text("完成", "met")),
        ("partly", Text("部分完成", "partly met")),
        ("not_met", Text("未完成", "not met")),
    ]
)


def _spending(name: str, label: Text, *, budgeted: bool) -> Table:
    columns: list[Field] = [
        Choice(name="source", label=Text("经费来源", "Funding source"), required=True, choices=FUNDING_SOURCES)
    ]
    if budgeted:
        columns.append(Money(name="budgeted", label=Text("预算（元）", "Budgeted (yuan)"), required=True))
    columns.append(Money(name="spent", label=Text("已支出（元）", "Spent (yuan)"), required=True))
    return Table(name=name, label=label, required=True, columns=tuple(columns))


MIDTERM_REPORT_V1 = FormDefinition(
    key="midterm_report",
    version=1,
    title=Text("中期执行情况报告", "Mid-term report"),
    sections=(
        Section(
            Text("执行情况", "Progress"),
            (
                narrative("progress", "总体进展", "Overall progress"),
                Table(
                    name="targets_progress",
                    label=Text("指标完成情况", "Progress on targets"),
                    required=True,
                    columns=(
                        ShortText(name="target", label=Text("指标", "Target"), required=True, max_length=500),
                        Choice(name="status", label=Text("进展", "Status"), required=True, choices=PROGRESS),
                        ShortText(name="note", label=Text("说明", "Note"), max_length=500),
                    ),
                ),
                Integer(name="standards_drafted", label=Text("已起草技术标准数", "Standards drafted"), required=True),
                Integer(name="patents_filed", label=Text("已申请专利数", "Patents filed"), required=True),
                Integer(name="people_trained", label=Text("已培养人才数", "People trained"), required=True),
            ),
        ),
        Section(
            Text("经费", "Funds"),
            (_spending("spending", Text("经费使用（按来源）", "Spending by source"), budgeted=True),),
        ),
        Section(
            Text("问题与计划", "Problems and plans"),
            (
                narrative("problems", "存在问题", "Problems", required=False),
                narrative("next_steps", "下一步计划", "Next steps"),
                Attachments(name="attachments", label=Text("附件", "Attachments")),
            ),
        ),
    ),
)

ACCEPTANCE_REPORT_V1 = FormDefinition(
    key="acceptance_report",
    version=1,
    title=Text("验收报告", "Acceptance report"),
    sections=(
        Section(
            Text("任务完成情况", "Completion"),
            (
                narrative("summary", "总结", "Summary"),
                Table(
                    name="targets_achieved",
                    label=Text("考核指标完成情况", "Targets achieved"),
                    required=True,
                    columns=(
                        ShortText(name="target", label=Text("指标", "Target"), required=True, max_length=500),
                        ShortText(
                            name="planned", label=Text("任务书考核值", "Agreed measure"), required=True, max_length=100
                        ),
                        ShortText(name="achieved", label=Text("实际完成值", "Achieved"), required=True, max_length=100),
                        Choice(name="met", label=Text("结论", "Result"), required=True, choices=MET),
                    ),
                ),
                Integer(
                    name="standards_formed", label=Text("形成技术标准数", "Technical standards formed"), required=True
                ),
                Integer(name="patents_filed", label=Text("申请专利数", "Patents filed"), required=True),
                Integer(name="patents_granted", label=Text("授权专利数", "Patents granted"), required=True),
                Integer(name="people_trained", label=Text("培养人才数", "People trained"), required=True),
            ),
        ),
        Section(
            Text("经费决算", "Final accounts"),
            (_spending("final_accounts", Text("经费决算（按来源）", "Final accounts by source"), budgeted=True),),
        ),
        Section(
            Text("附件", "Attachments"),
            (
                Attachments(
                    name="audit_report",
                    label=Text("财务审计报告", "Financial audit report"),
                    required=True,
                    accept=("pdf",),
                    max_files=1,
                ),
                Attachments(name="attachments", label=Text("其他附件", "Other attachments")),
            ),
        ),
    ),
)

POST_EVALUATION_REPORT_V1 = FormDefinition(
    key="post_evaluation_report",
    version=1,
    title=Text("后评估年度报告", "Annual post-evaluation report"),
    description=Text(
        "验收当年及其后三年，每年一份（DESIGN 规则 7）。",
        "One for the year of acceptance and each of the three years after.",
    ),
    periodic=True,
    sections=(
        Section(
            Text("年度成效", "The year's results"),
            (
                Integer(
                    name="year", label=Text("报告年度", "Year reported"), required=True, min_value=2000, max_value=2100
                ),
                Money(name="revenue", label=Text("成果转化收入（元）", "Revenue from results (yuan)"), required=True),
                Integer(
                    name="standards_adopted",
                    label=Text("标准发布/采用数", "Standards published or adopted"),
                    required=True,
                ),
                Integer(
                    name="patents_granted", label=Text("当年授权专利数", "Patents granted this year"), required=True
                ),
                Integer(name="jobs", label=Text("带动就业人数", "Jobs created"), required=True),
                narrative("industrialisation", "产业化与推广应用情况", "Industrialisation and take-up"),
                narrative("problems", "存在问题与建议", "Problems and suggestions", required=False),
                Attachments(name="attachments", label=Text("附件", "Attachments")),
            ),
        ),
    ),
)

DEFINITIONS = [MIDTERM_REPORT_V1, ACCEPTANCE_REPORT_V1, POST_EVALUATION_REPORT_V1]
