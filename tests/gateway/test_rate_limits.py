"""The gateway's rate limits: per user, per client address on log-in and without a token; never on health checks.

Limits are per hour in these tests: the sliding window counts the previous window's hits in proportion (rounded
down), so a window boundary passing in the middle of a test could let one extra request through; with windows of
an hour that is very unlikely, with a minute it would make a test fail now and then.
"""

from __future__ import annotations

import asyncio
import json
import uuid
from collections.abc import AsyncIterator
from contextlib import asynccontextmanager, suppress
from typing import Any

import httpx
import nats
import pytest
from fastapi import FastAPI

from gateway.app import create_app
from services.common.settings import Settings
from tests.gateway.test_proxy import echo_upstream
from tests.harness import on_socket

pytestmark = pytest.mark.asyncio

RATE_LIMITED_DETAIL = "请求过于频繁，请稍后再试"


@asynccontextmanager
async def gateway(settings: Settings, **limits: Any) -> AsyncIterator[FastAPI]:
    """The gateway with an echoing registry behind it, its lifespan running (NATS included)."""
    async with echo_upstream() as upstream:
        app = create_app(settings.model_copy(update={"registry_url": upstream, **limits}))
        async with app.router.lifespan_context(app):
            await asyncio.wait_for(app.state.bus.ready.wait(), 15)
            yield app


def client_at(app: FastAPI, address: str) -> httpx.AsyncClient:
    """A client whose requests reach the gateway from the socket address ``address``."""
    transport = httpx.ASGITransport(app=app, client=(address, 50000))
    return httpx.AsyncClient(transport=transport, base_url="http://test")


async def _login(client: httpx.AsyncClient, username: str, password: str = "demo") -> httpx.Response:
    return await client.post("/auth/token", json={"username": username, "password": password})


async def _bearer(client: httpx.AsyncClient, username: str) -> dict[str, str]:
    response = await _login(client, username)
    assert response.status_code == 200, response.text
    return {"Authorization": f"Bearer {response.json()['access_token']}"}


def assert_rate_limited(response: httpx.Response, window_seconds: int = 3600) -> None:
    assert response.status_code == 429, response.text
    assert response.headers["content-type"].startswith("application/problem+json")
    body = response.json()
    assert (body["code"], body["detail"]) == ("RATE_LIMITED", RATE_LIMITED_DETAIL)
    assert 0 < int(response.headers["retry-after"]) <= window_seconds
    assert response.headers["ratelimit-remaining"] == "0"


async def test_a_user_over_the_limit_is_refused_and_other_users_are_not(settings: Settings) -> None:
    async with gateway(settings, rate_limit_per_user="3/hour") as app, client_at(app, "192.0.2.10") as client:
        wenshui, jiaocheng = await _bearer(client, "wenshui"), await _bearer(client, "jiaocheng")
        allowed = [await client.get(f"/api/v1/registry/enterprises/{n}", headers=wenshui) for n in range(3)]
        refused = await client.get("/api/v1/registry/enterprises/3", headers=wenshui)
        other = await client.get("/api/v1/registry/enterprises/4", headers=jiaocheng)
    assert [r.status_code for r in allowed] == [200, 200, 200]
    assert [r.json()["path"] for r in allowed] == [f"/enterprises/{n}" for n in range(3)]  # reached registry
    assert [r.headers["ratelimit-limit"] for r in allowed] == ["3", "3", "3"]
    assert [r.headers["ratelimit-remaining"] for r in allowed] == ["2", "1", "0"]
    assert_rate_limited(refused)
    assert refused.json()["instance"] == "/api/v1/registry/enterprises/3"  # answered by the gateway itself
    assert other.status_code == 200 and other.headers["ratelimit-remaining"] == "2"


async def test_health_checks_are_never_limited(settings: Settings) -> None:
    async with (
        gateway(settings, rate_limit_anonymous="1/hour", rate_limit_per_user="1/hour") as app,
        client_at(app, "192.0.2.11") as client,
    ):
        assert (await client.get("/asyncapi.json")).status_code == 200
        assert_rate_limited(await client.get("/asyncapi.json"))  # this address has used its allowance
        health = [await client.get("/healthz") for _ in range(5)]
        ready = [await client.get("/readyz") for _ in range(5)]
    assert [r.status_code for r in health] == [200] * 5
    assert all(r.status_code != 429 and "ratelimit-limit" not in r.headers for r in health + ready)


