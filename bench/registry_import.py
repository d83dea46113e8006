"""Ledger import and export (registry ``POST /enterprises/import``, ``GET /enterprises/export``) at scale.

Starts nats-server and the registry service as processes (as ``qsr up`` does; SQLite unless
QSR_BENCH_DATABASE_URL or ``--database-url`` names a PostgreSQL server, e.g.
postgresql+asyncpg://postgres@127.0.0.1:5432), and calls it directly with the identity the gateway would add
(a 吕梁市 regulator). Units are spread evenly over ten counties of 吕梁市.

1. Import: N valid rows as .xlsx (all new), the same file again (all unchanged), then N other rows as .csv
   (new) and that file again (unchanged). Rows/s are per HTTP request, upload included. The outbox relay then
   publishes one event per new unit to NATS; the import does not wait for it, and the time it took to
   drain is printed apart. The first .xlsx import is then set against a bare write of the same rows: COPY
   (asyncpg ``copy_records_to_table``) into a scratch table of the registry's PostgreSQL database, or on
   SQLite one ``executemany`` in one transaction into a scratch database beside the registry's, one column
   per sheet column: the floor of putting these rows into the database at all, with no parsing, checking,
   ids, children, audit or events.
2. Export memory: the ledger is filled up to M units (M/10 per county); after a restart of the service its
   resident memory is sampled every 20 ms while it streams an export of one county (M/10 rows) and then of
   the whole city (M rows), as CSV and (after another restart) as XLSX. Peak RSS must not grow with the rows.
"""

from __future__ import annotations

import argparse
import asyncio
import csv
import os
import shutil
import tempfile
import time
from pathlib import Path
from typing import Any

import httpx
from openpyxl import Workbook
from sqlalchemy import func, select

from bench.common import command_line, database_kind, machine, service_database_url, start_system
from services.common.auth import Caller, issue_identity
from services.common.db import Database
from services.common.launcher import System
from services.common.messaging import OutboxMessage
from services.common.settings import Settings
from services.registry.transfer import HEADERS
from tests.harness import make_uscc

COUNTIES = [
    "141102",
    "141121",
    "141122",
    "141123",
    "141124",
    "141125",
    "141126",
    "141127",
    "141128",
    "141129",
]
CALLER = Caller(username="lvliang", role="regulator", region_code="141100")
_CATEGORIES = ["家用燃气灶具", "电动自行车", "gas_hose、wire_cable", "低压电器", ""]


def sheet_row(serial: int) -> list[Any]:
    region = COUNTIES[serial % len(COUNTIES)]
    seller = serial % 3 == 0
    return [
        make_uscc(serial, region),
        f"吕梁基准单位{serial}有限公司",
        "销售" if seller else "生产",
        ("批发" if serial % 2 else "零售") if seller else "",
        region,
        f"{region}{serial % 5 + 1:03d}",
        f"{region}号工业园区{serial % 997}号",
        f"负责人{serial % 1000}",
        f"139{serial % 100_000_000:08d}",
        5 + serial % 400,
        100 + (serial % 97) * 50.5,
        2025,
        _CATEGORIES[serial % len(_CATEGORIES)],
        "" if seller else f"XK06-{serial % 1000:03d}-{serial:05d}",
        "" if seller else "2028-06-30",
        "",
        "",
        "摸底排查",
        "",
    ]


def write_csv(path: Path, serials: range) -> None:
    with path.open("w", encoding="utf-8-sig", newline="") as handle:
        writer = csv.writer(handle)
        writer.writerow(HEADERS)
        for serial in serials:
            writer.writerow(sheet_row(serial))


def write_xlsx(path: Path, serials: range) -> None:
    workbook = Workbook(write_only=True)
    sheet = workbook.create_sheet("台账")
    sheet.append(HEADERS)
    for serial in serials:
        sheet.append([None if v == "" else v for v in sheet_row(serial)])
    workbook.save(path)


