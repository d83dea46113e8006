"""Every registry query, scoped by the caller's jurisdiction.

Who sees a unit: a regulator whose region contains the unit's registered region, or one of its production
sites (read only: supervision follows the registered unit); a station (9-digit code) the units it is
responsible for; an enterprise account its own unit only. Who may change it: the same, minus sites.
"""

from __future__ import annotations

from collections.abc import Sequence
from dataclasses import dataclass
from functools import lru_cache
from typing import Any

from sqlalchemy import Select, bindparam, or_, select
from sqlalchemy.ext.asyncio import AsyncSession

from services.common.auth import Caller
from services.common.json_rows import decode, dialect_of, json_rows, scope_of
from services.common.pagination import keyset
from services.common.regions import level_of, prefix_of
from services.registry.models import (
    AuditEntry,
    Certificate,
    Enterprise,
    ProductCategoryLink,
    ProductionSite,
    StatusChange,
)


def in_region(column, code: str):  # type: ignore[no-untyped-def]
    """Region codes of ``code`` and below (the prefix match of jurisdiction), written as an equality (a county)
    or a range of 6-digit codes (a city, a province): unlike ``LIKE 'prefix%'`` both are index conditions on
    PostgreSQL under any collation, and the planner estimates them right when a filter repeats them."""
    if level_of(code) == "county":
        return column == code
    prefix = prefix_of(code)
    return column.between(prefix.ljust(6, "0"), prefix.ljust(6, "9"))


def registered_within(caller: Caller):  # type: ignore[no-untyped-def]
    """The condition "registered in the caller's jurisdiction" (what the caller supervises and may change)."""
    if not caller.is_regulator:
        return Enterprise.uscc == (caller.uscc or "")
    if level_of(caller.region_code) == "station":
        return Enterprise.station_code == caller.region_code
    return in_region(Enterprise.region_code, caller.region_code)


def visible_to(caller: Caller):  # type: ignore[no-untyped-def]
    """What the caller may read: what it supervises, and units producing on a site in its region."""
    own = registered_within(caller)
    if not caller.is_regulator or level_of(caller.region_code) == "station":
        return own
    sites = select(ProductionSite.enterprise_id).where(
        in_region(ProductionSite.region_code, caller.region_code)
    )
    return or_(own, Enterprise.id.in_(sites))  # type: ignore[attr-defined]


def readable(caller: Caller):  # type: ignore[no-untyped-def]
    return select(Enterprise).where(visible_to(caller))


async def get_readable(session: AsyncSession, caller: Caller, enterprise_id: str) -> Enterprise | None:
    return (
        await session.execute(readable(caller).where(Enterprise.id == enterprise_id))
    ).scalar_one_or_none()


_CATEGORY = ProductCategoryLink.__table__.c  # type: ignore[attr-defined]
_CERTIFICATE = Certificate.__table__.c  # type: ignore[attr-defined]
_SITE = ProductionSite.__table__.c  # type: ignore[attr-defined]
_CERTIFICATE_COLUMNS = [getattr(_CERTIFICATE, c) for c in ("id", "kind", "number", "category_code")] + [
    _CERTIFICATE.valid_from,
    _CERTIFICATE.valid_until,
]
_SITE_COLUMNS = [_SITE.id, _SITE.region_code, _SITE.address]


@dataclass(frozen=True)
class Record:
    """A unit's full record as read in one statement: its own columns and its three lists of children."""

    unit: Any  # a Row of the enterprise table: the columns by name, as attributes
    categories: list[str]
    certificates: list[dict[str, Any]]
    sites: list[dict[str, Any]]


@lru_cache(maxsize=1024)
def record_statement(dialect: str, scope: Caller) -> Select[Any]:
    """The unit ``:enterprise_id`` (if a caller of ``scope`` may read it) with its categories, certificates and
    sites, as one SELECT."""
    unit = Enterprise.__table__  # type: ignore[attr-defined]
    categories = json_rows(
        dialect,
        [_CATEGORY.category_code],
        where=_CATEGORY.enterprise_id == unit.c.id,
        order_by=[_CATEGORY.category_code],
    )
    certificates = json_rows(
        dialect,
        _CERTIFICATE_COLUMNS,
        where=_CERTIFICATE.enterprise_id == unit.c.id,
        order_by=[_CERTIFICATE.id],
    )
    sites = json_rows(dialect, _SITE_COLUMNS, where=_SITE.enterprise_id == unit.c.id, order_by=[_SITE.id])
    return select(
        unit, categories.label("categories_"), certificates.label("certificates_"), sites.label("sites_")
    ).where(visible_to(scope), unit.c.id == bindparam("enterprise_id"))


async def get_readable_record(session: AsyncSession, caller: Caller, enterprise_id: str) -> Record | None:
    stmt = record_statement(dialect_of(session), scope_of(caller))
    row = (await session.execute(stmt, {"enterprise_id": enterprise_id})).one_or_none()
    if row is None:
        return None
    return Record(
        unit=row,
        categories=[code for (code,) in row.categories_ or []],
        certificates=decode(_CERTIFICATE_COLUMNS, row.certificates_),
        sites=decode(_SITE_COLUMNS, row.sites_),
    )


async def get_writable(session: AsyncSession, caller: Caller, enterprise_id: str) -> Enterprise | None:
    """The unit if the caller supervises it (None if it may not see it at all or only through a site)."""
    stmt = select(Enterprise).where(registered_within(caller), Enterprise.id == enterprise_id)
    return (await session.execute(stmt)).scalar_one_or_none()


async def get_by_uscc(session: AsyncSession, uscc: str) -> Enterprise | None:
    return (await session.execute(select(Enterprise).where(Enterprise.uscc == uscc))).scalar_one_or_none()


async def sites_of(session: AsyncSession, enterprise_id: str) -> Sequence[ProductionSite]:
    stmt = (
        select(ProductionSite)
        .where(ProductionSite.enterprise_id == enterprise_id)
        .order_by(ProductionSite.id)
    )
    return (await session.execute(stmt)).scalars().all()


def supervises(caller: Caller, enterprise: Any) -> bool:
    """Whether the unit is registered within the caller's jurisdiction (not merely producing there)."""
    if not caller.is_regulator:
        return enterprise.uscc == caller.uscc
    if level_of(caller.region_code) == "station":
        return enterprise.station_code == caller.region_code
    return enterprise.region_code.startswith(prefix_of(caller.region_code))


async def categories_of(session: AsyncSession, enterprise_id: str) -> Sequence[str]:
    stmt = (
        select(ProductCategoryLink.category_code)
        .where(ProductCategoryLink.enterprise_id == enterprise_id)
        .order_by(ProductCategoryLink.category_code)
    )
    return (await session.execute(stmt)).scalars().all()


async def certificates_of(session: AsyncSession, enterprise_id: str) -> Sequence[Certificate]:
    stmt = select(Certificate).where(Certificate.enterprise_id == enterprise_id).order_by(Certificate.id)
    return (await session.execute(stmt)).scalars().all()


async def status_history(session: AsyncSession, enterprise_id: str) -> Sequence[StatusChange]:
    stmt = select(StatusChange).where(StatusChange.enterprise_id == enterprise_id).order_by(StatusChange.id)
    return (await session.execute(stmt)).scalars().all()


async def audit_of(
    session: AsyncSession, enterprise_id: str, *, cursor: str | None, limit: int
) -> tuple[Sequence[AuditEntry], str | None]:
    stmt = select(AuditEntry).where(AuditEntry.enterprise_id == enterprise_id)
    return await keyset(session, stmt, AuditEntry.id, cursor=cursor, limit=limit)  # type: ignore[arg-type]
