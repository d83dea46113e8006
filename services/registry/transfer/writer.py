"""The import writer: each chunk of checked rows planned against the ledger and written in one transaction."""

from __future__ import annotations

import asyncio
import json
import re
from collections import defaultdict
from contextlib import aclosing
from dataclasses import dataclass, field
from datetime import date, datetime
from functools import partial
from types import SimpleNamespace
from typing import Any

from fastapi import UploadFile
from sqlalchemy import bindparam, delete, insert, select, update
from sqlalchemy.exc import IntegrityError
from sqlalchemy.ext.asyncio import AsyncSession

from services.common.auth import Caller
from services.common.db import Database, today_cn, utcnow
from services.common.errors import QSRError
from services.common.events import ENTERPRISE_REGISTERED, ENTERPRISE_UPDATED, EnterpriseRegistered, make_event
from services.common.ids import new_id
from services.common.messaging import OutboxMessage
from services.common.settings import Settings
from services.registry import audit, pii, repository, service
from services.registry.models import (
    AuditEntry,
    Certificate,
    Enterprise,
    ImportJob,
    ImportRowError,
    ProductCategoryLink,
    ProductionSite,
)
from services.registry.schemas import CertificateIn, LedgerFields, SiteIn
from services.registry.transfer.errors import ImportFileTooLarge, UnitOutOfJurisdiction, WriteConflict
from services.registry.transfer.files import ProcessSource, ThreadSource, open_source, sniff
from services.registry.transfer.parser import (
    CERT_COLUMNS,
    HEADER_OF,
    PROBLEM_COLUMN,
    SHEET_SCALARS,
    Row,
    RowError,
    RowReader,
)

IMPORT_MAX_BYTES = 200 * 1024 * 1024

_ENTERPRISE = Enterprise.__table__  # type: ignore[attr-defined]
_NEW_UNIT_DEFAULTS: dict[str, Any] = {
    "operating_status": "normal",
    "status_effective_on": None,
    "status_reason": None,
    "tier": None,
    "supervision_class": "routine",
    "locked": False,
    "responsible_inspector": None,
    "responsible_inspector_name": None,
    "has_quality_director": False,
    "has_risk_control_list": False,
    "self_check_overdue_since": None,
    "version": 1,
}
_UPDATE_UNIT = (
    update(_ENTERPRISE)
    .where(_ENTERPRISE.c.id == bindparam("b_id"), _ENTERPRISE.c.version == bindparam("b_version"))
    .values(
        {name: bindparam(f"b_{name}") for name in (*SHEET_SCALARS, "principal_phone_enc")}
        | {"version": bindparam("b_new_version"), "updated_at": bindparam("b_updated_at")}
    )
)


class _ChunkConflict(Exception):
    """A unit of the chunk changed between reading and writing: the chunk is redone row by row."""


def _cert_snapshot(cert: dict[str, Any]) -> dict[str, Any]:
    return {
        key: str(cert[key]) if isinstance(cert[key], date) else cert[key]
        for key in ("kind", "number", "category_code", "valid_from", "valid_until")
    }


def _cert_key(cert: dict[str, Any]) -> tuple[str, str]:
    return cert["kind"], cert["number"]


def _event_payload(unit: dict[str, Any], categories: list[str]) -> EnterpriseRegistered:
    return EnterpriseRegistered(
        enterprise_id=unit["id"],
        uscc=unit["uscc"],
        name=unit["name"],
        kind=unit["kind"],
        sales_channel=unit["sales_channel"],
        region_code=unit["region_code"],
        employees=unit["employees"],
        revenue_wan_yuan=unit["revenue_wan_yuan"],
        entry_reason=unit["entry_reason"],
        operating_status=unit["operating_status"],
        station_code=unit["station_code"],
        size_year=unit["size_year"],
        product_categories=categories,
    )


def _reason(filename: str) -> str:
    return f"批量导入 {filename}"[:500]


_NOT_IN_SNAPSHOT = frozenset({"created_at", "updated_at", "version"})


def audit_row(
    caller: Caller, enterprise_id: str, action: str, changes: dict[str, Any], reason: str, now: datetime
) -> dict[str, Any]:
    """An ``audit_entry`` row as ``audit.record`` writes it, for a bulk insert."""
    return {
        "id": new_id(),
        "enterprise_id": enterprise_id,
        "entity": "enterprise",
        "entity_id": enterprise_id,
        "action": action,
        "actor": caller.username,
        "actor_role": caller.role,
        "at": now,
        "changes": json.dumps(changes, ensure_ascii=False, default=str),
        "reason": reason,
    }


