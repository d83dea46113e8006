"""The app factory every service uses: database + migrations, NATS, outbox relay, inbox consumers, health."""

from __future__ import annotations

import asyncio
import logging
from collections.abc import AsyncIterator, Awaitable, Callable, Sequence
from contextlib import asynccontextmanager
from typing import Annotated, Any

from fastapi import APIRouter, Depends, FastAPI, Request
from fastapi.responses import JSONResponse
from pydantic import BaseModel

from services.common import failpoints, logs
from services.common.arrivals import Arrivals
from services.common.auth import CallerDep
from services.common.db import Database, as_utc, migrate
from services.common.errors import ErrorMiddleware, Forbidden, install_error_handlers
from services.common.messaging import (
    Bus,
    Handler,
    InboxConsumer,
    OutboxRelay,
    consumers_for,
    dead_letters,
    stop_task,
)
from services.common.settings import Settings, get_settings

log = logging.getLogger("qsr")


async def get_db(request: Request) -> Database:
    return request.app.state.db


DbDep = Annotated[Database, Depends(get_db)]


async def get_arrivals(request: Request) -> Arrivals:
    return request.app.state.arrivals


ArrivalsDep = Annotated[Arrivals, Depends(get_arrivals)]


class DeadLetterPublic(BaseModel):
    id: int
    event_id: str | None
    type: str | None
    subject: str
    consumer: str
    deliveries: int
    error: str
    created_at: str


def _health_router() -> APIRouter:
    router = APIRouter(tags=["health 健康检查"])

    @router.get("/healthz", summary="存活检查 (liveness)")
    async def healthz() -> dict[str, str]:
        return {"status": "ok"}

    @router.get("/readyz", summary="就绪检查：数据库与 NATS 可达 (readiness)")
    async def readyz(request: Request) -> JSONResponse:
        state = request.app.state
        checks = {
            "database": "ok",
            "nats": "ok" if state.bus.connected and state.bus.ready.is_set() else "down",
        }
        try:
            await state.db.ping()
        except Exception as exc:
            checks["database"] = f"down: {type(exc).__name__}"
        ready = all(value == "ok" for value in checks.values())
        return JSONResponse(
            {"status": "ready" if ready else "not ready", "checks": checks}, status_code=200 if ready else 503
        )

    return router


def _dead_letters_router() -> APIRouter:
    # Not a probe: the gateway forwards it, and its document lists it under events only.
    router = APIRouter(tags=["events 事件"])

    @router.get("/dead-letters", summary="死信：多次投递仍无法处理的事件")
    async def list_dead_letters(db: DbDep, caller: CallerDep, limit: int = 100) -> list[DeadLetterPublic]:
        if caller.role != "admin" and caller.level != "province":
            raise Forbidden("仅省级用户或运维管理员可查看死信")
        failpoints.hit("dead_letters.list")
        async with db.session() as session:
            rows = await dead_letters(session, limit=min(limit, 500))
        return [
            DeadLetterPublic(
                **row.model_dump(exclude={"body", "created_at"}),
                created_at=as_utc(row.created_at).isoformat(),
            )
            for row in rows
        ]

    return router


Job = Callable[[FastAPI], Awaitable[None]]


def periodic(
    counter: str, interval: Callable[[Settings], float], run: Callable[[FastAPI], Awaitable[str]]
) -> Job:
    """A background job that runs ``run`` at start and then every ``interval(settings)`` seconds, logging what it
    returns; a failure is logged and the job runs again at the next interval. ``app.state.<counter>`` counts the
    completed runs (tests wait on it)."""

    async def job(app: FastAPI) -> None:
        setattr(app.state, counter, 0)
        while True:
            try:
                if said := await run(app):
                    log.info("%s: %s", counter, said)
            except asyncio.CancelledError:
                raise
            except Exception:
                log.exception("%s failed; it runs again at the next interval", counter)
            setattr(app.state, counter, getattr(app.state, counter) + 1)
            await asyncio.sleep(interval(app.state.settings))

    job.__name__ = counter
    return job


def create_service_app(
    name: str,
    *,
    title: str,
    description: str,
    router: APIRouter,
    handlers: dict[Any, Handler] | None = None,
    settings: Settings | None = None,
    background: Sequence[Job] = (),
) -> FastAPI:
    """A QSR service: its routes, its own database (migrated at start), its outbox relay and consumers.

    ``background`` jobs start once the database is migrated and are cancelled at shutdown.
    """
    settings = settings or get_settings()

    @asynccontextmanager
    async def lifespan(app: FastAPI) -> AsyncIterator[None]:
        logs.configure()
        url = settings.database_url_for(name)
        await migrate(name, url)
        db = Database(url)
        bus = Bus(settings, name)
        relay = OutboxRelay(db, bus)
        consumers: list[InboxConsumer] = consumers_for(db, bus, name, handlers or {})
        arrivals = Arrivals(wait_seconds=settings.unknown_unit_wait_seconds)
        for consumer in consumers:
            consumer.on_applied = arrivals.applied
        app.state.settings, app.state.db, app.state.bus, app.state.relay = settings, db, bus, relay
        app.state.arrivals = arrivals
        bus.start()
        relay.start()
        for consumer in consumers:
            consumer.start()
        jobs = [asyncio.create_task(job(app), name=f"{name}-{job.__name__}") for job in background]
        try:
            yield
        finally:
            for job_task in jobs:
                await stop_task(job_task)
            for consumer in consumers:
                await consumer.stop()
            await relay.stop()
            await bus.close()
            await db.dispose()

    # No documentation pages of its own: the service's document (/openapi.json, internal) is merged into the
    # gateway's, whose /docs can try every operation with a user's token.
    app = FastAPI(
        title=title, description=description, version="1", lifespan=lifespan, docs_url=None, redoc_url=None
    )
    app.state.settings = settings
    install_error_handlers(app)
    app.add_middleware(ErrorMiddleware)
    app.include_router(_health_router())
    app.include_router(_dead_letters_router())
    app.include_router(router)
    return app
