"""Every registry query, scoped by the caller's jurisdiction."""

from __future__ import annotations

from collections.abc import Sequence

from sqlalchemy import select
from sqlalchemy.ext.asyncio import AsyncSession

from services.common.auth import Caller
from services.common.pagination import keyset
from services.common.regions import prefix_of
from services.registry.models import Enterprise


def readable(caller: Caller):  # type: ignore[no-untyped-def]
    """The enterprises the caller may see: those within its region."""
    return select(Enterprise).where(Enterprise.region_code.startswith(prefix_of(caller.region_code)))  # type: ignore[attr-defined]


async def get_readable(session: AsyncSession, caller: Caller, enterprise_id: str) -> Enterprise | None:
    return (
        await session.execute(readable(caller).where(Enterprise.id == enterprise_id))
    ).scalar_one_or_none()


async def get_by_uscc(session: AsyncSession, uscc: str) -> Enterprise | None:
    return (await session.execute(select(Enterprise).where(Enterprise.uscc == uscc))).scalar_one_or_none()


async def list_readable(
    session: AsyncSession,
    caller: Caller,
    *,
    region: str | None,
    kind: str | None,
    cursor: str | None,
    limit: int,
) -> tuple[Sequence[Enterprise], str | None]:
    stmt = readable(caller)
    if region:
        stmt = stmt.where(Enterprise.region_code.startswith(prefix_of(region)))  # type: ignore[attr-defined]
    if kind:
        stmt = stmt.where(Enterprise.kind == kind)
    return await keyset(session, stmt, Enterprise.id, cursor=cursor, limit=limit)  # type: ignore[arg-type]
