"""A record and its child rows in one statement: each list of children is a correlated subquery aggregated
into one JSON array (PostgreSQL ``json_agg``, SQLite ``json_group_array``), chosen by the session's dialect.

A record read as the unit and then each of its lists costs a round trip per list, about a millisecond each
through the async drivers, which made reads by id several times slower than the database answers them.

Each child row travels as a JSON array of its columns, in the order given, and :func:`decode` turns it back
into the Python values the ORM would have given, so that a response built from it is the same to the byte:
a timestamp is sent in UTC without an offset on PostgreSQL (SQLite stores it so), a float on SQLite with
17 significant digits (its JSON functions keep 15, which does not give the same double back), a date as
ISO text on both.
"""

from __future__ import annotations

from collections.abc import Sequence
from dataclasses import replace
from datetime import UTC, date, datetime
from typing import Any

from sqlalchemy import (
    JSON,
    Boolean,
    Date,
    DateTime,
    Float,
    case,
    func,
    literal_column,
    null,
    select,
    type_coerce,
)
from sqlalchemy.ext.asyncio import AsyncSession
from sqlalchemy.sql.elements import ColumnElement
from sqlalchemy.sql.selectable import ScalarSelect

from services.common.auth import Caller


def dialect_of(session: AsyncSession) -> str:
    return session.bind.dialect.name if session.bind is not None else "sqlite"


def scope_of(caller: Caller) -> Caller:
    """The caller without its name: what a statement scoped by role, region and unit depends on.

    A read by id builds its statement once per dialect and scope (``functools.lru_cache`` keyed by this) with
    the id as a bound parameter: building it, and SQLAlchemy's cache key of it (memoized on the statement
    object), cost more than the query itself when done at every request. Only for statements that do not
    depend on the caller's username."""
    return replace(caller, username="")


def _sent(dialect: str, column: Any) -> Any:
    kind = column.type
    if dialect == "postgresql" and isinstance(kind, DateTime):
        return func.timezone(literal_column("'UTC'"), column)
    if dialect == "sqlite" and isinstance(kind, Float):
        return case((column.is_(None), null()), else_=func.printf(literal_column("'%!.17g'"), column))
    return column


def json_rows(
    dialect: str, columns: Sequence[Any], *, where: ColumnElement[bool], order_by: Sequence[Any]
) -> ScalarSelect[Any]:
    """The rows matching ``where`` (which names the outer query's table, so the subquery correlates with it),
    in ``order_by`` order, as one JSON array of arrays of ``columns``; an empty array when there are none."""
    if dialect == "postgresql":
        row = func.json_build_array(*(_sent(dialect, c) for c in columns))
        agg = func.coalesce(func.json_agg(row).aggregate_order_by(*order_by), literal_column("'[]'::json"))
        return select(type_coerce(agg, JSON)).where(where).scalar_subquery()
    # SQLite 3.40 has no ORDER BY inside an aggregate; an aggregate over an ordered subquery takes its rows in
    # that order (the subquery is not flattened into an aggregate query, so its ORDER BY stands).
    table = columns[0].table
    ordered = select(*columns).where(where).order_by(*order_by).correlate_except(table).subquery()
    row = func.json_array(*(_sent(dialect, ordered.c[c.key]) for c in columns))
    return select(type_coerce(func.json_group_array(row), JSON)).scalar_subquery()


def _received(kind: Any) -> Any:
    if isinstance(kind, DateTime):
        return lambda v: datetime.fromisoformat(v).replace(tzinfo=UTC)
    if isinstance(kind, Date):
        return date.fromisoformat
    if isinstance(kind, Float):
        return float
    if isinstance(kind, Boolean):
        return bool
    return None


def decode(columns: Sequence[Any], rows: list[list[Any]] | None) -> list[dict[str, Any]]:
    """The rows of :func:`json_rows` over ``columns`` as dicts of Python values by column name."""
    if not rows:
        return []
    names = [c.key for c in columns]
    converters = [(i, f) for i, c in enumerate(columns) if (f := _received(c.type)) is not None]
    decoded = []
    for row in rows:
        for i, convert in converters:
            if row[i] is not None:
                row[i] = convert(row[i])
        decoded.append(dict(zip(names, row, strict=True)))
    return decoded
