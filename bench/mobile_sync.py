"""Mobile batch sync: N on-site inspections with photos uploaded as phones do after working offline.

Starts nats-server and the inspection service alone as ``qsr up`` does (a uvicorn process; SQLite unless
QSR_BENCH_DATABASE_URL names a PostgreSQL server, e.g. postgresql+asyncpg://postgres@127.0.0.1:5432) and
talks to the service directly over HTTP with the identity header the gateway would add. Units arrive as
``registry.enterprise.registered`` events through NATS first (not timed).

Timed: W phones (one device id each, the same inspector) upload in parallel. Each takes the next batch of
B inspections and sends one ``POST /inspections/sync`` with an Idempotency-Key holding, per inspection,
create → start → record (every checklist item, two ✗) → submit, then uploads that batch's photos
(``PUT /inspections/{id}/evidence/{file_id}``, P photos of K KB each, JPEG header + random bytes,
with ``Content-SHA256``), C uploads in flight per phone. At the end it checks that every inspection is
submitted with its findings and photos, and times how long the outbox takes to hand the
``inspection.inspection.submitted`` events to NATS.

Memory: the service's peak RSS (VmHWM of the uvicorn process, from /proc) after the first batch and at the
end. Photos are streamed to disk, so the peak should not grow with the number of photos.
"""

from __future__ import annotations

import argparse
import asyncio
import hashlib
import os
import shutil
import time
import uuid
from dataclasses import dataclass
from datetime import datetime
from pathlib import Path
from typing import Any

import httpx
import nats
from sqlalchemy import func, select

from bench.common import command_line, database_kind, machine, service_database_url, start_system
from services.common.auth import IDENTITY_HEADER, Caller, issue_identity
from services.common.db import CHINA, Database
from services.common.events import ENTERPRISE_REGISTERED, EnterpriseRegistered, make_event
from services.common.messaging import OutboxMessage
from services.common.settings import Settings
from services.inspection.models import EvidenceFile, Finding, Inspection, KnownEnterprise
from tests.harness import make_uscc

REGION = "141121"
INSPECTOR = Caller(username="bench-inspector", role="regulator", region_code=REGION)


def status_kb(pid: int, field: str) -> int:
    """A ``VmRSS``/``VmHWM`` line of /proc/<pid>/status, in KiB."""
    for line in Path(f"/proc/{pid}/status").read_text().splitlines():
        if line.startswith(field + ":"):
            return int(line.split()[1])
    raise KeyError(field)


@dataclass
class Totals:
    photo_bytes: int = 0
    photos: int = 0
    requests: int = 0
    sync_seconds: float = 0.0


async def register_units(nats_url: str, count: int) -> list[tuple[str, str]]:
    """Publish ``count`` registered units (every third a retailer); returns (id, kind) of each."""
    nc = await nats.connect(nats_url)
    units = []
    try:
        js = nc.jetstream(timeout=30)
        for serial in range(count):
            unit_id = str(uuid.uuid4())
            kind = "sales" if serial % 3 == 2 else "production"
            payload = EnterpriseRegistered(
                enterprise_id=unit_id,
                uscc=make_uscc(serial, REGION),
                name=f"基准单位{serial}",
                kind=kind,
                sales_channel="retail" if kind == "sales" else None,
                region_code=REGION,
                employees=20,
                revenue_wan_yuan=800,
                entry_reason="survey",
                operating_status="normal",
            )
            event = make_event(ENTERPRISE_REGISTERED, payload, region=REGION, enterprise_id=unit_id)
            await js.publish(
                ENTERPRISE_REGISTERED.subject,
                event.model_dump_json().encode(),
                headers={"Nats-Msg-Id": event.id},
            )
            units.append((unit_id, kind))
    finally:
        await nc.close()
    return units


async def wait_for(db: Database, stmt: Any, target: int, timeout: float) -> float:
    started = time.perf_counter()
    while True:
        async with db.session() as session:
            if (await session.execute(stmt)).scalar_one() >= target:
                return time.perf_counter() - started
        if time.perf_counter() - started > timeout:
            raise TimeoutError(f"not {target} after {timeout:.0f} s")
        await asyncio.sleep(0.1)


