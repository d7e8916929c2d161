"""Our bilingual validation messages, one per error code.

Pydantic parses and constrains; it reports an error *type* and its context (``ge``,
``max_length``…). This catalogue turns each type, and each code of our own, into a message
a programme officer would write, in Simplified Chinese and English, naming the field (and
the row of a table) so it can be read on its own in a summary at the top of the page.
"""

from __future__ import annotations

from collections.abc import Mapping
from typing import Any

from grantflow.forms.fields import Attachments, Choice, DateField, Field, Integer, Money, MultiChoice, OrgRef, Table
from grantflow.states.text import Text

# code -> (zh, en); {placeholders} come from pydantic's ctx or from our own checks.
CATALOGUE: dict[str, tuple[str, str]] = {
    "required": ("必填", "is required"),
    "integer_format": ("必须是整数，例如 12", "must be a whole number, e.g. 12"),
    "money_format": (
        "必须是以元为单位的金额，最多两位小数，例如 1234.50",
        "must be an amount in yuan with at most two decimals, e.g. 1234.50",
    ),
    "money_places": ("金额最多精确到分（两位小数）", "must not have more than two decimals (fen)"),
    "money_too_large": ("金额过大", "is too large an amount"),
    "date_format": (
        "必须是日期，格式为 年-月-日，例如 2026-03-31",
        "must be a date written year-month-day, e.g. 2026-03-31",
    ),
    "date_invalid": ("不是一个存在的日期", "is not a real calendar date"),
    "too_small": ("不能小于 {limit}", "must be at least {limit}"),
    "too_small_exclusive": ("必须大于 {limit}", "must be more than {limit}"),
    "too_large": ("不能大于 {limit}", "must be at most {limit}"),
    "text_too_long": (
        "最多 {max_length} 个字符（当前 {length} 个）",
        "must be at most {max_length} characters long (it has {length})",
    ),
    "choice_unknown": ("请从给定选项中选择", "must be one of the options offered"),
    "choices_too_few": ("至少选择 {limit} 项", "needs at least {limit} options chosen"),
    "choices_too_many": ("最多选择 {limit} 项", "allows at most {limit} options"),
    "reference_format": ("引用无效，请从列表中选择", "is not a valid reference; pick one from the list"),
    "organisation_unknown": ("所选单位不存在", "names an organisation that does not exist"),
    "organisation_not_found": (
        "没有名为“{name}”的登记单位，请填写单位全称（“单位”页面可按名称查找）",
        "names no registered organisation ('{name}'): type the unit's full name (the Units page finds it by name)",
    ),
    "organisation_ambiguous": (
        "有多个单位的英文名称为“{name}”，请填写其中文全称",
        "is the English name of several organisations ('{name}'): type the Chinese name of the one meant",
    ),
    "rows_too_few": ("至少需要 {limit} 行（当前 {count} 行）", "needs at least {limit} rows (it has {count})"),
    "rows_too_many": ("最多 {limit} 行（当前 {count} 行）", "allows at most {limit} rows (it has {count})"),
    "files_too_many": ("最多上传 {limit} 个文件", "allows at most {limit} files"),
    "attachment_unknown": (
        "附件 #{id} 不存在或不属于本项目",
        "attachment #{id} does not exist or belongs to another project",
    ),
    "attachment_kind": (
        "附件“{filename}”是 {kind} 文件，此处只接受 {accept}",
        "attachment '{filename}' is a {kind} file; this field takes {accept} only",
    ),
    "invalid": ("填写有误", "is not valid"),
    "not_a_table": ("格式有误，应为多行表格", "must be a list of rows"),
}


def _fmt(value: Any) -> str:
    return str(value)


def message(code: str, **values: Any) -> Text:
    zh, en = CATALOGUE.get(code, CATALOGUE["invalid"])
    shown = {k: _fmt(v) for k, v in values.items()}
    return Text(zh.format_map(_Default(shown)), en.format_map(_Default(shown)))


class _Default(dict[str, str]):
    def __missing__(self, key: str) -> str:
        return "?"


def where(field: Field, *, table: Table | None = None, row: int | None = None) -> Text:
    """The place an error is at, as a reader would say it."""
    if table is not None and row is not None:
        return Text(
            f"“{table.label.zh}”第 {row + 1} 行“{field.label.zh}”",
            f"{table.label.en}, row {row + 1}, '{field.label.en}'",
        )
    return Text(f"“{field.label.zh}”", f"'{field.label.en}'")


def located(place: Text, body: Text) -> Text:
    return Text(f"{place.zh}：{body.zh}", f"{place.en} {body.en}")


def from_pydantic(field: Field, error: Mapping[str, Any], value: Any) -> tuple[str, Text]:
    """Our code and message for one pydantic error on ``field`` (the field's own kind decides)."""
    kind = str(error.get("type", ""))
    ctx: Mapping[str, Any] = error.get("ctx") or {}
    if kind in CATALOGUE:  # our own PydanticCustomError codes
        return kind, message(kind, **ctx)
    if kind in ("greater_than_equal", "greater_than", "less_than_equal", "less_than"):
        limit = ctx.get("ge", ctx.get("gt", ctx.get("le", ctx.get("lt"))))
        code = {
            "greater_than_equal": "too_small",
            "greater_than": "too_small_exclusive",
            "less_than_equal": "too_large",
            "less_than": "too_large",
        }[kind]
        if isinstance(field, OrgRef):
            return "reference_format", message("reference_format")
        return code, message(code, limit=limit)
    if kind == "string_too_long":
        return "text_too_long", message("text_too_long", max_length=ctx.get("max_length"), length=len(str(value)))
    if kind == "too_long":
        limit = ctx.get("max_length")
        if isinstance(field, Attachments):
            return "files_too_many", message("files_too_many", limit=limit)
        if isinstance(field, MultiChoice):
            return "choices_too_many", message("choices_too_many", limit=limit)
        return "invalid", message("invalid")
    if kind == "decimal_max_places":
        return "money_places", message("money_places")
    if kind in ("decimal_max_digits", "decimal_whole_digits"):
        return "money_too_large", message("money_too_large")
    if isinstance(field, Money):
        return "money_format", message("money_format")
    if isinstance(field, Integer):
        return "integer_format", message("integer_format")
    if isinstance(field, DateField):
        return "date_format", message("date_format")
    if isinstance(field, Choice):
        return "choice_unknown", message("choice_unknown")
    if isinstance(field, OrgRef | Attachments):
        return "reference_format", message("reference_format")
    return "invalid", message("invalid")
