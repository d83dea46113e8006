"""Reliable events: the outbox (state and event commit together), its relay to JetStream, and the inbox.

Producers call :func:`emit` inside the transaction that changes their state; the :class:`OutboxRelay`
publishes committed rows with ``Nats-Msg-Id`` = event id, many acks in flight, woken by each commit.
Consumers run an :class:`InboxConsumer`, which applies each event id once in the same transaction as its
effect, then acks; a fetched batch shares one transaction, handed to set-based handlers (:class:`Batched`)
whole. A transient failure is nak'ed with a growing delay, a poison event goes to the dead-letter stream.
"""

from __future__ import annotations

import asyncio
import contextlib
import logging
from collections.abc import Awaitable, Callable, Iterable, Sequence
from dataclasses import dataclass
from datetime import datetime, timedelta
from typing import Any

import nats
from nats.aio.msg import Msg
from nats.js import JetStreamContext
from nats.js.api import (
    AckPolicy,
    ConsumerConfig,
    DeliverPolicy,
    DiscardPolicy,
    RetentionPolicy,
    StorageType,
    StreamConfig,
)
from nats.js.errors import NotFoundError
from pydantic import BaseModel, ValidationError
from sqlalchemy import Column, DateTime, Text, delete, func, select, update
from sqlalchemy.exc import IntegrityError
from sqlalchemy.ext.asyncio import AsyncSession
from sqlmodel import Field, SQLModel

from services.common import failpoints
from services.common.db import (
    Database,
    insert_at_commit,
    insert_ignoring_duplicates,
    is_sqlite,
    sqlite_lease,
    utcnow,
)
from services.common.events import CloudEvent, EventSpec, decode_payload, make_event
from services.common.settings import EXTERNAL_SOURCES, SERVICES, Settings

log = logging.getLogger("qsr.messaging")

DLQ_STREAM = "QSR_DLQ"


def stream_name(service: str) -> str:
    return f"QSR_{service.upper()}"


# --------------------------------------------------------------------------------------------------- tables


class OutboxMessage(SQLModel, table=True):
    __tablename__ = "outbox"

    id: int | None = Field(default=None, primary_key=True)
    event_id: str = Field(max_length=36, unique=True)
    subject: str = Field(max_length=200)
    type: str = Field(max_length=200)
    body: str = Field(sa_column=Column(Text, nullable=False))
    created_at: datetime = Field(sa_column=Column(DateTime(timezone=True), nullable=False))
    published_at: datetime | None = Field(default=None, sa_column=Column(DateTime(timezone=True), index=True))


class InboxMessage(SQLModel, table=True):
    __tablename__ = "inbox"

    event_id: str = Field(max_length=36, primary_key=True)
    type: str = Field(max_length=200)
    consumer: str = Field(max_length=100)
    applied_at: datetime = Field(sa_column=Column(DateTime(timezone=True), nullable=False))


class DeadLetter(SQLModel, table=True):
    __tablename__ = "dead_letter"

    id: int | None = Field(default=None, primary_key=True)
    event_id: str | None = Field(default=None, max_length=36, index=True)
    type: str | None = Field(default=None, max_length=200)
    subject: str = Field(max_length=200)
    consumer: str = Field(max_length=100)
    deliveries: int
    error: str = Field(sa_column=Column(Text, nullable=False))
    body: str = Field(sa_column=Column(Text, nullable=False))
    created_at: datetime = Field(sa_column=Column(DateTime(timezone=True), nullable=False))


def create_messaging_tables() -> None:
    """Create outbox, inbox and dead_letter (version 1 of their shape); every service's first migration calls it."""
    import sqlalchemy as sa
    from alembic import op

    op.create_table(
        "outbox",
        sa.Column("id", sa.Integer, primary_key=True),
        sa.Column("event_id", sa.String(36), nullable=False, unique=True),
        sa.Column("subject", sa.String(200), nullable=False),
        sa.Column("type", sa.String(200), nullable=False),
        sa.Column("body", sa.Text, nullable=False),
        sa.Column("created_at", sa.DateTime(timezone=True), nullable=False),
        sa.Column("published_at", sa.DateTime(timezone=True), nullable=True),
    )
    op.create_index("ix_outbox_published_at", "outbox", ["published_at"])
    op.create_table(
        "inbox",
        sa.Column("event_id", sa.String(36), primary_key=True),
        sa.Column("type", sa.String(200), nullable=False),
        sa.Column("consumer", sa.String(100), nullable=False),
        sa.Column("applied_at", sa.DateTime(timezone=True), nullable=False),
    )
    op.create_table(
        "dead_letter",
        sa.Column("id", sa.Integer, primary_key=True),
        sa.Column("event_id", sa.String(36), nullable=True, index=True),
        sa.Column("type", sa.String(200), nullable=True),
        sa.Column("subject", sa.String(200), nullable=False),
        sa.Column("consumer", sa.String(100), nullable=False),
        sa.Column("deliveries", sa.Integer, nullable=False),
        sa.Column("error", sa.Text, nullable=False),
        sa.Column("body", sa.Text, nullable=False),
        sa.Column("created_at", sa.DateTime(timezone=True), nullable=False),
    )


