"""One definition, two renderings: HTML inputs for the web page and a read-only view for PDFs.

Both take the stored values (a submission's parsed JSON or a draft exactly as typed) and the
version of the form they were made with, so an old submission is always shown with its own
fields. Inputs are plain ``type="text"`` where a browser would silently drop a value it cannot
parse (``type="number"``), because the page must show back exactly what was typed.

``parse_post`` is the inverse of ``render_fields``: it turns the posted name/value pairs back
into the nested values (``budget.2.amount`` → row 3's amount) that validation takes.
"""

from __future__ import annotations

import re
from collections.abc import Iterable, Mapping, Sequence
from datetime import date
from functools import lru_cache
from typing import Any

from markupsafe import Markup, escape

from grantflow.forms.definition import FieldError, FormDefinition
from grantflow.forms.fields import (
    Attachments,
    Choice,
    DateField,
    Field,
    Integer,
    LongText,
    Money,
    MultiChoice,
    OrgRef,
    Refs,
    ShortText,
    Table,
    is_blank,
    typed_org_name,
)
from grantflow.states.text import Text

UPLOAD_SUFFIX = "__upload"
"""The file input of an attachment field is named ``<field>__upload``; kept ids post as ``<field>``."""

T_REQUIRED = Text("必填", "required")
T_FIX = Text("请修改以下 {n} 处后再提交：", "Please correct the following {n} problems before submitting:")
T_PICK = Text("— 请选择 —", "— choose —")
T_KEEP = Text("保留", "keep")
T_UPLOAD = Text("上传文件", "Upload files")
T_ROW = Text("行", "Row")
T_OTHER = Text("其他数据（当前表单版本未定义）", "Other data (not a field of this form version)")
T_VERSION = Text("表单版本 {v}", "form version {v}")
T_NONE = Text("无", "none")
T_ORG_HINT = Text("单位全称", "registered name")
ORG_LIST = "org-names"
ORG_SEARCH = "/api/orgs/search"
"""Where the page's script asks for organisation names matching what is typed (``?q=``)."""


def input_id(key: str) -> str:
    return "in-" + re.sub(r"[^a-zA-Z0-9_-]+", "-", key).strip("-")


def anchor_id(key: str) -> str:
    return "f-" + re.sub(r"[^a-zA-Z0-9_-]+", "-", key).strip("-")


def _key(*path: str | int) -> str:
    out = str(path[0])
    for part in path[1:]:
        out += f"[{part}]" if isinstance(part, int) else f".{part}"
    return out


def _post_name(*path: str | int) -> str:
    return ".".join(str(p) for p in path)


def _str(value: Any) -> str:
    if value is None:
        return ""
    if isinstance(value, list):
        return ", ".join(_str(v) for v in value)
    return str(value)


def _errors_by_key(errors: Iterable[FieldError]) -> dict[str, list[FieldError]]:
    out: dict[str, list[FieldError]] = {}
    for e in errors:
        out.setdefault(e.key, []).append(e)
    return out


def _error_list(errs: Sequence[FieldError], lang: str) -> str:
    if not errs:
        return ""
    items = "".join(f"<li>{escape(e.message.get(lang))}</li>" for e in errs)
    return f'<ul class="field-errors" role="alert">{items}</ul>'


