"""Set-based consumers of events about one unit each: a read model kept per enterprise id.

:func:`by_unit` turns per-event *mutators* (change the unit's row as the event says) into one
:class:`~services.common.messaging.Batched` handler. A batch then reads the rows of every unit it names in
one query, makes the missing ones in one INSERT … ON CONFLICT DO NOTHING (another consumer of the same
service may make the same row at the same moment), applies the events to the rows in stream order, and
leaves the writes to the batch's flush (one executemany per table).
"""

from __future__ import annotations

import logging
from collections.abc import Awaitable, Callable, Sequence
from typing import Any

from sqlalchemy import select
from sqlalchemy.ext.asyncio import AsyncSession

from services.common.db import insert_ignoring_duplicates
from services.common.events import CloudEvent, EventSpec
from services.common.messaging import Batched, Delivery

log = logging.getLogger("qsr.projection")

Mutator = Callable[[AsyncSession, Any, CloudEvent, Any], Awaitable[None]]
"""Applies one event to its unit's row (the session is there for the rare write beyond the row)."""

NewRow = Callable[[CloudEvent, Any], dict[str, Any]]
"""The columns of a unit's row made by the first event that names it."""


def by_unit(
    model: Any, mutators: dict[EventSpec[Any], Mutator], *, new_row: NewRow | None = None
) -> dict[EventSpec[Any], Batched]:
    """One set-based handler for every event type in ``mutators``; ``model``'s primary key is the unit's id.
    Without ``new_row``, an event for a unit the model does not hold is logged and skipped."""
    (key,) = model.__table__.primary_key.columns
    table = model.__table__
    mutators_by_type = {spec.type: mutator for spec, mutator in mutators.items()}

    async def apply(session: AsyncSession, deliveries: Sequence[Delivery]) -> None:
        units = {d.payload.enterprise_id: d for d in reversed(deliveries)}  # the first event naming each
        if new_row is not None:
            await session.execute(
                insert_ignoring_duplicates(session, table),
                [new_row(d.event, d.payload) for _, d in sorted(units.items())],
            )
        # Locked in key order: replicas consuming one stream at once would otherwise each write back a row
        # the other changed meanwhile (a count incremented twice from the same value).
        stmt = select(model).where(key.in_(list(units))).order_by(key).with_for_update()
        rows = {getattr(row, key.name): row for row in (await session.scalars(stmt)).all()}
        with session.no_autoflush:
            for d in deliveries:
                row = rows.get(d.payload.enterprise_id)
                if row is None:
                    log.warning(
                        "%s %s for unknown unit %s ignored", d.event.type, d.event.id, d.payload.enterprise_id
                    )
                    continue
                await mutators_by_type[d.event.type](session, row, d.event, d.payload)

    return dict.fromkeys(mutators, Batched(apply))
