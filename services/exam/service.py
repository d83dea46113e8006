"""Exam's projection of the units and managers registry announces (the candidates of the sampled exams), and
how a candidate is shown: the name masked (张*), never an ID number (none reaches exam)."""

from __future__ import annotations

import json
from collections.abc import Sequence
from typing import Any

from sqlalchemy.dialects.postgresql import insert as postgresql_insert
from sqlalchemy.dialects.sqlite import insert as sqlite_insert
from sqlalchemy.ext.asyncio import AsyncSession

from services.common.auth import Caller
from services.common.errors import Forbidden
from services.common.events import (
    MANAGER_APPOINTED,
    MANAGER_DISQUALIFIED,
    MANAGER_REMOVED,
    CloudEvent,
    EnterpriseRegistered,
    EnterpriseStatusChanged,
)
from services.common.messaging import Delivery
from services.exam.models import ExamManager, ExamUnit

EXAMINED_ROLES = ("quality_director", "quality_officer")  # a principal (主要负责人) is not examined
MANAGER_STATUS = {
    MANAGER_APPOINTED.type: "appointed",
    MANAGER_REMOVED.type: "removed",
    MANAGER_DISQUALIFIED.type: "disqualified",
}


class CandidatesRegulatorOnly(Forbidden):
    code, title = "CANDIDATES_REGULATOR_ONLY", "考核对象名单仅限监管人员查看"


class RegionOutOfJurisdiction(Forbidden):
    code, title = "REGION_OUT_OF_JURISDICTION", "所选区域不在您的管辖范围内"


def mask_name(name: str) -> str:
    """张三 → 张*, 欧阳修 → 欧**: the family name's first character and a star for each other one."""
    name = name.strip()
    return name[:1] + "*" * max(len(name) - 1, 1) if name else ""


def require_regulator(caller: Caller, region_code: str | None) -> None:
    if not caller.is_regulator:
        raise CandidatesRegulatorOnly("企业账号不能查看考核对象名单")
    if region_code is not None and not caller.can_see(region_code[:6]):
        raise RegionOutOfJurisdiction(f"区域 {region_code} 不在您的管辖范围内", field="region")


# ---------------------------------------------------------------------------------- units (by_unit mutators


def new_unit(event: CloudEvent, payload: EnterpriseRegistered) -> dict[str, Any]:
    return {
        "id": payload.enterprise_id,
        "uscc": payload.uscc,
        "name": payload.name,
        "kind": payload.kind,
        "region_code": payload.region_code,
        "station_code": payload.station_code,
        "product_categories": json.dumps(sorted(payload.product_categories)),
        "operating_status": payload.operating_status,
    }


async def on_registered(
    session: AsyncSession, unit: ExamUnit, event: CloudEvent, payload: EnterpriseRegistered
) -> None:
    """registry.enterprise.registered / updated (a full snapshot): the unit as it now stands."""
    for name, value in new_unit(event, payload).items():
        setattr(unit, name, value)


async def on_status_changed(
    session: AsyncSession, unit: ExamUnit, event: CloudEvent, payload: EnterpriseStatusChanged
) -> None:
    unit.operating_status = payload.to_status


# ------------------------------------------------------------------------------------------------ managers


async def apply_manager_events(session: AsyncSession, deliveries: Sequence[Delivery]) -> None:
    """registry.manager.*: each event carries the manager's whole state, so the last of a batch wins; the
    batch is written with one upsert (executemany)."""
    latest: dict[str, dict[str, Any]] = {}
    for d in deliveries:
        p = d.payload
        if p.role not in EXAMINED_ROLES:
            continue
        latest[p.manager_id] = {
            "id": p.manager_id,
            "enterprise_id": p.enterprise_id,
            "role": p.role,
            "name": p.name,
            "status": MANAGER_STATUS[d.event.type],
            "appointed_on": p.appointed_on,
            "removed_on": p.removed_on,
        }
    if not latest:
        return
    dialect = session.bind.dialect.name if session.bind is not None else "sqlite"
    insert = postgresql_insert if dialect == "postgresql" else sqlite_insert
    table = ExamManager.__table__  # type: ignore[attr-defined]
    stmt = insert(table)
    stmt = stmt.on_conflict_do_update(
        index_elements=[table.c.id],
        set_={
            name: stmt.excluded[name]
            for name in ("enterprise_id", "role", "name", "status", "appointed_on", "removed_on")
        },
    )
    await session.execute(stmt, [latest[key] for key in sorted(latest)])
