"""Every query of the question bank, scoped by the caller.

A regulator sees the questions of every bank its area lies in (the province's, its city's, its county's) and
the local questions of the regions within its jurisdiction; never those of a neighbour. Enterprise accounts
see none (the service refuses them before any query).
"""

from __future__ import annotations

from collections.abc import Sequence
from typing import Any

from sqlalchemy import Select, or_, select
from sqlalchemy.ext.asyncio import AsyncSession

from services.common.auth import Caller
from services.common.pagination import keyset
from services.common.regions import level_of, prefix_of
from services.exam.models import Question, QuestionVersion

_LOOKUP_CHUNK = 500  # codes per IN (…) when an import looks its rows up


def banks_above(region_code: str) -> list[str]:
    """The regions whose banks a caller of ``region_code`` reads: its province, city and county (a station's:
    those of its county)."""
    county = region_code[:6]
    return sorted({county[:2] + "0000", county[:4] + "00", county})


def readable(caller: Caller):  # type: ignore[no-untyped-def]
    """The condition on Question: the banks above the caller and the local questions within its jurisdiction."""
    within = [Question.owner_region.startswith(prefix_of(caller.region_code))]  # type: ignore[attr-defined]
    if level_of(caller.region_code) == "station":
        within = []
    return or_(Question.owner_region.in_(banks_above(caller.region_code)), *within)  # type: ignore[attr-defined]


async def get_readable(
    session: AsyncSession, caller: Caller, question_id: str, *, for_update: bool = False
) -> Question | None:
    stmt = select(Question).where(Question.id == question_id, readable(caller))
    if for_update:
        stmt = stmt.with_for_update()
    return (await session.execute(stmt)).scalar_one_or_none()


async def get_version(session: AsyncSession, question_id: str, version: int) -> QuestionVersion | None:
    return await session.get(QuestionVersion, (question_id, version))


async def versions(session: AsyncSession, question_id: str) -> Sequence[QuestionVersion]:
    stmt = select(QuestionVersion).where(QuestionVersion.question_id == question_id)
    return (await session.scalars(stmt.order_by(QuestionVersion.version))).all()  # type: ignore[arg-type]


async def code_taken(session: AsyncSession, owner_region: str, code: str) -> bool:
    stmt = select(Question.id).where(Question.owner_region == owner_region, Question.code == code)
    return (await session.execute(stmt)).first() is not None


def _filtered(caller: Caller, filters: dict[str, Any]) -> Select[Any]:
    stmt = select(Question).where(readable(caller))
    if not filters.get("include_retired"):
        stmt = stmt.where(Question.status == "active")
    if filters.get("category"):
        stmt = stmt.where(Question.category == filters["category"])
    if filters.get("type"):
        stmt = stmt.where(Question.type == filters["type"])
    role = filters.get("role")
    if role:
        stmt = stmt.where(Question.for_director if role == "quality_director" else Question.for_officer)
    kind = filters.get("kind")
    if kind:
        stmt = stmt.where(Question.for_production if kind == "production" else Question.for_sales)
    if filters.get("owner_region"):
        stmt = stmt.where(Question.owner_region == filters["owner_region"])
    text = (filters.get("q") or "").strip()
    if text:
        stmt = stmt.where(or_(Question.code == text, Question.stem.contains(text, autoescape=True)))  # type: ignore[attr-defined]
    return stmt


async def page(
    session: AsyncSession, caller: Caller, filters: dict[str, Any], *, cursor: str | None, limit: int
) -> tuple[Sequence[Question], str | None]:
    return await keyset(session, _filtered(caller, filters), Question.id, cursor=cursor, limit=limit)  # type: ignore[arg-type]


async def by_codes(session: AsyncSession, owner_region: str, codes: Sequence[str]) -> dict[str, Question]:
    """The questions of one bank with these codes, locked for the import that will write them."""
    found: dict[str, Question] = {}
    for start in range(0, len(codes), _LOOKUP_CHUNK):
        chunk = list(codes[start : start + _LOOKUP_CHUNK])
        stmt = (
            select(Question)
            .where(Question.owner_region == owner_region, Question.code.in_(chunk))  # type: ignore[attr-defined]
            .order_by(Question.id)
            .with_for_update()
        )
        found.update({row.code: row for row in (await session.scalars(stmt)).all()})
    return found
