"""The reverse proxy: one pooled client made in the lifespan, bodies streamed both ways, hop-by-hop headers
stripped, upstream failures as 502/504."""

from __future__ import annotations

import asyncio
import re
from collections.abc import AsyncIterator, Awaitable
from typing import TypeVar
from urllib.parse import unquote, unquote_to_bytes

import aiohttp
import httpx
from httpx_aiohttp import AiohttpTransport
from starlette.types import Message, Receive, Scope, Send
from yarl import URL

from services.common.auth import IDENTITY_HEADER
from services.common.errors import QSRError
from services.common.request_context import PREFIX_HEADER, REQUEST_ID_HEADER, as_sent

T = TypeVar("T")

HOP_BY_HOP = frozenset(
    {
        b"connection",
        b"keep-alive",
        b"proxy-authenticate",
        b"proxy-authorization",
        b"te",
        b"trailer",
        b"trailers",
        b"transfer-encoding",
        b"upgrade",
        b"proxy-connection",
    }
)
# Never passed upstream: the identity and the forwarding headers are ours to set, the user's token
# and cookies stay at the gateway. Content-Length is set again for what is sent (see ``forward``).
DROP_REQUEST = HOP_BY_HOP | {
    b"host",
    b"content-length",
    b"authorization",
    IDENTITY_HEADER.encode(),
    b"cookie",
    b"x-request-id",
    b"x-forwarded-for",
    b"x-forwarded-proto",
    b"x-forwarded-host",
    PREFIX_HEADER,
}
# The gateway's uvicorn writes its own Date and Server: the upstream's would be second copies.
DROP_RESPONSE = HOP_BY_HOP | {b"set-cookie", b"content-length", b"x-request-id", b"date", b"server"}
# aiohttp would add these when the caller sent none; the upstream must see the caller's request, not ours
# (an Accept-Encoding the caller never sent would get it a compressed answer it did not ask for).
SKIP_AUTO_HEADERS = ("Accept", "Accept-Encoding", "User-Agent", "Content-Type")
# A response up to this size is read whole and sent with its length; a larger or unsized one is streamed.
BUFFER_LIMIT = 1 << 20
# Upstream connections, all services together. Every request in flight holds one (an upload for as long as
# it lasts); idle ones are kept alive for 30 s and reused. uvicorn's default backlog is 2,048 connections, and
# a request that waits longer than POOL_SECONDS for a free connection is a 504.
POOL_SIZE = 256
CONNECT_SECONDS, POOL_SECONDS, KEEPALIVE_SECONDS = 3.0, 5.0, 30.0


class PathInvalid(QSRError):
    status, code, title = 400, "PATH_INVALID", "请求路径无效"


# A control character, as sent or escaped (%00): no service path has one, and some clients and servers cut
# the path there.
_CONTROL = re.compile(rb"[\x00-\x1f\x7f]")
# A "." or ".." segment, also when escaped (%2e%2e) or cut out by an escaped slash (..%2F) or a backslash.
_DOT_SEGMENT = re.compile(rb"(?:^|[/\\])\.\.?(?:[/\\]|$)")


def check_path(raw: bytes) -> None:
    """Refuses a path the gateway will not pass on (400 ``PATH_INVALID``).

    Dot segments are refused rather than forwarded: the path goes upstream as the caller sent it, but whether a
    ``..`` there steps out of the service's prefix would depend on every hop after the gateway (an HTTP client
    or a reverse proxy that normalises it would take ``/api/v1/registry/../openapi.json`` to the service's
    ``/openapi.json``). No client of the API sends them: clients remove dot segments before sending."""
    decoded = unquote_to_bytes(raw) if b"%" in raw else raw
    if _CONTROL.search(decoded) or _CONTROL.search(raw):
        raise PathInvalid("请求路径含有控制字符（如 %00），请检查请求地址")
    if _DOT_SEGMENT.search(decoded):
        raise PathInvalid("请求路径不能含有 . 或 .. 路径段（包括 %2e%2e、..%2F 等编码形式）")


class UnknownService(QSRError):
    status, code, title = 404, "SERVICE_NOT_FOUND", "没有这个服务"


BULK_PATH = re.compile(r"(^|/)(import|export|sync)(\.\w+)?$|/errors\.\w+$|^annual-lists/.+/export")


class UpstreamUnavailable(QSRError):
    status, code, title = 502, "UPSTREAM_UNAVAILABLE", "后端服务暂不可用，请稍后重试"


class UpstreamTimeout(QSRError):
    status, code, title = 504, "UPSTREAM_TIMEOUT", "后端服务响应超时，请稍后重试"


class RequestTooLarge(QSRError):
    status, code, title = 413, "REQUEST_TOO_LARGE", "请求内容超过大小上限"


class _ClientGone(Exception):
    """The caller disconnected before it had sent its whole request body."""


