"""The reverse proxy: one pooled httpx client, hop-by-hop headers stripped, upstream failures as 502/504."""

from __future__ import annotations

import re
import uuid

import aiohttp
import httpx
from httpx_aiohttp import AiohttpTransport
from starlette.types import Message, Receive, Scope, Send

from services.common.auth import IDENTITY_HEADER
from services.common.errors import QSRError

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
# and cookies stay at the gateway.
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
}
DROP_RESPONSE = HOP_BY_HOP | {b"set-cookie", b"content-length", b"x-request-id"}
BUFFER_LIMIT = 1 << 20


class UnknownService(QSRError):
    status, code, title = 404, "SERVICE_NOT_FOUND", "没有这个服务"


BULK_PATH = re.compile(r"(^|/)(import|export|sync)(\.\w+)?$|/errors\.\w+$|^annual-lists/.+/export")


class UpstreamUnavailable(QSRError):
    status, code, title = 502, "UPSTREAM_UNAVAILABLE", "后端服务暂不可用，请稍后重试"


class UpstreamTimeout(QSRError):
    status, code, title = 504, "UPSTREAM_TIMEOUT", "后端服务响应超时，请稍后重试"


async def _body(receive: Receive) -> bytes:
    chunks: list[bytes] = []
    while True:
        message: Message = await receive()
        chunks.append(message.get("body", b""))
        if not message.get("more_body", False):
            return b"".join(chunks)


class Proxy:
    """Forwards requests to the services over the gateway's one pooled httpx client.

    httpx's own connection pool collapses under concurrency (an ad-hoc run on this kind of machine: about
    420 requests/s at 16 concurrent, against 2,200 with aiohttp's), so the client runs on httpx-aiohttp's transport: httpx's
    API over aiohttp's pool and C parser. The hot path hands its httpx.Request straight to that transport,
    skipping the client's cookie jar, auth and redirect handling, none of which a proxy may apply, and
    works on the raw ASGI headers, which are bytes both ways.
    """

    def __init__(
        self, upstreams: dict[str, str], timeout_seconds: float, bulk_timeout_seconds: float | None = None
    ) -> None:
        self.upstreams = upstreams
        limits = httpx.Limits(max_connections=256, max_keepalive_connections=128, keepalive_expiry=30)
        self.transport = AiohttpTransport(limits=limits, trust_env=False)
        timeout = httpx.Timeout(connect=3.0, read=timeout_seconds, write=timeout_seconds, pool=5.0)
        self.timeout = timeout.as_dict()
        # Bulk work (a 100,000-row import, an export of a whole province, a phone's batch with photos) may
        # take minutes before its answer: those paths wait longer; every other one fails fast as a 504.
        bulk = bulk_timeout_seconds or timeout_seconds
        self.bulk_timeout = httpx.Timeout(connect=3.0, read=bulk, write=bulk, pool=5.0).as_dict()
        self.client = httpx.AsyncClient(
            transport=self.transport, timeout=timeout, follow_redirects=False, trust_env=False
        )

    async def aclose(self) -> None:
        await self.client.aclose()

    async def forward(
        self, scope: Scope, receive: Receive, send: Send, service: str, path: str, internal_identity: str
    ) -> None:
        base = self.upstreams.get(service)
        if base is None:
            raise UnknownService(f"没有名为 {service} 的服务")
        request_id = b""
        prior_forwarded = b""
        host = b""
        headers: list[tuple[bytes, bytes]] = []
        for name, value in scope["headers"]:
            if name == b"x-request-id":
                request_id = value
            elif name == b"x-forwarded-for":
                prior_forwarded = value
            elif name == b"host":
                host = value
            if name not in DROP_REQUEST:
                headers.append((name, value))
        request_id = request_id or uuid.uuid4().hex.encode()
        client_host = (scope.get("client") or ("",))[0].encode()
        headers += [
            (IDENTITY_HEADER.encode(), internal_identity.encode()),
            (b"x-request-id", request_id),
            (b"x-forwarded-for", prior_forwarded + b", " + client_host if prior_forwarded else client_host),
            (b"x-forwarded-proto", scope.get("scheme", "http").encode()),
            (b"x-forwarded-host", host),
        ]
        query = scope.get("query_string", b"").decode("latin-1")
        url = f"{base}/{path}?{query}" if query else f"{base}/{path}"
        # Headers with a declared encoding: otherwise httpx sniffs it again on every access.
        upstream_request = httpx.Request(
            scope["method"],
            url,
            headers=httpx.Headers(headers, encoding="latin-1"),
            content=await _body(receive),
            extensions={"timeout": self.bulk_timeout if BULK_PATH.search(path) else self.timeout},
        )
        try:
            upstream = await self.transport.handle_async_request(upstream_request)
        except httpx.TransportError as exc:
            if _unavailable(exc):
                raise UpstreamUnavailable(f"无法连接 {service} 服务") from exc
            raise UpstreamTimeout(f"{service} 服务响应超时") from exc
        response_headers = [(k.lower(), v) for k, v in upstream.headers.raw if k.lower() not in DROP_RESPONSE]
        response_headers.append((b"x-request-id", request_id))
        length = upstream.headers.get("content-length")
        try:
            if length is not None and int(length) <= BUFFER_LIMIT:
                try:
                    body = b"".join([chunk async for chunk in upstream.aiter_raw()])
                except httpx.TransportError as exc:
                    raise UpstreamTimeout(f"{service} 服务响应中断或超时") from exc
                response_headers.append((b"content-length", str(len(body)).encode()))
                await send(
                    {
                        "type": "http.response.start",
                        "status": upstream.status_code,
                        "headers": response_headers,
                    }
                )
                await send({"type": "http.response.body", "body": body})
                return
            await send(
                {"type": "http.response.start", "status": upstream.status_code, "headers": response_headers}
            )
            async for chunk in upstream.aiter_raw():
                await send({"type": "http.response.body", "body": chunk, "more_body": True})
            await send({"type": "http.response.body", "body": b""})
        finally:
            await upstream.aclose()


def _unavailable(exc: httpx.TransportError) -> bool:
    """Refused or dropped connections are 502; everything slow is 504 (httpx-aiohttp maps some refusals to
    httpx.ConnectTimeout, so the aiohttp cause decides)."""
    cause = exc.__cause__
    if isinstance(cause, aiohttp.ClientConnectorError | aiohttp.ServerDisconnectedError):
        return True
    return not isinstance(exc, httpx.TimeoutException)
