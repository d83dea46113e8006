"""后处理: the re-test window of a failed spot check, and the follow-up of every finding — a rectification
order with a deadline (整改), the unit's evidence, an inspector's verification (复查), and escalation when the
re-check fails. Rectifications past their deadline are announced once by a periodic job (整改逾期).

Rules chosen here:
- 复检 (产品质量法 第十五条): the unit may apply within ``retest_application_days`` (the grading pack's
  deadline, 15) of the day it received the result; the day of receipt is not counted (民法典 第二百零一条), so
  the last day is ``received_on + 15``, or the next working day when that is a day off (第二百零三条).
- A follow-up is not started while a re-test the unit applied for is undecided; a re-test that overturns the
  failure withdraws a follow-up not yet escalated.
- Any failed verification escalates (the re-check failed: 复查仍不合格 → 立案查处 may follow); there is no
  second round of the same order.
- A rectification is overdue while it is ordered or submitted (not verified, not escalated, not withdrawn)
  and its deadline has passed (or the overdue job has marked it); ``overdue_since`` is the first day after
  the deadline. Evidence submitted on time does not stop the clock: only a verification does.
- Evidence files (``PUT /rectifications/{id}/evidence/{file_id}``: a photo or a PDF document, as
  ``services.inspection.evidence`` takes them) are uploaded by whoever sees the rectification — the unit's own
  account and the regulators of its region — while it is ordered or submitted; a retry of a file already
  kept is answered after that too. ``POST …/evidence`` then names them with the unit's account of the work.
"""

from __future__ import annotations

import json
import logging
from datetime import date, timedelta
from typing import Annotated, Literal

from fastapi import APIRouter, FastAPI, Query, Request
from fastapi.responses import FileResponse
from pydantic import BaseModel, Field
from sqlalchemy import select, update
from sqlalchemy.ext.asyncio import AsyncSession

from services.common.app import DbDep, periodic
from services.common.auth import Caller, CallerDep
from services.common.db import Database, UTCDateTime, today_cn, utcnow
from services.common.errors import Conflict, Forbidden, Invalid, NotFound
from services.common.events import (
    FOLLOW_UP_ESCALATED,
    RECTIFICATION_OVERDUE,
    FollowUpEscalated,
    RectificationOverdue,
)
from services.common.ids import new_id
from services.common.messaging import emit
from services.common.pagination import MAX_LIMIT, Page, keyset
from services.common.policy import packs_in
from services.common.settings import Settings
from services.common.workdays import is_working_day
from services.inspection import evidence, repository, service
from services.inspection.models import EvidenceFile, Finding, Rectification, SpotCheck
from services.inspection.schemas import SpotCheckPublic

log = logging.getLogger("qsr.inspection.followup")

router = APIRouter(tags=["follow-up 后处理与整改"])

ACTIVE = ("ordered", "submitted")  # a rectification still waiting for the unit or for the re-check
FindingStatus = Literal["open", "rectifying", "closed", "escalated"]
RectificationStatus = Literal["ordered", "submitted", "verified", "escalated", "withdrawn"]


# ------------------------------------------------------------------------------------------------- errors


class SpotCheckNotFound(NotFound):
    code, title = "SPOT_CHECK_NOT_FOUND", "抽查记录不存在或不在您的管辖范围内"


class FindingNotFound(NotFound):
    code, title = "FINDING_NOT_FOUND", "问题记录不存在或不在您的管辖范围内"


class RectificationNotFound(NotFound):
    code, title = "RECTIFICATION_NOT_FOUND", "整改记录不存在或不在您的管辖范围内"


class RegulatorOnly(Forbidden):
    code, title = "FOLLOW_UP_REGULATOR_ONLY", "仅监管人员可以执行此操作"


class DateInvalid(Invalid):
    code, title = "FOLLOW_UP_DATE_INVALID", "日期不在允许的范围内"


class ResultNotReceived(Conflict):
    code, title = "SPOT_CHECK_RESULT_NOT_RECEIVED", "尚未登记被抽查单位收到检验结果的日期"


class ResultReceiptRecorded(Conflict):
    code, title = "SPOT_CHECK_RESULT_RECEIPT_RECORDED", "收到检验结果的日期已登记，不能更改"


