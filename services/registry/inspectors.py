"""监管责任人 (建档锁定明确到人): the named inspector who answers for a unit, and the 5-working-day rule.

"监管责任人如有变动，应在5个工作日内更新" (seeds 002, 003): a change effective on day D must be recorded by the
N-th working day after D (``workdays.add_working_days``; N from the policy pack of the unit's
province, ``deadlines.inspector_change_working_days``, 5 in every shipped pack). Recorded later, the
assignment is kept and marked ``late``; the late ones are listed for the bureau's oversight. The rule is applied
to every assignment, the first one included (its effective date is when the unit was locked to a person).

Only regulators supervising the unit assign; a unit's own account may read its history. ``recorded_on`` is
today. An earlier day (补录: a change recorded on paper before the platform held it) may be given only by a
province-level regulator: a county entering its own change late could otherwise date it back and escape the
late flag. The real time of entry is in the audit trail either way.
"""

from __future__ import annotations

from datetime import date
from typing import Annotated

from fastapi import APIRouter, Query, Request
from pydantic import BaseModel, Field, StringConstraints
from sqlalchemy import func, select
from sqlalchemy.ext.asyncio import AsyncSession

from services.common.app import DbDep
from services.common.auth import Caller, CallerDep
from services.common.db import UTCDateTime, today_cn, utcnow
from services.common.errors import Conflict, Forbidden, Invalid
from services.common.events import INSPECTOR_ASSIGNED, InspectorAssigned
from services.common.ids import new_id
from services.common.messaging import emit
from services.common.pagination import MAX_LIMIT, Page, keyset
from services.common.policy import packs_in
from services.common.regions import level_of
from services.common.settings import Settings
from services.common.workdays import add_working_days, calendar_known_between
from services.registry import audit, service
from services.registry.models import Enterprise, InspectorAssignment
from services.registry.schemas import FINAL_STATUSES

router = APIRouter(tags=["inspectors 监管责任人"])


# ------------------------------------------------------------------------------------------------ errors


class InspectorDateInvalid(Invalid):
    code, title = "INSPECTOR_DATE_INVALID", "监管责任人变更日期有误"


class BackdateProvinceOnly(Forbidden):
    code, title = "INSPECTOR_BACKDATE_PROVINCE_ONLY", "补录更早的登记日期须由省级市场监管部门办理"


class InspectorUnchanged(Conflict):
    code, title = "INSPECTOR_UNCHANGED", "监管责任人未变化"


class UnitClosed(Conflict):
    code, title = "ENTERPRISE_STATUS_FINAL", "单位已注销、吊销或迁出，不再确定监管责任人"


# ------------------------------------------------------------------------------------------------ schemas

Username = Annotated[str, StringConstraints(strip_whitespace=True, min_length=1, max_length=100)]
Name = Annotated[str, StringConstraints(strip_whitespace=True, min_length=1, max_length=50)]
Reason = Annotated[str, StringConstraints(strip_whitespace=True, min_length=1, max_length=500)]


class InspectorIn(BaseModel):
    inspector: Username = Field(description="监管责任人的用户名")
    inspector_name: Name = Field(description="监管责任人姓名")
    effective_on: date = Field(description="变动生效日期")
    reason: Reason = Field(description="确定或变更的原因")
    recorded_on: date | None = Field(
        default=None, description="登记日期（默认今天；省级部门补录纸质记录时可填更早的日期，不得晚于今天）"
    )


class InspectorAssignmentPublic(BaseModel):
    id: str
    enterprise_id: str
    inspector: str
    inspector_name: str
    previous_inspector: str | None
    effective_on: date
    recorded_on: date
    deadline: date = Field(description="应登记的最后一日（生效日后第 N 个工作日）")
    late: bool = Field(description="逾期登记（登记日期晚于最后期限）")
    calendar_known: bool = Field(description="期限计算所涉年度的法定节假日是否已知（否则按周一至周五计）")
    reason: str | None
    recorded_by: str
    created_at: UTCDateTime


class LateAssignmentPublic(InspectorAssignmentPublic):
    enterprise_name: str
    region_code: str


class CurrentAssignmentPublic(BaseModel):
    enterprise_id: str
    uscc: str
    name: str
    region_code: str
    station_code: str | None
    supervision_class: str
    locked: bool
    inspector: str
    inspector_name: str | None
    since: date | None = Field(description="本次确定的生效日期")


# ------------------------------------------------------------------------------------------------ rules


def change_working_days(settings: Settings, region_code: str) -> int:
    """N of the N-working-day rule for a unit of ``region_code`` (its province's grading pack)."""
    pack = packs_in(settings.grading_packs_dir).for_region(region_code)
    return pack.deadlines.inspector_change_working_days


