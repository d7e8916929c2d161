"""需求征集: the public questionnaire that collects needs before calls are written.

Filled by anyone, without a project; its answers are kept apart from project submissions.
"""

from __future__ import annotations

from grantflow.forms.definition import FormDefinition, Section
from grantflow.forms.definitions.common import PROGRAMMES, YES_NO, narrative
from grantflow.forms.fields import Choice, Money, ShortText, options
from grantflow.states.text import Text

URGENCY = options(
    [
        ("high", Text("紧迫", "urgent")),
        ("medium", Text("较紧迫", "fairly urgent")),
        ("low", Text("一般", "not urgent")),
    ]
)
RESPONDENT = options(
    [
        ("enterprise", Text("企业", "enterprise")),
        ("university", Text("高等院校", "university")),
        ("institute", Text("科研院所", "research institute")),
        ("alliance", Text("产业技术创新联盟", "industry technology-innovation alliance")),
        ("government", Text("政府部门", "government body")),
        ("citizen", Text("个人", "individual")),
    ]
)

NEEDS_QUESTIONNAIRE_V1 = FormDefinition(
    key="needs_questionnaire",
    version=1,
    title=Text("重大专项需求征集表", "Needs-solicitation questionnaire"),
    filled_by=("public",),
    sections=(
        Section(
            Text("填报人", "About you"),
            (
                Choice(name="respondent_kind", label=Text("填报人类型", "You are"), required=True, choices=RESPONDENT),
                ShortText(name="organisation_name", label=Text("单位名称", "Organisation"), max_length=200),
                ShortText(name="contact_name", label=Text("联系人", "Contact name"), required=True, max_length=50),
                ShortText(
                    name="contact", label=Text("联系电话或电子邮箱", "Phone or e-mail"), required=True, max_length=100
                ),
            ),
        ),
        Section(
            Text("需求", "The need"),
            (
                Choice(
                    name="programme", label=Text("相关重大专项", "Related programme"), required=True, choices=PROGRAMMES
                ),
                ShortText(name="need_title", label=Text("需求名称", "Need"), required=True, max_length=200),
                narrative("description", "需求描述（现状、瓶颈）", "Description (current state, bottleneck)"),
                narrative("expected_outcome", "期望成果与指标", "Expected outcome and measures"),
                Choice(name="urgency", label=Text("紧迫程度", "Urgency"), required=True, choices=URGENCY),
                Choice(
                    name="cofund", label=Text("是否愿意共同出资", "Willing to co-fund"), required=True, choices=YES_NO
                ),
                Money(name="cofund_amount", label=Text("拟出资金额（元）", "Co-funding offered (yuan)")),
            ),
        ),
    ),
)

DEFINITIONS = [NEEDS_QUESTIONNAIRE_V1]
