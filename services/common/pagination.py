"""Keyset (cursor) pagination over a unique, time-ordered id: stable while rows are inserted; and over any
non-null sort column with the id breaking ties (``keyset_sorted``)."""

from __future__ import annotations

import base64
import binascii
import json
from collections.abc import Sequence
from datetime import date, datetime
from typing import Any, Generic, TypeVar

from pydantic import BaseModel
from sqlalchemy import Select, literal, tuple_
from sqlalchemy.ext.asyncio import AsyncSession
from sqlalchemy.orm import InstrumentedAttribute

from services.common.db import as_utc
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


def _cursor_value(value: Any) -> Any:
    if isinstance(value, datetime):
        return as_utc(value).isoformat()
    if isinstance(value, date):
        return value.isoformat()
    return value


def _typed(column: InstrumentedAttribute[Any], value: Any) -> Any:
    """The cursor's sort value back as the column's Python type (ValueError/TypeError when it is not one)."""
    kind = column.type.python_type
    if kind is datetime:
        return as_utc(datetime.fromisoformat(value))
    if kind is date:
        return date.fromisoformat(value)
    if kind is float and isinstance(value, int) and not isinstance(value, bool):
        return float(value)
    if kind is bool or not isinstance(value, kind) or isinstance(value, bool):
        raise TypeError(f"not a {kind.__name__}: {value!r}")
    return value


def sorted_page(
    stmt: Select[Any],
    sort_column: InstrumentedAttribute[Any],
    id_column: InstrumentedAttribute[Any],
    *,
    descending: bool = False,
    cursor: str | None,
    limit: int,
) -> Select[Any]:
    """The statement of one page of ``keyset_sorted`` (``limit + 1`` rows, to tell whether more follow)."""
    by_id = sort_column.key == id_column.key
    if cursor:
        try:
            padded = cursor + "=" * (-len(cursor) % 4)
            payload = json.loads(base64.urlsafe_b64decode(padded))
            if payload["sort"] != sort_column.key or payload["desc"] is not descending:
                raise ValueError("the cursor belongs to another order")
            after = payload["after"]
            if not isinstance(after, str):
                raise TypeError("not an id")
            value = None if by_id else _typed(sort_column, payload["value"])
        except (binascii.Error, ValueError, KeyError, TypeError) as exc:
            raise Invalid(
                "分页游标无效或与当前排序方式不一致，请使用上一页返回的 next_cursor", field="cursor"
            ) from exc
        if by_id:
            stmt = stmt.where(id_column < after if descending else id_column > after)
        else:
            row = tuple_(sort_column, id_column)
            last = tuple_(literal(value, sort_column.type), literal(after, id_column.type))
            stmt = stmt.where(row < last if descending else row > last)
    columns = [id_column] if by_id else [sort_column, id_column]
    return stmt.order_by(*(column.desc() if descending else column for column in columns)).limit(limit + 1)


async def keyset_sorted(
    session: AsyncSession,
    stmt: Select[Any],
    sort_column: InstrumentedAttribute[Any],
    id_column: InstrumentedAttribute[Any],
    *,
    descending: bool = False,
    cursor: str | None,
    limit: int,
) -> tuple[Sequence[Any], str | None]:
    """Rows after ``cursor`` ordered by ``sort_column`` (non-null), ties broken by the unique ``id_column``,
    ascending or descending, and the cursor of the next page (None at the end).

    The cursor carries the last row's sort value and id and the order it belongs to, so that the next page
    starts exactly after that row (a row value comparison an index on ``(sort, id)`` serves); a cursor of
    another order, or one not made here, is refused with 422."""
    page = sorted_page(stmt, sort_column, id_column, descending=descending, cursor=cursor, limit=limit)
    rows = (await session.execute(page)).scalars().all()
    if len(rows) <= limit:
        return rows, None
    last_row = rows[limit - 1]
    payload = {"sort": sort_column.key, "desc": descending, "after": getattr(last_row, id_column.key)}
    if sort_column.key != id_column.key:
        payload["value"] = _cursor_value(getattr(last_row, sort_column.key))
    encoded = base64.urlsafe_b64encode(json.dumps(payload, ensure_ascii=False).encode()).decode()
    return rows[:limit], encoded.rstrip("=")
