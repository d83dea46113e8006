"""Inspection routes."""

from __future__ import annotations

import json

from fastapi import APIRouter

from services.common.app import ArrivalsDep, DbDep
from services.common.arrivals import known_unit
from services.common.auth import CallerDep
from services.common.errors import NotFound
from services.inspection import cases, checklists, followup, oversight, repository, service
from services.inspection.models import SpotCheck
from services.inspection.plans import api as plans
from services.inspection.schemas import RetestCreate, SpotCheckCreate, SpotCheckPublic
from services.inspection.visits import api as visits

router = APIRouter(tags=["spot checks 监督抽查"])
for area in (checklists, plans, visits, followup, cases, oversight):
    router.include_router(area.router)


class SpotCheckNotFound(NotFound):
    code, title = "SPOT_CHECK_NOT_FOUND", "抽查记录不存在或不在您的管辖范围内"


def _public(row: SpotCheck) -> SpotCheckPublic:
    return SpotCheckPublic.model_validate({**row.model_dump(), "failed_items": json.loads(row.failed_items)})


@router.post("/spot-checks", status_code=201, response_model=SpotCheckPublic, summary="录入监督抽查结果")
async def record_spot_check(
    body: SpotCheckCreate, db: DbDep, arrivals: ArrivalsDep, caller: CallerDep
) -> SpotCheckPublic:
    try:
        async with db.transaction() as session:
            row = await service.record_spot_check(session=session, caller=caller, data=body)
    except service.EnterpriseNotKnown:
        # A unit registered a moment ago may not have reached us yet: wait for it (outside any transaction),
        # then try once more; a unit that does not come is 404 as before. The common case reads it once.
        if not await known_unit(
            db,
            arrivals,
            body.enterprise_id,
            lambda s: repository.get_readable_enterprise(s, caller, body.enterprise_id),
        ):
            raise
        async with db.transaction() as session:
            row = await service.record_spot_check(session=session, caller=caller, data=body)
    return _public(row)


@router.get("/spot-checks/{spot_check_id}", response_model=SpotCheckPublic, summary="抽查记录详情")
async def get_spot_check(spot_check_id: str, db: DbDep, caller: CallerDep) -> SpotCheckPublic:
    async with db.session() as session:
        row = await repository.get_readable_spot_check(session, caller, spot_check_id)
    if row is None:
        raise SpotCheckNotFound()
    return _public(row)


@router.post(
    "/spot-checks/{spot_check_id}/retest",
    response_model=SpotCheckPublic,
    summary="录入复检结论（推翻则通知分级服务撤销该不合格记录的影响）",
)
async def record_retest(
    spot_check_id: str, body: RetestCreate, db: DbDep, caller: CallerDep
) -> SpotCheckPublic:
    async with db.transaction() as session:
        row = await repository.get_readable_spot_check(session, caller, spot_check_id)
        if row is None:
            raise SpotCheckNotFound()
        await service.record_retest(session=session, caller=caller, spot_check=row, data=body)
        if row.retest_result == "overturned":
            await followup.withdraw_follow_up(session, row)  # the failure no longer stands
    return _public(row)
