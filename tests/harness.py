"""Real parts for the tests: a nats-server of our own, SQLite files or PostgreSQL databases, service apps."""

from __future__ import annotations

import asyncio
import os
import random
import socket
import subprocess
import time
import uuid
from collections.abc import AsyncIterator, Awaitable, Callable, Iterator
from contextlib import asynccontextmanager, contextmanager
from pathlib import Path
from typing import Any, TypeVar

import httpx
from fastapi import FastAPI
from stdnum.cn import ric

from services.common.auth import IDENTITY_HEADER, Caller, issue_identity
from services.common.db import today_cn
from services.common.events import (
    ENTERPRISE_REGISTERED,
    SPOT_CHECK_FAILED,
    CloudEvent,
    EnterpriseRegistered,
    SpotCheckRecorded,
    make_event,
)
from services.common.ids import new_id
from services.common.launcher import System, nats_server_binary
from services.common.settings import SERVICES, Settings

T = TypeVar("T")

# postgresql+asyncpg://user@host:port/ — when set, every test database is created there instead of SQLite.
PG_URL = os.environ.get("QSR_TEST_DATABASE_URL", "").rstrip("/")

WENSHUI = Caller(username="wenshui", role="regulator", region_code="141121")
JIAOCHENG = Caller(username="jiaocheng", role="regulator", region_code="141122")
SX_PROVINCE = Caller(username="sx-province", role="regulator", region_code="140000")
PERSONNEL = Caller(username="wenshui-hr", role="personnel_officer", region_code="141121")  # 文水县人事


def _ephemeral_low() -> int:
    try:
        return int(Path("/proc/sys/net/ipv4/ip_local_port_range").read_text().split()[0])
    except (OSError, ValueError, IndexError):
        return 32768


_RESERVED_PORTS = {4222, 5432, 8000, 8001, 8002, 8003, 8004, 8005, 14222}


def free_port() -> int:
    """A port nothing listens on, chosen below the kernel's ephemeral range.

    A port the kernel hands out for ``bind(0)`` comes from the range it also uses for the local end of outgoing
    connections, so between this check and a child process binding it, any connect() on the machine may take it
    (a service failed to start that way in CI). Ports below the range are never handed out implicitly.
    """
    high = min(_ephemeral_low(), 65536) - 1
    low = min(20000, high - 1000)
    while True:
        port = random.randint(low, high)
        if port in _RESERVED_PORTS:
            continue
        with socket.socket() as sock:
            try:
                sock.bind(("127.0.0.1", port))
            except OSError:
                continue
            return port


@asynccontextmanager
async def on_socket(app: Any, *, lifespan: str = "auto", port: int | None = None) -> AsyncIterator[str]:
    """``app`` served by uvicorn on a real local socket (for what cannot be answered in process: an event
    stream that never ends, an upstream of the gateway), on ``port`` or a free one; yields its base URL."""
    import uvicorn

    port = port or free_port()
    server = uvicorn.Server(
        uvicorn.Config(app, host="127.0.0.1", port=port, log_level="warning", lifespan=lifespan)
    )
    task = asyncio.create_task(server.serve())
    while not server.started:
        if task.done():
            task.result()  # it could not start: say why
        await asyncio.sleep(0.01)
    try:
        yield f"http://127.0.0.1:{port}"
    finally:
        server.should_exit = True
        await task


class NatsServer:
    """A nats-server process with JetStream on a free port; can be stopped and started on the same store."""

    def __init__(self, store: Path) -> None:
        self.port = free_port()
        self.store = store
        self.process: subprocess.Popen[bytes] | None = None

    @property
    def url(self) -> str:
        return f"nats://127.0.0.1:{self.port}"

    def start(self) -> None:
        self.process = subprocess.Popen(
            [nats_server_binary(), "-a", "127.0.0.1", "-p", str(self.port), "-js", "-sd", str(self.store)],
            stdout=subprocess.DEVNULL,
            stderr=subprocess.DEVNULL,
        )
        deadline = time.monotonic() + 10
        while time.monotonic() < deadline:
            with socket.socket() as sock:
                if sock.connect_ex(("127.0.0.1", self.port)) == 0:
                    return
            time.sleep(0.02)
        raise TimeoutError("nats-server did not start")

    def stop(self) -> None:
        if self.process is not None:
            self.process.terminate()
            self.process.wait(10)
            self.process = None


def database_template(tmp_path: Path) -> str:
    """A ``{service}`` URL template: SQLite files in ``tmp_path``, or fresh PostgreSQL databases."""
    if PG_URL:
        return f"{PG_URL}/qsr_t{uuid.uuid4().hex[:10]}_{{service}}"
    return f"sqlite+aiosqlite:///{(tmp_path / '{service}.db').as_posix()}"


