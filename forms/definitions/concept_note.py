"""项目建议书（概念书）: the short first step of the two-stage (concept) workflow."""

from __future__ import annotations

from grantflow.forms.definition import FormDefinition, Section
from grantflow.forms.definitions.common import EXPERTISE, narrative
from grantflow.forms.fields import Money, MultiChoice, ShortText
from grantflow.states.text import Text

CONCEPT_NOTE_V1 = FormDefinition(
    key="concept_note",
    version=1,
    title=Text("项目建议书", "Concept note"),
    sections=(
        Section(
            Text("项目设想", "The idea"),
            (
                ShortText(name="project_title", label=Text("项目名称", "Project title"), required=True, max_length=200),
                MultiChoice(
                    name="expertise",
                    label=Text("技术领域", "Technical fields"),
                    required=True,
                    choices=EXPERTISE,
                    min_selected=1,
                    max_selected=3,
                ),
                narrative("idea", "主要内容", "What will be done"),
                narrative("expected_results", "预期成果", "Expected results"),
                Money(
                    name="estimated_funding", label=Text("预计申请资金（元）", "Funding expected (yuan)"), required=True
                ),
            ),
        ),
    ),
)

DEFINITIONS = [CONCEPT_NOTE_V1]
