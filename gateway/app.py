"""The gateway: the one front door (统一入口) — log-in, jurisdiction, routing and the live event stream."""

from __future__ import annotations

import asyncio
import signal
from collections.abc import AsyncIterator
from contextlib import asynccontextmanager
from typing import Any
from urllib.parse import quote

from fastapi import FastAPI, Request
from fastapi.responses import JSONResponse, RedirectResponse, Response, StreamingResponse
from pydantic import BaseModel, Field
from starlette.types import ASGIApp, Receive, Scope, Send

from gateway import docs_pages
from gateway.accounts import authenticate
from gateway.bodylimit import BodyLimitMiddleware
from gateway.identity import IdentityCache
from gateway.openapi import ServiceDocuments
from gateway.proxy import Proxy, check_path
from gateway.ratelimit import Headers, RateLimited, RateLimits, with_headers
from gateway.stream import EventHub
from services.common import logs
from services.common.auth import Caller, issue_token
from services.common.errors import (
    ErrorMiddleware,
    QSRError,
    Unauthorized,
    error_response,
    install_error_handlers,
)
from services.common.events import asyncapi_document
from services.common.messaging import Bus
from services.common.request_context import raw_path
from services.common.settings import SERVICES, Settings, get_settings

API_PREFIX = "/api/v1/"
RAW_API_PREFIX = API_PREFIX.encode()
EVENTS_PREFIX = "/api/v1/events/"
LOGIN_PATH = "/auth/token"
# Probes must not fail because someone else is flooding the gateway.
UNLIMITED_PATHS = frozenset({"/healthz", "/readyz"})
# A service's own documentation pages (switched off; its document is merged into the gateway's): the
# gateway answers them with a redirect to its own /docs, at the service's operations.
DOC_PAGES = {f"{API_PREFIX}{service}/{page}": service for service in SERVICES for page in ("docs", "redoc")}


