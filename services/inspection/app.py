"""inspection: spot checks and on-site inspections (监督抽查、监督检查)."""

from __future__ import annotations

from fastapi import FastAPI

from services.common.app import create_service_app
from services.common.settings import Settings
from services.inspection import followup
from services.inspection.api import router
from services.inspection.events import HANDLERS
from services.inspection.visits.service import idempotency_job


def create_app(settings: Settings | None = None) -> FastAPI:
    return create_service_app(
        "inspection",
        title="QSR inspection 监督检查服务",
        description="监管任务清单、双随机检查计划、移动端现场检查（离线批量上传）、监督抽查及复检、"
        "整改与后处理、立案查处、投诉举报、督查清单、半年检查责任跟踪。",
        router=router,
        handlers=HANDLERS,
        settings=settings,
        background=[followup.overdue_job, idempotency_job],
    )


app = create_app()
