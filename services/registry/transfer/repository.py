"""The import's queries: what the ledger holds of a chunk's units, and the chunk's writes as set-based
statements.

PostgreSQL: the new units are COPYed into a staging table (a temporary table of the connection, emptied at
each commit) and merged into ``enterprise`` by one ``INSERT … SELECT … ON CONFLICT (uscc) DO NOTHING``: a
unit entered meanwhile by someone else is skipped, not an error, and the count tells the writer to redo the
chunk row by row. Their categories, certificates and audit entries are COPYed into their tables; the outbox
rows go in one ``INSERT … SELECT … FROM unnest(…)`` through the session. SQLite: Core inserts with a list of
rows (``executemany``) in the chunk's transaction.
"""

from __future__ import annotations

from collections import defaultdict
from collections.abc import Sequence
from dataclasses import dataclass, field
from operator import itemgetter
from typing import Any

from sqlalchemy import DateTime, Text, bindparam, column, delete, func, insert, select, text, update
from sqlalchemy.dialects.postgresql import ARRAY
from sqlalchemy.ext.asyncio import AsyncSession

from services.common.messaging import OutboxMessage
from services.registry.models import (
    AuditEntry,
    Certificate,
    Enterprise,
    ImportRowError,
    ProductCategoryLink,
    ProductionSite,
)
from services.registry.schemas import SiteIn
from services.registry.transfer.parser import SHEET_SCALARS

_ENTERPRISE = Enterprise.__table__  # type: ignore[attr-defined]
_CATEGORY = ProductCategoryLink.__table__  # type: ignore[attr-defined]
_CERTIFICATE = Certificate.__table__  # type: ignore[attr-defined]
_AUDIT = AuditEntry.__table__  # type: ignore[attr-defined]
_OUTBOX = OutboxMessage.__table__  # type: ignore[attr-defined]
_ERROR = ImportRowError.__table__  # type: ignore[attr-defined]

UNIT_COLUMNS = tuple(c.name for c in _ENTERPRISE.columns)
_CATEGORY_COLUMNS = ("enterprise_id", "category_code")
_CERTIFICATE_COLUMNS = tuple(c.name for c in _CERTIFICATE.columns)
_AUDIT_COLUMNS = tuple(c.name for c in _AUDIT.columns)
_OUTBOX_COLUMNS = ("event_id", "subject", "type", "body", "created_at")

_STAGE = "import_enterprise_stage"
_CREATE_STAGE = f"CREATE TEMPORARY TABLE IF NOT EXISTS {_STAGE} (LIKE enterprise INCLUDING DEFAULTS) ON COMMIT DELETE ROWS"
_MERGE_STAGE = (
    f"INSERT INTO enterprise ({', '.join(UNIT_COLUMNS)}) SELECT {', '.join(UNIT_COLUMNS)} FROM {_STAGE} "
    "ON CONFLICT (uscc) DO NOTHING"
)

_UPDATE_UNIT = (
    update(_ENTERPRISE)
    .where(_ENTERPRISE.c.id == bindparam("b_id"), _ENTERPRISE.c.version == bindparam("b_version"))
    .values(
        {name: bindparam(f"b_{name}") for name in (*SHEET_SCALARS, "principal_phone_enc")}
        | {"version": bindparam("b_new_version"), "updated_at": bindparam("b_updated_at")}
    )
)


def _outbox_from_arrays() -> Any:
    """``INSERT INTO outbox (…) SELECT … FROM unnest(:event_id, …)``: a chunk's events in one statement."""
    types = [ARRAY(Text)] * (len(_OUTBOX_COLUMNS) - 1) + [ARRAY(DateTime(timezone=True))]
    arrays = [bindparam(name, type_=t) for name, t in zip(_OUTBOX_COLUMNS, types, strict=True)]
    rows = func.unnest(*arrays).table_valued(*_OUTBOX_COLUMNS).render_derived()
    return insert(_OUTBOX).from_select(
        list(_OUTBOX_COLUMNS), select(*(column(name) for name in _OUTBOX_COLUMNS)).select_from(rows)
    )


_INSERT_OUTBOX_PG = _outbox_from_arrays()


class UnitsChanged(Exception):
    """A unit of the chunk was entered or changed by someone else between reading and writing."""


@dataclass
class Stored:
    """What the ledger holds of a chunk's known units: the units by USCC, their categories (sorted) and
    certificates by unit id."""

    units: dict[str, dict[str, Any]] = field(default_factory=dict)
    categories: dict[str, list[str]] = field(default_factory=lambda: defaultdict(list))
    certificates: dict[str, list[dict[str, Any]]] = field(default_factory=lambda: defaultdict(list))


@dataclass
class Writes:
    """What one chunk writes, as rows for bulk statements."""

    units: list[dict[str, Any]] = field(default_factory=list)
    unit_updates: list[dict[str, Any]] = field(default_factory=list)
    replace_categories: list[str] = field(default_factory=list)
    replace_certificates: list[str] = field(default_factory=list)
    categories: list[dict[str, Any]] = field(default_factory=list)
    certificates: list[dict[str, Any]] = field(default_factory=list)
    audit: list[dict[str, Any]] = field(default_factory=list)
    outbox: list[dict[str, Any]] = field(default_factory=list)


