"""Ledger search at 1,000,000 units: p50/p99 latency of the lists a county, a city and a province use.

Fills a database of the bench's own (PostgreSQL ``qsr_bench_registry_search`` on the server named by
QSR_BENCH_DATABASE_URL, default postgresql+asyncpg://postgres@127.0.0.1:5432, dropped and recreated; or with
``--sqlite`` a SQLite file in a temporary directory), migrated by the registry's own migrations, with
``--units`` units (PostgreSQL: COPY, secondary indexes dropped during the load and rebuilt after it; SQLite:
multi-row INSERTs). Units are spread over every county of Shanxi (55%, Taiyuan's districts the densest),
Hebei (20%), Henan (15%) and Shaanxi (10%), with stations, kinds, tiers, classes, locks, inspectors,
operating statuses, product categories, missing duties and production sites in other counties drawn
plausibly (see ``unit``).

Then the registry app (its routes, database, NATS, relay and consumers; not its periodic duty check, see
``search_app``) runs in its own uvicorn process (with a nats-server of the bench's own) and each
query is sent ``--repeat`` times, one after another, over real HTTP on 127.0.0.1 with the identity header the
gateway would add. ``--explain`` prints PostgreSQL's EXPLAIN ANALYZE of each query as the service builds it.
"""

from __future__ import annotations

import argparse
import asyncio
import csv
import os
import random
import sys
import tempfile
import time
import uuid
from collections.abc import Iterator
from dataclasses import dataclass, field
from datetime import UTC, datetime, timedelta
from pathlib import Path
from typing import Any
from urllib.parse import urlencode

import httpx
from pydantic import TypeAdapter
from sqlalchemy import insert, text
from sqlalchemy.dialects import postgresql
from sqlalchemy.engine import make_url

from bench.common import command_line, free_port, machine, percentile
from services.common.auth import IDENTITY_HEADER, Caller, issue_identity
from services.common.db import Database, migrate
from services.common.internal_keys import new_pair, private_key
from services.common.launcher import System, spawn
from services.registry import search
from services.registry.models import Enterprise, ProductCategoryLink, ProductionSite
from tests.harness import make_uscc

DATABASE = "qsr_bench_registry_search"
# The identity keys of the registry this benchmark starts (it mints identities as the gateway would).
PRIVATE, PUBLIC = new_pair()
GB2260 = Path(__file__).resolve().parent.parent / "services" / "common" / "data" / "gb2260.csv"
PROVINCES = {"140000": 0.55, "130000": 0.20, "410000": 0.15, "610000": 0.10}
CAPITAL = "1401"  # Taiyuan: a provincial capital's districts hold the most units

TRADE = (
    "鑫源 华泰 永盛 晋丰 恒达 宏远 金鼎 天成 瑞祥 德隆 兴旺 顺发 汇通 昌盛 福源 益民 新华 建业 众诚 丰泽 "
    "博远 宏宇 泰和 三晋 龙城 汾河 太行 嘉禾 聚源 盛世 东方 利民 安泰 富康 长青 万通 正大 宏达 永安 金泰"
).split()
# (product word in the name, its category, weight): 灶管阀 and e-bikes are the seeds' focus, so frequent.
PRODUCTS = (
    ("阀门", "gas_appliance_other", 3),
    ("燃气具", "gas_stove", 4),
    ("燃气软管", "gas_hose", 2),
    ("液化气调压器", "lpg_regulator", 1),
    ("热水器", "gas_water_heater", 2),
    ("电动车", "electric_bicycle", 5),
    ("电池", "ebike_battery", 2),
    ("充电器", "ebike_charger", 1),
    ("电线电缆", "wire_cable", 4),
    ("开关插座", "switch_plug", 3),
    ("低压电器", "low_voltage_apparatus", 3),
    ("电机", "small_motor", 2),
    ("电动工具", "power_tool", 2),
    ("电焊机", "welding_machine", 1),
    ("家用电器", "household_appliance", 8),
    ("灯具", "lighting", 5),
    ("音响", "av_equipment", 1),
    ("电脑", "it_equipment", 3),
    ("汽车配件", "motor_vehicle_parts", 5),
    ("消防器材", "fire_products", 2),
    ("玩具", "child_products", 3),
    ("防爆电器", "explosion_proof", 1),
    ("钢材", "rebar", 4),
    ("水泥", "cement", 2),
    ("化工", "hazardous_chemicals", 4),
    ("化肥", "chemical_fertilizer", 3),
    ("包装材料", "food_contact", 4),
    ("包装桶", "pressure_lock", 1),
    ("劳保用品", "safety_helmet", 3),
    ("建材", "building_materials", 8),
    ("五金", "other", 10),
)
PRODUCT_WEIGHTS = [w for _, _, w in PRODUCTS]
MAKERS = ("有限公司", "有限责任公司", "厂", "制造有限公司", "科技有限公司")
SELLERS = ("经营部", "商行", "经销部", "销售有限公司", "门市部", "批发部")
STATUSES = (
    ("normal", 88),
    ("production_suspended", 4),
    ("business_suspended", 3),
    ("deregistered", 3),
    ("revoked", 1),
    ("moved_out", 1),
)
REASONS = (
    "survey",
    "spot_check",
    "production_licence",
    "ccc",
    "on_site_inspection",
    "quality_director_appointed",
)
COLUMNS = (
    "id uscc name kind sales_channel region_code station_code employees revenue_wan_yuan size_year "
    "entry_reason entry_path operating_status status_effective_on tier supervision_class locked "
    "responsible_inspector responsible_inspector_name has_quality_director has_risk_control_list "
    "self_check_overdue_since version created_by created_at updated_at"
).split()


