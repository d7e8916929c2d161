"""CSV and XLSX exports that open in a spreadsheet ready to use, streamed row by row.

- Types survive: numbers are numbers, dates are dates (in the office's time zone), per cents
  are numbers of per cent (the header says "%"); empty stays empty.
- CSV starts with a UTF-8 byte-order mark, so Excel reads Chinese correctly when the file is
  double-clicked; the rows are written as they come.
- XLSX is written with openpyxl's write-only workbook: each row goes to disk as it is appended,
  so memory does not grow with the number of rows.
- Text never becomes a formula: a cell that starts with ``=``, ``+``, ``-``, ``@``, a tab or a
  carriage return is prefixed with an apostrophe (docs/targets-and-funding.md, "Exports"). This
  applies to every text cell of every export, including the tender bids export.
"""

from __future__ import annotations

import csv
import io
from collections.abc import Iterable, Iterator, Sequence
from datetime import date, datetime
from decimal import Decimal
from pathlib import Path
from typing import IO, Any

from openpyxl import Workbook
from openpyxl.cell import WriteOnlyCell
from openpyxl.styles import Font
from openpyxl.utils import get_column_letter

from grantflow.services.overview import DATE, DECIMAL, INT, PERCENT, Column
from grantflow.states.text import Text

FORMULA_TRIGGERS = ("=", "+", "-", "@", "\t", "\r")
BOM = "\ufeff"
FORMATS = ("csv", "xlsx")
MEDIA_TYPES = {
    "csv": "text/csv; charset=utf-8",
    "xlsx": "application/vnd.openxmlformats-officedocument.spreadsheetml.sheet",
}


def neutralise(value: str) -> str:
    """Text a spreadsheet would run as a formula, made inert and still readable."""
    return "'" + value if value.startswith(FORMULA_TRIGGERS) else value


def unknown_format(fmt: str) -> Text:
    return Text(f"不支持的格式“{fmt}”（可选：csv、xlsx）", f"unknown format '{fmt}' (csv or xlsx)")


def _csv_value(value: Any) -> Any:
    if value is None:
        return ""
    if isinstance(value, bool):
        return "TRUE" if value else "FALSE"
    if isinstance(value, Decimal):
        return f"{value:f}"  # never scientific notation
    if isinstance(value, datetime):
        return value.strftime("%Y-%m-%d %H:%M:%S")
    if isinstance(value, date):
        return value.isoformat()
    if isinstance(value, int | float):
        return value
    return neutralise(str(value))


def header(columns: Sequence[Column], lang: str) -> list[str]:
    return [c.label.get(lang) for c in columns]


def csv_chunks(
    columns: Sequence[Column], rows: Iterable[Sequence[Any]], *, lang: str, batch: int = 1000
) -> Iterator[bytes]:
    """The CSV as UTF-8 chunks (the first starts with the BOM), ``batch`` rows at a time."""
    buf = io.StringIO()
    writer = csv.writer(buf, lineterminator="\r\n")
    buf.write(BOM)
    writer.writerow([neutralise(h) for h in header(columns, lang)])
    for n, row in enumerate(rows, start=1):
        writer.writerow([_csv_value(v) for v in row])
        if n % batch == 0:
            yield buf.getvalue().encode("utf-8")
            buf.seek(0)
            buf.truncate()
    yield buf.getvalue().encode("utf-8")


def write_csv(columns: Sequence[Column], rows: Iterable[Sequence[Any]], out: IO[bytes], *, lang: str) -> None:
    for chunk in csv_chunks(columns, rows, lang=lang):
        out.write(chunk)


_NUMBER_FORMATS = {INT: "0", DECIMAL: "#,##0.00", PERCENT: "0.00", DATE: "yyyy-mm-dd"}
_WIDTHS = {INT: 10, DECIMAL: 16, PERCENT: 12, DATE: 12}


def write_xlsx(
    columns: Sequence[Column], rows: Iterable[Sequence[Any]], out: IO[bytes] | Path, *, lang: str, title: str
) -> int:
    """Write one sheet, streaming; returns the number of data rows."""
    wb = Workbook(write_only=True)
    ws = wb.create_sheet(title=_sheet_title(title))
    for i, col in enumerate(columns, start=1):
        ws.column_dimensions[get_column_letter(i)].width = _WIDTHS.get(
            col.type, max(12, min(40, len(col.label.get(lang)) * 2 + 4))
        )
    ws.freeze_panes = "A2"
    bold = Font(bold=True)
    head = []
    for h in header(columns, lang):
        cell = WriteOnlyCell(ws, value=neutralise(h))
        cell.font = bold
        head.append(cell)
    ws.append(head)
    # one styled cell per typed column, reused: a write-only sheet writes each row as it is appended
    styled: dict[int, WriteOnlyCell] = {}
    for i, col in enumerate(columns):
        if col.type in _NUMBER_FORMATS:
            cell = WriteOnlyCell(ws)
            cell.number_format = _NUMBER_FORMATS[col.type]
            styled[i] = cell
    n = 0
    for row in rows:
        values: list[Any] = []
        for i, value in enumerate(row):
            if value is None or value == "":
                values.append(None)
            elif isinstance(value, str):
                values.append(neutralise(value))
            elif i in styled and isinstance(value, int | Decimal | date):
                cell = styled[i]
                cell.value = value
                values.append(cell)
            else:
                values.append(value)
        ws.append(values)
        n += 1
    wb.save(out)
    return n


def _sheet_title(title: str) -> str:
    # Excel forbids []:*?/\ in sheet names and allows 31 characters
    clean = "".join(" " if ch in "[]:*?/\\" else ch for ch in title).strip()
    return (clean or "sheet")[:31]


# --- the tender bids export (an existing CSV; the same rule for typed text) --------------------------------

BID_HEADER = ["bid", "project", "code", "organisation", "submitted_at", "sha256", "content"]


def bid_rows(views: Iterable[Any]) -> Iterator[list[Any]]:
    """The bids export's rows; a bid's content is whatever the bidder typed, so it is neutralised."""
    for v in views:
        yield [
            v.bid_id,
            v.project_id,
            neutralise(str(v.project_code)),
            v.organisation_id,
            v.submitted_at.isoformat(),
            v.ciphertext_sha256,
            neutralise((v.content or b"").decode("utf-8", errors="replace")),
        ]
