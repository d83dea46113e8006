"""督查: an upper bureau (province or city) audits a lower one (a city or county in its jurisdiction) item by
item against the 督查清单 (seed 002 附件4 / seed 003 附件4), records 是否落实 and 亮点成效 for each item and
reports the result once every item is answered.

Who sees an audit: the auditing bureau and those above it, and the audited bureau (and those above it),
which reads it but may not change it. Only the auditing bureau itself fills in and reports.
"""

from __future__ import annotations

import json
from datetime import datetime
from typing import Any, Literal

from fastapi import APIRouter, Query
from pydantic import BaseModel, ConfigDict, Field
from sqlalchemy import false, or_, select
from sqlalchemy.ext.asyncio import AsyncSession

from services.common.app import DbDep
from services.common.auth import Caller, CallerDep
from services.common.db import as_utc, utcnow
from services.common.errors import Conflict, Forbidden, Invalid, NotFound
from services.common.events import OVERSIGHT_REPORTED, OversightReported
from services.common.ids import new_id
from services.common.messaging import emit
from services.common.pagination import MAX_LIMIT, Page, keyset
from services.common.regions import is_valid_region, level_of, lookup, prefix_of
from services.inspection.checklists import templates
from services.inspection.models import OversightAudit

router = APIRouter(tags=["oversight 督查"])

# 2025 (a year), 2025-H2 (a half year), 2025-Q4 (a quarter) or 2025-11 (a month).
PERIOD_PATTERN = r"^\d{4}(-(H[12]|Q[1-4]|0[1-9]|1[0-2]))?$"
_RANK = {"province": 0, "city": 1, "county": 2}


# --------------------------------------------------------------------------------------------------- errors


class NotSuperior(Forbidden):
    code, title = "OVERSIGHT_NOT_SUPERIOR", "只能由省、市级市场监管部门督查本辖区内的下级市场监管部门"


class ReadOnly(Forbidden):
    code, title = "OVERSIGHT_READ_ONLY", "只有开展督查的部门可以填写或上报该督查"


class AuditNotFound(NotFound):
    code, title = "OVERSIGHT_AUDIT_NOT_FOUND", "督查记录不存在或不在您的管辖范围内"


class ItemNotFound(NotFound):
    code, title = "OVERSIGHT_ITEM_NOT_FOUND", "督查清单中没有该条目"


class TemplateUnknown(Invalid):
    code, title = "OVERSIGHT_TEMPLATE_UNKNOWN", "督查清单模板不存在"


class RegionUnknown(Invalid):
    code, title = "OVERSIGHT_REGION_UNKNOWN", "被督查部门的行政区划代码无效"


class AuditExists(Conflict):
    code, title = "OVERSIGHT_AUDIT_EXISTS", "本部门已对该部门在该期间开展督查"


class AlreadyReported(Conflict):
    code, title = "OVERSIGHT_AUDIT_REPORTED", "该督查已上报，不能再修改"


class ItemsMissing(Invalid):
    code, title = "OVERSIGHT_ITEMS_MISSING", "尚有督查事项未填写是否落实，不能上报"


# -------------------------------------------------------------------------------------------------- schemas


class AuditCreate(BaseModel):
    model_config = ConfigDict(extra="forbid")

    audited_region: str = Field(pattern=r"^\d{6}$", description="被督查的下级市场监管部门（行政区划代码）")
    period: str = Field(pattern=PERIOD_PATTERN, description="督查期间，如 2025-H2、2025-Q4、2025-11、2025")
    template: str | None = Field(default=None, description="督查清单模板；缺省按被督查部门所在省份")


class ItemUpdate(BaseModel):
    model_config = ConfigDict(extra="forbid")

    implemented: bool | None = Field(default=None, description="是否落实；暂未判断时留空")
    highlights: str = Field(default="", max_length=2000, description="亮点成效")
    note: str = Field(default="", max_length=2000, description="备注")


class AuditItem(BaseModel):
    id: str
    section: str
    text: str
    implemented: bool | None
    highlights: str
    note: str