def _is_postgres(session: AsyncSession) -> bool:
    return session.bind.dialect.name == "postgresql"


def _uscc_in(session: AsyncSession, usccs: Sequence[str]) -> Any:
    if _is_postgres(session):  # one array parameter: one prepared statement, whatever the chunk's size
        return _ENTERPRISE.c.uscc == func.any(bindparam("usccs", list(usccs), type_=ARRAY(Text)))
    return _ENTERPRISE.c.uscc.in_(usccs)


async def stored(session: AsyncSession, usccs: Sequence[str], *, lock: bool) -> Stored:
    """The units of these USCCs with their categories and certificates (locked on PostgreSQL if ``lock``;
    SQLite checks the version when writing instead)."""
    found = Stored()
    stmt = select(_ENTERPRISE).where(_uscc_in(session, usccs))
    if lock:
        stmt = stmt.with_for_update()
    found.units = {unit["uscc"]: dict(unit) for unit in (await session.execute(stmt)).mappings()}
    ids = [unit["id"] for unit in found.units.values()]
    if not ids:
        return found
    links = await session.execute(
        select(_CATEGORY.c.enterprise_id, _CATEGORY.c.category_code)
        .where(_CATEGORY.c.enterprise_id.in_(ids))
        .order_by(_CATEGORY.c.category_code)
    )
    for enterprise_id, code in links.all():
        found.categories[enterprise_id].append(code)
    certs = await session.execute(select(_CERTIFICATE).where(_CERTIFICATE.c.enterprise_id.in_(ids)))
    for cert in certs.mappings():
        found.certificates[cert["enterprise_id"]].append(dict(cert))
    return found


async def sites_of(session: AsyncSession, ids: Sequence[str]) -> dict[str, list[SiteIn]]:
    sites: dict[str, list[SiteIn]] = defaultdict(list)
    rows = await session.execute(
        select(ProductionSite.enterprise_id, ProductionSite.region_code, ProductionSite.address).where(
            ProductionSite.enterprise_id.in_(ids)  # type: ignore[attr-defined]
        )
    )
    for enterprise_id, region_code, address in rows.all():
        sites[enterprise_id].append(SiteIn(region_code=region_code, address=address))
    return sites


async def write(session: AsyncSession, w: Writes) -> None:
    """Write a chunk's rows; raises UnitsChanged if a unit was entered or changed meanwhile."""
    postgres = _is_postgres(session)
    if w.units:
        if postgres:
            await _copy_new_units(session, w)
        else:
            await session.execute(insert(_ENTERPRISE), w.units)
    if w.unit_updates:
        result = await session.execute(_UPDATE_UNIT, w.unit_updates)
        if session.bind.dialect.supports_sane_multi_rowcount and result.rowcount != len(w.unit_updates):  # type: ignore[attr-defined]
            raise UnitsChanged()
    if w.replace_categories:
        await session.execute(delete(_CATEGORY).where(_CATEGORY.c.enterprise_id.in_(w.replace_categories)))
    if w.replace_certificates:
        await session.execute(
            delete(_CERTIFICATE).where(_CERTIFICATE.c.enterprise_id.in_(w.replace_certificates))
        )
    if postgres:
        driver = await _driver(session)
        for table, columns, rows in (
            ("enterprise_category", _CATEGORY_COLUMNS, w.categories),
            ("certificate", _CERTIFICATE_COLUMNS, w.certificates),
            ("audit_entry", _AUDIT_COLUMNS, w.audit),
        ):
            if rows:
                records = list(map(itemgetter(*columns), rows))
                await driver.copy_records_to_table(table, records=records, columns=columns)
        if w.outbox:
            arrays = {name: [row[name] for row in w.outbox] for name in _OUTBOX_COLUMNS}
            await session.execute(_INSERT_OUTBOX_PG, arrays)
    else:
        for table, rows in ((_CATEGORY, w.categories), (_CERTIFICATE, w.certificates), (_AUDIT, w.audit)):
            if rows:
                await session.execute(insert(table), rows)
        if w.outbox:
            await session.execute(insert(_OUTBOX), w.outbox)
    if w.outbox:
        session.info["outbox_dirty"] = True  # the relay publishes once this commits


async def _driver(session: AsyncSession) -> Any:
    """The asyncpg connection under the session, inside the session's transaction."""
    connection = await session.connection()
    raw = await connection.get_raw_connection()
    driver = raw.driver_connection
    assert driver is not None
    if not driver.is_in_transaction():  # SQLAlchemy begins on its first statement; COPY must not come first
        await connection.execute(text("SELECT 1"))
    return driver


async def _copy_new_units(session: AsyncSession, w: Writes) -> None:
    driver = await _driver(session)
    await driver.execute(_CREATE_STAGE)  # once per connection; empty at the start of every transaction
    records = list(map(itemgetter(*UNIT_COLUMNS), w.units))
    await driver.copy_records_to_table(_STAGE, records=records, columns=UNIT_COLUMNS)
    status = await driver.execute(_MERGE_STAGE)  # "INSERT 0 <rows>"
    if int(status.rsplit(" ", 1)[1]) != len(w.units):
        raise UnitsChanged()


async def insert_errors(session: AsyncSession, records: list[dict[str, Any]]) -> None:
    if records:
        await session.execute(insert(_ERROR), records)