# --------------------------------------------------------------------------------------------------- outbox


def emit(
    session: AsyncSession, spec: EventSpec[Any], payload: BaseModel, *, region: str, enterprise_id: str | None
) -> CloudEvent:
    """Write an event to the outbox in the caller's transaction; it is published once that commits."""
    if not isinstance(payload, spec.payload):
        raise TypeError(f"{spec.type} takes {spec.payload.__name__}, not {type(payload).__name__}")
    event = make_event(spec, payload, region=region, enterprise_id=enterprise_id)
    row = {
        "event_id": event.id,
        "subject": spec.subject,
        "type": spec.type,
        "body": event.model_dump_json(),
        "created_at": event.time,
    }
    insert_at_commit(session, OutboxMessage.__table__, row)  # type: ignore[arg-type]
    session.info["outbox_dirty"] = True
    return event


class Bus:
    """One NATS connection of a service: connects in the background and keeps reconnecting."""

    def __init__(self, settings: Settings, name: str) -> None:
        self.settings = settings
        self.name = name
        self.nc: nats.NATS | None = None
        self.js: JetStreamContext | None = None
        self.ready = asyncio.Event()
        self._task: asyncio.Task[None] | None = None

    @property
    def connected(self) -> bool:
        return self.nc is not None and self.nc.is_connected

    def start(self) -> None:
        self._task = asyncio.create_task(self._connect_forever(), name=f"{self.name}-nats-connect")

    async def _connect_forever(self) -> None:
        delay = 0.2
        while True:
            try:
                self.nc = await nats.connect(
                    servers=self.settings.nats_servers,
                    name=f"qsr-{self.name}",
                    connect_timeout=2,
                    allow_reconnect=True,
                    max_reconnect_attempts=-1,
                    reconnect_time_wait=0.25,
                    error_cb=self._on_error,
                    reconnected_cb=self._on_reconnected,
                )
                self.js = self.nc.jetstream(timeout=5)
                await ensure_streams(self.js, self.settings)
                self.ready.set()
                return
            except Exception as exc:  # NATS not up yet: the service still serves and keeps its outbox
                log.warning("%s: NATS not reachable (%s); retrying in %.1fs", self.name, exc, delay)
                if self.nc is not None:
                    await _close_quietly(self.nc)
                    self.nc = None
                await asyncio.sleep(delay)
                delay = min(delay * 2, 5.0)

    async def _on_reconnected(self) -> None:
        # A server that lost its store (or a new cluster member) gets the streams again.
        if self.js is not None:
            try:
                await ensure_streams(self.js, self.settings)
            except Exception as exc:
                log.warning("%s: could not provision streams after reconnecting: %s", self.name, exc)

    async def _on_error(self, exc: Exception) -> None:
        log.debug("%s: NATS error: %s", self.name, exc)

    async def close(self) -> None:
        await stop_task(self._task)
        if self.nc is not None:
            await _close_quietly(self.nc)


async def stop_task(task: asyncio.Task[Any] | None) -> None:
    """Cancel a background task and wait until it has ended. The cancel is repeated: code below us
    (nats-py's fetch, asyncio.wait_for on Python 3.11) can swallow one that lands as its wait completes."""
    while task is not None and not task.done():
        task.cancel()
        await asyncio.wait({task}, timeout=0.5)
    if task is not None and not task.cancelled() and task.exception() is not None:
        log.warning("background task %s ended with %r", task.get_name(), task.exception())


async def _close_quietly(nc: nats.NATS) -> None:
    try:
        await nc.drain()
    except Exception:
        try:
            await nc.close()
        except Exception:
            pass


