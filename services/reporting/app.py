"""reporting: statistics and the dashboard's read models (统计报表)."""

from __future__ import annotations

from fastapi import FastAPI

from services.common.app import create_service_app
from services.common.settings import Settings
from services.reporting.api import router
from services.reporting.events import HANDLERS


def create_app(settings: Settings | None = None) -> FastAPI:
    return create_service_app(
        "reporting",
        title="QSR reporting 统计报表服务",
        description="由事件构建的统计：辖区内单位按层级、监管类别计数。",
        router=router,
        handlers=HANDLERS,
        settings=settings,
    )


app = create_app()
