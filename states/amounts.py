"""Exact amounts: money and target quantities are stored as whole hundredths.

Sums of decimal columns go through floating point in SQLite, so a programme total of many
``Numeric`` amounts can be off by a fen. Storing hundredths as integers keeps every sum exact
on every database; these helpers are the only way in and out (docs/targets-and-funding.md).
"""

from __future__ import annotations

from decimal import ROUND_HALF_UP, Decimal, InvalidOperation

from grantflow.states.text import Text

SCALE = 100
CENT = Decimal("0.01")


class AmountInvalid(ValueError):
    def __init__(self, value: object) -> None:
        super().__init__(f"not an exact amount with at most two decimals: {value!r}")
        self.text = Text(
            f"“{value}”不是有效数值（最多两位小数）", f"'{value}' is not a valid number (at most two decimals)"
        )


def parse(value: object) -> Decimal:
    """A Decimal from what a person or a caller gave: int, Decimal or text; never a float's noise."""
    if isinstance(value, bool) or value is None:
        raise AmountInvalid(value)
    if isinstance(value, float):
        value = repr(value)
    try:
        amount = Decimal(str(value).strip().replace(",", ""))
    except InvalidOperation:
        raise AmountInvalid(value) from None
    if not amount.is_finite() or amount != amount.quantize(CENT):
        raise AmountInvalid(value)
    return amount


def to_hundredths(value: object) -> int:
    return int(parse(value) * SCALE)


def from_hundredths(stored: int | None) -> Decimal:
    return (Decimal(int(stored or 0)) / SCALE).quantize(CENT)


def percent(part: Decimal | int, whole: Decimal | int) -> Decimal | None:
    """``part`` of ``whole`` in per cent, rounded half up to two decimals; None when nothing was planned."""
    if not whole:
        return None
    return (Decimal(part) * 100 / Decimal(whole)).quantize(CENT, rounding=ROUND_HALF_UP)


def ratio(part: Decimal | int, whole: Decimal | int) -> Decimal | None:
    """The unrounded ratio (28 significant digits), for sums that are rounded once at the end."""
    if not whole:
        return None
    return Decimal(part) / Decimal(whole)
