"""Validation of what a user typed against one version of a form.

How pydantic is used: every field kind declares an ``Annotated`` pydantic type (parsing
with our own before-validators for money, dates and full-width digits, then pydantic's
constraints: ``ge``/``le``, ``max_length``, ``decimal_places``). Each field, and each cell of
a table, is run through its own ``TypeAdapter``, so one bad value never hides another:
every error comes back at once, keyed by field and row. Pydantic's error types are mapped to
our bilingual catalogue (``forms.messages``); its English messages are never shown.
What pydantic cannot know — required fields, row counts, references to organisations and
attachments, cross-field rules — is checked here and by the definitions' checks.
"""

from __future__ import annotations

from collections.abc import Mapping
from dataclasses import dataclass, field
from functools import lru_cache
from typing import Any

from pydantic import TypeAdapter, ValidationError

from grantflow.forms.definition import FieldError, FormDefinition
from grantflow.forms.fields import Attachments, Field, MultiChoice, OrgRef, Refs, Table, is_blank, typed_org_name
from grantflow.forms.messages import from_pydantic, located, message, where
from grantflow.states.text import Text


@lru_cache(maxsize=2048)
def _adapter(f: Field) -> TypeAdapter[Any]:
    return TypeAdapter(f.pydantic_type())


@dataclass
class Validated:
    """The outcome: parsed values of every field that parsed, and every error found."""

    form: FormDefinition
    values: dict[str, Any]
    errors: list[FieldError] = field(default_factory=list)

    @property
    def ok(self) -> bool:
        return not self.errors

    def as_json(self) -> dict[str, Any]:
        """The values as stored with a submission: plain JSON, money as exact decimal text."""
        out: dict[str, Any] = {}
        for f in self.form.fields:
            value = self.values.get(f.name)
            if isinstance(f, Table):
                out[f.name] = [{c.name: c.to_json(row.get(c.name)) for c in f.columns} for row in value or []]
            else:
                out[f.name] = f.to_json(value)
        return out

    def by_key(self) -> dict[str, list[FieldError]]:
        grouped: dict[str, list[FieldError]] = {}
        for e in self.errors:
            grouped.setdefault(e.key, []).append(e)
        return grouped

    def messages(self, lang: str) -> dict[str, list[str]]:
        return {k: [e.message.get(lang) for e in v] for k, v in self.by_key().items()}


def _error(path: tuple[str | int, ...], code: str, place: Text, body: Text) -> FieldError:
    return FieldError(path=path, code=code, message=located(place, body))


def org_mentions(form: FormDefinition, *values: Mapping[str, Any] | None) -> tuple[set[int], set[str]]:
    """The organisation ids and typed names that ``values`` (drafts as typed, submissions) put in
    ``form``'s organisation fields: what a caller looks up to build ``Refs``, instead of every unit."""
    ids: set[int] = set()
    names: set[str] = set()

    def note(value: Any) -> None:
        if isinstance(value, bool) or is_blank(value):
            return
        name = typed_org_name(value)
        if name is not None:
            names.add(name)
            return
        try:
            ids.add(int(str(value).strip()) if isinstance(value, str) else int(value))
        except (TypeError, ValueError):
            return

    for vals in values:
        if not vals:
            continue
        for f in form.fields:
            if isinstance(f, OrgRef):
                note(vals.get(f.name))
            elif isinstance(f, Table) and any(isinstance(c, OrgRef) for c in f.columns):
                for row in f.rows_of(vals.get(f.name)):
                    for c in f.columns:
                        if isinstance(c, OrgRef):
                            note(row.get(c.name))
    return ids, names


def _org_by_name(raw: Any, refs: Refs | None) -> tuple[Any, str | None, str]:
    """A typed organisation name → (its id, None); else (raw, error code, the name) when it names
    no unit or several; ids and blanks pass through. Without refs names are left to the parser."""
    name = typed_org_name(raw) if refs is not None else None
    if name is None or refs is None:
        return raw, None, ""
    ids = refs.org_names.get(name, ())
    if len(ids) == 1:
        return ids[0], None, name
    return raw, ("organisation_ambiguous" if ids else "organisation_not_found"), name


