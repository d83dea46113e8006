"""Routes of the ledger's import and export: parse, authorise, call the writer or the export, shape the response."""

from __future__ import annotations

import re
from collections.abc import AsyncIterator, Sequence
from typing import Annotated, Any, Literal

from fastapi import APIRouter, File, Query, Request, UploadFile
from fastapi.responses import StreamingResponse
from sqlalchemy import func, select
from sqlalchemy.ext.asyncio import AsyncSession

from services.common.app import DbDep
from services.common.auth import Caller, CallerDep
from services.common.db import Database, today_cn
from services.registry import service
from services.registry.models import ImportJob, ImportRowError
from services.registry.schemas import EnterpriseKind, OperatingStatus
from services.registry.transfer import parser
from services.registry.transfer.errors import ImportJobNotFound
from services.registry.transfer.export import ExportFilter, export_rows, sheet_response
from services.registry.transfer.parser import HEADERS
from services.registry.transfer.schemas import ERRORS_IN_RESPONSE, ImportErrorPublic, ImportJobPublic
from services.registry.transfer.writer import import_sheet

router = APIRouter(tags=["transfer 台账批量导入导出"])


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
    description=parser.__doc__,
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
