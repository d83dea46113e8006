"""Replicas of a service starting together migrate its database once: the others wait for the lock and find
nothing to do, then all serve. Real processes on SQLite files or PostgreSQL databases."""

from __future__ import annotations

import asyncio
import sys
from asyncio.subprocess import PIPE
from pathlib import Path

import pytest
from sqlalchemy import text

from services.common.db import Database
from tests.harness import database_template, drop_databases

pytestmark = pytest.mark.asyncio

ROOT = Path(__file__).resolve().parents[2]

MIGRATE = """
import asyncio, sys
from services.common.db import migrate
print("migrated" if asyncio.run(migrate("grading", sys.argv[1])) else "already there")
"""


async def test_two_replicas_starting_together_migrate_once_and_both_can_serve(tmp_path: Path) -> None:
    template = database_template(tmp_path)
    url = template.format(service="grading")
    try:
        processes = [
            await asyncio.create_subprocess_exec(
                sys.executable, "-c", MIGRATE, url, cwd=ROOT, stdout=PIPE, stderr=PIPE
            )
            for _ in range(2)
        ]
        outcomes = []
        for process in processes:
            out, err = await asyncio.wait_for(process.communicate(), 120)
            assert process.returncode == 0, err.decode()
            outcomes.append(out.decode().strip())
        assert sorted(outcomes) == ["already there", "migrated"]
        db = Database(url)
        try:
            async with db.session() as session:
                assert (
                    await session.execute(text("SELECT count(*) FROM graded_enterprise"))
                ).scalar_one() == 0
        finally:
            await db.dispose()
    finally:
        await drop_databases(template)
