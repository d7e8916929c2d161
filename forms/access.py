"""Who may fill a form that belongs to no project (the public questionnaire): the permission
presets its definition names (``filled_by``).

A project's forms are edited where the workflow table says, by whom it says (the state's
``editable`` attribute, ``Workflow.form_refusal``); who may *see* a project's forms and files is
``states.permissions.may_view``. Neither is repeated here.
"""

from __future__ import annotations

from grantflow.forms.definition import FormDefinition
from grantflow.states.facts import Facts
from grantflow.states.permissions import PRESETS, Actor
from grantflow.states.text import Text

NOT_FILLABLE = Text("您无权填写此表单", "you may not fill in this form")


def may_fill(form: FormDefinition, actor: Actor, facts: Facts) -> bool:
    """Whether the actor may fill ``form`` for the project these facts describe."""
    return any(PRESETS[p].admits(actor, facts, None) for p in form.filled_by if p in PRESETS)