def outbox_row(spec: Any, unit: dict[str, Any], categories: list[str]) -> dict[str, Any]:
    """An ``outbox`` row as ``messaging.emit`` writes it, for a bulk insert."""
    event = make_event(
        spec, _event_payload(unit, categories), region=unit["region_code"], enterprise_id=unit["id"]
    )
    return {
        "event_id": event.id,
        "subject": spec.subject,
        "type": spec.type,
        "body": event.model_dump_json(),
        "created_at": event.time,
    }


@dataclass
class Outcome:
    created: int = 0
    updated: int = 0
    unchanged: int = 0
    rejected: int = 0
    errors: list[RowError] = field(default_factory=list)


@dataclass
class _Writes:
    """What one chunk writes, as rows for bulk statements."""

    units: list[dict[str, Any]] = field(default_factory=list)
    unit_updates: list[dict[str, Any]] = field(default_factory=list)
    replace_categories: list[str] = field(default_factory=list)
    replace_certificates: list[str] = field(default_factory=list)
    categories: list[dict[str, Any]] = field(default_factory=list)
    certificates: list[dict[str, Any]] = field(default_factory=list)
    audit: list[dict[str, Any]] = field(default_factory=list)
    outbox: list[dict[str, Any]] = field(default_factory=list)


class Importer:
    """One import: reads the sheet in chunks, plans each chunk against the ledger, writes it in one
    transaction with bulk statements (units, children, audit entries and outbox rows)."""

    def __init__(
        self, db: Database, caller: Caller, settings: Settings, job: ImportJob, present: frozenset[str]
    ) -> None:
        self.db = db
        self.caller = caller
        self.settings = settings
        self.job = job
        self.present = present
        self.vault = pii.vault(settings)
        self.reason = _reason(job.filename)
        self.outcome = Outcome()

    async def run_chunk(self, rows: list[Row]) -> None:
        errors = [e for row in rows for e in row.errors]
        self.outcome.rejected += sum(1 for row in rows if row.errors)
        good = [row for row in rows if row.entry is not None]
        if self.job.dry_run:
            async with self.db.session() as session:
                plan = await self._plan(session, good, Outcome())
            self._count(plan)
            await self._save_errors(errors + plan.errors)
            return
        try:
            async with self.db.transaction() as session:
                plan = await self._plan(session, good, Outcome(), lock=True)
                await self._write(session, plan.writes)
                await self._insert_errors(session, errors + plan.errors)
            self._count(plan)
        except (IntegrityError, _ChunkConflict):
            # Someone entered or changed one of these units meanwhile: redo each row on its own.
            await self._save_errors(errors)
            for row in good:
                await self._run_alone(row)

    async def _run_alone(self, row: Row) -> None:
        try:
            async with self.db.transaction() as session:
                plan = await self._plan(session, [row], Outcome(), lock=True)
                await self._write(session, plan.writes)
                await self._insert_errors(session, plan.errors)
            self._count(plan)
        except (IntegrityError, _ChunkConflict):
            error = RowError(
                row.number,
                HEADER_OF["uscc"],
                WriteConflict.code,
                f"导入时统一社会信用代码 {row.uscc} 的单位被同时录入或修改，本行未导入，请重新导入本行",
                row.uscc_text,
            )
            self.outcome.rejected += 1
            await self._save_errors([error])

    def _count(self, plan: _Plan) -> None:
        o = self.outcome
        o.created += plan.outcome.created
        o.updated += plan.outcome.updated
        o.unchanged += plan.outcome.unchanged
        o.rejected += plan.outcome.rejected

    async def _save_errors(self, errors: list[RowError]) -> None:
        if errors:
            async with self.db.transaction() as session:
                await self._insert_errors(session, errors)

    async def _insert_errors(self, session: AsyncSession, errors: list[RowError]) -> None:
        if errors:
            await session.execute(insert(ImportRowError.__table__), [e.record(self.job.id) for e in errors])  # type: ignore[attr-defined]

    # -------------------------------------------------------------------------------------- planning

    async def _plan(
        self, session: AsyncSession, rows: list[Row], outcome: Outcome, lock: bool = False
    ) -> _Plan:
        plan = _Plan(outcome=outcome, writes=_Writes())
        if not rows:
            return plan
        stmt = select(_ENTERPRISE).where(_ENTERPRISE.c.uscc.in_([row.uscc for row in rows]))
        if lock:
            stmt = stmt.with_for_update()  # PostgreSQL; SQLite checks the version when writing instead
        stored = {unit["uscc"]: dict(unit) for unit in (await session.execute(stmt)).mappings()}
        ids = [unit["id"] for unit in stored.values()]
        categories: dict[str, list[str]] = defaultdict(list)
        certificates: dict[str, list[dict[str, Any]]] = defaultdict(list)
        if ids:
            links = await session.execute(
                select(ProductCategoryLink.enterprise_id, ProductCategoryLink.category_code)
                .where(ProductCategoryLink.enterprise_id.in_(ids))  # type: ignore[attr-defined]
                .order_by(ProductCategoryLink.category_code)
            )
            for enterprise_id, code in links.all():
                categories[enterprise_id].append(code)
            certs = await session.execute(
                select(Certificate.__table__).where(Certificate.__table__.c.enterprise_id.in_(ids))  # type: ignore[attr-defined]
            )
            for cert in certs.mappings():
                certificates[cert["enterprise_id"]].append(dict(cert))
        now = utcnow()
        changed: list[tuple[Row, dict[str, Any], dict[str, Any], dict[str, Any]]] = []
        for row in rows:
            unit = stored.get(row.uscc or "")
            if unit is None:
                self._plan_new(plan, row, now)
                continue
            if not repository.supervises(self.caller, SimpleNamespace(**unit)):  # type: ignore[arg-type]
                plan.reject(
                    row,
                    HEADER_OF["uscc"],
                    UnitOutOfJurisdiction,
                    f"统一社会信用代码 {row.uscc} 的单位已在台账中，但注册地不在您的管辖范围内，不能通过导入修改",
                )
                continue
            before, after = self._compare(row, unit, categories[unit["id"]], certificates[unit["id"]])
            if before == after:
                plan.outcome.unchanged += 1
            else:
                changed.append((row, unit, before, after))
        if changed:
            await self._plan_changes(session, plan, changed, now)
        return plan

    def _plan_new(self, plan: _Plan, row: Row, now: datetime) -> None:
        entry = row.entry
        assert entry is not None
        unit = {
            "id": new_id(),
            **entry.columns,
            "principal_phone_enc": self.vault.seal(entry.phone),
            "entry_path": "import",
            **_NEW_UNIT_DEFAULTS,
            "created_by": self.caller.username,
            "created_at": now,
            "updated_at": now,
        }
        certificates = [{"id": new_id(), "enterprise_id": unit["id"], **c} for c in entry.certificates]
        # What service.snapshot shows of a new unit (None fields left out: audit.diff skips them anyway).
        snapshot = {k: v for k, v in unit.items() if v is not None and k not in _NOT_IN_SNAPSHOT}
        snapshot |= {
            "product_categories": entry.categories,
            "certificates": [_cert_snapshot(c) for c in certificates],
            "sites": [],
        }
        w = plan.writes
        w.units.append(unit)
        w.categories += [{"enterprise_id": unit["id"], "category_code": code} for code in entry.categories]
        w.certificates += certificates
        w.audit.append(
            audit_row(self.caller, unit["id"], "registered", audit.diff({}, snapshot), self.reason, now)
        )
        w.outbox.append(outbox_row(ENTERPRISE_REGISTERED, unit, entry.categories))
        plan.outcome.created += 1

    def _compare(
        self, row: Row, unit: dict[str, Any], categories: list[str], certificates: list[dict[str, Any]]
    ) -> tuple[dict[str, Any], dict[str, Any]]:
        """What the unit holds, and what it would hold after this row (the fields the sheet carries)."""
        new = row.entry
        assert new is not None
        before: dict[str, Any] = {name: unit[name] for name in SHEET_SCALARS}
        before["product_categories"] = categories
        before["certificates"] = sorted((_cert_snapshot(c) for c in certificates), key=_cert_key)
        after = dict(before)
        for name in SHEET_SCALARS:
            if name in self.present:
                after[name] = new.columns[name]
        if "product_categories" in self.present:
            after["product_categories"] = new.categories
        kinds = {kind for kind, (numbers, _) in CERT_COLUMNS.items() if numbers in self.present}
        if kinds:
            kept = {_cert_key(c): c for c in before["certificates"]}
            merged = [c for c in before["certificates"] if c["kind"] not in kinds]
            for cert in new.certificates:
                old = kept.get(_cert_key(cert), {})
                merged.append(
                    {
                        "kind": cert["kind"],
                        "number": cert["number"],
                        "category_code": old.get("category_code"),
                        "valid_from": old.get("valid_from"),
                        "valid_until": str(cert["valid_until"]) if cert["valid_until"] else None,
                    }
                )
            after["certificates"] = sorted(merged, key=_cert_key)
        if "principal_phone" in self.present and not row.phone_unknown:
            stored_phone = self.vault.open(unit["principal_phone_enc"])
            if new.phone != stored_phone:
                before["principal_phone"] = stored_phone
                after["principal_phone"] = new.phone
        return before, after

    async def _plan_changes(
        self,
        session: AsyncSession,
        plan: _Plan,
        changed: list[tuple[Row, dict[str, Any], dict[str, Any], dict[str, Any]]],
        now: datetime,
    ) -> None:
        ids = [unit["id"] for _, unit, _, _ in changed]
        sites: dict[str, list[SiteIn]] = defaultdict(list)
        rows = await session.execute(
            select(ProductionSite.enterprise_id, ProductionSite.region_code, ProductionSite.address).where(
                ProductionSite.enterprise_id.in_(ids)  # type: ignore[attr-defined]
            )
        )
        for enterprise_id, region_code, address in rows.all():
            sites[enterprise_id].append(SiteIn(region_code=region_code, address=address))
        w = plan.writes
        for row, unit, before, after in changed:
            # The merged record (stored fields the sheet leaves out included) must still be a valid one.
            merged = LedgerFields.model_construct(
                **{name: after[name] for name in SHEET_SCALARS},
                uscc=unit["uscc"],
                principal_phone=None,
                product_categories=after["product_categories"],
                certificates=[CertificateIn.model_validate(c) for c in after["certificates"]],
                sites=sites[unit["id"]],
                entry_reason=unit["entry_reason"],
            )
            _uscc, problems = service.check_fields(merged, today=today_cn())
            if problems:
                for problem in problems:
                    plan.reject(
                        row,
                        PROBLEM_COLUMN.get(problem.field, problem.field),
                        problem.code,
                        problem.message,
                        count=False,
                    )
                plan.outcome.rejected += 1
                continue
            phone_enc = unit["principal_phone_enc"]
            if "principal_phone" in after:
                phone_enc = self.vault.seal(after["principal_phone"])
            new = {**unit, **{name: after[name] for name in SHEET_SCALARS}, "principal_phone_enc": phone_enc}
            new |= {"version": unit["version"] + 1, "updated_at": now}
            w.unit_updates.append(
                {f"b_{name}": new[name] for name in (*SHEET_SCALARS, "principal_phone_enc")}
                | {
                    "b_id": unit["id"],
                    "b_version": unit["version"],
                    "b_new_version": new["version"],
                    "b_updated_at": now,
                }
            )
            if after["product_categories"] != before["product_categories"]:
                w.replace_categories.append(unit["id"])
                w.categories += [
                    {"enterprise_id": unit["id"], "category_code": c} for c in after["product_categories"]
                ]
            if after["certificates"] != before["certificates"]:
                w.replace_certificates.append(unit["id"])
                w.certificates += [
                    {
                        "id": new_id(),
                        "enterprise_id": unit["id"],
                        **c,
                        "valid_from": date.fromisoformat(c["valid_from"]) if c["valid_from"] else None,
                        "valid_until": date.fromisoformat(c["valid_until"]) if c["valid_until"] else None,
                    }
                    for c in after["certificates"]
                ]
            old, fresh = dict(before), dict(after)
            if "principal_phone" in fresh:  # only "it changed" goes into the trail (audit.diff redacts *_enc)
                old["principal_phone_enc"], fresh["principal_phone_enc"] = "old", "new"
                del old["principal_phone"], fresh["principal_phone"]
            w.audit.append(
                audit_row(self.caller, unit["id"], "imported", audit.diff(old, fresh), self.reason, now)
            )
            w.outbox.append(outbox_row(ENTERPRISE_UPDATED, new, after["product_categories"]))
            plan.outcome.updated += 1

    async def _write(self, session: AsyncSession, w: _Writes) -> None:
        if w.units:
            await session.execute(insert(_ENTERPRISE), w.units)
        if w.unit_updates:
            result = await session.execute(_UPDATE_UNIT, w.unit_updates)
            if self.db.engine.dialect.supports_sane_multi_rowcount and result.rowcount != len(w.unit_updates):  # type: ignore[attr-defined]
                raise _ChunkConflict()
        if w.replace_categories:
            await session.execute(
                delete(ProductCategoryLink).where(ProductCategoryLink.enterprise_id.in_(w.replace_categories))  # type: ignore[attr-defined]
            )
        if w.replace_certificates:
            await session.execute(
                delete(Certificate).where(Certificate.enterprise_id.in_(w.replace_certificates))  # type: ignore[attr-defined]
            )
        if w.categories:
            await session.execute(insert(ProductCategoryLink.__table__), w.categories)  # type: ignore[attr-defined]
        if w.certificates:
            await session.execute(insert(Certificate.__table__), w.certificates)  # type: ignore[attr-defined]
        if w.audit:
            await session.execute(insert(AuditEntry.__table__), w.audit)  # type: ignore[attr-defined]
        if w.outbox:
            await session.execute(insert(OutboxMessage.__table__), w.outbox)  # type: ignore[attr-defined]
            session.info["outbox_dirty"] = True  # the relay publishes once this commits


