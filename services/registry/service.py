"""Registry domain logic: entering units into the ledger."""

from __future__ import annotations

from sqlalchemy.ext.asyncio import AsyncSession

from services.common.auth import Caller
from services.common.db import utcnow
from services.common.errors import Conflict, Forbidden, Invalid
from services.common.ids import new_id
from services.common.regions import is_valid_region
from services.common.uscc import normalise_uscc
from services.registry import events, repository
from services.registry.models import Enterprise
from services.registry.schemas import EnterpriseCreate, EnterpriseKind


class InvalidUSCC(Invalid):
    code, title = "USCC_INVALID", "统一社会信用代码无效"


class InvalidRegion(Invalid):
    code, title = "REGION_CODE_INVALID", "行政区划代码无效"


class InvalidSalesChannel(Invalid):
    code, title = "SALES_CHANNEL_INVALID", "销售渠道与单位类型不符"


class DuplicateUSCC(Conflict):
    code, title = "ENTERPRISE_DUPLICATE_USCC", "该统一社会信用代码的单位已录入"


class OutOfJurisdiction(Forbidden):
    code, title = "REGION_OUT_OF_JURISDICTION", "该行政区划不在您的管辖范围内"


async def register(*, session: AsyncSession, caller: Caller, data: EnterpriseCreate) -> Enterprise:
    """录入: enter a unit into the ledger and announce it (``registry.enterprise.registered``)."""
    try:
        uscc = normalise_uscc(data.uscc)
    except ValueError as exc:
        raise InvalidUSCC(str(exc)) from exc
    if not is_valid_region(data.region_code):
        raise InvalidRegion(f"行政区划代码 {data.region_code} 不是有效的县级及以上 GB/T 2260 代码")
    if data.kind == EnterpriseKind.sales and data.sales_channel is None:
        raise InvalidSalesChannel("销售单位须填写销售渠道：批发 wholesale 或 零售 retail")
    if data.kind == EnterpriseKind.production and data.sales_channel is not None:
        raise InvalidSalesChannel("生产单位不填写销售渠道")
    if not caller.can_see(data.region_code):
        raise OutOfJurisdiction(f"不能在管辖范围外（{data.region_code}）录入单位")
    if await repository.get_by_uscc(session, uscc) is not None:
        raise DuplicateUSCC(f"统一社会信用代码 {uscc} 的单位已在台账中")
    now = utcnow()
    enterprise = Enterprise(
        id=new_id(),
        uscc=uscc,
        name=data.name.strip(),
        kind=data.kind.value,
        sales_channel=data.sales_channel.value if data.sales_channel else None,
        region_code=data.region_code,
        employees=data.employees,
        revenue_wan_yuan=data.revenue_wan_yuan,
        entry_reason=data.entry_reason.value,
        operating_status="normal",
        created_by=caller.username,
        created_at=now,
        updated_at=now,
    )
    session.add(enterprise)
    events.registered(session, enterprise)
    return enterprise