class _Body:
    """A request body passed on as it arrives: never more than a few chunks of it are in the gateway.

    aiohttp asks for the next chunk only once it has written the previous one, so the time between handing
    a chunk over and being asked again is the upstream's (it is not reading); while the gateway waits for the
    caller, no clock runs. ``deadline`` is the forwarding task's timeout, armed for ``stall_seconds`` while a
    chunk is with the upstream; until the upstream answers, a stall ends the request as a 504.
    """

    def __init__(self, receive: Receive, first: bytes, max_bytes: int, stall_seconds: float) -> None:
        self.receive = receive
        self.first = first
        self.max_bytes = max_bytes
        self.stall_seconds = stall_seconds
        self.deadline: asyncio.Timeout | None = None
        self.finished = False
        self.refusal: RequestTooLarge | None = None
        self.disconnected = False

    async def sent_with(self, request: Awaitable[T]) -> T:
        """``request``'s answer, or TimeoutError when the upstream stops taking the body."""
        async with asyncio.timeout(None) as self.deadline:
            try:
                return await request
            finally:
                self.deadline = None

    def _arm(self, seconds: float | None) -> None:
        if self.deadline is not None and not self.deadline.expired():
            loop = asyncio.get_running_loop()
            self.deadline.reschedule(None if seconds is None else loop.time() + seconds)

    async def chunks(self) -> AsyncIterator[bytes]:
        chunk, more, size = self.first, True, 0
        while True:
            size += len(chunk)
            if size > self.max_bytes:
                self.refusal = _too_large(self.max_bytes)
                raise self.refusal
            if chunk:
                self._arm(self.stall_seconds)
                yield chunk
                self._arm(None)
            if not more:
                break
            message: Message = await self.receive()
            if message["type"] == "http.disconnect":
                self.disconnected = True
                raise _ClientGone()
            chunk, more = message.get("body", b""), message.get("more_body", False)
        self.finished = True


def _too_large(max_bytes: int) -> RequestTooLarge:
    return RequestTooLarge(f"请求内容不能超过 {max_bytes / 1024 / 1024:.0f} MB", max_bytes=max_bytes)


