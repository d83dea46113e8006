"""A full recompute of grading's decisions over many units (default 1,000,000), in process.

Creates a grading database of its own (a SQLite file in a temporary directory, or a fresh PostgreSQL
database when QSR_BENCH_DATABASE_URL names a server, e.g. postgresql+asyncpg://postgres@127.0.0.1:5432),
migrates it, and bulk-inserts ``--units`` undecided units (sizes spread over tiers A–D, production and sales,
regions in five provinces: four with packs of their own and one under the national default) and 1–3
failed spot checks within the last year for a ``--risky`` fraction of them. Then it times
``services.grading.service.recompute`` with the shipped packs:
  (a) the first full recompute: every decision is new, so every unit is written, with its history row
      and the events it causes in the outbox;
  (b) a second full recompute on the same day: every unit decided again, nothing changes;
  (c) the daily run (``full=False``) ``--later-days`` later: only units with signals, manual decisions or
      a class, escalation or lock to lapse are visited; signals older than a year have lapsed by then.
No NATS is involved (the outbox rows stay unpublished).
"""

from __future__ import annotations

import argparse
import asyncio
import json
import random
import resource
import tempfile
import time
from datetime import date, timedelta
from pathlib import Path
from typing import Any

from sqlalchemy import func, insert, select, text
from sqlalchemy.engine import make_url

from bench.common import class_counts, command_line, database_kind, fresh_database_url, machine, record
from services.common.db import Database, is_sqlite, migrate, today_cn, utcnow
from services.common.events import SPOT_CHECK_FAILED
from services.common.ids import new_id
from services.common.messaging import OutboxMessage
from services.common.policy import load_packs
from services.grading.models import DecisionHistory, GradedEnterprise, RiskSignal
from services.grading.service import recompute
from tests.harness import make_uscc

# Counties in five provinces: Shanxi, Shanghai, Jiangsu and Hunan have packs; Jiangxi takes the default.
REGIONS = ("141121", "310113", "320102", "430102", "360102")
KINDS = (("production", None), ("sales", "wholesale"), ("sales", "retail"))
KIND_WEIGHTS = (60, 20, 20)


def peak_rss_mib() -> float:
    return resource.getrusage(resource.RUSAGE_SELF).ru_maxrss / 1024  # KiB on Linux


def files_mib(directory: Path, pattern: str) -> float:
    return sum(path.stat().st_size for path in directory.glob(pattern)) / 2**20


def unit_row(serial: int, rng: random.Random, now: Any) -> dict[str, Any]:
    region = REGIONS[serial % len(REGIONS)]
    kind, channel = rng.choices(KINDS, KIND_WEIGHTS)[0]
    # Skewed to the small, revenue following headcount: about 60 % D, 20 % C, 16 % B and 4 % A.
    employees = max(1, int(10 ** (rng.random() ** 1.6 * 3.4)))
    return {
        "enterprise_id": new_id(),
        "region_code": region,
        "uscc": make_uscc(serial, region),
        "name": f"基准单位{serial}",
        "kind": kind,
        "sales_channel": channel,
        "employees": employees,
        "revenue_wan_yuan": round(employees * 10 ** rng.uniform(0.2, 1.6), 1),  # 1.6–40 万元 a head
        "size_as_of": now,
        "supervision_class": "routine",
        "class_rule": "routine.no_risk_signal",
        "class_reason": "",
        "class_evidence": "[]",
        "class_source": "automatic",
        "automatic_class": "routine",
        "escalated": False,
        "locked": False,
        "decision": "{}",
        "updated_at": now,
    }


def signal_rows(unit: dict[str, Any], rng: random.Random, today: date, now: Any) -> list[dict[str, Any]]:
    """1–3 failed spot checks, each on a day within the last year (1 → key; 2 → escalated; 3 → special)."""
    rows = []
    for _ in range(rng.choices((1, 2, 3), (70, 20, 10))[0]):
        spot_check = new_id()
        rows.append(
            {
                "id": new_id(),
                "enterprise_id": unit["enterprise_id"],
                "uscc": None,
                "kind": "spot_check_failed",
                "occurred_on": today - timedelta(days=rng.randrange(365)),
                "source_type": SPOT_CHECK_FAILED.type,
                "heavier": False,
                "credit_class": None,
                "ref": spot_check,
                "recorded_by": None,
                "detail": json.dumps(
                    {"product": "家用燃气灶", "batch": "B1", "failed_items": ["熄火保护装置"]}
                ),
                "received_at": now,
            }
        )
    return rows


