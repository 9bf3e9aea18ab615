"""Laboratory observations from CSV: one row per result, a header row naming the columns.

Columns (any order; names are case-insensitive):
``code`` (LOINC, required), ``value`` (required), ``unit`` (required except for unitless INR),
``observed_at`` (ISO 8601 date or date-time; no time zone means UTC; required), ``specimen``,
``reference_low``, ``reference_high`` (the laboratory's range, in ``unit``), ``comparator``
(<, <=, >=, > for a censored result; the value may also carry it, as in ``<5``) and
``unit_confirmed`` (true/false: keep a value that is unusual in its unit). Empty cells are
"not stated". UTF-8, comma-separated, a byte-order mark is ignored.
"""

from __future__ import annotations

import csv
import io
from dataclasses import dataclass
from typing import Any

from patients.errors import ImportTooLarge, InvalidCsv

CSV_COLUMNS = (
    "code", "value", "unit", "observed_at", "specimen", "reference_low", "reference_high", "comparator", "unit_confirmed",
)
_BOOLEANS = {"true": True, "yes": True, "1": True, "false": False, "no": False, "0": False}
CSV_REQUIRED = ("code", "value", "observed_at")


@dataclass(frozen=True)
class CsvRow:
    line: int
    data: dict[str, Any] | None  # None: the row has the wrong number of cells
    cells: int


def csv_rows_read(text: str, *, max_rows: int) -> list[CsvRow]:
    reader = csv.reader(io.StringIO(text.lstrip("\ufeff")))
    try:
        header = next(reader)
    except StopIteration:
        raise InvalidCsv("The file is empty.", detail={"line": 1}) from None
    except csv.Error as exc:
        raise InvalidCsv(f"Line 1: {exc}.", detail={"line": 1}) from None
    columns = [name.strip().casefold() for name in header]
    unknown = [name for name in columns if name not in CSV_COLUMNS]
    if unknown:
        raise InvalidCsv(
            f"Unknown column {unknown[0]!r}.", detail={"line": 1, "column": unknown[0], "allowed": list(CSV_COLUMNS)}
        )
    if len(set(columns)) != len(columns):
        raise InvalidCsv("A column is named twice.", detail={"line": 1})
    missing = [name for name in CSV_REQUIRED if name not in columns]
    if missing:
        raise InvalidCsv(f"Missing column {missing[0]!r}.", detail={"line": 1, "column": missing[0]})
    rows: list[CsvRow] = []
    try:
        for cells in reader:
            if not any(cell.strip() for cell in cells):
                continue
            if len(rows) >= max_rows:
                raise ImportTooLarge(f"More than {max_rows} rows.", detail={"max": max_rows})
            line = reader.line_num
            if len(cells) != len(columns):
                rows.append(CsvRow(line=line, data=None, cells=len(cells)))
                continue
            data: dict[str, Any] = {
                name: cell.strip() for name, cell in zip(columns, cells, strict=True) if cell.strip()
            }
            if "unit_confirmed" in data:
                # Left as text when it is not a yes/no word, so the field parser reports it.
                data["unit_confirmed"] = _BOOLEANS.get(data["unit_confirmed"].casefold(), data["unit_confirmed"])
            rows.append(CsvRow(line=line, data=data, cells=len(cells)))
    except csv.Error as exc:
        raise InvalidCsv(f"Line {reader.line_num}: {exc}.", detail={"line": reader.line_num}) from None
    return rows