def _scratch_columns() -> list[tuple[str, str]]:
    """(name, SQL type) of a scratch table holding the sheet's rows as they are (one column per header)."""
    sample = sheet_row(1)
    kinds = {int: "bigint", float: "double precision", str: "text"}
    return [(f"c{i}", kinds[type(value)]) for i, value in enumerate(sample)]


def _scratch_records(serials: range) -> list[tuple[Any, ...]]:
    return [tuple(None if v == "" else v for v in sheet_row(serial)) for serial in serials]


async def bare_copy_seconds(url: str, work: Path, serials: range) -> float:
    """Seconds to write the rows of ``serials`` as they are into a scratch table (records built beforehand)."""
    records = _scratch_records(serials)
    columns = _scratch_columns()
    if url.startswith("postgresql"):
        import asyncpg

        conn = await asyncpg.connect(url.replace("postgresql+asyncpg", "postgresql"))
        try:
            await conn.execute(
                f"CREATE TABLE bench_copy_scratch ({', '.join(f'{n} {t}' for n, t in columns)})"
            )
            started = time.perf_counter()
            await conn.copy_records_to_table(
                "bench_copy_scratch", records=records, columns=[n for n, _ in columns]
            )
            elapsed = time.perf_counter() - started
            await conn.execute("DROP TABLE bench_copy_scratch")
        finally:
            await conn.close()
        return elapsed
    import sqlite3

    conn = sqlite3.connect(work / "scratch.db")
    try:
        conn.execute("PRAGMA journal_mode=WAL")
        conn.execute("PRAGMA synchronous=NORMAL")
        conn.execute(f"CREATE TABLE scratch ({', '.join(f'{n} {t}' for n, t in columns)})")
        started = time.perf_counter()
        with conn:
            conn.executemany(f"INSERT INTO scratch VALUES ({', '.join('?' for _ in columns)})", records)
        return time.perf_counter() - started
    finally:
        conn.close()


def cpu_seconds(pid: int) -> float:
    """CPU time of a process and of its children that ended (the import's reader process)."""
    fields = Path(f"/proc/{pid}/stat").read_text().rsplit(")", 1)[1].split()
    return sum(int(f) for f in fields[11:15]) / os.sysconf("SC_CLK_TCK")


async def import_file(
    client: httpx.AsyncClient, path: Path, pid: int
) -> tuple[dict[str, Any], float, float, PeakRSS]:
    """The job, the seconds the request took, the CPU seconds the service spent meanwhile, its memory."""
    cpu = cpu_seconds(pid)
    started = time.perf_counter()
    async with PeakRSS(pid) as memory:
        with path.open("rb") as handle:
            response = await client.post("/enterprises/import", files={"file": (path.name, handle)})
    elapsed = time.perf_counter() - started
    response.raise_for_status()
    return response.json(), elapsed, cpu_seconds(pid) - cpu, memory


def rss_kib(pid: int) -> int:
    for line in Path(f"/proc/{pid}/status").read_text().splitlines():
        if line.startswith("VmRSS:"):
            return int(line.split()[1])
    raise RuntimeError("no VmRSS")


class PeakRSS:
    """Samples a process's resident memory every 20 ms while the block runs (KiB: ``before``, ``peak``)."""

    def __init__(self, pid: int) -> None:
        self.pid = pid
        self.before = self.peak = rss_kib(pid)
        self._done = asyncio.Event()
        self._task: asyncio.Task[None] | None = None

    async def _sample(self) -> None:
        while not self._done.is_set():
            self.peak = max(self.peak, rss_kib(self.pid))
            await asyncio.sleep(0.02)

    async def __aenter__(self) -> PeakRSS:
        self._task = asyncio.create_task(self._sample())
        return self

    async def __aexit__(self, *exc: object) -> None:
        self._done.set()
        assert self._task is not None
        await self._task
        self.peak = max(self.peak, rss_kib(self.pid))

    def __str__(self) -> str:
        return (
            f"service RSS {self.before / 1024:.0f} MiB before, peak {self.peak / 1024:.0f} MiB "
            f"(+{(self.peak - self.before) / 1024:.0f} MiB)"
        )


