"""日管控、周排查、月调度: a unit's own self-checks, what it owes, and the duty check that finds who is behind.

One record per unit, kind and period (a repeat updates it): the daily safety check record (每日安全检查记录),
the weekly review report (每周安全排查治理报告) and the monthly dispatch meeting minutes (每月安全调度会议纪要).
Periods are written ``YYYY-MM-DD`` (a day), ``YYYY-Www`` (an ISO week; its Monday's date is accepted too) and
``YYYY-MM`` (a month).

What is owed (see ``workdays.owed_periods``): a daily record for every working day the unit operated, a weekly
or monthly one for every week or month in which it operated on at least one working day, counted from the day
it was entered into the ledger (Beijing date) and only once the period has ended (a day's record is overdue
the next day, a week's the next Monday, a month's on the 1st). While 停产停业 nothing is owed (records are
accepted and kept); from 注销、吊销、迁出 on nothing is owed and nothing more is accepted.

Writers: the unit's own enterprise account, and the regulators supervising it. The duty check
(``check_duties``) runs on a timer and keeps ``Enterprise.self_check_overdue_since`` current (the first missing
period of any kind), announcing SELF_CHECK_OVERDUE once each time a unit falls behind on a kind.
"""

from __future__ import annotations

import json
import logging
from collections import defaultdict
from collections.abc import Collection, Iterable, Mapping, Sequence
from dataclasses import dataclass, field
from datetime import date, datetime, timedelta
from enum import StrEnum
from functools import lru_cache
from typing import Annotated, Any, Literal

from fastapi import APIRouter, FastAPI, Query, Response
from pydantic import BaseModel, ConfigDict, Field, StringConstraints, ValidationError, model_validator
from sqlalchemy import select, update
from sqlalchemy.exc import IntegrityError
from sqlalchemy.ext.asyncio import AsyncSession

from services.common.app import DbDep, periodic
from services.common.auth import ENTERPRISE, Caller, CallerDep
from services.common.db import CHINA, Database, UTCDateTime, as_utc, today_cn, utcnow
from services.common.errors import Conflict, Invalid, NotFound
from services.common.events import SELF_CHECK_OVERDUE, SelfCheckOverdue
from services.common.ids import new_id
from services.common.messaging import emit
from services.common.pagination import MAX_LIMIT, Page, keyset
from services.common.workdays import calendar_known_between
from services.registry import audit, service
from services.registry.models import (
    AdoptedDocument,
    Attachment,
    Enterprise,
    Manager,
    SelfCheck,
    SelfCheckDuty,
    StatusChange,
)
from services.registry.schemas import FINAL_STATUSES, PAUSED_STATUSES
from services.registry.workdays import (
    DAILY,
    KIND_NAMES,
    KINDS,
    MONTHLY,
    WEEKLY,
    Pause,
    owed_periods,
    parse_period,
    period_end,
    period_label,
)

log = logging.getLogger("qsr.registry.selfchecks")

router = APIRouter(tags=["self-checks 日管控、周排查、月调度"])

#: Who holds each self-check (两个规定): the officer checks daily, the director reviews weekly, the principal
#: chairs the monthly dispatch meeting.
MANAGER_ROLE = {DAILY: "quality_officer", WEEKLY: "quality_director", MONTHLY: "principal"}
ROLE_NAMES = {"quality_director": "质量安全总监", "quality_officer": "质量安全员", "principal": "主要负责人"}
#: How many missing periods a compliance answer lists (the total is always given).
MISSING_LISTED = 100
#: Units per batch of the duty check (three queries per batch, whatever the number of periods).
DUTY_BATCH = 500


class SelfCheckKind(StrEnum):
    daily_control = DAILY  # 日管控
    weekly_review = WEEKLY  # 周排查
    monthly_dispatch = MONTHLY  # 月调度


# ------------------------------------------------------------------------------------------------ errors


class PeriodInvalid(Invalid):
    code, title = "SELF_CHECK_PERIOD_INVALID", "自查期间格式有误"


class PeriodInFuture(Invalid):
    code, title = "SELF_CHECK_PERIOD_FUTURE", "不能填报尚未开始的期间"


class ContentInvalid(Invalid):
    code, title = "SELF_CHECK_CONTENT_INVALID", "自查记录内容有误"


class ManagerInvalid(Invalid):
    code, title = "SELF_CHECK_MANAGER_INVALID", "填报人不是本单位相应岗位的在任人员"


class RiskPointUnknown(Invalid):
    code, title = "SELF_CHECK_RISK_POINT_UNKNOWN", "检查项目不在本单位的风险管控清单中"


class AttachmentUnknown(Invalid):
    code, title = "SELF_CHECK_ATTACHMENT_UNKNOWN", "附件不存在或不属于本单位"


class UnitClosed(Conflict):
    code, title = "ENTERPRISE_STATUS_FINAL", "单位已注销、吊销或迁出，此后的期间无须也不能再填报"


class SelfCheckNotFound(NotFound):
    code, title = "SELF_CHECK_NOT_FOUND", "该期间没有自查记录"


class DateRangeInvalid(Invalid):
    code, title = "SELF_CHECK_DATE_RANGE_INVALID", "统计期间有误"


# ------------------------------------------------------------------------------------------------ content

