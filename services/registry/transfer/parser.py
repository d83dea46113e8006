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
 产品类别                product_categories  codes or Chinese names of ``services/common/data/categories.yaml``, separated by
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

import math
import re
from collections.abc import Sequence
from dataclasses import dataclass, field
from datetime import date
from functools import cache, lru_cache
from typing import Any

from pydantic import ValidationError

from services.common import sheets
from services.common.auth import Caller
from services.common.errors import QSRError
from services.common.regions import level_of, prefix_of
from services.common.settings import Settings
from services.common.shape_errors import shape_error
from services.common.sheets import Column, cell_text, header_fields
from services.registry import service
from services.registry.schemas import ENTRY_REASON_NAMES, CertificateIn, LedgerFields
from services.registry.transfer.errors import (
    CellRequired,
    ChoiceInvalid,
    DateInvalid,
    DuplicateInFile,
    NumberInvalid,
    ValueInvalid,
)

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
PROBLEM_COLUMN = {
    "sales_channel": "销售渠道",
    "certificates": "生产许可证编号",
    "sites": "生产许可证编号",
    **{c.field: c.header for c in COLUMNS},
}
CERT_COLUMNS = {
    "production_licence": ("licence_numbers", "licence_valid_until"),
    "ccc": ("ccc_numbers", "ccc_valid_until"),
}
_KINDS = {"生产": "production", "生产单位": "production", "production": "production"}
_KINDS |= {"销售": "sales", "销售单位": "sales", "sales": "sales"}
_CHANNELS = {"批发": "wholesale", "wholesale": "wholesale", "零售": "retail", "retail": "retail"}
KIND_NAMES = {"production": "生产", "sales": "销售"}
CHANNEL_NAMES = {"wholesale": "批发", "retail": "零售"}
_REASONS = {**{code: code for code in ENTRY_REASON_NAMES}, **{v: k for k, v in ENTRY_REASON_NAMES.items()}}
# The columns an import of a known unit may change (entry_reason stays as first entered).
SHEET_SCALARS = (
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


_HEADER_FIELDS = header_fields(COLUMNS, _ALIASES)


def match_headers(header: Sequence[object]) -> dict[str, int]:
    """Field → column index of a header row; raises ImportColumnsMissing naming every missing column."""
    return sheets.match_headers(header, COLUMNS, _HEADER_FIELDS, hint="可下载导出文件作为模板")


# ------------------------------------------------------------------------------------------------ cells


class CellError(Exception):
    def __init__(self, error: type[QSRError], message: str) -> None:
        super().__init__(message)
        self.error = error
        self.message = message


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
    return list(_parse_categories(text))


@lru_cache(maxsize=4096)  # a ledger repeats a few category cells over and over; each is a scan of every name
def _parse_categories(text: str) -> tuple[str, ...]:
    for name, code in _category_names():
        if name in text:
            text = text.replace(name, f"；{code}；")
    seen: dict[str, None] = {}
    for part in _LIST_SEPARATORS.split(text):
        if part.strip():
            seen[part.strip()] = None
    return tuple(seen)


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


# Chunks of rows cross from the reader process pickled. As tuples of plain values in a fixed order they
# pickle and load several times faster than dataclasses and dicts (loading them is the writing side's work).
ENTRY_COLUMNS = (
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
_CERT_FIELDS = ("kind", "number", "category_code", "valid_from", "valid_until")


def pack_rows(rows: list[Row]) -> list[tuple[Any, ...]]:
    packed = []
    for row in rows:
        entry = row.entry
        packed.append(
            (
                row.number,
                row.uscc_text,
                row.uscc,
                row.phone_unknown,
                [(e.row, e.column, e.code, e.message, e.uscc) for e in row.errors],
                None
                if entry is None
                else (
                    tuple(entry.columns.values()),
                    entry.phone,
                    entry.categories,
                    [tuple(c.values()) for c in entry.certificates],
                ),
            )
        )
    return packed


def unpack_rows(packed: list[tuple[Any, ...]]) -> list[Row]:
    rows = []
    for number, uscc_text, uscc, phone_unknown, errors, entry in packed:
        row = Row(number, uscc_text, uscc, None, phone_unknown, [RowError(*e) for e in errors])
        if entry is not None:
            columns, phone, categories, certificates = entry
            row.entry = Entry(
                dict(zip(ENTRY_COLUMNS, columns, strict=True)),
                phone,
                categories,
                [dict(zip(_CERT_FIELDS, c, strict=True)) for c in certificates],
            )
        rows.append(row)
    return rows


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
        # Caller.can_see, worked out once instead of for every row.
        self._prefix = prefix_of(caller.region_code)
        self._station = caller.region_code if level_of(caller.region_code) == "station" else None

    @property
    def present(self) -> frozenset[str]:
        return frozenset(self.columns)

    def cells(self, raw: Sequence[object]) -> dict[str, str | None]:
        return {name: cell_text(raw[i]) if i < len(raw) else None for name, i in self.columns.items()}

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
                columns=_columns(data, uscc),
                phone=data.principal_phone,
                categories=sorted(set(data.product_categories)),
                certificates=[
                    {
                        "kind": c.kind.value,
                        "number": c.number,
                        "category_code": c.category_code,
                        "valid_from": c.valid_from,
                        "valid_until": c.valid_until,
                    }
                    for c in data.certificates
                ],
            )
        return row

    def _may_enter(self, data: LedgerFields) -> bool:
        if data.region_code.startswith(self._prefix):
            return True
        return self._station is not None and data.station_code == self._station

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
        for kind, (numbers_field, dates_field) in CERT_COLUMNS.items():
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
        label = HEADER_OF[CERT_COLUMNS[kind][0]]
        if not numbers:
            if any(dates):
                raise CellError(CellRequired, f"填写了有效期但没有{label}")
            return []
        if any(dates) and len(dates) != len(numbers):
            raise CellError(
                service.InvalidCertificate,
                f"{label}有 {len(numbers)} 个，有效期有 {len(dates)} 个，须一一对应（用；分隔）",
            )
        header = HEADER_OF[CERT_COLUMNS[kind][1]]
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
                header = PROBLEM_COLUMN.get(name, name)
                row.fail(header, ValueInvalid, f"{header}：{shape_error(err)[1]}")
        kept = {k: v for k, v in values.items() if k not in failed}
        return LedgerFields.model_construct(**{**_PLACEHOLDERS, **kept})


def _columns(data: LedgerFields, uscc: str) -> dict[str, Any]:
    """``service.scalar_columns`` of a checked row without its phone, which is sealed only if written
    (in the order of ``ENTRY_COLUMNS``)."""
    return {
        "uscc": uscc,
        "name": data.name.strip(),
        "kind": data.kind.value,
        "sales_channel": data.sales_channel.value if data.sales_channel else None,
        "region_code": data.region_code,
        "station_code": data.station_code,
        "registered_address": data.registered_address,
        "principal_name": data.principal_name,
        "principal_phone_enc": None,
        "employees": data.employees,
        "revenue_wan_yuan": data.revenue_wan_yuan,
        "size_year": data.size_year,
        "entry_reason": data.entry_reason.value,
        "entry_note": data.entry_note,
    }


def _problem_column(field_name: str, cells: dict[str, str | None]) -> str:
    if (
        field_name in ("certificates", "sites")
        and not cells.get("licence_numbers")
        and cells.get("ccc_numbers")
    ):
        return HEADER_OF["ccc_numbers"]
    return PROBLEM_COLUMN.get(field_name, field_name)
