"""检索: the ledger's lists — units within the caller's jurisdiction, filtered, sorted and paged by cursor;
their count for dashboards; and the production sites on the caller's territory.

Who is listed comes from ``repository.registered_within`` (default: the units the caller supervises) or
``repository.visible_to`` (``include_sites``: also units of other regions producing on a site in the caller's
region); every filter only narrows that. Regions are compared by ``repository.in_region`` (an equality or a
range of codes the indexes serve). The indexes behind these queries, and their figures at 1,000,000 units,
are in ``bench/registry_search.py``.
"""

from __future__ import annotations

import re
from collections.abc import Sequence
from dataclasses import dataclass
from datetime import UTC, date, datetime, time, timedelta
from enum import StrEnum
from typing import Annotated, Any

from fastapi import APIRouter, Depends, Query
from pydantic import BaseModel
from sqlalchemy import ColumnElement, Select, and_, func, literal_column, or_, select, union_all
from sqlalchemy.ext.asyncio import AsyncSession
from sqlalchemy.orm import aliased

from services.common.app import DbDep
from services.common.auth import Caller, CallerDep
from services.common.db import CHINA
from services.common.errors import Invalid
from services.common.pagination import MAX_LIMIT, Page, keyset_sorted, sorted_page
from services.common.regions import level_of
from services.registry import repository, service
from services.registry.models import Enterprise, ProductCategoryLink, ProductionSite
from services.registry.repository import in_region
from services.registry.schemas import (
    EnterpriseKind,
    EnterprisePage,
    EnterpriseSummary,
    OperatingStatus,
    SalesChannel,
)

router = APIRouter(tags=["enterprises 生产和销售单位台账"])


class Tier(StrEnum):
    A = "A"  # 大型
    B = "B"  # 中型
    C = "C"  # 小型
    D = "D"  # 微型（含个体工商户）


class SupervisionClass(StrEnum):
    routine = "routine"  # 无事不扰/日常监管
    key = "key"  # 重点监管
    special = "special"  # 特别监管


class MissingDuty(StrEnum):
    quality_director = "quality_director"  # 未配备质量安全总监
    risk_control_list = "risk_control_list"  # 未制定质量安全风险管控清单
    self_checks = "self_checks"  # 日管控、周排查、月调度逾期


class SortKey(StrEnum):
    id = "id"  # 录入顺序
    name = "name"  # 单位名称
    updated_at = "updated_at"  # 最近变更时间
    uscc = "uscc"  # 统一社会信用代码


class SortOrder(StrEnum):
    asc = "asc"
    desc = "desc"


class DateRangeInvalid(Invalid):
    code, title = "SEARCH_DATE_RANGE_INVALID", "录入日期范围有误"


class EnterpriseCount(BaseModel):
    count: int


class SiteUnit(BaseModel):
    """The unit a production site belongs to, with the region it is registered in."""

    id: str
    name: str
    uscc: str
    region_code: str


class SiteListing(BaseModel):
    id: str
    region_code: str
    address: str
    enterprise: SiteUnit


@dataclass(frozen=True)
class SearchFilters:
    """What a ledger list is narrowed by; every field combines with the others (AND)."""

    include_sites: bool = False
    region: str | None = None
    station_code: str | None = None
    kind: EnterpriseKind | None = None
    sales_channel: SalesChannel | None = None
    tier: tuple[Tier, ...] = ()
    supervision_class: tuple[SupervisionClass, ...] = ()
    locked: bool | None = None
    operating_status: tuple[OperatingStatus, ...] = ()
    product_category: str | None = None
    missing: tuple[MissingDuty, ...] = ()
    responsible_inspector: str | None = None
    q: str | None = None
    created_from: date | None = None
    created_to: date | None = None


