"""Registry routes."""

from __future__ import annotations

from typing import Annotated

from fastapi import APIRouter, Query
from sqlalchemy.exc import IntegrityError

from services.common.app import DbDep
from services.common.auth import CallerDep
from services.common.errors import NotFound
from services.common.pagination import MAX_LIMIT
from services.registry import repository, service
from services.registry.schemas import EnterpriseCreate, EnterpriseKind, EnterprisePage, EnterprisePublic

router = APIRouter(tags=["enterprises 生产和销售单位台账"])


class EnterpriseNotFound(NotFound):
    code, title = "ENTERPRISE_NOT_FOUND", "单位不存在或不在您的管辖范围内"


@router.post("/enterprises", status_code=201, response_model=EnterprisePublic, summary="录入生产/销售单位")
async def register_enterprise(body: EnterpriseCreate, db: DbDep, caller: CallerDep) -> EnterprisePublic:
    try:
        async with db.transaction() as session:
            enterprise = await service.register(session=session, caller=caller, data=body)
    except IntegrityError as exc:  # a concurrent registration of the same USCC won the race
        raise service.DuplicateUSCC() from exc
    return EnterprisePublic.model_validate(enterprise, from_attributes=True)


@router.get("/enterprises", response_model=EnterprisePage, summary="台账列表（按管辖范围）")
async def list_enterprises(
    db: DbDep,
    caller: CallerDep,
    region: Annotated[str | None, Query(pattern=r"^\d{6}$", description="行政区划代码（含下级）")] = None,
    kind: EnterpriseKind | None = None,
    cursor: str | None = None,
    limit: Annotated[int, Query(ge=1, le=MAX_LIMIT)] = 50,
) -> EnterprisePage:
    if region and not caller.can_see(region):
        raise service.OutOfJurisdiction(f"不能查询管辖范围外（{region}）的单位")
    async with db.session() as session:
        rows, next_cursor = await repository.list_readable(
            session, caller, region=region, kind=kind.value if kind else None, cursor=cursor, limit=limit
        )
    return EnterprisePage(
        items=[EnterprisePublic.model_validate(row, from_attributes=True) for row in rows],
        next_cursor=next_cursor,
    )


@router.get("/enterprises/{enterprise_id}", response_model=EnterprisePublic, summary="单位详情")
async def get_enterprise(enterprise_id: str, db: DbDep, caller: CallerDep) -> EnterprisePublic:
    async with db.session() as session:
        enterprise = await repository.get_readable(session, caller, enterprise_id)
    if enterprise is None:
        raise EnterpriseNotFound()
    return EnterprisePublic.model_validate(enterprise, from_attributes=True)
