"""年度名单 as .xlsx: written row by row (openpyxl's write-only mode) and streamed back in chunks."""

from __future__ import annotations

import asyncio
import tempfile
from collections.abc import AsyncIterator, Callable

from openpyxl import Workbook

from services.common.cells import append_rows
from services.grading.models import AnnualListEntry

HEADERS = ("序号", "单位名称", "单位ID", "行政区划代码", "列入日期", "列入依据（规则）", "列入理由")
SHEETS = (("production", "生产单位"), ("sales", "销售单位"))
CHUNK = 64 * 1024


async def annual_list_workbook(
    title: str, rows: Callable[[str], AsyncIterator[AnnualListEntry]]
) -> AsyncIterator[bytes]:
    """One sheet per kind (生产、销售分列). The file is spooled to disk, so memory stays flat however long
    the list is; the caller streams the returned chunks."""
    workbook = Workbook(write_only=True)
    for kind, sheet_title in SHEETS:
        sheet = workbook.create_sheet(sheet_title)
        sheet.append([f"{title}（{sheet_title}）"])
        sheet.append(list(HEADERS))
        n = 0
        async for entry in rows(kind):
            n += 1
            row = [
                n,
                entry.name,
                entry.enterprise_id,
                entry.region_code,
                entry.listed_on,
                entry.rule,
                entry.reason,
            ]
            append_rows(sheet, [row])  # a name or reason starting with "=" stays text
    spool = tempfile.SpooledTemporaryFile(max_size=8 * 1024 * 1024)
    await asyncio.to_thread(workbook.save, spool)
    spool.seek(0)

    async def chunks() -> AsyncIterator[bytes]:
        try:
            while chunk := spool.read(CHUNK):
                yield chunk
        finally:
            spool.close()

    return chunks()
