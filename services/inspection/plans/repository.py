"""Every query of the roster, the plans and the visit duty; scoped by the caller's jurisdiction."""

from __future__ import annotations

from collections.abc import Sequence
from datetime import date, datetime
from typing import Any

from sqlalchemy import DateTime, func, select, text, type_coerce, update
from sqlalchemy.ext.asyncio import AsyncSession

from services.common.auth import Caller
from services.common.db import CHINA, as_utc
from services.common.pagination import keyset
from services.common.regions import prefix_of
from services.inspection.models import Inspection, InspectionPlan, Inspector, KnownEnterprise, PlanEntry

VISITED_STATUSES = ("submitted", "reviewed")
# An inspection still to be made: a unit with one from a plan is not planned again until it is done.
OPEN_STATUSES = ("planned", "in_progress")


# ------------------------------------------------------------------------------------------------ conditions


def in_scope(caller: Caller, column: Any) -> Any:
    """Rows of a region column (county or station code) lying in the caller's jurisdiction."""
    return column.startswith(prefix_of(caller.region_code))


def region_condition(region: str | None) -> list[Any]:
    """Conditions on KnownEnterprise for an optional ``region`` (county/city/province or station); the caller
    checks it lies in the jurisdiction."""
    if region is None:
        return []
    if len(region) == 9:
        return [KnownEnterprise.station_code == region]
    return [KnownEnterprise.region_code.startswith(prefix_of(region))]  # type: ignore[attr-defined]


def units_of(region_code: str) -> Any:
    if len(region_code) == 9:
        return KnownEnterprise.station_code == region_code
    return KnownEnterprise.region_code == region_code


# ------------------------------------------------------------------------------------------------ roster


async def get_readable_inspector(
    session: AsyncSession, caller: Caller, username: str, *, lock: bool = False
) -> Inspector | None:
    stmt = select(Inspector).where(Inspector.username == username, in_scope(caller, Inspector.region_code))
    if lock:
        stmt = stmt.with_for_update()
    return (await session.execute(stmt)).scalar_one_or_none()


async def get_inspector_for_update(session: AsyncSession, username: str) -> Inspector | None:
    return await session.get(Inspector, username, with_for_update=True)


async def roster(session: AsyncSession, region_code: str) -> Sequence[Inspector]:
    """The inspectors of a county or station and of the stations below it."""
    stmt = select(Inspector).where(Inspector.region_code.startswith(region_code))  # type: ignore[attr-defined]
    return (await session.execute(stmt)).scalars().all()


async def inspector_names(session: AsyncSession, usernames: set[str]) -> dict[str, str]:
    stmt = select(Inspector.username, Inspector.name).where(Inspector.username.in_(usernames))  # type: ignore[attr-defined]
    return dict((await session.execute(stmt)).all())  # type: ignore[arg-type]


async def list_inspectors(
    session: AsyncSession,
    caller: Caller,
    *,
    region: str | None,
    active: bool | None,
    cursor: str | None,
    limit: int,
) -> tuple[Sequence[Inspector], str | None]:
    stmt = select(Inspector).where(in_scope(caller, Inspector.region_code))
    if region is not None:
        stmt = stmt.where(Inspector.region_code.startswith(prefix_of(region)))  # type: ignore[attr-defined]
    if active is not None:
        stmt = stmt.where(Inspector.active.is_(active))  # type: ignore[attr-defined]
    return await keyset(session, stmt, Inspector.username, cursor=cursor, limit=limit)  # type: ignore[arg-type]


# ------------------------------------------------------------------------------------------------ units and visits


async def units(session: AsyncSession, *conditions: Any, ordered: bool = False) -> Sequence[KnownEnterprise]:
    stmt = select(KnownEnterprise).where(*conditions)
    if ordered:
        stmt = stmt.order_by(KnownEnterprise.id)
    return (await session.execute(stmt)).scalars().all()


async def units_by_id(session: AsyncSession, ids: list[str]) -> dict[str, KnownEnterprise]:
    stmt = select(KnownEnterprise).where(KnownEnterprise.id.in_(ids))  # type: ignore[attr-defined]
    return {unit.id: unit for unit in (await session.execute(stmt)).scalars()}


def unit_ids(*conditions: Any) -> Any:
    """A select of the ids of the units matching ``conditions``."""
    return select(KnownEnterprise.id).where(*conditions)


def _china_date(value: datetime) -> date:
    return as_utc(value).astimezone(CHINA).date()