def _control(
    f: Field,
    value: Any,
    *,
    name: str,
    key: str,
    lang: str,
    refs: Refs,
    invalid: bool,
) -> str:
    iid = input_id(key)
    aria = ' aria-invalid="true"' if invalid else ""
    req = " required" if f.required and not isinstance(f, MultiChoice | Attachments) else ""
    common = f'id="{iid}" name="{escape(name)}"{aria}'
    if isinstance(f, LongText):
        return f'<textarea {common} rows="{f.rows}">{escape(_str(value))}</textarea>'
    if isinstance(f, ShortText):
        return f'<input type="text" {common} value="{escape(_str(value))}" maxlength="{f.max_length * 2}">'
    if isinstance(f, Integer):
        return f'<input type="text" inputmode="numeric" {common} value="{escape(_str(value))}">'
    if isinstance(f, Money):
        return f'<input type="text" inputmode="decimal" {common} value="{escape(_str(value))}" placeholder="0.00">'
    if isinstance(f, DateField):
        text = _str(value)
        # A date picker cannot show "2026/13/01"; fall back to text so the typed value stays visible.
        kind = "date" if not text or _is_iso_date(text) else "text"
        return f'<input type="{kind}" {common} value="{escape(text)}" placeholder="2026-03-31">'
    if isinstance(f, MultiChoice):
        chosen = {str(v) for v in (value if isinstance(value, list) else [value]) if not is_blank(v)}
        boxes = []
        for i, o in enumerate(f.choices):
            checked = " checked" if o.value in chosen else ""
            boxes.append(
                f'<label class="choice"><input type="checkbox" id="{iid}-{i}" name="{escape(name)}" '
                f'value="{escape(o.value)}"{checked}> {escape(o.label.get(lang))}</label>'
            )
        for stray in sorted(chosen - set(f.values)):  # typed or sent but not an option: shown, not lost
            boxes.append(
                f'<label class="choice stray"><input type="checkbox" name="{escape(name)}" '
                f'value="{escape(stray)}" checked> {escape(stray)}</label>'
            )
        return f'<div class="choices" id="{iid}"{aria}>{"".join(boxes)}</div>'
    if isinstance(f, Choice):
        return _select(common + req, [(o.value, o.label.get(lang)) for o in f.choices], _str(value), lang)
    if isinstance(f, OrgRef):
        # a name typed, not a list of every unit (thousands, on every page); the script suggests
        # names from the search as people type, and the name is looked up when the form is checked
        return (
            f'<input type="text" {common}{req} value="{escape(_org_text(value, refs, lang))}" maxlength="400" '
            f'list="{ORG_LIST}" autocomplete="off" data-org-search="{ORG_SEARCH}" '
            f'placeholder="{escape(T_ORG_HINT.get(lang))}">'
        )
    if isinstance(f, Attachments):
        return _attachments_control(f, value, name=name, iid=iid, lang=lang, refs=refs, aria=aria)
    raise TypeError(f"no control for {type(f).__name__}")


def _is_iso_date(text: str) -> bool:
    try:
        date.fromisoformat(text)
    except ValueError:
        return False
    return len(text) == 10


def _org_text(value: Any, refs: Refs, lang: str) -> str:
    """What an organisation field shows: a stored id as the unit's name, anything typed as typed."""
    if is_blank(value) or typed_org_name(value) is not None:
        return _str(value)
    try:
        name = refs.organisations.get(int(str(value).strip()))
    except ValueError:
        name = None
    return name.get(lang) if name else _str(value)


def _select(attrs: str, pairs: Sequence[tuple[str, str]], current: str, lang: str) -> str:
    options, index = _options(tuple(pairs))
    opts = [f'<option value="">{escape(T_PICK.get(lang))}</option>', *options]
    at = index.get(current)
    if at is not None:
        value, label = pairs[at]
        opts[at + 1] = f'<option value="{escape(value)}" selected>{escape(label)}</option>'
    elif current:
        opts.append(f'<option value="{escape(current)}" selected>{escape(current)}</option>')
    return f"<select {attrs}>{''.join(opts)}</select>"


@lru_cache(maxsize=16)
def _options(pairs: tuple[tuple[str, str], ...]) -> tuple[tuple[str, ...], dict[str, int]]:
    """The escaped options of a list, built once per distinct list: a partner is picked from every
    organisation, several times a page, and escaping thousands of names each time was most of the
    form page's cost. Keyed by the names themselves, so a renamed or new organisation is never stale.
    The callers only read the result."""
    html = tuple(f'<option value="{escape(value)}">{escape(label)}</option>' for value, label in pairs)
    index: dict[str, int] = {}
    for i, (value, _) in enumerate(pairs):
        index.setdefault(value, i)
    return html, index


def _attachments_control(f: Attachments, value: Any, *, name: str, iid: str, lang: str, refs: Refs, aria: str) -> str:
    ids = [v for v in (value if isinstance(value, list) else [value]) if not is_blank(v)]
    items = []
    for v in ids:
        ref = refs.attachments.get(int(v)) if str(v).isdigit() else None
        shown = escape(ref.filename) if ref else escape(f"#{v}")
        link = f'<a href="{escape(ref.url)}">{shown}</a>' if ref and ref.url else shown
        size = f' <span class="size">({_size(ref.size)})</span>' if ref else ""
        items.append(
            f'<li><label><input type="checkbox" name="{escape(name)}" value="{escape(str(v))}" checked> '
            f"{escape(T_KEEP.get(lang))}</label> {link}{size}</li>"
        )
    listing = f'<ul class="attachments">{"".join(items)}</ul>' if items else ""
    accept = ",".join(_ACCEPT_ATTR.get(k, "." + k) for k in f.accept)
    multiple = " multiple" if f.max_files > 1 else ""
    upload = (
        f'<label class="upload">{escape(T_UPLOAD.get(lang))} '
        f'<input type="file" id="{iid}" name="{escape(name + UPLOAD_SUFFIX)}" '
        f'accept="{escape(accept)}"{multiple}{aria}>'
        "</label>"
    )
    return listing + upload


