"""A province starts a recompute of every unit by API and watches its progress (done of total); nobody else
may. Real database and NATS, through the service's app."""

from __future__ import annotations

from collections.abc import AsyncIterator

import httpx
import pytest
import pytest_asyncio
from sqlalchemy import insert, update

from services.common.db import utcnow
from services.common.settings import Settings
from services.grading.app import create_app
from services.grading.models import GradedEnterprise
from tests.harness import SX_PROVINCE, WENSHUI, eventually, identity, make_uscc, serving

pytestmark = pytest.mark.asyncio

UNITS = 300


@pytest_asyncio.fixture
async def grading(settings: Settings) -> AsyncIterator[httpx.AsyncClient]:
    app = create_app(settings)
    async with serving(app) as client:
        client.app_state = app.state  # type: ignore[attr-defined]
        yield client


async def test_a_province_recomputes_every_unit_and_sees_done_of_total(
    grading: httpx.AsyncClient, settings: Settings
) -> None:
    db = grading.app_state.db  # type: ignore[attr-defined]
    async with db.transaction() as session:
        await session.execute(
            insert(GradedEnterprise),
            [
                {
                    "enterprise_id": f"unit-{n:04d}",
                    "region_code": "141121",
                    "uscc": make_uscc(n, "141121"),
                    "name": f"单位{n}",
                    "kind": "production",
                    "employees": 25,
                    "revenue_wan_yuan": 1500.0,
                    "class_reason": "",
                    "class_evidence": "[]",
                    "decision": "{}",
                    "updated_at": utcnow(),
                }
                for n in range(UNITS)
            ],
        )
    province = identity(settings, SX_PROVINCE)
    started = await grading.post("/recompute-jobs", json={"full": True}, headers=province)
    assert started.status_code == 202, started.text
    job = started.json()
    assert job["status"] == "running" and job["total"] == UNITS and job["requested_by"] == "sx-province"

    async def finished() -> dict:
        body = (await grading.get(f"/recompute-jobs/{job['id']}", headers=province)).json()
        assert body["status"] == "finished", body
        return body

    done = await eventually(finished, timeout=60)
    # Every unit was undecided: each is decided now (tier C), and the job says so.
    assert (done["done"], done["changed"]) == (UNITS, UNITS) and done["finished_at"] is not None
    decision = (await grading.get("/enterprises/unit-0007", headers=province)).json()
    assert decision["decision"]["tier"] == "C"

    # Nothing changed since: a second run visits every unit and changes none.
    again = (await grading.post("/recompute-jobs", json={}, headers=province)).json()
    again = await eventually(lambda: _status(grading, again["id"], province), timeout=60)
    assert (again["done"], again["changed"]) == (UNITS, 0)

    # The daily kind visits only units that can lapse: none here once they are all routine and decided.
    async with db.transaction() as session:
        await session.execute(update(GradedEnterprise).values(supervision_class="routine"))
    daily = (await grading.post("/recompute-jobs", json={"full": False}, headers=province)).json()
    assert daily["total"] == 0


async def _status(client: httpx.AsyncClient, job_id: str, headers: dict[str, str]) -> dict:
    body = (await client.get(f"/recompute-jobs/{job_id}", headers=headers)).json()
    assert body["status"] == "finished", body
    return body


async def test_only_a_province_may_start_or_watch_a_recompute(
    grading: httpx.AsyncClient, settings: Settings
) -> None:
    county = identity(settings, WENSHUI)
    refused = await grading.post("/recompute-jobs", json={"full": True}, headers=county)
    assert refused.status_code == 403 and refused.json()["code"] == "FORBIDDEN"
    missing = await grading.get("/recompute-jobs/nope", headers=identity(settings, SX_PROVINCE))
    assert missing.status_code == 404 and missing.json()["code"] == "RECOMPUTE_JOB_NOT_FOUND"