@dataclass
class County:
    code: str
    name: str
    city: str
    stations: int
    weight: float


@dataclass
class Fill:
    units: list[tuple[Any, ...]] = field(default_factory=list)
    categories: list[tuple[str, str]] = field(default_factory=list)
    sites: list[tuple[str, str, str, str]] = field(default_factory=list)


def counties(rng: random.Random) -> list[County]:
    with GB2260.open(encoding="utf-8", newline="") as handle:
        rows = [r for r in csv.DictReader(handle) if r["level"] == "county"]
    result = []
    for province, share in PROVINCES.items():
        mine = [r for r in rows if r["code"][:2] == province[:2]]
        weights = []
        for row in mine:
            weight = rng.lognormvariate(0, 0.6) * (1.8 if row["name"].endswith("区") else 1.0)
            weights.append(weight * (3.0 if row["code"].startswith(CAPITAL) else 1.0))
        total = sum(weights)
        for row, weight in zip(mine, weights, strict=True):
            result.append(
                County(
                    row["code"], row["name"], row["parent_code"], rng.randint(3, 12), share * weight / total
                )
            )
    return result


def uuid7_at(moment: datetime, rng: random.Random) -> str:
    """A UUIDv7 of ``moment``: ids follow creation time, as ``new_id`` makes them."""
    millis = int(moment.timestamp() * 1000)
    rand = rng.getrandbits(74)
    value = (millis << 80) | (0x7 << 76) | ((rand >> 62) << 64) | (0b10 << 62) | (rand & ((1 << 62) - 1))
    return str(uuid.UUID(int=value))


def unit(code: int, county: County, moment: datetime, now: datetime, rng: random.Random, fill: Fill) -> None:
    """One unit with plausible fields, its product categories, and now and then a site in another county."""
    product, category, _ = rng.choices(PRODUCTS, PRODUCT_WEIGHTS)[0]
    producer = rng.random() < 0.4  # sellers (shops, wholesalers) outnumber makers
    if producer:
        kind, channel = "production", ("wholesale" if rng.random() < 0.2 else None)
        suffix = rng.choice(MAKERS)
    else:
        kind, channel = "sales", ("wholesale" if rng.random() < 0.3 else "retail")
        suffix = rng.choice(SELLERS)
    tier = rng.choices("ABCD", (2, 8, 25, 65))[0]
    employees = {"A": 1000, "B": 300, "C": 20, "D": 2}[tier] + rng.randrange(200 if tier != "D" else 18)
    cls = rng.choices(("routine", "key", "special"), (93, 5.5, 1.5))[0]
    locked = cls != "routine" and rng.random() < 0.8
    inspector = f"{county.code}-inspector-{rng.randrange(1, 2 + county.stations * 2)}" if locked else None
    status = rng.choices([s for s, _ in STATUSES], [w for _, w in STATUSES])[0]
    duty = {"A": 0.97, "B": 0.9, "C": 0.7, "D": 0.45}[tier]
    uid = uuid7_at(moment, rng)
    fill.units.append(
        (
            uid,
            make_uscc(code, county.code),
            f"{county.name}{rng.choice(TRADE)}{product}{suffix}",
            kind,
            channel,
            county.code,
            f"{county.code}{rng.randint(1, county.stations):03d}" if rng.random() < 0.85 else None,
            employees,
            round(employees * rng.uniform(5, 60), 1),
            2025,
            rng.choice(REASONS),
            "regulator",
            status,
            min(moment + timedelta(days=rng.randrange(30, 400)), now).date() if status != "normal" else None,
            tier,
            cls,
            locked,
            inspector,
            "张三" if inspector else None,
            rng.random() < duty,
            rng.random() < duty - 0.1,
            (now - timedelta(days=rng.randrange(1, 60))).date() if rng.random() < 0.06 else None,
            1,
            "bench",
            moment,
            moment + (now - moment) * rng.random() ** 3,
        )
    )
    fill.categories.append((uid, category))
    if rng.random() < 0.3:
        extra = rng.choices(PRODUCTS, PRODUCT_WEIGHTS)[0][1]
        if extra != category:
            fill.categories.append((uid, extra))
    if producer and rng.random() < 0.03:
        fill.sites.append((uuid7_at(moment, rng), uid, "", "工业园区"))  # region chosen by the caller


