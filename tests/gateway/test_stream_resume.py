"""Resuming the event stream: a client that reconnects with ``Last-Event-ID`` gets what it missed, then live events,
with no gap and no repeat; only what its jurisdiction may see; ``event: reset`` when the id cannot be resumed from."""

from __future__ import annotations

import asyncio
import json
from collections.abc import AsyncIterator
from contextlib import asynccontextmanager
from typing import Any

import httpx
import pytest

from gateway.app import create_app
from services.common.db import utcnow
from services.common.events import MANAGER_APPOINTED, CloudEvent
from services.common.ids import new_id
from services.common.settings import Settings
from tests.gateway.test_proxy import echo_upstream
from tests.harness import on_socket, publish_events

pytestmark = pytest.mark.asyncio

WENSHUI, JIAOCHENG = "141121", "141122"


def _event(region: str) -> CloudEvent:
    return CloudEvent(
        id=new_id(),
        source="/qsr/registry",
        type=MANAGER_APPOINTED.type,
        time=utcnow(),
        region=region,
        enterpriseid=None,
        data={},
    )


@asynccontextmanager
async def _gateway(settings: Settings) -> AsyncIterator[httpx.AsyncClient]:
    async with echo_upstream() as upstream:
        app = create_app(settings.model_copy(update={"registry_url": upstream, "rate_limit_enabled": False}))
        async with on_socket(app) as url, httpx.AsyncClient(base_url=url, timeout=10) as client:
            await asyncio.wait_for(app.state.bus.ready.wait(), 15)
            yield client


async def _bearer(client: httpx.AsyncClient, username: str) -> dict[str, str]:
    response = await client.post("/auth/token", json={"username": username, "password": "demo"})
    assert response.status_code == 200, response.text
    return {"Authorization": f"Bearer {response.json()['access_token']}"}


async def _messages(lines: AsyncIterator[str]) -> AsyncIterator[dict[str, Any]]:
    """The SSE messages of a stream, comments left out."""
    message: dict[str, Any] = {}
    async for line in lines:
        if line == "":
            if message:
                yield message
            message = {}
        elif not line.startswith(":"):
            field, _, value = line.partition(": ")
            message[field] = value


@asynccontextmanager
async def _stream(
    client: httpx.AsyncClient, headers: dict[str, str], params: dict[str, str] | None = None
) -> AsyncIterator[AsyncIterator[dict[str, Any]]]:
    async with client.stream("GET", "/api/v1/events/stream", headers=headers, params=params) as response:
        assert response.status_code == 200
        lines = response.aiter_lines()
        assert (await anext(lines)).startswith(": connected")
        yield _messages(lines)


async def _take(messages: AsyncIterator[dict[str, Any]], until_id: str) -> list[dict[str, Any]]:
    """The messages up to the one with ``until_id``."""
    taken: list[dict[str, Any]] = []
    async with asyncio.timeout(15):
        async for message in messages:
            taken.append(message)
            if message.get("id") == until_id:
                return taken
    raise AssertionError("the stream ended")


async def test_a_reconnecting_client_gets_what_it_missed_then_live_events(settings: Settings) -> None:
    a, b, c, d = _event(WENSHUI), _event(WENSHUI), _event(WENSHUI), _event(JIAOCHENG)
    async with _gateway(settings) as client:
        await publish_events(settings, a, b, d, c)
        wenshui = await _bearer(client, "wenshui")
        async with _stream(client, {**wenshui, "Last-Event-ID": a.id}) as messages:
            e = _event(WENSHUI)
            await publish_events(settings, e)
            received = await _take(messages, e.id)
        # A client that cannot set headers says the same in the query.
        async with _stream(client, wenshui, {"last_event_id": b.id}) as messages:
            from_query = await _take(messages, e.id)
    assert [m["id"] for m in received] == [b.id, c.id, e.id]  # not A, which it has; not D, another county's
    assert [m["event"] for m in received] == [MANAGER_APPOINTED.type] * 3
    assert json.loads(received[0]["data"])["region"] == WENSHUI
    # A came within the margin (2 s) before B: it may be one the client has, and is sent again rather than risked.
    assert [m["id"] for m in from_query] == [a.id, c.id, e.id]


async def test_an_unknown_last_event_id_resets_the_client_then_goes_live(settings: Settings) -> None:
    earlier = _event(WENSHUI)
    async with _gateway(settings) as client:
        await publish_events(settings, earlier)
        wenshui = await _bearer(client, "wenshui")
        for unknown in (new_id(), "not-an-id"):
            async with _stream(client, {**wenshui, "Last-Event-ID": unknown}) as messages:
                live = _event(WENSHUI)
                await publish_events(settings, live)
                received = await _take(messages, live.id)
            assert [m.get("event") for m in received] == ["reset", MANAGER_APPOINTED.type], unknown
            assert received[1]["id"] == live.id  # nothing replayed from a guess


async def test_resuming_never_shows_another_countys_events(settings: Settings) -> None:
    first, theirs, mine = _event(JIAOCHENG), _event(WENSHUI), _event(JIAOCHENG)
    async with _gateway(settings) as client:
        await publish_events(settings, first, theirs, mine)
        jiaocheng = await _bearer(client, "jiaocheng")
        async with _stream(client, {**jiaocheng, "Last-Event-ID": first.id}) as messages:
            live_theirs, live_mine = _event(WENSHUI), _event(JIAOCHENG)
            await publish_events(settings, live_theirs, live_mine)
            received = await _take(messages, live_mine.id)
    assert [m["id"] for m in received] == [mine.id, live_mine.id]
