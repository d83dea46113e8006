"""制度文件 and attachments of a unit.

Adopted documents — 《质量安全总监职责》, 《质量安全员守则》, 《主要负责人质量安全职责》 and the
质量安全风险管控清单 (its risk points and their controls) — are versioned per unit and kind: each adoption is a
new version, the latest is in force, the older ones stay readable.

Attachments are stored on local disk under ``settings.attachments_path``, addressed by their SHA-256
(``ab/cd/<sha256>``). Every upload gets its own row (its filename, uploader and unit), while the same content
is stored once: a second upload of the same bytes only adds a row pointing at the stored file. Stored files
are never deleted (no row is); a file written whose row then failed to commit stays as an unreferenced blob,
harmless and reused by the next upload of the same content.
"""

from __future__ import annotations

import asyncio
import json
from datetime import date
from enum import StrEnum
from pathlib import Path, PurePath
from typing import Annotated, Any

from fastapi import APIRouter, File, Query, Request, UploadFile
from fastapi.responses import FileResponse
from pydantic import BaseModel, Field, StringConstraints
from sqlalchemy import func, select
from sqlalchemy.exc import IntegrityError
from sqlalchemy.ext.asyncio import AsyncSession

from services.common import files
from services.common.app import DbDep
from services.common.auth import Caller, CallerDep
from services.common.db import UTCDateTime, today_cn, utcnow
from services.common.errors import Conflict, Invalid, NotFound, QSRError
from services.common.events import RISK_CONTROL_LIST_ADOPTED, RiskControlListAdopted
from services.common.events import RiskPoint as EventRiskPoint
from services.common.ids import new_id
from services.common.messaging import emit
from services.common.pagination import MAX_LIMIT, Page, keyset
from services.common.settings import Settings
from services.registry import audit
from services.registry.models import AdoptedDocument, Attachment, Enterprise
from services.registry.people.service import require_keeper, require_reader

router = APIRouter(tags=["documents 制度文件与附件"])


class DocumentKind(StrEnum):
    director_duties = "director_duties"  # 《质量安全总监职责》
    officer_code = "officer_code"  # 《质量安全员守则》
    principal_duties = "principal_duties"  # 《主要负责人质量安全职责》
    risk_control_list = "risk_control_list"  # 质量安全风险管控清单


DOCUMENT_NAMES = {
    "director_duties": "《质量安全总监职责》",
    "officer_code": "《质量安全员守则》",
    "principal_duties": "《主要负责人质量安全职责》",
    "risk_control_list": "质量安全风险管控清单",
}


# ------------------------------------------------------------------------------------------------ errors


class DocumentNotFound(NotFound):
    code, title = "DOCUMENT_NOT_FOUND", "制度文件不存在"


class RiskPointsRequired(Invalid):
    code, title = "RISK_POINTS_REQUIRED", "质量安全风险管控清单须列明风险点及其管控措施"


class RiskPointsNotAllowed(Invalid):
    code, title = "RISK_POINTS_NOT_ALLOWED", "只有质量安全风险管控清单填写风险点"


class DocumentDateInvalid(Invalid):
    code, title = "DOCUMENT_DATE_INVALID", "制度文件的通过日期有误"


class DocumentAttachmentUnknown(Invalid):
    code, title = "DOCUMENT_ATTACHMENT_UNKNOWN", "附件不存在或不属于本单位"


class DocumentVersionConflict(Conflict):
    code, title = "DOCUMENT_VERSION_CONFLICT", "同时有另一版本在提交，请刷新后重试"


class AttachmentNotFound(NotFound):
    code, title = "ATTACHMENT_NOT_FOUND", "附件不存在"


class AttachmentTooLarge(QSRError):
    status, code, title = 413, "ATTACHMENT_TOO_LARGE", "附件超过大小上限"


class AttachmentTypeNotAllowed(Invalid):
    code, title = "ATTACHMENT_TYPE_NOT_ALLOWED", "不支持的附件类型"


class AttachmentContentMismatch(Invalid):
    code, title = "ATTACHMENT_CONTENT_MISMATCH", "附件内容与声明的类型不符"


class AttachmentEmpty(Invalid):
    code, title = "ATTACHMENT_EMPTY", "附件为空"


# ------------------------------------------------------------------------------------------------ schemas

Text = Annotated[str, StringConstraints(strip_whitespace=True, min_length=1, max_length=200)]
LongText = Annotated[str, StringConstraints(strip_whitespace=True, min_length=1, max_length=2000)]


class RiskPoint(BaseModel):
    """One line of the 质量安全风险管控清单: a key risk point, its controls and who answers for it."""

    point: Text = Field(description="风险点")
    controls: LongText = Field(description="管控措施")
    responsible: Annotated[str, StringConstraints(strip_whitespace=True, min_length=1, max_length=100)] = (
        Field(description="责任人或责任岗位")
    )


