"""Evidence files (证据/证明材料) of inspections and rectifications: one upload and one download for both.

``PUT …/evidence/{file_id}`` takes a JPEG, PNG or PDF as the raw body or the multipart field ``file``, with a
file id the client made (a UUID), so a retry is the same file. The body is streamed to a temporary file
under ``attachments_path/inspection`` while hashed, then moved to its content address; over
``attachment_max_bytes`` → 413, another type or content not of its type → 422, a digest header
(``Content-SHA256`` hex, ``Digest: sha-256=<base64>`` or ``Repr-Digest``/``Content-Digest:
sha-256=:<base64>:``) that does not match → 422; nothing stays on disk when refused. The same file id with
the same content again → 200 (no change); with other content → 409.

Each owner says who may add to it and whether it is still open (an ``Admit`` check); a file already kept for
that owner may always be sent again, so a client's retry after the owner closed is harmless.
"""

from __future__ import annotations

import asyncio
import base64
import binascii
import re
import uuid
from collections.abc import Awaitable, Callable
from datetime import UTC, datetime
from pathlib import Path
from typing import Annotated, Any

from fastapi import Depends, Header, Query, Request, Response
from fastapi.responses import FileResponse
from pydantic import BaseModel
from sqlalchemy.exc import IntegrityError
from sqlalchemy.ext.asyncio import AsyncSession
from starlette.datastructures import UploadFile

from services.common import files
from services.common.app import DbDep
from services.common.auth import Caller, CallerDep
from services.common.db import CHINA, UTCDateTime, utcnow
from services.common.errors import Conflict, Invalid, NotFound, QSRError
from services.common.settings import Settings
from services.inspection.models import EvidenceFile

# What may be sent; each must start with its signature (``files.SIGNATURES``).
TYPES = ("application/pdf", "image/jpeg", "image/png")
_HEX = re.compile(r"^[0-9a-fA-F]{64}$")
_CHUNK = 256 * 1024
_OWNER_NAMES = {"inspection": "检查", "rectification": "整改"}

# ``Admit(session, caller, owner_id, retry)``: load the owner as the caller may see it (its 404 otherwise),
# refuse a caller who may not add to it (403) and, unless ``retry`` (the file id is already kept for this
# owner), an owner that no longer takes evidence (409). Run before the body is read, and again in the
# transaction that keeps the file.
Admit = Callable[[AsyncSession, Caller, str, bool], Awaitable[object]]
# ``Find(session, caller, owner_id)``: load the owner as the caller may see it, or raise its 404.
Find = Callable[[AsyncSession, Caller, str], Awaitable[object]]


# ------------------------------------------------------------------------------------------------- errors


class EvidenceNotFound(NotFound):
    code, title = "EVIDENCE_NOT_FOUND", "证据文件不存在"


class EvidenceTooLarge(QSRError):
    status, code, title = 413, "EVIDENCE_TOO_LARGE", "证据文件超过大小上限"


class EvidenceTypeNotAllowed(Invalid):
    code, title = "EVIDENCE_TYPE_NOT_ALLOWED", "不支持的证据文件类型"


class EvidenceContentMismatch(Invalid):
    code, title = "EVIDENCE_CONTENT_MISMATCH", "文件内容与声明的类型不符"


class EvidenceEmpty(Invalid):
    code, title = "EVIDENCE_EMPTY", "上传的文件为空"


class EvidenceDigestInvalid(Invalid):
    code, title = "EVIDENCE_DIGEST_INVALID", "摘要请求头格式无效"


class EvidenceDigestMismatch(Invalid):
    code, title = "EVIDENCE_DIGEST_MISMATCH", "文件内容与摘要不符，可能在传输中损坏，请重新上传"


class EvidenceContentDiffers(Conflict):
    code, title = "EVIDENCE_CONTENT_DIFFERS", "该文件编号已用于内容不同的文件"


# ------------------------------------------------------------------------------------------------ schemas


class EvidenceFilePublic(BaseModel):
    """An evidence file as shown; each owner adds its own id (``inspection_id``, ``rectification_id``)."""

    id: str
    kind: str
    content_type: str
    size: int
    sha256: str
    device_taken_at: UTCDateTime | None
    latitude: float | None
    longitude: float | None
    uploaded_by: str
    created_at: UTCDateTime


def device_datetime(value: datetime) -> datetime:
    """A phone's clock without an offset is Beijing time; stored as UTC (SQLite keeps no offset)."""
    return (value if value.tzinfo else value.replace(tzinfo=CHINA)).astimezone(UTC)


