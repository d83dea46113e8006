"""Every query of exam plans, their draws, candidates and notices, scoped by the caller in SQL with the meaning
of ``services.exam.access``: a regulator reads the plans whose organiser lies in its region; an enterprise
account the plans in which a person of its own unit was sampled."""

from __future__ import annotations

from collections.abc import Sequence
from datetime import datetime
from typing import Any

from sqlalchemy import ColumnElement, and_, exists, false, func, or_, select
from sqlalchemy.ext.asyncio import AsyncSession

from services.common.auth import Caller
from services.common.pagination import decode_cursor, encode_cursor, keyset
from services.common.regions import level_of, prefix_of
from services.exam.bank.repository import banks_above
from services.exam.models import (
    ExamCandidate,
    ExamDraw,
    ExamManager,
    ExamPlan,
    ExamSitting,
    ExamUnit,
    Question,
)
from services.exam.plans.rules import BankGroup

# A unit deregistered, revoked or moved out (registry's FINAL_STATUSES) has nobody left to examine; a unit
# paused (停产、停业) still has its managers in post, and they are examined like any other.
CLOSED_STATUSES = ("deregistered", "revoked", "moved_out")


def readable(caller: Caller) -> ColumnElement[bool]:
    """The condition on ExamPlan: ``access.sees_plan`` (regulators) or a sampled person of the caller's unit."""
    if caller.is_regulator:
        return ExamPlan.organiser_region.startswith(prefix_of(caller.region_code))  # type: ignore[attr-defined]
    if caller.uscc is not None:
        return exists().where(ExamCandidate.plan_id == ExamPlan.id, ExamCandidate.uscc == caller.uscc)
    return false()


async def get_readable(
    session: AsyncSession, caller: Caller, plan_id: str, *, lock: bool = False
) -> ExamPlan | None:
    """One query: the plan if the caller may see it."""
    stmt = select(ExamPlan).where(ExamPlan.id == plan_id, readable(caller))
    if lock:
        stmt = stmt.with_for_update()
    return (await session.execute(stmt)).scalar_one_or_none()


async def page(
    session: AsyncSession,
    caller: Caller,
    *,
    status: str | None,
    mode: str | None,
    cursor: str | None,
    limit: int,
) -> tuple[Sequence[ExamPlan], str | None]:
    stmt = select(ExamPlan).where(readable(caller))
    if status:
        stmt = stmt.where(ExamPlan.status == status)
    if mode:
        stmt = stmt.where(ExamPlan.mode == mode)
    return await keyset(session, stmt, ExamPlan.id, cursor=cursor, limit=limit)  # type: ignore[arg-type]


async def bank_groups(session: AsyncSession, organiser_region: str) -> list[BankGroup]:
    """The active questions the organiser's papers may draw (the province's bank and the local questions of
    the organiser's region and the regions above it), counted per category × type × roles × kinds × fields:
    one GROUP BY, a few dozen rows."""
    columns = (
        Question.category,
        Question.type,
        Question.for_director,
        Question.for_officer,
        Question.for_production,
        Question.for_sales,
        Question.product_categories,
    )
    stmt = (
        select(*columns, func.count())
        .where(Question.status == "active", Question.owner_region.in_(banks_above(organiser_region)))  # type: ignore[attr-defined]
        .group_by(*columns)
    )
    return [BankGroup(*row) for row in (await session.execute(stmt)).all()]


def area(organiser_region: str) -> ColumnElement[bool]:
    """The units of the organiser's area: a station's own units, or those of a county, city or province."""
    if level_of(organiser_region) == "station":
        return ExamUnit.station_code == organiser_region
    return ExamUnit.region_code.startswith(prefix_of(organiser_region))  # type: ignore[attr-defined]