def generate(total: int, chunk: int, seed: int) -> Iterator[Fill]:
    rng = random.Random(seed)
    places = counties(rng)
    weights = [c.weight for c in places]
    by_city: dict[str, list[County]] = {}
    for county in places:
        by_city.setdefault(county.city, []).append(county)
    now = datetime.now(UTC)
    start = now - timedelta(days=3 * 365)
    step = (now - start) / max(total, 1)
    # Organisation codes are given out by the registration authority, not in the order units enter the
    # ledger: drawn at random, so that USCC order and entry order are unrelated, as they are in life.
    codes = rng.sample(range(1, 10**9), total)
    for first in range(0, total, chunk):
        fill = Fill()
        chosen = rng.choices(places, weights, k=min(chunk, total - first))
        for offset, county in enumerate(chosen):
            serial = first + offset
            before = len(fill.sites)
            unit(codes[serial], county, start + step * serial, now, rng, fill)
            if len(fill.sites) > before:  # mostly a neighbouring county of the same city
                others = [c for c in by_city[county.city] if c.code != county.code] or places
                site = rng.choice(others if rng.random() < 0.7 else places)
                sid, uid, _, address = fill.sites[-1]
                fill.sites[-1] = (sid, uid, site.code, f"{site.name}{address}")
        yield fill


# ------------------------------------------------------------------------------------------ loading


def plain(url: str) -> str:
    return make_url(url).set(drivername="postgresql").render_as_string(hide_password=False)


async def recreate_pg(server: str) -> str:
    import asyncpg

    conn = await asyncpg.connect(plain(f"{server}/postgres"))
    try:
        await conn.execute(f'DROP DATABASE IF EXISTS "{DATABASE}" WITH (FORCE)')
        await conn.execute(f'CREATE DATABASE "{DATABASE}"')
    finally:
        await conn.close()
    return f"{server}/{DATABASE}"


async def load_pg(url: str, total: int, chunk: int, seed: int) -> dict[str, float]:
    """COPY the units in; the secondary indexes are dropped first and built once at the end (much faster)."""
    import asyncpg

    conn = await asyncpg.connect(plain(url))
    timings: dict[str, float] = {}
    try:
        indexes = await conn.fetch(
            """SELECT i.indexname, i.indexdef FROM pg_indexes i
               WHERE i.tablename IN ('enterprise', 'enterprise_category', 'production_site')
                 AND NOT EXISTS (SELECT 1 FROM pg_constraint c WHERE c.conname = i.indexname)"""
        )
        for row in indexes:
            await conn.execute(f'DROP INDEX "{row["indexname"]}"')
        await conn.execute("SET session_replication_role = replica")  # no FK triggers during the load
        started = time.perf_counter()
        counts = [0, 0, 0]
        for fill in generate(total, chunk, seed):
            await conn.copy_records_to_table("enterprise", records=fill.units, columns=COLUMNS)
            await conn.copy_records_to_table(
                "enterprise_category", records=fill.categories, columns=["enterprise_id", "category_code"]
            )
            await conn.copy_records_to_table(
                "production_site",
                records=fill.sites,
                columns=["id", "enterprise_id", "region_code", "address"],
            )
            counts = [
                counts[0] + len(fill.units),
                counts[1] + len(fill.categories),
                counts[2] + len(fill.sites),
            ]
        timings["copy"] = time.perf_counter() - started
        timings["rows"] = counts  # type: ignore[assignment]
        started = time.perf_counter()
        await conn.execute("SET maintenance_work_mem = '1GB'")
        for row in indexes:
            await conn.execute(row["indexdef"])
        timings["indexes"] = time.perf_counter() - started
        started = time.perf_counter()
        await conn.execute("VACUUM ANALYZE enterprise")
        await conn.execute("VACUUM ANALYZE enterprise_category")
        await conn.execute("VACUUM ANALYZE production_site")
        timings["vacuum"] = time.perf_counter() - started
    finally:
        await conn.close()
    return timings


