"""The self-checks' logic: who may write and read, recording a period (填报), the compliance of a unit, the list
of units behind, and the duty check. The plain rules are in ``selfchecks.rules``, the queries in
``selfchecks.repository``."""

from __future__ import annotations

import json
import logging
from collections import defaultdict
from collections.abc import Mapping, Sequence
from dataclasses import dataclass
from datetime import date
from typing import Any

from fastapi import FastAPI
from pydantic import BaseModel, ValidationError
from sqlalchemy.ext.asyncio import AsyncSession

from services.common.app import periodic
from services.common.auth import ENTERPRISE, Caller
from services.common.db import Database, today_cn, utcnow
from services.common.events import SELF_CHECK_OVERDUE, SelfCheckOverdue
from services.common.ids import new_id
from services.common.messaging import emit
from services.common.pagination import Page
from services.common.shape_errors import shape_errors
from services.common.workdays import calendar_known_between
from services.registry import audit, service
from services.registry.models import Enterprise, SelfCheck, SelfCheckDuty
from services.registry.selfchecks import repository
from services.registry.selfchecks.errors import (
    AttachmentUnknown,
    ContentInvalid,
    DateRangeInvalid,
    ManagerInvalid,
    PeriodInFuture,
    PeriodInvalid,
    RiskPointUnknown,
    SelfCheckNotFound,
    UnitClosed,
)
from services.registry.selfchecks.rules import (
    MANAGER_ROLE,
    ROLE_NAMES,
    assess,
    beijing_date,
    is_owed,
    kind_states,
    operating_timeline,
)
from services.registry.selfchecks.schemas import (
    CONTENT_MODELS,
    MISSING_LISTED,
    CompliancePublic,
    DailyContent,
    KindCompliancePublic,
    KindDutyPublic,
    MonthlyContent,
    OverdueUnitPublic,
    PausePublic,
    PeriodRef,
    SelfCheckIn,
    SelfCheckKind,
    SelfCheckPublic,
    WeeklyContent,
)
from services.registry.workdays import (
    KIND_NAMES,
    KINDS,
    Pause,
    owed_periods,
    parse_period,
    period_end,
    period_label,
)

log = logging.getLogger("qsr.registry.selfchecks")

#: Units per batch of the duty check (three queries per batch, whatever the number of periods).
DUTY_BATCH = 500


# ------------------------------------------------------------------------------------------------ access


async def require_writer(session: AsyncSession, caller: Caller, enterprise_id: str) -> Enterprise:
    """The unit's own enterprise account, or a regulator supervising the unit (404 / 403 otherwise)."""
    enterprise = await service.require(session, caller, enterprise_id)
    if caller.role == ENTERPRISE and caller.uscc is not None and caller.uscc == enterprise.uscc:
        return enterprise
    return await service.require(session, caller, enterprise_id, write=True)


async def require_reader(session: AsyncSession, caller: Caller, enterprise_id: str) -> Enterprise:
    return await service.require(session, caller, enterprise_id)


def overdue_scope(caller: Caller, region: str | None) -> list[Any]:
    """The units whose self-checks the caller may survey (regulators only), narrowed to ``region``."""
    return service.supervised_scope(caller, region, refusal="企业用户只能查看本单位的自查情况")


def period_start(kind: str, period: str) -> date:
    """The first day of ``period`` as written for ``kind`` (422 when it is not one)."""
    try:
        return parse_period(kind, period)
    except ValueError as exc:
        raise PeriodInvalid(str(exc), field="period") from None


# ------------------------------------------------------------------------------------------------ timelines


async def timeline(session: AsyncSession, enterprise: Enterprise) -> tuple[list[Pause], date | None]:
    changes = await repository.status_changes(session, enterprise.id)
    initial = changes[0].from_status if changes else enterprise.operating_status
    return operating_timeline(initial, [(c.effective_on, c.to_status) for c in changes])


