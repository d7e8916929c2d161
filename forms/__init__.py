"""Versioned form definitions per stage, validation with bilingual messages, rendering helpers.

Use:

- ``FORMS.get(key, version=None)``: a definition (the newest without a version);
  keys: proposal, concept_note, task_agreement, midterm_report, acceptance_report,
  post_evaluation_report (periodic: one per year), adjustment_request, needs_questionnaire.
- ``validate(form, raw, refs=..., submit=True)`` → ``Validated`` (``ok``, ``errors``, ``as_json()``).
- ``render_fields`` (HTML inputs), ``render_readonly`` (document view), ``export_rows``,
  ``parse_post`` (posted pairs → values).
- ``check_upload`` for attachments (by content), ``may_fill`` (who may fill a form).

Storing goes through ``db.form_store``; this package knows nothing of the database.
"""

from grantflow.forms.access import NOT_FILLABLE, may_fill
from grantflow.forms.definition import FieldError, FormDefinition, FormRegistry, Section, UnknownForm
from grantflow.forms.definitions import FORMS
from grantflow.forms.fields import (
    AttachmentRef,
    Attachments,
    Choice,
    DateField,
    Field,
    Integer,
    LongText,
    Money,
    MultiChoice,
    Option,
    OrgRef,
    Refs,
    ShortText,
    Table,
)
from grantflow.forms.files import AttachmentRejected, Upload, check_upload
from grantflow.forms.render import UPLOAD_SUFFIX, export_rows, parse_post, render_fields, render_readonly
from grantflow.forms.validation import Validated, org_mentions, tidy, validate

__all__ = [
    "FORMS",
    "NOT_FILLABLE",
    "UPLOAD_SUFFIX",
    "AttachmentRef",
    "AttachmentRejected",
    "Attachments",
    "Choice",
    "DateField",
    "Field",
    "FieldError",
    "FormDefinition",
    "FormRegistry",
    "Integer",
    "LongText",
    "Money",
    "MultiChoice",
    "Option",
    "OrgRef",
    "Refs",
    "Section",
    "ShortText",
    "Table",
    "UnknownForm",
    "Upload",
    "Validated",
    "check_upload",
    "export_rows",
    "may_fill",
    "org_mentions",
    "parse_post",
    "render_fields",
    "render_readonly",
    "tidy",
    "validate",
]
