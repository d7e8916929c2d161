"""Who may see a project's forms and files, and who may fill a form: pure rules over the actor.

Seeing is wider than acting: the undertaking unit, the programme's organising unit, the office,
the leadership group, third-party evaluators and the experts assigned to review the project.
Everyone else (another applicant, an expert not on the project) sees nothing, not even
whether a file exists.
"""

from __future__ import annotations

from collections.abc import Collection

from forms.definition import FormDefinition
from states.enums import Role
from states.facts import Facts
from states.permissions import PRESETS, Actor
from states.text import Text

NOT_VISIBLE = Text("您无权查看此项目", "you may not see this project")
NOT_FILLABLE = Text("您无权填写此表单", "you may not fill in this form")

_SEES_ALL = (Role.OFFICE, Role.LEADERSHIP_GROUP, Role.EVALUATOR, "system")


def may_see_project(
    actor: Actor,
    *,
    undertaking_unit_id: int | None,
    organising_unit_id: int | None,
    reviewer_ids: Collection[int] = (),
) -> bool:
    if any(actor.has(r) for r in _SEES_ALL):
        return True
    org = actor.organisation_id
    if org is not None and actor.has(Role.APPLICANT) and org == undertaking_unit_id:
        return True
    if org is not None and actor.has(Role.ORGANISING_UNIT) and org == organising_unit_id:
        return True
    return actor.user_id is not None and actor.user_id in reviewer_ids


def may_fill(form: FormDefinition, actor: Actor, facts: Facts) -> bool:
    """Whether the actor may fill ``form`` for the project these facts describe."""
    return any(PRESETS[p].admits(actor, facts) for p in form.filled_by if p in PRESETS)
