"""批量导入导出: the ledger (台账) as one sheet, in (``POST /enterprises/import``) and out (``GET /enterprises/export``).

The sheet
---------
The first worksheet of an ``.xlsx`` file, or a ``.csv`` file in UTF-8 (with or without BOM; GB18030 is
accepted when the file is not UTF-8). Row 1 is the header; every following row is one unit; blank rows are
skipped but keep their numbers, so that an error names the row as the spreadsheet shows it. Headers are matched
ignoring spaces, ``*`` marks and full-/half-width brackets (``从业人员(人)`` = ``从业人员（人）``); columns may come in
any order; columns we do not know are ignored. A file without one of the required columns (★) is refused as a
whole (422 ``IMPORT_COLUMNS_MISSING``, the missing columns listed in ``missing``).

=====================  ==================  ==================================================================
列 (header)             field               accepted values
=====================  ==================  ==================================================================
★统一社会信用代码        uscc                18 characters (GB 32100-2015); the key: an existing unit is updated
★单位名称                name
★单位类型                kind                生产 / 销售 (or 生产单位 / 销售单位, production / sales)
 销售渠道                sales_channel       批发 / 零售 (wholesale / retail); required for 销售; blank for 生产
★注册地行政区划代码      region_code         6-digit GB/T 2260 code
 市场监管所代码          station_code        9 digits: the county code + 3
 注册地址                registered_address
 主要负责人              principal_name
 主要负责人电话          principal_phone     a value containing ``*`` (a masked export) means "unknown": an
                                             existing unit keeps its stored phone, a new unit has none
★从业人员（人）          employees           whole number
★营业收入（万元）        revenue_wan_yuan    number
 规模数据年度            size_year           e.g. 2025
 产品类别                product_categories  codes or Chinese names of ``data/categories.yaml``, separated by
                                             、 or ; (a name that itself holds 、 is recognised whole)
 生产许可证编号          certificates        one or more numbers separated by ; or 、
 生产许可证有效期至      certificates        dates (2027-12-31, 2027/12/31, 2027年12月31日), one per number
 CCC证书编号             certificates        as for the production licence
 CCC证书有效期至         certificates
★录入原因                entry_reason        Chinese name (设立质量安全总监, 监督抽查 …) or code; kept as first
                                             entered for a unit already in the ledger
 录入原因说明            entry_note
=====================  ==================  ==================================================================

Rules of an import: every row is checked by the ledger's one validation (``service.check_fields``) plus the
reading of its cells; each problem is reported with its row, column, code and a Chinese message. Good rows
are written even when others are bad; a row is written whole (the unit, its categories and certificates,
its audit entry and its event) or not at all. Rows are matched to the ledger by USCC: a new USCC is entered
(``entry_path`` ``import``, ``registry.enterprise.registered``); a known one is updated only if something
differs from the stored record (audit ``imported`` and ``registry.enterprise.updated``); an identical row
writes nothing, so importing the same file twice changes nothing. A row must lie in the caller's
jurisdiction, and a known unit must be registered there, or the row is rejected. A column left out of the
sheet leaves that field of a known unit as stored; a blank cell clears it. Production sites and the issue
date and product category of a certificate are not in the sheet: a known unit keeps them. ``dry_run=true``
checks everything and reports what would happen, writing nothing but the job and its errors.

The export writes the same layout (enums as Chinese names), so an export imports back unchanged; the
principal's phone is masked unless the caller may read personal data, and a masked phone imports as
"unknown" (above). CSV exports prefix a text starting with ``= + - @`` with ``'`` (so a spreadsheet does not
run it as a formula); the import removes that prefix again.
"""

from __future__ import annotations

import asyncio
import codecs
import csv
import io
import json
import math
import multiprocessing
import os
import queue
import re
import shutil
import tempfile
import unicodedata
from collections import defaultdict
from collections.abc import AsyncIterator, Iterable, Iterator, Sequence
from contextlib import aclosing
from dataclasses import dataclass, field
from datetime import date, datetime
from functools import cache, partial
from types import SimpleNamespace
from typing import Annotated, Any, Literal, NamedTuple
from urllib.parse import quote

import python_calamine
from fastapi import APIRouter, File, Query, Request, UploadFile
from fastapi.responses import StreamingResponse
from openpyxl import Workbook, load_workbook
from openpyxl.cell import WriteOnlyCell
from pydantic import BaseModel, Field, ValidationError
from sqlalchemy import bindparam, delete, func, insert, select, update
from sqlalchemy.exc import IntegrityError
from sqlalchemy.ext.asyncio import AsyncSession

from services.common.app import DbDep
from services.common.auth import Caller, CallerDep
from services.common.db import Database, UTCDateTime, today_cn, utcnow
from services.common.errors import Conflict, Invalid, NotFound, QSRError
from services.common.events import ENTERPRISE_REGISTERED, ENTERPRISE_UPDATED, EnterpriseRegistered, make_event
from services.common.ids import new_id
from services.common.messaging import OutboxMessage
from services.common.regions import level_of
from services.common.settings import Settings
from services.registry import audit, pii, repository, service
from services.registry.models import (
    AuditEntry,
    Certificate,
    Enterprise,
    ImportJob,
    ImportRowError,
    ProductCategoryLink,
    ProductionSite,
)
from services.registry.schemas import (
    ENTRY_REASON_NAMES,
    CertificateIn,
    EnterpriseKind,
    LedgerFields,
    OperatingStatus,
    SiteIn,
)

router = APIRouter(tags=["transfer 台账批量导入导出"])

CHUNK_ROWS = 2000  # rows validated, looked up and written per transaction
EXPORT_CHUNK_ROWS = 2000  # rows read per query of an export
ERRORS_IN_RESPONSE = 100
IMPORT_MAX_BYTES = 200 * 1024 * 1024
# From this size on rows are read and checked in a child process (two cores at work); below it, in a thread.
PROCESS_READ_MIN_BYTES = 1024 * 1024
# Up to this size an .xlsx is read by calamine (fast, in memory: about 600 MB at the limit, ~340,000 rows);
# a larger one is streamed by openpyxl.
XLSX_IN_MEMORY_MAX_BYTES = 32 * 1024 * 1024
_SPOOL_BYTES = 8 * 1024 * 1024


# ------------------------------------------------------------------------------------------------ errors


class ImportColumnsMissing(Invalid):
    code, title = "IMPORT_COLUMNS_MISSING", "导入文件缺少必填列"


class ImportFileUnreadable(Invalid):
    code, title = "IMPORT_FILE_UNREADABLE", "无法读取导入文件"


class ImportFileType(Invalid):
    code, title = "IMPORT_FILE_TYPE_UNSUPPORTED", "仅支持 .xlsx 或 .csv 文件"


class ImportFileTooLarge(QSRError):
    status, code, title = 413, "IMPORT_FILE_TOO_LARGE", "导入文件过大"


class ImportJobNotFound(NotFound):
    code, title = "IMPORT_JOB_NOT_FOUND", "导入任务不存在或不在您的管辖范围内"


# Row errors (never raised: their code and title document what an error sheet may hold).
class CellRequired(Invalid):
    code, title = "IMPORT_CELL_REQUIRED", "必填项为空"


class NumberInvalid(Invalid):
    code, title = "IMPORT_NUMBER_INVALID", "不是有效的数字"


class DateInvalid(Invalid):
    code, title = "IMPORT_DATE_INVALID", "不是有效的日期"


class ChoiceInvalid(Invalid):
    code, title = "IMPORT_CHOICE_INVALID", "不是可选的值"


class ValueInvalid(Invalid):
    code, title = "IMPORT_VALUE_INVALID", "取值不符合要求"


class DuplicateInFile(Invalid):
    code, title = "IMPORT_DUPLICATE_IN_FILE", "文件中统一社会信用代码重复"


class UnitOutOfJurisdiction(Invalid):
    code, title = "IMPORT_UNIT_OUT_OF_JURISDICTION", "该单位已在台账中，但注册地不在您的管辖范围内"


class WriteConflict(Conflict):
    code, title = "IMPORT_WRITE_CONFLICT", "导入时该单位被同时修改或录入"


