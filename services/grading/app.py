"""grading: tiers A–D, responsible levels and supervision classes under each province's policy pack."""

from __future__ import annotations

import asyncio
import logging

from fastapi import FastAPI

from services.common.app import create_service_app
from services.common.db import today_cn
from services.common.policy import PACKS_DIR, load_packs
from services.common.settings import Settings, get_settings
from services.grading.api import router
from services.grading.events import handlers
from services.grading.jobs import RecomputeJobs
from services.grading.service import recompute

log = logging.getLogger("qsr.grading")


async def recompute_periodically(app: FastAPI) -> None:
    """Windows lapse and manual decisions expire with the days, so every unit is decided again on a timer."""
    settings: Settings = app.state.settings
    full = True  # at start every unit, for the packs may have changed; then only the units that can lapse
    while True:
        try:
            result = await recompute(app.state.db, app.state.packs, today=today_cn(), full=full)
            full = False
            log.info("grading recompute: %s", result)
        except asyncio.CancelledError:
            raise
        except Exception:
            log.exception("grading recompute failed; it runs again at the next interval")
        await asyncio.sleep(settings.grading_recompute_interval_seconds)


def create_app(settings: Settings | None = None) -> FastAPI:
    settings = settings or get_settings()
    # A broken pack stops the service here, before it serves anything, with the file and line in the error.
    packs = load_packs(settings.grading_packs_dir or PACKS_DIR)
    app = create_service_app(
        "grading",
        title="QSR grading 分层分级与分类监管服务",
        description="按各省规则包（policy pack）划分 A–D 级、确定监管层级；按风险信号自动调整监管类别（无事不扰、重点监管、特别监管）、"
        "上一级监管与建档锁定，并给出依据。",
        router=router,
        handlers=handlers(packs),
        settings=settings,
        background=[recompute_periodically],
    )
    app.state.packs = packs
    app.state.recompute_jobs = RecomputeJobs(packs)
    return app


app = create_app()