def _present(row: InspectorAssignment) -> InspectorAssignmentPublic:
    return InspectorAssignmentPublic(
        **row.model_dump(), calendar_known=calendar_known_between(row.effective_on, row.deadline)
    )


# ------------------------------------------------------------------------------------------------ service


async def assign(
    *, session: AsyncSession, caller: Caller, settings: Settings, enterprise_id: str, data: InspectorIn
) -> InspectorAssignment:
    """确定或变更监管责任人: recorded against the N-working-day deadline, audited and announced."""
    enterprise = await service.require(session, caller, enterprise_id, write=True)
    if enterprise.operating_status in FINAL_STATUSES:
        raise UnitClosed(f"单位已{enterprise.operating_status}")
    today = today_cn()
    recorded_on = data.recorded_on or today
    if recorded_on > today:
        raise InspectorDateInvalid("登记日期不能晚于今天", field="recorded_on")
    if recorded_on < today and level_of(caller.region_code) != "province":
        raise BackdateProvinceOnly(f"登记日期 {recorded_on} 早于今天；如系补录纸质记录，请由省级部门办理")
    if data.effective_on > recorded_on:
        raise InspectorDateInvalid("生效日期不能晚于登记日期（变动生效后再登记）", field="effective_on")
    await session.execute(select(Enterprise.id).where(Enterprise.id == enterprise.id).with_for_update())
    current = (
        await session.execute(
            select(InspectorAssignment)
            .where(InspectorAssignment.enterprise_id == enterprise.id)
            .order_by(InspectorAssignment.effective_on.desc(), InspectorAssignment.id.desc())  # type: ignore[attr-defined]
            .limit(1)
        )
    ).scalar_one_or_none()
    if current is not None and data.effective_on < current.effective_on:
        raise InspectorDateInvalid(
            f"生效日期不能早于现任监管责任人的生效日期（{current.effective_on}）", field="effective_on"
        )
    if (enterprise.responsible_inspector, enterprise.responsible_inspector_name) == (
        data.inspector,
        data.inspector_name,
    ):
        raise InspectorUnchanged(f"{data.inspector_name} 已是本单位的监管责任人")
    n = change_working_days(settings, enterprise.region_code)
    deadline = add_working_days(data.effective_on, n)
    row = InspectorAssignment(
        id=new_id(),
        enterprise_id=enterprise.id,
        inspector=data.inspector,
        inspector_name=data.inspector_name,
        previous_inspector=enterprise.responsible_inspector,
        effective_on=data.effective_on,
        recorded_on=recorded_on,
        deadline=deadline,
        late=recorded_on > deadline,
        reason=data.reason,
        recorded_by=caller.username,
        created_at=utcnow(),
    )
    session.add(row)
    before = {
        "responsible_inspector": enterprise.responsible_inspector,
        "responsible_inspector_name": enterprise.responsible_inspector_name,
    }
    enterprise.responsible_inspector = data.inspector
    enterprise.responsible_inspector_name = data.inspector_name
    enterprise.version += 1
    enterprise.updated_at = utcnow()
    note = f"{data.reason}（{data.effective_on} 生效，应于 {deadline} 前登记"
    note += f"，{recorded_on} 登记" + ("，逾期）" if row.late else "）")
    if recorded_on != today:
        note += f"；{today} 补录"
    audit.record(
        session,
        caller,
        enterprise_id=enterprise.id,
        entity="inspector",
        entity_id=row.id,
        action="assigned",
        changes=audit.diff(
            before,
            {
                "responsible_inspector": enterprise.responsible_inspector,
                "responsible_inspector_name": enterprise.responsible_inspector_name,
            },
        ),
        reason=note,
    )
    emit(
        session,
        INSPECTOR_ASSIGNED,
        InspectorAssigned(
            enterprise_id=enterprise.id,
            inspector=row.inspector,
            inspector_name=row.inspector_name,
            previous_inspector=row.previous_inspector,
            effective_on=row.effective_on,
            recorded_on=row.recorded_on,
            deadline=row.deadline,
            late=row.late,
        ),
        region=enterprise.region_code,
        enterprise_id=enterprise.id,
    )
    return row


# ------------------------------------------------------------------------------------------------ routes

Region = Annotated[str | None, Query(pattern=r"^\d{6}$", description="行政区划代码（须在管辖范围内）")]
Limit = Annotated[int, Query(ge=1, le=MAX_LIMIT)]


