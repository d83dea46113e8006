"""A gateway client as an integrator would write it, and an SSE listener."""

from __future__ import annotations

import asyncio
import json
from typing import Any

import httpx


async def login(gateway: httpx.AsyncClient, username: str) -> dict[str, str]:
    response = await gateway.post("/auth/token", json={"username": username, "password": "demo"})
    assert response.status_code == 200, response.text
    return {"Authorization": f"Bearer {response.json()['access_token']}"}


class EventListener:
    """Collects what ``GET /api/v1/events/stream`` sends one user."""

    def __init__(self, base_url: str, headers: dict[str, str]) -> None:
        self.base_url = base_url
        self.headers = headers
        self.events: list[dict[str, Any]] = []
        self.connected = asyncio.Event()
        self._task: asyncio.Task[None] | None = None

    async def __aenter__(self) -> EventListener:
        self._task = asyncio.create_task(self._listen())
        await asyncio.wait_for(self.connected.wait(), 10)
        return self

    async def __aexit__(self, *exc: object) -> None:
        assert self._task is not None
        self._task.cancel()
        try:
            await self._task
        except asyncio.CancelledError:
            pass

    async def _listen(self) -> None:
        async with httpx.AsyncClient(base_url=self.base_url, timeout=None) as client:
            async with client.stream("GET", "/api/v1/events/stream", headers=self.headers) as response:
                assert response.status_code == 200
                assert response.headers["content-type"].startswith("text/event-stream")
                async for line in response.aiter_lines():
                    if line.startswith(": connected"):
                        self.connected.set()
                    elif line.startswith("data: "):
                        self.events.append(json.loads(line[6:]))

    def of(self, event_type: str, enterprise_id: str) -> list[dict[str, Any]]:
        return [e for e in self.events if e["type"] == event_type and e["enterpriseid"] == enterprise_id]
