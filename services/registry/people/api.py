"""Routes of the managers (质量安全管理人员): appointment, list, detail, correction, removal, trainings."""

from __future__ import annotations

from typing import Annotated

from fastapi import APIRouter, Query, Request

from services.common.app import DbDep
from services.common.auth import CallerDep
from services.registry.people import service
from services.registry.people.schemas import (
    ManagerAppoint,
    ManagerChange,
    ManagerPublic,
    ManagerRemoval,
    TrainingIn,
    TrainingPublic,
)

router = APIRouter(tags=["managers 质量安全管理人员"])

_MANAGERS = "/enterprises/{enterprise_id}/managers"


@router.post(
    _MANAGERS,
    status_code=201,
    response_model=ManagerPublic,
    summary="任命质量安全总监、质量安全员或主要负责人",
)
async def appoint_manager(
    enterprise_id: str, body: ManagerAppoint, db: DbDep, caller: CallerDep, request: Request
) -> ManagerPublic:
    settings = request.app.state.settings
    async with db.transaction() as session:
        manager = await service.appoint(
            session=session, caller=caller, settings=settings, enterprise_id=enterprise_id, data=body
        )
        [shown] = await service.present_all(session, caller, settings, [manager])
        return shown


@router.get(_MANAGERS, response_model=list[ManagerPublic], summary="质量安全管理人员（默认仅在任）")
async def list_managers(
    enterprise_id: str,
    db: DbDep,
    caller: CallerDep,
    request: Request,
    include_removed: Annotated[bool, Query(description="含已免职人员")] = False,
) -> list[ManagerPublic]:
    async with db.session() as session:
        return await service.list_managers(
            session, caller, request.app.state.settings, enterprise_id, include_removed=include_removed
        )


@router.get(_MANAGERS + "/{manager_id}", response_model=ManagerPublic, summary="质量安全管理人员详情")
async def get_manager(
    enterprise_id: str, manager_id: str, db: DbDep, caller: CallerDep, request: Request
) -> ManagerPublic:
    async with db.session() as session:
        return await service.get_manager(
            session, caller, request.app.state.settings, enterprise_id, manager_id
        )


@router.post(
    _MANAGERS + "/{manager_id}/change",
    response_model=ManagerPublic,
    summary="更正姓名或联系电话（须注明原因）",
)
async def change_manager(
    enterprise_id: str, manager_id: str, body: ManagerChange, db: DbDep, caller: CallerDep, request: Request
) -> ManagerPublic:
    settings = request.app.state.settings
    async with db.transaction() as session:
        manager = await service.correct(
            session=session,
            caller=caller,
            settings=settings,
            enterprise_id=enterprise_id,
            manager_id=manager_id,
            change=body,
        )
        [shown] = await service.present_all(session, caller, settings, [manager])
        return shown


@router.post(
    _MANAGERS + "/{manager_id}/removal", response_model=ManagerPublic, summary="免职（记录保留在历史中）"
)
async def remove_manager(
    enterprise_id: str, manager_id: str, body: ManagerRemoval, db: DbDep, caller: CallerDep, request: Request
) -> ManagerPublic:
    async with db.transaction() as session:
        manager = await service.remove(
            session=session, caller=caller, enterprise_id=enterprise_id, manager_id=manager_id, removal=body
        )
        [shown] = await service.present_all(session, caller, request.app.state.settings, [manager])
        return shown


@router.post(
    _MANAGERS + "/{manager_id}/trainings",
    status_code=201,
    response_model=TrainingPublic,
    summary="登记培训记录",
)
async def record_training(
    enterprise_id: str, manager_id: str, body: TrainingIn, db: DbDep, caller: CallerDep
) -> TrainingPublic:
    async with db.transaction() as session:
        training = await service.add_training(
            session=session, caller=caller, enterprise_id=enterprise_id, manager_id=manager_id, data=body
        )
        return TrainingPublic.model_validate(training, from_attributes=True)


@router.get(_MANAGERS + "/{manager_id}/trainings", response_model=list[TrainingPublic], summary="培训记录")
async def list_trainings(
    enterprise_id: str, manager_id: str, db: DbDep, caller: CallerDep
) -> list[TrainingPublic]:
    async with db.session() as session:
        rows = await service.trainings(session, caller, enterprise_id, manager_id)
    return [TrainingPublic.model_validate(row, from_attributes=True) for row in rows]