# ------------------------------------------------------------------------------------------------ layout


class Column(NamedTuple):
    header: str
    field: str
    required: bool


COLUMNS: tuple[Column, ...] = (
    Column("统一社会信用代码", "uscc", True),
    Column("单位名称", "name", True),
    Column("单位类型", "kind", True),
    Column("销售渠道", "sales_channel", False),
    Column("注册地行政区划代码", "region_code", True),
    Column("市场监管所代码", "station_code", False),
    Column("注册地址", "registered_address", False),
    Column("主要负责人", "principal_name", False),
    Column("主要负责人电话", "principal_phone", False),
    Column("从业人员（人）", "employees", True),
    Column("营业收入（万元）", "revenue_wan_yuan", True),
    Column("规模数据年度", "size_year", False),
    Column("产品类别", "product_categories", False),
    Column("生产许可证编号", "licence_numbers", False),
    Column("生产许可证有效期至", "licence_valid_until", False),
    Column("CCC证书编号", "ccc_numbers", False),
    Column("CCC证书有效期至", "ccc_valid_until", False),
    Column("录入原因", "entry_reason", True),
    Column("录入原因说明", "entry_note", False),
)
HEADERS = [c.header for c in COLUMNS]
HEADER_OF = {c.field: c.header for c in COLUMNS}
_ALIASES = {
    "从业人员": "employees",
    "从业人数": "employees",
    "营业收入": "revenue_wan_yuan",
    "主要负责人姓名": "principal_name",
    "主要负责人联系电话": "principal_phone",
    "行政区划代码": "region_code",
    "所属市场监管所代码": "station_code",
    "ccc认证证书编号": "ccc_numbers",
    "ccc认证证书有效期至": "ccc_valid_until",
}
# check_fields names LedgerFields fields; the sheet shows them under these columns.
_PROBLEM_COLUMN = {
    "sales_channel": "销售渠道",
    "certificates": "生产许可证编号",
    "sites": "生产许可证编号",
    **{c.field: c.header for c in COLUMNS},
}
_CERT_COLUMNS = {
    "production_licence": ("licence_numbers", "licence_valid_until"),
    "ccc": ("ccc_numbers", "ccc_valid_until"),
}
_KINDS = {"生产": "production", "生产单位": "production", "production": "production"}
_KINDS |= {"销售": "sales", "销售单位": "sales", "sales": "sales"}
_CHANNELS = {"批发": "wholesale", "wholesale": "wholesale", "零售": "retail", "retail": "retail"}
_KIND_NAMES = {"production": "生产", "sales": "销售"}
_CHANNEL_NAMES = {"wholesale": "批发", "retail": "零售"}
_REASONS = {**{code: code for code in ENTRY_REASON_NAMES}, **{v: k for k, v in ENTRY_REASON_NAMES.items()}}
# The columns an import of a known unit may change (entry_reason stays as first entered).
_SHEET_SCALARS = (
    "name",
    "kind",
    "sales_channel",
    "region_code",
    "station_code",
    "registered_address",
    "principal_name",
    "employees",
    "revenue_wan_yuan",
    "size_year",
    "entry_note",
)
_LIST_SEPARATORS = re.compile(r"[、;；,，\n]")


def _normalise_header(value: object) -> str:
    text = unicodedata.normalize("NFKC", str(value or "")).lstrip("\ufeff")
    return re.sub(r"[\s*★]", "", text).lower()


_HEADER_FIELDS = {
    **{_normalise_header(k): v for k, v in _ALIASES.items()},
    **{_normalise_header(c.header): c.field for c in COLUMNS},
}


def match_headers(header: Sequence[object]) -> dict[str, int]:
    """Field → column index of a header row; raises ImportColumnsMissing naming every missing column."""
    found: dict[str, int] = {}
    for index, value in enumerate(header):
        name = _HEADER_FIELDS.get(_normalise_header(value))
        if name is not None and name not in found:
            found[name] = index
    missing = [c.header for c in COLUMNS if c.required and c.field not in found]
    if missing:
        raise ImportColumnsMissing(
            f"导入文件缺少必填列：{'、'.join(missing)}。第1行须为表头，可下载导出文件作为模板",
            missing=missing,
        )
    return found


# ------------------------------------------------------------------------------------------------ cells


class CellError(Exception):
    def __init__(self, error: type[QSRError], message: str) -> None:
        super().__init__(message)
        self.error = error
        self.message = message


def _text(value: object) -> str | None:
    """A cell as trimmed text (None when blank): whole floats lose their ``.0``, dates become ISO."""
    if value is None:
        return None
    if isinstance(value, float) and value.is_integer():
        value = int(value)
    elif isinstance(value, datetime):
        value = value.date()
    if isinstance(value, date):
        return value.isoformat()
    text = str(value).strip()
    if len(text) > 1 and text[0] == "'" and text[1] in "=+-@":
        text = text[1:]  # our CSV export's guard against spreadsheet formulas
    return text or None


def _number(text: str, header: str) -> float:
    try:
        value = float(text.replace(",", "").replace("，", "").replace(" ", ""))
    except ValueError:
        raise CellError(NumberInvalid, f"{header}须为数字，而不是“{text}”") from None
    if not math.isfinite(value):
        raise CellError(NumberInvalid, f"{header}须为数字，而不是“{text}”")
    return value


def _integer(text: str, header: str) -> int:
    value = _number(text, header)
    if not value.is_integer():
        raise CellError(NumberInvalid, f"{header}须为整数，而不是“{text}”")
    return int(value)


_DATE = re.compile(r"^(\d{4})\s*[-/.年]\s*(\d{1,2})\s*[-/.月]\s*(\d{1,2})\s*日?$")


def _date(text: str, header: str) -> date:
    match = _DATE.match(text) or re.match(r"^(\d{4})(\d{2})(\d{2})$", text)
    try:
        if match is None:
            raise ValueError
        return date(int(match[1]), int(match[2]), int(match[3]))
    except ValueError:
        raise CellError(DateInvalid, f"{header}“{text}”不是有效日期（如 2027-12-31）") from None


def _choice(text: str, choices: dict[str, str], header: str) -> str:
    value = choices.get(text) or choices.get(text.lower())
    if value is None:
        allowed = "、".join(k for k in choices if not k.isascii())
        raise CellError(ChoiceInvalid, f"{header}“{text}”不是可选的值（可填：{allowed}）")
    return value


@cache
def _category_names() -> list[tuple[str, str]]:
    """(name, code) of every category, longest name first; names also without their (…) note."""
    pairs: dict[str, str] = {}
    for code, category in service.product_categories().items():
        pairs[category.name] = code
        short = re.sub(r"（.*?）|\(.*?\)", "", category.name).strip()
        if short and short != category.name:
            pairs.setdefault(short, code)
    return sorted(pairs.items(), key=lambda pair: -len(pair[0]))


def parse_categories(text: str) -> list[str]:
    """产品类别 cell → codes; unknown entries are kept as written so that validation names them."""
    for name, code in _category_names():
        if name in text:
            text = text.replace(name, f"；{code}；")
    seen: dict[str, None] = {}
    for part in _LIST_SEPARATORS.split(text):
        if part.strip():
            seen[part.strip()] = None
    return list(seen)


def _split_keep_empty(text: str | None) -> list[str]:
    return [] if text is None else [part.strip() for part in _LIST_SEPARATORS.split(text)]


# ------------------------------------------------------------------------------------------------ rows


@dataclass
class RowError:
    row: int
    column: str
    code: str
    message: str
    uscc: str | None

    def record(self, job_id: str) -> dict[str, Any]:
        return {
            "job_id": job_id,
            "row": self.row,
            "column": self.column[:50],
            "code": self.code[:50],
            "message": self.message[:500],
            "uscc": (self.uscc or "")[:40] or None,
        }


@dataclass
class Entry:
    """A checked row as plain data: what a unit would hold after it (made where the row is read)."""

    columns: dict[str, Any]  # service.scalar_columns, the phone not yet sealed
    phone: str | None  # as entered (None: blank, or masked and so unknown)
    categories: list[str]  # sorted codes
    certificates: list[dict[str, Any]]  # kind, number, category_code, valid_from, valid_until


