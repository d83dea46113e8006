"""立案查处 and 投诉举报: enforcement cases and their outcome, complaints and what a verified one sets off.

A closed case announces ``inspection.case.closed`` (grading counts a penalty, 从重 with its flag); a
verified complaint becomes a planned inspection of the unit (触发式监管) and announces
``inspection.complaint.verified`` (a grading signal). Complaints carry what a complainant said, so enterprise
accounts never read them; a unit may read its own cases.
"""

from __future__ import annotations

import json
from datetime import date
from typing import Annotated, Any, Literal

from fastapi import APIRouter, Query
from pydantic import BaseModel, Field
from sqlalchemy import select
from sqlalchemy.ext.asyncio import AsyncSession

from services.common.app import ArrivalsDep, DbDep
from services.common.arrivals import known_unit
from services.common.auth import Caller, CallerDep
from services.common.db import UTCDateTime, today_cn, utcnow
from services.common.errors import Conflict, Forbidden, Invalid, NotFound
from services.common.events import (
    CASE_CLOSED,
    COMPLAINT_VERIFIED,
    CaseClosed,
    ComplaintVerified,
)
from services.common.ids import new_id
from services.common.messaging import emit
from services.common.pagination import MAX_LIMIT, Page, keyset
from services.inspection import checklists, repository
from services.inspection.models import (
    Complaint,
    EnforcementCase,
    Inspection,
    Rectification,
    SpotCheck,
)
from services.inspection.service import EnterpriseNotKnown

router = APIRouter()

CaseSource = Literal["spot_check", "inspection", "complaint", "rectification", "other"]
Channel = Literal["12315", "letter", "phone", "online", "transferred", "other"]
MAX_YUAN = 1e12  # beyond any fine; guards against a slipped decimal point

# What a case may name as its source, and where that record lives.
SOURCES: dict[str, Any] = {
    "spot_check": SpotCheck,
    "inspection": Inspection,
    "complaint": Complaint,
    "rectification": Rectification,
}


# ------------------------------------------------------------------------------------------------- errors


class CaseNotFound(NotFound):
    code, title = "CASE_NOT_FOUND", "案件不存在或不在您的管辖范围内"


class ComplaintNotFound(NotFound):
    code, title = "COMPLAINT_NOT_FOUND", "投诉举报不存在或不在您的管辖范围内"


class RegulatorOnly(Forbidden):
    code, title = "CASE_REGULATOR_ONLY", "仅监管人员可以办理案件和投诉举报"


class ComplaintsRegulatorOnly(Forbidden):
    code, title = "COMPLAINT_REGULATOR_ONLY", "投诉举报仅供监管人员查阅办理"


class CaseSourceUnknown(Invalid):
    code, title = "CASE_SOURCE_UNKNOWN", "案件来源记录不存在、不属于该单位或不在您的管辖范围内"


class CaseClosedAlready(Conflict):
    code, title = "CASE_ALREADY_CLOSED", "案件已结案"


class OutcomeInconsistent(Invalid):
    code, title = "CASE_OUTCOME_INCONSISTENT", "结案处理结果前后矛盾"


class ComplaintDecided(Conflict):
    code, title = "COMPLAINT_ALREADY_DECIDED", "该投诉举报已作出核实结论"


class DateInvalid(Invalid):
    code, title = "CASE_DATE_INVALID", "日期不在允许的范围内"


# ------------------------------------------------------------------------------------------------ schemas


class CaseCreate(BaseModel):
    enterprise_id: str = Field(title="当事单位 id", min_length=1, max_length=36)
    source: CaseSource = Field(title="案件来源：监督抽查、现场检查、投诉举报、整改复查不合格、其他")
    source_id: str | None = Field(None, title="来源记录 id", max_length=36)
    cause: str = Field(title="案由", min_length=1, max_length=2000)
    opened_on: date = Field(title="立案日期")


class CaseClose(BaseModel):
    closed_on: date = Field(title="结案日期")
    penalised: bool = Field(title="是否给予行政处罚（不予处罚、撤销立案的为 false）")
    warning: bool = Field(False, title="责令改正并给予警告")
    fine_yuan: float = Field(0, title="罚款（元）", ge=0, le=MAX_YUAN, allow_inf_nan=False)
    confiscated_yuan: float = Field(0, title="没收违法所得（元）", ge=0, le=MAX_YUAN, allow_inf_nan=False)
    heavier: bool = Field(False, title="从重处罚")
    decision_number: str | None = Field(None, title="处罚（不予处罚）决定书文号", max_length=100)