async def last_visits(session: AsyncSession, units: Any) -> dict[str, tuple[date, str]]:
    """The latest on-site visit (submitted or reviewed inspection) of each unit matching ``units`` (a
    condition on KnownEnterprise): its date (device's submission, else receipt; China time) and id."""
    visited_at = type_coerce(
        func.coalesce(Inspection.device_submitted_at, Inspection.received_at), DateTime(timezone=True)
    )
    stmt = select(Inspection.enterprise_id, Inspection.id, visited_at).where(
        Inspection.status.in_(VISITED_STATUSES),  # type: ignore[attr-defined]
        Inspection.enterprise_id.in_(select(KnownEnterprise.id).where(units)),  # type: ignore[attr-defined]
        visited_at.is_not(None),
    )
    latest: dict[str, tuple[datetime, str]] = {}
    for enterprise_id, inspection_id, at in (await session.execute(stmt)).all():
        at = as_utc(at)
        if enterprise_id not in latest or (at, inspection_id) > latest[enterprise_id]:
            latest[enterprise_id] = (at, inspection_id)
    return {unit: (_china_date(at), inspection_id) for unit, (at, inspection_id) in latest.items()}


async def open_plan_inspections(session: AsyncSession, enterprise_ids: Any) -> dict[str, tuple[str, str]]:
    """Units among ``enterprise_ids`` (ids or a select of ids) with an open inspection of a plan: its id and
    its plan's, the earliest made when (from before this rule) there are several."""
    stmt = (
        select(Inspection.enterprise_id, Inspection.id, Inspection.plan_id)
        .where(
            Inspection.enterprise_id.in_(enterprise_ids),  # type: ignore[attr-defined]
            Inspection.plan_id.is_not(None),  # type: ignore[union-attr]
            Inspection.status.in_(OPEN_STATUSES),  # type: ignore[attr-defined]
        )
        .order_by(Inspection.created_at, Inspection.id)
    )
    found: dict[str, tuple[str, str]] = {}
    for unit, inspection_id, plan_id in (await session.execute(stmt)).all():
        found.setdefault(unit, (inspection_id, plan_id))
    return found


# ------------------------------------------------------------------------------------------------ plans


async def lock_county_plans(session: AsyncSession, region_code: str) -> None:
    """Serialise the publication of plans of one county (its own and its stations': only they can share a
    unit), so that two plans published at the same moment cannot both plan a unit (PostgreSQL advisory lock
    for the transaction; SQLite serialises writers anyway, and the caller has written already)."""
    if session.get_bind().dialect.name == "postgresql":
        await session.execute(
            text("SELECT pg_advisory_xact_lock(hashtextextended(:key, 0))"),
            {"key": f"qsr-plan-publish:{region_code[:6]}"},
        )


async def get_readable_plan(
    session: AsyncSession, caller: Caller, plan_id: str, *, lock: bool = False
) -> InspectionPlan | None:
    stmt = select(InspectionPlan).where(
        InspectionPlan.id == plan_id, in_scope(caller, InspectionPlan.region_code)
    )
    if lock:
        stmt = stmt.with_for_update()
    return (await session.execute(stmt)).scalar_one_or_none()


async def entries(session: AsyncSession, plan_id: str) -> list[PlanEntry]:
    stmt = select(PlanEntry).where(PlanEntry.plan_id == plan_id).order_by(PlanEntry.enterprise_id)
    return list((await session.execute(stmt)).scalars().all())


async def claim_publication(session: AsyncSession, plan_id: str, now: datetime) -> bool:
    """Draft → published, once: of two publishers at the same moment only one claims it."""
    claimed = await session.execute(
        update(InspectionPlan)
        .where(InspectionPlan.id == plan_id, InspectionPlan.status == "draft")  # type: ignore[arg-type]
        .values(status="published", published_at=now)
    )
    return claimed.rowcount == 1  # type: ignore[attr-defined]


async def list_plans(
    session: AsyncSession,
    caller: Caller,
    *,
    region: str | None,
    status: str | None,
    cursor: str | None,
    limit: int,
) -> tuple[Sequence[InspectionPlan], str | None]:
    stmt = select(InspectionPlan).where(in_scope(caller, InspectionPlan.region_code))
    if region is not None:
        stmt = stmt.where(InspectionPlan.region_code.startswith(prefix_of(region)))  # type: ignore[attr-defined]
    if status is not None:
        stmt = stmt.where(InspectionPlan.status == status)
    return await keyset(session, stmt, InspectionPlan.id, cursor=cursor, limit=limit)  # type: ignore[arg-type]