class RetestAlreadyApplied(Conflict):
    code, title = "SPOT_CHECK_RETEST_ALREADY_APPLIED", "该抽查已登记复检申请"


class RetestWindowClosed(Conflict):
    code, title = "SPOT_CHECK_RETEST_WINDOW_CLOSED", "已超过复检申请期限（自收到检验结果之日起15日内）"


class RetestPending(Conflict):
    code, title = "SPOT_CHECK_RETEST_PENDING", "复检申请尚未作出结论，暂不能启动后处理"


class FollowUpNotNeeded(Conflict):
    code, title = "FOLLOW_UP_NOT_NEEDED", "只有不合格且未经复检推翻的抽查结果需要后处理"


class FollowUpStarted(Conflict):
    code, title = "FOLLOW_UP_ALREADY_STARTED", "该抽查已启动后处理"


class DeadlineInvalid(Invalid):
    code, title = "RECTIFICATION_DEADLINE_INVALID", "整改期限须晚于今天"


class FindingNotOpen(Conflict):
    code, title = "FINDING_NOT_OPEN", "该问题已在整改中、已关闭或已升级处理"


class RectificationClosed(Conflict):
    code, title = "RECTIFICATION_CLOSED", "该整改已验证、已升级或已撤销，不能再变更"


class EvidenceFileUnknown(Invalid):
    code, title = "RECTIFICATION_EVIDENCE_FILE_UNKNOWN", "证明材料文件不存在或不属于该整改"


class ReasonRequired(Invalid):
    code, title = "RECTIFICATION_REASON_REQUIRED", "复查不合格须说明理由"


# ------------------------------------------------------------------------------------------------ schemas


class ResultReceived(BaseModel):
    received_on: date = Field(title="被抽查单位收到检验结果的日期")


class RetestApplication(BaseModel):
    applied_on: date = Field(title="复检申请日期")


class RectificationOrder(BaseModel):
    deadline: date = Field(title="整改期限")
    requirement: str = Field(title="整改要求", min_length=1, max_length=4000)


class EvidenceSubmission(BaseModel):
    note: str = Field(title="整改情况说明", min_length=1, max_length=4000)
    evidence_file_ids: list[str] = Field(
        default_factory=list, title="证明材料文件 id（已上传到该整改）", max_length=50
    )


class Verification(BaseModel):
    passed: bool = Field(title="复查结论：整改到位 true / 仍不合格 false")
    note: str = Field("", title="复查意见", max_length=4000)
    verified_on: date | None = Field(None, title="复查日期（默认今天）")


class FindingPublic(BaseModel):
    id: str
    enterprise_id: str
    region_code: str
    source: str
    source_id: str
    item_id: str | None
    description: str
    status: FindingStatus
    created_at: UTCDateTime


class RectificationPublic(BaseModel):
    id: str
    finding_id: str
    enterprise_id: str
    region_code: str
    ordered_on: date
    deadline: date
    requirement: str
    status: RectificationStatus
    evidence_note: str | None
    submitted_on: date | None
    verified_by: str | None
    verified_on: date | None
    verification_note: str | None
    overdue: bool = Field(title="是否逾期（期限已过且尚未验证）")
    overdue_since: date | None
    ordered_by: str
    evidence_file_ids: list[str] = Field(default_factory=list)
    created_at: UTCDateTime
    updated_at: UTCDateTime


class RectificationEvidencePublic(evidence.EvidenceFilePublic):
    rectification_id: str


class FindingDetail(FindingPublic):
    rectifications: list[RectificationPublic]


class FollowUpPublic(BaseModel):
    spot_check: SpotCheckPublic
    finding: FindingPublic
    rectification: RectificationPublic


# ----------------------------------------------------------------------------------------- domain rules


def retest_window_days(settings: Settings, region_code: str) -> int:
    """复检申请期限 (days) in the province's grading pack."""
    pack = packs_in(settings.grading_packs_dir).for_region(region_code)
    return pack.deadlines.retest_application_days