_ACCEPT_ATTR = {"jpg": ".jpg,.jpeg", "txt": ".txt", "csv": ".csv"}


def _size(n: int) -> str:
    if n < 1024:
        return f"{n} B"
    if n < 1024 * 1024:
        return f"{n / 1024:.1f} KiB"
    return f"{n / 1024 / 1024:.1f} MiB"


def _label(f: Field, lang: str, *, for_id: str | None) -> str:
    star = f' <span class="req" title="{escape(T_REQUIRED.get(lang))}">*</span>' if f.required else ""
    attr = f' for="{for_id}"' if for_id else ""
    return f"<label{attr}>{escape(f.label.get(lang))}{star}</label>"


def _help(f: Field, lang: str) -> str:
    return f'<small class="help">{escape(f.help.get(lang))}</small>' if f.help else ""


def render_fields(
    form: FormDefinition,
    values: Mapping[str, Any],
    *,
    lang: str,
    errors: Iterable[FieldError] = (),
    refs: Refs | None = None,
) -> Markup:
    """The form's inputs, filled with ``values``, each with its own errors beside it.

    The caller wraps this in ``<form method="post" enctype="multipart/form-data">`` with its
    buttons; the error summary at the top links to each field.
    """
    refs = refs or Refs()
    errs = list(errors)
    by_key = _errors_by_key(errs)
    out: list[str] = []
    if errs:
        head = escape(T_FIX.get(lang).format(n=len(errs)))
        items = "".join(f'<li><a href="#{anchor_id(e.key)}">{escape(e.message.get(lang))}</a></li>' for e in errs)
        out.append(f'<div class="form-error-summary" role="alert"><p>{head}</p><ul>{items}</ul></div>')
    for section in form.sections:
        out.append(f"<fieldset><legend>{escape(section.title.get(lang))}</legend>")
        if section.help:
            out.append(f'<p class="help">{escape(section.help.get(lang))}</p>')
        for f in section.fields:
            value = values.get(f.name)
            if isinstance(f, Table):
                out.append(_table_inputs(f, value, lang=lang, by_key=by_key, refs=refs))
                continue
            own = by_key.get(f.name, [])
            cls = f"field field-{f.kind}" + (" has-error" if own else "")
            control = _control(
                f,
                value,
                name=f.name,
                key=f.name,
                lang=lang,
                refs=refs,
                invalid=bool(own),
            )
            labelled = None if isinstance(f, MultiChoice) else input_id(f.name)
            out.append(
                f'<div class="{cls}" id="{anchor_id(f.name)}">{_label(f, lang, for_id=labelled)}'
                f"{control}{_help(f, lang)}{_error_list(own, lang)}</div>"
            )
        out.append("</fieldset>")
    if _has_org_field(form):
        out.append(f'<datalist id="{ORG_LIST}"></datalist>')  # filled by the script, if it runs
    return Markup("".join(out))


def _has_org_field(form: FormDefinition) -> bool:
    return any(
        isinstance(f, OrgRef) or (isinstance(f, Table) and any(isinstance(c, OrgRef) for c in f.columns))
        for f in form.fields
    )


def _table_inputs(
    t: Table,
    value: Any,
    *,
    lang: str,
    by_key: Mapping[str, list[FieldError]],
    refs: Refs,
) -> str:
    rows = [r for r in value if isinstance(r, Mapping)] if isinstance(value, list) else []
    own = by_key.get(t.name, [])
    cls = "field field-table" + (" has-error" if own else "")
    head = "".join(
        f"<th>{escape(c.label.get(lang))}{' <span class=req>*</span>' if c.required else ''}</th>" for c in t.columns
    )
    body = []
    for i in range(len(rows) + t.spare_rows):
        row = rows[i] if i < len(rows) else {}
        cells = []
        for c in t.columns:
            key = _key(t.name, i, c.name)
            cell_errs = by_key.get(key, [])
            control = _control(
                c,
                row.get(c.name),
                name=_post_name(t.name, i, c.name),
                key=key,
                lang=lang,
                refs=refs,
                invalid=bool(cell_errs),
            )
            cell_cls = ' class="has-error"' if cell_errs else ""
            cells.append(f'<td{cell_cls} id="{anchor_id(key)}">{control}{_error_list(cell_errs, lang)}</td>')
        body.append(f'<tr><th scope="row">{i + 1}</th>{"".join(cells)}</tr>')
    return (
        f'<div class="{cls}" id="{anchor_id(t.name)}">{_label(t, lang, for_id=None)}{_help(t, lang)}'
        f"{_error_list(own, lang)}"
        f'<table class="rows"><thead><tr><th>{escape(T_ROW.get(lang))}</th>{head}</tr></thead>'
        f"<tbody>{''.join(body)}</tbody></table></div>"
    )


