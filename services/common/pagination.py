"""Keyset (cursor) pagination over a unique, time-ordered id: stable while rows are inserted."""

from __future__ import annotations

import base64
import binascii
import json
from collections.abc import Sequence
from typing import Any, Generic, TypeVar

from pydantic import BaseModel
from sqlalchemy import Select
from sqlalchemy.ext.asyncio import AsyncSession
from sqlalchemy.orm import InstrumentedAttribute

from services.common.errors import Invalid

T = TypeVar("T")
MAX_LIMIT = 500


class Page(BaseModel, Generic[T]):
    items: list[T]
    next_cursor: str | None = None


def encode_cursor(last_id: str) -> str:
    return base64.urlsafe_b64encode(json.dumps({"after": last_id}).encode()).decode().rstrip("=")


def decode_cursor(cursor: str) -> str:
    try:
        padded = cursor + "=" * (-len(cursor) % 4)
        return str(json.loads(base64.urlsafe_b64decode(padded))["after"])
    except (binascii.Error, ValueError, KeyError, TypeError) as exc:
        raise Invalid("分页游标无效，请使用上一页返回的 next_cursor", field="cursor") from exc


async def keyset(
    session: AsyncSession,
    stmt: Select[Any],
    id_column: InstrumentedAttribute[Any],
    *,
    cursor: str | None,
    limit: int,
) -> tuple[Sequence[Any], str | None]:
    """Rows after ``cursor`` ordered by ``id_column``, and the cursor of the next page (None at the end)."""
    if cursor:
        stmt = stmt.where(id_column > decode_cursor(cursor))
    rows = (await session.execute(stmt.order_by(id_column).limit(limit + 1))).scalars().all()
    if len(rows) > limit:
        return rows[:limit], encode_cursor(getattr(rows[limit - 1], id_column.key))
    return rows, None
