"""registry: the ledger of production and sales units (生产和销售单位台账)."""

from __future__ import annotations

from fastapi import FastAPI

from services.common.app import create_service_app
from services.common.settings import Settings
from services.registry.api import router
from services.registry.events import HANDLERS
from services.registry.selfchecks.service import duty_job


def create_app(settings: Settings | None = None) -> FastAPI:
    return create_service_app(
        "registry",
        title="QSR registry 台账服务",
        description="生产和销售单位台账：录入与审核、经营状态、质量安全管理人员、制度文件、"
        "日管控/周排查/月调度、监管责任人、批量导入导出、检索（按管辖范围）。",
        router=router,
        handlers=HANDLERS,
        settings=settings,
        background=[duty_job],
    )


app = create_app()