def retest_last_day(received_on: date, window_days: int) -> date:
    """The last day a re-test may be applied for: the day of receipt is not counted, and a last day that is
    a day off (a weekend or public holiday; a 调休 make-up Saturday is worked) moves to the next working day
    (民法典 第二百零三条)."""
    last = received_on + timedelta(days=window_days)
    while not is_working_day(last):
        last += timedelta(days=1)
    return last


def is_overdue(row: Rectification, today: date) -> bool:
    """Still open (ordered or submitted) past its deadline, or already marked so by the overdue job."""
    return row.status in ACTIVE and (row.deadline < today or row.overdue_since is not None)


def _spot_check_public(row: SpotCheck) -> SpotCheckPublic:
    return SpotCheckPublic.model_validate({**row.model_dump(), "failed_items": json.loads(row.failed_items)})


def _finding_public(row: Finding) -> FindingPublic:
    return FindingPublic.model_validate(row.model_dump())


def _rectification_public(row: Rectification, files: list[str] | None = None) -> RectificationPublic:
    return RectificationPublic.model_validate(
        {**row.model_dump(), "overdue": is_overdue(row, today_cn()), "evidence_file_ids": files or []}
    )


def _regulator(caller: Caller, detail: str) -> None:
    if not caller.is_regulator:
        raise RegulatorOnly(detail)


def _check_deadline(deadline: date, today: date) -> None:
    if deadline <= today:
        raise DeadlineInvalid(f"整改期限 {deadline} 须晚于今天（{today}）", field="deadline")


# ------------------------------------------------------------------------------------------------ queries


async def _spot_check(session: AsyncSession, caller: Caller, spot_check_id: str) -> SpotCheck:
    row = await repository.get_readable_spot_check(session, caller, spot_check_id)
    if row is None:
        raise SpotCheckNotFound()
    return row


async def _finding(session: AsyncSession, caller: Caller, finding_id: str) -> Finding:
    stmt = select(Finding).where(Finding.id == finding_id, repository.visible(caller, Finding))
    row = (await session.execute(stmt)).scalar_one_or_none()
    if row is None:
        raise FindingNotFound()
    return row


async def _rectification(session: AsyncSession, caller: Caller, rectification_id: str) -> Rectification:
    stmt = select(Rectification).where(
        Rectification.id == rectification_id, repository.visible(caller, Rectification)
    )
    row = (await session.execute(stmt)).scalar_one_or_none()
    if row is None:
        raise RectificationNotFound()
    return row


async def _files_of(session: AsyncSession, rectification_ids: list[str]) -> dict[str, list[str]]:
    if not rectification_ids:
        return {}
    stmt = (
        select(EvidenceFile.owner_id, EvidenceFile.id)
        .where(EvidenceFile.owner_kind == "rectification", EvidenceFile.owner_id.in_(rectification_ids))  # type: ignore[attr-defined]
        .order_by(EvidenceFile.id)
    )
    found: dict[str, list[str]] = {}
    for owner_id, file_id in (await session.execute(stmt)).all():
        found.setdefault(owner_id, []).append(file_id)
    return found


# ---------------------------------------------------------------------------------------------- services


def _order(
    session: AsyncSession, caller: Caller, finding: Finding, data: RectificationOrder
) -> Rectification:
    now = utcnow()
    row = Rectification(
        id=new_id(),
        finding_id=finding.id,
        enterprise_id=finding.enterprise_id,
        region_code=finding.region_code,
        ordered_on=today_cn(),
        deadline=data.deadline,
        requirement=data.requirement.strip(),
        status="ordered",
        ordered_by=caller.username,
        created_at=now,
        updated_at=now,
    )
    session.add(row)
    finding.status = "rectifying"
    return row


async def _spot_checks_of(session: AsyncSession, finding: Finding) -> SpotCheck | None:
    if finding.source != "spot_check":
        return None
    return await session.get(SpotCheck, finding.source_id)


