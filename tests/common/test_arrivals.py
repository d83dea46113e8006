"""The waiters for units not known yet: woken by the events applied, bounded in time and number."""

from __future__ import annotations

import asyncio
import time

import pytest

from services.common.arrivals import Arrivals
from services.common.db import utcnow
from services.common.events import CloudEvent

pytestmark = pytest.mark.asyncio


def _event(enterprise_id: str) -> CloudEvent:
    return CloudEvent(
        id=f"e-{enterprise_id}",
        source="/qsr/registry",
        type="qsr.registry.enterprise.updated.v1",
        time=utcnow(),
        region="141121",
        enterpriseid=enterprise_id,
        data={},
    )


async def test_a_waiter_wakes_when_its_unit_is_applied_and_not_for_another() -> None:
    arrivals = Arrivals(wait_seconds=5)
    waiting = asyncio.create_task(arrivals.wait("unit-1", 5))
    await asyncio.sleep(0.05)
    assert arrivals.waiting == 1
    arrivals.applied([_event("unit-2")])
    await asyncio.sleep(0.05)
    assert not waiting.done()
    started = time.monotonic()
    arrivals.applied([_event("unit-2"), _event("unit-1")])
    assert await waiting is True
    assert time.monotonic() - started < 0.1
    assert arrivals.waiting == 0


async def test_a_wait_ends_at_its_timeout() -> None:
    arrivals = Arrivals(wait_seconds=5)
    started = time.monotonic()
    assert await arrivals.wait("unit-1", 0.2) is False
    assert 0.2 <= time.monotonic() - started < 1.0
    assert arrivals.waiting == 0


async def test_waiters_are_capped_and_a_cancelled_one_leaves_nothing_behind() -> None:
    arrivals = Arrivals(wait_seconds=5, max_waiters=2)
    first = asyncio.create_task(arrivals.wait("unit-1", 5))
    second = asyncio.create_task(arrivals.wait("unit-1", 5))
    await asyncio.sleep(0.05)
    started = time.monotonic()
    assert await arrivals.wait("unit-1", 5) is False  # full: answered at once
    assert time.monotonic() - started < 0.1
    first.cancel()
    with pytest.raises(asyncio.CancelledError):
        await first
    assert arrivals.waiting == 1
    arrivals.notify(["unit-1", None])
    assert await second is True
    assert arrivals.waiting == 0 and not arrivals._waiters