async def test_log_in_guesses_from_one_address_are_refused(settings: Settings) -> None:
    async with gateway(settings, rate_limit_login="3/hour") as app:
        async with client_at(app, "198.51.100.20") as guesser:
            guesses = [
                await _login(guesser, name, "guess") for name in ("wenshui", "jiaocheng", "sx-province")
            ]
            refused = await _login(guesser, "wenshui-s1")  # even with the right password
        async with client_at(app, "198.51.100.21") as neighbour:
            elsewhere = await _login(neighbour, "wenshui-s1")
    assert [r.status_code for r in guesses] == [401, 401, 401]
    assert [r.headers["ratelimit-remaining"] for r in guesses] == ["2", "1", "0"]
    assert_rate_limited(refused)
    assert elsewhere.status_code == 200


async def test_log_in_guesses_at_one_user_are_refused_from_any_address(settings: Settings) -> None:
    """Every attempt counts, a successful one too: the guesser cannot log in between guesses to start
    afresh, nor spread the guesses over addresses."""
    async with gateway(settings, rate_limit_login="3/hour") as app:
        attempts = []
        for n, password in enumerate(("guess", "demo", "guess", "demo")):
            async with client_at(app, f"198.51.100.{30 + n}") as client:
                attempts.append(await _login(client, "wenshui" if n != 2 else "WenShui", password))
        async with client_at(app, "198.51.100.40") as client:
            another_user = await _login(client, "jiaocheng")
    assert [r.status_code for r in attempts[:3]] == [401, 200, 401]
    assert_rate_limited(attempts[3])
    assert another_user.status_code == 200


async def test_a_flood_without_a_token_is_refused_per_address(settings: Settings) -> None:
    async with gateway(settings, rate_limit_anonymous="3/hour") as app:
        async with client_at(app, "203.0.113.50") as flooder:
            first = [await flooder.get("/api/v1/registry/enterprises") for _ in range(2)]
            forged = await flooder.get("/api/v1/registry/enterprises", headers={"Authorization": "Bearer x"})
            refused = [
                await flooder.get("/api/v1/registry/enterprises"),
                await flooder.get("/api/v1/events/stream"),
                await flooder.get("/openapi.json"),
            ]
            with_token = await flooder.get(
                "/api/v1/registry/enterprises", headers=await _bearer(flooder, "wenshui")
            )
        async with client_at(app, "203.0.113.51") as other:
            elsewhere = await other.get("/api/v1/registry/enterprises")
    assert [r.status_code for r in [*first, forged]] == [401, 401, 401]
    assert [r.json()["code"] for r in [*first, forged]] == ["UNAUTHENTICATED"] * 3
    assert [r.headers["ratelimit-remaining"] for r in [*first, forged]] == ["2", "1", "0"]
    for response in refused:
        assert_rate_limited(response)
    assert with_token.status_code == 200  # a user with a token counts as that user
    assert elsewhere.status_code == 401


async def test_x_forwarded_for_is_believed_only_from_a_trusted_proxy(settings: Settings) -> None:
    path = "/api/v1/registry/enterprises"
    async with (
        gateway(settings, rate_limit_anonymous="2/hour") as app,
        client_at(app, "203.0.113.60") as client,
    ):
        spoofed = [await client.get(path, headers={"X-Forwarded-For": f"192.0.2.{n}"}) for n in range(3)]
    assert [r.status_code for r in spoofed[:2]] == [401, 401]
    assert_rate_limited(spoofed[2])  # one peer, however many addresses it claims

    limits = {"rate_limit_anonymous": "2/hour", "trusted_proxies": ("10.0.0.0/8",)}
    async with gateway(settings, **limits) as app:
        async with client_at(app, "10.1.2.3") as proxy:
            one = [await proxy.get(path, headers={"X-Forwarded-For": "198.51.100.70"}) for _ in range(2)]
            # The proxy appends the address it saw; what the client wrote before it is not believed.
            claimed = await proxy.get(path, headers={"X-Forwarded-For": "192.0.2.99, 198.51.100.70"})
            two = await proxy.get(path, headers={"X-Forwarded-For": "198.51.100.71, 10.9.9.9"})
        async with client_at(app, "203.0.113.61") as untrusted:
            direct = [
                await untrusted.get(path, headers={"X-Forwarded-For": "198.51.100.71"}) for _ in range(3)
            ]
    assert [r.status_code for r in one] == [401, 401]
    assert_rate_limited(claimed)
    assert two.status_code == 401  # another client behind the proxies
    assert [r.status_code for r in direct[:2]] == [401, 401]
    assert_rate_limited(direct[2])