class AuditPublic(BaseModel):
    id: str
    auditor_region: str
    auditor_name: str
    audited_region: str
    audited_name: str
    period: str
    template: str
    template_version: str
    status: Literal["draft", "reported"]
    implemented: int = Field(description="已落实的事项数")
    answered: int = Field(description="已填写是否落实的事项数")
    total: int
    editable: bool = Field(description="当前用户能否填写、上报")
    reported_at: datetime | None
    created_by: str
    created_at: datetime
    updated_at: datetime
    items: list[AuditItem] | None = Field(default=None, description="督查事项（列表中不返回）")


class MissedItem(BaseModel):
    id: str
    section: str
    text: str
    note: str


class SummaryRow(BaseModel):
    audited_region: str
    audited_name: str
    audit_id: str
    auditor_region: str
    reported_at: datetime
    implemented: int
    total: int
    not_implemented: list[MissedItem]


class PendingAudit(BaseModel):
    audit_id: str
    audited_region: str
    audited_name: str
    answered: int
    total: int


class OversightSummary(BaseModel):
    period: str
    reported: list[SummaryRow] = Field(description="每个被督查部门最近一次上报的督查结果")
    drafts: list[PendingAudit] = Field(description="尚未上报的督查")


# ---------------------------------------------------------------------------------------------------- rules


def _name(code: str) -> str:
    region = lookup(code)
    return region.name if region else code


def may_audit(caller: Caller, audited_region: str) -> bool:
    """督查 goes downwards only: a province or city regulator over a strictly lower bureau of its own region."""
    if not caller.is_regulator or level_of(caller.region_code) not in ("province", "city"):
        return False
    if level_of(audited_region) not in _RANK:
        return False
    lower = _RANK[level_of(audited_region)] > _RANK[level_of(caller.region_code)]
    return lower and caller.can_see(audited_region)


def _visible(caller: Caller):  # type: ignore[no-untyped-def]
    """The audits a caller may read: made by its jurisdiction, or of a bureau in it."""
    if not caller.is_regulator or level_of(caller.region_code) == "station":
        return false()
    prefix = prefix_of(caller.region_code)
    return or_(
        OversightAudit.auditor_region.startswith(prefix),  # type: ignore[attr-defined]
        OversightAudit.audited_region.startswith(prefix),  # type: ignore[attr-defined]
    )


def _items(audit: OversightAudit) -> dict[str, dict[str, Any]]:
    items: dict[str, dict[str, Any]] = json.loads(audit.results)
    return items


def _public(audit: OversightAudit, caller: Caller, *, with_items: bool = True) -> AuditPublic:
    items = _items(audit)
    return AuditPublic(
        id=audit.id,
        auditor_region=audit.auditor_region,
        auditor_name=_name(audit.auditor_region),
        audited_region=audit.audited_region,
        audited_name=_name(audit.audited_region),
        period=audit.period,
        template=audit.template,
        template_version=audit.template_version,
        status=audit.status,  # type: ignore[arg-type]
        implemented=sum(1 for i in items.values() if i["implemented"] is True),
        answered=sum(1 for i in items.values() if i["implemented"] is not None),
        total=len(items),
        editable=audit.status == "draft" and caller.region_code == audit.auditor_region,
        reported_at=as_utc(audit.reported_at) if audit.reported_at else None,
        created_by=audit.created_by,
        created_at=as_utc(audit.created_at),
        updated_at=as_utc(audit.updated_at),
        items=[AuditItem(id=key, **value) for key, value in items.items()] if with_items else None,
    )


async def _readable(
    session: AsyncSession, caller: Caller, audit_id: str, *, for_update: bool = False
) -> OversightAudit:
    stmt = select(OversightAudit).where(OversightAudit.id == audit_id, _visible(caller))
    if for_update:
        stmt = stmt.with_for_update()
    audit = (await session.execute(stmt)).scalar_one_or_none()
    if audit is None:
        raise AuditNotFound()
    return audit


