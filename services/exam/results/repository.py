"""Every query of results, summonses and rectifications, scoped by the caller.

A regulator sees the results of the plans organised within its region (as ``access.sees_plan``), and the
summonses and rectifications of the units in its region; an enterprise account sees its own unit's only
(by USCC). Lists are one query each, keyset-paged by id."""

from __future__ import annotations

from collections.abc import Iterable, Sequence
from datetime import date
from typing import Any

from sqlalchemy import Select, and_, false, select
from sqlalchemy.ext.asyncio import AsyncSession

from services.common.auth import Caller
from services.common.pagination import decode_cursor, encode_cursor
from services.common.regions import prefix_of
from services.exam.models import (
    ExamCandidate,
    ExamPlan,
    ExamRectification,
    ExamResult,
    ExamSummons,
    ExamUnit,
)
from services.exam.results.rules import ResultRow


def plans_visible(caller: Caller):  # type: ignore[no-untyped-def]
    """The condition on ExamPlan of ``access.sees_plan``: the organiser within the regulator's region."""
    return ExamPlan.organiser_region.startswith(prefix_of(caller.region_code))  # type: ignore[attr-defined]


def _units_visible(caller: Caller, region_column: Any):  # type: ignore[no-untyped-def]
    """Summonses and rectifications: a regulator's region (a station: its county's units), a unit its own."""
    if caller.is_regulator:
        return region_column.startswith(prefix_of(caller.region_code[:6]))
    if caller.uscc is not None:
        return ExamUnit.uscc == caller.uscc
    return false()


def _results_statement(caller: Caller) -> Select[Any]:
    stmt = (
        select(ExamResult, ExamPlan.title, ExamCandidate.name, ExamUnit.name)
        .join(ExamPlan, ExamPlan.id == ExamResult.plan_id)
        .join(
            ExamCandidate,
            and_(
                ExamCandidate.plan_id == ExamResult.plan_id, ExamCandidate.manager_id == ExamResult.manager_id
            ),
        )
        .outerjoin(ExamUnit, ExamUnit.id == ExamResult.enterprise_id)
    )
    if caller.is_regulator:
        return stmt.where(plans_visible(caller))
    if caller.uscc is not None:
        return stmt.where(ExamCandidate.uscc == caller.uscc)
    return stmt.where(false())


async def _page(
    session: AsyncSession, stmt: Select[Any], id_column: Any, cursor: str | None, limit: int
) -> tuple[Sequence[Any], str | None]:
    if cursor:
        stmt = stmt.where(id_column > decode_cursor(cursor))
    rows = (await session.execute(stmt.order_by(id_column).limit(limit + 1))).all()
    if len(rows) > limit:
        return rows[:limit], encode_cursor(getattr(rows[limit - 1][0], id_column.key))
    return rows, None


async def results(
    session: AsyncSession,
    caller: Caller,
    *,
    plan_id: str | None,
    result: str | None,
    enterprise_id: str | None,
    include_superseded: bool,
    cursor: str | None,
    limit: int,
) -> tuple[Sequence[Any], str | None]:
    """(result, plan title, name, unit name) rows the caller may see."""
    stmt = _results_statement(caller)
    if plan_id:
        stmt = stmt.where(ExamResult.plan_id == plan_id)
    if result:
        stmt = stmt.where(ExamResult.result == result)
    if enterprise_id:
        stmt = stmt.where(ExamResult.enterprise_id == enterprise_id)
    if not include_superseded:
        stmt = stmt.where(ExamResult.status != "superseded")
    return await _page(session, stmt, ExamResult.id, cursor, limit)


async def result(session: AsyncSession, caller: Caller, result_id: str) -> Any | None:
    return (await session.execute(_results_statement(caller).where(ExamResult.id == result_id))).first()


async def published_list(session: AsyncSession, plan_id: str) -> Sequence[Any]:
    """The plan's published results (the current ones) with the name and the unit's name, in one query."""
    stmt = (
        select(ExamResult, ExamCandidate.name, ExamUnit.name)
        .join(
            ExamCandidate,
            and_(
                ExamCandidate.plan_id == ExamResult.plan_id, ExamCandidate.manager_id == ExamResult.manager_id
            ),
        )
        .outerjoin(ExamUnit, ExamUnit.id == ExamResult.enterprise_id)
        .where(ExamResult.plan_id == plan_id, ExamResult.status == "published")
        .order_by(ExamUnit.name, ExamResult.role, ExamResult.id)
    )
    return (await session.execute(stmt)).all()


async def open_results(session: AsyncSession, plan_id: str) -> Sequence[ExamResult]:
    """The plan's results that are not superseded (pending and published), for publication."""
    stmt = select(ExamResult).where(ExamResult.plan_id == plan_id, ExamResult.status != "superseded")
    return (await session.scalars(stmt.order_by(ExamResult.created_at, ExamResult.id))).all()


def as_row(result: ExamResult, order: int = 0) -> ResultRow:
    return ResultRow(
        id=result.id,
        sitting_id=result.sitting_id,
        enterprise_id=result.enterprise_id,
        manager_id=result.manager_id,
        result=result.result,
        status=result.status,
        published_on=result.published_on,
        correction_of=result.correction_of,
        created_order=order,
    )