@dataclass
class Row:
    """One data row after reading and validation; ``entry`` is set when it has no error."""

    number: int
    uscc_text: str | None
    uscc: str | None = None
    entry: Entry | None = None
    phone_unknown: bool = False
    errors: list[RowError] = field(default_factory=list)

    def fail(self, column: str, error: type[QSRError] | str, message: str) -> None:
        code = error if isinstance(error, str) else error.code
        self.errors.append(RowError(self.number, column, code, message, self.uscc_text))


_PYDANTIC_MESSAGES = {
    "string_too_long": "长度不能超过 {max_length} 个字符",
    "string_too_short": "不能为空",
    "too_long": "条目不能超过 {max_length} 个",
    "greater_than_equal": "不能小于 {ge}",
    "less_than_equal": "不能大于 {le}",
    "string_pattern_mismatch": "格式有误",
    "missing": "为必填项",
}
_PLACEHOLDERS: dict[str, Any] = {"uscc": "", "name": "", "region_code": "000000", "kind": None}


class RowReader:
    """Turns raw rows into checked ``Row``s (no database; runs in a worker thread or process). Keeps the
    USCCs seen so far to reject a repeated one (one short string per row: the only state that grows with
    the file)."""

    def __init__(self, columns: dict[str, int], caller: Caller, today: date, settings: Settings) -> None:
        self.columns = columns
        self.caller = caller
        self.today = today
        self.settings = settings
        self.seen: dict[str, int] = {}

    @property
    def present(self) -> frozenset[str]:
        return frozenset(self.columns)

    def cells(self, raw: Sequence[object]) -> dict[str, str | None]:
        return {name: _text(raw[i]) if i < len(raw) else None for name, i in self.columns.items()}

    def read(self, number: int, raw: Sequence[object]) -> Row | None:
        cells = self.cells(raw)
        if not any(cells.values()):
            return None  # a blank row
        row = Row(number=number, uscc_text=cells.get("uscc"))
        values, failed = self._values(row, cells)
        data = self._validate(row, values, failed)
        uscc, problems = service.check_fields(data, today=self.today)
        for problem in problems:
            if problem.field not in failed:
                row.fail(_problem_column(problem.field, cells), problem.code, problem.message)
        row.uscc = uscc
        if uscc is not None:
            first = self.seen.setdefault(uscc, number)
            if first != number:
                row.fail(
                    HEADER_OF["uscc"],
                    DuplicateInFile,
                    f"统一社会信用代码 {uscc} 与第 {first} 行重复，本行未导入",
                )
        if "region_code" not in failed and not any(e.column == HEADER_OF["region_code"] for e in row.errors):
            if not self._may_enter(data):
                row.fail(
                    HEADER_OF["region_code"],
                    service.OutOfJurisdiction,
                    f"注册地 {data.region_code} 不在您的管辖范围（{self.caller.region_code}）内",
                )
        if not row.errors:
            assert uscc is not None
            row.entry = Entry(
                columns=service.scalar_columns(
                    data.model_copy(update={"principal_phone": None}), uscc, self.settings
                ),
                phone=data.principal_phone,
                categories=sorted(set(data.product_categories)),
                certificates=[c.model_dump() | {"kind": c.kind.value} for c in data.certificates],
            )
        return row

    def _may_enter(self, data: LedgerFields) -> bool:
        if self.caller.can_see(data.region_code):
            return True
        return level_of(self.caller.region_code) == "station" and data.station_code == self.caller.region_code

    def _values(self, row: Row, cells: dict[str, str | None]) -> tuple[dict[str, Any], set[str]]:
        values: dict[str, Any] = {}
        failed: set[str] = set()
        for name, text in cells.items():
            if name in ("licence_numbers", "licence_valid_until", "ccc_numbers", "ccc_valid_until"):
                continue
            header = HEADER_OF[name]
            try:
                values[name] = self._cell(name, text, header, row)
            except CellError as exc:
                row.fail(header, exc.error, exc.message)
                failed.add(name)
        certificates: list[CertificateIn] = []
        for kind, (numbers_field, dates_field) in _CERT_COLUMNS.items():
            if numbers_field not in cells:
                continue  # without its numbers column the sheet says nothing of this kind of certificate
            try:
                certificates += self._certificates(kind, cells.get(numbers_field), cells.get(dates_field))
            except CellError as exc:
                row.fail(HEADER_OF[numbers_field], exc.error, exc.message)
                failed.add("certificates")
        values["certificates"] = certificates
        return values, failed

    def _cell(self, name: str, text: str | None, header: str, row: Row) -> Any:
        required = name in ("uscc", "name", "kind", "region_code", "employees", "revenue_wan_yuan")
        if text is None:
            if required or name == "entry_reason":
                raise CellError(CellRequired, f"{header}为必填项")
            return [] if name == "product_categories" else None
        if name == "kind":
            return _choice(text, _KINDS, header)
        if name == "sales_channel":
            return _choice(text, _CHANNELS, header)
        if name == "entry_reason":
            return _choice(text, _REASONS, header)
        if name in ("employees", "size_year"):
            return _integer(text, header)
        if name == "revenue_wan_yuan":
            return _number(text, header)
        if name == "product_categories":
            return parse_categories(text)
        if name == "principal_phone" and "*" in text:
            row.phone_unknown = True  # a masked phone from an export: not a value to store
            return None
        return text

    @staticmethod
    def _certificates(kind: str, numbers_text: str | None, dates_text: str | None) -> list[CertificateIn]:
        numbers = [n for n in _split_keep_empty(numbers_text) if n]
        dates = _split_keep_empty(dates_text)
        label = HEADER_OF[_CERT_COLUMNS[kind][0]]
        if not numbers:
            if any(dates):
                raise CellError(CellRequired, f"填写了有效期但没有{label}")
            return []
        if any(dates) and len(dates) != len(numbers):
            raise CellError(
                service.InvalidCertificate,
                f"{label}有 {len(numbers)} 个，有效期有 {len(dates)} 个，须一一对应（用；分隔）",
            )
        header = HEADER_OF[_CERT_COLUMNS[kind][1]]
        result = []
        for i, number in enumerate(numbers):
            until = _date(dates[i], header) if any(dates) and dates[i] else None
            try:
                result.append(CertificateIn(kind=kind, number=number, valid_until=until))  # type: ignore[arg-type]
            except ValidationError:
                raise CellError(ValueInvalid, f"{label}“{number[:80]}”过长（不超过60个字符）") from None
        return result

    def _validate(self, row: Row, values: dict[str, Any], failed: set[str]) -> LedgerFields:
        try:
            return LedgerFields.model_validate({k: v for k, v in values.items() if k not in failed})
        except ValidationError as exc:
            for err in exc.errors():
                name = str(err["loc"][0]) if err["loc"] else ""
                if name in failed:
                    continue
                failed.add(name)
                template = _PYDANTIC_MESSAGES.get(err["type"], "取值无效")
                header = _PROBLEM_COLUMN.get(name, name)
                row.fail(header, ValueInvalid, f"{header}{template.format(**err.get('ctx', {}))}")
        kept = {k: v for k, v in values.items() if k not in failed}
        return LedgerFields.model_construct(**{**_PLACEHOLDERS, **kept})


def _problem_column(field_name: str, cells: dict[str, str | None]) -> str:
    if (
        field_name in ("certificates", "sites")
        and not cells.get("licence_numbers")
        and cells.get("ccc_numbers")
    ):
        return HEADER_OF["ccc_numbers"]
    return _PROBLEM_COLUMN.get(field_name, field_name)


# ------------------------------------------------------------------------------------------------ files


def _sniff(upload: UploadFile) -> Literal["xlsx", "csv"]:
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


def _csv_encoding(binary: io.BufferedIOBase | Any) -> str:
    decoder = codecs.getincrementaldecoder("utf-8")()
    try:
        while block := binary.read(1 << 20):
            decoder.decode(block)
        decoder.decode(b"", final=True)
        return "utf-8-sig"
    except UnicodeDecodeError:
        return "gb18030"
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
        raise ImportFileUnreadable(f"无法读取该 .xlsx 文件（{type(exc).__name__}）") from exc
    yield from rows