Text50 = Annotated[str, StringConstraints(strip_whitespace=True, min_length=1, max_length=50)]
Text100 = Annotated[str, StringConstraints(strip_whitespace=True, min_length=1, max_length=100)]
Text200 = Annotated[str, StringConstraints(strip_whitespace=True, min_length=1, max_length=200)]
Text500 = Annotated[str, StringConstraints(strip_whitespace=True, min_length=1, max_length=500)]
Text2000 = Annotated[str, StringConstraints(strip_whitespace=True, min_length=1, max_length=2000)]


class _Strict(BaseModel):
    model_config = ConfigDict(extra="forbid")


class CheckedItem(_Strict):
    """One risk point of the 风险管控清单, checked today."""

    point: Text200 = Field(description="风险点（取自本单位的质量安全风险管控清单）")
    result: Literal["ok", "hazard"] = Field(description="ok 正常 / hazard 发现隐患")
    note: Text500 | None = Field(default=None, description="说明")


class Hazard(_Strict):
    """A hazard found (隐患), what is done about it and where that stands."""

    description: Text500 = Field(description="隐患描述")
    measures: Text500 | None = Field(default=None, description="整改或防范措施")
    status: Literal["open", "rectifying", "rectified"] = Field(
        default="open", description="open 待整改 / rectifying 整改中 / rectified 已整改"
    )
    deadline: date | None = Field(default=None, description="整改期限")


class DailyContent(_Strict):
    """每日安全检查记录 (日管控). A day without risk is recorded too (``zero_risk``)."""

    items: list[CheckedItem] = Field(min_length=1, max_length=500, description="检查的风险点及结果")
    hazards: list[Hazard] = Field(default_factory=list, max_length=200, description="发现的隐患")
    measures: Text2000 | None = Field(default=None, description="采取的防范措施")
    reported_to: Text100 | None = Field(default=None, description="发现问题时报告的对象（如质量安全总监）")
    zero_risk: bool = Field(default=False, description="当日未发现风险（零风险）")

    @model_validator(mode="after")
    def _consistent(self) -> DailyContent:
        flagged = [item.point for item in self.items if item.result == "hazard"]
        if self.zero_risk and (flagged or self.hazards):
            raise ValueError("标记为零风险的记录不能含有隐患")
        if flagged and not self.hazards:
            raise ValueError(f"检查项目 {flagged[0]} 发现隐患，请在 hazards 中写明隐患及措施")
        if self.hazards and self.reported_to is None:
            raise ValueError("发现隐患须填写报告对象 reported_to（如质量安全总监）")
        return self


class WeeklyContent(_Strict):
    """每周安全排查治理报告 (周排查)."""

    summary: Text2000 = Field(description="本周排查情况")
    hazards: list[Hazard] = Field(default_factory=list, max_length=500, description="排查出的隐患")
    measures: Text2000 | None = Field(default=None, description="治理措施")
    status: Literal["no_hazard", "rectifying", "all_rectified"] = Field(
        description="no_hazard 未发现隐患 / rectifying 整改中 / all_rectified 已全部整改"
    )

    @model_validator(mode="after")
    def _consistent(self) -> WeeklyContent:
        if (self.status == "no_hazard") != (not self.hazards):
            raise ValueError(
                "status 为 no_hazard 时不应列出隐患；列出隐患时 status 须为 rectifying 或 all_rectified"
            )
        if self.status == "all_rectified" and any(h.status != "rectified" for h in self.hazards):
            raise ValueError("仍有未整改的隐患，status 不能为 all_rectified")
        return self


class MonthlyContent(_Strict):
    """每月安全调度会议纪要 (月调度)."""

    held_on: date = Field(description="会议日期（在当月内）")
    attendees: list[Text50] = Field(min_length=1, max_length=200, description="参会人员")
    summary: Text2000 = Field(description="会议内容：本月质量安全情况、风险研判")
    decisions: list[Text500] = Field(default_factory=list, max_length=200, description="调度事项与决定")


CONTENT_MODELS: dict[str, type[_Strict]] = {
    DAILY: DailyContent,
    WEEKLY: WeeklyContent,
    MONTHLY: MonthlyContent,
}


# ------------------------------------------------------------------------------------------------ schemas


class SelfCheckIn(BaseModel):
    """A self-check record. ``content`` depends on the kind: daily ``{items: [{point, result: ok|hazard,
    note}], hazards: [{description, measures, status, deadline}], measures, reported_to, zero_risk}``; weekly
    ``{summary, hazards, measures, status: no_hazard|rectifying|all_rectified}``; monthly ``{held_on,
    attendees, summary, decisions}``."""

    performed_by: Text50 = Field(description="填报人姓名")
    manager_id: str | None = Field(
        default=None,
        max_length=36,
        description="填报人的人员编号：日管控为质量安全员，周排查为质量安全总监，月调度为主要负责人",
    )
    content: dict[str, Any] = Field(description="记录内容（按类别，见说明）")
    attachment_id: str | None = Field(default=None, max_length=36, description="扫描件等附件（先上传）")


