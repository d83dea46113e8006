"""The live event stream (Server-Sent Events): every event the caller's jurisdiction may see, as it happens."""

from __future__ import annotations

import asyncio
import json
import logging
from collections.abc import AsyncIterator

from nats.aio.msg import Msg

from services.common.auth import Caller
from services.common.messaging import Bus, stop_task

log = logging.getLogger("qsr.gateway.stream")
KEEPALIVE_SECONDS = 15.0
QUEUE_SIZE = 1000


class EventHub:
    """One NATS subscription to every domain event, fanned out to connected SSE clients by region."""

    def __init__(self, bus: Bus) -> None:
        self.bus = bus
        self._clients: set[tuple[Caller, asyncio.Queue[tuple[str, str, bytes] | None]]] = set()
        self._task: asyncio.Task[None] | None = None

    def start(self) -> None:
        self._task = asyncio.create_task(self._subscribe(), name="gateway-event-hub")

    async def _subscribe(self) -> None:
        await self.bus.ready.wait()
        assert self.bus.nc is not None
        for service in ("registry", "grading", "inspection", "exam", "reporting"):
            await self.bus.nc.subscribe(f"qsr.{service}.>", cb=self._on_message)

    async def stop(self) -> None:
        await stop_task(self._task)

    def close_streams(self) -> None:
        """End every open stream, so that a shutdown need not wait for clients to hang up."""
        for _, queue in list(self._clients):
            try:
                queue.put_nowait(None)
            except asyncio.QueueFull:
                queue.get_nowait()
                queue.put_nowait(None)

    async def _on_message(self, msg: Msg) -> None:
        try:
            event = json.loads(msg.data)
            region, event_id, event_type = event["region"], event["id"], event["type"]
        except (ValueError, KeyError, TypeError):
            return
        for caller, queue in list(self._clients):
            if caller.is_regulator and caller.can_see(region):
                try:
                    queue.put_nowait((event_id, event_type, msg.data))
                except asyncio.QueueFull:
                    log.warning("SSE client %s is too slow; dropping an event", caller.username)

    async def events(self, caller: Caller) -> AsyncIterator[bytes]:
        queue: asyncio.Queue[tuple[str, str, bytes] | None] = asyncio.Queue(QUEUE_SIZE)
        client = (caller, queue)
        self._clients.add(client)
        try:
            yield b": connected\n\n"
            while True:
                try:
                    async with asyncio.timeout(KEEPALIVE_SECONDS):  # not wait_for: see OutboxRelay._run
                        item = await queue.get()
                except TimeoutError:
                    yield b": keep-alive\n\n"
                    continue
                if item is None:
                    return
                event_id, event_type, data = item
                yield b"id: %s\nevent: %s\ndata: %s\n\n" % (event_id.encode(), event_type.encode(), data)
        finally:
            self._clients.discard(client)