def _sheet_rows(binary: Any, kind: str) -> Iterator[Sequence[object]]:
    """The rows of a file, header first, blank rows included (so numbers match the sheet)."""
    if kind == "xlsx" and _size_of(binary) <= XLSX_IN_MEMORY_MAX_BYTES:
        yield from _calamine_rows(binary)
        return
    if kind == "xlsx":  # streamed by openpyxl: slower, but memory does not grow with the file
        try:
            workbook = load_workbook(binary, read_only=True, data_only=True)
        except Exception as exc:  # openpyxl raises many kinds for a file that is not a workbook
            raise ImportFileUnreadable(f"无法读取该 .xlsx 文件（{type(exc).__name__}）") from exc
        try:
            if not workbook.worksheets:
                raise ImportFileUnreadable("该 .xlsx 文件没有工作表")
            sheet = workbook.worksheets[0]
            sheet.reset_dimensions()  # some writers store a wrong size; read every row there is
            yield from sheet.iter_rows(values_only=True)
        finally:
            workbook.close()
        return
    encoding = _csv_encoding(binary)
    text = io.TextIOWrapper(binary, encoding=encoding, newline="")
    try:
        yield from csv.reader(text)
    except (csv.Error, UnicodeDecodeError) as exc:
        raise ImportFileUnreadable(f"CSV 文件格式有误：{exc}") from exc
    finally:
        text.detach()


def _columns_of(header: Sequence[object] | None) -> dict[str, int]:
    if header is None:
        raise ImportFileUnreadable("导入文件是空的：第1行须为表头")
    return match_headers(header)


def _next_chunk(rows: Iterator[Sequence[object]], reader: RowReader, start: int) -> tuple[list[Row], int]:
    """Read and check up to CHUNK_ROWS non-blank rows; returns them and the next row number."""
    chunk: list[Row] = []
    number = start
    for raw in rows:
        row = reader.read(number, raw)
        number += 1
        if row is not None:
            chunk.append(row)
            if len(chunk) >= CHUNK_ROWS:
                break
    return chunk, number


class _ThreadSource:
    """Rows read and checked in a worker thread of the service (small files): the next chunk is read
    while the last one is written."""

    def __init__(self, binary: Any, kind: str, reader: partial[RowReader]) -> None:
        self.rows = _sheet_rows(binary, kind)
        self.make_reader = reader
        self.reader: RowReader | None = None

    async def start(self) -> frozenset[str]:
        header = await asyncio.to_thread(next, self.rows, None)
        self.reader = self.make_reader(_columns_of(header))
        return self.reader.present

    async def chunks(self) -> AsyncIterator[list[Row]]:
        assert self.reader is not None
        upcoming = asyncio.ensure_future(asyncio.to_thread(_next_chunk, self.rows, self.reader, 2))
        try:
            while True:
                chunk, number = await upcoming
                if not chunk:
                    return
                upcoming = asyncio.ensure_future(
                    asyncio.to_thread(_next_chunk, self.rows, self.reader, number)
                )
                yield chunk
        finally:
            await asyncio.wait({upcoming})  # the thread must let go of the file before it is closed

    async def close(self) -> None:
        self.rows.close()


def _read_in_child(
    path: str, kind: str, make_reader: partial[RowReader], out: Any, parent: int
) -> None:  # pragma: no cover - runs in the child process
    """The reading side of a large import: parse and check rows, hand them over in chunks (the queue is
    short, so memory stays bounded); give up if the service went away."""

    def put(message: tuple[Any, ...]) -> None:
        while True:
            try:
                out.put(message, timeout=1)
                return
            except queue.Full:
                if os.getppid() != parent:
                    raise SystemExit(0) from None

    try:
        with open(path, "rb") as binary:
            rows = _sheet_rows(binary, kind)
            reader = make_reader(_columns_of(next(rows, None)))
            put(("header", reader.present))
            number = 2
            while True:
                chunk, number = _next_chunk(rows, reader, number)
                put(("rows", chunk))
                if not chunk:
                    return
    except QSRError as exc:
        put(("refused", type(exc).__name__, exc.detail, exc.extra))
    except Exception as exc:
        put(("failed", f"{type(exc).__name__}: {exc}"))


_REFUSALS: dict[str, type[QSRError]] = {
    cls.__name__: cls for cls in (ImportColumnsMissing, ImportFileUnreadable, ImportFileType)
}


class _ProcessSource:
    """Rows read and checked in a child process (large files), so that reading and writing use two cores."""

    def __init__(self, binary: Any, kind: str, reader: partial[RowReader]) -> None:
        fd, self.path = tempfile.mkstemp(prefix="qsr-import-", suffix=f".{kind}")
        with os.fdopen(fd, "wb") as copy:
            shutil.copyfileobj(binary, copy, 1 << 20)
        context = multiprocessing.get_context("spawn")
        self.queue = context.Queue(maxsize=4)
        self.process = context.Process(
            target=_read_in_child,
            args=(self.path, kind, reader, self.queue, os.getpid()),
            name="qsr-import-reader",
            daemon=True,
        )

    async def _get(self) -> tuple[Any, ...]:
        while True:
            try:
                message = await asyncio.to_thread(self.queue.get, True, 0.5)
            except queue.Empty:
                if not self.process.is_alive():
                    raise RuntimeError("the import reader process ended unexpectedly") from None
                continue
            if message[0] == "refused":
                raise _REFUSALS.get(message[1], ImportFileUnreadable)(message[2], **message[3])
            if message[0] == "failed":
                raise RuntimeError(message[1])
            return message

    async def start(self) -> frozenset[str]:
        await asyncio.to_thread(self.process.start)
        _, present = await self._get()
        return present

    async def chunks(self) -> AsyncIterator[list[Row]]:
        while True:
            _, chunk = await self._get()
            if not chunk:
                return
            yield chunk

    async def close(self) -> None:
        if self.process.pid is not None:
            if self.process.is_alive():
                self.process.terminate()
            await asyncio.to_thread(self.process.join, 10)
        self.queue.close()
        self.queue.cancel_join_thread()
        os.unlink(self.path)


def _source(upload: UploadFile, kind: str, reader: partial[RowReader]) -> _ThreadSource | _ProcessSource:
    size = upload.size if upload.size is not None else upload.file.seek(0, os.SEEK_END)
    upload.file.seek(0)
    source = _ProcessSource if size >= PROCESS_READ_MIN_BYTES else _ThreadSource
    return source(upload.file, kind, reader)


# ------------------------------------------------------------------------------------------------ writing

_ENTERPRISE = Enterprise.__table__  # type: ignore[attr-defined]
_NEW_UNIT_DEFAULTS: dict[str, Any] = {
    "operating_status": "normal",
    "status_effective_on": None,
    "status_reason": None,
    "tier": None,
    "supervision_class": "routine",
    "locked": False,
    "responsible_inspector": None,
    "responsible_inspector_name": None,
    "has_quality_director": False,
    "has_risk_control_list": False,
    "self_check_overdue_since": None,
    "version": 1,
}
_UPDATE_UNIT = (
    update(_ENTERPRISE)
    .where(_ENTERPRISE.c.id == bindparam("b_id"), _ENTERPRISE.c.version == bindparam("b_version"))
    .values(
        {name: bindparam(f"b_{name}") for name in (*_SHEET_SCALARS, "principal_phone_enc")}
        | {"version": bindparam("b_new_version"), "updated_at": bindparam("b_updated_at")}
    )
)


class _ChunkConflict(Exception):
    """A unit of the chunk changed between reading and writing: the chunk is redone row by row."""


def _cert_snapshot(cert: dict[str, Any]) -> dict[str, Any]:
    return {
        key: str(cert[key]) if isinstance(cert[key], date) else cert[key]
        for key in ("kind", "number", "category_code", "valid_from", "valid_until")
    }


def _cert_key(cert: dict[str, Any]) -> tuple[str, str]:
    return cert["kind"], cert["number"]


