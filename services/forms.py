"""Saving and reading forms: the way a project's forms are validated and stored.

Two places, one meaning each:

- ``form_drafts``: the working copy, exactly as typed (raw strings included), with the errors
  of the last submit attempt. Saving a draft always succeeds; a rejected submit keeps it.
- ``submissions`` (``db.records.save_submission``): what was submitted, parsed and checked,
  with the form version it was made with. Written only when the whole form is valid; the
  audit event of the submit carries the same values.

Editing a submitted form starts a new working copy; the submission stays as it was until a
valid submit replaces it, so the guards (``has_proposal``…) never see a half-edited form.
The caller owns the transaction; nothing here commits.
"""

from __future__ import annotations

from collections.abc import Callable, Iterable, Mapping
from dataclasses import dataclass, field
from datetime import datetime
from enum import StrEnum
from typing import Any

from markupsafe import Markup
from sqlalchemy import Connection, bindparam, delete, func, insert, or_, select, union, update

from grantflow import clock
from grantflow.db import audit
from grantflow.db.models import FormDraft, Organisation, QuestionnaireResponse, Submission, table
from grantflow.forms import (
    FORMS,
    NOT_FILLABLE,
    FieldError,
    FormDefinition,
    FormRegistry,
    Refs,
    Validated,
    org_mentions,
    render_readonly,
    tidy,
    validate,
)
from grantflow.forms.messages import located, where
from grantflow.services.files import attachment_refs
from grantflow.services.queries import editable_facts, project_for
from grantflow.services.records import save_submission
from grantflow.services.targets import record_report, report_errors
from grantflow.states.enums import SubmissionStatus
from grantflow.states.errors import Forbidden, NotFound, PayloadInvalid
from grantflow.states.permissions import Actor
from grantflow.states.text import Text

_d = table(FormDraft)
_s = table(Submission)
_o = table(Organisation)
_q = table(QuestionnaireResponse)


class Status(StrEnum):
    """Where a form stands for its page: nothing yet, a working copy, submitted, or submitted
    with a working copy of changes not yet submitted."""

    NEW = "new"
    DRAFT = SubmissionStatus.DRAFT.value
    SUBMITTED = SubmissionStatus.SUBMITTED.value
    SUBMITTED_EDITING = "submitted_editing"


@dataclass(frozen=True)
class SubmittedForm:
    id: int
    form: FormDefinition  # the version it was made with
    data: dict[str, Any]
    submitted_at: datetime | None
    status: str


@dataclass
class FormState:
    """What a form page shows: the version to edit, the values, the errors, and what was submitted."""

    form: FormDefinition
    values: dict[str, Any]
    status: Status
    errors: list[FieldError] = field(default_factory=list)
    submission: SubmittedForm | None = None
    draft_id: int | None = None


@dataclass
class SaveResult:
    ok: bool  # the draft was saved, or the submission accepted
    submitted: bool
    form_version: int
    errors: list[FieldError]
    submission_id: int | None = None
    draft_id: int | None = None

    def messages(self, lang: str) -> dict[str, list[str]]:
        out: dict[str, list[str]] = {}
        for e in self.errors:
            out.setdefault(e.key, []).append(e.message.get(lang))
        return out


def _period_clause(table: Any, period: int | None) -> Any:
    return table.c.period.is_(None) if period is None else table.c.period == period


def _error_from_dict(d: Mapping[str, Any]) -> FieldError:
    return FieldError(path=tuple(d["path"]), code=str(d["code"]), message=Text(str(d["zh"]), str(d["en"])))


Mentions = Iterable[tuple[FormDefinition, Mapping[str, Any] | None]]
"""(form, values) pairs whose organisation fields a page or a check needs names for."""


