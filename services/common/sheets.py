"""Reading an uploaded sheet (.xlsx or .csv) row by row: its type, its encoding, its rows, its headers and cells.

Used by every import (registry's ledger, exam's question bank); each keeps its own columns and rules. A CSV is
UTF-8 (with or without BOM) or, when it is not valid UTF-8, GB18030; one that is neither is refused in Chinese,
naming its first unreadable line. An ``.xlsx`` up to ``in_memory_max``
bytes is read by calamine (fast, in memory), a larger one streamed by openpyxl. Rows come header first, blank
rows included, so that a row's number is the one the spreadsheet shows.
"""

from __future__ import annotations

import codecs
import csv
import io
import os
import re
import unicodedata
from collections.abc import Iterator, Sequence
from datetime import date, datetime
from typing import Any, Literal, NamedTuple

import python_calamine
from openpyxl import load_workbook
from starlette.datastructures import UploadFile

from services.common.errors import Invalid

XLSX_IN_MEMORY_MAX_BYTES = 32 * 1024 * 1024


class ImportColumnsMissing(Invalid):
    code, title = "IMPORT_COLUMNS_MISSING", "导入文件缺少必填列"


class ImportFileUnreadable(Invalid):
    code, title = "IMPORT_FILE_UNREADABLE", "无法读取导入文件"


class ImportFileType(Invalid):
    code, title = "IMPORT_FILE_TYPE_UNSUPPORTED", "仅支持 .xlsx 或 .csv 文件"


# Row errors of an import (never raised: their code and title document what an error report may hold).
class CellRequired(Invalid):
    code, title = "IMPORT_CELL_REQUIRED", "必填项为空"


class NumberInvalid(Invalid):
    code, title = "IMPORT_NUMBER_INVALID", "不是有效的数字"


class ChoiceInvalid(Invalid):
    code, title = "IMPORT_CHOICE_INVALID", "不是可选的值"


def sniff(upload: UploadFile) -> Literal["xlsx", "csv"]:
    """The kind of an uploaded sheet, by its first bytes, then its name or content type."""
    head = upload.file.read(8)
    upload.file.seek(0)
    name = (upload.filename or "").lower()
    if head.startswith(b"PK\x03\x04"):
        return "xlsx"
    if name.endswith((".xlsx", ".xls", ".xlsm")) or head.startswith(b"\xd0\xcf\x11\xe0"):
        raise ImportFileType("不支持该 Excel 格式，请另存为 .xlsx 或 .csv（UTF-8）后再导入")
    if name.endswith((".csv", ".txt")) or (upload.content_type or "").startswith("text/"):
        return "csv"
    raise ImportFileType("仅支持 .xlsx 或 .csv 文件")


_NOT_TEXT = "文件不是有效的 UTF-8 或 GB18030（GBK）编码的 CSV，请在 Excel 中另存为“CSV UTF-8”后重试"
_NOT_XLSX = "无法读取该 .xlsx 文件：文件可能已损坏，或不是 Excel 工作簿；请用 Excel 打开后另存为 .xlsx 再导入"


def _first_bad_line(binary: io.BufferedIOBase | Any, encoding: str) -> int | None:
    """The line (as the sheet numbers it) of the first byte that ``encoding`` cannot decode, or None."""
    decoder = codecs.getincrementaldecoder(encoding)()
    line = 1
    while block := binary.read(1 << 20):
        try:
            decoder.decode(block)
        except UnicodeDecodeError as exc:
            return line + block.count(b"\n", 0, max(exc.start, 0))
        line += block.count(b"\n")
    try:
        decoder.decode(b"", final=True)
    except UnicodeDecodeError:
        return line
    return None


def csv_encoding(binary: io.BufferedIOBase | Any) -> str:
    """UTF-8 (with or without BOM) if the whole file is UTF-8, else GB18030 (which includes GBK and GB2312),
    else refused, naming the first line that is neither."""
    try:
        if _first_bad_line(binary, "utf-8") is None:
            return "utf-8-sig"
        binary.seek(0)
        line = _first_bad_line(binary, "gb18030")
        if line is None:
            return "gb18030"
        raise ImportFileUnreadable(f"{_NOT_TEXT}（第 {line} 行起无法识别）")
    finally:
        binary.seek(0)


def _size_of(binary: Any) -> int:
    size = binary.seek(0, os.SEEK_END)
    binary.seek(0)
    return size