def search_filters(
    include_sites: Annotated[bool, Query(title="含在本辖区有生产场所的外地单位（只读）")] = False,
    region: Annotated[
        str | None, Query(pattern=r"^\d{6}$", title="注册地行政区划代码（含下级；须在管辖范围内）")
    ] = None,
    station_code: Annotated[str | None, Query(pattern=r"^\d{9}$", title="负责的市场监管所代码")] = None,
    kind: Annotated[
        EnterpriseKind | None, Query(title="单位类型：production 生产 / sales 销售（含兼营销售的生产单位）")
    ] = None,
    sales_channel: Annotated[
        SalesChannel | None, Query(title="销售渠道：wholesale 批发 / retail 零售")
    ] = None,
    tier: Annotated[list[Tier] | None, Query(title="分层分级 A/B/C/D（可多选）")] = None,
    supervision_class: Annotated[
        list[SupervisionClass] | None, Query(title="分类监管：routine / key 重点 / special 特别（可多选）")
    ] = None,
    locked: Annotated[bool | None, Query(title="已建档锁定监管责任人")] = None,
    operating_status: Annotated[list[OperatingStatus] | None, Query(title="经营状态（可多选）")] = None,
    product_category: Annotated[
        str | None, Query(max_length=40, title="产品类别代码（见 /product-categories）")
    ] = None,
    missing: Annotated[
        list[MissingDuty] | None,
        Query(
            title="未落实的主体责任（可多选）：quality_director 未配备质量安全总监 / "
            "risk_control_list 无风险管控清单 / self_checks 日管控周排查月调度逾期"
        ),
    ] = None,
    responsible_inspector: Annotated[str | None, Query(max_length=100, title="监管责任人（用户名）")] = None,
    q: Annotated[
        str | None,
        Query(min_length=1, max_length=100, title="单位名称关键字，或统一社会信用代码的开头部分"),
    ] = None,
    created_from: Annotated[date | None, Query(title="录入日期起（含，北京时间）")] = None,
    created_to: Annotated[date | None, Query(title="录入日期止（含，北京时间）")] = None,
) -> SearchFilters:
    return SearchFilters(
        include_sites=include_sites,
        region=region,
        station_code=station_code,
        kind=kind,
        sales_channel=sales_channel,
        tier=tuple(dict.fromkeys(tier or ())),
        supervision_class=tuple(dict.fromkeys(supervision_class or ())),
        locked=locked,
        operating_status=tuple(dict.fromkeys(operating_status or ())),
        product_category=product_category,
        missing=tuple(dict.fromkeys(missing or ())),
        responsible_inspector=responsible_inspector,
        q=q.strip() if q and q.strip() else None,
        created_from=created_from,
        created_to=created_to,
    )


FiltersDep = Annotated[SearchFilters, Depends(search_filters)]


# ------------------------------------------------------------------------------------------ conditions


def _working_region(caller: Caller, filters: SearchFilters) -> str | None:
    """The region the list is drawn from: the one asked for (checked), else the regulator's own."""
    if filters.region is not None:
        if not caller.can_see(filters.region):
            raise service.OutOfJurisdiction(f"不能查询管辖范围外（{filters.region}）的单位")
        return filters.region
    if caller.is_regulator and level_of(caller.region_code) != "station":
        return caller.region_code
    return None  # a station or an enterprise account: its guard is an equality


# The start of a USCC (GB 32100): registration authority, entity category, the 6-digit region of
# registration, then the organisation code. A name is not written like that.
_USCC_PREFIX = re.compile(r"^[1-9A-GY][1-9](\d{0,6}|\d{6}[0-9A-HJ-NPQRTUWXY]{1,10})$")