def visit_ops(phone: str, seq: int, inspection_id: str, unit_id: str, checklist: list[dict]) -> list[dict]:
    now = datetime.now(CHINA).isoformat(timespec="seconds")
    results = {item["id"]: {"result": "pass", "note": ""} for item in checklist}
    for item in checklist[1:3]:
        results[item["id"]] = {"result": "fail", "note": f"{item['id']} 现场发现问题"}
    common = {"inspection_id": inspection_id, "device_id": phone, "device_time": now}
    gps = {"lat": 37.43, "lon": 112.03, "accuracy_m": 10}
    return [
        {**common, "device_seq": seq + 1, "gps": gps, "type": "create", "enterprise_id": unit_id},
        {**common, "device_seq": seq + 2, "gps": gps, "type": "start", "base_version": 1},
        {**common, "device_seq": seq + 3, "type": "record", "base_version": 1, "results": results},
        {**common, "device_seq": seq + 4, "type": "submit", "base_version": 1, "conclusion": "检查完毕"},
    ]


def photo(size: int) -> bytes:
    return b"\xff\xd8\xff\xe0\x00\x10JFIF\x00" + os.urandom(size - 11)


async def phone_worker(
    name: str,
    client: httpx.AsyncClient,
    queue: asyncio.Queue[list[int]],
    units: list[tuple[str, str]],
    checklists: dict[str, list[dict]],
    args: argparse.Namespace,
    totals: Totals,
    first_batch_done: asyncio.Event,
) -> None:
    uploads = asyncio.Semaphore(args.uploads)

    async def upload(inspection_id: str) -> None:
        content = photo(args.photo_kb * 1024)
        async with uploads:
            response = await client.put(
                f"/inspections/{inspection_id}/evidence/{uuid.uuid4()}",
                content=content,
                params={"kind": "photo", "lat": 37.43, "lon": 112.03},
                headers={
                    "Content-Type": "image/jpeg",
                    "Content-SHA256": hashlib.sha256(content).hexdigest(),
                },
            )
        if response.status_code != 201:
            raise RuntimeError(f"upload failed: {response.status_code} {response.text[:300]}")
        totals.photos += 1
        totals.photo_bytes += len(content)
        totals.requests += 1

    seq = 0
    while True:
        try:
            batch = queue.get_nowait()
        except asyncio.QueueEmpty:
            return
        ids = [str(uuid.uuid4()) for _ in batch]
        ops = []
        for n, inspection_id in zip(batch, ids, strict=True):
            unit_id = units[n % len(units)][0]
            ops += visit_ops(name, seq, inspection_id, unit_id, checklists[unit_id])
            seq += 4
        started = time.perf_counter()
        response = await client.post(
            "/inspections/sync", json={"operations": ops}, headers={"Idempotency-Key": str(uuid.uuid4())}
        )
        totals.sync_seconds += time.perf_counter() - started
        totals.requests += 1
        body = response.json()
        if response.status_code != 200 or body["applied"] != len(ops):
            raise RuntimeError(f"sync failed: {response.status_code} {str(body)[:500]}")
        await asyncio.gather(*(upload(i) for i in ids for _ in range(args.photos)))
        first_batch_done.set()


