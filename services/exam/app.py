"""exam: manager examinations (质量安全管理人员考核). Its database and health endpoints stand ready;
the question bank, sampling and exams come with their own issue."""

from __future__ import annotations

from fastapi import APIRouter, FastAPI

from services.common.app import create_service_app
from services.common.settings import Settings

router = APIRouter(tags=["exam 质量安全管理人员考核"])


def create_app(settings: Settings | None = None) -> FastAPI:
    return create_service_app(
        "exam",
        title="QSR exam 质量安全管理人员考核服务",
        description="质量安全总监、质量安全员监督抽查考核（待建设）。",
        router=router,
        settings=settings,
    )


app = create_app()
