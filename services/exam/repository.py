"""Exam's queries of its projection, scoped by the caller: a regulator sees the managers of the units in its
region (a station: the units it is responsible for)."""

from __future__ import annotations

from collections.abc import Sequence
from typing import Any

from sqlalchemy import select
from sqlalchemy.ext.asyncio import AsyncSession

from services.common.auth import Caller
from services.common.pagination import decode_cursor, encode_cursor
from services.common.regions import level_of, prefix_of
from services.exam.models import ExamManager, ExamUnit


def units_visible(caller: Caller):  # type: ignore[no-untyped-def]
    if level_of(caller.region_code) == "station":
        return ExamUnit.station_code == caller.region_code
    return ExamUnit.region_code.startswith(prefix_of(caller.region_code))  # type: ignore[attr-defined]


async def candidates(
    session: AsyncSession,
    caller: Caller,
    *,
    region: str | None,
    role: str | None,
    kind: str | None,
    cursor: str | None,
    limit: int,
) -> tuple[Sequence[Any], str | None]:
    """Appointed directors and officers of the visible units (the pool a plan will draw from)."""
    stmt = (
        select(ExamManager, ExamUnit)
        .join(ExamUnit, ExamUnit.id == ExamManager.enterprise_id)
        .where(ExamManager.status == "appointed", units_visible(caller))
    )
    if region:
        stmt = stmt.where(
            ExamUnit.station_code == region
            if len(region) == 9
            else ExamUnit.region_code.startswith(prefix_of(region))  # type: ignore[attr-defined]
        )
    if role:
        stmt = stmt.where(ExamManager.role == role)
    if kind:
        stmt = stmt.where(ExamUnit.kind == kind)
    if cursor:
        stmt = stmt.where(ExamManager.id > decode_cursor(cursor))
    rows = (await session.execute(stmt.order_by(ExamManager.id).limit(limit + 1))).all()
    if len(rows) > limit:
        return rows[:limit], encode_cursor(rows[limit - 1][0].id)
    return rows, None
