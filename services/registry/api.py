"""Registry routes: the ledger here; each area of a unit's file has its router beside its logic."""

from __future__ import annotations

from typing import Annotated

from fastapi import APIRouter, Query, Request
from sqlalchemy.exc import IntegrityError

from services.common.app import DbDep
from services.common.auth import CallerDep
from services.common.categories import ProductCategory
from services.common.pagination import MAX_LIMIT, Page
from services.registry import (
    documents,
    inspectors,
    repository,
    search,
    service,
    submissions,
    transfer,
)
from services.registry.people import api as people
from services.registry.schemas import (
    AuditEntryPublic,
    EnterpriseCreate,
    EnterprisePublic,
    EnterpriseUpdate,
    RegionChangeIn,
    RegionChangePublic,
    StatusChangeIn,
    StatusChangePublic,
)
from services.registry.selfchecks import api as selfchecks

router = APIRouter(tags=["enterprises 生产和销售单位台账"])
# The areas first: their fixed paths (``/enterprises/export`` …) must win over ``/enterprises/{enterprise_id}``.
for area in (search, transfer, submissions, people, documents, selfchecks, inspectors):
    router.include_router(area.router)


@router.get("/product-categories", response_model=list[ProductCategory], summary="产品类别目录")
async def list_product_categories() -> list[ProductCategory]:
    return list(service.product_categories().values())


@router.post("/enterprises", status_code=201, response_model=EnterprisePublic, summary="监管部门直接录入单位")
async def register_enterprise(
    body: EnterpriseCreate, db: DbDep, caller: CallerDep, request: Request
) -> EnterprisePublic:
    settings = request.app.state.settings
    try:
        async with db.transaction() as session:
            enterprise = await service.register(session=session, caller=caller, settings=settings, data=body)
            return await service.present(session, caller, settings, enterprise)
    except IntegrityError as exc:  # a concurrent registration of the same USCC won the race
        raise service.DuplicateUSCC() from exc


@router.get("/enterprises/{enterprise_id}", response_model=EnterprisePublic, summary="单位详情")
async def get_enterprise(
    enterprise_id: str, db: DbDep, caller: CallerDep, request: Request
) -> EnterprisePublic:
    async with db.session() as session:
        return await service.read(session, caller, request.app.state.settings, enterprise_id)


@router.patch(
    "/enterprises/{enterprise_id}", response_model=EnterprisePublic, summary="变更单位信息（须注明原因）"
)
async def update_enterprise(
    enterprise_id: str, body: EnterpriseUpdate, db: DbDep, caller: CallerDep, request: Request
) -> EnterprisePublic:
    settings = request.app.state.settings
    async with db.transaction() as session:
        enterprise = await service.update(
            session=session, caller=caller, settings=settings, enterprise_id=enterprise_id, change=body
        )
        return await service.present(session, caller, settings, enterprise)


@router.post(
    "/enterprises/{enterprise_id}/status",
    status_code=201,
    response_model=StatusChangePublic,
    summary="登记经营状态变更（停产、停业、注销、吊销、迁出、恢复正常）",
)
async def change_status(
    enterprise_id: str, body: StatusChangeIn, db: DbDep, caller: CallerDep
) -> StatusChangePublic:
    async with db.transaction() as session:
        record = await service.change_status(
            session=session, caller=caller, enterprise_id=enterprise_id, change=body
        )
        return StatusChangePublic.model_validate(record, from_attributes=True)


@router.get(
    "/enterprises/{enterprise_id}/status-history",
    response_model=list[StatusChangePublic],
    summary="经营状态历史",
)
async def status_history(enterprise_id: str, db: DbDep, caller: CallerDep) -> list[StatusChangePublic]:
    async with db.session() as session:
        await service.require(session, caller, enterprise_id)
        rows = await repository.status_history(session, enterprise_id)
    return [StatusChangePublic.model_validate(row, from_attributes=True) for row in rows]


@router.get(
    "/enterprises/{enterprise_id}/history",
    response_model=Page[AuditEntryPublic],
    summary="变更记录：单位及其人员的每一次变更（谁、何时、改了什么、为什么）",
)
async def enterprise_history(
    enterprise_id: str,
    db: DbDep,
    caller: CallerDep,
    cursor: str | None = None,
    limit: Annotated[int, Query(ge=1, le=MAX_LIMIT)] = 100,
) -> Page[AuditEntryPublic]:
    async with db.session() as session:
        rows, next_cursor = await service.history(session, caller, enterprise_id, cursor=cursor, limit=limit)
    return Page[AuditEntryPublic](
        items=[
            AuditEntryPublic.model_validate({**row.model_dump(), "changes": service.audit_changes(row)})
            for row in rows
        ],
        next_cursor=next_cursor,
    )


@router.post(
    "/region-changes",
    status_code=201,
    response_model=RegionChangePublic,
    summary="行政区划变更：把撤销或更名的县级代码下的单位连同其历史迁到新代码（省级）",
)
async def apply_region_change(body: RegionChangeIn, db: DbDep, caller: CallerDep) -> RegionChangePublic:
    async with db.transaction() as session:
        change = await service.apply_region_change(session=session, caller=caller, change=body)
        return RegionChangePublic.model_validate(change, from_attributes=True)
