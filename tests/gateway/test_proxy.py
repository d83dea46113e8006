"""The gateway's proxy against real upstream sockets: what it passes on, what it strips, how it fails."""

from __future__ import annotations

import asyncio
import json
from collections.abc import AsyncIterator
from contextlib import AbstractAsyncContextManager, asynccontextmanager

import httpx
import pytest
from starlette.applications import Starlette
from starlette.requests import Request
from starlette.responses import Response
from starlette.routing import Route

from gateway.app import create_app
from services.common.auth import read_identity
from services.common.internal_keys import new_pair
from services.common.settings import Settings
from tests.harness import free_port, on_socket, serving

pytestmark = pytest.mark.asyncio


async def _echo(request: Request) -> Response:
    body = {
        "path": request.url.path,
        "raw_path": request.scope["raw_path"].decode("latin-1"),
        "query": request.url.query,
        "headers": dict(request.headers),
        "body": (await request.body()).decode(),
    }
    return Response(
        json.dumps(body),
        media_type="application/json",
        headers={"set-cookie": "session=upstream", "x-upstream": "yes"},
    )


def echo_upstream() -> AbstractAsyncContextManager[str]:
    return on_socket(
        Starlette(routes=[Route("/{path:path}", _echo, methods=["GET", "POST"])]), lifespan="off"
    )


@asynccontextmanager
async def silent_upstream() -> AsyncIterator[str]:
    """Accepts connections and never answers."""
    server = await asyncio.start_server(lambda r, w: asyncio.sleep(3600), "127.0.0.1", 0)
    port = server.sockets[0].getsockname()[1]
    try:
        yield f"http://127.0.0.1:{port}"
    finally:
        server.close()


async def _token(client: httpx.AsyncClient, username: str = "wenshui") -> dict[str, str]:
    response = await client.post("/auth/token", json={"username": username, "password": "demo"})
    return {"Authorization": f"Bearer {response.json()['access_token']}"}


async def test_the_proxy_forwards_the_request_and_a_signed_identity_only(settings: Settings) -> None:
    async with echo_upstream() as upstream:
        gateway_settings = settings.model_copy(update={"registry_url": upstream})
        async with serving(create_app(gateway_settings)) as client:
            headers = {
                **await _token(client),
                "X-QSR-Identity": "forged",
                "Connection": "keep-alive, x-secret",
                "X-Request-ID": "req-1",
                "Cookie": "a=b",
            }
            response = await client.post(
                "/api/v1/registry/enterprises/x?limit=5", content=b'{"a":1}', headers=headers
            )
    assert response.status_code == 200
    echoed = response.json()
    assert echoed["path"] == "/enterprises/x" and echoed["query"] == "limit=5" and echoed["body"] == '{"a":1}'
    upstream_headers = echoed["headers"]
    assert "authorization" not in upstream_headers and "cookie" not in upstream_headers
    caller = read_identity(upstream_headers["x-qsr-identity"], settings.internal_verify_keys)
    assert (caller.username, caller.region_code) == ("wenshui", "141121")  # the forged header was replaced
    assert upstream_headers["x-request-id"] == "req-1"
    assert response.headers["x-request-id"] == "req-1"
    assert response.headers["x-upstream"] == "yes"
    assert "set-cookie" not in response.headers  # upstream cookies never reach the caller


async def test_the_path_goes_upstream_as_sent_with_the_public_prefix(settings: Settings) -> None:
    async with echo_upstream() as upstream:
        async with serving(create_app(settings.model_copy(update={"registry_url": upstream}))) as client:
            headers = {**await _token(client), "X-Forwarded-Prefix": "/evil"}
            response = await client.get(
                "/api/v1/registry/enterprises/a%2Fb%20%E6%96%87?q=%E6%96%87", headers=headers
            )
    echoed = response.json()
    assert echoed["raw_path"] == "/enterprises/a%2Fb%20%E6%96%87"  # not decoded, not re-escaped
    assert echoed["query"] == "q=%E6%96%87"
    assert echoed["headers"]["x-forwarded-prefix"] == "/api/v1/registry"  # the caller's is dropped


async def test_a_request_id_is_made_when_the_caller_has_none(settings: Settings) -> None:
    async with echo_upstream() as upstream:
        async with serving(create_app(settings.model_copy(update={"grading_url": upstream}))) as client:
            response = await client.get("/api/v1/grading/x", headers=await _token(client))
    assert len(response.headers["x-request-id"]) == 32
    assert response.json()["headers"]["x-request-id"] == response.headers["x-request-id"]


async def test_an_unreachable_upstream_is_a_502_and_a_silent_one_a_504(settings: Settings) -> None:
    async with silent_upstream() as silent:
        gateway_settings = settings.model_copy(
            update={
                "registry_url": f"http://127.0.0.1:{free_port()}",
                "grading_url": silent,
                "upstream_timeout_seconds": 0.5,
            }
        )
        async with serving(create_app(gateway_settings)) as client:
            headers = await _token(client)
            down = await client.get("/api/v1/registry/enterprises", headers=headers)
            slow = await client.get("/api/v1/grading/enterprises", headers=headers)
            unknown = await client.get("/api/v1/nosuch/x", headers=headers)
    assert (down.status_code, down.json()["code"]) == (502, "UPSTREAM_UNAVAILABLE")
    assert (slow.status_code, slow.json()["code"]) == (504, "UPSTREAM_TIMEOUT")
    assert (unknown.status_code, unknown.json()["code"]) == (404, "SERVICE_NOT_FOUND")
    assert down.headers["content-type"].startswith("application/problem+json")


async def _slow(request: Request) -> Response:
    await asyncio.sleep(1.0)
    return Response("{}", media_type="application/json")


async def test_bulk_paths_wait_longer_than_the_rest(settings: Settings) -> None:
    """A 100,000-row import or a province's export answers after minutes, not seconds: only those paths
    (import, export, a phone's sync, error sheets) get the long timeout."""
    slow = Starlette(routes=[Route("/{path:path}", _slow, methods=["GET", "POST"])])
    async with on_socket(slow, lifespan="off") as upstream:
        gateway_settings = settings.model_copy(
            update={
                "registry_url": upstream,
                "upstream_timeout_seconds": 0.3,
                "upstream_bulk_timeout_seconds": 5.0,
            }
        )
        async with serving(create_app(gateway_settings)) as client:
            headers = await _token(client)
            imported = await client.post("/api/v1/registry/enterprises/import", headers=headers)
            exported = await client.get("/api/v1/registry/enterprises/export?format=csv", headers=headers)
            listed = await client.get("/api/v1/registry/enterprises", headers=headers)
    assert (imported.status_code, exported.status_code) == (200, 200)
    assert (listed.status_code, listed.json()["code"]) == (504, "UPSTREAM_TIMEOUT")


async def test_demo_accounts_exist_only_in_development(settings: Settings) -> None:
    private, public = new_pair()
    production = settings.model_copy(
        update={"env": "production", "internal_signing_key": private, "internal_public_key": public}
    )
    async with serving(create_app(production)) as client:
        response = await client.post("/auth/token", json={"username": "wenshui", "password": "demo"})
    assert response.status_code == 401


async def test_the_event_catalogue_is_published_as_asyncapi(settings: Settings) -> None:
    async with serving(create_app(settings)) as client:
        document = (await client.get("/asyncapi.json")).json()
    assert document["asyncapi"].startswith("3.")
    addresses = {channel["address"] for channel in document["channels"].values()}
    assert {
        "qsr.inspection.spot_check.failed",
        "qsr.grading.class.changed",
        "qsr.registry.enterprise.registered",
    } <= addresses