async def load_sqlite(url: str, total: int, chunk: int, seed: int) -> dict[str, float]:
    db = Database(url)
    timings: dict[str, float] = {}
    started = time.perf_counter()
    counts = [0, 0, 0]
    try:
        for fill in generate(total, chunk, seed):
            async with db.engine.begin() as conn:
                await conn.execute(
                    insert(Enterprise), [dict(zip(COLUMNS, row, strict=True)) for row in fill.units]
                )
                await conn.execute(
                    insert(ProductCategoryLink),
                    [{"enterprise_id": e, "category_code": c} for e, c in fill.categories],
                )
                if fill.sites:
                    await conn.execute(
                        insert(ProductionSite),
                        [
                            {"id": s, "enterprise_id": e, "region_code": r, "address": a}
                            for s, e, r, a in fill.sites
                        ],
                    )
            counts = [
                counts[0] + len(fill.units),
                counts[1] + len(fill.categories),
                counts[2] + len(fill.sites),
            ]
        timings["copy"] = time.perf_counter() - started
        timings["rows"] = counts  # type: ignore[assignment]
        started = time.perf_counter()
        async with db.engine.begin() as conn:
            await conn.execute(text("ANALYZE"))
        timings["vacuum"] = time.perf_counter() - started
    finally:
        await db.dispose()
    return timings


# ------------------------------------------------------------------------------------------ measuring


@dataclass
class Case:
    label: str
    caller: Caller
    params: dict[str, Any]
    path: str = "/enterprises"
    cursors: list[str] = field(default_factory=list)  # cycled through: deep pages


def header(caller: Caller) -> dict[str, str]:
    return {IDENTITY_HEADER: issue_identity(caller, private_key(PRIVATE))}


async def cursors_of(
    client: httpx.AsyncClient, caller: Caller, params: dict[str, Any], *, skip: int, pages: int
) -> list[str]:
    """Cursors deep into a list: walked with pages of 500, the first ``skip`` pages passed over."""
    found: list[str] = []
    cursor = None
    for page in range(skip + pages):
        query = {**params, "limit": 500, **({"cursor": cursor} if cursor else {})}
        response = await client.get("/enterprises", params=query, headers=header(caller))
        response.raise_for_status()
        cursor = response.json()["next_cursor"]
        if cursor is None:
            break
        if page >= skip:
            found.append(cursor)
    return found


async def measure(client: httpx.AsyncClient, case: Case, repeat: int) -> tuple[list[float], int]:
    headers = header(case.caller)
    times: list[float] = []
    rows = 0
    for i in range(repeat + 5):  # five to warm up
        params = {**case.params}
        if case.cursors:
            params["cursor"] = case.cursors[i % len(case.cursors)]
        started = time.perf_counter()
        response = await client.get(case.path, params=params, headers=headers)
        elapsed = time.perf_counter() - started
        if response.status_code != 200:
            raise RuntimeError(f"{case.label}: {response.status_code} {response.text}")
        body = response.json()
        rows = body["count"] if "count" in body else len(body["items"])
        if i >= 5:
            times.append(elapsed)
    return times, rows


