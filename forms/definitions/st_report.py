"""科技报告: a project's S&T report, laid out after GB/T 7713.3 (basic-information sheet, main text, back matter).

The form asks only for what identifies the report; the structure (keywords, abstract,
chapters, deferral limits) is the formal compliance check's business
(``states.st_report.compliance_problems``), which returns a failing report with every reason.
One submission per report: the period is the report's sequence number within the project.
"""

from __future__ import annotations

from grantflow.forms.definition import FormDefinition, Section
from grantflow.forms.definitions.common import narrative
from grantflow.forms.fields import Attachments, Choice, DateField, ShortText, Table, options
from grantflow.states.st_report import FORM_KEY, RELEASE_SCOPES, REPORT_KINDS
from grantflow.states.text import Text

ST_REPORT_V1 = FormDefinition(
    key=FORM_KEY,
    version=1,
    title=Text("科技报告", "S&T report"),
    description=Text(
        "按 GB/T 7713.3 编写：基本信息表、正文、辅文。延期公开的报告在公开日期前只公布基本信息表。",
        "Written after GB/T 7713.3: basic-information sheet, main text, back matter. A deferred report "
        "publishes only its basic-information sheet until its release date.",
    ),
    periodic=True,
    sections=(
        Section(
            Text("基本信息表", "Basic-information sheet"),
            (
                ShortText(name="title", label=Text("报告题名", "Title"), required=True, max_length=300),
                Choice(
                    name="report_kind",
                    label=Text("报告类型", "Kind of report"),
                    required=True,
                    choices=options(list(REPORT_KINDS.items())),
                ),
                Table(
                    name="authors",
                    label=Text("作者及单位", "Authors and units"),
                    max_rows=30,
                    columns=(
                        ShortText(name="name", label=Text("姓名", "Name"), required=True, max_length=50),
                        ShortText(name="unit", label=Text("所在单位", "Unit"), max_length=200),
                    ),
                ),
                ShortText(
                    name="org_code",
                    label=Text("单位代码", "Organisation code"),
                    help=Text("18位统一社会信用代码", "the 18-character unified social credit code"),
                    max_length=20,
                ),
                Choice(
                    name="release_scope",
                    label=Text("公开范围", "Release scope"),
                    required=True,
                    choices=options(list(RELEASE_SCOPES.items())),
                ),
                DateField(name="report_date", label=Text("编制日期", "Report date"), required=True),
                DateField(
                    name="release_date",
                    label=Text("公开日期", "Release date"),
                    help=Text("延期公开时填写，最长五年", "for a deferred report; at most five years"),
                ),
                ShortText(name="deferral_reason", label=Text("延期公开理由", "Reason for deferral"), max_length=500),
                ShortText(
                    name="keywords",
                    label=Text("关键词", "Keywords"),
                    help=Text("3至8个，用分号分隔", "3 to 8, separated by semicolons"),
                    max_length=300,
                ),
                narrative("abstract", "摘要", "Abstract", required=False),
                ShortText(
                    name="funding_channel",
                    label=Text("资助渠道", "Funding channel"),
                    help=Text("例如：市科技计划重大专项", "for example: municipal major special programme"),
                    max_length=200,
                ),
            ),
        ),
        Section(
            Text("正文", "Main text"),
            (
                narrative("introduction", "引言", "Introduction", required=False),
                Table(
                    name="sections",
                    label=Text("正文章节", "Chapters"),
                    max_rows=50,
                    columns=(
                        ShortText(name="heading", label=Text("章节标题", "Heading"), required=True, max_length=200),
                        ShortText(name="body", label=Text("章节内容", "Text"), max_length=20_000),
                    ),
                ),
                narrative("conclusions", "结论", "Conclusions", required=False),
            ),
        ),
        Section(
            Text("辅文", "Back matter"),
            (
                narrative("references", "参考文献", "References", required=False),
                narrative("appendix", "附录", "Appendix", required=False),
                Attachments(name="attachments", label=Text("附件", "Attachments")),
            ),
        ),
    ),
)

DEFINITIONS = [ST_REPORT_V1]