def _writable(audit: OversightAudit, caller: Caller) -> None:
    if caller.region_code != audit.auditor_region:
        raise ReadOnly(f"该督查由{_name(audit.auditor_region)}开展，您只能查看")
    if audit.status != "draft":
        raise AlreadyReported(f"该督查已于 {audit.reported_at} 上报")


# ------------------------------------------------------------------------------------------------ endpoints


@router.post(
    "/oversight-audits", status_code=201, response_model=AuditPublic, summary="开展督查（生成督查清单）"
)
async def create_audit(body: AuditCreate, db: DbDep, caller: CallerDep) -> AuditPublic:
    if not is_valid_region(body.audited_region):
        raise RegionUnknown(f"{body.audited_region} 不是有效的行政区划代码")
    if not may_audit(caller, body.audited_region):
        raise NotSuperior(f"{_name(caller.region_code)}不能督查{_name(body.audited_region)}")
    if body.template is None:
        template = templates().applicable("oversight", body.audited_region)
    else:
        template = templates().by_name.get(body.template)  # type: ignore[assignment]
        if template is None or template.kind != "oversight":
            raise TemplateUnknown(f"没有名为 {body.template} 的督查清单模板", field="template")
    items = {
        item["id"]: {
            "section": item["section"],
            "text": item["text"],
            "implemented": None,
            "highlights": "",
            "note": "",
        }
        for item in template.fixed_items()
    }
    async with db.transaction() as session:
        existing = (
            await session.execute(
                select(OversightAudit.id).where(
                    OversightAudit.auditor_region == caller.region_code,
                    OversightAudit.audited_region == body.audited_region,
                    OversightAudit.period == body.period,
                )
            )
        ).scalar_one_or_none()
        if existing is not None:
            raise AuditExists(
                f"本部门已对{_name(body.audited_region)}开展 {body.period} 督查", audit_id=existing
            )
        now = utcnow()
        audit = OversightAudit(
            id=new_id(),
            auditor_region=caller.region_code,
            audited_region=body.audited_region,
            template=template.name,
            template_version=template.version,
            period=body.period,
            results=json.dumps(items, ensure_ascii=False),
            status="draft",
            created_by=caller.username,
            created_at=now,
            updated_at=now,
        )
        session.add(audit)
    return _public(audit, caller)


@router.get("/oversight-audits", response_model=Page[AuditPublic], summary="督查记录列表")
async def list_audits(
    db: DbDep,
    caller: CallerDep,
    period: str | None = Query(default=None, pattern=PERIOD_PATTERN),
    audited_region: str | None = Query(default=None, pattern=r"^\d{6}$"),
    status: Literal["draft", "reported"] | None = None,
    cursor: str | None = None,
    limit: int = Query(default=50, ge=1, le=MAX_LIMIT),
) -> Page[AuditPublic]:
    stmt = select(OversightAudit).where(_visible(caller))
    if period is not None:
        stmt = stmt.where(OversightAudit.period == period)
    if audited_region is not None:
        stmt = stmt.where(OversightAudit.audited_region == audited_region)
    if status is not None:
        stmt = stmt.where(OversightAudit.status == status)
    async with db.session() as session:
        rows, next_cursor = await keyset(session, stmt, OversightAudit.id, cursor=cursor, limit=limit)  # type: ignore[arg-type]
    return Page(items=[_public(row, caller, with_items=False) for row in rows], next_cursor=next_cursor)