@dataclass
class _Plan:
    outcome: Outcome
    writes: _Writes

    def reject(
        self, row: Row, column: str, error: type[QSRError] | str, message: str, *, count: bool = True
    ) -> None:
        code = error if isinstance(error, str) else error.code
        self.outcome.errors.append(RowError(row.number, column, code, message, row.uscc_text))
        if count:
            self.outcome.rejected += 1

    @property
    def errors(self) -> list[RowError]:
        return self.outcome.errors


async def import_sheet(
    *, db: Database, caller: Caller, settings: Settings, upload: UploadFile, dry_run: bool
) -> ImportJob:
    """批量导入: check every row, write the good ones in chunks; returns the job with its totals (its
    errors are stored as ``import_error`` rows)."""
    if not caller.is_regulator:
        raise service.RegulatorOnly("企业用户请通过“企业填报”提交本单位信息")
    if upload.size is not None and upload.size > IMPORT_MAX_BYTES:
        raise ImportFileTooLarge(f"导入文件不能超过 {IMPORT_MAX_BYTES // 1024 // 1024} MB，请分批导入")
    kind = await asyncio.to_thread(sniff, upload)
    filename = re.split(r"[\\/]", upload.filename or "")[-1][-200:] or f"import.{kind}"
    reader = partial(RowReader, caller=caller, today=today_cn(), settings=settings)
    source = await asyncio.to_thread(open_source, upload, kind, reader)
    try:
        present = await source.start()
        return await _import_rows(
            db=db,
            caller=caller,
            settings=settings,
            filename=filename,
            dry_run=dry_run,
            source=source,
            present=present,
        )
    finally:
        await source.close()