def _event_payload(unit: dict[str, Any], categories: list[str]) -> EnterpriseRegistered:
    return EnterpriseRegistered(
        enterprise_id=unit["id"],
        uscc=unit["uscc"],
        name=unit["name"],
        kind=unit["kind"],
        sales_channel=unit["sales_channel"],
        region_code=unit["region_code"],
        employees=unit["employees"],
        revenue_wan_yuan=unit["revenue_wan_yuan"],
        entry_reason=unit["entry_reason"],
        operating_status=unit["operating_status"],
        station_code=unit["station_code"],
        size_year=unit["size_year"],
        product_categories=categories,
    )


def _reason(filename: str) -> str:
    return f"批量导入 {filename}"[:500]


_NOT_IN_SNAPSHOT = frozenset({"created_at", "updated_at", "version"})


def audit_row(
    caller: Caller, enterprise_id: str, action: str, changes: dict[str, Any], reason: str, now: datetime
) -> dict[str, Any]:
    """An ``audit_entry`` row as ``audit.record`` writes it, for a bulk insert."""
    return {
        "id": new_id(),
        "enterprise_id": enterprise_id,
        "entity": "enterprise",
        "entity_id": enterprise_id,
        "action": action,
        "actor": caller.username,
        "actor_role": caller.role,
        "at": now,
        "changes": json.dumps(changes, ensure_ascii=False, default=str),
        "reason": reason,
    }


def outbox_row(spec: Any, unit: dict[str, Any], categories: list[str]) -> dict[str, Any]:
    """An ``outbox`` row as ``messaging.emit`` writes it, for a bulk insert."""
    event = make_event(
        spec, _event_payload(unit, categories), region=unit["region_code"], enterprise_id=unit["id"]
    )
    return {
        "event_id": event.id,
        "subject": spec.subject,
        "type": spec.type,
        "body": event.model_dump_json(),
        "created_at": event.time,
    }


@dataclass
class Outcome:
    created: int = 0
    updated: int = 0
    unchanged: int = 0
    rejected: int = 0
    errors: list[RowError] = field(default_factory=list)


@dataclass
class _Writes:
    """What one chunk writes, as rows for bulk statements."""

    units: list[dict[str, Any]] = field(default_factory=list)
    unit_updates: list[dict[str, Any]] = field(default_factory=list)
    replace_categories: list[str] = field(default_factory=list)
    replace_certificates: list[str] = field(default_factory=list)
    categories: list[dict[str, Any]] = field(default_factory=list)
    certificates: list[dict[str, Any]] = field(default_factory=list)
    audit: list[dict[str, Any]] = field(default_factory=list)
    outbox: list[dict[str, Any]] = field(default_factory=list)