def organisation_refs(conn: Connection, mentions: Mentions) -> tuple[dict[int, Text], dict[str, tuple[int, ...]]]:
    """Names of the organisations ``mentions`` name by id, and the ids of the names typed in them.

    Only those, in one query by primary key and the unique name (never every unit: a page or a
    save at thousands of units read them all). A typed name is a unit's registered Chinese name,
    or its English name; an English name several units share maps to all of them.
    """
    ids: set[int] = set()
    names: set[str] = set()
    for form, values in mentions:
        more_ids, more_names = org_mentions(form, values)
        ids |= more_ids
        names |= more_names
    if not ids and not names:
        return {}, {}
    columns = select(_o.c.id, _o.c.name, _o.c.name_en)
    wanted = [_o.c.id.in_(sorted(ids))] if ids else []
    if names:
        wanted.append(_o.c.name.in_(sorted(names)))
    rows = list(conn.execute(columns.where(or_(*wanted))).tuples())  # by key and unique name: indexed
    english = names - {name for _, name, _ in rows}
    if english:  # English names are not indexed (nor unique): read only for names no unit has in Chinese
        rows += conn.execute(columns.where(_o.c.name_en.in_(sorted(english)))).tuples()
    organisations = {oid: Text(name, name_en or name) for oid, name, name_en in rows}
    by_name: dict[str, tuple[int, ...]] = {}
    for typed in names:
        exact = tuple(oid for oid, name, _ in rows if name == typed)  # the Chinese name is unique
        meant = exact or tuple(sorted(oid for oid, _, name_en in rows if name_en == typed))
        if meant:
            by_name[typed] = meant
    return organisations, by_name


ORG_SUGGESTIONS = 10


def find_organisations(conn: Connection, query: str, *, limit: int = ORG_SUGGESTIONS) -> list[tuple[int, Text]]:
    """Registered organisations whose Chinese or English name contains ``query``: the names an
    organisation field accepts, for its suggestions while typing. Shortest names first, so the
    unit whose full name was typed comes before the longer names that contain it."""
    typed = query.strip()
    if not typed:
        return []
    pattern = "%" + typed.replace("\\", "\\\\").replace("%", "\\%").replace("_", "\\_") + "%"
    rows = conn.execute(
        select(_o.c.id, _o.c.name, _o.c.name_en)
        .where(or_(_o.c.name.like(pattern, escape="\\"), _o.c.name_en.like(pattern, escape="\\")))
        .order_by(func.length(_o.c.name), _o.c.name)
        .limit(limit)
    ).tuples()
    return [(oid, Text(name, name_en or name)) for oid, name, name_en in rows]


def refs_for(
    conn: Connection,
    *,
    project_id: int | None,
    url: Callable[[int], str] | None = None,
    mentions: Mentions = (),
) -> Refs:
    """This project's attachments, and the organisations ``mentions`` name, that a form may reference."""
    attachments = attachment_refs(conn, project_id=project_id, url=url) if project_id is not None else {}
    organisations, by_name = organisation_refs(conn, mentions)
    return Refs(organisations=organisations, attachments=attachments, org_names=by_name)


def _check_period(form: FormDefinition, period: int | None) -> None:
    if form.periodic and period is None:
        raise PayloadInvalid(
            Text(f"“{form.title.zh}”须指明报告年度", f"'{form.title.en}' needs the period (year) it reports on")
        )
    if not form.periodic and period is not None:
        raise PayloadInvalid(Text(f"“{form.title.zh}”不分年度", f"'{form.title.en}' has no periods"))


def _period_errors(form: FormDefinition, validated: Validated, period: int | None) -> list[FieldError]:
    """A periodic form's own ``year`` field must name the period it is filed under."""
    if not form.periodic or period is None or not form.has("year"):
        return []
    year = validated.values.get("year")
    if year is None or year == period:
        return []
    f = form.field("year")
    body = Text(f"应为本报告的年度 {period}", f"must be the year this report is for, {period}")
    return [FieldError(path=("year",), code="period_mismatch", message=located(where(f), body))]


def _row_of(t: Any, *, periodic: bool) -> Any:
    key = (t.c.project_id == bindparam("pid"), t.c.form_key == bindparam("key"))
    return select(t).where(*key, t.c.period == bindparam("period") if periodic else t.c.period.is_(None))


# every form page and save reads both: built once (with and without a period), not per request
_ROWS = {(t.name, periodic): _row_of(t, periodic=periodic) for t in (_s, _d) for periodic in (False, True)}


def _submission_row(conn: Connection, project_id: int, form_key: str, period: int | None) -> Any:
    stmt = _ROWS[_s.name, period is not None]
    return conn.execute(stmt, {"pid": project_id, "key": form_key, "period": period}).one_or_none()


def _draft_row(conn: Connection, project_id: int, form_key: str, period: int | None) -> Any:
    stmt = _ROWS[_d.name, period is not None]
    return conn.execute(stmt, {"pid": project_id, "key": form_key, "period": period}).one_or_none()