def _text(q: str, dialect: str) -> ColumnElement[bool]:
    """``q``: the beginning of a USCC when it looks like one, else part of the name (any case)."""
    prefix = q.upper()
    if _USCC_PREFIX.match(prefix):
        if len(prefix) == 18:
            return Enterprise.uscc == prefix  # type: ignore[no-any-return]
        # Every USCC starting with the prefix lies between it and the prefix padded with "Z" (above the
        # alphabet), and nothing else does: a range the unique index serves.
        in_range = Enterprise.uscc.between(prefix, prefix.ljust(18, "Z"))  # type: ignore[attr-defined]
        if (
            dialect == "sqlite"
        ):  # without histograms SQLite rates this range like the region's, and picks that
            return func.likelihood(in_range, literal_column("0.001"))  # type: ignore[no-any-return]
        return in_range  # type: ignore[no-any-return]
    name = Enterprise.name.icontains(q, autoescape=True)  # type: ignore[attr-defined]
    if dialect == "postgresql" and len(q) >= 2:
        # Candidates from the bigram index (see the migration); the LIKE confirms them.
        bigrams = func.registry_name_bigrams
        return and_(bigrams(Enterprise.name).op("@>")(bigrams(q)), name)
    return name  # type: ignore[no-any-return]


def _created_bounds(filters: SearchFilters) -> tuple[datetime | None, datetime | None]:
    def start(day: date) -> datetime:
        return datetime.combine(day, time.min, tzinfo=CHINA).astimezone(UTC)

    if filters.created_from and filters.created_to and filters.created_from > filters.created_to:
        raise DateRangeInvalid(f"录入日期起（{filters.created_from}）晚于止（{filters.created_to}）")
    return (
        start(filters.created_from) if filters.created_from else None,
        start(filters.created_to + timedelta(days=1)) if filters.created_to else None,
    )


def conditions(caller: Caller, filters: SearchFilters, *, dialect: str) -> list[ColumnElement[bool]]:
    """The WHERE of a ledger list: the caller's jurisdiction, then every filter given.

    Raises 403 for a region or station outside the jurisdiction, 422 for an unknown product category or a
    reversed date range."""
    guard = repository.visible_to(caller) if filters.include_sites else repository.registered_within(caller)
    where: list[ColumnElement[bool]] = [guard]
    region = _working_region(caller, filters)
    if region is not None and filters.include_sites:
        # Registered here, or producing on a site here: a union of two index lookups, which the guard's OR
        # with a subquery is not (it would read the table in id order, all of it for a small county).
        on_site = select(ProductionSite.enterprise_id).where(in_region(ProductionSite.region_code, region))
        ids = union_all(select(Enterprise.id).where(in_region(Enterprise.region_code, region)), on_site)
        where.append(Enterprise.id.in_(ids))  # type: ignore[attr-defined]
    elif filters.region is not None:
        where.append(in_region(Enterprise.region_code, filters.region))
    if filters.station_code is not None:
        if not caller.can_see(filters.station_code):
            raise service.OutOfJurisdiction(f"市场监管所 {filters.station_code} 不在您的管辖范围内")
        where.append(Enterprise.station_code == filters.station_code)
    if filters.kind == EnterpriseKind.production:
        where.append(Enterprise.kind == EnterpriseKind.production.value)
    elif filters.kind == EnterpriseKind.sales:  # a producer that sells is a seller too
        where.append(
            or_(Enterprise.kind == EnterpriseKind.sales.value, Enterprise.sales_channel.is_not(None))  # type: ignore[union-attr]
        )
    if filters.sales_channel is not None:
        where.append(Enterprise.sales_channel == filters.sales_channel.value)
    if filters.tier:
        where.append(Enterprise.tier.in_([t.value for t in filters.tier]))  # type: ignore[union-attr]
    if filters.supervision_class:
        where.append(Enterprise.supervision_class.in_([c.value for c in filters.supervision_class]))  # type: ignore[attr-defined]
    if filters.locked is not None:
        where.append(Enterprise.locked == filters.locked)
    if filters.operating_status:
        where.append(Enterprise.operating_status.in_([s.value for s in filters.operating_status]))  # type: ignore[attr-defined]
    if filters.product_category is not None:
        if filters.product_category not in service.product_categories():
            raise service.UnknownCategory(
                f"产品类别 {filters.product_category} 不在目录中", field="product_category"
            )
        filed = select(ProductCategoryLink.enterprise_id).where(
            ProductCategoryLink.category_code == filters.product_category
        )
        if region is not None and level_of(region) == "county" and not filters.include_sites:
            # The county's units joined to the links in the subquery: two index-only scans merged in id
            # order, where probing the links once per unit of a large county costs ten times as much.
            unit = aliased(Enterprise)
            filed = filed.join(unit, unit.id == ProductCategoryLink.enterprise_id).where(
                unit.region_code == region
            )
        where.append(Enterprise.id.in_(filed))  # type: ignore[attr-defined]
    for duty in filters.missing:
        if duty == MissingDuty.quality_director:
            where.append(Enterprise.has_quality_director.is_(False))  # type: ignore[attr-defined]
        elif duty == MissingDuty.risk_control_list:
            where.append(Enterprise.has_risk_control_list.is_(False))  # type: ignore[attr-defined]
        else:
            where.append(Enterprise.self_check_overdue_since.is_not(None))  # type: ignore[union-attr]
    if filters.responsible_inspector is not None:
        where.append(Enterprise.responsible_inspector == filters.responsible_inspector)
    if filters.q is not None:
        where.append(_text(filters.q, dialect))
    created_from, created_before = _created_bounds(filters)
    if created_from is not None:
        where.append(Enterprise.created_at >= created_from)  # type: ignore[operator]
    if created_before is not None:
        where.append(Enterprise.created_at < created_before)  # type: ignore[operator]
    return where


