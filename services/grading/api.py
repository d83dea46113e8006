"""Grading routes."""

from __future__ import annotations

import json
from typing import Annotated, Literal

from fastapi import APIRouter, Query

from services.common.app import DbDep
from services.common.auth import CallerDep
from services.common.errors import NotFound
from services.common.pagination import MAX_LIMIT
from services.grading import repository
from services.grading.schemas import (
    GradingPage,
    GradingPublic,
    GradingSummaryPublic,
    ReasonPublic,
    SignalPublic,
)

router = APIRouter(tags=["grading 分层分级与分类监管"])


class GradingNotFound(NotFound):
    code, title = "GRADING_NOT_FOUND", "该单位暂无分级结果或不在您的管辖范围内"


@router.get(
    "/enterprises/{enterprise_id}", response_model=GradingPublic, summary="单位的分级、监管类别及依据"
)
async def get_grading(enterprise_id: str, db: DbDep, caller: CallerDep) -> GradingPublic:
    async with db.session() as session:
        row = await repository.get_readable(session, caller, enterprise_id)
        if row is None:
            raise GradingNotFound()
        signals = await repository.signals_of(session, enterprise_id)
    reasons = [
        ReasonPublic(rule=row.class_rule, text=row.class_reason, evidence=json.loads(row.class_evidence))
    ]
    if row.tier:
        reasons.insert(0, ReasonPublic(rule=row.tier_rule or "", text=row.tier_reason or "", evidence=[]))
    return GradingPublic(
        enterprise_id=row.enterprise_id,
        region_code=row.region_code,
        name=row.name,
        tier=row.tier,
        supervision_class=row.supervision_class,
        reasons=reasons,
        updated_at=row.updated_at,
        signals=[
            SignalPublic(
                id=s.id,
                kind=s.kind,
                occurred_on=s.occurred_on,
                source_type=s.source_type,
                detail=json.loads(s.detail),
            )
            for s in signals
        ],
    )


@router.get("/enterprises", response_model=GradingPage, summary="按层级、监管类别列出单位（按管辖范围）")
async def list_gradings(
    db: DbDep,
    caller: CallerDep,
    tier: Literal["A", "B", "C", "D"] | None = None,
    supervision_class: Literal["routine", "key", "special"] | None = None,
    cursor: str | None = None,
    limit: Annotated[int, Query(ge=1, le=MAX_LIMIT)] = 50,
) -> GradingPage:
    async with db.session() as session:
        rows, next_cursor = await repository.list_readable(
            session, caller, tier=tier, supervision_class=supervision_class, cursor=cursor, limit=limit
        )
    return GradingPage(
        items=[GradingSummaryPublic.model_validate(row, from_attributes=True) for row in rows],
        next_cursor=next_cursor,
    )
