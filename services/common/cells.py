"""Spreadsheet cells that stay data: what an export writes never runs as a formula when the file is opened
(CSV/formula injection: a unit named ``=cmd|' /C calc'!A0`` must come back as that text)."""

from __future__ import annotations

from collections.abc import Iterable
from typing import Any

from openpyxl.cell import WriteOnlyCell

# What a spreadsheet reads a CSV cell starting with as a formula.
_FORMULA_STARTS = ("=", "+", "-", "@")


def csv_cell(value: Any) -> Any:
    """A CSV value, with a leading apostrophe when a spreadsheet would read it as a formula."""
    if isinstance(value, str) and value[:1] in _FORMULA_STARTS:
        return "'" + value
    return value


def append_rows(sheet: Any, rows: Iterable[list[Any]]) -> None:
    """Rows onto a write-only openpyxl sheet; a string starting with ``=`` (which openpyxl would store as a
    formula) is written as text."""
    for row in rows:
        if any(isinstance(v, str) and v.startswith("=") for v in row):
            cells = []
            for value in row:
                cell = WriteOnlyCell(sheet, value)
                if isinstance(value, str):
                    cell.data_type = "s"  # text, never a formula
                cells.append(cell)
            sheet.append(cells)
        else:
            sheet.append(row)