def form_periods(conn: Connection, *, project_id: int, form_key: str) -> list[int]:
    """The periods of a periodic form that the project has a draft or a submission of, in order
    (the years of its annual reports, the sequence numbers of its S&T reports)."""
    rows = conn.execute(
        union(
            select(_s.c.period).where(
                _s.c.project_id == project_id, _s.c.form_key == form_key, _s.c.period.is_not(None)
            ),
            select(_d.c.period).where(
                _d.c.project_id == project_id, _d.c.form_key == form_key, _d.c.period.is_not(None)
            ),
        )
    ).all()
    return sorted(int(r[0]) for r in rows)


def _submitted(registry: FormRegistry, row: Any) -> SubmittedForm:
    form = registry.find(row.form_key, row.form_version) or _unknown_version(row.form_key, row.form_version)
    return SubmittedForm(
        id=row.id, form=form, data=dict(row.data or {}), submitted_at=row.submitted_at, status=row.status
    )


def _unknown_version(key: str, version: int) -> FormDefinition:
    """A stand-in for a version no longer in the registry: shows the stored values as they are."""
    return FormDefinition(key=key, version=version, title=Text(key, key), sections=())


def load_form(
    conn: Connection,
    *,
    project_id: int,
    form_key: str,
    actor: Actor,
    period: int | None = None,
    registry: FormRegistry = FORMS,
) -> FormState:
    """The form as its page shows it, for someone who may see the project (else ``NotFound``)."""
    project_for(conn, actor, project_id)
    latest = registry.get(form_key)
    _check_period(latest, period)
    sub_row = _submission_row(conn, project_id, form_key, period)
    submission = _submitted(registry, sub_row) if sub_row is not None else None
    draft = _draft_row(conn, project_id, form_key, period)
    if draft is not None:
        form = registry.find(form_key, draft.form_version) or latest
        return FormState(
            form=form,
            values=dict(draft.data or {}),
            status=Status.SUBMITTED_EDITING
            if submission and submission.status == SubmissionStatus.SUBMITTED
            else Status.DRAFT,
            errors=[_error_from_dict(e) for e in draft.errors or []],
            submission=submission,
            draft_id=draft.id,
        )
    if submission is not None:
        status = Status.SUBMITTED if submission.status == SubmissionStatus.SUBMITTED else Status.DRAFT
        return FormState(form=submission.form, values=submission.data, status=status, submission=submission)
    return FormState(form=latest, values={}, status=Status.NEW)


def save_form(
    conn: Connection,
    *,
    project_id: int,
    form_key: str,
    raw: Mapping[str, Any],
    actor: Actor,
    submit: bool,
    period: int | None = None,
    now: datetime | None = None,
    registry: FormRegistry = FORMS,
) -> SaveResult:
    """Validate ``raw`` with the form and keep it: as a draft, or as the submission if valid.

    A draft keeps the version it was started with (what was typed fits its fields); a new
    draft uses the newest version. On a rejected submit the values are kept as typed with the
    errors, and the previous submission, if any, is untouched.

    Refused (``FormLocked``, both languages, naming the state) when the project's state does not
    let this person edit the form: a form is locked once its stage is submitted, and a returned
    project unlocks exactly the forms its state lists (docs/lifecycle.md, "Forms lock").
    """
    moment = now or clock.now()
    latest = registry.get(form_key)
    editable_facts(conn, actor, project_id, form_key)
    _check_period(latest, period)
    draft = _draft_row(conn, project_id, form_key, period)
    form = (registry.find(form_key, draft.form_version) if draft is not None else None) or latest
    kept = audit.normalise(tidy(form, raw))[0]  # plain JSON, as typed
    if form.periodic and period is not None and form.has("year") and not str(kept.get("year") or "").strip():
        kept["year"] = str(period)
    validated = validate(form, kept, refs=refs_for(conn, project_id=project_id, mentions=[(form, kept)]), submit=submit)
    errors = validated.errors + (_period_errors(form, validated, period) if submit else [])
    if submit and not validated.errors:
        # lines that must name the project's own targets (stage reports with results)
        errors += report_errors(conn, project_id=project_id, form=form, values=validated.as_json())
    if submit and not errors:
        sid = save_submission(
            conn,
            project_id=project_id,
            form_key=form_key,
            data=validated.as_json(),
            actor=actor,
            submit=True,
            form_version=form.version,
            period=period,
            now=moment,
            form=form,
        )
        record_report(
            conn,
            project_id=project_id,
            form=form,
            values=validated.as_json(),
            submission_id=sid,
            period=period,
            now=moment,
        )
        if draft is not None:
            conn.execute(delete(_d).where(_d.c.id == draft.id))
        return SaveResult(ok=True, submitted=True, form_version=form.version, errors=[], submission_id=sid)
    stored_errors = [e.as_dict() for e in errors] if submit else []
    values = {
        "data": kept,
        "errors": stored_errors,
        "form_version": form.version,
        "updated_by": actor.user_id,
        "updated_at": moment,
    }
    if draft is None:
        did = int(
            conn.execute(
                insert(_d).returning(_d.c.id),
                {"project_id": project_id, "form_key": form_key, "period": period, "created_at": moment, **values},
            ).scalar_one()
        )
    else:
        did = draft.id
        conn.execute(update(_d).where(_d.c.id == did).values(**values))
    return SaveResult(ok=not submit, submitted=False, form_version=form.version, errors=errors, draft_id=did)