class SelfCheckPublic(BaseModel):
    id: str
    enterprise_id: str
    kind: SelfCheckKind
    period: str = Field(description="期间：YYYY-MM-DD / YYYY-Www / YYYY-MM")
    period_start: date
    period_end: date
    performed_by: str
    manager_id: str | None
    content: dict[str, Any]
    zero_risk: bool
    reported_to: str | None
    attachment_id: str | None
    owed: bool = Field(description="该期间是否应填报（停产停业期间的记录照常保存，但不计为应填报）")
    recorded_by: str
    created_at: UTCDateTime
    updated_at: UTCDateTime


class PeriodRef(BaseModel):
    period: str
    start: date
    end: date


class PausePublic(BaseModel):
    status: str = Field(description="production_suspended 停产 / business_suspended 停业")
    start: date | None = Field(description="起始日期（空：录入台账前即已停产停业）")
    end: date | None = Field(description="截止日期（空：仍在停产停业）")


class KindCompliancePublic(BaseModel):
    kind: SelfCheckKind
    owed: int = Field(description="应填报期间数")
    done: int = Field(description="已填报的应填报期间数")
    missing_total: int = Field(description="缺报期间数")
    missing: list[PeriodRef] = Field(description=f"缺报期间（最早的 {MISSING_LISTED} 个）")
    overdue_since: date | None = Field(description="最早缺报期间的起始日；无缺报为空")
    paused_periods: int = Field(description="因停产停业或注销等不计为应填报的期间数")
    recorded_not_owed: int = Field(description="不计为应填报期间的记录数（如停产期间、节假日的记录）")


class CompliancePublic(BaseModel):
    enterprise_id: str
    from_: date = Field(alias="from", description="起算日期")
    as_of: date = Field(description="统计截止：此日之前已结束的期间计为应填报")
    operating_status: str
    final_on: date | None = Field(description="注销、吊销或迁出的生效日期")
    pauses: list[PausePublic]
    calendar_known: bool = Field(description="期间内各年度的法定节假日是否已知（否则按周一至周五计工作日）")
    overdue_since: date | None
    kinds: list[KindCompliancePublic]

    model_config = ConfigDict(populate_by_name=True)


class KindDutyPublic(BaseModel):
    kind: SelfCheckKind
    overdue_since: date | None
    missing: int
    checked_on: date


class OverdueUnitPublic(BaseModel):
    enterprise_id: str
    uscc: str
    name: str
    region_code: str
    station_code: str | None
    operating_status: str
    overdue_since: date
    kinds: list[KindDutyPublic]


# ------------------------------------------------------------------------------------------------ pure rules


def operating_timeline(
    initial_status: str, changes: Iterable[tuple[date, str]]
) -> tuple[list[Pause], date | None]:
    """The pauses (停产、停业) and the final date (注销、吊销、迁出) of a unit, from its status before the first
    change and its changes ``(effective_on, to_status)`` in the order they took effect. A status in force
    before the first change counts from the beginning of time."""
    if initial_status in FINAL_STATUSES:
        return [], date.min
    pauses: list[Pause] = []
    opened: tuple[date, str] | None = (
        (date.min, initial_status) if initial_status in PAUSED_STATUSES else None
    )
    for effective_on, status in changes:
        if opened is not None and (status not in PAUSED_STATUSES):
            if effective_on > opened[0]:
                pauses.append(Pause(opened[0], effective_on - timedelta(days=1), opened[1]))
            opened = None
        if status in FINAL_STATUSES:
            return pauses, effective_on
        if status in PAUSED_STATUSES and opened is None:
            opened = (effective_on, status)
    if opened is not None:
        pauses.append(Pause(opened[0], None, opened[1]))
    return pauses, None


@dataclass
class KindAssessment:
    """What one unit owes of one kind as of a day, and what it has done."""

    kind: str
    owed: list[date]
    missing: list[date]
    paused: list[date] = field(default_factory=list)
    recorded_not_owed: int = 0

    @property
    def overdue_since(self) -> date | None:
        return self.missing[0] if self.missing else None


@lru_cache(maxsize=8192)
def _owed_without_pauses(kind: str, from_day: date, last: date) -> tuple[date, ...]:
    """The duty check visits every unit; most never paused, and units entered on one day owe the same periods,
    so the calendar walk is made once per day of entry instead of once per unit."""
    return tuple(owed_periods(kind, from_day, last))


def assess(
    kind: str,
    from_day: date,
    as_of: date,
    pauses: Sequence[Pause],
    final_on: date | None,
    recorded: Collection[date],
    *,
    detailed: bool = False,
) -> KindAssessment:
    """Owed and missing periods of ``kind``: those ended before ``as_of`` (the grace: a day's record is due by
    the end of that day), counted from ``from_day``. ``detailed`` adds the periods not owed for a pause or
    the final status, and the records kept for periods not owed."""
    last = as_of - timedelta(days=1)
    if pauses or final_on is not None:
        owed = owed_periods(kind, from_day, last, pauses, final_on)
    else:  # the common case: the same answer for every unit entered on the same day
        owed = list(_owed_without_pauses(kind, from_day, last))
    missing = [start for start in owed if start not in recorded]
    result = KindAssessment(kind, owed, missing)
    if detailed:
        owed_set = set(owed)
        result.paused = [p for p in owed_periods(kind, from_day, last) if p not in owed_set]
        result.recorded_not_owed = sum(1 for start in recorded if start not in owed_set)
    return result