async def load_units(db: Database, units: int, risky: float, chunk: int, today: date) -> int:
    """Insert the units and their signals in chunks, one transaction per chunk; returns the signal count."""
    rng = random.Random(20261123)
    now = utcnow()
    signals = 0
    for start in range(0, units, chunk):
        rows = [unit_row(serial, rng, now) for serial in range(start, min(start + chunk, units))]
        risks = [s for row in rows if rng.random() < risky for s in signal_rows(row, rng, today, now)]
        async with db.engine.begin() as conn:
            await conn.execute(insert(GradedEnterprise), rows)
            if risks:
                await conn.execute(insert(RiskSignal), risks)
        signals += len(risks)
    return signals


async def counts(db: Database) -> str:
    by_class = await class_counts(db)
    async with db.session() as session:
        by_tier = dict(
            (
                await session.execute(
                    select(GradedEnterprise.tier, func.count()).group_by(GradedEnterprise.tier)
                )
            ).all()
        )
        escalated = (
            await session.execute(select(func.count()).where(GradedEnterprise.escalated))
        ).scalar_one()
        history = (await session.execute(select(func.count()).select_from(DecisionHistory))).scalar_one()
        outbox = (await session.execute(select(func.count()).select_from(OutboxMessage))).scalar_one()
    classes = ", ".join(f"{k} {by_class.get(k, 0):,}" for k in ("routine", "key", "special"))
    tiers = ", ".join(f"{k} {v:,}" for k, v in sorted(by_tier.items(), key=lambda kv: str(kv[0])))
    return (
        f"classes: {classes}; escalated {escalated:,}; tiers: {tiers}; "
        f"decision_history rows {history:,}, outbox rows {outbox:,}"
    )


async def timed(label: str, db: Database, **kwargs: Any) -> float:
    started = time.perf_counter()
    result = await recompute(db, load_packs(), **kwargs)
    seconds = time.perf_counter() - started
    print(
        f"{label}: {result['units']:,} units visited, {result['changed']:,} changed in {seconds:,.1f} s "
        f"({result['units'] / seconds:,.0f} units/s); peak RSS so far {peak_rss_mib():,.0f} MiB",
        flush=True,
    )
    print(f"  after: {await counts(db)}", flush=True)
    return seconds


async def main(units: int, risky: float, chunk: int, later_days: int, batch: int) -> None:
    directory = Path(tempfile.mkdtemp(prefix="qsr-bench-recompute-"))
    url = fresh_database_url("grading", directory)
    await migrate("grading", url)
    db = Database(url)
    try:
        print(f"command: {command_line()}")
        where = make_url(url).render_as_string(hide_password=True)
        print(f"machine: {machine()}; database: {database_kind()} ({where})", flush=True)
        today = today_cn()
        started = time.perf_counter()
        signals = await load_units(db, units, risky, chunk, today)
        seconds = time.perf_counter() - started
        print(
            f"insert: {units:,} units and {signals:,} risk signals (for ~{risky:.0%} of the units) in "
            f"{seconds:,.1f} s ({units / seconds:,.0f} units/s, chunks of {chunk:,})",
            flush=True,
        )
        if not is_sqlite(url):
            async with db.engine.begin() as conn:  # the statistics autovacuum would gather by itself
                await conn.execute(text("ANALYZE"))
        first = await timed(f"(a) first full recompute on {today}", db, today=today, full=True, batch=batch)
        record(
            f"grading: full recompute of {units:,} units, every decision new ({database_kind()})",
            first,
            "s",
            target="<= 120 s at 1,000,000 units",
        )
        await timed(f"(b) second full recompute on {today}", db, today=today, full=True, batch=batch)
        later = today + timedelta(days=later_days)
        await timed(f"(c) daily run (full=False) on {later}", db, today=later, full=False, batch=batch)
        if is_sqlite(url):
            print(f"database files: {files_mib(directory, 'grading.db*'):,.0f} MiB in {directory}")
        print(f"peak RSS: {peak_rss_mib():,.0f} MiB")
    finally:
        await db.dispose()


if __name__ == "__main__":
    parser = argparse.ArgumentParser(
        description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter
    )
    parser.add_argument("--units", type=int, default=1_000_000)
    parser.add_argument("--risky", type=float, default=0.05, help="fraction of units with risk signals")
    parser.add_argument("--chunk", type=int, default=5000, help="rows per INSERT while loading")
    parser.add_argument("--later-days", type=int, default=30, help="days after today of the daily run (c)")
    parser.add_argument("--batch", type=int, default=2000, help="units per recompute transaction")
    args = parser.parse_args()
    asyncio.run(main(args.units, args.risky, args.chunk, args.later_days, args.batch))