class CasePublic(BaseModel):
    id: str
    enterprise_id: str
    region_code: str
    source: str
    source_id: str | None
    cause: str
    opened_on: date
    status: Literal["open", "closed"]
    penalised: bool | None
    warning: bool
    fine_yuan: float
    confiscated_yuan: float
    heavier: bool
    decision_number: str | None
    closed_on: date | None
    opened_by: str
    created_at: UTCDateTime
    updated_at: UTCDateTime


class ComplaintCreate(BaseModel):
    enterprise_id: str = Field(title="被投诉举报单位 id", min_length=1, max_length=36)
    channel: Channel = Field(title="来源渠道：12315、来信、来电、网络、转办、其他")
    received_on: date = Field(title="受理日期")
    summary: str = Field(title="投诉举报内容摘要", min_length=1, max_length=4000)


class ComplaintDecision(BaseModel):
    verified: bool = Field(title="核实结论：属实 true / 不属实 false")
    note: str = Field("", title="核实情况", max_length=4000)
    decided_on: date = Field(title="核实结论日期")


class ComplaintPublic(BaseModel):
    id: str
    enterprise_id: str
    region_code: str
    channel: str
    received_on: date
    summary: str
    status: Literal["received", "verified", "unfounded"]
    decided_on: date | None
    decision_note: str | None
    decided_by: str | None
    inspection_id: str | None
    received_by: str
    created_at: UTCDateTime


# ---------------------------------------------------------------------------------------------- helpers


def _regulator(caller: Caller, detail: str) -> None:
    if not caller.is_regulator:
        raise RegulatorOnly(detail)


def _not_after_today(day: date, field: str, what: str) -> None:
    if day > today_cn():
        raise DateInvalid(f"{what} {day} 晚于今天", field=field)


async def _case(session: AsyncSession, caller: Caller, case_id: str) -> EnforcementCase:
    stmt = select(EnforcementCase).where(
        EnforcementCase.id == case_id, repository.visible(caller, EnforcementCase)
    )
    row = (await session.execute(stmt)).scalar_one_or_none()
    if row is None:
        raise CaseNotFound()
    return row


async def _complaint(session: AsyncSession, caller: Caller, complaint_id: str) -> Complaint:
    stmt = select(Complaint).where(Complaint.id == complaint_id, repository.visible(caller, Complaint))
    row = (await session.execute(stmt)).scalar_one_or_none()
    if row is None:
        raise ComplaintNotFound()
    return row


def _complaints_reader(caller: Caller) -> None:
    if not caller.is_regulator:
        raise ComplaintsRegulatorOnly("企业账号不能查阅投诉举报")


def check_outcome(data: CaseClose) -> None:
    """A case closed without a penalty carries none of a penalty's parts; a penalty names its decision."""
    if not data.penalised:
        if data.warning or data.fine_yuan or data.confiscated_yuan or data.heavier:
            raise OutcomeInconsistent("未给予行政处罚的案件不应有警告、罚没款或从重处罚")
    elif not (data.decision_number or "").strip():
        raise OutcomeInconsistent("给予行政处罚的须填写处罚决定书文号", field="decision_number")


# ------------------------------------------------------------------------------------------------- cases


@router.post("/cases", status_code=201, response_model=CasePublic, tags=["cases 立案查处"], summary="立案")
async def open_case(body: CaseCreate, db: DbDep, arrivals: ArrivalsDep, caller: CallerDep) -> CasePublic:
    _regulator(caller, "企业账号不能立案")
    _not_after_today(body.opened_on, "opened_on", "立案日期")
    await known_unit(
        db,
        arrivals,
        body.enterprise_id,
        lambda s: repository.get_readable_enterprise(s, caller, body.enterprise_id),
    )
    async with db.transaction() as session:
        enterprise = await repository.get_readable_enterprise(session, caller, body.enterprise_id)
        if enterprise is None:
            raise EnterpriseNotKnown()
        if body.source_id is not None:
            table = SOURCES.get(body.source)
            if table is None:
                raise CaseSourceUnknown("来源为“其他”的案件不填写来源记录 id", field="source_id")
            stmt = select(table.id).where(
                table.id == body.source_id,
                table.enterprise_id == enterprise.id,
                repository.visible(caller, table),
            )
            if (await session.execute(stmt)).scalar_one_or_none() is None:
                raise CaseSourceUnknown(field="source_id")
        now = utcnow()
        row = EnforcementCase(
            id=new_id(),
            enterprise_id=enterprise.id,
            region_code=enterprise.region_code,
            source=body.source,
            source_id=body.source_id,
            cause=body.cause.strip(),
            opened_on=body.opened_on,
            status="open",
            opened_by=caller.username,
            created_at=now,
            updated_at=now,
        )
        session.add(row)
    return CasePublic.model_validate(row.model_dump())


