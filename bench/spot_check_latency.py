"""Spot-check POST → supervision class changed, visible through the gateway: p50/p99 over N flows.

Starts the whole system as ``qsr up`` does (nats-server, five services, the gateway; SQLite unless
QSR_BENCH_DATABASE_URL names a PostgreSQL server, e.g. postgresql+asyncpg://postgres@127.0.0.1:5432),
enters N units, listens on the gateway's event stream, then for each unit posts one failed spot check
through the gateway and times until its ``grading.class.changed`` event (routine → key) arrives on the
stream. Flows run one after another.
"""

from __future__ import annotations

import argparse
import asyncio
import json
import os
import platform
import time
from datetime import date

import httpx

from bench.common import command_line, start_system, summary_ms

USCC_ALPHABET = "0123456789ABCDEFGHJKLMNPQRTUWXY"
USCC_WEIGHTS = (1, 3, 9, 27, 19, 26, 16, 17, 20, 29, 25, 13, 8, 24, 10, 30, 28)


def uscc(serial: int) -> str:
    body = f"91141121{serial:09d}"
    total = sum(USCC_ALPHABET.index(ch) * w for ch, w in zip(body, USCC_WEIGHTS, strict=True))
    return body + USCC_ALPHABET[(31 - total % 31) % 31]


async def listen(
    base_url: str, headers: dict[str, str], arrived: dict[str, asyncio.Future[float]], ready: asyncio.Event
) -> None:
    async with httpx.AsyncClient(base_url=base_url, timeout=None) as client:
        async with client.stream("GET", "/api/v1/events/stream", headers=headers) as response:
            async for line in response.aiter_lines():
                if line.startswith(": connected"):
                    ready.set()
                elif line.startswith("data: "):
                    event = json.loads(line[6:])
                    waiting = arrived.get(event["enterpriseid"])
                    if event["type"] == "qsr.grading.class.changed.v1" and waiting and not waiting.done():
                        waiting.set_result(time.perf_counter())


async def main(flows: int) -> None:
    system = start_system()
    try:
        async with httpx.AsyncClient(base_url=system.url("gateway"), timeout=30) as client:
            login = await client.post("/auth/token", json={"username": "wenshui", "password": "demo"})
            headers = {"Authorization": f"Bearer {login.json()['access_token']}"}
            units = []
            for serial in range(flows):
                response = await client.post(
                    "/api/v1/registry/enterprises",
                    headers=headers,
                    json={
                        "uscc": uscc(serial),
                        "name": f"基准单位{serial}",
                        "kind": "production",
                        "region_code": "141121",
                        "employees": 25,
                        "revenue_wan_yuan": 1500,
                        "entry_reason": "survey",
                    },
                )
                units.append(response.json()["id"])
            loop = asyncio.get_running_loop()
            arrived: dict[str, asyncio.Future[float]] = {unit: loop.create_future() for unit in units}
            ready = asyncio.Event()
            listener = asyncio.create_task(listen(system.url("gateway"), headers, arrived, ready))
            await asyncio.wait_for(ready.wait(), 10)
            latencies: list[float] = []
            today = date.today().isoformat()
            for unit in units:
                body = {
                    "enterprise_id": unit,
                    "product": "家用燃气灶",
                    "batch": "B1",
                    "verdict": "failed",
                    "failed_items": ["熄火保护装置"],
                    "sampled_on": today,
                }
                for _ in range(1000):
                    started = time.perf_counter()
                    response = await client.post("/api/v1/inspection/spot-checks", headers=headers, json=body)
                    if response.status_code != 404:  # 404: inspection has not yet heard of this unit
                        break
                    await asyncio.sleep(0.01)
                assert response.status_code == 201, response.text
                latencies.append(await asyncio.wait_for(arrived[unit], 30) - started)
            listener.cancel()
        print(f"command: {command_line()}")
        print(
            f"machine: {platform.machine()}, {os.cpu_count()} cores, Python {platform.python_version()}; "
            f"database: {'PostgreSQL' if os.environ.get('QSR_BENCH_DATABASE_URL') else 'SQLite'}"
        )
        print(
            f"spot-check POST → grading.class.changed on the gateway's event stream: {summary_ms(latencies)}"
        )
    finally:
        system.shutdown()


if __name__ == "__main__":
    parser = argparse.ArgumentParser(
        description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter
    )
    parser.add_argument("--flows", type=int, default=1000)
    asyncio.run(main(parser.parse_args().flows))