def beijing_date(moment: datetime) -> date:
    return as_utc(moment).astimezone(CHINA).date()


# ------------------------------------------------------------------------------------------------ access


async def _require_writer(session: AsyncSession, caller: Caller, enterprise_id: str) -> Enterprise:
    """The unit's own enterprise account, or a regulator supervising the unit (404 / 403 otherwise)."""
    enterprise = await service.require(session, caller, enterprise_id)
    if caller.role == ENTERPRISE and caller.uscc is not None and caller.uscc == enterprise.uscc:
        return enterprise
    return await service.require(session, caller, enterprise_id, write=True)


async def _require_reader(session: AsyncSession, caller: Caller, enterprise_id: str) -> Enterprise:
    return await service.require(session, caller, enterprise_id)


# ------------------------------------------------------------------------------------------------ queries


async def _timeline(session: AsyncSession, enterprise: Enterprise) -> tuple[list[Pause], date | None]:
    changes = (
        (
            await session.execute(
                select(StatusChange)
                .where(StatusChange.enterprise_id == enterprise.id)
                .order_by(StatusChange.effective_on, StatusChange.recorded_at, StatusChange.id)
            )
        )
        .scalars()
        .all()
    )
    initial = changes[0].from_status if changes else enterprise.operating_status
    return operating_timeline(initial, [(c.effective_on, c.to_status) for c in changes])


async def _timelines(
    session: AsyncSession, units: Sequence[Any]
) -> dict[str, tuple[list[Pause], date | None]]:
    """Timelines of many units in one query (``units`` rows with ``id`` and ``operating_status``)."""
    ids = [unit.id for unit in units]
    rows = (
        await session.execute(
            select(
                StatusChange.enterprise_id,
                StatusChange.effective_on,
                StatusChange.from_status,
                StatusChange.to_status,
            )
            .where(StatusChange.enterprise_id.in_(ids))  # type: ignore[attr-defined]
            .order_by(
                StatusChange.enterprise_id,
                StatusChange.effective_on,
                StatusChange.recorded_at,
                StatusChange.id,
            )
        )
    ).all()
    by_unit: dict[str, list[Any]] = defaultdict(list)
    for row in rows:
        by_unit[row.enterprise_id].append(row)
    timelines = {}
    for unit in units:
        changes = by_unit.get(unit.id, [])
        initial = changes[0].from_status if changes else unit.operating_status
        timelines[unit.id] = operating_timeline(initial, [(c.effective_on, c.to_status) for c in changes])
    return timelines


async def _recorded(
    session: AsyncSession, enterprise_ids: Sequence[str], kind: str | None = None
) -> dict[tuple[str, str], set[date]]:
    stmt = select(SelfCheck.enterprise_id, SelfCheck.kind, SelfCheck.period_start).where(
        SelfCheck.enterprise_id.in_(enterprise_ids)  # type: ignore[attr-defined]
    )
    if kind is not None:
        stmt = stmt.where(SelfCheck.kind == kind)
    found: dict[tuple[str, str], set[date]] = defaultdict(set)
    for row in (await session.execute(stmt)).all():
        found[(row.enterprise_id, row.kind)].add(row.period_start)
    return found


async def _risk_points(session: AsyncSession, enterprise_id: str, on: date) -> set[str] | None:
    """The points of the risk control list in force on ``on`` (None: the unit had adopted none)."""
    content = (
        await session.execute(
            select(AdoptedDocument.content)
            .where(
                AdoptedDocument.enterprise_id == enterprise_id,
                AdoptedDocument.kind == "risk_control_list",
                AdoptedDocument.adopted_on <= on,
            )
            .order_by(AdoptedDocument.version.desc())  # type: ignore[attr-defined]
            .limit(1)
        )
    ).scalar_one_or_none()
    if content is None:
        return None
    try:
        points = {str(item["point"]).strip() for item in json.loads(content)}
    except (ValueError, TypeError, KeyError):
        return None
    return points or None


# ------------------------------------------------------------------------------------------------ writing


def _validate_content(kind: str, content: Mapping[str, Any]) -> _Strict:
    try:
        return CONTENT_MODELS[kind].model_validate(content)
    except ValidationError as exc:
        errors = [
            {"loc": ["content", *err.get("loc", ())], "msg": err.get("msg", "")} for err in exc.errors()
        ]
        first = errors[0]
        message = str(first["msg"]).removeprefix("Value error, ")
        where = ".".join(str(part) for part in first["loc"])
        raise ContentInvalid(f"{KIND_NAMES[kind]}内容有误（{where}）：{message}", errors=errors) from None


async def _check_manager(
    session: AsyncSession, enterprise: Enterprise, kind: str, manager_id: str, start: date, end: date
) -> None:
    """The manager must be of this unit, hold the post the kind needs, and hold it during the period."""
    role = MANAGER_ROLE[kind]
    manager = await session.get(Manager, manager_id)
    if manager is None or manager.enterprise_id != enterprise.id:
        raise ManagerInvalid(f"本单位没有编号为 {manager_id} 的质量安全管理人员", field="manager_id")
    if manager.role != role:
        raise ManagerInvalid(
            f"{KIND_NAMES[kind]}应由{ROLE_NAMES[role]}填报，{manager.name} 是{ROLE_NAMES.get(manager.role, manager.role)}",
            field="manager_id",
        )
    if manager.appointed_on > end or (manager.removed_on is not None and manager.removed_on < start):
        raise ManagerInvalid(f"{manager.name} 在该期间不在任{ROLE_NAMES[role]}", field="manager_id")