def render_readonly(
    form: FormDefinition,
    values: Mapping[str, Any],
    *,
    lang: str,
    refs: Refs | None = None,
    heading: bool = True,
) -> Markup:
    """The values as a document (web view, PDF), laid out by the version they were made with.

    Values the version does not define (written by an API client, or by hand) are listed at
    the end rather than hidden.
    """
    refs = refs or Refs()
    out = ['<section class="form-view">']
    if heading:
        out.append(
            f"<h2>{escape(form.title.get(lang))}</h2>"
            f'<p class="form-version">{escape(T_VERSION.get(lang).format(v=form.version))}</p>'
        )
    for section in form.sections:
        out.append(f"<h3>{escape(section.title.get(lang))}</h3><dl>")
        for f in section.fields:
            value = values.get(f.name)
            out.append(f"<dt>{escape(f.label.get(lang))}</dt>")
            if isinstance(f, Table):
                out.append(f"<dd>{_table_view(f, value, lang, refs)}</dd>")
            else:
                out.append(f"<dd>{escape(f.display(value, lang, refs))}</dd>")
        out.append("</dl>")
    extra = {k: v for k, v in values.items() if not form.has(k)}
    if extra:
        out.append(f'<h3>{escape(T_OTHER.get(lang))}</h3><dl class="extra">')
        for k, v in extra.items():
            out.append(f"<dt>{escape(k)}</dt><dd>{escape(_str(v))}</dd>")
        out.append("</dl>")
    out.append("</section>")
    return Markup("".join(out))


def _table_view(t: Table, value: Any, lang: str, refs: Refs) -> str:
    rows = t.rows_of(value)
    if not rows:
        return escape(T_NONE.get(lang))
    head = "".join(f"<th>{escape(c.label.get(lang))}</th>" for c in t.columns)
    body = "".join(
        "<tr>" + "".join(f"<td>{escape(c.display(r.get(c.name), lang, refs))}</td>" for c in t.columns) + "</tr>"
        for r in rows
    )
    return f'<table class="rows"><thead><tr>{head}</tr></thead><tbody>{body}</tbody></table>'


def export_rows(
    form: FormDefinition, values: Mapping[str, Any], *, lang: str, refs: Refs | None = None
) -> list[tuple[str, str]]:
    """(label, shown value) pairs, one per field and per table cell: for CSV and spreadsheet exports."""
    refs = refs or Refs()
    out: list[tuple[str, str]] = []
    for f in form.fields:
        value = values.get(f.name)
        if isinstance(f, Table):
            for i, row in enumerate(f.rows_of(value)):
                for c in f.columns:
                    place = f"{f.label.get(lang)} {i + 1} · {c.label.get(lang)}"
                    out.append((place, c.display(row.get(c.name), lang, refs)))
        else:
            out.append((f.label.get(lang), f.display(value, lang, refs)))
    out.extend((k, _str(v)) for k, v in values.items() if not form.has(k))
    return out


def parse_post(form: FormDefinition, items: Iterable[tuple[str, Any]]) -> dict[str, Any]:
    """Posted name/value pairs → the nested values the form validates. Files are not values here."""
    pairs = [(k, v) for k, v in items if isinstance(v, str)]
    out: dict[str, Any] = {}
    for f in form.fields:
        if isinstance(f, Table):
            rows: dict[int, dict[str, str]] = {}
            prefix = f.name + "."
            for k, v in pairs:
                if not k.startswith(prefix):
                    continue
                parts = k[len(prefix) :].split(".", 1)
                if len(parts) != 2 or not parts[0].isdigit() or not any(c.name == parts[1] for c in f.columns):
                    continue
                rows.setdefault(int(parts[0]), {})[parts[1]] = v
            out[f.name] = [rows[i] for i in sorted(rows)]
        elif isinstance(f, MultiChoice | Attachments):
            out[f.name] = [v for k, v in pairs if k == f.name and v.strip()]
        else:
            given = [v for k, v in pairs if k == f.name]
            out[f.name] = given[-1] if given else None
    return out
