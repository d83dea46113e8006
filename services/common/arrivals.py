"""Read your own writes across services: a request naming a unit this service has not learned of yet waits for
the event that introduces it, a few seconds at most, before it answers 404.

A unit registered at registry reaches inspection and grading through ``registry.enterprise.registered``; a
client that registers a unit and names it at once elsewhere would otherwise get 404 for as long as the event
takes on a busy machine. Each inbox consumer reports, right after a commit, the units of the events it applied
(:meth:`Arrivals.applied`); a request waiting for one of them reads again at that moment, never on a timer.

The waiters live in the process. With several instances of a service behind one durable consumer, the instance
that applies the event may not be the one waiting: that request reads once more when its wait ends.
"""

from __future__ import annotations

import asyncio
import logging
from collections.abc import Awaitable, Callable, Iterable, Iterator, Sequence
from contextlib import contextmanager
from typing import Any

from sqlalchemy.ext.asyncio import AsyncSession

from services.common.db import Database
from services.common.events import CloudEvent

log = logging.getLogger("qsr.arrivals")


class Arrivals:
    """The requests of one process waiting for a unit, by enterprise id; woken by the inbox consumers."""

    MAX_WAITERS = 1000  # past this, a request for an unknown unit is answered at once, as before

    def __init__(self, *, wait_seconds: float, max_waiters: int = MAX_WAITERS) -> None:
        self.wait_seconds = wait_seconds
        self.max_waiters = max_waiters
        self._waiters: dict[str, set[asyncio.Event]] = {}
        self._count = 0

    @property
    def waiting(self) -> int:
        return self._count

    def notify(self, enterprise_ids: Iterable[str | None]) -> None:
        """Wake every request waiting for one of ``enterprise_ids``."""
        for enterprise_id in set(enterprise_ids):
            for arrived in self._waiters.get(enterprise_id or "", ()):
                arrived.set()

    def applied(self, events: Sequence[CloudEvent]) -> None:
        """The inbox consumer's ``on_applied``: these events are committed."""
        self.notify(event.enterpriseid for event in events)

    @contextmanager
    def watch(self, enterprise_id: str) -> Iterator[asyncio.Event | None]:
        """An event set whenever an event naming the unit is applied, for the block; None when too many
        requests wait already."""
        if self._count >= self.max_waiters:
            log.warning("%d requests wait for units already; not waiting for %s", self._count, enterprise_id)
            yield None
            return
        arrived = asyncio.Event()
        self._waiters.setdefault(enterprise_id, set()).add(arrived)
        self._count += 1
        try:
            yield arrived
        finally:  # also when the request is cancelled (the client went away)
            self._count -= 1
            waiters = self._waiters[enterprise_id]
            waiters.discard(arrived)
            if not waiters:
                del self._waiters[enterprise_id]

    async def wait(self, enterprise_id: str, timeout: float) -> bool:
        """Whether an event naming the unit was applied within ``timeout`` seconds."""
        with self.watch(enterprise_id) as arrived:
            return arrived is not None and await _set_within(arrived, timeout)


async def _set_within(arrived: asyncio.Event, timeout: float) -> bool:
    try:
        async with asyncio.timeout(timeout):
            await arrived.wait()
    except TimeoutError:
        return False
    return True


Lookup = Callable[[AsyncSession], Awaitable[Any]]


async def known_unit(db: Database, arrivals: Arrivals | None, enterprise_id: str, lookup: Lookup) -> Any:
    """What ``lookup`` (the caller's scoped read of the unit; None when not found) finds, waiting up to
    ``arrivals.wait_seconds`` for an event naming the unit; None when it is still not there. Every read has a
    session of its own, closed before waiting: no transaction stays open meanwhile. A change then reads the
    unit again in its own transaction and answers 404 as before when it is not there; a read can answer with
    what was found, so that a unit already known costs the lookup alone.

    A unit out of the caller's jurisdiction waits as long as one that does not exist, so the time taken does
    not tell them apart.
    """
    async with db.session() as session:
        if (found := await lookup(session)) is not None:
            return found
    if arrivals is None or arrivals.wait_seconds <= 0:
        return None
    loop = asyncio.get_running_loop()
    deadline = loop.time() + arrivals.wait_seconds
    with arrivals.watch(enterprise_id) as arrived:
        if arrived is None:
            return None
        while True:
            # The first read after watching catches an event applied since the read above; the last one, at the
            # deadline, one applied by another instance of the service.
            async with db.session() as session:
                if (found := await lookup(session)) is not None:
                    return found
            remaining = deadline - loop.time()
            if remaining <= 0:
                return None
            await _set_within(arrived, remaining)
            arrived.clear()