class TokenRequest(BaseModel):
    model_config = {"json_schema_extra": {"examples": [{"username": "wenshui", "password": "demo"}]}}

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
    hot path of every API call. Everything else (log-in, health, the event stream) goes to the app.

    Rate limits are counted here too, before any work is done for the request: per user with a valid token
    (opening the event stream is one request, its events are none), per client address without one, per
    client address on log-in (the log-in itself counts per username). Health checks are never counted."""

    def __init__(self, app: ASGIApp, proxy: Proxy, identities: IdentityCache, limits: RateLimits) -> None:
        self.app = app
        self.proxy = proxy
        self.identities = identities
        self.limits = limits

    async def __call__(self, scope: Scope, receive: Receive, send: Send) -> None:
        path: str = scope.get("path", "")
        if scope["type"] != "http":
            await self.app(scope, receive, send)
            return
        proxied = path.startswith(API_PREFIX) and not path.startswith(EVENTS_PREFIX) and path not in DOC_PAGES
        limited = self.limits.enabled and path not in UNLIMITED_PATHS
        raw = raw_path(scope)
        try:
            check_path(raw)
        except QSRError as exc:
            await error_response(exc, scope)(scope, receive, send)
            return
        if not proxied and not limited:
            await self.app(scope, receive, send)
            return
        quota: Headers = []
        try:
            caller, internal, refusal = (None, "", None) if path == LOGIN_PATH else self._identify(scope)
            if limited:
                quota = self._count(scope, path, caller)
            if proxied:
                if refusal is not None:
                    raise refusal
                # Routed by the raw path: an escaped slash (registry%2F…) is not a separator here either.
                service, _, rest = (
                    raw[len(RAW_API_PREFIX) :].partition(b"/")
                    if raw.startswith(RAW_API_PREFIX)
                    else (b"", b"", b"")
                )
                await self.proxy.forward(
                    scope, receive, with_headers(send, quota), service.decode("latin-1"), rest, internal
                )
                return
        except RateLimited as exc:
            await error_response(exc, scope, exc.headers)(scope, receive, send)
            return
        except QSRError as exc:
            headers = {name.decode(): value.decode() for name, value in quota}
            await error_response(exc, scope, headers)(scope, receive, send)
            return
        await self.app(scope, receive, with_headers(send, quota))

    def _identify(self, scope: Scope) -> tuple[Caller | None, str, QSRError | None]:
        authorization = next((value for name, value in scope["headers"] if name == b"authorization"), None)
        try:
            caller, internal = self.identities.caller(
                authorization.decode("latin-1") if authorization else None
            )
        except QSRError as exc:
            return None, "", exc
        return caller, internal, None

    def _count(self, scope: Scope, path: str, caller: Caller | None) -> Headers:
        """One request against the caller's limits; raises RateLimited when they are used up. Without a
        (valid) token it counts against the client address, so a flood is refused before anything is done."""
        limits = self.limits
        if path == LOGIN_PATH:
            return limits.hit(limits.login, "login-address", limits.client_address(scope))
        if caller is None:
            return limits.hit(limits.anonymous, "anonymous", limits.client_address(scope))
        return limits.hit(limits.per_user, "user", caller.username)


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
    identities = IdentityCache(settings.secret_key, settings.internal_signer)
    upstreams = {service: settings.upstream_url(service).rstrip("/") for service in SERVICES}
    proxy = Proxy(
        upstreams,
        settings.upstream_timeout_seconds,
        settings.upstream_bulk_timeout_seconds,
        max_body_bytes=settings.gateway_max_body_bytes,
    )
    limits = RateLimits(settings)
    documents = ServiceDocuments(lambda: app.openapi(), upstreams)

    @asynccontextmanager
    async def lifespan(app: FastAPI) -> AsyncIterator[None]:
        logs.configure()
        bus = Bus(settings, "gateway")
        hub = EventHub(bus)
        app.state.bus, app.state.hub = bus, hub
        await proxy.start()
        documents.start(proxy.client)
        bus.start()
        hub.start()
        _end_streams_on_shutdown(hub)
        try:
            yield
        finally:
            await documents.stop()
            await hub.stop()
            await bus.close()
            await proxy.aclose()

    app = FastAPI(
        title="QSR 工业产品质量安全主体责任监管平台 — gateway",
        description="统一入口：登录、管辖范围、路由 /api/v1/<service>/…、实时事件流。",
        version="1",
        lifespan=lifespan,
        # Served below: the merged document of the gateway and every service.
        openapi_url=None,
        docs_url=None,
        redoc_url=None,
    )
    app.state.settings = settings
    install_error_handlers(app)

    @app.exception_handler(RateLimited)
    async def _rate_limited(request: Request, exc: RateLimited) -> JSONResponse:
        return error_response(exc, request.scope, exc.headers)

    too_many = {429: {"description": "RATE_LIMITED：请求过于频繁，请稍后再试（见 Retry-After）"}}

    @app.post(
        "/auth/token",
        response_model=TokenResponse,
        tags=["auth 登录"],
        summary="登录，取得访问令牌",
        responses={401: {"description": "UNAUTHENTICATED：用户名或密码错误"}, **too_many},
    )
    async def token(body: TokenRequest) -> TokenResponse:
        # Every attempt counts, successful or not: a success must not let a guesser start afresh.
        if limits.enabled:
            limits.hit(limits.login, "login-user", body.username.strip().lower())
        caller = authenticate(body.username, body.password, development=settings.development)
        if caller is None:
            raise Unauthorized("用户名或密码错误")
        return TokenResponse(
            access_token=issue_token(caller, settings.secret_key, ttl_seconds=settings.token_ttl_seconds),
            expires_in=settings.token_ttl_seconds,
            role=caller.role,
            region_code=caller.region_code,
        )

    @app.get("/openapi.json", include_in_schema=False)
    async def openapi_document() -> Response:
        return Response(await documents.current(), media_type="application/json")

    docs_pages.install(app, openapi_url="/openapi.json")

    for page in DOC_PAGES:

        @app.get(page, include_in_schema=False)
        async def service_docs(request: Request) -> RedirectResponse:
            tag = documents.first_tags.get(DOC_PAGES[request.url.path])
            return RedirectResponse(f"/docs#/{quote(tag, safe='')}" if tag else "/docs", status_code=307)

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

    @app.get(
        "/api/v1/events/stream",
        tags=["events 事件"],
        summary="实时事件流（SSE，仅本辖区）",
        responses=too_many,
    )
    async def event_stream(request: Request) -> StreamingResponse:
        """``Last-Event-ID`` (or ``?last_event_id=``, for clients that cannot set headers) resumes after that
        event: what the caller missed comes first, then live events; ``event: reset`` when it cannot."""
        caller, _ = identities.caller(request.headers.get("authorization"))
        last_event_id = request.headers.get("last-event-id") or request.query_params.get("last_event_id")
        return StreamingResponse(
            request.app.state.hub.events(caller, last_event_id or None),
            media_type="text/event-stream",
            headers={"cache-control": "no-cache", "x-accel-buffering": "no"},
        )

    # Added first, so it runs inside ProxyMiddleware: only the requests the proxy does not forward reach it.
    app.add_middleware(BodyLimitMiddleware)
    app.add_middleware(ProxyMiddleware, proxy=proxy, identities=identities, limits=limits)
    app.add_middleware(ErrorMiddleware, front_door=True)  # outermost: every answer has its request id
    return app


app = create_app()
