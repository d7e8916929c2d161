"""The field kinds a form is built from, declared as data.

Each kind knows three things: the pydantic type that parses and constrains what a user
typed (so coercion and limits come from one well-tested library), how a parsed value is
stored as plain JSON (money as a decimal string, never a float, so it stays exact), and how
a stored value reads on a page or in a PDF. Labels and help are bilingual ``Text``.

Pydantic's own messages are never shown: ``forms.messages`` turns its error types into our
bilingual messages, and the custom checks below raise ``PydanticCustomError`` with codes of
ours so they are translated the same way.
"""

from __future__ import annotations

import re
import unicodedata
from collections.abc import Mapping
from dataclasses import dataclass, field
from datetime import date
from decimal import Decimal, InvalidOperation
from typing import Annotated, Any, ClassVar

from pydantic import BeforeValidator
from pydantic import Field as Constraint
from pydantic_core import PydanticCustomError

from grantflow.states.text import Text, clean_line, clean_text

EMPTY = Text("—", "—")


@dataclass(frozen=True)
class Option:
    """One choice: the stored value (never shown) and its bilingual label."""

    value: str
    label: Text


def options(pairs: Mapping[str, Text] | list[tuple[str, Text]]) -> tuple[Option, ...]:
    items = pairs.items() if isinstance(pairs, Mapping) else pairs
    return tuple(Option(v, t) for v, t in items)


def is_blank(value: Any) -> bool:
    """Nothing typed: no value, only spaces, or an empty list."""
    if value is None:
        return True
    if isinstance(value, str):
        return not value.strip()
    if isinstance(value, list | tuple):
        return all(is_blank(v) for v in value)
    return False


def _digits(value: str) -> str:
    # NFKC maps full-width digits and signs (１２３，－) that Chinese input methods produce.
    return unicodedata.normalize("NFKC", value).strip()


@dataclass(frozen=True, kw_only=True)
class Field:
    name: str
    label: Text
    help: Text | None = None
    required: bool = False

    kind: ClassVar[str] = "field"

    def pydantic_type(self) -> Any:
        raise NotImplementedError

    def to_json(self, value: Any) -> Any:
        """A parsed value as stored: plain JSON types only."""
        return value

    def display(self, value: Any, lang: str, refs: Refs) -> str:
        """A stored value (parsed or as typed) as read-only text."""
        if is_blank(value):
            return EMPTY.get(lang)
        return str(value)

    def describe(self) -> dict[str, Any]:
        """The field's structure, for fingerprints of published versions."""
        return {"kind": self.kind, "name": self.name, "required": self.required}


@dataclass(frozen=True)
class AttachmentRef:
    """What a page needs to show one stored attachment."""

    id: int
    filename: str
    size: int
    sha256: str
    kind: str
    url: str | None = None


@dataclass(frozen=True)
class Refs:
    """Names for the ids a form stores (organisations, attachments), looked up by the caller.

    Only what the values at hand mention, never every organisation: ``organisations`` names the
    ids, ``org_names`` gives the ids an organisation name typed into the form may mean (one, or
    several when only an English name matches more than one unit).
    """

    organisations: Mapping[int, Text] = field(default_factory=dict)
    attachments: Mapping[int, AttachmentRef] = field(default_factory=dict)
    org_names: Mapping[str, tuple[int, ...]] = field(default_factory=dict)


def _strip_text(value: Any) -> Any:
    if isinstance(value, str):
        return clean_line(value) or None  # no hidden characters (RTL override, zero-width) in a line
    return value


def _strip_long_text(value: Any) -> Any:
    if isinstance(value, str):
        return clean_text(value) or None
    return value


@dataclass(frozen=True, kw_only=True)
class ShortText(Field):
    max_length: int = 200
    kind: ClassVar[str] = "short_text"

    def pydantic_type(self) -> Any:
        return Annotated[Annotated[str, Constraint(max_length=self.max_length)] | None, BeforeValidator(_strip_text)]

    def describe(self) -> dict[str, Any]:
        return {**super().describe(), "max_length": self.max_length}


