"""重新计算 as a job: a recompute of every unit (after a pack change) started by API or by the ``qsr``
command, with its progress (done of total) to watch. Jobs live in the grading process that runs them."""

from __future__ import annotations

import asyncio
import logging
import sys
from collections.abc import Callable
from dataclasses import dataclass, field
from datetime import datetime
from typing import Literal

from services.common.db import Database, migrate, today_cn, utcnow
from services.common.errors import Conflict, NotFound
from services.common.ids import new_id
from services.common.policy import PACKS_DIR, PackSet, load_packs
from services.common.settings import get_settings
from services.grading import repository
from services.grading.service import recompute

log = logging.getLogger("qsr.grading")


class RecomputeRunning(Conflict):
    code, title = "RECOMPUTE_RUNNING", "已有重新计算任务在运行，请等待其完成"


class RecomputeJobNotFound(NotFound):
    code, title = "RECOMPUTE_JOB_NOT_FOUND", "重新计算任务不存在（任务只保存在运行它的进程中）"


@dataclass
class RecomputeJob:
    id: str
    full: bool
    requested_by: str
    total: int = 0
    done: int = 0
    changed: int = 0
    status: Literal["running", "finished", "failed"] = "running"
    error: str | None = None
    started_at: datetime = field(default_factory=utcnow)
    finished_at: datetime | None = None

    def progress(self, done: int, changed: int) -> None:
        self.done, self.changed = done, changed


class RecomputeJobs:
    """The recompute jobs of this process, one running at a time."""

    def __init__(self, packs: PackSet) -> None:
        self.packs = packs
        self.jobs: dict[str, RecomputeJob] = {}
        self._tasks: set[asyncio.Task[None]] = set()

    def get(self, job_id: str) -> RecomputeJob:
        job = self.jobs.get(job_id)
        if job is None:
            raise RecomputeJobNotFound()
        return job

    async def start(self, db: Database, *, full: bool, requested_by: str) -> RecomputeJob:
        if any(job.status == "running" for job in self.jobs.values()):
            raise RecomputeRunning()
        job = RecomputeJob(id=new_id(), full=full, requested_by=requested_by)
        async with db.session() as session:
            job.total = await repository.count_units(session, due_only=not full)
        self.jobs[job.id] = job
        task = asyncio.create_task(self._run(db, job), name=f"grading-recompute-{job.id}")
        self._tasks.add(task)
        task.add_done_callback(self._tasks.discard)
        return job

    async def _run(self, db: Database, job: RecomputeJob) -> None:
        try:
            await recompute(db, self.packs, today=today_cn(), full=job.full, progress=job.progress)
            job.status = "finished"
        except Exception:
            log.exception("grading recompute job %s failed", job.id)
            # The caller is a regulator, not an operator: what failed is in the log, under the job's id.
            job.status = "failed"
            job.error = f"重算失败，请联系运维人员：grading 服务日志中记有任务 {job.id} 失败的原因"
        finally:
            job.finished_at = utcnow()


def progress_bar(total: int) -> Callable[[int, int], None]:
    """A progress line for the terminal: ``[#####-----]  41.0 %  410,000 / 1,000,000 units, 12,345 changed``."""

    def show(done: int, changed: int) -> None:
        share = done / total if total else 1.0
        bar = "#" * int(share * 30)
        sys.stderr.write(
            f"\r[{bar:<30}] {share * 100:5.1f} %  {done:,} / {total:,} units, {changed:,} changed"
        )
        sys.stderr.flush()

    return show


async def recompute_here(*, full: bool) -> dict[str, int]:
    """``qsr grading recompute``: migrate grading's database, then recompute in this process with a bar."""
    settings = get_settings()
    url = settings.database_url_for("grading")
    await migrate("grading", url)
    db = Database(url)
    try:
        async with db.session() as session:
            total = await repository.count_units(session, due_only=not full)
        packs = load_packs(settings.grading_packs_dir or PACKS_DIR)
        result = await recompute(db, packs, today=today_cn(), full=full, progress=progress_bar(total))
        sys.stderr.write("\n")
        return result
    finally:
        await db.dispose()


if __name__ == "__main__":
    import argparse

    parser = argparse.ArgumentParser(
        prog="qsr grading recompute", description="重新计算各单位的分级与监管类别"
    )
    parser.add_argument("--daily", action="store_true", help="only the units whose decision can lapse")
    outcome = asyncio.run(recompute_here(full=not parser.parse_args().daily))
    print(f"重新计算完成 (done): {outcome['units']:,} units visited, {outcome['changed']:,} changed")
