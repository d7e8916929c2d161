"""Expert review on stored data: panels, rubrics, assignment, conflict statements, reviews,
visibility, ranking, and gate decisions in batches.

The rules are in ``grantflow.states.review_rules``; these modules load their facts and write what
they allow. Every write is audited on the project it concerns. Helpers that take a ``Connection``
run in the caller's transaction; the ``*_batch`` functions take the engine and give each item
its own transaction, so one failing item does not roll back the others.
"""

from grantflow.services.review.assignment import (
    AssignmentRow,
    ItemAssignment,
    assign,
    assign_batch,
    assignments_for,
    assignments_of,
    auto_assign,
    my_assignment,
)
from grantflow.services.review.common import RECOMMENDATIONS, STAGES, ItemContext, ItemResult, ReviewError, item
from grantflow.services.review.decisions import Decision, RankRow, decide_batch, ranking
from grantflow.services.review.panels import PanelInfo, create_panel, panel_for, rubric_for, set_rubric
from grantflow.services.review.parties import parties, profiles, set_partners, set_tags
from grantflow.services.review.scoring import declare_conflict, reviews_for, submit_review

__all__ = [
    "RECOMMENDATIONS",
    "STAGES",
    "AssignmentRow",
    "Decision",
    "ItemAssignment",
    "ItemContext",
    "ItemResult",
    "PanelInfo",
    "RankRow",
    "ReviewError",
    "assign",
    "assign_batch",
    "assignments_for",
    "assignments_of",
    "auto_assign",
    "create_panel",
    "decide_batch",
    "declare_conflict",
    "item",
    "my_assignment",
    "panel_for",
    "parties",
    "profiles",
    "ranking",
    "reviews_for",
    "rubric_for",
    "set_partners",
    "set_rubric",
    "set_tags",
    "submit_review",
]