async def results_of_units(session: AsyncSession, enterprise_ids: Iterable[str]) -> list[ResultRow]:
    """Every result of these units (all plans), oldest first: what the 多次 rule counts."""
    ids = sorted(set(enterprise_ids))
    if not ids:
        return []
    stmt = (
        select(ExamResult)
        .where(ExamResult.enterprise_id.in_(ids))  # type: ignore[attr-defined]
        .order_by(ExamResult.created_at, ExamResult.id)
    )
    return [as_row(r, i) for i, r in enumerate((await session.scalars(stmt)).all())]


async def summonses_of_units(session: AsyncSession, enterprise_ids: Iterable[str]) -> Sequence[ExamSummons]:
    ids = sorted(set(enterprise_ids))
    if not ids:
        return []
    stmt = select(ExamSummons).where(ExamSummons.enterprise_id.in_(ids))  # type: ignore[attr-defined]
    return (await session.scalars(stmt)).all()


async def rectifications_of(
    session: AsyncSession, plan_id: str, enterprise_ids: Iterable[str]
) -> dict[str, ExamRectification]:
    ids = sorted(set(enterprise_ids))
    if not ids:
        return {}
    stmt = select(ExamRectification).where(
        ExamRectification.plan_id == plan_id,
        ExamRectification.enterprise_id.in_(ids),  # type: ignore[attr-defined]
    )
    return {r.enterprise_id: r for r in (await session.scalars(stmt)).all()}


async def summonses(
    session: AsyncSession, caller: Caller, *, status: str | None, cursor: str | None, limit: int
) -> tuple[Sequence[Any], str | None]:
    stmt = (
        select(ExamSummons, ExamUnit.name)
        .outerjoin(ExamUnit, ExamUnit.id == ExamSummons.enterprise_id)
        .where(_units_visible(caller, ExamSummons.region_code))
    )
    if status:
        stmt = stmt.where(ExamSummons.status == status)
    return await _page(session, stmt, ExamSummons.id, cursor, limit)


async def summons(session: AsyncSession, caller: Caller, summons_id: str) -> Any | None:
    stmt = (
        select(ExamSummons, ExamUnit.name)
        .outerjoin(ExamUnit, ExamUnit.id == ExamSummons.enterprise_id)
        .where(ExamSummons.id == summons_id, _units_visible(caller, ExamSummons.region_code))
    )
    return (await session.execute(stmt)).first()


async def rectifications(
    session: AsyncSession,
    caller: Caller,
    *,
    status: str | None,
    overdue: bool | None,
    today: date,
    cursor: str | None,
    limit: int,
) -> tuple[Sequence[Any], str | None]:
    stmt = (
        select(ExamRectification, ExamUnit.name)
        .outerjoin(ExamUnit, ExamUnit.id == ExamRectification.enterprise_id)
        .where(_units_visible(caller, ExamRectification.region_code))
    )
    if status:
        stmt = stmt.where(ExamRectification.status == status)
    if overdue is True:
        stmt = stmt.where(ExamRectification.status == "open", ExamRectification.due_on < today)
    elif overdue is False:
        stmt = stmt.where(~and_(ExamRectification.status == "open", ExamRectification.due_on < today))
    return await _page(session, stmt, ExamRectification.id, cursor, limit)


async def rectification(session: AsyncSession, caller: Caller, rectification_id: str) -> Any | None:
    stmt = (
        select(ExamRectification, ExamUnit.name)
        .outerjoin(ExamUnit, ExamUnit.id == ExamRectification.enterprise_id)
        .where(
            ExamRectification.id == rectification_id,
            _units_visible(caller, ExamRectification.region_code),
        )
    )
    return (await session.execute(stmt)).first()


async def month_examined(
    session: AsyncSession, caller: Caller, first: date, following: date, region: str | None
) -> list[tuple[str, str]]:
    """(region, kind) of each sitting result first published in the month, of the plans the caller sees."""
    stmt = (
        select(ExamResult.region_code, ExamResult.kind)
        .join(ExamPlan, ExamPlan.id == ExamResult.plan_id)
        .where(
            plans_visible(caller),
            ExamResult.correction_of.is_(None),  # type: ignore[union-attr]
            ExamResult.published_on >= first,
            ExamResult.published_on < following,
        )
    )
    if region:
        stmt = stmt.where(_in_region(ExamResult.region_code, ExamPlan.organiser_region, region))
    return [(r, k) for r, k in (await session.execute(stmt)).all()]


async def month_rectifications(
    session: AsyncSession, caller: Caller, first: date, following: date, region: str | None
) -> list[str]:
    """The region of each rectification opened in the month, of the plans the caller sees."""
    stmt = (
        select(ExamRectification.region_code)
        .join(ExamPlan, ExamPlan.id == ExamRectification.plan_id)
        .where(
            plans_visible(caller),
            ExamRectification.opened_on >= first,
            ExamRectification.opened_on < following,
        )
    )
    if region:
        stmt = stmt.where(_in_region(ExamRectification.region_code, ExamPlan.organiser_region, region))
    return list((await session.scalars(stmt)).all())


def _in_region(region_column: Any, organiser_column: Any, region: str):  # type: ignore[no-untyped-def]
    """``region``: a station's code selects its own plans; an area's code the units within it."""
    if len(region) == 9:
        return organiser_column == region
    return region_column.startswith(prefix_of(region))
