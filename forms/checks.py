"""Cross-field rules a definition lists in ``checks``: each a closure over the fields it reads.

A check sees the parsed values of fields that parsed; a value that failed to parse is absent,
so a check never repeats a format error as a rule error.
"""

from __future__ import annotations

from collections.abc import Mapping
from decimal import Decimal
from typing import Any

from grantflow.forms.definition import Check, FieldError
from grantflow.forms.fields import Choice, DateField, Field, Money, Table
from grantflow.forms.messages import located, where
from grantflow.states.text import Text


def _err(path: tuple[str | int, ...], code: str, place: Text, body: Text) -> FieldError:
    return FieldError(path=path, code=code, message=located(place, body))


def _label(f: Field) -> Text:
    return Text(f"“{f.label.zh}”", f"'{f.label.en}'")


def date_order(start: DateField, end: DateField) -> Check:
    """``end`` falls after ``start``."""

    def end_after_start(values: Mapping[str, Any]) -> list[FieldError]:
        a, b = values.get(start.name), values.get(end.name)
        if a is None or b is None or b > a:
            return []
        s = _label(start)
        return [_err((end.name,), "date_order", where(end), Text(f"必须晚于{s.zh}", f"must be later than {s.en}"))]

    return end_after_start


def dates_within(table: Table, column: str, start: DateField, end: DateField) -> Check:
    """Every row's date in ``column`` falls within the period ``start``–``end`` (inclusive)."""
    col = table.column(column)

    def rows_within_period(values: Mapping[str, Any]) -> list[FieldError]:
        a, b = values.get(start.name), values.get(end.name)
        out = []
        for i, row in enumerate(values.get(table.name) or []):
            d = row.get(column)
            if d is None or ((a is None or d >= a) and (b is None or d <= b)):
                continue
            out.append(
                _err(
                    (table.name, i, column),
                    "date_outside_period",
                    where(col, table=table, row=i),
                    Text(
                        f"必须在项目执行期内（{a or '…'} 至 {b or '…'}）",
                        f"must fall within the project period ({a or '…'} to {b or '…'})",
                    ),
                )
            )
        return out

    return rows_within_period


def total_matches_rows(table: Table, column: str, total: Money) -> Check:
    """``total`` equals the sum of the table's ``column`` (exact, in fen)."""

    def total_is_sum_of_rows(values: Mapping[str, Any]) -> list[FieldError]:
        rows = values.get(table.name) or []
        amounts = [r.get(column) for r in rows]
        stated = values.get(total.name)
        if stated is None or any(a is None for a in amounts) or not rows:
            return []
        summed = sum(amounts, Decimal(0))
        if summed == stated:
            return []
        t = _label(table)
        return [
            _err(
                (total.name,),
                "total_mismatch",
                where(total),
                Text(
                    f"应等于{t.zh}各行之和 {summed:,.2f} 元（填写为 {stated:,.2f} 元）",
                    f"must equal the sum of {t.en}, CNY {summed:,.2f} (it says CNY {stated:,.2f})",
                ),
            )
        ]

    return total_is_sum_of_rows


def not_more_than(part: Money, whole: Money) -> Check:
    def part_within_whole(values: Mapping[str, Any]) -> list[FieldError]:
        a, b = values.get(part.name), values.get(whole.name)
        if a is None or b is None or a <= b:
            return []
        w = _label(whole)
        return [_err((part.name,), "exceeds", where(part), Text(f"不能超过{w.zh}", f"must not exceed {w.en}"))]

    return part_within_whole


def table_includes(table: Table, column: str, value: str, why: Text) -> Check:
    """At least one row has ``value`` in the choice ``column`` (e.g. a technical-standard target)."""
    col = table.column(column)
    assert isinstance(col, Choice)
    shown = col.option_label(value, "zh"), col.option_label(value, "en")

    def includes_required_kind(values: Mapping[str, Any]) -> list[FieldError]:
        rows = values.get(table.name) or []
        if any(r.get(column) == value for r in rows):
            return []
        return [
            _err(
                (table.name,),
                f"needs_{value}",
                where(table),
                Text(
                    f"至少需要一行“{col.label.zh}”为“{shown[0]}”（{why.zh}）",
                    f"needs at least one row whose {col.label.en} is '{shown[1]}' ({why.en})",
                ),
            )
        ]

    includes_required_kind.__name__ = f"includes_{table.name}_{value}"
    return includes_required_kind


def unique_in_table(table: Table, column: str) -> Check:
    col = table.column(column)

    def no_repeated_rows(values: Mapping[str, Any]) -> list[FieldError]:
        seen: dict[Any, int] = {}
        out = []
        for i, row in enumerate(values.get(table.name) or []):
            v = row.get(column)
            if v is None:
                continue
            if v in seen:
                out.append(
                    _err(
                        (table.name, i, column),
                        "duplicate",
                        where(col, table=table, row=i),
                        Text(f"与第 {seen[v] + 1} 行重复", f"repeats row {seen[v] + 1}"),
                    )
                )
            else:
                seen[v] = i
        return out

    no_repeated_rows.__name__ = f"unique_{table.name}_{column}"
    return no_repeated_rows


def required_when(choice: Field, needed: Mapping[str, tuple[Field, ...]]) -> Check:
    """The fields a choice's value needs are filled: ``kind = budget`` needs the budget changes."""

    def filled_for_choice(values: Mapping[str, Any]) -> list[FieldError]:
        out = []
        for f in needed.get(str(values.get(choice.name) or ""), ()):
            value = values.get(f.name)
            if value is None or value == "" or value == [] or value == ():
                out.append(_err((f.name,), "required", where(f), Text("此项调整须填写", "is needed for this change")))
        return out

    return filled_for_choice
