"""Exam routes: the question bank (``bank/api.py``) and the candidates of the sampled exams."""

from __future__ import annotations

import json
from typing import Annotated, Literal

from fastapi import APIRouter, Query

from services.common.app import DbDep
from services.common.auth import CallerDep
from services.common.pagination import MAX_LIMIT, Page
from services.exam import repository, service
from services.exam.bank import api as bank
from services.exam.plans import api as plans
from services.exam.results import api as results
from services.exam.schemas import CandidatePublic
from services.exam.sittings import api as sittings

router = APIRouter(tags=["exam 质量安全管理人员考核"])
router.include_router(bank.router)
router.include_router(plans.router)
router.include_router(sittings.router)
router.include_router(results.router)


@router.get(
    "/candidates",
    response_model=Page[CandidatePublic],
    summary="考核对象：管辖范围内在任的质量安全总监、质量安全员（姓名脱敏）",
)
async def list_candidates(
    db: DbDep,
    caller: CallerDep,
    region: Annotated[
        str | None, Query(description="行政区划代码或市场监管所代码", pattern=r"^\d{6}(\d{3})?$")
    ] = None,
    role: Literal["quality_director", "quality_officer"] | None = None,
    kind: Literal["production", "sales"] | None = None,
    cursor: str | None = None,
    limit: Annotated[int, Query(ge=1, le=MAX_LIMIT)] = 100,
) -> Page[CandidatePublic]:
    service.require_regulator(caller, region)
    async with db.session() as session:
        rows, next_cursor = await repository.candidates(
            session, caller, region=region, role=role, kind=kind, cursor=cursor, limit=limit
        )
    items = [
        CandidatePublic(
            manager_id=manager.id,
            role=manager.role,  # type: ignore[arg-type]
            name_masked=service.mask_name(manager.name),
            appointed_on=manager.appointed_on,
            enterprise_id=unit.id,
            enterprise_name=unit.name,
            uscc=unit.uscc,
            kind=unit.kind,  # type: ignore[arg-type]
            region_code=unit.region_code,
            station_code=unit.station_code,
            product_categories=json.loads(unit.product_categories),
        )
        for manager, unit in rows
    ]
    return Page(items=items, next_cursor=next_cursor)
