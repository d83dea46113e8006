"""The live event stream (Server-Sent Events): every event the caller's jurisdiction may see, as it happens.

A client that reconnects with ``Last-Event-ID`` first gets, from JetStream, what it missed. Which events are
"after" the last one is decided by the time JetStream stored them (the order they went out live in), not by the
ids' own time: an outbox relay may publish an event minutes after it was made. Every visible event stored at
most ``RESUME_MARGIN`` before the last one, or later, is replayed (except the last one itself), so nothing is
lost; the few within the margin the client may have had already, and it de-duplicates them by id.
"""

from __future__ import annotations

import asyncio
import contextlib
import json
import logging
import time
import uuid
from collections.abc import AsyncIterator
from datetime import UTC, datetime, timedelta

import nats
from nats.aio.msg import Msg
from nats.js.api import AckPolicy, ConsumerConfig, DeliverPolicy

from services.common.auth import Caller
from services.common.messaging import Bus, stop_task, stream_name
from services.common.settings import SERVICES

log = logging.getLogger("qsr.gateway.stream")
KEEPALIVE_SECONDS = 15.0
QUEUE_SIZE = 1000
RESUME_MARGIN = timedelta(seconds=2)  # producers' and servers' clocks, and streams, are not in lock-step
RESUME_MAX_AGE = timedelta(hours=24)
RESUME_MAX_EVENTS = 10_000
REPEAT_WINDOW_SECONDS = 60.0  # how long after a replay a live event may still be one of it
RESET = b"event: reset\ndata: {}\n\n"

Item = tuple[str, str, bytes]


def _id_time(event_id: str) -> datetime | None:
    """The time a UUIDv7 event id was made, or None for anything else."""
    try:
        value = uuid.UUID(event_id)
    except (ValueError, AttributeError, TypeError):
        return None
    if value.version != 7:
        return None
    return datetime.fromtimestamp((value.int >> 80) / 1000, UTC)


def _parse(data: bytes) -> tuple[str, str, str] | None:
    """(region, id, type) of an event, or None if it is not one."""
    try:
        event = json.loads(data)
        return str(event["region"]), str(event["id"]), str(event["type"])
    except (ValueError, KeyError, TypeError):
        return None


def _visible(caller: Caller, region: str) -> bool:
    """Whether ``caller`` may see an event of ``region``; live and replayed events alike."""
    return caller.is_regulator and caller.can_see(region)


class _TooFarBack(Exception):
    """The gap is longer than a replay covers: the client must reload its view."""


class EventHub:
    """One NATS subscription to every domain event, fanned out to connected SSE clients by region."""

    def __init__(self, bus: Bus) -> None:
        self.bus = bus
        self._clients: set[tuple[Caller, asyncio.Queue[Item | None]]] = set()
        self._task: asyncio.Task[None] | None = None

    def start(self) -> None:
        self._task = asyncio.create_task(self._subscribe(), name="gateway-event-hub")

    async def _subscribe(self) -> None:
        await self.bus.ready.wait()
        assert self.bus.nc is not None
        for service in SERVICES:
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
        parsed = _parse(msg.data)
        if parsed is None:
            return
        region, event_id, event_type = parsed
        for caller, queue in list(self._clients):
            if _visible(caller, region):
                try:
                    queue.put_nowait((event_id, event_type, msg.data))
                except asyncio.QueueFull:
                    log.warning("SSE client %s is too slow; dropping an event", caller.username)

    async def events(self, caller: Caller, last_event_id: str | None = None) -> AsyncIterator[bytes]:
        queue: asyncio.Queue[Item | None] = asyncio.Queue(QUEUE_SIZE)
        client = (caller, queue)
        self._clients.add(client)  # first, so that what is published during the replay waits in the queue
        try:
            yield b": connected\n\n"
            sent: set[str] = set()  # the replayed ids, while their live copies may still come
            forget_at = 0.0
            if last_event_id is not None:
                replay = await self._replay(caller, last_event_id)
                if replay is None:
                    yield RESET
                for event_id, event_type, data in replay or ():
                    sent.add(event_id)
                    yield _message(event_id, event_type, data)
                forget_at = time.monotonic() + REPEAT_WINDOW_SECONDS
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
                if sent and time.monotonic() > forget_at:
                    sent.clear()
                if event_id in sent:  # replayed already
                    continue
                yield _message(event_id, event_type, data)
        finally:
            self._clients.discard(client)

    async def _replay(self, caller: Caller, last_event_id: str) -> list[Item] | None:
        """What ``caller`` may see of the events after ``last_event_id``, oldest first; None when they cannot
        be told (an id not an event's, too long a gap, NATS unavailable): the client must reload its view."""
        made = _id_time(last_event_id)
        if made is None or made < datetime.now(UTC) - RESUME_MAX_AGE or self.bus.js is None:
            return None
        start = made - RESUME_MARGIN
        found: list[tuple[datetime, int, int, tuple[str, str, str], bytes]] = []
        try:
            for n, service in enumerate(SERVICES):
                for msg in await self._read_from(service, start):
                    if (parsed := _parse(msg.data)) is not None:
                        found.append(
                            (msg.metadata.timestamp, n, msg.metadata.sequence.stream, parsed, msg.data)
                        )
                    if len(found) > RESUME_MAX_EVENTS:
                        raise _TooFarBack
        except _TooFarBack:
            log.info("SSE client %s: more than %d events to replay", caller.username, RESUME_MAX_EVENTS)
            return None
        except Exception as exc:
            log.warning("SSE client %s: cannot replay from JetStream (%s)", caller.username, exc)
            return None
        found.sort(key=lambda row: row[:3])
        stored = next((row[0] for row in found if row[3][1] == last_event_id), None)
        if stored is None:  # not an event we have (or one stored long after it was made): start afresh
            return None
        return [
            (event_id, event_type, data)
            for timestamp, _, _, (region, event_id, event_type), data in found
            if timestamp >= stored - RESUME_MARGIN and event_id != last_event_id and _visible(caller, region)
        ]

    async def _read_from(self, service: str, start: datetime) -> list[Msg]:
        """Every message of ``service``'s stream stored since ``start``, up to now (an ephemeral consumer)."""
        js = self.bus.js
        assert js is not None
        config = ConsumerConfig(
            deliver_policy=DeliverPolicy.BY_START_TIME,
            opt_start_time=start,
            ack_policy=AckPolicy.NONE,
            inactive_threshold=30.0,
            mem_storage=True,
        )
        sub = await js.pull_subscribe(f"qsr.{service}.>", stream=stream_name(service), config=config)
        messages: list[Msg] = []
        name = None
        try:
            info = await sub.consumer_info()
            name, pending = info.name, info.num_pending
            deadline = time.monotonic() + 10
            while pending and time.monotonic() < deadline:
                try:
                    batch = await sub.fetch(batch=min(pending, 500), timeout=2)
                except (TimeoutError, nats.errors.TimeoutError):
                    continue
                messages.extend(batch)
                if len(messages) > RESUME_MAX_EVENTS:
                    raise _TooFarBack
                pending = batch[-1].metadata.num_pending
            if pending:
                raise RuntimeError(f"{pending} events of {service} still unread")
        finally:
            with contextlib.suppress(Exception):
                await sub.unsubscribe()
            if name is not None:
                with contextlib.suppress(Exception):
                    await js.delete_consumer(stream_name(service), name)
        return messages


def _message(event_id: str, event_type: str, data: bytes) -> bytes:
    return b"id: %s\nevent: %s\ndata: %s\n\n" % (event_id.encode(), event_type.encode(), data)