async def test_limits_can_be_turned_off(settings: Settings) -> None:
    one_each = {
        "rate_limit_per_user": "1/hour",
        "rate_limit_login": "1/hour",
        "rate_limit_anonymous": "1/hour",
    }
    async with (
        gateway(settings, rate_limit_enabled=False, **one_each) as app,
        client_at(app, "192.0.2.80") as client,
    ):
        logins = [await _login(client, "wenshui") for _ in range(3)]
        headers = {"Authorization": f"Bearer {logins[0].json()['access_token']}"}
        calls = [await client.get("/api/v1/registry/enterprises", headers=headers) for _ in range(3)]
        anonymous = [await client.get("/api/v1/registry/enterprises") for _ in range(3)]
    assert [r.status_code for r in logins + calls + anonymous] == [200] * 6 + [401] * 3
    assert all("ratelimit-limit" not in r.headers for r in logins + calls + anonymous)


async def _publish_until_cancelled(settings: Settings) -> None:
    """Events of 文水县, one every 50 ms (the gateway subscribes a moment after it starts)."""
    nc = await nats.connect(settings.nats_url)
    try:
        while True:
            event = {"id": uuid.uuid4().hex, "type": "test.ping", "region": "141121"}
            await nc.publish("qsr.registry.test.ping", json.dumps(event).encode())
            await asyncio.sleep(0.05)
    finally:
        await nc.close()


async def test_the_event_stream_counts_once_per_connection_not_per_event(settings: Settings) -> None:
    async with echo_upstream() as upstream:
        app = create_app(
            settings.model_copy(update={"registry_url": upstream, "rate_limit_per_user": "3/hour"})
        )
        async with on_socket(app) as url, httpx.AsyncClient(base_url=url, timeout=10) as client:
            wenshui = await _bearer(client, "wenshui")
            events: list[dict[str, Any]] = []
            async with client.stream("GET", "/api/v1/events/stream", headers=wenshui) as stream:
                assert stream.status_code == 200 and stream.headers["ratelimit-remaining"] == "2"
                lines = stream.aiter_lines()
                assert (await anext(lines)).startswith(": connected")
                publisher = asyncio.create_task(_publish_until_cancelled(settings))
                try:
                    async with asyncio.timeout(15):
                        async for line in lines:
                            if line.startswith("data: "):
                                events.append(json.loads(line[6:]))
                                if len(events) == 5:
                                    break
                finally:
                    publisher.cancel()
                    with suppress(asyncio.CancelledError):
                        await publisher
            calls = [await client.get("/api/v1/registry/enterprises", headers=wenshui) for _ in range(3)]
            reopened = await client.get("/api/v1/events/stream", headers=wenshui)
    assert len(events) == 5 and {e["type"] for e in events} == {"test.ping"}
    assert [r.status_code for r in calls[:2]] == [200, 200]  # five events did not use the allowance up
    assert_rate_limited(calls[2])
    assert_rate_limited(reopened)


async def test_several_limits_in_one_setting_all_hold(settings: Settings) -> None:
    """ "10/minute;50/hour" style: the tightest limit refuses, and the headers describe it."""
    async with (
        gateway(settings, rate_limit_anonymous="5/hour;2/day") as app,
        client_at(app, "192.0.2.90") as client,
    ):
        responses = [await client.get("/api/v1/registry/enterprises") for _ in range(3)]
    assert [r.status_code for r in responses[:2]] == [401, 401]
    assert [r.headers["ratelimit-limit"] for r in responses[:2]] == ["2", "2"]
    assert_rate_limited(responses[2], window_seconds=86400)