class Importer:
    """One import: reads the sheet in chunks, plans each chunk against the ledger, writes it in one
    transaction with bulk statements (units, children, audit entries and outbox rows)."""

    def __init__(
        self, db: Database, caller: Caller, settings: Settings, job: ImportJob, present: frozenset[str]
    ) -> None:
        self.db = db
        self.caller = caller
        self.settings = settings
        self.job = job
        self.present = present
        self.vault = pii.vault(settings)
        self.reason = _reason(job.filename)
        self.outcome = Outcome()

    async def run_chunk(self, rows: list[Row]) -> None:
        errors = [e for row in rows for e in row.errors]
        self.outcome.rejected += sum(1 for row in rows if row.errors)
        good = [row for row in rows if row.entry is not None]
        if self.job.dry_run:
            async with self.db.session() as session:
                plan = await self._plan(session, good, Outcome())
            self._count(plan)
            await self._save_errors(errors + plan.errors)
            return
        try:
            async with self.db.transaction() as session:
                plan = await self._plan(session, good, Outcome(), lock=True)
                await self._write(session, plan.writes)
                await self._insert_errors(session, errors + plan.errors)
            self._count(plan)
        except (IntegrityError, _ChunkConflict):
            # Someone entered or changed one of these units meanwhile: redo each row on its own.
            await self._save_errors(errors)
            for row in good:
                await self._run_alone(row)

    async def _run_alone(self, row: Row) -> None:
        try:
            async with self.db.transaction() as session:
                plan = await self._plan(session, [row], Outcome(), lock=True)
                await self._write(session, plan.writes)
                await self._insert_errors(session, plan.errors)
            self._count(plan)
        except (IntegrityError, _ChunkConflict):
            error = RowError(
                row.number,
                HEADER_OF["uscc"],
                WriteConflict.code,
                f"导入时统一社会信用代码 {row.uscc} 的单位被同时录入或修改，本行未导入，请重新导入本行",
                row.uscc_text,
            )
            self.outcome.rejected += 1
            await self._save_errors([error])

    def _count(self, plan: _Plan) -> None:
        o = self.outcome
        o.created += plan.outcome.created
        o.updated += plan.outcome.updated
        o.unchanged += plan.outcome.unchanged
        o.rejected += plan.outcome.rejected

    async def _save_errors(self, errors: list[RowError]) -> None:
        if errors:
            async with self.db.transaction() as session:
                await self._insert_errors(session, errors)

    async def _insert_errors(self, session: AsyncSession, errors: list[RowError]) -> None:
        if errors:
            await session.execute(insert(ImportRowError.__table__), [e.record(self.job.id) for e in errors])  # type: ignore[attr-defined]

    # -------------------------------------------------------------------------------------- planning

    async def _plan(
        self, session: AsyncSession, rows: list[Row], outcome: Outcome, lock: bool = False
    ) -> _Plan:
        plan = _Plan(outcome=outcome, writes=_Writes())
        if not rows:
            return plan
        stmt = select(_ENTERPRISE).where(_ENTERPRISE.c.uscc.in_([row.uscc for row in rows]))
        if lock:
            stmt = stmt.with_for_update()  # PostgreSQL; SQLite checks the version when writing instead
        stored = {unit["uscc"]: dict(unit) for unit in (await session.execute(stmt)).mappings()}
        ids = [unit["id"] for unit in stored.values()]
        categories: dict[str, list[str]] = defaultdict(list)
        certificates: dict[str, list[dict[str, Any]]] = defaultdict(list)
        if ids:
            links = await session.execute(
                select(ProductCategoryLink.enterprise_id, ProductCategoryLink.category_code)
                .where(ProductCategoryLink.enterprise_id.in_(ids))  # type: ignore[attr-defined]
                .order_by(ProductCategoryLink.category_code)
            )
            for enterprise_id, code in links.all():
                categories[enterprise_id].append(code)
            certs = await session.execute(
                select(Certificate.__table__).where(Certificate.__table__.c.enterprise_id.in_(ids))  # type: ignore[attr-defined]
            )
            for cert in certs.mappings():
                certificates[cert["enterprise_id"]].append(dict(cert))
        now = utcnow()
        changed: list[tuple[Row, dict[str, Any], dict[str, Any], dict[str, Any]]] = []
        for row in rows:
            unit = stored.get(row.uscc or "")
            if unit is None:
                self._plan_new(plan, row, now)
                continue
            if not repository.supervises(self.caller, SimpleNamespace(**unit)):  # type: ignore[arg-type]
                plan.reject(
                    row,
                    HEADER_OF["uscc"],
                    UnitOutOfJurisdiction,
                    f"统一社会信用代码 {row.uscc} 的单位已在台账中，但注册地不在您的管辖范围内，不能通过导入修改",
                )
                continue
            before, after = self._compare(row, unit, categories[unit["id"]], certificates[unit["id"]])
            if before == after:
                plan.outcome.unchanged += 1
            else:
                changed.append((row, unit, before, after))
        if changed:
            await self._plan_changes(session, plan, changed, now)
        return plan

    def _plan_new(self, plan: _Plan, row: Row, now: datetime) -> None:
        entry = row.entry
        assert entry is not None
        unit = {
            "id": new_id(),
            **entry.columns,
            "principal_phone_enc": self.vault.seal(entry.phone),
            "entry_path": "import",
            **_NEW_UNIT_DEFAULTS,
            "created_by": self.caller.username,
            "created_at": now,
            "updated_at": now,
        }
        certificates = [{"id": new_id(), "enterprise_id": unit["id"], **c} for c in entry.certificates]
        # What service.snapshot shows of a new unit (None fields left out: audit.diff skips them anyway).
        snapshot = {k: v for k, v in unit.items() if v is not None and k not in _NOT_IN_SNAPSHOT}
        snapshot |= {
            "product_categories": entry.categories,
            "certificates": [_cert_snapshot(c) for c in certificates],
            "sites": [],
        }
        w = plan.writes
        w.units.append(unit)
        w.categories += [{"enterprise_id": unit["id"], "category_code": code} for code in entry.categories]
        w.certificates += certificates
        w.audit.append(
            audit_row(self.caller, unit["id"], "registered", audit.diff({}, snapshot), self.reason, now)
        )
        w.outbox.append(outbox_row(ENTERPRISE_REGISTERED, unit, entry.categories))
        plan.outcome.created += 1

    def _compare(
        self, row: Row, unit: dict[str, Any], categories: list[str], certificates: list[dict[str, Any]]
    ) -> tuple[dict[str, Any], dict[str, Any]]:
        """What the unit holds, and what it would hold after this row (the fields the sheet carries)."""
        new = row.entry
        assert new is not None
        before: dict[str, Any] = {name: unit[name] for name in _SHEET_SCALARS}
        before["product_categories"] = categories
        before["certificates"] = sorted((_cert_snapshot(c) for c in certificates), key=_cert_key)
        after = dict(before)
        for name in _SHEET_SCALARS:
            if name in self.present:
                after[name] = new.columns[name]
        if "product_categories" in self.present:
            after["product_categories"] = new.categories
        kinds = {kind for kind, (numbers, _) in _CERT_COLUMNS.items() if numbers in self.present}
        if kinds:
            kept = {_cert_key(c): c for c in before["certificates"]}
            merged = [c for c in before["certificates"] if c["kind"] not in kinds]
            for cert in new.certificates:
                old = kept.get(_cert_key(cert), {})
                merged.append(
                    {
                        "kind": cert["kind"],
                        "number": cert["number"],
                        "category_code": old.get("category_code"),
                        "valid_from": old.get("valid_from"),
                        "valid_until": str(cert["valid_until"]) if cert["valid_until"] else None,
                    }
                )
            after["certificates"] = sorted(merged, key=_cert_key)
        if "principal_phone" in self.present and not row.phone_unknown:
            stored_phone = self.vault.open(unit["principal_phone_enc"])
            if new.phone != stored_phone:
                before["principal_phone"] = stored_phone
                after["principal_phone"] = new.phone
        return before, after

    async def _plan_changes(
        self,
        session: AsyncSession,
        plan: _Plan,
        changed: list[tuple[Row, dict[str, Any], dict[str, Any], dict[str, Any]]],
        now: datetime,
    ) -> None:
        ids = [unit["id"] for _, unit, _, _ in changed]
        sites: dict[str, list[SiteIn]] = defaultdict(list)
        rows = await session.execute(
            select(ProductionSite.enterprise_id, ProductionSite.region_code, ProductionSite.address).where(
                ProductionSite.enterprise_id.in_(ids)  # type: ignore[attr-defined]
            )
        )
        for enterprise_id, region_code, address in rows.all():
            sites[enterprise_id].append(SiteIn(region_code=region_code, address=address))
        w = plan.writes
        for row, unit, before, after in changed:
            # The merged record (stored fields the sheet leaves out included) must still be a valid one.
            merged = LedgerFields.model_construct(
                **{name: after[name] for name in _SHEET_SCALARS},
                uscc=unit["uscc"],
                principal_phone=None,
                product_categories=after["product_categories"],
                certificates=[CertificateIn.model_validate(c) for c in after["certificates"]],
                sites=sites[unit["id"]],
                entry_reason=unit["entry_reason"],
            )
            _uscc, problems = service.check_fields(merged, today=today_cn())
            if problems:
                for problem in problems:
                    plan.reject(
                        row,
                        _PROBLEM_COLUMN.get(problem.field, problem.field),
                        problem.code,
                        problem.message,
                        count=False,
                    )
                plan.outcome.rejected += 1
                continue
            phone_enc = unit["principal_phone_enc"]
            if "principal_phone" in after:
                phone_enc = self.vault.seal(after["principal_phone"])
            new = {**unit, **{name: after[name] for name in _SHEET_SCALARS}, "principal_phone_enc": phone_enc}
            new |= {"version": unit["version"] + 1, "updated_at": now}
            w.unit_updates.append(
                {f"b_{name}": new[name] for name in (*_SHEET_SCALARS, "principal_phone_enc")}
                | {
                    "b_id": unit["id"],
                    "b_version": unit["version"],
                    "b_new_version": new["version"],
                    "b_updated_at": now,
                }
            )
            if after["product_categories"] != before["product_categories"]:
                w.replace_categories.append(unit["id"])
                w.categories += [
                    {"enterprise_id": unit["id"], "category_code": c} for c in after["product_categories"]
                ]
            if after["certificates"] != before["certificates"]:
                w.replace_certificates.append(unit["id"])
                w.certificates += [
                    {
                        "id": new_id(),
                        "enterprise_id": unit["id"],
                        **c,
                        "valid_from": date.fromisoformat(c["valid_from"]) if c["valid_from"] else None,
                        "valid_until": date.fromisoformat(c["valid_until"]) if c["valid_until"] else None,
                    }
                    for c in after["certificates"]
                ]
            old, fresh = dict(before), dict(after)
            if "principal_phone" in fresh:  # only "it changed" goes into the trail (audit.diff redacts *_enc)
                old["principal_phone_enc"], fresh["principal_phone_enc"] = "old", "new"
                del old["principal_phone"], fresh["principal_phone"]
            w.audit.append(
                audit_row(self.caller, unit["id"], "imported", audit.diff(old, fresh), self.reason, now)
            )
            w.outbox.append(outbox_row(ENTERPRISE_UPDATED, new, after["product_categories"]))
            plan.outcome.updated += 1

    async def _write(self, session: AsyncSession, w: _Writes) -> None:
        if w.units:
            await session.execute(insert(_ENTERPRISE), w.units)
        if w.unit_updates:
            result = await session.execute(_UPDATE_UNIT, w.unit_updates)
            if self.db.engine.dialect.supports_sane_multi_rowcount and result.rowcount != len(w.unit_updates):  # type: ignore[attr-defined]
                raise _ChunkConflict()
        if w.replace_categories:
            await session.execute(
                delete(ProductCategoryLink).where(ProductCategoryLink.enterprise_id.in_(w.replace_categories))  # type: ignore[attr-defined]
            )
        if w.replace_certificates:
            await session.execute(
                delete(Certificate).where(Certificate.enterprise_id.in_(w.replace_certificates))  # type: ignore[attr-defined]
            )
        if w.categories:
            await session.execute(insert(ProductCategoryLink.__table__), w.categories)  # type: ignore[attr-defined]
        if w.certificates:
            await session.execute(insert(Certificate.__table__), w.certificates)  # type: ignore[attr-defined]
        if w.audit:
            await session.execute(insert(AuditEntry.__table__), w.audit)  # type: ignore[attr-defined]
        if w.outbox:
            await session.execute(insert(OutboxMessage.__table__), w.outbox)  # type: ignore[attr-defined]
            session.info["outbox_dirty"] = True  # the relay publishes once this commits


@dataclass
class _Plan:
    outcome: Outcome
    writes: _Writes

    def reject(
        self, row: Row, column: str, error: type[QSRError] | str, message: str, *, count: bool = True
    ) -> None:
        code = error if isinstance(error, str) else error.code
        self.outcome.errors.append(RowError(row.number, column, code, message, row.uscc_text))
        if count:
            self.outcome.rejected += 1

    @property
    def errors(self) -> list[RowError]:
        return self.outcome.errors