@dataclass(frozen=True, kw_only=True)
class LongText(ShortText):
    max_length: int = 20_000
    rows: int = 6
    kind: ClassVar[str] = "long_text"

    def pydantic_type(self) -> Any:
        constrained = Annotated[str, Constraint(max_length=self.max_length)]
        return Annotated[constrained | None, BeforeValidator(_strip_long_text)]


_INT = re.compile(r"^[+-]?\d{1,18}$")


def _parse_integer(value: Any) -> Any:
    if isinstance(value, bool):
        raise PydanticCustomError("integer_format", "integer")
    if isinstance(value, str):
        text = _digits(value).replace(",", "").replace(" ", "")
        if not text:
            return None
        if not _INT.match(text):
            raise PydanticCustomError("integer_format", "integer")
        return int(text)
    return value


@dataclass(frozen=True, kw_only=True)
class Integer(Field):
    min_value: int | None = 0
    max_value: int | None = None
    unit: Text | None = None
    kind: ClassVar[str] = "integer"

    def pydantic_type(self) -> Any:
        return Annotated[
            Annotated[int, Constraint(ge=self.min_value, le=self.max_value)] | None, BeforeValidator(_parse_integer)
        ]

    def display(self, value: Any, lang: str, refs: Refs) -> str:
        if is_blank(value):
            return EMPTY.get(lang)
        try:
            shown = f"{int(value):,}"
        except (TypeError, ValueError):
            return str(value)  # a draft keeps what was typed
        return f"{shown} {self.unit.get(lang)}" if self.unit else shown

    def describe(self) -> dict[str, Any]:
        return {**super().describe(), "min": self.min_value, "max": self.max_value}


_MONEY = re.compile(r"^[+-]?\d{1,14}(\.\d+)?$")


def _parse_money(value: Any) -> Any:
    if isinstance(value, bool):
        raise PydanticCustomError("money_format", "money")
    if isinstance(value, float):
        value = repr(value)  # 12.5 -> "12.5": the shortest exact text of what the client meant
    if isinstance(value, int):
        return Decimal(value)
    if isinstance(value, str):
        text = _digits(value)
        for sign in ("¥", "￥", "元", "RMB", "CNY", ",", " "):
            text = text.replace(sign, "")
        if not text:
            return None
        if not _MONEY.match(text):
            raise PydanticCustomError("money_format", "money")
        return Decimal(text)
    return value


@dataclass(frozen=True, kw_only=True)
class Money(Field):
    """An amount in yuan, exact to the fen (two decimals)."""

    min_value: Decimal | None = Decimal(0)
    max_value: Decimal | None = Decimal("99999999999999.99")
    kind: ClassVar[str] = "money"

    def pydantic_type(self) -> Any:
        # Constraints sit on the inner type: on ``X | None`` pydantic would apply them to None too.
        amount = Annotated[
            Decimal, Constraint(ge=self.min_value, le=self.max_value, decimal_places=2, allow_inf_nan=False)
        ]
        return Annotated[amount | None, BeforeValidator(_parse_money)]

    def to_json(self, value: Any) -> Any:
        return None if value is None else str(Decimal(value).quantize(Decimal("0.01")))

    def display(self, value: Any, lang: str, refs: Refs) -> str:
        if is_blank(value):
            return EMPTY.get(lang)
        try:
            amount = Decimal(str(value)).quantize(Decimal("0.01"))
        except (InvalidOperation, ValueError):
            return str(value)
        return f"{amount:,} 元" if lang == "zh" else f"CNY {amount:,}"

    def describe(self) -> dict[str, Any]:
        return {**super().describe(), "min": str(self.min_value), "max": str(self.max_value)}


_DATE = re.compile(r"^(\d{4})[-/.年](\d{1,2})[-/.月](\d{1,2})日?$")


def _parse_date(value: Any) -> Any:
    if isinstance(value, str):
        text = _digits(value)
        if not text:
            return None
        m = _DATE.match(text)
        if not m:
            raise PydanticCustomError("date_format", "date")
        try:
            return date(int(m[1]), int(m[2]), int(m[3]))
        except ValueError:
            raise PydanticCustomError("date_invalid", "date") from None
    if isinstance(value, int | float):
        # a bare number would be read as a Unix timestamp; nobody types dates that way
        raise PydanticCustomError("date_format", "date")
    return value


