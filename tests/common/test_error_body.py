"""The error body of a service called directly (no gateway in front): its own path as ``instance``, a request id
of its own, and the public prefix only when the gateway's header names one."""

from __future__ import annotations

import pytest

from services.common.settings import Settings
from services.registry.app import create_app
from tests.harness import WENSHUI, identity, serving

pytestmark = pytest.mark.asyncio


async def test_a_direct_call_gets_the_services_own_path_and_a_request_id(settings: Settings) -> None:
    async with serving(create_app(settings)) as client:
        headers = identity(settings, WENSHUI)
        direct = await client.get("/enterprises/none%20here", headers=headers)
        body = direct.json()
        assert (direct.status_code, body["code"], body["instance"]) == (
            404,
            "ENTERPRISE_NOT_FOUND",
            "/enterprises/none%20here",
        )
        assert len(body["request_id"]) == 32 and direct.headers["x-request-id"] == body["request_id"]

        forwarded = await client.get(
            "/enterprises/x?limit=1",
            headers={**headers, "X-Forwarded-Prefix": "/api/v1/registry", "X-Request-ID": "r-1"},
        )
        assert (forwarded.json()["instance"], forwarded.json()["request_id"]) == (
            "/api/v1/registry/enterprises/x",
            "r-1",
        )

        odd = await client.get("/enterprises/x", headers={**headers, "X-Forwarded-Prefix": "/a b/<x>"})
        assert odd.json()["instance"] == "/enterprises/x"  # not a path prefix: ignored

        unknown = await client.get("/nowhere")
        assert (unknown.status_code, unknown.json()["code"], unknown.json()["instance"]) == (
            404,
            "NOT_FOUND",
            "/nowhere",
        )
        assert unknown.headers["content-type"] == "application/problem+json"
