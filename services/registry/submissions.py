"""企业自主填报 → 市场监管所审核 → 入账: an enterprise drafts its own unit's record (a first entry or an
update); the station (or county) reviews it and confirms it into the ledger, or returns it with reasons.

draft ──submit──▶ submitted ──confirm──▶ confirmed (the ledger now holds it)
  ▲                   │
  └──── edit ◀── returned (with reasons)        draft/submitted ──withdraw──▶ withdrawn
"""

from __future__ import annotations

import json
from typing import Annotated

from fastapi import APIRouter, Query, Request
from sqlalchemy import select
from sqlalchemy.ext.asyncio import AsyncSession

from services.common.app import DbDep
from services.common.auth import Caller, CallerDep
from services.common.db import today_cn, utcnow
from services.common.errors import Conflict, Forbidden, NotFound
from services.common.ids import new_id
from services.common.pagination import MAX_LIMIT, keyset
from services.common.regions import level_of
from services.common.settings import Settings
from services.registry import audit, pii, repository, service
from services.registry.models import Submission
from services.registry.schemas import (
    EnterpriseUpdate,
    SubmissionIn,
    SubmissionPage,
    SubmissionPublic,
    SubmissionReturn,
)

router = APIRouter(tags=["submissions 企业填报与审核"])

OPEN = ("draft", "submitted", "returned")


class SubmissionNotFound(NotFound):
    code, title = "SUBMISSION_NOT_FOUND", "填报记录不存在或不在您的管辖范围内"


class EnterpriseOnly(Forbidden):
    code, title = "ENTERPRISE_ACCOUNT_ONLY", "仅企业用户可以填报本单位信息"


class NotOwnUnit(Forbidden):
    code, title = "SUBMISSION_NOT_OWN_UNIT", "企业用户只能填报本单位（统一社会信用代码须一致）"


class SubmissionOpen(Conflict):
    code, title = "SUBMISSION_ALREADY_OPEN", "本单位已有未办结的填报，请在原填报上修改"


class SubmissionState(Conflict):
    code, title = "SUBMISSION_STATE_INVALID", "当前状态下不能进行该操作"


def _visible(caller: Caller):  # type: ignore[no-untyped-def]
    if not caller.is_regulator:
        return Submission.uscc == (caller.uscc or "")
    if level_of(caller.region_code) == "station":
        return Submission.station_code == caller.region_code
    return repository.in_region(Submission.region_code, caller.region_code)


async def _get(session: AsyncSession, caller: Caller, submission_id: str) -> Submission:
    stmt = select(Submission).where(_visible(caller), Submission.id == submission_id)
    found = (await session.execute(stmt)).scalar_one_or_none()
    if found is None:
        raise SubmissionNotFound()
    return found


def _public(row: Submission) -> SubmissionPublic:
    return SubmissionPublic.model_validate(
        {
            **row.model_dump(),
            "data": json.loads(row.data),
            "return_reasons": json.loads(row.return_reasons) if row.return_reasons else None,
        }
    )


def _mask(public: SubmissionPublic, caller: Caller, settings: Settings) -> SubmissionPublic:
    """The submitter sees its own draft in full; a reviewer sees the principal's phone by role."""
    if caller.is_regulator and not pii.may_read_pii(caller, settings):
        public.data.principal_phone = pii.mask_phone(public.data.principal_phone)
    return public


async def _checked_data(caller: Caller, body: SubmissionIn) -> tuple[str, str]:
    uscc, problems = service.check_fields(body.data, today=today_cn())
    service.raise_problems(problems)
    assert uscc is not None
    if uscc != caller.uscc:
        raise NotOwnUnit(f"您的账号对应 {caller.uscc}，不能填报 {uscc}")
    return uscc, body.data.model_dump_json()


@router.post(
    "/submissions", status_code=201, response_model=SubmissionPublic, summary="企业填报本单位信息（草稿）"
)
async def create_submission(body: SubmissionIn, db: DbDep, caller: CallerDep) -> SubmissionPublic:
    if caller.role != "enterprise":
        raise EnterpriseOnly("监管部门请直接录入或变更台账")
    uscc, data = await _checked_data(caller, body)
    async with db.transaction() as session:
        stmt = select(Submission.id).where(Submission.uscc == uscc, Submission.status.in_(OPEN))  # type: ignore[attr-defined]
        if (await session.execute(stmt)).first() is not None:
            raise SubmissionOpen()
        existing = await repository.get_by_uscc(session, uscc)
        now = utcnow()
        row = Submission(
            id=new_id(),
            enterprise_id=existing.id if existing else None,
            uscc=uscc,
            region_code=existing.region_code if existing else body.data.region_code,
            station_code=(existing.station_code if existing else None) or body.data.station_code,
            data=data,
            status="draft",
            submitted_by=caller.username,
            created_at=now,
            updated_at=now,
        )
        session.add(row)
        return _public(row)


@router.put(
    "/submissions/{submission_id}", response_model=SubmissionPublic, summary="修改填报草稿（含被退回的）"
)
async def edit_submission(
    submission_id: str, body: SubmissionIn, db: DbDep, caller: CallerDep
) -> SubmissionPublic:
    if caller.role != "enterprise":
        raise EnterpriseOnly()
    _, data = await _checked_data(caller, body)
    async with db.transaction() as session:
        row = await _get(session, caller, submission_id)
        if row.status not in ("draft", "returned"):
            raise SubmissionState(f"填报处于“{row.status}”状态，不能修改")
        row.data, row.status, row.updated_at = data, "draft", utcnow()
        if row.enterprise_id is None:
            row.region_code, row.station_code = body.data.region_code, body.data.station_code
        return _public(row)


