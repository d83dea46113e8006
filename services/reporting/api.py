"""Reporting routes."""

from __future__ import annotations

from typing import Annotated

from fastapi import APIRouter, Query

from services.common.app import DbDep
from services.common.auth import CallerDep, require_regulator
from services.common.errors import Forbidden
from services.reporting import service
from services.reporting.schemas import Summary

router = APIRouter(tags=["reporting 统计报表"])


class RegionOutOfJurisdiction(Forbidden):
    code, title = "REGION_OUT_OF_JURISDICTION", "该行政区划不在您的管辖范围内"


@router.get("/summary", response_model=Summary, summary="辖区单位数：按层级、监管类别")
async def get_summary(
    db: DbDep,
    caller: CallerDep,
    region: Annotated[str | None, Query(pattern=r"^\d{6}$", description="行政区划代码，默认本人辖区")] = None,
) -> Summary:
    require_regulator(caller, "辖区统计仅供监管部门查阅，企业账号不能查看")
    region = region or caller.region_code
    if not caller.can_see(region):
        raise RegionOutOfJurisdiction(f"不能统计管辖范围外（{region}）的数据")
    async with db.session() as session:
        return await service.summary(session, region)