async def ensure_streams(js: JetStreamContext, settings: Settings) -> None:
    """One stream per publishing service or outside source, plus the dead-letter stream; idempotent."""
    configs = [
        StreamConfig(name=stream_name(service), subjects=[f"qsr.{service}.>"])
        for service in (*SERVICES, *EXTERNAL_SOURCES)
    ] + [StreamConfig(name=DLQ_STREAM, subjects=["qsr.dlq.>"])]
    for config in configs:
        config.retention = RetentionPolicy.LIMITS
        config.storage = StorageType.FILE
        config.discard = DiscardPolicy.OLD
        config.duplicate_window = 120.0
        config.num_replicas = settings.nats_replicas
        try:
            await js.stream_info(config.name)
            await js.update_stream(config)
        except NotFoundError:
            await js.add_stream(config)


class OutboxRelay:
    """Publishes committed outbox rows to JetStream in order; woken by commits, backs off while NATS is down.

    A round publishes up to ``BATCH`` rows with every publish in flight at once (JetStream's asynchronous
    publish, ``Nats-Msg-Id`` = event id, so a row published twice is stored once), waits for the acks and
    marks the acked rows in one statement. Several relays over one outbox (replicas of a service) take turns:
    a round holds the outbox's lease (a transaction-scoped advisory lock on PostgreSQL, the write lock on
    SQLite) from reading the rows until they are marked, so each row is published by one relay, in order.
    """

    BATCH = 1000
    ACK_TIMEOUT_SECONDS = 10.0
    IDLE_POLL_SECONDS = 2.0  # only a safety net: commits wake the relay at once
    RETENTION = timedelta(days=7)
    LEASE_KEY = 0x5152_4F42  # "QROB": one outbox per service database

    def __init__(self, db: Database, bus: Bus) -> None:
        self.db = db
        self.bus = bus
        self._wake = asyncio.Event()
        self._task: asyncio.Task[None] | None = None
        db.on_outbox_commit = self.wake

    def wake(self) -> None:
        self._wake.set()

    def start(self) -> None:
        self._wake.set()
        self._task = asyncio.create_task(self._run(), name=f"{self.bus.name}-outbox-relay")

    async def stop(self) -> None:
        await stop_task(self._task)

    async def _run(self) -> None:
        delay = 0.05
        last_cleanup = utcnow()
        while True:
            # asyncio.timeout, not wait_for: on Python 3.11 wait_for can swallow a cancellation that lands
            # as the event fires, and stop() would then wait for ever.
            try:
                async with asyncio.timeout(self.IDLE_POLL_SECONDS):
                    await self._wake.wait()
            except TimeoutError:
                pass
            self._wake.clear()
            try:
                await self.bus.ready.wait()
                while await self.publish_pending() == self.BATCH:
                    pass
                delay = 0.05
                if utcnow() - last_cleanup > timedelta(hours=1):
                    await self._cleanup()
                    last_cleanup = utcnow()
            except asyncio.CancelledError:
                raise
            except Exception as exc:
                log.warning(
                    "%s: outbox relay cannot publish (%s); retrying in %.2fs", self.bus.name, exc, delay
                )
                await asyncio.sleep(delay)
                delay = min(delay * 2, 5.0)
                self._wake.set()

    async def publish_pending(self) -> int:
        """Publish the oldest unpublished rows; returns how many were published (0 while another relay holds
        the lease). Raises when some publish was not acked; the acked ones are marked all the same."""
        if is_sqlite(self.db.url):
            # Read, publish, then mark in a transaction of its own: a SQLite transaction that read before
            # another connection wrote could not write afterwards, and one that holds the write lock while
            # JetStream acks would make every API write wait.
            with sqlite_lease(self.db.url, "relay") as held:
                if not held:
                    return 0
                async with self.db.session() as session:
                    rows = await self._pending(session)
                done, acks = await self._publish_rows(rows)
                if done:
                    async with self.db.transaction() as session:
                        await self._mark(session, done)
        else:
            async with self.db.transaction() as session:
                if not await session.scalar(select(func.pg_try_advisory_xact_lock(self.LEASE_KEY))):
                    return 0
                rows = await self._pending(session)
                done, acks = await self._publish_rows(rows)
                if done:
                    await self._mark(session, done)
        if len(done) < len(rows):
            failed = next(ack for ack in acks if isinstance(ack, BaseException))
            raise RuntimeError(f"{len(rows) - len(done)} of {len(rows)} publishes not acked: {failed!r}")
        return len(done)

    async def _pending(self, session: AsyncSession) -> list[Any]:
        stmt = (
            select(OutboxMessage.id, OutboxMessage.event_id, OutboxMessage.subject, OutboxMessage.body)
            .where(OutboxMessage.published_at.is_(None))  # type: ignore[union-attr]
            .order_by(OutboxMessage.id)  # type: ignore[arg-type]
            .limit(self.BATCH)
        )
        return list((await session.execute(stmt)).all())

    async def _publish_rows(self, rows: list[Any]) -> tuple[list[int], list[Any]]:
        """Publish ``rows``; the ids of those acked, and each row's ack (or the exception in its place)."""
        if not rows:
            return [], []
        acks = await self._publish([(subject, body, event_id) for _, event_id, subject, body in rows])
        return [
            row[0] for row, ack in zip(rows, acks, strict=True) if not isinstance(ack, BaseException)
        ], acks

    async def _mark(self, session: AsyncSession, done: list[int]) -> None:
        # By id, never by range: a row of a transaction that commits later may carry an id between.
        await session.execute(
            update(OutboxMessage).where(OutboxMessage.id.in_(done)).values(published_at=utcnow())  # type: ignore[union-attr]
        )

    async def _publish(self, messages: list[tuple[str, str, str]]) -> list[Any]:
        """Publish every message with its ack in flight; returns each ack or the exception in its place."""
        js = self.bus.js
        assert js is not None
        futures: list[asyncio.Future[Any]] = []
        try:
            for subject, body, event_id in messages:
                futures.append(
                    await js.publish_async(subject, body.encode(), headers={"Nats-Msg-Id": event_id})
                )
        except Exception as exc:  # disconnected mid-round: what went out may still be acked
            log.warning("%s: outbox relay stopped publishing after %d: %s", self.bus.name, len(futures), exc)
        done, _ = await asyncio.wait(futures, timeout=self.ACK_TIMEOUT_SECONDS) if futures else (set(), set())
        results: list[Any] = []
        for future in futures:
            if future in done:
                results.append(future.exception() or future.result())
            else:
                future.cancel()
                results.append(TimeoutError("no ack from JetStream"))
        results.extend(ConnectionError("not published") for _ in messages[len(futures) :])
        return results

    async def _cleanup(self) -> None:
        async with self.db.transaction() as session:
            await session.execute(
                delete(OutboxMessage).where(OutboxMessage.published_at < utcnow() - self.RETENTION)  # type: ignore[operator]
            )