async def explain(url: str, case: Case) -> str:
    import asyncpg

    adapter = TypeAdapter(search.SearchFilters)
    params = {k: v for k, v in case.params.items() if k not in {"sort", "order", "limit"}}
    filters = adapter.validate_python({k: tuple(v) if isinstance(v, list) else v for k, v in params.items()})
    if case.path.endswith("/count"):
        stmt = search.count_statement(case.caller, filters, dialect="postgresql")
    elif case.path == "/sites":
        stmt = search.sites_statement(case.caller, region=filters.region)
    else:
        stmt = search.list_statement(
            case.caller,
            filters,
            dialect="postgresql",
            sort=search.SortKey(case.params.get("sort", "id")),
            order=search.SortOrder(case.params.get("order", "asc")),
            cursor=case.cursors[0] if case.cursors else None,
            limit=int(case.params.get("limit", 50)),
        )
    sql = str(stmt.compile(dialect=postgresql.asyncpg.dialect(), compile_kwargs={"literal_binds": True}))
    conn = await asyncpg.connect(plain(url))
    try:
        rows = await conn.fetch("EXPLAIN (ANALYZE, BUFFERS, COSTS OFF) " + sql)
    finally:
        await conn.close()
    return "\n".join(r[0] for r in rows)


def search_app() -> Any:
    """The registry app as ``services.registry.app`` makes it (same routes, database, NATS, relay and
    consumers) without its periodic self-check duty check: that job would start by marking the bench's units
    overdue (they have no self-check records) and compete with the queries for the machine."""
    from services.common.app import create_service_app
    from services.registry.api import router
    from services.registry.events import HANDLERS

    return create_service_app(
        "registry", title="QSR registry (bench)", description="", router=router, handlers=HANDLERS
    )


def start_registry(url: str) -> System:
    """nats-server, and the registry app in a uvicorn process of its own on a free port."""
    data_dir = Path(tempfile.mkdtemp(prefix="qsr-bench-search-"))
    nats_port, port = free_port(), free_port()
    env = {
        **os.environ,
        "QSR_ENV": "development",
        "QSR_DATA_DIR": str(data_dir),
        "QSR_DATABASE_URL": url,
        "QSR_NATS_URL": f"nats://127.0.0.1:{nats_port}",
        "QSR_INTERNAL_SIGNING_KEY": PRIVATE,
        "QSR_INTERNAL_PUBLIC_KEY": PUBLIC,
    }
    system = System(data_dir=data_dir, env=env, ports={"registry": port}, nats_port=nats_port)
    (data_dir / "logs").mkdir(parents=True, exist_ok=True)
    system.start_nats()
    args = ["-m", "uvicorn", "bench.registry_search:search_app", "--factory", "--host", "127.0.0.1"]
    args += ["--port", str(port), "--no-access-log"]
    system.processes["registry"] = spawn([sys.executable, *args], env, data_dir / "logs" / "registry.log")
    system.wait_ready(["registry"], timeout=120)
    return system


