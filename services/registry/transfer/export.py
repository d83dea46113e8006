"""The export: the ledger streamed in the sheet layout, as CSV or XLSX."""

from __future__ import annotations

import asyncio
import csv
import io
import tempfile
from collections import defaultdict
from collections.abc import AsyncIterator
from dataclasses import dataclass
from typing import Any
from urllib.parse import quote

from fastapi.responses import StreamingResponse
from openpyxl import Workbook
from sqlalchemy import select

from services.common.auth import Caller
from services.common.cells import append_rows, csv_cell
from services.common.db import Database
from services.common.settings import Settings
from services.registry import pii, repository, service
from services.registry.models import Certificate, Enterprise, ProductCategoryLink
from services.registry.schemas import ENTRY_REASON_NAMES, EnterpriseKind, OperatingStatus
from services.registry.transfer.parser import CHANNEL_NAMES, ENTRY_COLUMNS, KIND_NAMES

EXPORT_CHUNK_ROWS = 2000  # rows read per query of an export
_SPOOL_BYTES = 8 * 1024 * 1024
_ENTERPRISE = Enterprise.__table__  # type: ignore[attr-defined]

# A unit's own columns: its id and what an import row enters.
_EXPORT_COLUMNS = ("id", *ENTRY_COLUMNS)


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
                    KIND_NAMES.get(unit.kind, unit.kind),
                    CHANNEL_NAMES.get(unit.sales_channel or "", unit.sales_channel),
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


async def csv_stream(header: list[str], chunks: AsyncIterator[list[list[Any]]]) -> AsyncIterator[bytes]:
    """UTF-8 with BOM (so that Excel shows the Chinese), one piece per chunk of rows."""
    buffer = io.StringIO()
    writer = csv.writer(buffer)
    writer.writerow(header)
    yield ("\ufeff" + buffer.getvalue()).encode()
    async for chunk in chunks:
        buffer.seek(0)
        buffer.truncate()
        writer.writerows([csv_cell(v) for v in row] for row in chunk)
        yield buffer.getvalue().encode()


async def xlsx_file(title: str, header: list[str], chunks: AsyncIterator[list[list[Any]]]) -> Any:
    """A write-only workbook (rows go to a temporary file as they come), saved into a spooled file."""
    workbook = Workbook(write_only=True)
    sheet = workbook.create_sheet(title)
    sheet.append(header)
    async for chunk in chunks:
        await asyncio.to_thread(append_rows, sheet, chunk)
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