def _parse(
    f: Field, raw: Any, refs: Refs | None, path: tuple[str | int, ...], place: Text
) -> tuple[Any, list[FieldError]]:
    if isinstance(f, OrgRef):
        raw, problem, name = _org_by_name(raw, refs)
        if problem is not None:
            return None, [_error(path, problem, place, message(problem, name=name))]
    try:
        value = _adapter(f).validate_python(raw)
    except ValidationError as exc:
        seen: set[str] = set()
        errors = []
        for err in exc.errors():
            code, body = from_pydantic(f, err, raw)
            if code not in seen:  # a list with three bad items is one message, not three
                seen.add(code)
                errors.append(_error(path, code, place, body))
        return None, errors
    errors = []
    if refs is not None and isinstance(f, OrgRef) and value is not None and value not in refs.organisations:
        errors.append(_error(path, "organisation_unknown", place, message("organisation_unknown")))
    if refs is not None and isinstance(f, Attachments):
        for aid in value:
            ref = refs.attachments.get(aid)
            if ref is None:
                errors.append(_error(path, "attachment_unknown", place, message("attachment_unknown", id=aid)))
            elif ref.kind not in f.accept:
                errors.append(
                    _error(
                        path,
                        "attachment_kind",
                        place,
                        message("attachment_kind", filename=ref.filename, kind=ref.kind.upper(), accept=_accept(f)),
                    )
                )
    return value, errors


def _accept(f: Attachments) -> str:
    return "/".join(k.upper() for k in f.accept)


def _required(f: Field, value: Any) -> bool:
    return f.required and is_blank(value)


def validate(
    form: FormDefinition,
    raw: Mapping[str, Any],
    *,
    refs: Refs | None = None,
    submit: bool = True,
) -> Validated:
    """Parse ``raw`` (as typed: strings, or JSON from the API) with ``form``.

    With ``submit=False`` (saving a draft) only values that are wrong as typed are reported;
    missing required values, row counts and cross-field rules wait for the submit.
    ``refs`` lists the organisations and attachments that may be referenced; without it
    references are not checked (pure use, previews).
    """
    values: dict[str, Any] = {}
    errors: list[FieldError] = []
    for f in form.fields:
        given = raw.get(f.name)
        if isinstance(f, Table):
            rows, row_errors = _table(f, given, refs, submit)
            errors.extend(row_errors)
            values[f.name] = rows
            continue
        value, errs = _parse(f, given, refs, (f.name,), where(f))
        errors.extend(errs)
        if errs:
            continue
        values[f.name] = value
        if submit and _required(f, value):
            errors.append(_error((f.name,), "required", where(f), message("required")))
        if submit and isinstance(f, MultiChoice) and value and len(value) < f.min_selected:
            errors.append(
                _error((f.name,), "choices_too_few", where(f), message("choices_too_few", limit=f.min_selected))
            )
    if submit:
        for check in form.checks:
            errors.extend(check(values))
    return Validated(form=form, values=values, errors=errors)


def _table(t: Table, given: Any, refs: Refs | None, submit: bool) -> tuple[list[dict[str, Any]], list[FieldError]]:
    errors: list[FieldError] = []
    if given is not None and not isinstance(given, list):
        return [], [_error((t.name,), "not_a_table", where(t), message("not_a_table"))]
    rows = t.rows_of(given)
    parsed_rows: list[dict[str, Any]] = []
    for i, row in enumerate(rows):
        parsed: dict[str, Any] = {}
        for c in t.columns:
            place = where(c, table=t, row=i)
            value, errs = _parse(c, row.get(c.name), refs, (t.name, i, c.name), place)
            errors.extend(errs)
            if errs:
                continue
            parsed[c.name] = value
            if submit and _required(c, value):
                errors.append(_error((t.name, i, c.name), "required", place, message("required")))
        parsed_rows.append(parsed)
    least = max(t.min_rows, 1 if t.required else 0)
    if submit and len(rows) < least:
        errors.append(
            _error((t.name,), "rows_too_few", where(t), message("rows_too_few", limit=least, count=len(rows)))
        )
    if len(rows) > t.max_rows:
        errors.append(
            _error((t.name,), "rows_too_many", where(t), message("rows_too_many", limit=t.max_rows, count=len(rows)))
        )
    return parsed_rows, errors


def tidy(form: FormDefinition, raw: Mapping[str, Any]) -> dict[str, Any]:
    """The draft as it will be kept: everything typed, minus table rows left wholly blank.

    Dropping blank rows keeps the row numbers in error keys the same as the rows shown again.
    Keys the form does not know are kept too (an API client's typo is not thrown away).
    """
    out: dict[str, Any] = dict(raw)
    for f in form.fields:
        if isinstance(f, Table) and isinstance(raw.get(f.name), list):
            out[f.name] = [dict(r) for r in f.rows_of(raw[f.name])]
    return out
