"""Inspection domain logic: spot checks (监督抽查) and what a failure sets off."""

from __future__ import annotations

import json
from datetime import timedelta
from typing import Any

from sqlalchemy import update
from sqlalchemy.ext.asyncio import AsyncSession

from services.common.auth import Caller
from services.common.categories import category_codes
from services.common.db import CHINA, as_utc, insert_at_commit, today_cn, utcnow
from services.common.errors import Conflict, Forbidden, Invalid, NotFound
from services.common.events import (
    SPOT_CHECK_FAILED,
    SPOT_CHECK_OVERTURNED,
    SPOT_CHECK_PASSED,
    ClassChanged,
    CloudEvent,
    EnterpriseRegistered,
    EnterpriseStatusChanged,
    InspectorAssigned,
    RiskControlListAdopted,
    SpotCheckOverturned,
    SpotCheckRecorded,
)
from services.common.ids import new_id
from services.common.messaging import emit
from services.inspection import repository
from services.inspection.models import (
    Complaint,
    EnforcementCase,
    Finding,
    Inspection,
    KnownEnterprise,
    Rectification,
    SpotCheck,
)
from services.inspection.schemas import RetestCreate, SpotCheckCreate


class EnterpriseNotKnown(NotFound):
    code, title = "ENTERPRISE_NOT_FOUND", "单位不存在、尚未同步或不在您的管辖范围内"


class SampledInFuture(Invalid):
    code, title = "SPOT_CHECK_SAMPLED_IN_FUTURE", "抽样日期不能晚于今天"


class VerdictInconsistent(Invalid):
    code, title = "SPOT_CHECK_VERDICT_INCONSISTENT", "检验结论与不合格项目不一致"


class CategoryUnknown(Invalid):
    code, title = "SPOT_CHECK_CATEGORY_UNKNOWN", "产品类别不在产品类别目录中"


class RegulatorOnly(Forbidden):
    code, title = "SPOT_CHECK_REGULATOR_ONLY", "仅监管人员可录入抽查结果及复检结论"


async def record_spot_check(*, session: AsyncSession, caller: Caller, data: SpotCheckCreate) -> SpotCheck:
    """Record a spot check; a failed one announces ``inspection.spot_check.failed`` in the same commit."""
    if not caller.is_regulator:
        raise RegulatorOnly("企业账号不能录入抽查结果")
    if data.category_code is not None and data.category_code not in category_codes():
        raise CategoryUnknown(
            f"产品类别代码 {data.category_code!r} 不在产品类别目录中", field="category_code"
        )
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
        kind=data.kind,
        category_code=data.category_code,
        standard=(data.standard or "").strip() or None,
        sampled_at=data.sampled_at,
        lab=(data.lab or "").strip() or None,
    )
    # Appended at commit with the outbox row, one statement each (no unit of work): nothing in this
    # transaction reads it back.
    insert_at_commit(session, SpotCheck.__table__, spot_check.model_dump())  # type: ignore[arg-type]
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


class RetestNotApplied(Conflict):
    code, title = "SPOT_CHECK_RETEST_NOT_APPLIED", "被抽查单位未申请复检，不能录入复检结论"


async def record_retest(
    *, session: AsyncSession, caller: Caller, spot_check: SpotCheck, data: RetestCreate
) -> None:
    """复检: an overturned failure announces ``inspection.spot_check.overturned``, so grading undoes it.
    Only a re-test the unit applied for (``retest_applied_on``) can be decided."""
    if not caller.is_regulator:
        raise RegulatorOnly("企业账号不能录入复检结论")
    if spot_check.verdict != "failed":
        raise NotFailed()
    if spot_check.retest_result is not None:
        raise RetestDecided(f"已于 {spot_check.retest_decided_on} 作出复检结论：{spot_check.retest_result}")
    if spot_check.retest_applied_on is None:
        raise RetestNotApplied("请先登记被抽查单位的复检申请")
    if not max(spot_check.sampled_on, spot_check.retest_applied_on) <= data.decided_on <= today_cn():
        raise Invalid("复检结论日期须在抽样日期和复检申请日期之后且不晚于今天", field="decided_on")
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


def new_unit(event: CloudEvent, payload: Any) -> dict[str, Any]:
    """The unit as inspection knows it before registry's snapshot: grading's stream may name it first."""
    return {
        "id": payload.enterprise_id,
        "region_code": event.region,
        "name": "",
        "kind": "unknown",
        "operating_status": "normal",
        "supervision_class": "routine",
        "locked": False,
        "risk_points": "[]",
    }


async def on_registered(
    session: AsyncSession, row: KnownEnterprise, event: CloudEvent, payload: EnterpriseRegistered
) -> None:
    """registered / updated (a full snapshot): what plans, checklists and jurisdiction need."""
    if row.region_code != payload.region_code:
        # 区划调整 or a move: the unit's records follow it into the new jurisdiction.
        for table in (SpotCheck, Inspection, Finding, Rectification, EnforcementCase, Complaint):
            await session.execute(
                update(table)
                .where(table.enterprise_id == payload.enterprise_id)  # type: ignore[attr-defined]
                .values(region_code=payload.region_code)
            )
    row.region_code, row.name, row.kind = payload.region_code, payload.name, payload.kind
    row.uscc, row.sales_channel, row.station_code = payload.uscc, payload.sales_channel, payload.station_code
    row.operating_status = payload.operating_status


async def on_status_changed(
    session: AsyncSession, row: KnownEnterprise, event: CloudEvent, payload: EnterpriseStatusChanged
) -> None:
    row.operating_status = payload.to_status


async def on_class_changed(
    session: AsyncSession, row: KnownEnterprise, event: CloudEvent, payload: ClassChanged
) -> None:
    """重点/特别监管 and 建档锁定: the plans must visit locked units every ``visit_every_months``."""
    if payload.locked and not (row.locked and row.locked_since):
        # First seen locked: a locked unit never visited owes its half-year visit from that day.
        row.locked_since = as_utc(event.time).astimezone(CHINA).date()
    elif not payload.locked:
        row.locked_since = None
    row.supervision_class, row.locked, row.visit_every_months = (
        payload.to_class,
        payload.locked,
        payload.visit_every_months,
    )


async def on_inspector_assigned(
    session: AsyncSession, row: KnownEnterprise, event: CloudEvent, payload: InspectorAssigned
) -> None:
    row.responsible_inspector = payload.inspector


async def on_risk_list_adopted(
    session: AsyncSession, row: KnownEnterprise, event: CloudEvent, payload: RiskControlListAdopted
) -> None:
    """The unit's own key risk points join its checklist (template item 6 / 5)."""
    row.risk_points = json.dumps([p.model_dump() for p in payload.points], ensure_ascii=False)