def _calamine_rows(binary: Any) -> Iterator[Sequence[object]]:
    """The first sheet through calamine (about ten times faster than openpyxl, but it holds the whole sheet in
    memory: some 18 bytes per byte of file). Rows start at the sheet's first row, so numbers match; columns
    start at the first used one, which is harmless because columns are found by their headers."""
    try:
        workbook = python_calamine.CalamineWorkbook.from_filelike(binary)
        if not workbook.sheet_names:
            raise ImportFileUnreadable("该 .xlsx 文件没有工作表")
        rows = workbook.get_sheet_by_index(0).iter_rows()
    except ImportFileUnreadable:
        raise
    except Exception as exc:  # calamine raises its own kinds for a file that is not a workbook
        raise ImportFileUnreadable(_NOT_XLSX) from exc
    yield from rows


def sheet_rows(
    binary: Any, kind: str, *, in_memory_max: int = XLSX_IN_MEMORY_MAX_BYTES
) -> Iterator[Sequence[object]]:
    """The rows of a file, header first, blank rows included (so numbers match the sheet)."""
    if kind == "xlsx" and _size_of(binary) <= in_memory_max:
        yield from _calamine_rows(binary)
        return
    if kind == "xlsx":  # streamed by openpyxl: slower, but memory does not grow with the file
        try:
            workbook = load_workbook(binary, read_only=True, data_only=True)
        except Exception as exc:  # openpyxl raises many kinds for a file that is not a workbook
            raise ImportFileUnreadable(_NOT_XLSX) from exc
        try:
            if not workbook.worksheets:
                raise ImportFileUnreadable("该 .xlsx 文件没有工作表")
            sheet = workbook.worksheets[0]
            sheet.reset_dimensions()  # some writers store a wrong size; read every row there is
            yield from sheet.iter_rows(values_only=True)
        finally:
            workbook.close()
        return
    encoding = csv_encoding(binary)
    text = io.TextIOWrapper(binary, encoding=encoding, newline="")
    reader = csv.reader(text)
    try:
        yield from reader
    except UnicodeDecodeError as exc:  # checked above; kept so that no codec's text reaches the caller
        raise ImportFileUnreadable(_NOT_TEXT) from exc
    except csv.Error as exc:  # a NUL byte (a binary file), a field over the size limit
        raise ImportFileUnreadable(
            f"CSV 文件格式有误（第 {reader.line_num} 行）：可能不是文本文件，或某个单元格过长"
        ) from exc
    finally:
        text.detach()


def normalise_header(value: object) -> str:
    """A header as matched: NFKC (full-width brackets = half-width), no spaces, ``*`` or ``★``, lower case."""
    text = unicodedata.normalize("NFKC", str(value or "")).lstrip("\ufeff")
    return re.sub(r"[\s*★]", "", text).lower()


class Column(NamedTuple):
    """A column of an import: its header as the template writes it, the field it fills, whether it must be there."""

    header: str
    field: str
    required: bool


def header_fields(columns: Sequence[Column], aliases: dict[str, str]) -> dict[str, str]:
    """Normalised header → field, for the columns and the other names a sheet may give them."""
    return {
        **{normalise_header(name): field for name, field in aliases.items()},
        **{normalise_header(c.header): c.field for c in columns},
    }


def match_headers(
    header: Sequence[object], columns: Sequence[Column], fields: dict[str, str], *, hint: str
) -> dict[str, int]:
    """Field → column index of a header row (the first of a repeated header wins); raises ImportColumnsMissing
    naming every missing required column (``missing``), with ``hint`` on where to find a good header."""
    found: dict[str, int] = {}
    for index, value in enumerate(header):
        name = fields.get(normalise_header(value))
        if name is not None and name not in found:
            found[name] = index
    missing = [c.header for c in columns if c.required and c.field not in found]
    if missing:
        raise ImportColumnsMissing(
            f"导入文件缺少必填列：{'、'.join(missing)}。第1行须为表头，{hint}", missing=missing
        )
    return found


def cell_text(value: object) -> str | None:
    """A cell as trimmed text (None when blank): whole floats lose their ``.0``, dates become ISO, and the
    ``'`` our CSV exports put before ``= + - @`` (against spreadsheet formulas) is removed."""
    if value is None:
        return None
    if type(value) is str:  # most cells: skip the checks below (called for every cell of every row)
        text = value.strip()
        if len(text) > 1 and text[0] == "'" and text[1] in "=+-@":
            text = text[1:]
        return text or None
    if type(value) is int:
        return str(value)
    if isinstance(value, float) and value.is_integer():
        value = int(value)
    elif isinstance(value, datetime):
        value = value.date()
    if isinstance(value, date):
        return value.isoformat()
    text = str(value).strip()
    if len(text) > 1 and text[0] == "'" and text[1] in "=+-@":
        text = text[1:]
    return text or None
