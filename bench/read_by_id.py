"""A unit's record by id, GET /enterprises/{id} of registry, against the database driver alone running the
very same SQL statement, with the same concurrency, in one run.

Starts nats-server and registry as processes (as ``qsr up`` does), registers N units through the API, each
with two product categories, two certificates and a production site, then alternates rounds of
  - GET /enterprises/{id} directly to registry (with the identity the gateway would add), keep-alive
    connections going through the ids in turn;
  - the raw driver (asyncpg on PostgreSQL, aiosqlite on SQLite) running the statement registry runs for that
    read (compiled from the repository's SQLAlchemy statement), one connection per concurrent loop, the
    same ids in turn; rows fetched, nothing decoded or shaped;
and prints requests per second of each and the ratio (target >= 0.7). The load generator, registry and the
raw loops share the machine's cores. Each round also loads GET /healthz of the same process: the HTTP stack's
own ceiling at that moment, which bounds any read.
"""

from __future__ import annotations

import argparse
import asyncio
import random
import time
from typing import Any

import httpx

from bench.common import (
    command_line,
    database_kind,
    load,
    machine,
    record,
    service_database_url,
    start_system,
)
from services.common.auth import Caller, issue_identity
from services.common.json_rows import scope_of
from services.common.settings import Settings
from services.registry.repository import record_statement
from tests.harness import make_uscc

CALLER = Caller(username="wenshui", role="regulator", region_code="141121")


def unit_body(serial: int) -> dict[str, Any]:
    return {
        "uscc": make_uscc(serial),
        "name": f"文水县基准测试阀门有限公司{serial}",
        "kind": "production",
        "region_code": "141121",
        "station_code": "141121001",
        "registered_address": f"山西省吕梁市文水县凤城镇工业园区{serial}号",
        "principal_name": "张三",
        "principal_phone": "13812345678",
        "employees": 25 + serial % 300,
        "revenue_wan_yuan": 1500.5 + serial,
        "size_year": 2025,
        "product_categories": ["lpg_regulator", "gas_stove"],
        "certificates": [
            {
                "kind": "ccc",
                "number": f"2025{serial:012d}",
                "category_code": "gas_stove",
                "valid_until": "2030-01-08",
            },
            {"kind": "production_licence", "number": f"XK16-{serial:08d}", "valid_from": "2024-02-29"},
        ],
        "sites": [{"region_code": "141122", "address": f"交城县夏家营镇生产基地{serial}号"}],
        "entry_reason": "production_licence",
    }


async def register(url: str, headers: dict[str, str], units: int) -> list[str]:
    ids: list[str] = []
    async with httpx.AsyncClient(base_url=url, headers=headers, timeout=30) as client:
        for start in range(0, units, 16):
            responses = await asyncio.gather(
                *(
                    client.post("/enterprises", json=unit_body(n))
                    for n in range(start, min(units, start + 16))
                )
            )
            for response in responses:
                assert response.status_code == 201, response.text
                ids.append(response.json()["id"])
    return ids


class Raw:
    """The statement of the read, compiled for the service's driver, and loops that run it."""

    def __init__(self, database_url: str) -> None:
        from sqlalchemy.engine import make_url

        self.url = make_url(database_url)
        self.postgresql = self.url.get_backend_name() == "postgresql"
        if self.postgresql:
            from sqlalchemy.dialects.postgresql.asyncpg import dialect
        else:
            from sqlalchemy.dialects.sqlite.aiosqlite import dialect  # type: ignore[assignment]
        stmt = record_statement("postgresql" if self.postgresql else "sqlite", scope_of(CALLER))
        compiled = stmt.compile(dialect=dialect())
        self.sql = str(compiled)
        names = compiled.positiontup or []
        values = compiled.params
        self._template = [values[name] for name in names]
        self._id_at = [i for i, name in enumerate(names) if name == "enterprise_id"]
        assert len(self._id_at) == 1, (names, values)

    def params(self, enterprise_id: str) -> list[Any]:
        params = list(self._template)
        params[self._id_at[0]] = enterprise_id
        return params

    async def rate(self, ids: list[str], *, seconds: float, connections: int) -> float:
        counts = [0]
        stop_at = time.monotonic() + seconds
        if self.postgresql:
            import asyncpg

            dsn = self.url.set(drivername="postgresql").render_as_string(hide_password=False)
            pool = await asyncpg.create_pool(
                dsn,
                min_size=connections,
                max_size=connections,
                server_settings={"plan_cache_mode": "force_custom_plan"},  # as registry's engine
            )
            try:
                started = time.monotonic()
                await asyncio.gather(
                    *(self._asyncpg_loop(pool, ids, stop_at, counts) for _ in range(connections))
                )
            finally:
                await pool.close()
        else:
            import aiosqlite

            conns = [await aiosqlite.connect(self.url.database, timeout=30) for _ in range(connections)]
            try:
                started = time.monotonic()
                await asyncio.gather(*(self._sqlite_loop(conn, ids, stop_at, counts) for conn in conns))
            finally:
                for conn in conns:
                    await conn.close()
        return counts[0] / (time.monotonic() - started)

    async def _asyncpg_loop(self, pool: Any, ids: list[str], stop_at: float, counts: list[int]) -> None:
        turn = random.randrange(len(ids))
        async with pool.acquire() as conn:
            while time.monotonic() < stop_at:
                rows = await conn.fetch(self.sql, *self.params(ids[turn % len(ids)]))
                assert len(rows) == 1
                turn += 1
                counts[0] += 1

    async def _sqlite_loop(self, conn: Any, ids: list[str], stop_at: float, counts: list[int]) -> None:
        turn = random.randrange(len(ids))
        while time.monotonic() < stop_at:
            async with conn.execute(self.sql, self.params(ids[turn % len(ids)])) as cursor:
                assert len(await cursor.fetchall()) == 1
            turn += 1
            counts[0] += 1