async def timelines(
    session: AsyncSession, units: Sequence[Any]
) -> dict[str, tuple[list[Pause], date | None]]:
    """Timelines of many units in one query (``units`` rows with ``id`` and ``operating_status``)."""
    rows = await repository.status_changes_of(session, [unit.id for unit in units])
    by_unit: dict[str, list[Any]] = defaultdict(list)
    for row in rows:
        by_unit[row.enterprise_id].append(row)
    found = {}
    for unit in units:
        changes = by_unit.get(unit.id, [])
        initial = changes[0].from_status if changes else unit.operating_status
        found[unit.id] = operating_timeline(initial, [(c.effective_on, c.to_status) for c in changes])
    return found


async def risk_points(session: AsyncSession, enterprise_id: str, on: date) -> set[str] | None:
    """The points of the risk control list in force on ``on`` (None: the unit had adopted none)."""
    content = await repository.risk_control_list(session, enterprise_id, on)
    if content is None:
        return None
    try:
        points = {str(item["point"]).strip() for item in json.loads(content)}
    except (ValueError, TypeError, KeyError):
        return None
    return points or None


# ------------------------------------------------------------------------------------------------ writing


def validate_content(kind: str, content: Mapping[str, Any]) -> BaseModel:
    try:
        return CONTENT_MODELS[kind].model_validate(content)
    except ValidationError as exc:
        errors = shape_errors(exc.errors(), prefix="content")
        first = errors[0]
        raise ContentInvalid(
            f"{KIND_NAMES[kind]}内容有误（{first['field']}）：{first['message']}", errors=errors
        ) from None


async def check_manager(
    session: AsyncSession, enterprise: Enterprise, kind: str, manager_id: str, start: date, end: date
) -> None:
    """The manager must be of this unit, hold the post the kind needs, and hold it during the period."""
    role = MANAGER_ROLE[kind]
    manager = await repository.manager(session, manager_id)
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
    enterprise = await require_writer(session, caller, enterprise_id)
    start = period_start(kind, period)
    end = period_end(kind, start)
    if start > today:
        raise PeriodInFuture(f"{period_label(kind, start)} 尚未开始，不能填报", field="period")
    pauses, final_on = await timeline(session, enterprise)
    if final_on is not None and start >= final_on:
        since = "" if final_on == date.min else f"自 {final_on} 起"
        raise UnitClosed(
            f"单位{since}已注销、吊销或迁出（{enterprise.operating_status}），此后的期间无须填报"
        )
    content = validate_content(kind, data.content)
    if isinstance(content, MonthlyContent) and not (start <= content.held_on <= min(end, today)):
        raise ContentInvalid(
            f"月调度会议日期 {content.held_on} 应在 {period_label(kind, start)} 内且不晚于今天",
            field="content.held_on",
        )
    if isinstance(content, DailyContent):
        known = await risk_points(session, enterprise.id, end)
        unknown = [item.point for item in content.items if known is not None and item.point not in known]
        if unknown:
            raise RiskPointUnknown(
                f"检查项目 {unknown[0]} 不在本单位的质量安全风险管控清单中",
                field="content.items",
                unknown=unknown,
            )
    if data.manager_id is not None:
        await check_manager(session, enterprise, kind, data.manager_id, start, end)
    if data.attachment_id is not None:
        attachment = await repository.attachment(session, data.attachment_id)
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
    await repository.lock_unit(session, enterprise.id)
    record = await repository.self_check(session, enterprise.id, kind, start)
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
    duty = await repository.duty(session, enterprise.id, kind)
    if duty is None or duty.overdue_since is None:
        return
    pauses, final_on = await timeline(session, enterprise)
    recorded = (await repository.recorded(session, [enterprise.id], kind)).get((enterprise.id, kind), set())
    found = assess(kind, beijing_date(enterprise.created_at), today, pauses, final_on, recorded)
    duty.overdue_since = found.overdue_since
    duty.missing = len(found.missing)
    duty.checked_on = today
    others = await repository.other_overdue_since(session, enterprise.id, kind)
    enterprise.self_check_overdue_since = min(
        [*others, *([found.overdue_since] if found.missing else [])], default=None
    )


