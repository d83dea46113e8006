"""Routes of on-site inspections: the phones' download and sync, the web's list, detail, review and evidence."""

from __future__ import annotations

import json
from typing import Annotated, Any, Literal

from fastapi import APIRouter, Header, Query
from fastapi.responses import FileResponse, JSONResponse

from services.common.app import ArrivalsDep, DbDep
from services.common.auth import CallerDep
from services.common.db import UTCDateTime
from services.common.pagination import MAX_LIMIT, Page
from services.inspection import evidence
from services.inspection.models import IdempotencyRecord
from services.inspection.visits import service
from services.inspection.visits.schemas import (
    Assignments,
    EvidencePublic,
    InspectionDetail,
    InspectionStatus,
    InspectionSummary,
    ReviewCreate,
    SyncBatch,
    SyncResult,
)

router = APIRouter(tags=["on-site inspections 现场检查"])


@router.get("/assignments", response_model=Assignments, summary="移动端下载：我的待检查任务（增量同步）")
async def assignments(
    db: DbDep,
    caller: CallerDep,
    since: Annotated[UTCDateTime | None, Query(description="上次返回的 cursor；不填则全部下载")] = None,
) -> Assignments:
    async with db.session() as session:
        return await service.assignments(session, caller, since)


@router.post(
    "/inspections/sync",
    response_model=SyncResult,
    summary="移动端批量上传离线操作（按设备序号依序应用，可安全重发）",
    responses={422: {"description": "IDEMPOTENCY_KEY_REUSED: the key was used for another body"}},
)
async def sync(
    body: SyncBatch,
    db: DbDep,
    arrivals: ArrivalsDep,
    caller: CallerDep,
    idempotency_key: Annotated[str | None, Header(alias="Idempotency-Key")] = None,
) -> Any:
    result = await service.sync(db, caller, body, idempotency_key, arrivals)
    if isinstance(result, IdempotencyRecord):
        return JSONResponse(
            json.loads(result.response),
            status_code=result.status_code,
            headers={"Idempotent-Replayed": "true"},
        )
    return result


@router.get("/inspections", response_model=Page[InspectionSummary], summary="现场检查列表（最新在前）")
async def list_inspections(
    db: DbDep,
    caller: CallerDep,
    status: InspectionStatus | None = None,
    enterprise_id: str | None = None,
    trigger: str | None = None,
    cursor: str | None = None,
    limit: Annotated[int, Query(ge=1, le=MAX_LIMIT)] = 50,
) -> Page[InspectionSummary]:
    async with db.session() as session:
        return await service.list_inspections(
            session,
            caller,
            status=status,
            enterprise_id=enterprise_id,
            trigger=trigger,
            cursor=cursor,
            limit=limit,
        )


@router.get("/inspections/{inspection_id}", response_model=InspectionDetail, summary="现场检查详情")
async def get_inspection(inspection_id: str, db: DbDep, caller: CallerDep) -> InspectionDetail:
    async with db.session() as session:
        return await service.readable_detail(session, caller, inspection_id)


@router.post(
    "/inspections/{inspection_id}/review",
    response_model=InspectionDetail,
    summary="审核已提交的现场检查（审核人不得是该检查的执法人员）",
)
async def review(inspection_id: str, body: ReviewCreate, db: DbDep, caller: CallerDep) -> InspectionDetail:
    async with db.transaction() as session:
        row = await service.review(session=session, caller=caller, inspection_id=inspection_id, data=body)
        return await service.detail(session, row)


_EVIDENCE = "/inspections/{inspection_id}/evidence/{file_id}"


@router.put(
    _EVIDENCE,
    response_model=EvidencePublic,
    summary="上传现场照片或签名（原始内容或 multipart；同一文件编号重传安全）",
    **evidence.UPLOAD_ROUTE,
)
async def upload_evidence(
    inspection_id: str,
    file_id: str,
    upload: evidence.UploadDep,
    kind: Annotated[
        Literal["photo", "signature"], Query(description="照片 photo / 签名 signature")
    ] = "photo",
) -> EvidencePublic:
    kept = await upload.keep("inspection", inspection_id, file_id, service.may_add_evidence, kind)
    return service.evidence_public(kept)


@router.get(_EVIDENCE, summary="下载现场证据文件", **evidence.DOWNLOAD_ROUTE)
async def download_evidence(inspection_id: str, file_id: str, download: evidence.DownloadDep) -> FileResponse:
    return await download.file("inspection", inspection_id, file_id, service.readable)