async def withdraw_follow_up(session: AsyncSession, spot_check: SpotCheck) -> None:
    """复检推翻: the failure no longer stands, so a follow-up not yet escalated is withdrawn."""
    if spot_check.follow_up_status in (None, "escalated", "withdrawn"):
        return
    findings = (
        (
            await session.execute(
                select(Finding).where(
                    Finding.source == "spot_check",
                    Finding.source_id == spot_check.id,
                    Finding.status.in_(("open", "rectifying")),  # type: ignore[attr-defined]
                )
            )
        )
        .scalars()
        .all()
    )
    for finding in findings:
        finding.status = "closed"
        await session.execute(
            update(Rectification)
            .where(Rectification.finding_id == finding.id, Rectification.status.in_(ACTIVE))  # type: ignore[attr-defined]
            .values(status="withdrawn", updated_at=utcnow())
        )
    spot_check.follow_up_status = "withdrawn"


async def detect_overdue(db: Database, today: date, *, batch: int = 500) -> int:
    """整改逾期: mark every rectification whose deadline is before ``today`` and that is still ordered or
    submitted, and announce each once (``inspection.rectification.overdue``). Returns how many were marked.

    Each row is claimed with a guarded update (``overdue_since IS NULL``), so two runs at once — two
    instances, or a run cut short and repeated — never announce a rectification twice."""
    marked = 0
    while True:
        async with db.transaction() as session:
            rows = (
                (
                    await session.execute(
                        select(Rectification)
                        .where(
                            Rectification.status.in_(ACTIVE),  # type: ignore[attr-defined]
                            Rectification.deadline < today,
                            Rectification.overdue_since.is_(None),  # type: ignore[union-attr]
                        )
                        .order_by(Rectification.id)
                        .limit(batch)
                    )
                )
                .scalars()
                .all()
            )
            for row in rows:
                since = row.deadline + timedelta(days=1)
                claimed = await session.execute(
                    update(Rectification)
                    .where(Rectification.id == row.id, Rectification.overdue_since.is_(None))  # type: ignore[union-attr]
                    .values(overdue_since=since)
                    .execution_options(synchronize_session=False)
                )
                if claimed.rowcount != 1:  # type: ignore[attr-defined]
                    continue
                emit(
                    session,
                    RECTIFICATION_OVERDUE,
                    RectificationOverdue(
                        rectification_id=row.id,
                        finding_id=row.finding_id,
                        enterprise_id=row.enterprise_id,
                        deadline=row.deadline,
                        overdue_since=since,
                    ),
                    region=row.region_code,
                    enterprise_id=row.enterprise_id,
                )
                marked += 1
        if len(rows) < batch:
            return marked


async def _detect_overdue(app: FastAPI) -> str:
    marked = await detect_overdue(app.state.db, today_cn())
    return f"rectifications newly overdue: {marked}" if marked else ""


# Look for overdue rectifications at start, then every ``inspection_overdue_check_interval_seconds``.
overdue_job = periodic(
    "overdue_checks", lambda settings: settings.inspection_overdue_check_interval_seconds, _detect_overdue
)


# -------------------------------------------------------------------------------------------- spot checks


@router.post(
    "/spot-checks/{spot_check_id}/result-received",
    response_model=SpotCheckPublic,
    tags=["spot checks 监督抽查"],
    summary="登记被抽查单位收到检验结果的日期（复检申请期限自此起算）",
)
async def result_received(
    spot_check_id: str, body: ResultReceived, db: DbDep, caller: CallerDep
) -> SpotCheckPublic:
    async with db.transaction() as session:
        row = await _spot_check(session, caller, spot_check_id)
        _regulator(caller, "企业账号不能登记检验结果送达日期")
        if row.verdict != "failed":
            raise service.NotFailed()
        if row.result_received_on is not None:
            if row.result_received_on == body.received_on:
                return _spot_check_public(row)  # the same record again changes nothing
            raise ResultReceiptRecorded(f"已登记于 {row.result_received_on} 收到检验结果")
        if not row.sampled_on <= body.received_on <= today_cn():
            raise DateInvalid("收到检验结果的日期须在抽样日期之后且不晚于今天", field="received_on")
        row.result_received_on = body.received_on
    return _spot_check_public(row)


