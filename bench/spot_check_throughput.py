"""Spot checks recorded per second: POST /spot-checks through the gateway, with the consumers running.

Starts the whole system as ``qsr up`` does (nats-server, five services, the gateway; SQLite unless
QSR_BENCH_DATABASE_URL names a PostgreSQL server, e.g. postgresql+asyncpg://postgres@127.0.0.1:5432), logs in
through the gateway, enters U units and waits until inspection has heard of them all (not timed). Then C
keep-alive connections POST spot checks through the gateway for S seconds, round-robin over the units, every
other one failed (so grading consumes the events and changes classes meanwhile, on the same cores), and it
prints the requests per second. Every answer must be 201.
"""

from __future__ import annotations

import argparse
import asyncio
import json
import os
import time
from datetime import date

import httpx
from sqlalchemy import func, select

from bench.common import (
    command_line,
    database_kind,
    machine,
    post_load,
    record,
    service_database_url,
    start_system,
)
from bench.spot_check_latency import uscc
from services.common.db import Database
from services.inspection.models import KnownEnterprise, SpotCheck


async def wait_for_units(db: Database, count: int, timeout: float = 120) -> None:
    deadline = time.monotonic() + timeout
    while True:
        async with db.session() as session:
            known = (await session.execute(select(func.count()).select_from(KnownEnterprise))).scalar_one()
        if known >= count:
            return
        if time.monotonic() > deadline:
            raise TimeoutError(f"inspection knows {known} of {count} units after {timeout:.0f} s")
        await asyncio.sleep(0.2)


def bodies(units: list[str], count: int) -> list[bytes]:
    today = date.today().isoformat()
    out = []
    for n in range(count):
        failed = n % 2 == 1
        body = {
            "enterprise_id": units[n % len(units)],
            "product": "家用燃气灶",
            "batch": f"B{n}",
            "verdict": "failed" if failed else "passed",
            "failed_items": ["熄火保护装置"] if failed else [],
            "sampled_on": today,
        }
        out.append(json.dumps(body, ensure_ascii=False).encode())
    return out


async def main(args: argparse.Namespace) -> None:
    system = start_system()
    db = Database(service_database_url(system, "inspection"))
    try:
        async with httpx.AsyncClient(base_url=system.url("gateway"), timeout=30) as client:
            login = await client.post("/auth/token", json={"username": "wenshui", "password": "demo"})
            headers = {"Authorization": f"Bearer {login.json()['access_token']}"}
            units = []
            for serial in range(args.units):
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
                response.raise_for_status()
                units.append(response.json()["id"])
        await wait_for_units(db, args.units)
        port, path = system.ports["gateway"], "/api/v1/inspection/spot-checks"
        payloads = bodies(units, args.connections * 500)
        # A second of warm-up, not counted.
        await post_load(port, path, headers, payloads[::7], seconds=1, connections=args.connections)
        rate, statuses = await post_load(
            port, path, headers, payloads, seconds=args.seconds, connections=args.connections
        )
        assert set(statuses) == {201}, statuses
        async with db.session() as session:
            stored = (await session.execute(select(func.count()).select_from(SpotCheck))).scalar_one()
        server = os.environ.get("QSR_BENCH_DATABASE_URL")
        print(f"command: {f'QSR_BENCH_DATABASE_URL={server} ' if server else ''}{command_line()}")
        print(
            f"machine: {machine()}; database: {database_kind()}; the whole system on one host, consumers running"
        )
        print(
            f"workload: {args.connections} keep-alive connections POSTing spot checks through the gateway for "
            f"{args.seconds:.0f} s over {args.units} units, every other one failed"
        )
        print(f"POST /spot-checks through the gateway: {rate:,.0f} req/s ({statuses[201]} answered 201)")
        print(f"checked: {stored} spot checks stored by inspection (with the warm-up)")
        record(
            f"spot-check POST throughput ({database_kind()})",
            rate,
            "req/s",
            target=">= 500 req/s",
            note=f"{args.connections} connections through the gateway, consumers running",
        )
    finally:
        await db.dispose()
        system.shutdown()


if __name__ == "__main__":
    parser = argparse.ArgumentParser(
        description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter
    )
    parser.add_argument("--units", type=int, default=100, help="units the spot checks are spread over (U)")
    parser.add_argument("--connections", type=int, default=8, help="keep-alive connections (C)")
    parser.add_argument("--seconds", type=float, default=10, help="seconds of load (S)")
    asyncio.run(main(parser.parse_args()))