class Proxy:
    """Forwards requests to the services over the gateway's one pool of keep-alive connections.

    httpx's own connection pool collapses under concurrency (an ad-hoc run on this kind of machine: about
    420 requests/s at 16 concurrent, against 2,200 with aiohttp's), so the pool is aiohttp's: one
    ``aiohttp.ClientSession`` made in the lifespan. The hot path uses that session directly, so that a request
    is parsed and built once (an httpx.Request and httpx.Response around aiohttp's cost a third of the
    gateway's time per request, bench/gateway_throughput.py); the gateway's other calls (readiness) go through
    ``client``, an httpx.AsyncClient on httpx-aiohttp's transport over the same session. The session keeps no
    cookies (an upstream's Set-Cookie must not be sent on with the next user's request) and decompresses
    nothing. Bodies are streamed both ways; a request body is limited to ``max_body_bytes``.
    """

    def __init__(
        self,
        upstreams: dict[str, str],
        timeout_seconds: float,
        bulk_timeout_seconds: float | None = None,
        *,
        max_body_bytes: int = 1 << 30,
    ) -> None:
        self.upstreams = upstreams
        self.max_body_bytes = max_body_bytes
        # Bulk work (a 100,000-row import, an export of a whole province, a phone's batch with photos) may
        # take minutes before its answer: those paths wait longer; every other one fails fast as a 504.
        # ``sock_read`` runs from the end of the request body: an upload is not timed by it.
        self.stall_seconds = timeout_seconds
        self.bulk_stall_seconds = bulk_timeout_seconds or timeout_seconds
        self.timeout = aiohttp.ClientTimeout(
            total=None, connect=POOL_SECONDS, sock_connect=CONNECT_SECONDS, sock_read=self.stall_seconds
        )
        self.bulk_timeout = aiohttp.ClientTimeout(
            total=None, connect=POOL_SECONDS, sock_connect=CONNECT_SECONDS, sock_read=self.bulk_stall_seconds
        )
        self._session: aiohttp.ClientSession | None = None
        self._client: httpx.AsyncClient | None = None

    async def start(self) -> None:
        """Opens the pool; in the lifespan, inside the event loop it belongs to."""
        connector = aiohttp.TCPConnector(
            limit=POOL_SIZE, limit_per_host=0, keepalive_timeout=KEEPALIVE_SECONDS
        )
        self._session = aiohttp.ClientSession(
            connector=connector,
            cookie_jar=aiohttp.DummyCookieJar(),
            auto_decompress=False,
            skip_auto_headers=SKIP_AUTO_HEADERS,
            timeout=self.timeout,
        )
        timeout = httpx.Timeout(
            connect=CONNECT_SECONDS, read=self.stall_seconds, write=self.stall_seconds, pool=POOL_SECONDS
        )
        self._client = httpx.AsyncClient(
            transport=AiohttpTransport(client=self._session),
            timeout=timeout,
            follow_redirects=False,
            trust_env=False,
        )

    @property
    def client(self) -> httpx.AsyncClient:
        assert self._client is not None, "the proxy is started in the gateway's lifespan"
        return self._client

    async def aclose(self) -> None:
        if self._client is not None:
            await self._client.aclose()  # closes the session under it
            self._client = self._session = None

    async def forward(
        self, scope: Scope, receive: Receive, send: Send, service: str, path: bytes, internal_identity: str
    ) -> None:
        """``path``: the rest of the raw path after ``/api/v1/<service>/``, passed on as the caller sent it."""
        base = self.upstreams.get(service)
        if base is None:
            raise UnknownService(f"没有名为 {as_sent(service.encode('latin-1'))} 的服务" if service else None)
        session = self._session
        assert session is not None, "the proxy is started in the gateway's lifespan"
        request_id = prior_forwarded = host = b""
        length: bytes | None = None
        chunked = False
        headers: list[tuple[str, str]] = []
        for name, value in scope["headers"]:
            if name not in DROP_REQUEST:
                headers.append((name.decode("latin-1"), value.decode("latin-1")))
            elif name == REQUEST_ID_HEADER:
                request_id = value  # one, set by the ErrorMiddleware in front
            elif name == b"x-forwarded-for":
                prior_forwarded = value
            elif name == b"host":
                host = value
            elif name == b"content-length":
                length = value
            elif name == b"transfer-encoding":
                chunked = True
        # With Transfer-Encoding, a Content-Length means nothing (RFC 9112 6.3): the body is counted instead.
        declared = int(length) if length is not None and not chunked and length.isdigit() else None
        if declared is not None and declared > self.max_body_bytes:
            raise _too_large(self.max_body_bytes)
        client_host = (scope.get("client") or ("",))[0].encode()
        forwarded = prior_forwarded + b", " + client_host if prior_forwarded else client_host
        headers += [
            (IDENTITY_HEADER, internal_identity),
            ("x-request-id", request_id.decode("latin-1")),
            ("x-forwarded-for", forwarded.decode("latin-1")),
            ("x-forwarded-proto", scope.get("scheme", "http")),
            ("x-forwarded-host", host.decode("latin-1")),
            ("x-forwarded-prefix", f"/api/v1/{service}"),
        ]
        query = as_sent(scope.get("query_string", b""))
        # Not decoded, not normalised (yarl would resolve dot segments and re-escape): the caller's own path.
        url = URL(f"{base}/{as_sent(path)}?{query}" if query else f"{base}/{as_sent(path)}", encoded=True)
        bulk = BULK_PATH.search(unquote(path.decode("latin-1"))) is not None

        message = await receive()
        if message["type"] == "http.disconnect":
            return
        first: bytes = message.get("body", b"")
        # A body that came in one piece (every GET, most JSON) is sent as bytes; a longer one as it arrives.
        body: _Body | None = None
        data: bytes | AsyncIterator[bytes] | None = first or None
        if message.get("more_body", False):
            body = _Body(
                receive, first, self.max_body_bytes, self.bulk_stall_seconds if bulk else self.stall_seconds
            )
            data = body.chunks()
            if declared is not None:  # the upstream may refuse an oversized upload before it is sent
                headers.append(("Content-Length", str(declared)))
        elif len(first) > self.max_body_bytes:
            raise _too_large(self.max_body_bytes)

        request = session.request(
            scope["method"],
            url,
            headers=headers,
            data=data,
            allow_redirects=False,
            timeout=self.bulk_timeout if bulk else self.timeout,
        )
        try:
            upstream = await (request if body is None else body.sent_with(request))
        except (aiohttp.ClientError, TimeoutError) as exc:
            if body is not None and body.refusal is not None:
                raise body.refusal from None
            if body is not None and body.disconnected:
                return  # no one left to answer
            if isinstance(exc, TimeoutError):
                raise UpstreamTimeout(f"{service} 服务响应超时") from exc
            raise UpstreamUnavailable(f"无法连接 {service} 服务") from exc

        try:
            response_headers = [
                (k.lower(), v) for k, v in upstream.raw_headers if k.lower() not in DROP_RESPONSE
            ]
            response_headers.append((REQUEST_ID_HEADER, request_id))
            size = upstream.content_length
            if size is not None and size <= BUFFER_LIMIT:
                try:
                    content = await upstream.read()
                except (aiohttp.ClientError, TimeoutError) as exc:
                    raise UpstreamTimeout(f"{service} 服务响应中断或超时") from exc
                response_headers.append((b"content-length", b"%d" % len(content)))
                await send(
                    {"type": "http.response.start", "status": upstream.status, "headers": response_headers}
                )
                await send({"type": "http.response.body", "body": content})
                return
            await send(
                {"type": "http.response.start", "status": upstream.status, "headers": response_headers}
            )
            async for chunk in upstream.content.iter_any():
                await send({"type": "http.response.body", "body": chunk, "more_body": True})
            await send({"type": "http.response.body", "body": b""})
        finally:
            if body is None or body.finished:
                upstream.release()
            else:
                # The upstream answered before it had the whole body: the connection is in the middle of a
                # request and cannot be reused.
                upstream.close()
