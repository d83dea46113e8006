"""Writing an import: every row of the sheet looked up in one query (per 500 codes), then one executemany per
table for the new questions, their versions and the changed ones. A row whose content is unchanged writes
nothing."""

from __future__ import annotations

import asyncio
import os
from typing import Any

from fastapi import UploadFile
from sqlalchemy import insert, update
from sqlalchemy.exc import IntegrityError

from services.common.auth import Caller
from services.common.db import Database, utcnow
from services.common.ids import new_ids
from services.common.sheets import sheet_rows, sniff
from services.exam.bank import repository, rules, service
from services.exam.bank.errors import ImportConflict, ImportTooLarge, QuestionRetired
from services.exam.bank.schemas import ImportErrorPublic, ImportReport
from services.exam.bank.sheet import RowError, SheetQuestion, read_questions
from services.exam.models import CONTENT_COLUMNS, Question, QuestionVersion

MAX_IMPORT_BYTES = 8 * 1024 * 1024  # a bank of tens of thousands of questions; more is not a bank
ERRORS_IN_REPORT = 1000


def _read(upload: UploadFile) -> tuple[list[SheetQuestion], list[RowError]]:
    size = upload.size if upload.size is not None else upload.file.seek(0, os.SEEK_END)
    upload.file.seek(0)
    if size > MAX_IMPORT_BYTES:
        raise ImportTooLarge(f"导入文件不能超过 {MAX_IMPORT_BYTES // (1024 * 1024)} MB")
    kind = sniff(upload)
    return read_questions(sheet_rows(upload.file, kind))


async def import_questions(*, db: Database, caller: Caller, upload: UploadFile) -> ImportReport:
    """Import a sheet into the caller's bank; the report counts what changed and lists every bad row."""
    owner = service.owner_for(caller)
    good, errors = await asyncio.to_thread(_read, upload)
    created: list[dict[str, Any]] = []
    changed: list[dict[str, Any]] = []
    versions: list[dict[str, Any]] = []
    unchanged = 0
    try:
        async with db.transaction(immediate=True) as session:
            existing = await repository.by_codes(session, owner, [q.code for q in good])
            now = utcnow()
            ids = iter(new_ids(len(good)))
            for item in good:
                content = rules.columns(item.draft)
                known = existing.get(item.code)
                if known is None:
                    row = {
                        "id": next(ids),
                        "owner_region": owner,
                        "code": item.code,
                        "version": 1,
                        "status": "active",
                        "created_by": caller.username,
                        "created_at": now,
                        "updated_by": caller.username,
                        "updated_at": now,
                        "retired_by": None,
                        "retired_at": None,
                        **content,
                    }
                    created.append(row)
                elif known.status == "retired":
                    errors.append(
                        RowError(
                            item.row,
                            "题目编号",
                            QuestionRetired.code,
                            f"题目 {item.code} 已停用，不能再导入修改",
                            item.code,
                        )
                    )
                    continue
                elif known.content_sha256 == content["content_sha256"]:
                    unchanged += 1
                    continue
                else:
                    row = {
                        "id": known.id,
                        "version": known.version + 1,
                        "updated_by": caller.username,
                        "updated_at": now,
                        **content,
                    }
                    changed.append(row)
                versions.append(
                    {
                        **{name: row[name] for name in CONTENT_COLUMNS},
                        "question_id": row["id"],
                        "version": row["version"],
                        "created_by": caller.username,
                        "created_at": now,
                    }
                )
            if created:
                await session.execute(insert(Question), created)
            if changed:
                await session.execute(update(Question), changed)  # by primary key, one executemany
            if versions:
                await session.execute(insert(QuestionVersion), versions)
    except IntegrityError as exc:  # another import made the same code meanwhile
        raise ImportConflict() from exc
    errors.sort(key=lambda e: (e.row, e.column))
    return ImportReport(
        rows=len({q.row for q in good} | {e.row for e in errors}),
        created=len(created),
        new_versions=len(changed),
        unchanged=unchanged,
        rejected=len({e.row for e in errors}),
        errors=[ImportErrorPublic(**e.__dict__) for e in errors[:ERRORS_IN_REPORT]],
    )