async def main(units: int, seconds: float, connections: int, rounds: int) -> None:
    system = start_system(["registry"])
    try:
        internal = issue_identity(CALLER, Settings().internal_signer)
        headers = {"x-qsr-identity": internal}
        started = time.monotonic()
        ids = await register(system.url("registry"), headers, units)
        print(f"command: {command_line()}")
        print(
            f"machine: {machine()}; {database_kind()}; {units} units registered in "
            f"{time.monotonic() - started:.1f} s; {connections} connections, {rounds} rounds x {seconds:.0f} s "
            "each, alternating"
        )
        raw = Raw(service_database_url(system, "registry"))
        paths = [f"/enterprises/{i}" for i in ids]
        port = system.ports["registry"]
        await load(port, paths, headers, seconds=1, connections=connections)  # warm up both
        await raw.rate(ids, seconds=1, connections=connections)
        direct: list[float] = []
        driver: list[float] = []
        ceiling: list[float] = []
        for _ in range(rounds):
            rate, statuses = await load(port, paths, headers, seconds=seconds, connections=connections)
            assert set(statuses) == {200}, statuses
            direct.append(rate)
            driver.append(await raw.rate(ids, seconds=seconds, connections=connections))
            # What the HTTP stack alone does on this machine now: no read can be faster than this.
            ceiling.append((await load(port, "/healthz", {}, seconds=seconds, connections=connections))[0])
        http_rate, raw_rate = sum(direct) / rounds, sum(driver) / rounds
        ratio = http_rate / raw_rate
        print(f"statement: {raw.sql}")
        print(
            f"GET /enterprises/{{id}} direct: {http_rate:,.0f} req/s (rounds {_joined(direct)}); "
            f"raw {'asyncpg' if raw.postgresql else 'aiosqlite'}, the same statement: {raw_rate:,.0f} q/s "
            f"(rounds {_joined(driver)}); ratio {ratio:.2f} (target >= 0.7)"
        )
        print(
            f"GET /healthz of the same registry, same load: {sum(ceiling) / rounds:,.0f} req/s "
            f"(rounds {_joined(ceiling)}); the read reaches {http_rate / (sum(ceiling) / rounds):.0%} of it"
        )
        record(
            f"registry read by id ({database_kind()})",
            http_rate,
            "req/s",
            target="ratio >= 0.7 of the raw driver",
            ratio=ratio,
            note=f"{units} units, {connections} connections; /healthz {sum(ceiling) / rounds:,.0f} req/s",
        )
    finally:
        system.shutdown()


def _joined(values: list[float]) -> str:
    return ", ".join(f"{value:,.0f}" for value in values)


if __name__ == "__main__":
    parser = argparse.ArgumentParser(
        description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter
    )
    parser.add_argument("--units", type=int, default=1000)
    parser.add_argument("--seconds", type=float, default=5)
    parser.add_argument("--connections", type=int, default=16)
    parser.add_argument("--rounds", type=int, default=3)
    args = parser.parse_args()
    asyncio.run(main(args.units, args.seconds, args.connections, args.rounds))
