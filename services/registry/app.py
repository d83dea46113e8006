"""registry: the ledger of production and sales units (生产和销售单位台账)."""

from __future__ import annotations

from fastapi import FastAPI

from services.common.app import create_service_app
from services.common.settings import Settings
from services.registry.api import router
from services.registry.events import HANDLERS


def create_app(settings: Settings | None = None) -> FastAPI:
    return create_service_app(
        "registry",
        title="QSR registry 台账服务",
        description="生产和销售单位台账：录入、查询（按管辖范围）。",
        router=router,
        handlers=HANDLERS,
        settings=settings,
    )


app = create_app()