async def export_peak(
    client: httpx.AsyncClient, pid: int, params: dict[str, str]
) -> tuple[int, PeakRSS, float, int]:
    """Rows, memory, seconds, bytes of one export."""
    started = time.perf_counter()
    size, newlines = 0, 0
    async with PeakRSS(pid) as memory:
        async with client.stream("GET", "/enterprises/export", params=params) as response:
            response.raise_for_status()
            async for block in response.aiter_bytes():
                size += len(block)
                newlines += block.count(b"\n")
    return newlines - 1, memory, time.perf_counter() - started, size


def restart(system: System) -> int:
    system.stop("registry")
    system.start_app("registry")
    system.wait_ready(["registry"])
    return system.processes["registry"].pid


async def wait_drained(db: Database, timeout: float) -> float:
    started = time.perf_counter()
    pending = select(func.count()).select_from(OutboxMessage).where(OutboxMessage.published_at.is_(None))  # type: ignore[union-attr]
    while True:
        async with db.session() as session:
            if (await session.execute(pending)).scalar_one() == 0:
                return time.perf_counter() - started
        if time.perf_counter() - started > timeout:
            raise TimeoutError("outbox not drained")
        await asyncio.sleep(0.5)


def _check(job: dict[str, Any], created: int, unchanged: int) -> None:
    got = (job["created"], job["updated"], job["unchanged"], job["rejected"])
    if got != (created, 0, unchanged, 0):
        raise SystemExit(f"unexpected outcome {got}; first errors: {job['errors'][:5]}")