async def pool(
    session: AsyncSession,
    *,
    organiser_region: str,
    roles: Sequence[str],
    kinds: Sequence[str],
    product_categories: Sequence[str],
    examined_since: datetime,
) -> Sequence[Any]:
    """The appointed managers the plan may examine, each with their unit and the time of their latest submitted
    sitting since ``examined_since`` (None: not examined in the window): one query."""
    examined = (
        select(ExamSitting.manager_id, func.max(ExamSitting.submitted_at).label("last_submitted"))
        .where(ExamSitting.status == "submitted", ExamSitting.submitted_at >= examined_since)  # type: ignore[operator]
        .group_by(ExamSitting.manager_id)
        .subquery()
    )
    conditions = [
        ExamManager.status == "appointed",
        ExamManager.role.in_(roles),  # type: ignore[attr-defined]
        ExamUnit.kind.in_(kinds),  # type: ignore[attr-defined]
        ExamUnit.operating_status.not_in(CLOSED_STATUSES),  # type: ignore[attr-defined]
        area(organiser_region),
    ]
    if product_categories:  # codes of the catalogue, stored as a JSON list of strings
        conditions.append(
            or_(*(ExamUnit.product_categories.contains(f'"{code}"') for code in product_categories))  # type: ignore[attr-defined]
        )
    stmt = (
        select(
            ExamManager.id,
            ExamManager.role,
            ExamManager.name,
            ExamUnit.id.label("enterprise_id"),  # type: ignore[attr-defined]
            ExamUnit.uscc,
            ExamUnit.kind,
            ExamUnit.region_code,
            ExamUnit.station_code,
            examined.c.last_submitted,
        )
        .join(ExamUnit, ExamUnit.id == ExamManager.enterprise_id)
        .outerjoin(examined, examined.c.manager_id == ExamManager.id)
        .where(and_(*conditions))
    )
    return (await session.execute(stmt)).all()


async def has_sittings(session: AsyncSession, plan_id: str) -> bool:
    stmt = select(ExamSitting.id).where(ExamSitting.plan_id == plan_id).limit(1)
    return (await session.execute(stmt)).first() is not None


async def candidates_of(session: AsyncSession, plan_id: str) -> dict[str, ExamCandidate]:
    """Every candidate row of a plan (sampled or withdrawn), by manager id."""
    rows = await session.scalars(select(ExamCandidate).where(ExamCandidate.plan_id == plan_id))
    return {row.manager_id: row for row in rows.all()}


async def draws(session: AsyncSession, plan_id: str) -> Sequence[ExamDraw]:
    stmt = select(ExamDraw).where(ExamDraw.plan_id == plan_id).order_by(ExamDraw.round)  # type: ignore[arg-type]
    return (await session.scalars(stmt)).all()


async def get_draw(session: AsyncSession, plan_id: str, round_: int) -> ExamDraw | None:
    return await session.get(ExamDraw, (plan_id, round_))


def _own(caller: Caller) -> list[ColumnElement[bool]]:
    return [] if caller.is_regulator else [ExamCandidate.uscc == caller.uscc]


async def sampled(
    session: AsyncSession, caller: Caller, plan_id: str, *, cursor: str | None, limit: int
) -> tuple[Sequence[ExamCandidate], str | None]:
    """The sampled persons of a plan the caller sees: all of them for a regulator, its own for a unit."""
    stmt = select(ExamCandidate).where(
        ExamCandidate.plan_id == plan_id, ExamCandidate.status == "sampled", *_own(caller)
    )
    return await keyset(session, stmt, ExamCandidate.id, cursor=cursor, limit=limit)  # type: ignore[arg-type]


async def notices(
    session: AsyncSession, uscc: str, *, unread: bool, cursor: str | None, limit: int
) -> tuple[Sequence[Any], str | None]:
    """The unit's sampled persons with their plans, newest first by candidate id: one query."""
    stmt = (
        select(ExamCandidate, ExamPlan)
        .join(ExamPlan, ExamPlan.id == ExamCandidate.plan_id)
        .where(ExamCandidate.uscc == uscc, ExamCandidate.status == "sampled")
    )
    if unread:
        stmt = stmt.where(ExamCandidate.read_at.is_(None))  # type: ignore[union-attr]
    if cursor:
        stmt = stmt.where(ExamCandidate.id < decode_cursor(cursor))
    rows = (await session.execute(stmt.order_by(ExamCandidate.id.desc()).limit(limit + 1))).all()  # type: ignore[attr-defined]
    if len(rows) > limit:
        return rows[:limit], encode_cursor(rows[limit - 1][0].id)
    return rows, None