async def drop_databases(template: str) -> None:
    if not template.startswith("postgresql"):
        return
    import asyncpg

    prefix = template.rsplit("/", 1)[1].replace("{service}", "")
    admin = PG_URL.replace("postgresql+asyncpg", "postgresql") + "/postgres"
    conn = await asyncpg.connect(admin)
    try:
        names = await conn.fetch("SELECT datname FROM pg_database WHERE datname LIKE $1", prefix + "%")
        for row in names:
            await conn.execute(f'DROP DATABASE IF EXISTS "{row["datname"]}" WITH (FORCE)')
    finally:
        await conn.close()


def whole_system(tmp_path: Path, database_url: str, **env: str) -> System:
    """The whole system as ``qsr up`` runs it (nats-server, five services, the gateway, each a process) on free
    ports, not started yet; ``env`` adds to the environment of every process."""
    ports = {name: free_port() for name in (*SERVICES, "gateway")}
    nats_port = free_port()
    environment = {
        "PATH": "/usr/bin:/bin",
        "QSR_ENV": "development",
        "QSR_DATA_DIR": str(tmp_path),
        "QSR_DATABASE_URL": database_url,
        "QSR_ACK_WAIT_SECONDS": "2",
        "QSR_NATS_URL": f"nats://127.0.0.1:{nats_port}",
        **{f"QSR_{s.upper()}_URL": f"http://127.0.0.1:{ports[s]}" for s in SERVICES},
        **env,
    }
    return System(data_dir=tmp_path, env=environment, ports=ports, nats_port=nats_port)


@contextmanager
def running_system(data_dir: Path, database_url: str, **env: str) -> Iterator[System]:
    """The whole system as ``qsr up`` runs it: nats-server, five services and the gateway, each a process;
    ``env`` adds to the environment of every process."""
    running = whole_system(data_dir, database_url, **env)
    try:
        running.start(timeout=90)
        yield running
    finally:
        running.shutdown()


@contextmanager
def module_system(tmp_path_factory: Any, name: str, **env: str) -> Iterator[System]:
    """A running system shared by the tests of one module, in databases of its own that are dropped after."""
    data_dir = tmp_path_factory.mktemp(name)
    database_url = database_template(data_dir)
    try:
        with running_system(data_dir, database_url, **env) as running:
            yield running
    finally:
        asyncio.run(drop_databases(database_url))


def make_settings(nats: NatsServer, database_url: str, tmp_path: Path, **overrides: Any) -> Settings:
    return Settings(
        env="development",
        data_dir=tmp_path,
        database_url=database_url,
        nats_url=nats.url,
        ack_wait_seconds=overrides.pop("ack_wait_seconds", 2.0),
        # Tests that ask for a unit nobody registers should not each wait the production 3 s for it.
        unknown_unit_wait_seconds=overrides.pop("unknown_unit_wait_seconds", 0.3),
        **overrides,
    )


def identity(settings: Settings, caller: Caller) -> dict[str, str]:
    """The header the gateway would add for ``caller``, signed with the key ``settings`` give the gateway."""
    return {IDENTITY_HEADER: issue_identity(caller, settings.internal_signer)}


@asynccontextmanager
async def serving(app: FastAPI) -> AsyncIterator[httpx.AsyncClient]:
    """Run an app's lifespan (migrations, NATS, relay, consumers) and talk to it in process."""
    async with app.router.lifespan_context(app):
        await asyncio.wait_for(app.state.bus.ready.wait(), 15) if hasattr(app.state, "bus") else None
        transport = httpx.ASGITransport(app=app)
        async with httpx.AsyncClient(transport=transport, base_url="http://test") as client:
            yield client


@contextmanager
def statements(app: FastAPI) -> Iterator[list[str]]:
    """The SQL statements the app's database runs inside the block for requests made from this task (httpx's
    ASGI transport runs the app in the caller's task), not those of the relay or the consumers running
    meanwhile: for tests that a read stays one query. The app must be serving (its database is made in the
    lifespan)."""
    from sqlalchemy import event

    seen: list[str] = []
    task = asyncio.current_task()

    def executed(conn: Any, cursor: Any, statement: str, *args: Any) -> None:
        if asyncio.current_task() is task:
            seen.append(statement)

    engine = app.state.db.engine.sync_engine
    event.listen(engine, "before_cursor_execute", executed)
    try:
        yield seen
    finally:
        event.remove(engine, "before_cursor_execute", executed)


def selects(seen: list[str]) -> list[str]:
    return [s for s in seen if s.lstrip().upper().startswith("SELECT")]