@router.get(
    "/oversight-audits/summary", response_model=OversightSummary, summary="督查情况汇总（按被督查部门）"
)
async def summary(
    db: DbDep, caller: CallerDep, period: str = Query(pattern=PERIOD_PATTERN)
) -> OversightSummary:
    """The audits made by the caller's jurisdiction in ``period``: for each audited bureau its latest
    reported result (implemented / total and the items not implemented), and the audits not yet reported."""
    if not caller.is_regulator or level_of(caller.region_code) == "station":
        return OversightSummary(period=period, reported=[], drafts=[])
    stmt = select(OversightAudit).where(
        OversightAudit.period == period,
        OversightAudit.auditor_region.startswith(prefix_of(caller.region_code)),  # type: ignore[attr-defined]
    )
    async with db.session() as session:
        audits = (await session.execute(stmt)).scalars().all()
    latest: dict[str, OversightAudit] = {}
    drafts: list[PendingAudit] = []
    for audit in audits:
        items = _items(audit)
        if audit.status != "reported":
            drafts.append(
                PendingAudit(
                    audit_id=audit.id,
                    audited_region=audit.audited_region,
                    audited_name=_name(audit.audited_region),
                    answered=sum(1 for i in items.values() if i["implemented"] is not None),
                    total=len(items),
                )
            )
            continue
        seen = latest.get(audit.audited_region)
        if seen is None or as_utc(audit.reported_at) > as_utc(seen.reported_at):  # type: ignore[arg-type]
            latest[audit.audited_region] = audit
    rows = []
    for region in sorted(latest):
        audit = latest[region]
        items = _items(audit)
        rows.append(
            SummaryRow(
                audited_region=region,
                audited_name=_name(region),
                audit_id=audit.id,
                auditor_region=audit.auditor_region,
                reported_at=as_utc(audit.reported_at),  # type: ignore[arg-type]
                implemented=sum(1 for i in items.values() if i["implemented"] is True),
                total=len(items),
                not_implemented=[
                    MissedItem(id=key, section=i["section"], text=i["text"], note=i["note"])
                    for key, i in items.items()
                    if i["implemented"] is False
                ],
            )
        )
    drafts.sort(key=lambda d: (d.audited_region, d.audit_id))
    return OversightSummary(period=period, reported=rows, drafts=drafts)


@router.get("/oversight-audits/{audit_id}", response_model=AuditPublic, summary="督查详情（逐项）")
async def get_audit(audit_id: str, db: DbDep, caller: CallerDep) -> AuditPublic:
    async with db.session() as session:
        audit = await _readable(session, caller, audit_id)
    return _public(audit, caller)


@router.put(
    "/oversight-audits/{audit_id}/items/{item_id}",
    response_model=AuditPublic,
    summary="填写督查事项：是否落实、亮点成效、备注",
)
async def update_item(
    audit_id: str, item_id: str, body: ItemUpdate, db: DbDep, caller: CallerDep
) -> AuditPublic:
    async with db.transaction() as session:
        audit = await _readable(session, caller, audit_id, for_update=True)
        _writable(audit, caller)
        items = _items(audit)
        if item_id not in items:
            raise ItemNotFound(f"督查清单中没有第 {item_id} 项")
        items[item_id].update(
            implemented=body.implemented, highlights=body.highlights.strip(), note=body.note.strip()
        )
        audit.results = json.dumps(items, ensure_ascii=False)
        audit.updated_at = utcnow()
    return _public(audit, caller)


@router.post(
    "/oversight-audits/{audit_id}/report",
    response_model=AuditPublic,
    summary="上报督查结果（须逐项填写是否落实）",
)
async def report_audit(audit_id: str, db: DbDep, caller: CallerDep) -> AuditPublic:
    async with db.transaction() as session:
        audit = await _readable(session, caller, audit_id, for_update=True)
        _writable(audit, caller)
        items = _items(audit)
        missing = [key for key, item in items.items() if item["implemented"] is None]
        if missing:
            raise ItemsMissing(f"以下事项尚未填写是否落实：{'、'.join(missing)}", missing=missing)
        now = utcnow()
        audit.status, audit.reported_at, audit.updated_at = "reported", now, now
        emit(
            session,
            OVERSIGHT_REPORTED,
            OversightReported(
                audit_id=audit.id,
                auditor_region=audit.auditor_region,
                audited_region=audit.audited_region,
                period=audit.period,
                implemented=sum(1 for i in items.values() if i["implemented"] is True),
                total=len(items),
            ),
            region=audit.audited_region,
            enterprise_id=None,
        )
    return _public(audit, caller)