@dataclass(frozen=True, kw_only=True)
class DateField(Field):
    min_value: date | None = date(2000, 1, 1)
    max_value: date | None = date(2100, 12, 31)
    kind: ClassVar[str] = "date"

    def pydantic_type(self) -> Any:
        return Annotated[
            Annotated[date, Constraint(ge=self.min_value, le=self.max_value)] | None, BeforeValidator(_parse_date)
        ]

    def to_json(self, value: Any) -> Any:
        return None if value is None else value.isoformat()

    def display(self, value: Any, lang: str, refs: Refs) -> str:
        if is_blank(value):
            return EMPTY.get(lang)
        try:
            d = date.fromisoformat(str(value))
        except ValueError:
            return str(value)
        return f"{d.year}年{d.month}月{d.day}日" if lang == "zh" else d.isoformat()

    def describe(self) -> dict[str, Any]:
        return {**super().describe(), "min": str(self.min_value), "max": str(self.max_value)}


def _choice_checker(values: tuple[str, ...]) -> Any:
    def check(value: Any) -> Any:
        if isinstance(value, str):
            value = value.strip() or None
        if value is None:
            return None
        if value not in values:
            raise PydanticCustomError("choice_unknown", "choice")
        return value

    return check


@dataclass(frozen=True, kw_only=True)
class Choice(Field):
    choices: tuple[Option, ...]
    kind: ClassVar[str] = "choice"

    @property
    def values(self) -> tuple[str, ...]:
        return tuple(o.value for o in self.choices)

    def pydantic_type(self) -> Any:
        return Annotated[str | None, BeforeValidator(_choice_checker(self.values))]

    def option_label(self, value: Any, lang: str) -> str:
        for o in self.choices:
            if o.value == value:
                return o.label.get(lang)
        return str(value)  # a value an older version offered, or a draft's stray input

    def display(self, value: Any, lang: str, refs: Refs) -> str:
        return EMPTY.get(lang) if is_blank(value) else self.option_label(value, lang)

    def describe(self) -> dict[str, Any]:
        return {**super().describe(), "choices": list(self.values)}


def _as_list(value: Any) -> Any:
    if value is None:
        return []
    if isinstance(value, str | int):
        value = [value]
    if isinstance(value, list | tuple):
        return [v for v in value if not is_blank(v)]
    return value


@dataclass(frozen=True, kw_only=True)
class MultiChoice(Choice):
    min_selected: int = 0
    max_selected: int | None = None
    kind: ClassVar[str] = "multi_choice"

    def pydantic_type(self) -> Any:
        check = _choice_checker(self.values)

        def each(value: Any) -> Any:
            items = _as_list(value)
            if not isinstance(items, list):
                return items
            return list(dict.fromkeys(check(v) for v in items))  # keep order, drop repeats

        return Annotated[list[str], BeforeValidator(each), Constraint(max_length=self.max_selected)]

    def display(self, value: Any, lang: str, refs: Refs) -> str:
        items = _as_list(value)
        if not items:
            return EMPTY.get(lang)
        return ("、" if lang == "zh" else ", ").join(self.option_label(v, lang) for v in items)

    def describe(self) -> dict[str, Any]:
        return {**super().describe(), "min_selected": self.min_selected, "max_selected": self.max_selected}


def _parse_id(value: Any) -> Any:
    if isinstance(value, bool):
        raise PydanticCustomError("reference_format", "id")
    if isinstance(value, str):
        text = _digits(value)
        if not text:
            return None
        if not text.isdigit():
            raise PydanticCustomError("reference_format", "id")
        return int(text)
    return value


def typed_org_name(value: Any) -> str | None:
    """The organisation name typed into an organisation field, or None for a blank or an id.

    An organisation field is stored as the unit's id; people type the unit's registered name
    (Chinese, or English where it has one) and the name is looked up when the form is checked.
    """
    if not isinstance(value, str) or not value.strip() or _digits(value).isdigit():
        return None
    return clean_line(value) or None