def discard_draft(conn: Connection, *, project_id: int, form_key: str, actor: Actor, period: int | None = None) -> bool:
    """Throw away the working copy (the submission, if any, stays). True if there was one."""
    editable_facts(conn, actor, project_id, form_key)
    result = conn.execute(
        delete(_d).where(_d.c.project_id == project_id, _d.c.form_key == form_key, _period_clause(_d, period))
    )
    return bool(result.rowcount)


def project_submissions(
    conn: Connection, *, project_id: int, actor: Actor, registry: FormRegistry = FORMS
) -> list[SubmittedForm]:
    """Every submission of the project, each with the form version it was made with."""
    project_for(conn, actor, project_id)
    rows = conn.execute(select(_s).where(_s.c.project_id == project_id).order_by(_s.c.form_key, _s.c.period)).all()
    return [_submitted(registry, r) for r in rows]


def get_submission(
    conn: Connection, *, submission_id: int, actor: Actor, registry: FormRegistry = FORMS
) -> tuple[int, SubmittedForm]:
    """(project id, the submission with its own form version), for someone who may see the project."""
    row = conn.execute(select(_s).where(_s.c.id == submission_id)).one_or_none()
    if row is None:
        raise NotFound(Text(f"提交记录 {submission_id} 不存在", f"submission {submission_id} does not exist"))
    project_for(conn, actor, row.project_id)
    return row.project_id, _submitted(registry, row)


def render_submission(
    conn: Connection,
    *,
    submission_id: int,
    actor: Actor,
    lang: str,
    url: Callable[[int], str] | None = None,
    registry: FormRegistry = FORMS,
) -> Markup:
    """The read-only view of a submission (web page or PDF), laid out by its own form version."""
    project_id, sub = get_submission(conn, submission_id=submission_id, actor=actor, registry=registry)
    refs = refs_for(conn, project_id=project_id, url=url, mentions=[(sub.form, sub.data)])
    return render_readonly(sub.form, sub.data, lang=lang, refs=refs)


def submit_questionnaire(
    conn: Connection,
    *,
    raw: Mapping[str, Any],
    actor: Actor | None = None,
    form_key: str = "needs_questionnaire",
    now: datetime | None = None,
    registry: FormRegistry = FORMS,
) -> tuple[int | None, Validated]:
    """Record an answer to a public form; (None, errors) when it is not valid. Anyone may answer."""
    form = registry.get(form_key)
    if "public" not in form.filled_by:
        raise Forbidden([NOT_FILLABLE])
    organisations, by_name = organisation_refs(conn, [(form, raw)])
    validated = validate(form, raw, refs=Refs(organisations=organisations, org_names=by_name), submit=True)
    if not validated.ok:
        return None, validated
    rid = int(
        conn.execute(
            insert(_q).returning(_q.c.id),
            {
                "form_key": form_key,
                "form_version": form.version,
                "data": validated.as_json(),
                "submitted_by": actor.user_id if actor else None,
                "submitted_at": now or clock.now(),
            },
        ).scalar_one()
    )
    return rid, validated
