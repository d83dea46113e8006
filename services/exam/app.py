"""exam: manager examinations (质量安全管理人员考核). Now: the question bank (题库), exam's own projection of
the units and managers registry announces, and exam plans with the verifiable draw of the managers they examine
(``plans/``); papers and sittings follow."""

from __future__ import annotations

from fastapi import FastAPI

from services.common.app import create_service_app
from services.common.settings import Settings
from services.exam.api import router
from services.exam.events import HANDLERS


def create_app(settings: Settings | None = None) -> FastAPI:
    return create_service_app(
        "exam",
        title="QSR exam 质量安全管理人员考核服务",
        description="省局题库与市县本地题目（版本管理、停用、.xlsx/.csv 导入）；"
        "考核对象：由台账事件同步的单位及其质量安全总监、质量安全员；"
        "考核计划与可验证的随机抽取（公布种子、算法与输入摘要），抽中人员经单位账号接收考核通知。",
        router=router,
        handlers=HANDLERS,
        settings=settings,
    )


app = create_app()
