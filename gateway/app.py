"""The gateway: the one front door (统一入口) — log-in, jurisdiction, routing and the live event stream."""

from __future__ import annotations

import asyncio
import signal
from collections.abc import AsyncIterator
from contextlib import asynccontextmanager
from typing import Any

from fastapi import FastAPI, Request
from fastapi.responses import JSONResponse, StreamingResponse
from pydantic import BaseModel, Field
from starlette.types import ASGIApp, Receive, Scope, Send

from gateway.accounts import authenticate
from gateway.identity import IdentityCache
from gateway.proxy import Proxy
from gateway.stream import EventHub
from services.common.auth import issue_token
from services.common.errors import QSRError, Unauthorized, install_error_handlers, problem_response
from services.common.events import asyncapi_document
from services.common.messaging import Bus
from services.common.settings import SERVICES, Settings, get_settings

API_PREFIX = "/api/v1/"
EVENTS_PREFIX = "/api/v1/events/"


class TokenRequest(BaseModel):
    username: str = Field(min_length=1, max_length=100)
    password: str = Field(min_length=1, max_length=200)


class TokenResponse(BaseModel):
    access_token: str
    token_type: str = "bearer"
    expires_in: int
    role: str
    region_code: str


class ProxyMiddleware:
    """Sends ``/api/v1/<service>/…`` straight to the proxy, ahead of FastAPI's routing and middleware: the
    hot path of every API call. Everything else (log-in, health, the event stream) goes to the app."""

    def __init__(self, app: ASGIApp, proxy: Proxy, identities: IdentityCache) -> None:
        self.app = app
        self.proxy = proxy
        self.identities = identities

    async def __call__(self, scope: Scope, receive: Receive, send: Send) -> None:
        path: str = scope.get("path", "")
        if scope["type"] != "http" or not path.startswith(API_PREFIX) or path.startswith(EVENTS_PREFIX):
            await self.app(scope, receive, send)
            return
        service, _, rest = path[len(API_PREFIX) :].partition("/")
        authorization = next((value for name, value in scope["headers"] if name == b"authorization"), None)
        try:
            _, internal = self.identities.caller(authorization.decode("latin-1") if authorization else None)
            await self.proxy.forward(scope, receive, send, service, rest, internal)
        except QSRError as exc:
            await problem_response(exc.status, exc.problem(path))(scope, receive, send)


def _end_streams_on_shutdown(hub: EventHub) -> None:
    """uvicorn waits for open responses before it shuts down; event streams never end by themselves."""
    loop = asyncio.get_running_loop()
    for signum in (signal.SIGINT, signal.SIGTERM):
        previous = signal.getsignal(signum)
        if not callable(previous):
            continue

        def handler(sig: int, frame: Any, previous: Any = previous) -> None:
            loop.call_soon_threadsafe(hub.close_streams)
            previous(sig, frame)

        signal.signal(signum, handler)


def create_app(settings: Settings | None = None) -> FastAPI:
    settings = settings or get_settings()
    identities = IdentityCache(settings.secret_key, settings.internal_secret)
    upstreams = {service: settings.upstream_url(service).rstrip("/") for service in SERVICES}
    proxy = Proxy(upstreams, settings.upstream_timeout_seconds, settings.upstream_bulk_timeout_seconds)

    @asynccontextmanager
    async def lifespan(app: FastAPI) -> AsyncIterator[None]:
        bus = Bus(settings, "gateway")
        hub = EventHub(bus)
        app.state.bus, app.state.hub = bus, hub
        bus.start()
        hub.start()
        _end_streams_on_shutdown(hub)
        try:
            yield
        finally:
            await hub.stop()
            await bus.close()
            await proxy.aclose()

    app = FastAPI(
        title="QSR 工业产品质量安全主体责任监管平台 — gateway",
        description="统一入口：登录、管辖范围、路由 /api/v1/<service>/…、实时事件流。",
        version="1",
        lifespan=lifespan,
    )
    app.state.settings = settings
    install_error_handlers(app)

    @app.post("/auth/token", response_model=TokenResponse, tags=["auth 登录"], summary="登录，取得访问令牌")
    async def token(body: TokenRequest) -> TokenResponse:
        caller = authenticate(body.username, body.password, development=settings.development)
        if caller is None:
            raise Unauthorized("用户名或密码错误")
        return TokenResponse(
            access_token=issue_token(caller, settings.secret_key, ttl_seconds=settings.token_ttl_seconds),
            expires_in=settings.token_ttl_seconds,
            role=caller.role,
            region_code=caller.region_code,
        )

    @app.get("/healthz", tags=["health 健康检查"])
    async def healthz() -> dict[str, str]:
        return {"status": "ok"}

    @app.get("/readyz", tags=["health 健康检查"])
    async def readyz(request: Request) -> JSONResponse:
        client = proxy.client

        async def check(service: str) -> tuple[str, str]:
            try:
                response = await client.get(f"{upstreams[service]}/readyz", timeout=2.0)
                return service, "ok" if response.status_code == 200 else f"not ready ({response.status_code})"
            except Exception as exc:
                return service, f"down: {type(exc).__name__}"

        checks = dict(await asyncio.gather(*(check(service) for service in SERVICES)))
        checks["nats"] = "ok" if request.app.state.bus.connected else "down"
        ready = all(value == "ok" for value in checks.values())
        return JSONResponse(
            {"status": "ready" if ready else "not ready", "checks": checks}, status_code=200 if ready else 503
        )

    @app.get("/asyncapi.json", tags=["events 事件"], summary="事件目录 (AsyncAPI 3.0)")
    async def asyncapi() -> dict[str, Any]:
        return asyncapi_document()

    @app.get("/api/v1/events/stream", tags=["events 事件"], summary="实时事件流（SSE，仅本辖区）")
    async def event_stream(request: Request) -> StreamingResponse:
        caller, _ = identities.caller(request.headers.get("authorization"))
        return StreamingResponse(
            request.app.state.hub.events(caller),
            media_type="text/event-stream",
            headers={"cache-control": "no-cache", "x-accel-buffering": "no"},
        )

    app.add_middleware(ProxyMiddleware, proxy=proxy, identities=identities)
    return app


app = create_app()