# What every upload route declares besides its response model and summary: the request bodies it takes (for
# OpenAPI; the route reads the body itself), 201 for a new file and 200 for a retry.
_BINARY = {"schema": {"type": "string", "format": "binary"}}
UPLOAD_ROUTE: dict[str, Any] = {
    "status_code": 201,
    "responses": {200: {"description": "the same file was already kept (a retry)"}},
    "openapi_extra": {
        "requestBody": {
            "content": {
                **{content_type: _BINARY for content_type in TYPES},
                "multipart/form-data": {
                    "schema": {"type": "object", "properties": {"file": _BINARY["schema"]}}
                },
            }
        }
    },
}
DOWNLOAD_ROUTE: dict[str, Any] = {
    "response_class": FileResponse,
    "responses": {200: {"content": {content_type: {} for content_type in TYPES}}},
}


# ------------------------------------------------------------------------------------------------ helpers


def root(settings: Settings) -> Path:
    return settings.attachments_path / "inspection"


def expected_digest(content_sha256: str | None, digest: str | None, repr_digest: str | None) -> str | None:
    """The SHA-256 the client announced (hex), from ``Content-SHA256`` (hex), ``Digest: sha-256=<base64>``
    (RFC 3230) or ``Repr-Digest``/``Content-Digest: sha-256=:<base64>:`` (RFC 9530); None when none names it."""
    if content_sha256 is not None:
        if not _HEX.match(content_sha256.strip()):
            raise EvidenceDigestInvalid("Content-SHA256 须为 64 位十六进制 SHA-256")
        return content_sha256.strip().lower()
    for header in (repr_digest, digest):
        if header is None:
            continue
        for part in header.split(","):
            name, _, value = part.strip().partition("=")
            if name.strip().lower() != "sha-256":
                continue
            value = value.strip().strip(":")
            try:
                raw = base64.b64decode(value, validate=True)
            except (binascii.Error, ValueError) as exc:
                raise EvidenceDigestInvalid("sha-256 摘要须为 Base64 编码") from exc
            if len(raw) != 32:
                raise EvidenceDigestInvalid("sha-256 摘要长度不对")
            return raw.hex()
    return None


def _refusals(limit: int) -> files.Refusals:
    return files.Refusals(
        too_large=lambda: EvidenceTooLarge(f"证据文件不能超过 {limit // 1024} KB", max_bytes=limit),
        empty=EvidenceEmpty,
        content_mismatch=lambda declared: EvidenceContentMismatch(f"文件内容不是声明的 {declared} 格式"),
        digest_mismatch=lambda sha256, expected: EvidenceDigestMismatch(
            f"收到内容的 SHA-256 为 {sha256}，与请求头中的 {expected} 不符"
        ),
    )


def _owned_by(existing: EvidenceFile | None, owner_kind: str, owner_id: str) -> bool:
    return existing is not None and existing.owner_kind == owner_kind and existing.owner_id == owner_id


def _kind_of(content_type: str) -> str:
    return "document" if content_type == "application/pdf" else "photo"


async def _body(request: Request) -> tuple[str, UploadFile | None]:
    """The declared type of the file, and its multipart part (None: the raw body is the file)."""
    declared = (request.headers.get("content-type") or "").split(";")[0].strip().lower()
    if declared != "multipart/form-data":
        return declared, None
    form = await request.form(max_files=1, max_fields=5)
    part = form.get("file")
    if not isinstance(part, UploadFile):
        raise Invalid("multipart 请求须在 file 字段中携带文件", field="file")
    return (part.content_type or "").split(";")[0].strip().lower(), part


# ------------------------------------------------------------------------------------------------ routes


class Download:
    """An evidence route's request (a dependency): who asks, and the database."""

    def __init__(self, request: Request, db: DbDep, caller: CallerDep) -> None:
        self.request, self.db, self.caller = request, db, caller

    @property
    def settings(self) -> Settings:
        return self.request.app.state.settings  # type: ignore[no-any-return]

    async def file(self, owner_kind: str, owner_id: str, file_id: str, find: Find) -> FileResponse:
        """The owner's file ``file_id``; the owner's 404 when the caller may not see the owner."""
        try:  # uploads keep the canonical form; a client may ask in upper case
            file_id = str(uuid.UUID(file_id))
        except ValueError:
            raise EvidenceNotFound(f"证据文件编号 {file_id} 无效") from None
        async with self.db.session() as session:
            await find(session, self.caller, owner_id)
            evidence = await session.get(EvidenceFile, file_id)
        if evidence is None or not _owned_by(evidence, owner_kind, owner_id):
            raise EvidenceNotFound(f"该{_OWNER_NAMES.get(owner_kind, '')}没有编号为 {file_id} 的证据文件")
        path = files.stored_path(root(self.settings), evidence.storage_key)
        if path is None:
            raise EvidenceNotFound("证据文件存储位置无效")
        if not await asyncio.to_thread(path.is_file):
            raise EvidenceNotFound("证据文件已丢失，请联系系统管理员")
        return FileResponse(
            path,
            media_type=evidence.content_type,
            headers={
                "ETag": f'"{evidence.sha256}"',
                "X-Content-Type-Options": "nosniff",
                "Cache-Control": "private, max-age=0",
            },
        )


