"""Bodies through the gateway are streamed, not held: uploads and downloads against real sockets, the size
limit while a body is still arriving, and upstreams that fail in the middle of one."""

from __future__ import annotations

import asyncio
import hashlib
import json
import time
from collections.abc import AsyncIterator
from contextlib import asynccontextmanager

import httpx
import pytest
from starlette.applications import Starlette
from starlette.requests import Request
from starlette.responses import Response, StreamingResponse
from starlette.routing import Route

from gateway.app import create_app
from services.common.settings import Settings
from tests.harness import on_socket

pytestmark = pytest.mark.asyncio

CHUNK = 64 * 1024
SIZE = 20 * 1024 * 1024


def _block(index: int) -> bytes:
    return index.to_bytes(4, "big") * (CHUNK // 4)  # every chunk differs: a lost or repeated one shows


class Upstream:
    """An upstream that hashes what it receives and says when its first bytes arrived."""

    def __init__(self) -> None:
        self.first_bytes = asyncio.Event()
        self.received = 0
        self.download_started = asyncio.Event()

    async def upload(self, request: Request) -> Response:
        digest, size = hashlib.sha256(), 0
        async for chunk in request.stream():
            if chunk:
                self.first_bytes.set()
            self.received += len(chunk)
            size += len(chunk)
            digest.update(chunk)
        body = {"sha256": digest.hexdigest(), "size": size, "headers": dict(request.headers)}
        return Response(json.dumps(body), media_type="application/json")

    async def download(self, request: Request) -> StreamingResponse:
        async def chunks() -> AsyncIterator[bytes]:
            for index in range(SIZE // CHUNK):
                if index == SIZE // CHUNK // 2:
                    # Half way, until the caller has its first bytes: a gateway holding the whole response
                    # would wait here for ever.
                    await asyncio.wait_for(self.download_started.wait(), 10)
                yield _block(index)

        return StreamingResponse(chunks(), media_type="application/octet-stream")

    def app(self) -> Starlette:
        return Starlette(
            routes=[
                Route("/upload", self.upload, methods=["POST"]),
                Route("/download", self.download, methods=["GET"]),
            ]
        )


@asynccontextmanager
async def gateway_to(settings: Settings, upstream: str, **update: object) -> AsyncIterator[httpx.AsyncClient]:
    """The gateway on a socket of its own with ``upstream`` as its registry, and a logged-in client."""
    app = create_app(
        settings.model_copy(update={"registry_url": upstream, "rate_limit_enabled": False, **update})
    )
    async with on_socket(app) as url, httpx.AsyncClient(base_url=url, timeout=30) as client:
        login = await client.post("/auth/token", json={"username": "wenshui", "password": "demo"})
        client.headers["Authorization"] = f"Bearer {login.json()['access_token']}"
        yield client


@pytest.mark.parametrize("declared", [True, False], ids=["content-length", "chunked"])
async def test_a_large_upload_arrives_intact_while_it_is_still_being_sent(
    settings: Settings, declared: bool
) -> None:
    upstream = Upstream()
    expected = hashlib.sha256()
    for index in range(SIZE // CHUNK):
        expected.update(_block(index))

    async def body() -> AsyncIterator[bytes]:
        for index in range(SIZE // CHUNK):
            if index == SIZE // CHUNK // 2:
                # Half the body is out: a gateway that reads it whole before forwarding has sent nothing yet.
                await asyncio.wait_for(upstream.first_bytes.wait(), 10)
            yield _block(index)

    headers = {"Content-Length": str(SIZE)} if declared else {}
    async with on_socket(upstream.app(), lifespan="off") as url, gateway_to(settings, url) as client:
        response = await client.post("/api/v1/registry/upload", content=body(), headers=headers)
    assert response.status_code == 200, response.text
    echoed = response.json()
    assert (echoed["size"], echoed["sha256"]) == (SIZE, expected.hexdigest())
    # A declared length is passed on (an upstream may refuse an oversized upload before it is sent).
    assert echoed["headers"].get("content-length") == (str(SIZE) if declared else None)
    assert ("chunked" in echoed["headers"].get("transfer-encoding", "")) is not declared


async def test_a_large_download_reaches_the_caller_while_the_upstream_is_still_sending(
    settings: Settings,
) -> None:
    upstream = Upstream()
    digest, size = hashlib.sha256(), 0
    async with on_socket(upstream.app(), lifespan="off") as url, gateway_to(settings, url) as client:
        async with client.stream("GET", "/api/v1/registry/download") as response:
            assert response.status_code == 200
            async for chunk in response.aiter_raw():
                upstream.download_started.set()
                digest.update(chunk)
                size += len(chunk)
    expected = hashlib.sha256(b"".join(_block(index) for index in range(SIZE // CHUNK)))
    assert (size, digest.hexdigest()) == (SIZE, expected.hexdigest())


async def test_a_body_over_the_limit_is_refused_while_it_streams_and_before_when_declared(
    settings: Settings,
) -> None:
    upstream = Upstream()

    async def body() -> AsyncIterator[bytes]:
        for index in range(SIZE // CHUNK):
            yield _block(index)

    limit = 2 * 1024 * 1024
    async with (
        on_socket(upstream.app(), lifespan="off") as url,
        gateway_to(settings, url, gateway_max_body_bytes=limit) as client,
    ):
        streamed = await client.post("/api/v1/registry/upload", content=body())
        received_while_streaming = upstream.received
        declared = await client.post(
            "/api/v1/registry/upload", content=body(), headers={"Content-Length": str(SIZE)}
        )
        within = await client.post("/api/v1/registry/upload", content=b"x" * limit)
    for refused in (streamed, declared):
        assert refused.status_code == 413, refused.text
        assert refused.headers["content-type"].startswith("application/problem+json")
        assert refused.json()["code"] == "REQUEST_TOO_LARGE"
        assert "不能超过 2 MB" in refused.json()["detail"] and refused.json()["max_bytes"] == limit
    # The upstream got no more than the limit (and an upload it never saw the end of is not an upload).
    assert received_while_streaming <= limit
    assert upstream.received == received_while_streaming + limit  # the declared one never reached it
    assert within.status_code == 200 and within.json()["size"] == limit


@asynccontextmanager
async def failing_upstream(*, stall: bool) -> AsyncIterator[str]:
    """Reads the request head and about a megabyte of its body, then drops the connection, or (``stall``)
    stops reading and never answers."""

    async def handle(reader: asyncio.StreamReader, writer: asyncio.StreamWriter) -> None:
        await reader.readuntil(b"\r\n\r\n")
        await reader.readexactly(1024 * 1024)
        if stall:
            await asyncio.sleep(3600)
        writer.transport.abort()

    server = await asyncio.start_server(handle, "127.0.0.1", 0)
    try:
        yield f"http://127.0.0.1:{server.sockets[0].getsockname()[1]}"
    finally:
        server.close()


@pytest.mark.parametrize(
    ("stall", "status", "code"),
    [(False, 502, "UPSTREAM_UNAVAILABLE"), (True, 504, "UPSTREAM_TIMEOUT")],
    ids=["dropped", "stalled"],
)
async def test_an_upstream_failing_in_the_middle_of_an_upload_is_a_clean_502_or_504(
    settings: Settings, stall: bool, status: int, code: str
) -> None:
    async def body() -> AsyncIterator[bytes]:
        for index in range(SIZE // CHUNK):
            yield _block(index)

    async with (
        failing_upstream(stall=stall) as url,
        gateway_to(settings, url, upstream_timeout_seconds=0.5) as client,
    ):
        started = time.monotonic()
        response = await asyncio.wait_for(client.post("/api/v1/registry/upload", content=body()), 15)
    assert (response.status_code, response.json()["code"]) == (status, code), response.text
    assert time.monotonic() - started < 10


async def test_upstream_cookies_are_neither_passed_back_nor_kept_for_the_next_request(
    settings: Settings,
) -> None:
    async def login_page(request: Request) -> Response:
        body = json.dumps({"cookie": request.headers.get("cookie")})
        return Response(
            body, media_type="application/json", headers={"set-cookie": "session=upstream; Path=/"}
        )

    upstream = Starlette(routes=[Route("/{path:path}", login_page)])
    async with on_socket(upstream, lifespan="off") as url:
        # By name, as in deploy/ (an HTTP client's cookie jar ignores cookies set by an IP address).
        by_name = url.replace("127.0.0.1", "localhost")
        async with gateway_to(settings, by_name) as client:
            first = await client.get("/api/v1/registry/a")
            second = await client.get("/api/v1/registry/b")
    assert "set-cookie" not in first.headers
    assert second.json()["cookie"] is None
    # One Date and one Server header (the gateway's): the upstream's copies are not passed on.
    assert len(second.headers.get_list("date")) == 1 and len(second.headers.get_list("server")) == 1