def _audited(record: SelfCheck) -> dict[str, Any]:
    return {
        "kind": record.kind,
        "period_start": record.period_start,
        "performed_by": record.performed_by,
        "manager_id": record.manager_id,
        "content": json.loads(record.content),
        "zero_risk": record.zero_risk,
        "reported_to": record.reported_to,
        "attachment_id": record.attachment_id,
    }


@dataclass
class Recorded:
    record: SelfCheck
    created: bool
    owed: bool


async def record_self_check(
    *,
    session: AsyncSession,
    caller: Caller,
    enterprise_id: str,
    kind: str,
    period: str,
    data: SelfCheckIn,
    today: date,
) -> Recorded:
    """填报: create or update the record of one period (idempotent: the same body twice is one record)."""
    enterprise = await _require_writer(session, caller, enterprise_id)
    try:
        start = parse_period(kind, period)
    except ValueError as exc:
        raise PeriodInvalid(str(exc), field="period") from None
    end = period_end(kind, start)
    if start > today:
        raise PeriodInFuture(f"{period_label(kind, start)} 尚未开始，不能填报", field="period")
    pauses, final_on = await _timeline(session, enterprise)
    if final_on is not None and start >= final_on:
        since = "" if final_on == date.min else f"自 {final_on} 起"
        raise UnitClosed(
            f"单位{since}已注销、吊销或迁出（{enterprise.operating_status}），此后的期间无须填报"
        )
    content = _validate_content(kind, data.content)
    if isinstance(content, MonthlyContent) and not (start <= content.held_on <= min(end, today)):
        raise ContentInvalid(
            f"月调度会议日期 {content.held_on} 应在 {period_label(kind, start)} 内且不晚于今天",
            field="content.held_on",
        )
    if isinstance(content, DailyContent):
        known = await _risk_points(session, enterprise.id, end)
        unknown = [item.point for item in content.items if known is not None and item.point not in known]
        if unknown:
            raise RiskPointUnknown(
                f"检查项目 {unknown[0]} 不在本单位的质量安全风险管控清单中",
                field="content.items",
                unknown=unknown,
            )
    if data.manager_id is not None:
        await _check_manager(session, enterprise, kind, data.manager_id, start, end)
    if data.attachment_id is not None:
        attachment = await session.get(Attachment, data.attachment_id)
        if attachment is None or attachment.enterprise_id != enterprise.id:
            raise AttachmentUnknown(f"附件 {data.attachment_id} 不存在或不属于本单位", field="attachment_id")
    columns = {
        "performed_by": data.performed_by,
        "manager_id": data.manager_id,
        "content": json.dumps(content.model_dump(mode="json"), ensure_ascii=False, sort_keys=True),
        "zero_risk": bool(
            content.zero_risk
            if isinstance(content, DailyContent)
            else isinstance(content, WeeklyContent) and content.status == "no_hazard"
        ),
        "reported_to": content.reported_to if isinstance(content, DailyContent) else None,
        "attachment_id": data.attachment_id,
    }
    owed = bool(owed_periods(kind, start, end, pauses, final_on))
    # Serialise writers of one unit (PostgreSQL row lock); the unique constraint catches the rest.
    await session.execute(select(Enterprise.id).where(Enterprise.id == enterprise.id).with_for_update())
    record = (
        await session.execute(
            select(SelfCheck).where(
                SelfCheck.enterprise_id == enterprise.id,
                SelfCheck.kind == kind,
                SelfCheck.period_start == start,
            )
        )
    ).scalar_one_or_none()
    reason = f"{KIND_NAMES[kind]} {period_label(kind, start)}"
    if record is None:
        now = utcnow()
        record = SelfCheck(
            id=new_id(),
            enterprise_id=enterprise.id,
            kind=kind,
            period_start=start,
            recorded_by=caller.username,
            created_at=now,
            updated_at=now,
            **columns,
        )
        session.add(record)
        audit.record(
            session,
            caller,
            enterprise_id=enterprise.id,
            entity="self_check",
            entity_id=record.id,
            action="recorded",
            changes=audit.diff({}, _audited(record)),
            reason=reason,
        )
        await session.flush()
        await _refresh_duty(session, enterprise, kind, today)
        return Recorded(record, True, owed)
    before = _audited(record)
    for key, value in columns.items():
        setattr(record, key, value)
    changes = audit.diff(before, _audited(record))
    if changes:
        record.updated_at = utcnow()
        audit.record(
            session,
            caller,
            enterprise_id=enterprise.id,
            entity="self_check",
            entity_id=record.id,
            action="updated",
            changes=changes,
            reason=reason,
        )
    return Recorded(record, False, owed)