class DocumentAdopt(BaseModel):
    kind: DocumentKind = Field(
        description="director_duties 质量安全总监职责 / officer_code 质量安全员守则 / "
        "principal_duties 主要负责人质量安全职责 / risk_control_list 质量安全风险管控清单"
    )
    title: Text
    adopted_on: date = Field(description="通过（印发）日期")
    attachment_id: str | None = Field(default=None, max_length=36, description="文件正文（先上传附件）")
    risk_points: list[RiskPoint] = Field(
        default_factory=list, max_length=1000, description="风险管控清单的风险点"
    )


class DocumentPublic(BaseModel):
    id: str
    enterprise_id: str
    kind: DocumentKind
    version: int
    title: str
    adopted_on: date
    attachment_id: str | None
    risk_points: list[RiskPoint]
    created_by: str
    created_at: UTCDateTime


class AttachmentPublic(BaseModel):
    id: str
    enterprise_id: str
    sha256: str
    size: int
    content_type: str
    filename: str
    uploaded_by: str
    created_at: UTCDateTime


# ------------------------------------------------------------------------------------------------ documents


def _present(document: AdoptedDocument) -> DocumentPublic:
    return DocumentPublic(
        **document.model_dump(exclude={"content"}), risk_points=json.loads(document.content or "[]")
    )


async def adopt(
    *, session: AsyncSession, caller: Caller, enterprise_id: str, data: DocumentAdopt
) -> AdoptedDocument:
    """A new version of one of the unit's documents (the previous highest version + 1)."""
    enterprise = await require_keeper(session, caller, enterprise_id)
    if data.kind == DocumentKind.risk_control_list and not data.risk_points:
        raise RiskPointsRequired("请至少列明一个风险点及其管控措施、责任人", field="risk_points")
    if data.kind != DocumentKind.risk_control_list and data.risk_points:
        raise RiskPointsNotAllowed(f"{DOCUMENT_NAMES[data.kind]}不填写风险点", field="risk_points")
    if data.adopted_on > today_cn():
        raise DocumentDateInvalid("通过日期不能晚于今天", field="adopted_on")
    if data.attachment_id is not None:
        attachment = await session.get(Attachment, data.attachment_id)
        if attachment is None or attachment.enterprise_id != enterprise.id:
            raise DocumentAttachmentUnknown(
                f"附件 {data.attachment_id} 不存在或不属于本单位", field="attachment_id"
            )
    # Serialise versions of one unit (PostgreSQL row lock); the unique constraint catches the rest.
    await session.execute(select(Enterprise.id).where(Enterprise.id == enterprise.id).with_for_update())
    latest = (
        await session.execute(
            select(func.max(AdoptedDocument.version)).where(
                AdoptedDocument.enterprise_id == enterprise.id, AdoptedDocument.kind == data.kind.value
            )
        )
    ).scalar_one()
    document = AdoptedDocument(
        id=new_id(),
        enterprise_id=enterprise.id,
        kind=data.kind.value,
        version=(latest or 0) + 1,
        title=data.title,
        adopted_on=data.adopted_on,
        content=json.dumps([p.model_dump() for p in data.risk_points], ensure_ascii=False),
        attachment_id=data.attachment_id,
        created_by=caller.username,
        created_at=utcnow(),
    )
    session.add(document)
    audit.record(
        session,
        caller,
        enterprise_id=enterprise.id,
        entity="document",
        entity_id=document.id,
        action="adopted",
        changes=audit.diff(
            {},
            {
                "kind": document.kind,
                "version": document.version,
                "title": document.title,
                "adopted_on": document.adopted_on,
                "attachment_id": document.attachment_id,
                "risk_points": len(data.risk_points) or None,
            },
        ),
        reason=f"通过{DOCUMENT_NAMES[data.kind]}第 {document.version} 版",
    )
    if data.kind == DocumentKind.risk_control_list:
        enterprise.has_risk_control_list = True
        # Inspection adds the unit's own risk points to its checklist (template item 6 / 5).
        emit(
            session,
            RISK_CONTROL_LIST_ADOPTED,
            RiskControlListAdopted(
                enterprise_id=enterprise.id,
                version=document.version,
                adopted_on=document.adopted_on,
                points=[EventRiskPoint(point=p.point, controls=p.controls) for p in data.risk_points],
            ),
            region=enterprise.region_code,
            enterprise_id=enterprise.id,
        )
    enterprise.updated_at = utcnow()
    try:
        await session.flush()
    except IntegrityError as exc:
        raise DocumentVersionConflict() from exc
    return document


