"""Who may fill a form: the permission presets a definition names (``filled_by``).

Who may *see* a project's forms and files is ``states.permissions.may_view``, the same rule
the project page uses (``db.queries.project_for``); it is not repeated here.
"""

from __future__ import annotations

from grantflow.forms.definition import FormDefinition
from grantflow.states.facts import Facts
from grantflow.states.permissions import PRESETS, Actor
from grantflow.states.text import Text

NOT_FILLABLE = Text("您无权填写此表单", "you may not fill in this form")


def may_fill(form: FormDefinition, actor: Actor, facts: Facts) -> bool:
    """Whether the actor may fill ``form`` for the project these facts describe."""
    return any(PRESETS[p].admits(actor, facts) for p in form.filled_by if p in PRESETS)