async def _transition(
    db: DbDep, caller: Caller, submission_id: str, *, allowed: tuple[str, ...], to: str, by_enterprise: bool
) -> SubmissionPublic:
    if (caller.role == "enterprise") != by_enterprise:
        raise (EnterpriseOnly() if by_enterprise else service.RegulatorOnly())
    async with db.transaction() as session:
        row = await _get(session, caller, submission_id)
        if row.status not in allowed:
            raise SubmissionState(f"填报处于“{row.status}”状态，不能{to}")
        row.status, row.updated_at = to, utcnow()
        if to == "submitted":
            row.submitted_at = row.updated_at
        return _public(row)


@router.post("/submissions/{submission_id}/submit", response_model=SubmissionPublic, summary="提交审核")
async def submit(submission_id: str, db: DbDep, caller: CallerDep) -> SubmissionPublic:
    return await _transition(
        db, caller, submission_id, allowed=("draft",), to="submitted", by_enterprise=True
    )


@router.post("/submissions/{submission_id}/withdraw", response_model=SubmissionPublic, summary="撤回填报")
async def withdraw(submission_id: str, db: DbDep, caller: CallerDep) -> SubmissionPublic:
    return await _transition(
        db,
        caller,
        submission_id,
        allowed=("draft", "submitted", "returned"),
        to="withdrawn",
        by_enterprise=True,
    )


@router.post(
    "/submissions/{submission_id}/return", response_model=SubmissionPublic, summary="退回填报（注明原因）"
)
async def return_submission(
    submission_id: str, body: SubmissionReturn, db: DbDep, caller: CallerDep, request: Request
) -> SubmissionPublic:
    if not caller.is_regulator:
        raise service.RegulatorOnly()
    async with db.transaction() as session:
        row = await _get(session, caller, submission_id)
        if row.status != "submitted":
            raise SubmissionState(f"填报处于“{row.status}”状态，只能退回待审核的填报")
        now = utcnow()
        row.status, row.reviewed_by, row.reviewed_at, row.updated_at = "returned", caller.username, now, now
        row.return_reasons = json.dumps(body.reasons, ensure_ascii=False)
        if row.enterprise_id:
            audit.record(
                session,
                caller,
                enterprise_id=row.enterprise_id,
                entity="submission",
                entity_id=row.id,
                action="returned",
                reason="；".join(body.reasons),
            )
        return _mask(_public(row), caller, request.app.state.settings)


@router.post(
    "/submissions/{submission_id}/confirm",
    response_model=SubmissionPublic,
    summary="审核确认，企业填报信息入账",
)
async def confirm(submission_id: str, db: DbDep, caller: CallerDep, request: Request) -> SubmissionPublic:
    settings = request.app.state.settings
    if not caller.is_regulator:
        raise service.RegulatorOnly()
    async with db.transaction() as session:
        row = await _get(session, caller, submission_id)
        if row.status != "submitted":
            raise SubmissionState(f"填报处于“{row.status}”状态，只能确认待审核的填报")
        data = SubmissionIn.model_validate({"data": json.loads(row.data)}).data
        reason = f"企业填报（{row.submitted_by}，填报号 {row.id}）经 {caller.username} 审核确认"
        if row.enterprise_id is None:
            data.entry_note = data.entry_note or reason
            enterprise = await service.register(
                session=session,
                caller=caller,
                settings=settings,
                data=data,
                entry_path="enterprise",
                created_by=row.submitted_by,
            )
            row.enterprise_id = enterprise.id
        else:
            current = await service.require(session, caller, row.enterprise_id, write=True)
            fields = data.model_dump(exclude={"uscc", "entry_reason"})
            await service.update(
                session=session,
                caller=caller,
                settings=settings,
                enterprise_id=current.id,
                change=EnterpriseUpdate.model_validate(
                    {**fields, "version": current.version, "reason": reason}
                ),
            )
        now = utcnow()
        row.status, row.reviewed_by, row.reviewed_at, row.updated_at = "confirmed", caller.username, now, now
        return _mask(_public(row), caller, settings)


@router.get("/submissions", response_model=SubmissionPage, summary="填报列表（监管部门按辖区；企业看本单位）")
async def list_submissions(
    db: DbDep,
    caller: CallerDep,
    request: Request,
    status: str | None = None,
    cursor: str | None = None,
    limit: Annotated[int, Query(ge=1, le=MAX_LIMIT)] = 50,
) -> SubmissionPage:
    stmt = select(Submission).where(_visible(caller))
    if status:
        stmt = stmt.where(Submission.status == status)
    async with db.session() as session:
        rows, next_cursor = await keyset(session, stmt, Submission.id, cursor=cursor, limit=limit)  # type: ignore[arg-type]
    settings = request.app.state.settings
    return SubmissionPage(items=[_mask(_public(r), caller, settings) for r in rows], next_cursor=next_cursor)


@router.get("/submissions/{submission_id}", response_model=SubmissionPublic, summary="填报详情")
async def get_submission(
    submission_id: str, db: DbDep, caller: CallerDep, request: Request
) -> SubmissionPublic:
    async with db.session() as session:
        row = await _get(session, caller, submission_id)
    return _mask(_public(row), caller, request.app.state.settings)