@router.post(
    "/spot-checks/{spot_check_id}/retest-application",
    response_model=SpotCheckPublic,
    tags=["spot checks 监督抽查"],
    summary="登记复检申请（自收到检验结果之日起15日内，产品质量法第十五条）",
)
async def apply_for_retest(
    spot_check_id: str, body: RetestApplication, request: Request, db: DbDep, caller: CallerDep
) -> SpotCheckPublic:
    settings: Settings = request.app.state.settings
    async with db.transaction() as session:
        row = await _spot_check(session, caller, spot_check_id)  # an enterprise account: its own unit only
        if row.verdict != "failed":
            raise service.NotFailed()
        if row.retest_result is not None:
            raise service.RetestDecided(f"已于 {row.retest_decided_on} 作出复检结论：{row.retest_result}")
        if row.retest_applied_on is not None:
            if row.retest_applied_on == body.applied_on:
                return _spot_check_public(row)
            raise RetestAlreadyApplied(f"已登记于 {row.retest_applied_on} 提出的复检申请")
        if row.result_received_on is None:
            raise ResultNotReceived("请先登记被抽查单位收到检验结果的日期")
        if not row.result_received_on <= body.applied_on <= today_cn():
            raise DateInvalid("复检申请日期须在收到检验结果之后且不晚于今天", field="applied_on")
        days = retest_window_days(settings, row.region_code)
        last_day = retest_last_day(row.result_received_on, days)
        if body.applied_on > last_day:
            raise RetestWindowClosed(
                f"于 {row.result_received_on} 收到检验结果，复检申请期限为 {days} 日，至 {last_day} 止；"
                f"{body.applied_on} 提出的申请不予受理",
                last_day=last_day.isoformat(),
            )
        row.retest_applied_on = body.applied_on
    return _spot_check_public(row)


@router.post(
    "/spot-checks/{spot_check_id}/follow-up",
    status_code=201,
    response_model=FollowUpPublic,
    tags=["spot checks 监督抽查"],
    summary="启动不合格抽查的后处理：登记问题并责令整改",
)
async def start_follow_up(
    spot_check_id: str, body: RectificationOrder, db: DbDep, caller: CallerDep
) -> FollowUpPublic:
    async with db.transaction() as session:
        row = await _spot_check(session, caller, spot_check_id)
        _regulator(caller, "企业账号不能启动后处理")
        if row.verdict != "failed" or row.retest_result == "overturned":
            raise FollowUpNotNeeded()
        if row.follow_up_status is not None:
            raise FollowUpStarted(f"后处理状态：{row.follow_up_status}")
        if row.retest_applied_on is not None and row.retest_result is None:
            raise RetestPending(f"被抽查单位已于 {row.retest_applied_on} 申请复检")
        _check_deadline(body.deadline, today_cn())
        items = "、".join(json.loads(row.failed_items))
        finding = Finding(
            id=new_id(),
            enterprise_id=row.enterprise_id,
            region_code=row.region_code,
            source="spot_check",
            source_id=row.id,
            description=f"监督抽查不合格：{row.product}（批次 {row.batch}），不合格项目：{items}",
            status="open",
            created_at=utcnow(),
        )
        session.add(finding)
        rectification = _order(session, caller, finding, body)
        row.follow_up_status = "ordered"
    return FollowUpPublic(
        spot_check=_spot_check_public(row),
        finding=_finding_public(finding),
        rectification=_rectification_public(rectification),
    )


# ----------------------------------------------------------------------------------------------- findings


@router.get("/findings", response_model=Page[FindingPublic], summary="问题清单（检查发现的问题、不合格抽查）")
async def list_findings(
    db: DbDep,
    caller: CallerDep,
    enterprise_id: str | None = None,
    status: FindingStatus | None = None,
    source: Literal["inspection", "spot_check"] | None = None,
    source_id: str | None = None,
    cursor: str | None = None,
    limit: Annotated[int, Query(ge=1, le=MAX_LIMIT)] = 100,
) -> Page[FindingPublic]:
    stmt = select(Finding).where(repository.visible(caller, Finding))
    for column, value in (
        (Finding.enterprise_id, enterprise_id),
        (Finding.status, status),
        (Finding.source, source),
        (Finding.source_id, source_id),
    ):
        if value is not None:
            stmt = stmt.where(column == value)
    async with db.session() as session:
        rows, next_cursor = await keyset(session, stmt, Finding.id, cursor=cursor, limit=limit)  # type: ignore[arg-type]
    return Page[FindingPublic](items=[_finding_public(r) for r in rows], next_cursor=next_cursor)


