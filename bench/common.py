"""Shared by the benchmarks: the whole system in a temporary directory, and a light HTTP/1.1 load generator."""

from __future__ import annotations

import asyncio
import os
import random
import shlex
import statistics
import sys
import tempfile
import time
import uuid
from collections.abc import Sequence
from pathlib import Path
from typing import Any

sys.path.insert(0, str(Path(__file__).resolve().parent.parent))

from services.common.launcher import System
from services.common.settings import SERVICES
from tests.harness import free_port


def start_system(names: list[str] | None = None) -> System:
    """Start NATS and the named apps (default: all) as ``qsr up`` does, on free ports, SQLite in a temp dir."""
    data_dir = Path(tempfile.mkdtemp(prefix="qsr-bench-"))
    ports = {name: free_port() for name in (*SERVICES, "gateway")}
    env = {
        # The benchmarks measure throughput, which the gateway's rate limits would cap (set
        # QSR_RATE_LIMIT_ENABLED=true with limits above the load to measure what counting costs).
        "QSR_RATE_LIMIT_ENABLED": "false",
        **os.environ,
        "QSR_DATA_DIR": str(data_dir),
        "QSR_ENV": "development",
        **{f"QSR_{s.upper()}_URL": f"http://127.0.0.1:{ports[s]}" for s in SERVICES},
    }
    env.pop("QSR_DATABASE_URL", None)
    if os.environ.get("QSR_BENCH_DATABASE_URL"):
        # A PostgreSQL server URL: this run gets databases of its own, left behind for inspection.
        server = os.environ["QSR_BENCH_DATABASE_URL"].rstrip("/")
        env["QSR_DATABASE_URL"] = f"{server}/qsr_bench_{uuid.uuid4().hex[:8]}_{{service}}"
    nats_port = free_port()
    env["QSR_NATS_URL"] = f"nats://127.0.0.1:{nats_port}"
    system = System(data_dir=data_dir, env=env, ports=ports, nats_port=nats_port)
    (data_dir / "logs").mkdir(parents=True, exist_ok=True)
    system.start_nats()
    wanted = names or [*SERVICES, "gateway"]
    for name in wanted:
        system.start_app(name)
    # The gateway is ready only when every service is; with some services alone, its liveness will do.
    system.wait_ready(wanted if set(SERVICES) <= set(wanted) else [n for n in wanted if n != "gateway"])
    if "gateway" in wanted:
        _wait_healthy(system.url("gateway"))
    return system


def _wait_healthy(url: str, timeout: float = 30.0) -> None:
    import httpx

    deadline = time.monotonic() + timeout
    while True:
        try:
            if httpx.get(f"{url}/healthz", timeout=1).status_code == 200:
                return
        except httpx.HTTPError:
            if time.monotonic() > deadline:
                raise
        time.sleep(0.1)


def percentile(values: list[float], q: float) -> float:
    ordered = sorted(values)
    return ordered[min(len(ordered) - 1, int(q * len(ordered)))]


def summary_ms(values: list[float]) -> str:
    return (
        f"p50 {percentile(values, 0.50) * 1000:.1f} ms, p99 {percentile(values, 0.99) * 1000:.1f} ms, "
        f"mean {statistics.fmean(values) * 1000:.1f} ms, n={len(values)}"
    )


async def _connection(
    port: int, requests: list[bytes], stop_at: float, counts: list[int], statuses: dict[int, int]
) -> None:
    reader, writer = await asyncio.open_connection("127.0.0.1", port)
    turn = random.randrange(len(requests))
    try:
        while time.monotonic() < stop_at:
            writer.write(requests[turn % len(requests)])
            turn += 1
            head = await reader.readuntil(b"\r\n\r\n")
            status = int(head[9:12])
            length = 0
            for line in head.split(b"\r\n"):
                if line[:15].lower() == b"content-length:":
                    length = int(line[15:])
            await reader.readexactly(length)
            statuses[status] = statuses.get(status, 0) + 1
            counts[0] += 1
    finally:
        writer.close()


async def load(
    port: int, path: str | Sequence[str], headers: dict[str, str], *, seconds: float, connections: int
) -> tuple[float, dict[int, int]]:
    """Requests per second of keep-alive GETs of ``path`` over ``connections`` connections for ``seconds``;
    given several paths, each connection goes through them in turn from a place of its own."""
    paths = [path] if isinstance(path, str) else list(path)
    header_lines = [f"Host: 127.0.0.1:{port}", *(f"{k}: {v}" for k, v in headers.items())]
    requests = [("\r\n".join([f"GET {p} HTTP/1.1", *header_lines]) + "\r\n\r\n").encode() for p in paths]
    counts, statuses = [0], {}
    started = time.monotonic()
    stop_at = started + seconds
    await asyncio.gather(
        *(_connection(port, requests, stop_at, counts, statuses) for _ in range(connections))
    )
    return counts[0] / (time.monotonic() - started), statuses