async def main(rows: int, export_rows: int, timeout: float, keep: bool, export: bool = True) -> None:
    work = Path(tempfile.mkdtemp(prefix="qsr-bench-import-"))
    xlsx, csv_file = work / "ledger-a.xlsx", work / "ledger-b.csv"
    started = time.perf_counter()
    write_xlsx(xlsx, range(rows))
    write_csv(csv_file, range(rows, 2 * rows))
    extra = max(0, export_rows - 2 * rows)
    fill = work / "ledger-c.csv"
    write_csv(fill, range(2 * rows, 2 * rows + extra))
    generated = time.perf_counter() - started

    system = start_system(["registry"])
    db = Database(service_database_url(system, "registry"))
    token = issue_identity(CALLER, Settings().internal_signer)
    timeouts = httpx.Timeout(timeout, connect=10)
    try:
        async with httpx.AsyncClient(
            base_url=system.url("registry"), headers={"x-qsr-identity": token}, timeout=timeouts
        ) as client:
            print(f"command: {command_line()}")
            print(f"machine: {machine()}; database: {database_kind()}; load average {load()} at the start")
            print(
                f"files: {rows:,} rows .xlsx ({xlsx.stat().st_size / 1e6:.1f} MB), {rows:,} rows .csv "
                f"({csv_file.stat().st_size / 1e6:.1f} MB), generated in {generated:.1f} s"
            )
            pid = system.processes["registry"].pid
            first_seconds: dict[str, float] = {}
            for path, label in ((xlsx, "xlsx"), (csv_file, "csv")):
                first, t_first, cpu_first, mem_first = await import_file(client, path, pid)
                first_seconds[label] = t_first
                _check(first, rows, 0)
                again, t_again, cpu_again, mem_again = await import_file(client, path, pid)
                _check(again, 0, rows)
                print(
                    f"import {label} first: {rows / t_first:,.0f} rows/s ({t_first:.1f} s, {rows:,} created; "
                    f"service CPU {cpu_first:.1f} s incl. its reader process; {mem_first})"
                )
                print(
                    f"import {label} again: {rows / t_again:,.0f} rows/s ({t_again:.1f} s, {rows:,} unchanged; "
                    f"service CPU {cpu_again:.1f} s; {mem_again})"
                )
            drained = await wait_drained(db, timeout)
            print(
                f"outbox: the last {2 * rows:,} registered events reached NATS {drained:.1f} s after the imports"
            )
            bare = await bare_copy_seconds(service_database_url(system, "registry"), work, range(rows))
            what = "COPY" if database_kind() == "PostgreSQL" else "executemany in one transaction"
            print(
                f"bare {what} of the same {rows:,} rows into a scratch table: {rows / bare:,.0f} rows/s "
                f"({bare:.2f} s); the .xlsx import (parse, checks, units, children, audit, events) took "
                f"{first_seconds['xlsx'] / bare:.1f}x as long ({bare / first_seconds['xlsx']:.0%} of its rate)"
            )
            if export:
                if extra:
                    job, *_ = await import_file(client, fill, pid)
                    _check(job, extra, 0)
                    await wait_drained(db, timeout)
                total = 2 * rows + extra
                for fmt in ("csv", "xlsx"):
                    pid = restart(system)
                    await client.get("/healthz")
                    for label, params in (
                        ("one county", {"format": fmt, "region_code": COUNTIES[1]}),
                        ("whole city", {"format": fmt}),
                    ):
                        n, memory, seconds, size = await export_peak(client, pid, params)
                        if fmt == "csv" and n != (total // 10 if label == "one county" else total):
                            raise SystemExit(f"export returned {n} rows")
                        shown = (
                            f"{n:,} rows"
                            if fmt == "csv"
                            else f"{total // 10 if label == 'one county' else total:,} units"
                        )
                        print(
                            f"export {fmt} {label} ({shown}, {size / 1e6:.1f} MB) in {seconds:.1f} s: {memory}"
                        )
        print(f"load average {load()} at the end (other work on the machine slows every figure above)")
    finally:
        await db.dispose()
        system.shutdown()
        shutil.rmtree(work, ignore_errors=True)
        if not keep:
            shutil.rmtree(system.data_dir, ignore_errors=True)
            await drop_database(service_database_url(system, "registry"))


async def drop_database(url: str) -> None:
    """This run's own PostgreSQL database (250k units) goes too, unless --keep."""
    if not url.startswith("postgresql"):
        return
    import asyncpg

    server, name = url.replace("postgresql+asyncpg", "postgresql").rsplit("/", 1)
    conn = await asyncpg.connect(f"{server}/postgres")
    try:
        await conn.execute(f'DROP DATABASE IF EXISTS "{name}" WITH (FORCE)')
    finally:
        await conn.close()


def load() -> str:
    return " ".join(f"{x:.1f}" for x in os.getloadavg())


if __name__ == "__main__":
    parser = argparse.ArgumentParser(
        description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter
    )
    parser.add_argument("--rows", type=int, default=100_000, help="rows per imported file (N)")
    parser.add_argument(
        "--export-rows", type=int, default=250_000, help="units in the ledger for the export (M)"
    )
    parser.add_argument(
        "--database-url", help="a PostgreSQL server URL (default: SQLite); same as QSR_BENCH_DATABASE_URL"
    )
    parser.add_argument(
        "--no-export",
        action="store_true",
        help="stop after the imports (part 1), without the export (part 2)",
    )
    parser.add_argument("--timeout", type=float, default=900, help="seconds allowed per request")
    parser.add_argument(
        "--keep", action="store_true", help="keep the data directory (and PostgreSQL database) for inspection"
    )
    args = parser.parse_args()
    if args.database_url:
        os.environ["QSR_BENCH_DATABASE_URL"] = args.database_url
    asyncio.run(main(args.rows, args.export_rows, args.timeout, args.keep, not args.no_export))
