"""The import writer: each chunk of checked rows planned against the ledger and written in one transaction."""

from __future__ import annotations

import asyncio
import re
from contextlib import aclosing
from dataclasses import dataclass, field
from datetime import date, datetime
from functools import partial
from types import SimpleNamespace
from typing import Any

from fastapi import UploadFile
from sqlalchemy import update
from sqlalchemy.exc import IntegrityError
from sqlalchemy.ext.asyncio import AsyncSession

from services.common.auth import Caller
from services.common.db import Database, today_cn, utcnow
from services.common.errors import QSRError
from services.common.events import ENTERPRISE_REGISTERED, ENTERPRISE_UPDATED
from services.common.ids import new_id, new_ids
from services.common.settings import Settings
from services.common.sheets import sniff
from services.registry import audit, pii, service
from services.registry import repository as service_repository
from services.registry.models import (
    ImportJob,
)
from services.registry.schemas import CertificateIn, LedgerFields
from services.registry.transfer import records, repository
from services.registry.transfer.errors import ImportFileTooLarge, UnitOutOfJurisdiction, WriteConflict
from services.registry.transfer.files import ProcessSource, ThreadSource, open_source
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


def _reason(filename: str) -> str:
    return f"批量导入 {filename}"[:500]


@dataclass
class Outcome:
    created: int = 0
    updated: int = 0
    unchanged: int = 0
    rejected: int = 0
    errors: list[RowError] = field(default_factory=list)


class Importer:
    """One import: reads the sheet in chunks, plans each chunk against the ledger, writes it in one
    transaction with set-based statements (units, children, audit entries and outbox rows)."""

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
                await repository.write(session, plan.writes)
                await self._insert_errors(session, errors + plan.errors)
            self._count(plan)
        except (IntegrityError, repository.UnitsChanged):
            # Someone entered or changed one of these units meanwhile: redo each row on its own.
            await self._save_errors(errors)
            for row in good:
                await self._run_alone(row)

    async def _run_alone(self, row: Row) -> None:
        try:
            async with self.db.transaction() as session:
                plan = await self._plan(session, [row], Outcome(), lock=True)
                await repository.write(session, plan.writes)
                await self._insert_errors(session, plan.errors)
            self._count(plan)
        except (IntegrityError, repository.UnitsChanged):
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
        await repository.insert_errors(session, [e.record(self.job.id) for e in errors])

    # -------------------------------------------------------------------------------------- planning

    async def _plan(
        self, session: AsyncSession, rows: list[Row], outcome: Outcome, lock: bool = False
    ) -> _Plan:
        plan = _Plan(outcome=outcome, writes=repository.Writes())
        if not rows:
            return plan
        stored = await repository.stored(session, [row.uscc or "" for row in rows], lock=lock)
        now = utcnow()
        new: list[Row] = []
        changed: list[tuple[Row, dict[str, Any], dict[str, Any], dict[str, Any]]] = []
        for row in rows:
            unit = stored.units.get(row.uscc or "")
            if unit is None:
                new.append(row)
                continue
            if not service_repository.supervises(self.caller, SimpleNamespace(**unit)):  # type: ignore[arg-type]
                plan.reject(
                    row,
                    HEADER_OF["uscc"],
                    UnitOutOfJurisdiction,
                    f"统一社会信用代码 {row.uscc} 的单位已在台账中，但注册地不在您的管辖范围内，不能通过导入修改",
                )
                continue
            before, after = self._compare(
                row, unit, stored.categories[unit["id"]], stored.certificates[unit["id"]]
            )
            if before == after:
                plan.outcome.unchanged += 1
            else:
                changed.append((row, unit, before, after))
        if new:
            self._plan_new(plan, new, now)
        if changed:
            await self._plan_changes(session, plan, changed, now)
        return plan

    def _plan_new(self, plan: _Plan, rows: list[Row], now: datetime) -> None:
        w = plan.writes
        entries = [row.entry for row in rows if row.entry is not None]
        ids = iter(new_ids(2 * len(entries) + sum(len(e.certificates) for e in entries)))  # units, audit
        phones = iter(self.vault.seal_many([e.phone for e in entries if e.phone is not None]))
        caller, reason = self.caller, self.reason
        for entry in entries:
            unit_id = next(ids)
            phone_enc = next(phones) if entry.phone is not None else None
            unit = records.new_unit(entry, unit_id=unit_id, phone_enc=phone_enc, caller=caller, now=now)
            certificates = [{"id": next(ids), "enterprise_id": unit_id, **c} for c in entry.certificates]
            w.units.append(unit)
            w.categories += [{"enterprise_id": unit_id, "category_code": code} for code in entry.categories]
            w.certificates += certificates
            changes = records.registered_changes(unit, entry.categories, certificates)
            w.audit.append(
                records.audit_row(caller, unit_id, "registered", changes, reason, now, entry_id=next(ids))
            )
            w.outbox.append(records.outbox_row(ENTERPRISE_REGISTERED, unit, entry.categories))
        plan.outcome.created += len(entries)

    def _compare(
        self, row: Row, unit: dict[str, Any], categories: list[str], certificates: list[dict[str, Any]]
    ) -> tuple[dict[str, Any], dict[str, Any]]:
        """What the unit holds, and what it would hold after this row (the fields the sheet carries)."""
        new = row.entry
        assert new is not None
        before: dict[str, Any] = {name: unit[name] for name in SHEET_SCALARS}
        before["product_categories"] = categories
        before["certificates"] = sorted(
            (records.cert_snapshot(c) for c in certificates), key=records.cert_key
        )
        after = dict(before)
        for name in SHEET_SCALARS:
            if name in self.present:
                after[name] = new.columns[name]
        if "product_categories" in self.present:
            after["product_categories"] = new.categories
        kinds = {kind for kind, (numbers, _) in CERT_COLUMNS.items() if numbers in self.present}
        if kinds:
            kept = {records.cert_key(c): c for c in before["certificates"]}
            merged = [c for c in before["certificates"] if c["kind"] not in kinds]
            for cert in new.certificates:
                old = kept.get(records.cert_key(cert), {})
                merged.append(
                    {
                        "kind": cert["kind"],
                        "number": cert["number"],
                        "category_code": old.get("category_code"),
                        "valid_from": old.get("valid_from"),
                        "valid_until": str(cert["valid_until"]) if cert["valid_until"] else None,
                    }
                )
            after["certificates"] = sorted(merged, key=records.cert_key)
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
        sites = await repository.sites_of(session, [unit["id"] for _, unit, _, _ in changed])
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
                records.audit_row(
                    self.caller,
                    unit["id"],
                    "imported",
                    audit.diff(old, fresh),
                    self.reason,
                    now,
                    entry_id=new_id(),
                )
            )
            w.outbox.append(records.outbox_row(ENTERPRISE_UPDATED, new, after["product_categories"]))
            plan.outcome.updated += 1


@dataclass
class _Plan:
    outcome: Outcome
    writes: repository.Writes

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