@router.post(
    "/cases/{case_id}/close",
    response_model=CasePublic,
    tags=["cases 立案查处"],
    summary="结案：警告、罚没款、从重处罚（或不予处罚）",
)
async def close_case(case_id: str, body: CaseClose, db: DbDep, caller: CallerDep) -> CasePublic:
    async with db.transaction() as session:
        row = await _case(session, caller, case_id)
        _regulator(caller, "企业账号不能结案")
        if row.status == "closed":
            raise CaseClosedAlready(f"已于 {row.closed_on} 结案")
        check_outcome(body)
        if not row.opened_on <= body.closed_on <= today_cn():
            raise DateInvalid("结案日期须在立案日期之后且不晚于今天", field="closed_on")
        row.status, row.closed_on, row.penalised = "closed", body.closed_on, body.penalised
        row.warning, row.heavier = body.warning, body.heavier
        row.fine_yuan, row.confiscated_yuan = round(body.fine_yuan, 2), round(body.confiscated_yuan, 2)
        row.decision_number = (body.decision_number or "").strip() or None
        row.updated_at = utcnow()
        emit(
            session,
            CASE_CLOSED,
            CaseClosed(
                case_id=row.id,
                enterprise_id=row.enterprise_id,
                closed_on=body.closed_on,
                warning=row.warning,
                fine_yuan=row.fine_yuan,
                confiscated_yuan=row.confiscated_yuan,
                heavier=row.heavier,
                penalised=body.penalised,
                cause=row.cause,
            ),
            region=row.region_code,
            enterprise_id=row.enterprise_id,
        )
    return CasePublic.model_validate(row.model_dump())


@router.get("/cases", response_model=Page[CasePublic], tags=["cases 立案查处"], summary="案件列表")
async def list_cases(
    db: DbDep,
    caller: CallerDep,
    enterprise_id: str | None = None,
    status: Literal["open", "closed"] | None = None,
    source: CaseSource | None = None,
    cursor: str | None = None,
    limit: Annotated[int, Query(ge=1, le=MAX_LIMIT)] = 100,
) -> Page[CasePublic]:
    stmt = select(EnforcementCase).where(repository.visible(caller, EnforcementCase))
    for column, value in (
        (EnforcementCase.enterprise_id, enterprise_id),
        (EnforcementCase.status, status),
        (EnforcementCase.source, source),
    ):
        if value is not None:
            stmt = stmt.where(column == value)
    async with db.session() as session:
        rows, next_cursor = await keyset(session, stmt, EnforcementCase.id, cursor=cursor, limit=limit)  # type: ignore[arg-type]
    return Page[CasePublic](
        items=[CasePublic.model_validate(r.model_dump()) for r in rows], next_cursor=next_cursor
    )


@router.get("/cases/{case_id}", response_model=CasePublic, tags=["cases 立案查处"], summary="案件详情")
async def get_case(case_id: str, db: DbDep, caller: CallerDep) -> CasePublic:
    async with db.session() as session:
        row = await _case(session, caller, case_id)
    return CasePublic.model_validate(row.model_dump())


# -------------------------------------------------------------------------------------------- complaints


