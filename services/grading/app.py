"""grading: tiers A–D and supervision classes (分层分级、分类监管), moved by events."""

from __future__ import annotations

from fastapi import FastAPI

from services.common.app import create_service_app
from services.common.settings import Settings
from services.grading.api import router
from services.grading.events import HANDLERS


def create_app(settings: Settings | None = None) -> FastAPI:
    return create_service_app(
        "grading",
        title="QSR grading 分层分级与分类监管服务",
        description="按规模分 A–D 级；按风险信号（监督抽查不合格等）自动调整监管类别：无事不扰、重点监管、特别监管。",
        router=router,
        handlers=HANDLERS,
        settings=settings,
    )


app = create_app()