async def _refresh_duty(session: AsyncSession, enterprise: Enterprise, kind: str, today: date) -> None:
    """After a record, bring a unit already found behind on ``kind`` up to date at once (so that it leaves the
    overdue lists without waiting for the next duty check). Never marks a unit overdue: that, and its
    announcement, is the duty check's."""
    duty = await session.get(SelfCheckDuty, (enterprise.id, kind))
    if duty is None or duty.overdue_since is None:
        return
    pauses, final_on = await _timeline(session, enterprise)
    recorded = (await _recorded(session, [enterprise.id], kind)).get((enterprise.id, kind), set())
    found = assess(kind, beijing_date(enterprise.created_at), today, pauses, final_on, recorded)
    duty.overdue_since = found.overdue_since
    duty.missing = len(found.missing)
    duty.checked_on = today
    others = (
        (
            await session.execute(
                select(SelfCheckDuty.overdue_since).where(
                    SelfCheckDuty.enterprise_id == enterprise.id,
                    SelfCheckDuty.kind != kind,
                    SelfCheckDuty.overdue_since.is_not(None),  # type: ignore[union-attr]
                )
            )
        )
        .scalars()
        .all()
    )
    enterprise.self_check_overdue_since = min(
        [*others, *([found.overdue_since] if found.missing else [])], default=None
    )


# ------------------------------------------------------------------------------------------------ the duty check


def _kind_states(
    from_day: date,
    today: date,
    timeline: tuple[list[Pause], date | None],
    recorded: Mapping[str, Collection[date]],
) -> dict[str, tuple[date | None, int]]:
    pauses, final_on = timeline
    states = {}
    for kind in KINDS:
        found = assess(kind, from_day, today, pauses, final_on, recorded.get(kind, ()))
        states[kind] = (found.overdue_since, len(found.missing))
    return states


async def check_duties(db: Database, today: date) -> int:
    """Recompute, as of ``today``, what every operating unit owes; keep ``self_check_overdue_since`` and the
    per-kind findings current, and announce SELF_CHECK_OVERDUE for each unit and kind that has newly fallen
    behind (not again while it stays behind; again after it has caught up and falls behind anew).

    Units go in batches of ``DUTY_BATCH`` (a few queries per batch, one transaction each). Returns the number
    of announcements."""
    announced = 0
    async with db.transaction() as session:
        # Units deregistered, revoked or moved out owe nothing more: they leave the overdue lists.
        closed = select(Enterprise.id).where(Enterprise.operating_status.in_(FINAL_STATUSES))  # type: ignore[attr-defined]
        await session.execute(
            update(SelfCheckDuty)
            .where(SelfCheckDuty.enterprise_id.in_(closed), SelfCheckDuty.overdue_since.is_not(None))  # type: ignore[attr-defined,union-attr]
            .values(overdue_since=None, missing=0, checked_on=today)
        )
        await session.execute(
            update(Enterprise)
            .where(
                Enterprise.operating_status.in_(FINAL_STATUSES),
                Enterprise.self_check_overdue_since.is_not(None),
            )  # type: ignore[attr-defined,union-attr]
            .values(self_check_overdue_since=None)
        )
    after = ""
    while True:
        async with db.transaction() as session:
            units = (
                await session.execute(
                    select(
                        Enterprise.id,
                        Enterprise.region_code,
                        Enterprise.created_at,
                        Enterprise.operating_status,
                        Enterprise.self_check_overdue_since,
                    )
                    .where(Enterprise.id > after, Enterprise.operating_status.not_in(FINAL_STATUSES))  # type: ignore[attr-defined]
                    .order_by(Enterprise.id)
                    .limit(DUTY_BATCH)
                )
            ).all()
            if not units:
                return announced
            after = units[-1].id
            ids = [unit.id for unit in units]
            timelines = await _timelines(session, units)
            recorded = await _recorded(session, ids)
            duties = {
                (duty.enterprise_id, duty.kind): duty
                for duty in (
                    await session.execute(select(SelfCheckDuty).where(SelfCheckDuty.enterprise_id.in_(ids)))  # type: ignore[attr-defined]
                ).scalars()
            }
            for unit in units:
                states = _kind_states(
                    beijing_date(unit.created_at),
                    today,
                    timelines[unit.id],
                    {kind: recorded.get((unit.id, kind), set()) for kind in KINDS},
                )
                for kind, (overdue_since, missing) in states.items():
                    duty = duties.get((unit.id, kind))
                    if duty is None:
                        if overdue_since is None:
                            continue  # nothing to remember: on time and never behind
                        duty = SelfCheckDuty(enterprise_id=unit.id, kind=kind, checked_on=today)
                        session.add(duty)
                    newly = duty.overdue_since is None and overdue_since is not None
                    duty.overdue_since, duty.missing, duty.checked_on = overdue_since, missing, today
                    if newly:
                        assert overdue_since is not None
                        emit(
                            session,
                            SELF_CHECK_OVERDUE,
                            SelfCheckOverdue(
                                enterprise_id=unit.id,
                                kind=kind,  # type: ignore[arg-type]
                                overdue_since=overdue_since,
                                missing_periods=missing,
                            ),
                            region=unit.region_code,
                            enterprise_id=unit.id,
                        )
                        announced += 1
                earliest = min((since for since, _ in states.values() if since is not None), default=None)
                if earliest != unit.self_check_overdue_since:
                    await session.execute(
                        update(Enterprise)
                        .where(Enterprise.id == unit.id)
                        .values(self_check_overdue_since=earliest)
                    )