@router.post(
    "/complaints",
    status_code=201,
    response_model=ComplaintPublic,
    tags=["complaints 投诉举报"],
    summary="登记投诉举报",
)
async def receive_complaint(
    body: ComplaintCreate, db: DbDep, arrivals: ArrivalsDep, caller: CallerDep
) -> ComplaintPublic:
    _regulator(caller, "企业账号不能登记投诉举报")
    _not_after_today(body.received_on, "received_on", "受理日期")
    await known_unit(
        db,
        arrivals,
        body.enterprise_id,
        lambda s: repository.get_readable_enterprise(s, caller, body.enterprise_id),
    )
    async with db.transaction() as session:
        enterprise = await repository.get_readable_enterprise(session, caller, body.enterprise_id)
        if enterprise is None:
            raise EnterpriseNotKnown()
        row = Complaint(
            id=new_id(),
            enterprise_id=enterprise.id,
            region_code=enterprise.region_code,
            channel=body.channel,
            received_on=body.received_on,
            summary=body.summary.strip(),
            status="received",
            received_by=caller.username,
            created_at=utcnow(),
        )
        session.add(row)
    return ComplaintPublic.model_validate(row.model_dump())


@router.post(
    "/complaints/{complaint_id}/verify",
    response_model=ComplaintPublic,
    tags=["complaints 投诉举报"],
    summary="核实投诉举报：属实则安排一次现场检查（触发式监管）",
)
async def decide_complaint(
    complaint_id: str, body: ComplaintDecision, db: DbDep, caller: CallerDep
) -> ComplaintPublic:
    _complaints_reader(caller)
    async with db.transaction() as session:
        row = await _complaint(session, caller, complaint_id)
        if row.status != "received":
            raise ComplaintDecided(f"已于 {row.decided_on} 作出核实结论")
        if not row.received_on <= body.decided_on <= today_cn():
            raise DateInvalid("核实结论日期须在受理日期之后且不晚于今天", field="decided_on")
        row.decided_on, row.decided_by = body.decided_on, caller.username
        row.decision_note = body.note.strip() or None
        if not body.verified:
            row.status = "unfounded"
            return ComplaintPublic.model_validate(row.model_dump())
        unit = await repository.get_readable_enterprise(session, caller, row.enterprise_id)
        if unit is None:  # the unit moved out of the caller's reach since the complaint was received
            raise EnterpriseNotKnown()
        template, version, items = checklists.checklist_for(unit)
        now = utcnow()
        inspection = Inspection(
            id=new_id(),
            enterprise_id=unit.id,
            region_code=unit.region_code,
            trigger="complaint",
            trigger_ref=row.id,
            template=template,
            template_version=version,
            checklist=json.dumps(items, ensure_ascii=False),
            status="planned",
            inspectors=json.dumps([caller.username], ensure_ascii=False),
            created_by=caller.username,
            created_at=now,
            updated_at=now,
        )
        session.add(inspection)
        row.status, row.inspection_id = "verified", inspection.id
        emit(
            session,
            COMPLAINT_VERIFIED,
            ComplaintVerified(
                complaint_id=row.id,
                enterprise_id=row.enterprise_id,
                verified_on=body.decided_on,
                inspection_id=inspection.id,
            ),
            region=row.region_code,
            enterprise_id=row.enterprise_id,
        )
    return ComplaintPublic.model_validate(row.model_dump())


@router.get(
    "/complaints", response_model=Page[ComplaintPublic], tags=["complaints 投诉举报"], summary="投诉举报列表"
)
async def list_complaints(
    db: DbDep,
    caller: CallerDep,
    enterprise_id: str | None = None,
    status: Literal["received", "verified", "unfounded"] | None = None,
    cursor: str | None = None,
    limit: Annotated[int, Query(ge=1, le=MAX_LIMIT)] = 100,
) -> Page[ComplaintPublic]:
    _complaints_reader(caller)
    stmt = select(Complaint).where(repository.visible(caller, Complaint))
    for column, value in ((Complaint.enterprise_id, enterprise_id), (Complaint.status, status)):
        if value is not None:
            stmt = stmt.where(column == value)
    async with db.session() as session:
        rows, next_cursor = await keyset(session, stmt, Complaint.id, cursor=cursor, limit=limit)  # type: ignore[arg-type]
    return Page[ComplaintPublic](
        items=[ComplaintPublic.model_validate(r.model_dump()) for r in rows], next_cursor=next_cursor
    )


@router.get(
    "/complaints/{complaint_id}",
    response_model=ComplaintPublic,
    tags=["complaints 投诉举报"],
    summary="投诉举报详情",
)
async def get_complaint(complaint_id: str, db: DbDep, caller: CallerDep) -> ComplaintPublic:
    _complaints_reader(caller)
    async with db.session() as session:
        row = await _complaint(session, caller, complaint_id)
    return ComplaintPublic.model_validate(row.model_dump())