async def documents_of(
    session: AsyncSession, enterprise_id: str, *, all_versions: bool
) -> list[AdoptedDocument]:
    stmt = select(AdoptedDocument).where(AdoptedDocument.enterprise_id == enterprise_id)
    if not all_versions:
        newest = (
            select(AdoptedDocument.kind, func.max(AdoptedDocument.version).label("version"))
            .where(AdoptedDocument.enterprise_id == enterprise_id)
            .group_by(AdoptedDocument.kind)
            .subquery()
        )
        stmt = stmt.join(
            newest, (AdoptedDocument.kind == newest.c.kind) & (AdoptedDocument.version == newest.c.version)
        )
    stmt = stmt.order_by(AdoptedDocument.kind, AdoptedDocument.version.desc())  # type: ignore[attr-defined]
    return list((await session.execute(stmt)).scalars().all())


async def current_risk_points(session: AsyncSession, enterprise_id: str) -> list[dict[str, Any]]:
    """The risk points of the unit's 质量安全风险管控清单 in force (its latest version); [] without one.
    Self-checks and inspection checklists check against these."""
    stmt = (
        select(AdoptedDocument.content)
        .where(
            AdoptedDocument.enterprise_id == enterprise_id,
            AdoptedDocument.kind == DocumentKind.risk_control_list.value,
        )
        .order_by(AdoptedDocument.version.desc())  # type: ignore[attr-defined]
        .limit(1)
    )
    content = (await session.execute(stmt)).scalar_one_or_none()
    return list(json.loads(content)) if content else []


# ------------------------------------------------------------------------------------------------ attachments

_CHUNK = 1024 * 1024


def _clean_filename(name: str | None) -> str:
    base = PurePath((name or "").replace("\\", "/")).name
    base = "".join(ch for ch in base if ch.isprintable()).strip()
    return base[-200:] or "附件"


def _human(size: int) -> str:
    return f"{size / 1024 / 1024:.1f} MB" if size >= 1024 * 1024 else f"{size / 1024:.0f} KB"


async def store_upload(upload: UploadFile, settings: Settings) -> tuple[str, int, str, str]:
    """Stream an upload to a temporary file while hashing it, then move it to its content address.

    Returns (sha256, size, content type, storage key). Refuses a type not allowed, content not matching its
    type, an empty file and one over the size limit; nothing stays on disk when it refuses."""
    content_type = (upload.content_type or "").split(";")[0].strip().lower()
    if content_type not in settings.attachment_content_types:
        raise AttachmentTypeNotAllowed(
            f"不支持 {content_type or '未知'} 类型的附件，可上传 PDF、JPEG、PNG、Word（.docx）或 Excel（.xlsx）",
            field="file",
        )
    limit = settings.attachment_max_bytes

    def too_large() -> AttachmentTooLarge:
        return AttachmentTooLarge(f"附件不能超过 {_human(limit)}", max_bytes=limit)

    if upload.size is not None and upload.size > limit:
        raise too_large()
    refusals = files.Refusals(
        too_large=too_large,
        empty=lambda: AttachmentEmpty("上传的文件为空", field="file"),
        content_mismatch=lambda declared: AttachmentContentMismatch(
            f"文件内容不是声明的 {declared} 格式", field="file"
        ),
    )
    root = settings.attachments_path
    received = await files.receive(
        files.chunks_of(upload, _CHUNK),
        root=root,
        content_type=content_type,
        max_bytes=limit,
        refusals=refusals,
    )
    await files.keep(root, received)
    return received.sha256, received.size, content_type, received.key


def stored_path(settings: Settings, attachment: Attachment) -> Path:
    path = files.stored_path(settings.attachments_path, attachment.storage_key)
    if path is None:
        raise AttachmentNotFound("附件存储位置无效")
    return path


async def _attachment_of(session: AsyncSession, enterprise_id: str, attachment_id: str) -> Attachment:
    attachment = await session.get(Attachment, attachment_id)
    if attachment is None or attachment.enterprise_id != enterprise_id:
        raise AttachmentNotFound(f"本单位没有编号为 {attachment_id} 的附件")
    return attachment


# ------------------------------------------------------------------------------------------------ routes

_DOCUMENTS = "/enterprises/{enterprise_id}/documents"
_ATTACHMENTS = "/enterprises/{enterprise_id}/attachments"