# ------------------------------------------------------------------------------------------------ the duty check


async def check_duties(db: Database, today: date) -> int:
    """Recompute, as of ``today``, what every operating unit owes; keep ``self_check_overdue_since`` and the
    per-kind findings current, and announce SELF_CHECK_OVERDUE for each unit and kind that has newly fallen
    behind (not again while it stays behind; again after it has caught up and falls behind anew).

    Units go in batches of ``DUTY_BATCH`` (a few queries per batch, one transaction each). Returns the number
    of announcements."""
    announced = 0
    async with db.transaction() as session:
        await repository.clear_closed(session, today)
    after = ""
    while True:
        async with db.transaction() as session:
            units = await repository.operating_units_after(session, after, DUTY_BATCH)
            if not units:
                return announced
            after = units[-1].id
            ids = [unit.id for unit in units]
            found_timelines = await timelines(session, units)
            recorded = await repository.recorded(session, ids)
            duties = await repository.duties_of(session, ids)
            for unit in units:
                states = kind_states(
                    beijing_date(unit.created_at),
                    today,
                    found_timelines[unit.id],
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
                    await repository.set_overdue_since(session, unit.id, earliest)


async def _check_duties(app: FastAPI) -> str:
    announced = await check_duties(app.state.db, today_cn())
    return f"self-check duty check: {announced} units newly overdue"


# Check duties at start, then every ``registry_duty_check_interval_seconds``.
duty_job = periodic(
    "duty_checks", lambda settings: settings.registry_duty_check_interval_seconds, _check_duties
)


# ------------------------------------------------------------------------------------------------ reading


def present(record: SelfCheck, owed: bool) -> SelfCheckPublic:
    return SelfCheckPublic(
        **record.model_dump(exclude={"content", "kind"}),
        kind=SelfCheckKind(record.kind),
        period=period_label(record.kind, record.period_start),
        period_end=period_end(record.kind, record.period_start),
        content=json.loads(record.content),
        owed=owed,
    )


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
    pauses, final_on = await timeline(session, enterprise)
    recorded = await repository.recorded(session, [enterprise.id])
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


async def overdue_units(
    session: AsyncSession,
    conditions: list[Any],
    *,
    kind: SelfCheckKind | None,
    cursor: str | None,
    limit: int,
) -> Page[OverdueUnitPublic]:
    """The units within ``conditions`` behind on their self-checks (on ``kind``), as the last duty check found."""
    units, next_cursor = await repository.overdue_units(
        session, conditions, None if kind is None else kind.value, cursor=cursor, limit=limit
    )
    duties: dict[str, list[SelfCheckDuty]] = defaultdict(list)
    if units:
        duties = await repository.overdue_duties(session, [u.id for u in units])
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


async def list_self_checks(
    session: AsyncSession,
    enterprise: Enterprise,
    *,
    kind: SelfCheckKind | None,
    from_day: date | None,
    to: date | None,
    cursor: str | None,
    limit: int,
) -> Page[SelfCheckPublic]:
    rows, next_cursor = await repository.self_checks(
        session,
        enterprise.id,
        kind=None if kind is None else kind.value,
        from_day=from_day,
        to=to,
        cursor=cursor,
        limit=limit,
    )
    found = await timeline(session, enterprise)
    return Page[SelfCheckPublic](items=[present(r, is_owed(r, found)) for r in rows], next_cursor=next_cursor)


async def get_self_check(
    session: AsyncSession, enterprise: Enterprise, kind: SelfCheckKind, start: date
) -> SelfCheckPublic:
    record = await repository.self_check(session, enterprise.id, kind.value, start)
    if record is None:
        raise SelfCheckNotFound(f"{KIND_NAMES[kind.value]} {period_label(kind.value, start)} 尚未填报")
    return present(record, is_owed(record, await timeline(session, enterprise)))
