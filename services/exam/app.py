"""exam: manager examinations (质量安全管理人员考核). Now: the question bank (题库) and exam's own projection
of the units and managers registry announces; plans, papers and sittings follow."""

from __future__ import annotations

from fastapi import FastAPI

from services.common.app import create_service_app
from services.common.settings import Settings
from services.exam.api import router
from services.exam.events import HANDLERS
from services.exam.sittings.closing import deadline_job


def create_app(settings: Settings | None = None) -> FastAPI:
    return create_service_app(
        "exam",
        title="QSR exam 质量安全管理人员考核服务",
        description="省局题库与市县本地题目（版本管理、停用、.xlsx/.csv 导入）；随机组卷、限时在线考试（自动保存、到时自动交卷）、"
        "纸笔考核答卷录入与导入、补考；"
        "考核对象：由台账事件同步的单位及其质量安全总监、质量安全员。",
        router=router,
        handlers=HANDLERS,
        settings=settings,
        background=[deadline_job],
    )


app = create_app()