_SORT_COLUMNS = {
    SortKey.id: Enterprise.id,
    SortKey.name: Enterprise.name,
    SortKey.updated_at: Enterprise.updated_at,
    SortKey.uscc: Enterprise.uscc,
}


def _dialect(session: AsyncSession) -> str:
    return session.get_bind().dialect.name


def list_statement(
    caller: Caller,
    filters: SearchFilters,
    *,
    dialect: str,
    sort: SortKey = SortKey.id,
    order: SortOrder = SortOrder.asc,
    cursor: str | None = None,
    limit: int = 50,
) -> Select[Any]:
    """The query of one page of a ledger list (``limit + 1`` rows: one more tells that a next page exists)."""
    return sorted_page(
        select(Enterprise).where(*conditions(caller, filters, dialect=dialect)),
        _SORT_COLUMNS[sort],  # type: ignore[arg-type]
        Enterprise.id,  # type: ignore[arg-type]
        descending=order == SortOrder.desc,
        cursor=cursor,
        limit=limit,
    )


def count_statement(caller: Caller, filters: SearchFilters, *, dialect: str) -> Select[Any]:
    return select(func.count()).select_from(Enterprise).where(*conditions(caller, filters, dialect=dialect))


async def search(
    session: AsyncSession,
    caller: Caller,
    filters: SearchFilters,
    *,
    sort: SortKey = SortKey.id,
    order: SortOrder = SortOrder.asc,
    cursor: str | None,
    limit: int,
) -> tuple[Sequence[Enterprise], str | None]:
    """One page of the units the caller may list that match ``filters``, in the order asked."""
    stmt = select(Enterprise).where(*conditions(caller, filters, dialect=_dialect(session)))
    return await keyset_sorted(
        session,
        stmt,
        _SORT_COLUMNS[sort],  # type: ignore[arg-type]
        Enterprise.id,  # type: ignore[arg-type]
        descending=order == SortOrder.desc,
        cursor=cursor,
        limit=limit,
    )


async def count(session: AsyncSession, caller: Caller, filters: SearchFilters) -> int:
    stmt = count_statement(caller, filters, dialect=_dialect(session))
    return int((await session.execute(stmt)).scalar_one())


def _sites_in(caller: Caller, region: str | None) -> Select[Any]:
    stmt = select(ProductionSite).join(Enterprise, Enterprise.id == ProductionSite.enterprise_id)
    stmt = stmt.where(repository.visible_to(caller))
    working = _working_region(caller, SearchFilters(region=region))
    if working is not None:
        stmt = stmt.where(in_region(ProductionSite.region_code, working))
    return stmt