async def eventually(
    check: Callable[[], Awaitable[T]], *, timeout: float = 15.0, interval: float = 0.05
) -> T:
    """Retry ``check`` until it returns without AssertionError, or fail with its last error."""
    deadline = time.monotonic() + timeout
    while True:
        try:
            return await check()
        except AssertionError:
            if time.monotonic() > deadline:
                raise
        await asyncio.sleep(interval)


def enterprise_body(uscc: str, region_code: str = "141121", **fields: Any) -> dict[str, Any]:
    return {
        "uscc": uscc,
        "name": fields.pop("name", "文水县示范阀门有限公司"),
        "kind": "production",
        "region_code": region_code,
        "employees": 25,
        "revenue_wan_yuan": 1500,
        "entry_reason": "spot_check",
        **fields,
    }


_USCC_ALPHABET = "0123456789ABCDEFGHJKLMNPQRTUWXY"
_USCC_WEIGHTS = (1, 3, 9, 27, 19, 26, 16, 17, 20, 29, 25, 13, 8, 24, 10, 30, 28)


def make_uscc(serial: int, region: str = "141121") -> str:
    """A valid USCC (GB 32100-2015) for test data: 91 + region + an organisation code from ``serial``."""
    body = f"91{region}{serial:09d}"
    total = sum(_USCC_ALPHABET.index(ch) * w for ch, w in zip(body, _USCC_WEIGHTS, strict=True))
    return body + _USCC_ALPHABET[(31 - total % 31) % 31]


def registration(serial: int, unit: str, region: str = "141121") -> CloudEvent:
    """``registry.enterprise.registered`` for a production unit whose size (so tier) follows ``serial``."""
    return make_event(
        ENTERPRISE_REGISTERED,
        EnterpriseRegistered(
            enterprise_id=unit,
            uscc=make_uscc(serial, region),
            name=f"单位{serial}",
            kind="production",
            sales_channel=None,
            region_code=region,
            employees=5 + serial % 400,
            revenue_wan_yuan=100.0 + serial % 97 * 50,
            entry_reason="survey",
            operating_status="operating",
        ),
        region=region,
        enterprise_id=unit,
    )


def failed_spot_check(unit: str, serial: int, region: str = "141121") -> CloudEvent:
    """``inspection.spot_check.failed`` of a distinct spot check of ``unit`` sampled today."""
    return make_event(
        SPOT_CHECK_FAILED,
        SpotCheckRecorded(
            spot_check_id=new_id(),
            enterprise_id=unit,
            product="家用燃气灶",
            batch=f"B{serial}",
            verdict="failed",
            failed_items=["熄火保护装置"],
            sampled_on=today_cn(),
        ),
        region=region,
        enterprise_id=unit,
    )


def id_number(serial: int, born: str = "19800101", region: str = "141121") -> str:
    """A valid 居民身份证号码 (GB 11643) for test data."""
    body = f"{region}{born}{serial:03d}"
    return body + ric.calc_check_digit(body + "0")


def enterprise_caller(uscc: str) -> Caller:
    """The account of the unit with this USCC (文水县)."""
    return Caller(username=f"ent-{uscc[-4:]}", role="enterprise", region_code="141121", uscc=uscc)


async def new_unit(
    client: httpx.AsyncClient, settings: Settings, serial: int, region: str = "141121", **fields: Any
) -> dict[str, Any]:
    """A unit registered through registry's API by its county (文水 or 交城)."""
    caller = WENSHUI if region == "141121" else JIAOCHENG
    response = await client.post(
        "/enterprises",
        json=enterprise_body(make_uscc(serial, region), region_code=region, **fields),
        headers=identity(settings, caller),
    )
    assert response.status_code == 201, response.text
    return response.json()


async def publish_events(settings: Settings, *events: Any) -> None:
    """Publish CloudEvents into JetStream as their producing service would (deduplicated by id)."""
    import nats

    from services.common.events import CATALOGUE

    nc = await nats.connect(settings.nats_url)
    try:
        js = nc.jetstream()
        for event in events:
            subject = CATALOGUE[event.type].subject
            await js.publish(subject, event.model_dump_json().encode(), headers={"Nats-Msg-Id": event.id})
    finally:
        await nc.close()


async def stream_events(
    settings: Settings, subject: str, *, stream: str = "QSR_REGISTRY"
) -> list[dict[str, Any]]:
    """Every event on ``subject`` now in the stream (an ephemeral consumer reads from the start)."""
    import json

    import nats

    nc = await nats.connect(settings.nats_url)
    try:
        sub = await nc.jetstream().subscribe(subject, stream=stream, ordered_consumer=True)
        found: list[dict[str, Any]] = []
        while True:
            try:
                msg = await sub.next_msg(timeout=0.5)
            except Exception:
                return found
            found.append(json.loads(msg.data))
    finally:
        await nc.close()
