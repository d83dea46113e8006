"""Inspection domain logic: spot checks (监督抽查) and what a failure sets off."""

from __future__ import annotations

import json
from datetime import timedelta

from sqlalchemy.ext.asyncio import AsyncSession

from services.common.auth import Caller
from services.common.db import today_cn, utcnow
from services.common.errors import Conflict, Invalid, NotFound
from services.common.events import (
    SPOT_CHECK_FAILED,
    SPOT_CHECK_OVERTURNED,
    SPOT_CHECK_PASSED,
    CloudEvent,
    EnterpriseRegistered,
    SpotCheckOverturned,
    SpotCheckRecorded,
)
from services.common.ids import new_id
from services.common.messaging import emit
from services.inspection import repository
from services.inspection.models import KnownEnterprise, SpotCheck
from services.inspection.schemas import RetestCreate, SpotCheckCreate


class EnterpriseNotKnown(NotFound):
    code, title = "ENTERPRISE_NOT_FOUND", "单位不存在、尚未同步或不在您的管辖范围内"


class SampledInFuture(Invalid):
    code, title = "SPOT_CHECK_SAMPLED_IN_FUTURE", "抽样日期不能晚于今天"


class VerdictInconsistent(Invalid):
    code, title = "SPOT_CHECK_VERDICT_INCONSISTENT", "检验结论与不合格项目不一致"


async def record_spot_check(*, session: AsyncSession, caller: Caller, data: SpotCheckCreate) -> SpotCheck:
    """Record a spot check; a failed one announces ``inspection.spot_check.failed`` in the same commit."""
    items = [item.strip() for item in data.failed_items if item.strip()]
    if data.verdict == "failed" and not items:
        raise VerdictInconsistent("不合格结论须列明至少一个不合格项目")
    if data.verdict == "passed" and items:
        raise VerdictInconsistent("合格结论不应有不合格项目")
    if data.sampled_on > utcnow().date() + timedelta(days=1):  # a day's grace for time zones
        raise SampledInFuture(f"抽样日期 {data.sampled_on} 晚于今天")
    enterprise = await repository.get_readable_enterprise(session, caller, data.enterprise_id)
    if enterprise is None:
        raise EnterpriseNotKnown()
    spot_check = SpotCheck(
        id=new_id(),
        enterprise_id=enterprise.id,
        region_code=enterprise.region_code,
        product=data.product.strip(),
        batch=data.batch.strip(),
        verdict=data.verdict,
        failed_items=json.dumps(items, ensure_ascii=False),
        sampled_on=data.sampled_on,
        created_by=caller.username,
        created_at=utcnow(),
    )
    session.add(spot_check)
    emit(
        session,
        SPOT_CHECK_FAILED if data.verdict == "failed" else SPOT_CHECK_PASSED,
        SpotCheckRecorded(
            spot_check_id=spot_check.id,
            enterprise_id=enterprise.id,
            product=spot_check.product,
            batch=spot_check.batch,
            verdict=data.verdict,
            failed_items=items,
            sampled_on=data.sampled_on,
        ),
        region=enterprise.region_code,
        enterprise_id=enterprise.id,
    )
    return spot_check


class NotFailed(Conflict):
    code, title = "SPOT_CHECK_NOT_FAILED", "只有不合格的抽查结果可以复检"


class RetestDecided(Conflict):
    code, title = "SPOT_CHECK_RETEST_ALREADY_DECIDED", "该抽查已有复检结论"


async def record_retest(
    *, session: AsyncSession, caller: Caller, spot_check: SpotCheck, data: RetestCreate
) -> None:
    """复检: an overturned failure announces ``inspection.spot_check.overturned``, so grading undoes it."""
    if spot_check.verdict != "failed":
        raise NotFailed()
    if spot_check.retest_result is not None:
        raise RetestDecided(f"已于 {spot_check.retest_decided_on} 作出复检结论：{spot_check.retest_result}")
    if not spot_check.sampled_on <= data.decided_on <= today_cn():
        raise Invalid("复检结论日期须在抽样日期之后且不晚于今天", field="decided_on")
    spot_check.retest_result, spot_check.retest_decided_on = data.result, data.decided_on
    spot_check.retest_note, spot_check.retest_by = data.note, caller.username
    if data.result == "overturned":
        emit(
            session,
            SPOT_CHECK_OVERTURNED,
            SpotCheckOverturned(
                spot_check_id=spot_check.id,
                enterprise_id=spot_check.enterprise_id,
                decided_on=data.decided_on,
                note=data.note,
            ),
            region=spot_check.region_code,
            enterprise_id=spot_check.enterprise_id,
        )


async def on_registered(session: AsyncSession, event: CloudEvent, payload: EnterpriseRegistered) -> None:
    row = await session.get(KnownEnterprise, payload.enterprise_id)
    if row is None:
        session.add(
            KnownEnterprise(
                id=payload.enterprise_id,
                region_code=payload.region_code,
                name=payload.name,
                kind=payload.kind,
            )
        )
    else:
        row.region_code, row.name, row.kind = payload.region_code, payload.name, payload.kind