async def import_sheet(
    *, db: Database, caller: Caller, settings: Settings, upload: UploadFile, dry_run: bool
) -> ImportJob:
    """批量导入: check every row, write the good ones in chunks; returns the job with its totals (its
    errors are stored as ``import_error`` rows)."""
    if not caller.is_regulator:
        raise service.RegulatorOnly("企业用户请通过“企业填报”提交本单位信息")
    if upload.size is not None and upload.size > IMPORT_MAX_BYTES:
        raise ImportFileTooLarge(f"导入文件不能超过 {IMPORT_MAX_BYTES // 1024 // 1024} MB，请分批导入")
    kind = await asyncio.to_thread(_sniff, upload)
    filename = re.split(r"[\\/]", upload.filename or "")[-1][-200:] or f"import.{kind}"
    reader = partial(RowReader, caller=caller, today=today_cn(), settings=settings)
    source = await asyncio.to_thread(_source, upload, kind, reader)
    try:
        present = await source.start()
        return await _import_rows(
            db=db,
            caller=caller,
            settings=settings,
            filename=filename,
            dry_run=dry_run,
            source=source,
            present=present,
        )
    finally:
        await source.close()


async def _import_rows(
    *,
    db: Database,
    caller: Caller,
    settings: Settings,
    filename: str,
    dry_run: bool,
    source: _ThreadSource | _ProcessSource,
    present: frozenset[str],
) -> ImportJob:
    job = ImportJob(
        id=new_id(),
        filename=filename,
        dry_run=dry_run,
        status="running",
        created_by=caller.username,
        region_code=caller.region_code,
        created_at=utcnow(),
    )
    async with db.transaction() as session:
        session.add(job)
    importer = Importer(db, caller, settings, job, present)
    total = 0
    running: list[asyncio.Task[None]] = []
    try:
        async with aclosing(source.chunks()) as chunks:
            async for chunk in chunks:
                total += len(chunk)
                # A chunk is looked up and planned while the one before it is written (two transactions at
                # most): their USCCs never overlap, a repeated USCC being rejected where rows are read.
                running.append(asyncio.create_task(importer.run_chunk(chunk)))
                if len(running) == 2:
                    await running.pop(0)
        while running:
            await running.pop(0)
    except BaseException:
        for task in running:
            task.cancel()
        await asyncio.gather(*running, return_exceptions=True)
        async with db.transaction() as session:
            await session.execute(
                update(ImportJob).where(ImportJob.id == job.id).values(status="failed", total_rows=total)  # type: ignore[arg-type]
            )
        raise
    o = importer.outcome
    job.status, job.total_rows = "done", total
    job.created, job.updated, job.unchanged, job.rejected = o.created, o.updated, o.unchanged, o.rejected
    async with db.transaction() as session:
        await session.execute(
            update(ImportJob)
            .where(ImportJob.id == job.id)  # type: ignore[arg-type]
            .values(
                status=job.status,
                total_rows=total,
                created=o.created,
                updated=o.updated,
                unchanged=o.unchanged,
                rejected=o.rejected,
            )
        )
    return job


# ------------------------------------------------------------------------------------------------ export

_EXPORT_COLUMNS = (
    "id",
    "uscc",
    "name",
    "kind",
    "sales_channel",
    "region_code",
    "station_code",
    "registered_address",
    "principal_name",
    "principal_phone_enc",
    "employees",
    "revenue_wan_yuan",
    "size_year",
    "entry_reason",
    "entry_note",
)


def _plain_number(value: float | int | None) -> int | float | None:
    if isinstance(value, float) and value.is_integer():
        return int(value)
    return value


@dataclass(frozen=True)
class ExportFilter:
    region_code: str | None = None
    kind: EnterpriseKind | None = None
    operating_status: OperatingStatus | None = None

    def conditions(self, caller: Caller) -> list[Any]:
        conditions = [repository.registered_within(caller)]
        if self.region_code:
            prefix = self.region_code  # as repository.in_region: a range of 6-digit codes, an index condition
            conditions.append(_ENTERPRISE.c.region_code.between(prefix.ljust(6, "0"), prefix.ljust(6, "9")))
        if self.kind:
            conditions.append(_ENTERPRISE.c.kind == self.kind.value)
        if self.operating_status:
            conditions.append(_ENTERPRISE.c.operating_status == self.operating_status.value)
        return conditions


async def export_rows(
    db: Database, caller: Caller, settings: Settings, filters: ExportFilter
) -> AsyncIterator[list[list[Any]]]:
    """The caller's ledger in the sheet layout, chunk by chunk: region by region, and within a region by id
    (keyset on the index (region_code, id): every chunk is one short read, however large the ledger)."""
    conditions = filters.conditions(caller)
    async with db.session() as session:
        stmt = (
            select(_ENTERPRISE.c.region_code)
            .where(*conditions)
            .distinct()
            .order_by(_ENTERPRISE.c.region_code)
        )
        regions = (await session.execute(stmt)).scalars().all()
    for region in regions:
        async for chunk in _export_region(
            db, caller, settings, [*conditions, _ENTERPRISE.c.region_code == region]
        ):
            yield chunk


async def _export_region(
    db: Database, caller: Caller, settings: Settings, conditions: list[Any]
) -> AsyncIterator[list[list[Any]]]:
    vault = pii.vault(settings)
    show_pii = pii.may_read_pii(caller, settings)
    names = {code: c.name for code, c in service.product_categories().items()}
    last = ""
    while True:
        async with db.session() as session:
            stmt = (
                select(*(_ENTERPRISE.c[name] for name in _EXPORT_COLUMNS))
                .where(*conditions, _ENTERPRISE.c.id > last)
                .order_by(_ENTERPRISE.c.id)
                .limit(EXPORT_CHUNK_ROWS)
            )
            units = (await session.execute(stmt)).all()
            if not units:
                return
            ids = [unit.id for unit in units]
            categories: dict[str, list[str]] = defaultdict(list)
            links = await session.execute(
                select(ProductCategoryLink.enterprise_id, ProductCategoryLink.category_code)
                .where(ProductCategoryLink.enterprise_id.in_(ids))  # type: ignore[attr-defined]
                .order_by(ProductCategoryLink.category_code)
            )
            for enterprise_id, code in links.all():
                categories[enterprise_id].append(names.get(code, code))
            certificates: dict[tuple[str, str], list[Any]] = defaultdict(list)
            certs = await session.execute(
                select(
                    Certificate.enterprise_id, Certificate.kind, Certificate.number, Certificate.valid_until
                )
                .where(Certificate.enterprise_id.in_(ids))  # type: ignore[attr-defined]
                .order_by(Certificate.kind, Certificate.number)
            )
            for enterprise_id, kind, number, valid_until in certs.all():
                certificates[(enterprise_id, kind)].append((number, valid_until))
        chunk = []
        for unit in units:
            phone = vault.open(unit.principal_phone_enc)
            sheet_certs: list[str | None] = []
            for kind in ("production_licence", "ccc"):
                held = certificates.get((unit.id, kind), [])
                sheet_certs.append("；".join(number for number, _ in held) or None)
                dates = [until.isoformat() if until else "" for _, until in held]
                sheet_certs.append("；".join(dates) if any(dates) else None)
            chunk.append(
                [
                    unit.uscc,
                    unit.name,
                    _KIND_NAMES.get(unit.kind, unit.kind),
                    _CHANNEL_NAMES.get(unit.sales_channel or "", unit.sales_channel),
                    unit.region_code,
                    unit.station_code,
                    unit.registered_address,
                    unit.principal_name,
                    phone if show_pii else pii.mask_phone(phone),
                    unit.employees,
                    _plain_number(unit.revenue_wan_yuan),
                    unit.size_year,
                    "、".join(categories.get(unit.id, [])) or None,
                    *sheet_certs,
                    ENTRY_REASON_NAMES.get(unit.entry_reason, unit.entry_reason),
                    unit.entry_note,
                ]
            )
        yield chunk
        if len(units) < EXPORT_CHUNK_ROWS:
            return
        last = units[-1].id


def _csv_cell(value: Any) -> Any:
    if isinstance(value, str) and value[:1] in ("=", "+", "-", "@"):
        return "'" + value
    return value


async def csv_stream(header: list[str], chunks: AsyncIterator[list[list[Any]]]) -> AsyncIterator[bytes]:
    """UTF-8 with BOM (so that Excel shows the Chinese), one piece per chunk of rows."""
    buffer = io.StringIO()
    writer = csv.writer(buffer)
    writer.writerow(header)
    yield ("\ufeff" + buffer.getvalue()).encode()
    async for chunk in chunks:
        buffer.seek(0)
        buffer.truncate()
        writer.writerows([_csv_cell(v) for v in row] for row in chunk)
        yield buffer.getvalue().encode()