async def main(args: argparse.Namespace) -> None:
    system = start_system(["inspection"])
    db = Database(service_database_url(system, "inspection"))
    pid = system.processes["inspection"].pid
    token = issue_identity(INSPECTOR, Settings().internal_signer)
    try:
        units = await register_units(system.env["QSR_NATS_URL"], args.units)
        await wait_for(db, select(func.count()).select_from(KnownEnterprise), args.units, args.timeout)
        async with httpx.AsyncClient(
            base_url=system.url("inspection"),
            headers={IDENTITY_HEADER: token},
            timeout=120,
            limits=httpx.Limits(max_connections=args.phones * args.uploads + args.phones),
        ) as client:
            checklists = {}
            for unit_id, _kind in units:
                response = await client.get(f"/enterprises/{unit_id}/checklist")
                response.raise_for_status()
                checklists[unit_id] = response.json()["items"]
            rss_idle = status_kb(pid, "VmRSS")
            queue: asyncio.Queue[list[int]] = asyncio.Queue()
            for start in range(0, args.inspections, args.batch):
                queue.put_nowait(list(range(start, min(start + args.batch, args.inspections))))
            batches = queue.qsize()
            totals = Totals()
            first_batch_done = asyncio.Event()

            async def early_peak() -> int:
                await first_batch_done.wait()
                return status_kb(pid, "VmHWM")

            peak_probe = asyncio.create_task(early_peak())
            started = time.perf_counter()
            await asyncio.gather(
                *(
                    phone_worker(
                        f"bench-phone-{w}", client, queue, units, checklists, args, totals, first_batch_done
                    )
                    for w in range(args.phones)
                )
            )
            elapsed = time.perf_counter() - started
            peak_first = await peak_probe
        peak_end, rss_end = status_kb(pid, "VmHWM"), status_kb(pid, "VmRSS")
        drained = await wait_for(
            db,
            select(func.count()).select_from(OutboxMessage).where(OutboxMessage.published_at.is_not(None)),  # type: ignore[union-attr]
            args.inspections,
            args.timeout,
        )
        async with db.session() as session:
            submitted = (
                await session.execute(
                    select(func.count()).select_from(Inspection).where(Inspection.status == "submitted")
                )
            ).scalar_one()
            findings = (await session.execute(select(func.count()).select_from(Finding))).scalar_one()
            evidence = (await session.execute(select(func.count()).select_from(EvidenceFile))).scalar_one()
        assert submitted == args.inspections, submitted
        assert evidence == args.inspections * args.photos, evidence
        mb = totals.photo_bytes / 1e6
        ops = args.inspections * 4
        server = os.environ.get("QSR_BENCH_DATABASE_URL")
        print(f"command: {f'QSR_BENCH_DATABASE_URL={server} ' if server else ''}{command_line()}")
        print(f"machine: {machine()}; database: {database_kind()}; NATS: nats-server (JetStream, file store)")
        print(
            "served by: the inspection service in its own uvicorn process (as `qsr up` runs it), "
            "called over HTTP on 127.0.0.1 without the gateway"
        )
        print(
            f"workload: {args.inspections} inspections over {args.units} units, {batches} sync requests of "
            f"{args.batch} inspections ({args.batch * 4} operations) each, {args.photos} photos x "
            f"{args.photo_kb} KB per inspection; {args.phones} phones in parallel, {args.uploads} uploads in "
            f"flight per phone"
        )
        print(
            f"total: {elapsed:.2f} s for {totals.requests} requests -> {args.inspections / elapsed:,.1f} "
            f"inspections/s, {ops / elapsed:,.0f} operations/s, {mb / elapsed:,.1f} MB/s of photos "
            f"({totals.photos} photos, {mb:,.1f} MB)"
        )
        print(
            f"sync requests: {totals.sync_seconds / batches:.2f} s each on average "
            f"({totals.sync_seconds / ops * 1000:.2f} ms per operation; one transaction per request)"
        )
        print(
            f"service memory: RSS {rss_idle / 1024:.0f} MiB before; peak (VmHWM) {peak_first / 1024:.0f} MiB "
            f"after the first batch, {peak_end / 1024:.0f} MiB at the end; RSS at the end {rss_end / 1024:.0f} MiB"
        )
        print(
            f"checked: {submitted} submitted, {findings} findings, {evidence} evidence files; the "
            f"{args.inspections} submitted events were on NATS {drained:.2f} s after the last request"
        )
    finally:
        await db.dispose()
        system.shutdown()
        if not args.keep:  # hundreds of MB of photos
            shutil.rmtree(system.data_dir, ignore_errors=True)
            await drop_database(service_database_url(system, "inspection"))


async def drop_database(url: str) -> None:
    """The run's PostgreSQL database (SQLite's file went with the data directory)."""
    if not url.startswith("postgresql"):
        return
    import asyncpg
    from sqlalchemy.engine import make_url

    parsed = make_url(url)
    admin = parsed.set(drivername="postgresql", database="postgres").render_as_string(hide_password=False)
    conn = await asyncpg.connect(admin)
    try:
        await conn.execute(f'DROP DATABASE IF EXISTS "{parsed.database}" WITH (FORCE)')
    finally:
        await conn.close()


if __name__ == "__main__":
    parser = argparse.ArgumentParser(
        description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter
    )
    parser.add_argument("--inspections", type=int, default=1000, help="inspections uploaded (N)")
    parser.add_argument("--units", type=int, default=100, help="units the inspections are spread over")
    parser.add_argument("--batch", type=int, default=50, help="inspections per sync request (B)")
    parser.add_argument("--photos", type=int, default=2, help="photos per inspection (P)")
    parser.add_argument("--photo-kb", type=int, default=200, help="size of each photo in KB (K)")
    parser.add_argument("--phones", type=int, default=4, help="phones uploading in parallel (W)")
    parser.add_argument("--uploads", type=int, default=4, help="photo uploads in flight per phone (C)")
    parser.add_argument("--timeout", type=float, default=300, help="seconds to wait for each phase")
    parser.add_argument("--keep", action="store_true", help="keep the data directory (photos, SQLite, logs)")
    asyncio.run(main(parser.parse_args()))