@dataclass(frozen=True, kw_only=True)
class OrgRef(Field):
    """An organisation known to the system, stored by id; people type its registered name (the
    page suggests names as they type), and the name is looked up when the form is checked."""

    kind: ClassVar[str] = "organisation"

    def pydantic_type(self) -> Any:
        return Annotated[Annotated[int, Constraint(gt=0)] | None, BeforeValidator(_parse_id)]

    def display(self, value: Any, lang: str, refs: Refs) -> str:
        if is_blank(value):
            return EMPTY.get(lang)
        typed = typed_org_name(value)
        if typed is not None:  # a working copy keeps the name as typed
            return typed
        try:
            name = refs.organisations.get(int(_digits(str(value))))
        except (TypeError, ValueError):
            name = None
        return name.get(lang) if name else f"#{value}"


@dataclass(frozen=True, kw_only=True)
class Attachments(Field):
    """Files uploaded through the file store; the form stores their ids.

    ``accept`` names content kinds (``pdf``, ``docx``…) this field takes; the configured
    ``GRANTFLOW_ATTACHMENT_TYPES`` narrows it further.
    """

    accept: tuple[str, ...] = ("pdf", "docx", "doc", "xlsx", "xls", "png", "jpg", "txt", "csv")
    max_files: int = 10
    kind: ClassVar[str] = "attachments"

    def pydantic_type(self) -> Any:
        def ids(value: Any) -> Any:
            items = _as_list(value)
            if not isinstance(items, list):
                return items
            return list(dict.fromkeys(_parse_id(v) for v in items))

        return Annotated[list[int], BeforeValidator(ids), Constraint(max_length=self.max_files)]

    def display(self, value: Any, lang: str, refs: Refs) -> str:
        items = _as_list(value)
        if not items:
            return EMPTY.get(lang)
        names = []
        for v in items:
            ref = refs.attachments.get(int(v)) if str(v).isdigit() else None
            names.append(f"{ref.filename} (SHA-256 {ref.sha256[:12]}…)" if ref else f"#{v}")
        return "; ".join(names)

    def describe(self) -> dict[str, Any]:
        return {**super().describe(), "accept": list(self.accept), "max_files": self.max_files}


@dataclass(frozen=True, kw_only=True)
class Table(Field):
    """Repeatable rows (budget lines, targets, milestones, team members) of simple columns."""

    columns: tuple[Field, ...]
    min_rows: int = 0
    max_rows: int = 200
    spare_rows: int = 2  # empty rows offered on the page for adding lines without scripts
    kind: ClassVar[str] = "table"

    def __post_init__(self) -> None:
        for c in self.columns:
            if isinstance(c, Table | Attachments):
                raise ValueError(f"{self.name}.{c.name}: tables hold simple columns only")

    def column(self, name: str) -> Field:
        return next(c for c in self.columns if c.name == name)

    def rows_of(self, value: Any) -> list[dict[str, Any]]:
        """Rows that hold anything; a wholly empty row (a spare line left blank) is no row."""
        if not isinstance(value, list):
            return []
        return [dict(r) for r in value if isinstance(r, Mapping) and not all(is_blank(v) for v in r.values())]

    def describe(self) -> dict[str, Any]:
        return {
            **super().describe(),
            "min_rows": self.min_rows,
            "max_rows": self.max_rows,
            "columns": [c.describe() for c in self.columns],
        }


FIELD_KINDS: tuple[type[Field], ...] = (
    ShortText,
    LongText,
    Integer,
    Money,
    DateField,
    Choice,
    MultiChoice,
    Table,
    OrgRef,
    Attachments,
)

__all__ = [
    "FIELD_KINDS",
    "AttachmentRef",
    "Attachments",
    "Choice",
    "DateField",
    "Field",
    "Integer",
    "LongText",
    "Money",
    "MultiChoice",
    "Option",
    "OrgRef",
    "Refs",
    "ShortText",
    "Table",
    "is_blank",
    "options",
]