class Upload(Download):
    """An upload's request (a dependency): besides the body, when and where the device took the file, and
    the digest the client announces."""

    def __init__(
        self,
        request: Request,
        response: Response,
        db: DbDep,
        caller: CallerDep,
        taken_at: Annotated[datetime | None, Query(description="设备拍摄时间（无时区时按北京时间）")] = None,
        lat: Annotated[float | None, Query(ge=-90, le=90)] = None,
        lon: Annotated[float | None, Query(ge=-180, le=180)] = None,
        content_sha256: Annotated[str | None, Header(alias="Content-SHA256")] = None,
        digest: Annotated[str | None, Header()] = None,
        repr_digest: Annotated[str | None, Header(alias="Repr-Digest")] = None,
        content_digest: Annotated[str | None, Header(alias="Content-Digest")] = None,
    ) -> None:
        super().__init__(request, db, caller)
        self.response = response
        self.taken_at = device_datetime(taken_at) if taken_at else None
        self.lat, self.lon = lat, lon
        self.headers = (content_sha256, digest, repr_digest or content_digest)

    async def keep(
        self, owner_kind: str, owner_id: str, file_id: str, admit: Admit, kind: str | None = None
    ) -> EvidenceFile:
        """Keep the request's file as ``file_id`` of the owner and return it; a retry of a file already kept
        answers 200 with it, a new file 201. ``kind`` None: a PDF is a document, an image a photo."""
        try:
            file_id = str(uuid.UUID(file_id))
        except ValueError as exc:
            raise Invalid("文件编号须为 UUID", field="file_id") from exc
        db, caller, settings = self.db, self.caller, self.settings
        async with db.session() as session:  # who may, before anything touches the disk
            existing = await session.get(EvidenceFile, file_id)
            await admit(session, caller, owner_id, _owned_by(existing, owner_kind, owner_id))
        expected = expected_digest(*self.headers)
        declared, part = await _body(self.request)
        if declared not in TYPES:
            raise EvidenceTypeNotAllowed(f"不支持 {declared or '未知'} 类型，可上传 JPEG、PNG 或 PDF")
        length = self.request.headers.get("content-length")
        refusals = _refusals(settings.attachment_max_bytes)
        if part is None and length and length.isdigit() and int(length) > settings.attachment_max_bytes:
            raise refusals.too_large()
        store = root(settings)
        received = await files.receive(
            files.chunks_of(part, _CHUNK) if part is not None else self.request.stream(),
            root=store,
            content_type=declared,
            max_bytes=settings.attachment_max_bytes,
            refusals=refusals,
            expected_sha256=expected,
        )
        kept = False
        try:
            # A file id seen above is a retry (or another file's: 409); one that arrives meanwhile under the
            # same id fails the insert below.
            if existing is None:
                await files.keep(store, received)
                kept = True
                evidence = self._record(owner_kind, owner_id, file_id, received, declared, kind)
                try:
                    async with db.transaction() as session:
                        await admit(session, caller, owner_id, False)  # it may have closed meanwhile
                        session.add(evidence)
                    return evidence
                except IntegrityError:  # the same file id arrived twice at once
                    async with db.session() as session:
                        existing = await session.get(EvidenceFile, file_id)
            if (
                existing is None
                or not _owned_by(existing, owner_kind, owner_id)
                or existing.sha256 != received.sha256
            ):
                raise EvidenceContentDiffers(f"文件编号 {file_id} 已用于另一文件；新文件请使用新的编号")
            self.response.status_code = 200
            return existing
        finally:
            if not kept:  # kept: moved to its address already
                await asyncio.to_thread(received.temporary.unlink, missing_ok=True)

    def _record(
        self,
        owner_kind: str,
        owner_id: str,
        file_id: str,
        received: files.Received,
        content_type: str,
        kind: str | None,
    ) -> EvidenceFile:
        return EvidenceFile(
            id=file_id,
            owner_kind=owner_kind,
            owner_id=owner_id,
            kind=kind or _kind_of(content_type),
            sha256=received.sha256,
            size=received.size,
            content_type=content_type,
            storage_key=received.key,
            device_taken_at=self.taken_at,
            latitude=self.lat,
            longitude=self.lon,
            uploaded_by=self.caller.username,
            created_at=utcnow(),
        )


UploadDep = Annotated[Upload, Depends()]
DownloadDep = Annotated[Download, Depends()]