async def _check_duties(app: FastAPI) -> str:
    announced = await check_duties(app.state.db, today_cn())
    return f"self-check duty check: {announced} units newly overdue"


# Check duties at start, then every ``registry_duty_check_interval_seconds``.
duty_job = periodic(
    "duty_checks", lambda settings: settings.registry_duty_check_interval_seconds, _check_duties
)


# ------------------------------------------------------------------------------------------------ reading


def _present(record: SelfCheck, owed: bool) -> SelfCheckPublic:
    return SelfCheckPublic(
        **record.model_dump(exclude={"content", "kind"}),
        kind=SelfCheckKind(record.kind),
        period=period_label(record.kind, record.period_start),
        period_end=period_end(record.kind, record.period_start),
        content=json.loads(record.content),
        owed=owed,
    )


def _owed(record: SelfCheck, timeline: tuple[list[Pause], date | None]) -> bool:
    end = period_end(record.kind, record.period_start)
    return bool(owed_periods(record.kind, record.period_start, end, *timeline))


async def compliance(
    session: AsyncSession,
    enterprise: Enterprise,
    *,
    as_of: date,
    from_day: date | None,
    kinds: Sequence[str] = KINDS,
) -> CompliancePublic:
    """自查情况 of one unit: per kind what it owed before ``as_of``, what it did, what is missing."""
    start = from_day or beijing_date(enterprise.created_at)
    if start > as_of:
        raise DateRangeInvalid(f"起算日期 {start} 晚于统计截止日期 {as_of}", field="from")
    pauses, final_on = await _timeline(session, enterprise)
    recorded = await _recorded(session, [enterprise.id])
    results = []
    for kind in kinds:
        found = assess(
            kind, start, as_of, pauses, final_on, recorded.get((enterprise.id, kind), set()), detailed=True
        )
        results.append(
            KindCompliancePublic(
                kind=SelfCheckKind(kind),
                owed=len(found.owed),
                done=len(found.owed) - len(found.missing),
                missing_total=len(found.missing),
                missing=[
                    PeriodRef(period=period_label(kind, p), start=p, end=period_end(kind, p))
                    for p in found.missing[:MISSING_LISTED]
                ],
                overdue_since=found.overdue_since,
                paused_periods=len(found.paused),
                recorded_not_owed=found.recorded_not_owed,
            )
        )
    return CompliancePublic(
        enterprise_id=enterprise.id,
        from_=start,
        as_of=as_of,
        operating_status=enterprise.operating_status,
        final_on=final_on if final_on != date.min else None,
        pauses=[
            PausePublic(status=p.status, start=None if p.start == date.min else p.start, end=p.end)
            for p in pauses
        ],
        calendar_known=calendar_known_between(start, as_of),
        overdue_since=min((k.overdue_since for k in results if k.overdue_since is not None), default=None),
        kinds=results,
    )


# ------------------------------------------------------------------------------------------------ routes

_SELF_CHECKS = "/enterprises/{enterprise_id}/self-checks"


@router.get(
    "/self-checks/compliance",
    response_model=Page[OverdueUnitPublic],
    summary="辖区内缺报日管控/周排查/月调度记录的单位（按最近一次自查核查）",
)
async def overdue_units(
    db: DbDep,
    caller: CallerDep,
    region: Annotated[
        str | None, Query(pattern=r"^\d{6}$", description="行政区划代码（须在管辖范围内）")
    ] = None,
    kind: Annotated[SelfCheckKind | None, Query(description="只看某一类缺报")] = None,
    cursor: str | None = None,
    limit: Annotated[int, Query(ge=1, le=MAX_LIMIT)] = 100,
) -> Page[OverdueUnitPublic]:
    conditions = service.supervised_scope(caller, region, refusal="企业用户只能查看本单位的自查情况")
    stmt = select(Enterprise).where(*conditions, Enterprise.operating_status.not_in(FINAL_STATUSES))  # type: ignore[attr-defined]
    if kind is None:
        stmt = stmt.where(Enterprise.self_check_overdue_since.is_not(None))  # type: ignore[union-attr]
    else:
        behind = select(SelfCheckDuty.enterprise_id).where(
            SelfCheckDuty.kind == kind.value,
            SelfCheckDuty.overdue_since.is_not(None),  # type: ignore[union-attr]
        )
        stmt = stmt.where(Enterprise.id.in_(behind))  # type: ignore[attr-defined]
    async with db.session() as session:
        units, next_cursor = await keyset(session, stmt, Enterprise.id, cursor=cursor, limit=limit)  # type: ignore[arg-type]
        duties: dict[str, list[SelfCheckDuty]] = defaultdict(list)
        if units:
            rows = (
                await session.execute(
                    select(SelfCheckDuty)
                    .where(
                        SelfCheckDuty.enterprise_id.in_([u.id for u in units]),  # type: ignore[attr-defined]
                        SelfCheckDuty.overdue_since.is_not(None),  # type: ignore[union-attr]
                    )
                    .order_by(SelfCheckDuty.enterprise_id, SelfCheckDuty.kind)
                )
            ).scalars()
            for duty in rows:
                duties[duty.enterprise_id].append(duty)
    items = []
    for unit in units:
        kinds = [
            KindDutyPublic(
                kind=SelfCheckKind(d.kind),
                overdue_since=d.overdue_since,
                missing=d.missing,
                checked_on=d.checked_on,
            )
            for d in duties[unit.id]
            if kind is None or d.kind == kind.value
        ]
        since = min(
            (k.overdue_since for k in kinds if k.overdue_since), default=unit.self_check_overdue_since
        )
        items.append(
            OverdueUnitPublic(
                enterprise_id=unit.id,
                uscc=unit.uscc,
                name=unit.name,
                region_code=unit.region_code,
                station_code=unit.station_code,
                operating_status=unit.operating_status,
                overdue_since=since,
                kinds=kinds,
            )
        )
    return Page[OverdueUnitPublic](items=items, next_cursor=next_cursor)