@router.post(
    _DOCUMENTS,
    status_code=201,
    response_model=DocumentPublic,
    summary="通过制度文件新版本（总监职责、安全员守则、主要负责人职责、风险管控清单）",
)
async def adopt_document(
    enterprise_id: str, body: DocumentAdopt, db: DbDep, caller: CallerDep
) -> DocumentPublic:
    try:
        async with db.transaction() as session:
            document = await adopt(session=session, caller=caller, enterprise_id=enterprise_id, data=body)
            shown = _present(document)
    except IntegrityError as exc:  # a concurrent adoption took the same version number
        raise DocumentVersionConflict() from exc
    return shown


@router.get(_DOCUMENTS, response_model=list[DocumentPublic], summary="制度文件（默认每类最新版本）")
async def list_documents(
    enterprise_id: str,
    db: DbDep,
    caller: CallerDep,
    all_versions: Annotated[bool, Query(description="列出全部历史版本")] = False,
) -> list[DocumentPublic]:
    async with db.session() as session:
        await require_reader(session, caller, enterprise_id)
        documents = await documents_of(session, enterprise_id, all_versions=all_versions)
    return [_present(d) for d in documents]


@router.get(_DOCUMENTS + "/{document_id}", response_model=DocumentPublic, summary="制度文件的某一版本")
async def get_document(enterprise_id: str, document_id: str, db: DbDep, caller: CallerDep) -> DocumentPublic:
    async with db.session() as session:
        await require_reader(session, caller, enterprise_id)
        document = await session.get(AdoptedDocument, document_id)
    if document is None or document.enterprise_id != enterprise_id:
        raise DocumentNotFound(f"本单位没有编号为 {document_id} 的制度文件")
    return _present(document)


@router.post(_ATTACHMENTS, status_code=201, response_model=AttachmentPublic, summary="上传附件")
async def upload_attachment(
    enterprise_id: str,
    db: DbDep,
    caller: CallerDep,
    request: Request,
    file: Annotated[UploadFile, File(description="PDF、JPEG、PNG、Word（.docx）或 Excel（.xlsx）")],
) -> AttachmentPublic:
    settings = request.app.state.settings
    # Check the caller before anything touches the disk; the row is written in a short transaction after.
    async with db.session() as session:
        await require_keeper(session, caller, enterprise_id)
    sha256, size, content_type, key = await store_upload(file, settings)
    async with db.transaction() as session:
        enterprise = await require_keeper(session, caller, enterprise_id)
        attachment = Attachment(
            id=new_id(),
            enterprise_id=enterprise.id,
            sha256=sha256,
            size=size,
            content_type=content_type,
            filename=_clean_filename(file.filename),
            storage_key=key,
            uploaded_by=caller.username,
            created_at=utcnow(),
        )
        session.add(attachment)
        audit.record(
            session,
            caller,
            enterprise_id=enterprise.id,
            entity="attachment",
            entity_id=attachment.id,
            action="uploaded",
            changes=audit.diff({}, {"filename": attachment.filename, "sha256": sha256, "size": size}),
        )
        return AttachmentPublic.model_validate(attachment, from_attributes=True)


@router.get(_ATTACHMENTS, response_model=Page[AttachmentPublic], summary="本单位的附件（按上传先后，分页）")
async def list_attachments(
    enterprise_id: str,
    db: DbDep,
    caller: CallerDep,
    cursor: str | None = None,
    limit: Annotated[int, Query(ge=1, le=MAX_LIMIT)] = 100,
) -> Page[AttachmentPublic]:
    async with db.session() as session:
        await require_reader(session, caller, enterprise_id)
        stmt = select(Attachment).where(Attachment.enterprise_id == enterprise_id)
        rows, next_cursor = await keyset(session, stmt, Attachment.id, cursor=cursor, limit=limit)  # type: ignore[arg-type]
    return Page[AttachmentPublic](
        items=[AttachmentPublic.model_validate(row, from_attributes=True) for row in rows],
        next_cursor=next_cursor,
    )


@router.get(
    _ATTACHMENTS + "/{attachment_id}",
    response_class=FileResponse,
    responses={200: {"content": {"application/octet-stream": {}}, "description": "附件内容"}},
    summary="下载附件",
)
async def download_attachment(
    enterprise_id: str, attachment_id: str, db: DbDep, caller: CallerDep, request: Request
) -> FileResponse:
    async with db.session() as session:
        await require_reader(session, caller, enterprise_id)
        attachment = await _attachment_of(session, enterprise_id, attachment_id)
    path = stored_path(request.app.state.settings, attachment)
    if not await asyncio.to_thread(path.is_file):
        raise AttachmentNotFound("附件文件已丢失，请联系系统管理员")
    return FileResponse(
        path,
        media_type=attachment.content_type,
        filename=attachment.filename,
        headers={
            "ETag": f'"{attachment.sha256}"',
            "X-Content-Type-Options": "nosniff",
            "Cache-Control": "private, max-age=0",
        },
    )