@router.get(
    "/inspectors/late", response_model=Page[LateAssignmentPublic], summary="辖区内逾期登记的监管责任人变动"
)
async def late_assignments(
    db: DbDep, caller: CallerDep, region: Region = None, cursor: str | None = None, limit: Limit = 100
) -> Page[LateAssignmentPublic]:
    conditions = service.supervised_scope(caller, region, refusal="企业用户不能查看监管责任人名单")
    stmt = (
        select(InspectorAssignment)
        .join(Enterprise, Enterprise.id == InspectorAssignment.enterprise_id)
        .where(InspectorAssignment.late.is_(True), *conditions)  # type: ignore[attr-defined]
    )
    async with db.session() as session:
        rows, next_cursor = await keyset(session, stmt, InspectorAssignment.id, cursor=cursor, limit=limit)  # type: ignore[arg-type]
        units = {
            unit.id: unit
            for unit in (
                await session.execute(
                    select(Enterprise).where(Enterprise.id.in_({r.enterprise_id for r in rows}))  # type: ignore[attr-defined]
                )
            ).scalars()
        }
    return Page[LateAssignmentPublic](
        items=[
            LateAssignmentPublic(
                **_present(row).model_dump(),
                enterprise_name=units[row.enterprise_id].name,
                region_code=units[row.enterprise_id].region_code,
            )
            for row in rows
        ],
        next_cursor=next_cursor,
    )


@router.get(
    "/inspectors/assignments",
    response_model=Page[CurrentAssignmentPublic],
    summary="辖区内单位的现任监管责任人（可按责任人筛选）",
)
async def current_assignments(
    db: DbDep,
    caller: CallerDep,
    inspector: Annotated[str | None, Query(max_length=100, description="监管责任人用户名")] = None,
    region: Region = None,
    cursor: str | None = None,
    limit: Limit = 100,
) -> Page[CurrentAssignmentPublic]:
    stmt = select(Enterprise).where(
        *service.supervised_scope(caller, region, refusal="企业用户不能查看监管责任人名单"),
        Enterprise.responsible_inspector.is_not(None),  # type: ignore[union-attr]
        Enterprise.operating_status.not_in(FINAL_STATUSES),  # type: ignore[attr-defined]
    )
    if inspector is not None:
        stmt = stmt.where(Enterprise.responsible_inspector == inspector)
    async with db.session() as session:
        units, next_cursor = await keyset(session, stmt, Enterprise.id, cursor=cursor, limit=limit)  # type: ignore[arg-type]
        since: dict[str, date] = {}
        if units:
            latest = (
                await session.execute(
                    select(InspectorAssignment.enterprise_id, func.max(InspectorAssignment.effective_on))
                    .where(InspectorAssignment.enterprise_id.in_([u.id for u in units]))  # type: ignore[attr-defined]
                    .group_by(InspectorAssignment.enterprise_id)
                )
            ).all()
            since = {enterprise_id: day for enterprise_id, day in latest}
    return Page[CurrentAssignmentPublic](
        items=[
            CurrentAssignmentPublic(
                enterprise_id=u.id,
                uscc=u.uscc,
                name=u.name,
                region_code=u.region_code,
                station_code=u.station_code,
                supervision_class=u.supervision_class,
                locked=u.locked,
                inspector=u.responsible_inspector or "",
                inspector_name=u.responsible_inspector_name,
                since=since.get(u.id),
            )
            for u in units
        ],
        next_cursor=next_cursor,
    )


@router.put(
    "/enterprises/{enterprise_id}/inspector",
    status_code=201,
    response_model=InspectorAssignmentPublic,
    summary="确定或变更监管责任人（应在生效后5个工作日内登记）",
)
async def put_inspector(
    enterprise_id: str, body: InspectorIn, db: DbDep, caller: CallerDep, request: Request
) -> InspectorAssignmentPublic:
    async with db.transaction() as session:
        row = await assign(
            session=session,
            caller=caller,
            settings=request.app.state.settings,
            enterprise_id=enterprise_id,
            data=body,
        )
        return _present(row)


@router.get(
    "/enterprises/{enterprise_id}/inspector/history",
    response_model=list[InspectorAssignmentPublic],
    summary="监管责任人变动历史",
)
async def inspector_history(
    enterprise_id: str, db: DbDep, caller: CallerDep
) -> list[InspectorAssignmentPublic]:
    async with db.session() as session:
        await service.require(session, caller, enterprise_id)
        rows = (
            (
                await session.execute(
                    select(InspectorAssignment)
                    .where(InspectorAssignment.enterprise_id == enterprise_id)
                    .order_by(InspectorAssignment.effective_on, InspectorAssignment.id)
                )
            )
            .scalars()
            .all()
        )
    return [_present(row) for row in rows]