def sites_statement(
    caller: Caller, *, region: str | None, cursor: str | None = None, limit: int = 50
) -> Select[Any]:
    """The query of one page of ``/sites``."""
    return sorted_page(
        _sites_in(caller, region), ProductionSite.id, ProductionSite.id, cursor=cursor, limit=limit
    )


async def sites(
    session: AsyncSession, caller: Caller, *, region: str | None, cursor: str | None, limit: int
) -> tuple[list[SiteListing], str | None]:
    """生产场所 in the caller's region (or ``region`` within it), whichever county the unit is registered in;
    a station or an enterprise account gets the sites of the units it may see."""
    rows, next_cursor = await keyset_sorted(
        session,
        _sites_in(caller, region),
        ProductionSite.id,
        ProductionSite.id,
        cursor=cursor,
        limit=limit,
    )
    units: dict[str, Enterprise] = {}
    if rows:
        ids = {row.enterprise_id for row in rows}
        found = await session.execute(select(Enterprise).where(Enterprise.id.in_(ids)))  # type: ignore[attr-defined]
        units = {unit.id: unit for unit in found.scalars()}
    listing = [
        SiteListing(
            id=row.id,
            region_code=row.region_code,
            address=row.address,
            enterprise=SiteUnit.model_validate(units[row.enterprise_id], from_attributes=True),
        )
        for row in rows
    ]
    return listing, next_cursor


def summary(caller: Caller, enterprise: Enterprise) -> EnterpriseSummary:
    return EnterpriseSummary.model_validate(
        {**enterprise.model_dump(), "via_site": not repository.supervises(caller, enterprise)}
    )


# ------------------------------------------------------------------------------------------ routes


@router.get(
    "/enterprises",
    response_model=EnterprisePage,
    summary="台账检索：按管辖范围列出单位，可组合筛选、排序，游标分页",
)
async def list_enterprises(
    db: DbDep,
    caller: CallerDep,
    filters: FiltersDep,
    sort: Annotated[
        SortKey, Query(title="排序：id 录入顺序 / name 名称 / updated_at 最近变更 / uscc")
    ] = SortKey.id,
    order: Annotated[SortOrder, Query(title="asc 升序 / desc 降序")] = SortOrder.asc,
    cursor: Annotated[str | None, Query(title="上一页返回的 next_cursor")] = None,
    limit: Annotated[int, Query(ge=1, le=MAX_LIMIT)] = 50,
) -> EnterprisePage:
    async with db.session() as session:
        rows, next_cursor = await search(
            session, caller, filters, sort=sort, order=order, cursor=cursor, limit=limit
        )
    return EnterprisePage(items=[summary(caller, row) for row in rows], next_cursor=next_cursor)


@router.get(
    "/enterprises/count",
    response_model=EnterpriseCount,
    summary="台账计数：与台账检索相同的筛选条件下的单位数",
)
async def count_enterprises(db: DbDep, caller: CallerDep, filters: FiltersDep) -> EnterpriseCount:
    async with db.session() as session:
        return EnterpriseCount(count=await count(session, caller, filters))


@router.get(
    "/sites",
    response_model=Page[SiteListing],
    summary="本辖区内的生产场所（含注册地在外地的单位），附所属单位及其注册地",
)
async def list_sites(
    db: DbDep,
    caller: CallerDep,
    region: Annotated[
        str | None, Query(pattern=r"^\d{6}$", title="生产场所所在行政区划代码（含下级；须在管辖范围内）")
    ] = None,
    cursor: Annotated[str | None, Query(title="上一页返回的 next_cursor")] = None,
    limit: Annotated[int, Query(ge=1, le=MAX_LIMIT)] = 50,
) -> Page[SiteListing]:
    async with db.session() as session:
        rows, next_cursor = await sites(session, caller, region=region, cursor=cursor, limit=limit)
    return Page[SiteListing](items=rows, next_cursor=next_cursor)
