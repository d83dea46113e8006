"""exam: manager examinations (质量安全管理人员考核): the question bank (题库), exam's own projection of the units
and managers registry announces, exam plans with the verifiable draw of the managers they examine (``plans/``),
and papers, timed sittings, paper sittings and retakes (``sittings/``)."""

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
        description="省局题库与市县本地题目（版本管理、停用、.xlsx/.csv 导入）；"
        "考核对象：由台账事件同步的单位及其质量安全总监、质量安全员；"
        "考核计划与可验证的随机抽取（公布种子、算法与输入摘要），抽中人员经单位账号接收考核通知；"
        "随机组卷、限时在线考试（自动保存、到时自动交卷）、纸笔考核答卷录入与导入、补考。",
        router=router,
        handlers=HANDLERS,
        settings=settings,
        background=[deadline_job],
    )


app = create_app()