async def main(args: argparse.Namespace) -> None:
    print(f"command: {command_line()}")
    if args.sqlite:
        directory = Path(tempfile.mkdtemp(prefix="qsr-bench-search-"))
        url = f"sqlite+aiosqlite:///{(directory / 'registry.db').as_posix()}"
    else:
        server = os.environ.get("QSR_BENCH_DATABASE_URL", "postgresql+asyncpg://postgres@127.0.0.1:5432")
        url = await recreate_pg(server.rstrip("/"))
    print(f"machine: {machine()}; database: {make_url(url).render_as_string(hide_password=True)}", flush=True)
    await migrate("registry", url)
    started = time.perf_counter()
    if args.sqlite:
        timings = await load_sqlite(url, args.units, args.chunk, args.seed)
    else:
        timings = await load_pg(url, args.units, args.chunk, args.seed)
    units, categories, sites = timings["rows"]  # type: ignore[misc]
    print(
        f"fill: {units:,} units, {categories:,} category links, {sites:,} production sites in "
        f"{time.perf_counter() - started:,.1f} s (load {timings['copy']:,.1f} s"
        + (f", indexes {timings['indexes']:,.1f} s" if "indexes" in timings else "")
        + f", vacuum/analyze {timings['vacuum']:,.1f} s)",
        flush=True,
    )

    county = Caller(username="bench-county", role="regulator", region_code=args.county)
    city = Caller(username="bench-city", role="regulator", region_code=args.county[:4] + "00")
    province = Caller(username="bench-province", role="regulator", region_code=args.county[:2] + "0000")
    station = Caller(username="bench-station", role="regulator", region_code=args.county + "001")
    system = start_registry(url)
    try:
        async with httpx.AsyncClient(base_url=system.url("registry"), timeout=60) as client:
            sizes = {}
            for label, caller in (("county", county), ("city", city), ("province", province)):
                response = await client.get("/enterprises/count", headers=header(caller))
                sizes[label] = response.json()["count"]
            print(
                f"scope: county {args.county} {sizes['county']:,} units, city {city.region_code} "
                f"{sizes['city']:,}, province {province.region_code} {sizes['province']:,}",
                flush=True,
            )
            first = await client.get("/enterprises", params={"limit": 1}, headers=header(county))
            sample_uscc = first.json()["items"][0]["uscc"]
            deep = await cursors_of(client, county, {}, skip=4, pages=6)
            deep_names = await cursors_of(client, city, {"sort": "name"}, skip=20, pages=6)
            cases = [
                Case("county: first page (by id)", county, {}),
                Case("county: by cursor, 2,500–5,000 rows in", county, {}, cursors=deep),
                Case("county: by name, descending", county, {"sort": "name", "order": "desc"}),
                Case("station: first page", station, {}),
                Case("city: by name, first page", city, {"sort": "name"}),
                Case("city: by name, by cursor, 10,000+ rows in", city, {"sort": "name"}, cursors=deep_names),
                Case(
                    "province: class=key & locked", province, {"supervision_class": ["key"], "locked": True}
                ),
                Case(
                    "county: special, tier A/B, normal",
                    county,
                    {"supervision_class": ["special"], "tier": ["A", "B"], "operating_status": ["normal"]},
                ),
                Case("county: missing quality director", county, {"missing": ["quality_director"]}),
                Case("county: product_category=gas_stove", county, {"product_category": "gas_stove"}),
                Case("province: product_category=gas_stove", province, {"product_category": "gas_stove"}),
                Case("city: q=阀门", city, {"q": "阀门"}),
                Case("province: q=a whole USCC", province, {"q": sample_uscc}),
                Case("province: q=USCC prefix (10 characters)", province, {"q": sample_uscc[:10]}),
                Case("county: include_sites", county, {"include_sites": True}),
                Case("county: GET /sites", county, {}, path="/sites"),
                Case("province: count", province, {}, path="/enterprises/count"),
                Case(
                    "province: count key/special in normal status",
                    province,
                    {"supervision_class": ["key", "special"], "operating_status": ["normal"]},
                    path="/enterprises/count",
                ),
                Case("county: count", county, {}, path="/enterprises/count"),
            ]
            print(
                f"\nHTTP: the registry app in its own uvicorn process on 127.0.0.1, httpx, one request at a "
                f"time; {args.repeat} requests per row after 5 to warm up; limit 50\n"
            )
            print(f"| {'query':<44} | {'rows':>8} | {'p50 ms':>7} | {'p99 ms':>7} | {'mean ms':>7} |")
            print(f"|{'-' * 46}|{'-' * 10}|{'-' * 9}|{'-' * 9}|{'-' * 9}|")
            for case in cases:
                times, rows = await measure(client, case, args.repeat)
                print(
                    f"| {case.label:<44} | {rows:>8,} | {percentile(times, 0.5) * 1000:>7.1f} | "
                    f"{percentile(times, 0.99) * 1000:>7.1f} | {sum(times) / len(times) * 1000:>7.1f} |",
                    flush=True,
                )
        if args.explain and not args.sqlite:
            for case in cases:
                print(f"\n--- {case.label}: {case.path}?{urlencode(case.params, doseq=True)}")
                print(await explain(url, case))
    finally:
        system.shutdown()


if __name__ == "__main__":
    parser = argparse.ArgumentParser(
        description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter
    )
    parser.add_argument("--units", type=int, default=1_000_000)
    parser.add_argument("--repeat", type=int, default=200, help="requests per query")
    parser.add_argument("--chunk", type=int, default=50_000, help="units generated and loaded at a time")
    parser.add_argument("--county", default="140105", help="the county of the county-level queries (小店区)")
    parser.add_argument("--seed", type=int, default=20261125)
    parser.add_argument("--sqlite", action="store_true", help="a SQLite file instead of PostgreSQL")
    parser.add_argument("--explain", action="store_true", help="print PostgreSQL's plan of each query")
    asyncio.run(main(parser.parse_args()))
