"""The reverse proxy: one pooled httpx client, hop-by-hop headers stripped, upstream failures as 502/504."""

from __future__ import annotations

import uuid

import httpx
from starlette.background import BackgroundTask
from starlette.requests import Request
from starlette.responses import Response, StreamingResponse

from services.common.auth import IDENTITY_HEADER
from services.common.errors import QSRError
from services.common.settings import SERVICES

HOP_BY_HOP = frozenset(
    {
        "connection",
        "keep-alive",
        "proxy-authenticate",
        "proxy-authorization",
        "te",
        "trailer",
        "trailers",
        "transfer-encoding",
        "upgrade",
        "proxy-connection",
    }
)
# Never passed upstream: the identity is ours to set, the user's token stays at the gateway.
DROP_REQUEST = HOP_BY_HOP | {"host", "content-length", "authorization", IDENTITY_HEADER, "cookie"}
DROP_RESPONSE = HOP_BY_HOP | {"set-cookie", "content-length"}
BUFFER_LIMIT = 1 << 20


class UnknownService(QSRError):
    status, code, title = 404, "SERVICE_NOT_FOUND", "没有这个服务"


class UpstreamUnavailable(QSRError):
    status, code, title = 502, "UPSTREAM_UNAVAILABLE", "后端服务暂不可用，请稍后重试"


class UpstreamTimeout(QSRError):
    status, code, title = 504, "UPSTREAM_TIMEOUT", "后端服务响应超时，请稍后重试"


def make_client(timeout_seconds: float) -> httpx.AsyncClient:
    return httpx.AsyncClient(
        timeout=httpx.Timeout(connect=3.0, read=timeout_seconds, write=timeout_seconds, pool=5.0),
        limits=httpx.Limits(max_connections=256, max_keepalive_connections=128, keepalive_expiry=30),
        follow_redirects=False,
        trust_env=False,
    )


async def forward(
    request: Request,
    client: httpx.AsyncClient,
    upstreams: dict[str, str],
    service: str,
    path: str,
    internal_identity: str,
) -> Response:
    base = upstreams.get(service)
    if base is None or service not in SERVICES:
        raise UnknownService(f"没有名为 {service} 的服务")
    request_id = request.headers.get("x-request-id") or uuid.uuid4().hex
    headers = [(k, v) for k, v in request.headers.items() if k not in DROP_REQUEST]
    client_host = request.client.host if request.client else ""
    prior = request.headers.get("x-forwarded-for")
    headers += [
        (IDENTITY_HEADER, internal_identity),
        ("x-request-id", request_id),
        ("x-forwarded-for", f"{prior}, {client_host}" if prior else client_host),
        ("x-forwarded-proto", request.url.scheme),
        ("x-forwarded-host", request.headers.get("host", "")),
    ]
    url = f"{base}/{path}"
    if request.url.query:
        url = f"{url}?{request.url.query}"
    upstream_request = client.build_request(
        request.method, url, headers=headers, content=await request.body()
    )
    try:
        upstream = await client.send(upstream_request, stream=True)
    except httpx.TimeoutException as exc:
        raise UpstreamTimeout(f"{service} 服务响应超时") from exc
    except httpx.TransportError as exc:
        raise UpstreamUnavailable(f"无法连接 {service} 服务") from exc
    response_headers = {k: v for k, v in upstream.headers.items() if k not in DROP_RESPONSE}
    response_headers["x-request-id"] = request_id
    length = upstream.headers.get("content-length")
    if length is not None and int(length) <= BUFFER_LIMIT:
        try:
            body = b"".join([chunk async for chunk in upstream.aiter_raw()])
        except httpx.TimeoutException as exc:
            raise UpstreamTimeout(f"{service} 服务响应超时") from exc
        finally:
            await upstream.aclose()
        return Response(body, status_code=upstream.status_code, headers=response_headers)
    return StreamingResponse(
        upstream.aiter_raw(),
        status_code=upstream.status_code,
        headers=response_headers,
        background=BackgroundTask(upstream.aclose),
    )