@router.get("/findings/{finding_id}", response_model=FindingDetail, summary="问题详情及其整改")
async def get_finding(finding_id: str, db: DbDep, caller: CallerDep) -> FindingDetail:
    async with db.session() as session:
        finding = await _finding(session, caller, finding_id)
        rows = (
            (
                await session.execute(
                    select(Rectification)
                    .where(Rectification.finding_id == finding.id)
                    .order_by(Rectification.id)
                )
            )
            .scalars()
            .all()
        )
        files = await _files_of(session, [r.id for r in rows])
    return FindingDetail(
        **_finding_public(finding).model_dump(),
        rectifications=[_rectification_public(r, files.get(r.id)) for r in rows],
    )


@router.post(
    "/findings/{finding_id}/rectification",
    status_code=201,
    response_model=RectificationPublic,
    summary="责令整改：整改要求和期限",
)
async def order_rectification(
    finding_id: str, body: RectificationOrder, db: DbDep, caller: CallerDep
) -> RectificationPublic:
    async with db.transaction() as session:
        finding = await _finding(session, caller, finding_id)
        _regulator(caller, "企业账号不能责令整改")
        if finding.status != "open":
            raise FindingNotOpen(f"问题状态：{finding.status}")
        _check_deadline(body.deadline, today_cn())
        row = _order(session, caller, finding, body)
        spot_check = await _spot_checks_of(session, finding)
        if spot_check is not None and spot_check.follow_up_status is None:
            spot_check.follow_up_status = "ordered"
    return _rectification_public(row)


# ---------------------------------------------------------------------------------------- rectifications


@router.get("/rectifications", response_model=Page[RectificationPublic], summary="整改清单（可只看逾期的）")
async def list_rectifications(
    db: DbDep,
    caller: CallerDep,
    enterprise_id: str | None = None,
    finding_id: str | None = None,
    status: RectificationStatus | None = None,
    overdue: Annotated[bool | None, Query(description="true：期限已过仍未验证；false：未逾期")] = None,
    cursor: str | None = None,
    limit: Annotated[int, Query(ge=1, le=MAX_LIMIT)] = 100,
) -> Page[RectificationPublic]:
    stmt = select(Rectification).where(repository.visible(caller, Rectification))
    for column, value in (
        (Rectification.enterprise_id, enterprise_id),
        (Rectification.finding_id, finding_id),
        (Rectification.status, status),
    ):
        if value is not None:
            stmt = stmt.where(column == value)
    today = today_cn()
    late = Rectification.status.in_(ACTIVE) & (  # type: ignore[attr-defined]
        (Rectification.deadline < today) | Rectification.overdue_since.is_not(None)  # type: ignore[union-attr]
    )
    if overdue is True:
        stmt = stmt.where(late)
    elif overdue is False:
        stmt = stmt.where(~late)
    async with db.session() as session:
        rows, next_cursor = await keyset(session, stmt, Rectification.id, cursor=cursor, limit=limit)  # type: ignore[arg-type]
        files = await _files_of(session, [r.id for r in rows])
    return Page[RectificationPublic](
        items=[_rectification_public(r, files.get(r.id)) for r in rows], next_cursor=next_cursor
    )


@router.get("/rectifications/{rectification_id}", response_model=RectificationPublic, summary="整改详情")
async def get_rectification(rectification_id: str, db: DbDep, caller: CallerDep) -> RectificationPublic:
    async with db.session() as session:
        row = await _rectification(session, caller, rectification_id)
        files = await _files_of(session, [row.id])
    return _rectification_public(row, files.get(row.id))