# --------------------------------------------------------------------------------------------------- inbox


@dataclass(frozen=True)
class Delivery:
    """A message decoded into an event this consumer applies."""

    msg: Msg
    event: CloudEvent
    payload: Any
    handler: Handler | Batched

    @property
    def deliveries(self) -> int:
        return self.msg.metadata.num_delivered


Handler = Callable[[AsyncSession, CloudEvent, Any], Awaitable[None]]
"""Applies one event in the batch's transaction (a handler that is not set-based yet)."""


@dataclass(frozen=True, eq=False)
class Batched:
    """A set-based handler: applies a run of consecutive events of the batch (stream order) at once, reading
    the state of all their keys in one query per table and writing with one statement per table. Give every
    event type it handles the same ``Batched`` object, and the whole batch is one call."""

    apply: Callable[[AsyncSession, Sequence[Delivery]], Awaitable[None]]


class PoisonEvent(Exception):
    """An event that can never be applied (bad data, broken invariant): it goes to the dead-letter stream."""


class InboxConsumer:
    """A durable pull consumer of one stream that applies each event once (inbox) and then acks.

    A fetched batch is applied in one transaction: its inbox rows in one insert (an event already there is
    skipped), then its events in stream order, consecutive events of one set-based handler in one call. If
    the transaction fails, at a handler or at its commit, the batch is split in halves applied one after the
    other, down to the one event that fails: that one alone is retried later or dead-lettered.
    """

    BATCH = 500

    def __init__(
        self,
        *,
        db: Database,
        bus: Bus,
        service: str,
        stream: str,
        handlers: dict[EventSpec[Any], Handler | Batched],
    ) -> None:
        self.db = db
        self.bus = bus
        self.service = service
        self.stream = stream
        self.durable = f"{service}-v1"
        self.handlers = {spec.type: handler for spec, handler in handlers.items()}
        self.subjects = sorted({spec.subject for spec in handlers})
        self.max_deliver = bus.settings.max_deliver
        # Called with the events of every commit that applied some (e.g. to wake requests waiting for them).
        self.on_applied: Callable[[list[CloudEvent]], None] | None = None
        self._task: asyncio.Task[None] | None = None

    def start(self) -> None:
        self._task = asyncio.create_task(self._run(), name=f"{self.durable}-{self.stream}")

    async def stop(self) -> None:
        await stop_task(self._task)

    async def _subscribe(self) -> Any:
        js = self.bus.js
        assert js is not None
        config = ConsumerConfig(
            durable_name=self.durable,
            deliver_policy=DeliverPolicy.ALL,
            ack_policy=AckPolicy.EXPLICIT,
            ack_wait=self.bus.settings.ack_wait_seconds,
            # The bound on deliveries is ours (dead letter), so the server never drops a message silently.
            max_deliver=-1,
            filter_subjects=self.subjects,
            max_ack_pending=4 * self.BATCH,
        )
        try:
            await js.add_consumer(self.stream, config)
        except Exception as exc:  # exists with another config: keep it, the durable name carries the version
            log.info("%s: consumer %s on %s kept (%s)", self.service, self.durable, self.stream, exc)
        return await js.pull_subscribe_bind(self.durable, self.stream)

    async def _run(self) -> None:
        await self.bus.ready.wait()
        delay = 0.2
        sub = None
        while True:
            try:
                if sub is None:
                    sub = await self._subscribe()
                try:
                    messages = await sub.fetch(batch=self.BATCH, timeout=5)
                except (TimeoutError, nats.errors.TimeoutError):
                    continue
                await self.handle_batch(messages)
                delay = 0.2
            except asyncio.CancelledError:
                raise
            except Exception as exc:
                log.warning(
                    "%s: consumer on %s failed (%s); retrying in %.1fs", self.service, self.stream, exc, delay
                )
                # Subscribe afresh: a NATS that restarted may not know the consumer (or its stream) yet.
                if sub is not None:
                    with contextlib.suppress(Exception):
                        await sub.unsubscribe()
                    sub = None
                await asyncio.sleep(delay)
                delay = min(delay * 2, 5.0)

    async def handle_batch(self, messages: list[Msg]) -> None:
        """Apply the events of ``messages`` in their order and ack each once its effect is committed."""
        pending = [delivery for msg in messages if (delivery := await self._decode(msg)) is not None]
        if pending:
            await self._settle(pending)

    async def _settle(self, batch: list[Delivery]) -> None:
        """Apply ``batch`` in one transaction and ack it; if that fails, each half on its own, in order."""
        try:
            applied = await self._apply(batch)
        except Exception as exc:
            if len(batch) == 1:
                await self._failed(batch[0], exc)
                return
            log.info(
                "%s: a batch of %d events from %s failed (%s); splitting it",
                self.service,
                len(batch),
                self.stream,
                exc,
            )
            half = len(batch) // 2
            await self._settle(batch[:half])
            await self._settle(batch[half:])
            return
        if applied:
            failpoints.hit("inbox.after_commit")
            if self.on_applied is not None:
                self.on_applied([delivery.event for delivery in applied])
        for delivery in batch:
            await delivery.msg.ack()

    async def _apply(self, batch: list[Delivery]) -> list[Delivery]:
        """Apply the events of ``batch`` this service has not applied yet, in one transaction; returns them.
        An exception means nothing was committed."""
        async with self.db.transaction() as session:
            fresh = await self._claim(session, batch)
            i = 0
            while i < len(fresh):
                handler = fresh[i].handler
                if isinstance(handler, Batched):
                    j = i + 1
                    while j < len(fresh) and fresh[j].handler is handler:
                        j += 1
                    await handler.apply(session, fresh[i:j])
                    i = j
                else:
                    await handler(session, fresh[i].event, fresh[i].payload)
                    i += 1
            if fresh:
                failpoints.hit("inbox.before_commit")
        return fresh

    async def _claim(self, session: AsyncSession, batch: list[Delivery]) -> list[Delivery]:
        """Insert the batch's inbox rows in one statement; the events whose rows are new, in batch order (the
        first of two deliveries of one event)."""
        first: dict[str, Delivery] = {}
        for delivery in batch:
            first.setdefault(delivery.event.id, delivery)
        now = utcnow()
        rows = [
            {"event_id": d.event.id, "type": d.event.type, "consumer": self.durable, "applied_at": now}
            for d in first.values()
        ]
        table = InboxMessage.__table__
        new = set(
            await session.scalars(
                insert_ignoring_duplicates(session, table).returning(table.c.event_id),  # type: ignore[arg-type,attr-defined]
                rows,
            )
        )
        return [d for event_id, d in first.items() if event_id in new]

    async def _decode(self, msg: Msg) -> Delivery | None:
        """The event to apply, or None once a message that has none is dead-lettered or acked."""
        deliveries = msg.metadata.num_delivered
        try:
            event = CloudEvent.model_validate_json(msg.data)
        except ValidationError as exc:
            await self._dead_letter(msg, None, deliveries, f"not a CloudEvent: {exc}")
            return None
        handler = self.handlers.get(event.type)
        if handler is None:  # a type this service does not consume (yet): nothing to apply
            await msg.ack()
            return None
        if deliveries > self.max_deliver:
            await self._dead_letter(msg, event, deliveries, "delivered too often without being applied")
            return None
        try:
            payload = decode_payload(event)
        except ValidationError as exc:
            await self._dead_letter(msg, event, deliveries, f"payload does not match {event.type}: {exc}")
            return None
        return Delivery(msg, event, payload, handler)

    async def _failed(self, delivery: Delivery, exc: Exception) -> None:
        """A poison event goes to the dead letters at once, any other failure after ``max_deliver`` tries."""
        msg, event, deliveries = delivery.msg, delivery.event, delivery.deliveries
        if isinstance(exc, PoisonEvent):
            await self._dead_letter(msg, event, deliveries, str(exc))
        elif isinstance(exc, IntegrityError) and await self._seen(event.id):
            await msg.ack()  # another instance applied it between our read and our commit
        elif deliveries >= self.max_deliver:
            await self._dead_letter(msg, event, deliveries, f"{type(exc).__name__}: {exc}")
        else:
            log.warning("%s: %s %s failed (%s); will retry", self.service, event.type, event.id, exc)
            await msg.nak(delay=min(0.5 * 2 ** (deliveries - 1), 30.0))

    async def _seen(self, event_id: str) -> bool:
        async with self.db.session() as session:
            return await session.get(InboxMessage, event_id) is not None

    async def _dead_letter(self, msg: Msg, event: CloudEvent | None, deliveries: int, error: str) -> None:
        log.error(
            "%s: dead-lettering %s after %d deliveries: %s", self.service, msg.subject, deliveries, error
        )
        body = msg.data.decode("utf-8", errors="replace")
        async with self.db.transaction() as session:
            session.add(
                DeadLetter(
                    event_id=event.id if event else None,
                    type=event.type if event else None,
                    subject=msg.subject,
                    consumer=self.durable,
                    deliveries=deliveries,
                    error=error[:4000],
                    body=body,
                    created_at=utcnow(),
                )
            )
        assert self.bus.js is not None
        await self.bus.js.publish(
            f"qsr.dlq.{self.service}.{msg.subject}",
            msg.data,
            headers={
                "Qsr-Error": error[:500].replace("\n", " "),
                "Qsr-Consumer": self.durable,
                "Qsr-Deliveries": str(deliveries),
            },
        )
        await msg.term()


def consumers_for(
    db: Database, bus: Bus, service: str, handlers: dict[EventSpec[Any], Handler | Batched]
) -> list[InboxConsumer]:
    """One durable consumer per source stream of the events the service handles."""
    by_stream: dict[str, dict[EventSpec[Any], Handler | Batched]] = {}
    for spec, handler in handlers.items():
        by_stream.setdefault(stream_name(spec.service), {})[spec] = handler
    return [
        InboxConsumer(db=db, bus=bus, service=service, stream=stream, handlers=specs)
        for stream, specs in sorted(by_stream.items())
    ]


async def dead_letters(session: AsyncSession, limit: int = 100) -> Iterable[DeadLetter]:
    rows = await session.execute(select(DeadLetter).order_by(DeadLetter.id.desc()).limit(limit))  # type: ignore[union-attr]
    return rows.scalars().all()
