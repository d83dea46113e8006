"""Gateway throughput against calling the service directly: same endpoint, same load, one run.

Starts nats-server, registry and the gateway as processes (as ``qsr up`` does), enters one unit, then
loads two registry endpoints directly (with the identity the gateway would add) and through the gateway
(with a user's bearer token), alternating, and prints requests per second and the ratio:
  - GET /healthz: the cheapest endpoint, so the ratio shows the gateway's own cost at its starkest;
  - GET /enterprises/{id}: a real read (identity check, SQLite query, JSON).
The load generator, the gateway and registry share the machine's cores, as they would on one host, so the
rates move with whatever else the machine is doing; the CPU time the gateway process spends per request
through it (from /proc/<pid>/stat) moves much less, and is printed too.
"""

from __future__ import annotations

import argparse
import asyncio
import os
import platform
from pathlib import Path

import httpx

from bench.common import command_line, load, start_system
from services.common.auth import Caller, issue_identity
from services.common.settings import Settings

UNIT = {
    "uscc": "91110000600037341L",
    "name": "基准测试单位",
    "kind": "production",
    "region_code": "141121",
    "employees": 25,
    "revenue_wan_yuan": 1500,
    "entry_reason": "survey",
}


def _cpu_seconds(pid: int) -> float:
    """User + system CPU time of a process so far."""
    fields = Path(f"/proc/{pid}/stat").read_text().rsplit(")", 1)[1].split()
    return (int(fields[11]) + int(fields[12])) / os.sysconf("SC_CLK_TCK")


async def main(seconds: float, connections: int, rounds: int) -> None:
    system = start_system(["registry", "gateway"])
    try:
        async with httpx.AsyncClient(base_url=system.url("gateway"), timeout=10) as client:
            login = await client.post("/auth/token", json={"username": "wenshui", "password": "demo"})
            bearer = {"Authorization": f"Bearer {login.json()['access_token']}"}
            unit = (await client.post("/api/v1/registry/enterprises", headers=bearer, json=UNIT)).json()
        caller = Caller(username="wenshui", role="regulator", region_code="141121")
        internal = issue_identity(caller, Settings().internal_signer)
        print(f"command: {command_line()}")
        print(
            f"machine: {platform.machine()}, {os.cpu_count()} cores, Python {platform.python_version()}; "
            f"{connections} keep-alive connections, {rounds} rounds x {seconds:.0f} s per path, alternating"
        )
        for endpoint, label in (
            ("/healthz", "/healthz"),
            (f"/enterprises/{unit['id']}", "/enterprises/{id}"),
        ):
            targets = {
                "direct": (system.ports["registry"], endpoint, {"x-qsr-identity": internal}),
                "gateway": (system.ports["gateway"], f"/api/v1/registry{endpoint}", bearer),
            }
            for port, path, headers in targets.values():  # warm up both paths
                await load(port, path, headers, seconds=1, connections=connections)
            results: dict[str, list[float]] = {"direct": [], "gateway": []}
            gateway_cpu = gateway_requests = 0.0
            for _ in range(rounds):
                for name, (port, path, headers) in targets.items():
                    cpu = _cpu_seconds(system.processes["gateway"].pid)
                    rate, statuses = await load(port, path, headers, seconds=seconds, connections=connections)
                    assert set(statuses) == {200}, statuses
                    results[name].append(rate)
                    if name == "gateway":
                        gateway_cpu += _cpu_seconds(system.processes["gateway"].pid) - cpu
                        gateway_requests += sum(statuses.values())
            direct = sum(results["direct"]) / rounds
            via = sum(results["gateway"]) / rounds
            print(
                f"GET {label}: direct {direct:,.0f} req/s, through the gateway {via:,.0f} req/s, "
                f"ratio {via / direct:.0%} (rounds: direct {_joined(results['direct'])}; "
                f"gateway {_joined(results['gateway'])}); "
                f"gateway CPU {gateway_cpu / gateway_requests * 1e6:.0f} µs per request"
            )
    finally:
        system.shutdown()


def _joined(values: list[float]) -> str:
    return ", ".join(f"{value:,.0f}" for value in values)


if __name__ == "__main__":
    parser = argparse.ArgumentParser(
        description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter
    )
    parser.add_argument("--seconds", type=float, default=5)
    parser.add_argument("--connections", type=int, default=32)
    parser.add_argument("--rounds", type=int, default=3)
    args = parser.parse_args()
    asyncio.run(main(args.seconds, args.connections, args.rounds))