def _append(sheet: Any, rows: Iterable[list[Any]]) -> None:
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


async def xlsx_file(title: str, header: list[str], chunks: AsyncIterator[list[list[Any]]]) -> Any:
    """A write-only workbook (rows go to a temporary file as they come), saved into a spooled file."""
    workbook = Workbook(write_only=True)
    sheet = workbook.create_sheet(title)
    sheet.append(header)
    async for chunk in chunks:
        await asyncio.to_thread(_append, sheet, chunk)
    spool = tempfile.SpooledTemporaryFile(max_size=_SPOOL_BYTES)
    await asyncio.to_thread(workbook.save, spool)
    spool.seek(0)
    return spool


async def _file_stream(spool: Any) -> AsyncIterator[bytes]:
    try:
        while block := await asyncio.to_thread(spool.read, 1 << 16):
            yield block
    finally:
        spool.close()


_MEDIA = {
    "csv": "text/csv; charset=utf-8",
    "xlsx": "application/vnd.openxmlformats-officedocument.spreadsheetml.sheet",
}


def _download_headers(ascii_name: str, name: str) -> dict[str, str]:
    return {"Content-Disposition": f"attachment; filename=\"{ascii_name}\"; filename*=UTF-8''{quote(name)}"}


async def sheet_response(
    fmt: str,
    title: str,
    header: list[str],
    chunks: AsyncIterator[list[list[Any]]],
    ascii_name: str,
    name: str,
) -> StreamingResponse:
    headers = _download_headers(f"{ascii_name}.{fmt}", f"{name}.{fmt}")
    if fmt == "csv":
        return StreamingResponse(csv_stream(header, chunks), media_type=_MEDIA["csv"], headers=headers)
    spool = await xlsx_file(title, header, chunks)
    return StreamingResponse(_file_stream(spool), media_type=_MEDIA["xlsx"], headers=headers)


# ------------------------------------------------------------------------------------------------ API


class ImportErrorPublic(BaseModel):
    row: int = Field(title="行号（与表格一致，表头为第1行）")
    column: str = Field(title="列")
    code: str = Field(title="错误代码")
    message: str = Field(title="错误说明")
    uscc: str | None = Field(default=None, title="该行的统一社会信用代码（原样）")


class ImportJobPublic(BaseModel):
    id: str
    filename: str
    dry_run: bool = Field(description="试导入：只校验，不写入")
    status: str = Field(description="running 进行中 | done 完成 | failed 中断")
    total_rows: int = Field(description="数据行数（不含表头和空行）")
    created: int = Field(description="新录入单位数")
    updated: int = Field(description="有变化而更新的单位数")
    unchanged: int = Field(description="与台账一致、未写入的行数")
    rejected: int = Field(description="有错误、未导入的行数")
    error_count: int = Field(description="错误总条数（一行可有多条）")
    errors: list[ImportErrorPublic] = Field(
        description=f"前 {ERRORS_IN_RESPONSE} 条错误；全部错误请下载错误清单"
    )
    created_by: str
    region_code: str
    created_at: UTCDateTime


def _job_public(job: ImportJob, errors: Sequence[Any], error_count: int) -> ImportJobPublic:
    return ImportJobPublic(
        **job.model_dump(),
        error_count=error_count,
        errors=[ImportErrorPublic.model_validate(e, from_attributes=True) for e in errors],
    )


@router.post(
    "/enterprises/import",
    status_code=201,
    response_model=ImportJobPublic,
    summary="批量导入台账（.xlsx 或 .csv，按统一社会信用代码新增或更新）",
    description=__doc__,
)
async def import_enterprises(
    request: Request,
    db: DbDep,
    caller: CallerDep,
    file: Annotated[UploadFile, File(description="台账表格：.xlsx 或 .csv（UTF-8/GB18030）")],
    dry_run: Annotated[bool, Query(description="只校验不写入")] = False,
) -> ImportJobPublic:
    job = await import_sheet(
        db=db, caller=caller, settings=request.app.state.settings, upload=file, dry_run=dry_run
    )
    async with db.session() as session:
        return await _job_summary(session, job)


async def _require_job(session: AsyncSession, caller: Caller, job_id: str) -> ImportJob:
    """The job, if the caller's jurisdiction contains the region of the one who ran it (404 otherwise)."""
    job = await session.get(ImportJob, job_id)
    if job is None or not caller.is_regulator or not caller.can_see(job.region_code):
        raise ImportJobNotFound()
    return job


async def _job_summary(session: AsyncSession, job: ImportJob) -> ImportJobPublic:
    """The job with its first errors (by row) and how many there are."""
    errors = await session.execute(
        select(ImportRowError)
        .where(ImportRowError.job_id == job.id)
        .order_by(ImportRowError.row, ImportRowError.id)  # type: ignore[arg-type]
        .limit(ERRORS_IN_RESPONSE)
    )
    count = await session.execute(
        select(func.count()).select_from(ImportRowError).where(ImportRowError.job_id == job.id)
    )
    return _job_public(job, errors.scalars().all(), count.scalar_one())


@router.get("/imports/{job_id}", response_model=ImportJobPublic, summary="导入任务结果")
async def get_import(job_id: str, db: DbDep, caller: CallerDep) -> ImportJobPublic:
    async with db.session() as session:
        return await _job_summary(session, await _require_job(session, caller, job_id))


_ERROR_HEADERS = ["行号", "列", "错误代码", "错误说明", "统一社会信用代码"]


async def _error_rows(db: Database, job_id: str) -> AsyncIterator[list[list[Any]]]:
    last = 0
    while True:
        async with db.session() as session:
            rows = (
                await session.execute(
                    select(
                        ImportRowError.id,
                        ImportRowError.row,
                        ImportRowError.column,
                        ImportRowError.code,
                        ImportRowError.message,
                        ImportRowError.uscc,
                    )
                    .where(ImportRowError.job_id == job_id, ImportRowError.id > last)  # type: ignore[operator]
                    .order_by(ImportRowError.id)  # type: ignore[arg-type]
                    .limit(5000)
                )
            ).all()
        if not rows:
            return
        yield [list(row[1:]) for row in rows]
        last = rows[-1][0]


@router.get(
    "/imports/{job_id}/errors.{fmt}",
    summary="下载导入错误清单（行号、列、错误代码、说明、统一社会信用代码）",
    response_class=StreamingResponse,
)
async def download_import_errors(
    job_id: str, fmt: Literal["xlsx", "csv"], db: DbDep, caller: CallerDep
) -> StreamingResponse:
    async with db.session() as session:
        job = await _require_job(session, caller, job_id)
    stem = re.sub(r"\.[^.]*$", "", job.filename)
    return await sheet_response(
        fmt,
        "错误清单",
        _ERROR_HEADERS,
        _error_rows(db, job_id),
        f"import-errors-{job_id}",
        f"{stem}-错误清单",
    )


@router.get(
    "/enterprises/export",
    summary="导出台账（与导入同一格式；本辖区注册的单位；无行数上限，流式输出）",
    response_class=StreamingResponse,
)
async def export_enterprises(
    request: Request,
    db: DbDep,
    caller: CallerDep,
    fmt: Annotated[Literal["xlsx", "csv"], Query(alias="format", description="xlsx 或 csv")] = "xlsx",
    region_code: Annotated[str | None, Query(pattern=r"^\d{2,6}$", description="行政区划代码前缀")] = None,
    kind: EnterpriseKind | None = None,
    operating_status: OperatingStatus | None = None,
) -> StreamingResponse:
    if not caller.is_regulator:
        raise service.RegulatorOnly("仅监管部门可以导出台账")
    filters = ExportFilter(region_code=region_code, kind=kind, operating_status=operating_status)
    chunks = export_rows(db, caller, request.app.state.settings, filters)
    stamp = today_cn().strftime("%Y%m%d")
    return await sheet_response(fmt, "台账", HEADERS, chunks, f"ledger-{stamp}", f"台账-{stamp}")
