"""Every published form version, one module per form; ``FORMS`` is the registry the app uses."""

from __future__ import annotations

from grantflow.forms.definition import FormRegistry
from grantflow.forms.definitions import (
    adjustment_request,
    concept_note,
    needs_questionnaire,
    proposal,
    reports,
    reports_results,
    st_report,
    task_agreement,
)

FORMS = FormRegistry(
    [
        *proposal.DEFINITIONS,
        *concept_note.DEFINITIONS,
        *task_agreement.DEFINITIONS,
        *reports.DEFINITIONS,
        *st_report.DEFINITIONS,
        *reports_results.DEFINITIONS,
        *adjustment_request.DEFINITIONS,
        *needs_questionnaire.DEFINITIONS,
    ]
)

__all__ = ["FORMS"]