async def _import_rows(
    *,
    db: Database,
    caller: Caller,
    settings: Settings,
    filename: str,
    dry_run: bool,
    source: ThreadSource | ProcessSource,
    present: frozenset[str],
) -> ImportJob:
    job = ImportJob(
        id=new_id(),
        filename=filename,
        dry_run=dry_run,
        status="running",
        created_by=caller.username,
        region_code=caller.region_code,
        created_at=utcnow(),
    )
    async with db.transaction() as session:
        session.add(job)
    importer = Importer(db, caller, settings, job, present)
    total = 0
    running: list[asyncio.Task[None]] = []
    try:
        async with aclosing(source.chunks()) as chunks:
            async for chunk in chunks:
                total += len(chunk)
                # A chunk is looked up and planned while the one before it is written (two transactions at
                # most): their USCCs never overlap, a repeated USCC being rejected where rows are read.
                running.append(asyncio.create_task(importer.run_chunk(chunk)))
                if len(running) == 2:
                    await running.pop(0)
        while running:
            await running.pop(0)
    except BaseException:
        for task in running:
            task.cancel()
        await asyncio.gather(*running, return_exceptions=True)
        async with db.transaction() as session:
            await session.execute(
                update(ImportJob).where(ImportJob.id == job.id).values(status="failed", total_rows=total)  # type: ignore[arg-type]
            )
        raise
    o = importer.outcome
    job.status, job.total_rows = "done", total
    job.created, job.updated, job.unchanged, job.rejected = o.created, o.updated, o.unchanged, o.rejected
    async with db.transaction() as session:
        await session.execute(
            update(ImportJob)
            .where(ImportJob.id == job.id)  # type: ignore[arg-type]
            .values(
                status=job.status,
                total_rows=total,
                created=o.created,
                updated=o.updated,
                unchanged=o.unchanged,
                rejected=o.rejected,
            )
        )
    return job