@router.post(
    "/rectifications/{rectification_id}/evidence",
    response_model=RectificationPublic,
    summary="提交整改情况和证明材料（被检查单位本单位账号或监管人员）",
)
async def submit_evidence(
    rectification_id: str, body: EvidenceSubmission, db: DbDep, caller: CallerDep
) -> RectificationPublic:
    async with db.transaction() as session:
        # An enterprise account finds only its own unit's rectifications; any other is a 404.
        row = await _rectification(session, caller, rectification_id)
        if row.status not in ACTIVE:
            raise RectificationClosed(f"整改状态：{row.status}")
        wanted = sorted(set(body.evidence_file_ids))
        files = (await _files_of(session, [row.id])).get(row.id, [])
        missing = [file_id for file_id in wanted if file_id not in files]
        if missing:
            raise EvidenceFileUnknown(
                f"以下文件不存在或未上传到该整改：{'、'.join(missing)}", field="evidence_file_ids"
            )
        row.evidence_note, row.submitted_on = body.note.strip(), today_cn()
        row.status, row.updated_at = "submitted", utcnow()
    return _rectification_public(row, files)


_EVIDENCE = "/rectifications/{rectification_id}/evidence/{file_id}"
_UPLOAD = "上传整改证明材料：照片（JPEG、PNG）或 PDF 文件（本单位账号或监管人员；同一文件编号重传安全）"


async def _may_add_evidence(
    session: AsyncSession, caller: Caller, rectification_id: str, retry: bool
) -> None:
    # Whoever sees it may add to it: the unit's own account (by its USCC) and the regulators of its region.
    row = await _rectification(session, caller, rectification_id)
    if not retry and row.status not in ACTIVE:
        raise RectificationClosed(f"整改状态：{row.status}，不能再补充证明材料")


@router.put(_EVIDENCE, response_model=RectificationEvidencePublic, summary=_UPLOAD, **evidence.UPLOAD_ROUTE)
async def upload_rectification_evidence(
    rectification_id: str, file_id: str, upload: evidence.UploadDep
) -> RectificationEvidencePublic:
    # No ``kind`` to choose: a PDF is a document, an image a photo.
    kept = await upload.keep("rectification", rectification_id, file_id, _may_add_evidence)
    return RectificationEvidencePublic.model_validate(
        {**kept.model_dump(), "rectification_id": kept.owner_id}
    )


@router.get(_EVIDENCE, summary="下载整改证明材料", **evidence.DOWNLOAD_ROUTE)
async def download_rectification_evidence(
    rectification_id: str, file_id: str, download: evidence.DownloadDep
) -> FileResponse:
    return await download.file("rectification", rectification_id, file_id, _rectification)


@router.post(
    "/rectifications/{rectification_id}/verify",
    response_model=RectificationPublic,
    summary="复查整改：到位则问题关闭；仍不合格则后处理升级",
)
async def verify_rectification(
    rectification_id: str, body: Verification, db: DbDep, caller: CallerDep
) -> RectificationPublic:
    async with db.transaction() as session:
        row = await _rectification(session, caller, rectification_id)
        _regulator(caller, "整改须由监管人员复查，企业账号不能自行验证")
        if row.status not in ACTIVE:
            raise RectificationClosed(f"整改状态：{row.status}")
        today = today_cn()
        verified_on = body.verified_on or today
        if not row.ordered_on <= verified_on <= today:
            raise DateInvalid("复查日期须在责令整改之后且不晚于今天", field="verified_on")
        note = body.note.strip()
        if not body.passed and not note:
            raise ReasonRequired("复查不合格须填写复查意见", field="note")
        finding = await session.get(Finding, row.finding_id)
        assert finding is not None  # a foreign key
        spot_check = await _spot_checks_of(session, finding)
        row.verified_by, row.verified_on, row.verification_note = caller.username, verified_on, note or None
        row.updated_at = utcnow()
        if body.passed:
            row.status, finding.status = "verified", "closed"
            if spot_check is not None:
                spot_check.follow_up_status = "closed"
        else:
            row.status, finding.status = "escalated", "escalated"
            if spot_check is not None:
                spot_check.follow_up_status = "escalated"
            emit(
                session,
                FOLLOW_UP_ESCALATED,
                FollowUpEscalated(
                    finding_id=finding.id,
                    enterprise_id=finding.enterprise_id,
                    source=finding.source,
                    source_id=finding.source_id,
                    reason=f"整改复查仍不合格：{note}",
                ),
                region=finding.region_code,
                enterprise_id=finding.enterprise_id,
            )
        files = (await _files_of(session, [row.id])).get(row.id, [])
    return _rectification_public(row, files)