@router.get(
    _SELF_CHECKS + "/compliance",
    response_model=CompliancePublic,
    response_model_by_alias=True,
    summary="单位自查情况：应填报、已填报、缺报期间（停产停业期间不计）",
)
async def unit_compliance(
    enterprise_id: str,
    db: DbDep,
    caller: CallerDep,
    as_of: Annotated[
        date | None, Query(description="统计截止日期（默认今天）：此日之前已结束的期间计为应填报")
    ] = None,
    from_: Annotated[date | None, Query(alias="from", description="起算日期（默认录入台账之日）")] = None,
    kind: SelfCheckKind | None = None,
) -> CompliancePublic:
    today = today_cn()
    as_of = as_of or today
    if as_of > today:
        raise DateRangeInvalid("统计截止日期不能晚于今天", field="as_of")
    async with db.session() as session:
        enterprise = await _require_reader(session, caller, enterprise_id)
        return await compliance(
            session, enterprise, as_of=as_of, from_day=from_, kinds=[kind.value] if kind else KINDS
        )


@router.get(_SELF_CHECKS, response_model=Page[SelfCheckPublic], summary="自查记录（日管控、周排查、月调度）")
async def list_self_checks(
    enterprise_id: str,
    db: DbDep,
    caller: CallerDep,
    kind: SelfCheckKind | None = None,
    from_: Annotated[date | None, Query(alias="from", description="期间起始日不早于")] = None,
    to: Annotated[date | None, Query(description="期间起始日不晚于")] = None,
    cursor: str | None = None,
    limit: Annotated[int, Query(ge=1, le=MAX_LIMIT)] = 100,
) -> Page[SelfCheckPublic]:
    async with db.session() as session:
        enterprise = await _require_reader(session, caller, enterprise_id)
        stmt = select(SelfCheck).where(SelfCheck.enterprise_id == enterprise.id)
        if kind is not None:
            stmt = stmt.where(SelfCheck.kind == kind.value)
        if from_ is not None:
            stmt = stmt.where(SelfCheck.period_start >= from_)
        if to is not None:
            stmt = stmt.where(SelfCheck.period_start <= to)
        rows, next_cursor = await keyset(session, stmt, SelfCheck.id, cursor=cursor, limit=limit)  # type: ignore[arg-type]
        timeline = await _timeline(session, enterprise)
    return Page[SelfCheckPublic](
        items=[_present(r, _owed(r, timeline)) for r in rows], next_cursor=next_cursor
    )


@router.get(_SELF_CHECKS + "/{kind}/{period}", response_model=SelfCheckPublic, summary="某一期间的自查记录")
async def get_self_check(
    enterprise_id: str, kind: SelfCheckKind, period: str, db: DbDep, caller: CallerDep
) -> SelfCheckPublic:
    try:
        start = parse_period(kind.value, period)
    except ValueError as exc:
        raise PeriodInvalid(str(exc), field="period") from None
    async with db.session() as session:
        enterprise = await _require_reader(session, caller, enterprise_id)
        record = (
            await session.execute(
                select(SelfCheck).where(
                    SelfCheck.enterprise_id == enterprise.id,
                    SelfCheck.kind == kind.value,
                    SelfCheck.period_start == start,
                )
            )
        ).scalar_one_or_none()
        if record is None:
            raise SelfCheckNotFound(f"{KIND_NAMES[kind.value]} {period_label(kind.value, start)} 尚未填报")
        return _present(record, _owed(record, await _timeline(session, enterprise)))


@router.put(
    _SELF_CHECKS + "/{kind}/{period}",
    response_model=SelfCheckPublic,
    responses={201: {"description": "新建", "model": SelfCheckPublic}},
    summary="填报某一期间的日管控/周排查/月调度记录（重复提交即更新，不会重复）",
)
async def put_self_check(
    enterprise_id: str,
    kind: SelfCheckKind,
    period: str,
    body: SelfCheckIn,
    db: DbDep,
    caller: CallerDep,
    response: Response,
) -> SelfCheckPublic:
    for attempt in (1, 2):
        try:
            async with db.transaction() as session:
                result = await record_self_check(
                    session=session,
                    caller=caller,
                    enterprise_id=enterprise_id,
                    kind=kind.value,
                    period=period,
                    data=body,
                    today=today_cn(),
                )
                shown = _present(result.record, result.owed)
        except IntegrityError:
            if attempt == 2:
                raise
            continue  # a concurrent first write of the same period won: this one updates it
        response.status_code = 201 if result.created else 200
        return shown
    raise AssertionError("unreachable")
