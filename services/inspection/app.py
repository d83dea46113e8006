"""inspection: spot checks and on-site inspections (监督抽查、监督检查)."""

from __future__ import annotations

from fastapi import FastAPI

from services.common.app import create_service_app
from services.common.settings import Settings
from services.inspection.api import router
from services.inspection.events import HANDLERS


def create_app(settings: Settings | None = None) -> FastAPI:
    return create_service_app(
        "inspection",
        title="QSR inspection 监督检查服务",
        description="监督抽查：不合格结果立即发布事件，由分级服务自动调整监管类别。",
        router=router,
        handlers=HANDLERS,
        settings=settings,
    )


app = create_app()