async def post_load(
    port: int,
    path: str,
    headers: dict[str, str],
    bodies: list[bytes],
    *,
    seconds: float,
    connections: int,
) -> tuple[float, dict[int, int]]:
    """Requests per second of keep-alive JSON POSTs of ``path`` over ``connections`` connections for
    ``seconds``; connection ``n`` sends ``bodies[n::connections]`` in turn (so no two send the same body)."""
    lines = [f"POST {path} HTTP/1.1", f"Host: 127.0.0.1:{port}", *(f"{k}: {v}" for k, v in headers.items())]
    head = "\r\n".join([*lines, "Content-Type: application/json"])

    def request(body: bytes) -> bytes:
        return f"{head}\r\nContent-Length: {len(body)}\r\n\r\n".encode() + body

    per_connection = [[request(b) for b in bodies[n::connections]] for n in range(connections)]
    counts, statuses = [0], {}
    started = time.monotonic()
    stop_at = started + seconds
    await asyncio.gather(
        *(_connection(port, requests, stop_at, counts, statuses) for requests in per_connection)
    )
    return counts[0] / (time.monotonic() - started), statuses


def command_line() -> str:
    module = Path(sys.argv[0]).with_suffix("").relative_to(Path(__file__).resolve().parent.parent).as_posix()
    env = [f"QSR_BENCH_DATABASE_URL={url}"] if (url := os.environ.get("QSR_BENCH_DATABASE_URL")) else []
    return " ".join(
        shlex.quote(arg) for arg in [*env, ".venv/bin/python", "-m", module.replace("/", "."), *sys.argv[1:]]
    )


def database_kind() -> str:
    return "PostgreSQL" if os.environ.get("QSR_BENCH_DATABASE_URL") else "SQLite"


def machine() -> str:
    import platform

    return f"{platform.machine()}, {os.cpu_count()} cores, Python {platform.python_version()}"


def service_database_url(system: System, service: str) -> str:
    """The database URL a service of ``system`` uses: its SQLite file, or its per-run PostgreSQL database."""
    template = system.env.get("QSR_DATABASE_URL")
    if template:
        return template.replace("{service}", service)
    return f"sqlite+aiosqlite:///{(system.data_dir / f'{service}.db').as_posix()}"


def fresh_database_url(service: str, directory: Path) -> str:
    """A new database for an in-process benchmark: a SQLite file in ``directory``, or, when
    QSR_BENCH_DATABASE_URL names a PostgreSQL server, a database of this run's own (left behind)."""
    server = os.environ.get("QSR_BENCH_DATABASE_URL", "").rstrip("/")
    if server:
        return f"{server}/qsr_bench_{uuid.uuid4().hex[:8]}_{service}"
    return f"sqlite+aiosqlite:///{(directory / f'{service}.db').as_posix()}"


async def class_counts(db: Any) -> dict[str, int]:
    """Graded units by supervision class, from a grading database."""
    from sqlalchemy import func, select

    from services.grading.models import GradedEnterprise

    async with db.session() as session:
        stmt = select(GradedEnterprise.supervision_class, func.count()).group_by(
            GradedEnterprise.supervision_class
        )
        return dict((await session.execute(stmt)).all())  # type: ignore[arg-type]


async def raw_jetstream_rate(nats_url: str, bodies: list[bytes], *, window: int, batch: int = 500) -> float:
    """The raw baseline of an event path: messages per second through a JetStream stream of its own to a
    durable pull consumer that only acks, published ``window`` at a time, timed as the measured path is (from
    the first publish until the last ack)."""
    import nats

    nc = await nats.connect(nats_url)
    try:
        js = nc.jetstream(timeout=30)
        stream = f"BENCH_RAW_{uuid.uuid4().hex[:8]}"
        await js.add_stream(name=stream, subjects=[f"{stream.lower()}.>"])
        sub = await js.pull_subscribe(f"{stream.lower()}.>", durable="raw", stream=stream)
        acked = 0

        async def consume() -> None:
            nonlocal acked
            while acked < len(bodies):
                try:
                    messages = await sub.fetch(batch=batch, timeout=5)
                except TimeoutError:
                    continue
                for msg in messages:
                    await msg.ack()
                acked += len(messages)

        started = time.perf_counter()
        consumer = asyncio.create_task(consume())
        for start in range(0, len(bodies), window):
            await asyncio.gather(
                *(
                    js.publish(f"{stream.lower()}.x", body, headers={"Nats-Msg-Id": f"{stream}-{start + i}"})
                    for i, body in enumerate(bodies[start : start + window])
                )
            )
        await asyncio.wait_for(consumer, 120)
        elapsed = time.perf_counter() - started
        await js.delete_stream(stream)
        return len(bodies) / elapsed
    finally:
        await nc.close()


RESULTS = Path(__file__).resolve().parent / "results.json"


def record(
    name: str, figure: float, unit: str, *, target: str, ratio: float | None = None, note: str = ""
) -> None:
    """Keep one figure of this run in bench/results.json (``make bench`` prints them as one table)."""
    import json
    from datetime import date

    results = json.loads(RESULTS.read_text()) if RESULTS.exists() else {}
    results[name] = {
        "figure": round(figure, 3),
        "unit": unit,
        "target": target,
        "ratio": None if ratio is None else round(ratio, 3),
        "database": database_kind(),
        "command": command_line(),
        "date": date.today().isoformat(),
        "note": note,
    }
    RESULTS.write_text(json.dumps(results, ensure_ascii=False, indent=2, sort_keys=True) + "\n")
