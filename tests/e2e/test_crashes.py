"""Kill things mid-flight and check the end state: a consumer that dies before it acks gets the event
again, and the effect is there exactly once."""

from __future__ import annotations

import httpx
import pytest

from services.common.launcher import System
from tests.e2e.client import login
from tests.e2e.test_spot_check_flow import fail_spot_check, grading_of
from tests.harness import enterprise_body, eventually, make_uscc

pytestmark = [pytest.mark.asyncio, pytest.mark.e2e]


@pytest.mark.parametrize("failpoint", ["inbox.before_commit", "inbox.after_commit"])
async def test_grading_killed_while_applying_an_event_ends_with_it_applied_once(
    system: System, failpoint: str
) -> None:
    async with httpx.AsyncClient(base_url=system.url("gateway"), timeout=10) as gateway:
        wenshui = await login(gateway, "wenshui")
        unit = (
            await gateway.post(
                "/api/v1/registry/enterprises", headers=wenshui, json=enterprise_body(make_uscc(42))
            )
        ).json()["id"]

        async def graded() -> None:
            assert ((await grading_of(gateway, wenshui, unit))["decision"] or {}).get("tier") == "C"

        await eventually(graded, timeout=10)

        # Grading restarts armed to die while applying the next event: before or after its commit, never acked.
        system.stop("grading")
        system.start_app("grading", {"QSR_FAILPOINTS": f"{failpoint}=exit"})
        system.wait_ready(["grading"])
        await fail_spot_check(gateway, wenshui, unit, 1)
        process = system.processes["grading"]
        assert process.wait(15) == 75, "grading should have died at the failpoint"
        del system.processes["grading"]

        system.start_app("grading")
        system.wait_ready(["grading"])

        async def applied_once() -> None:
            body = await grading_of(gateway, wenshui, unit)
            assert body["decision"]["supervision_class"] == "key"
            assert len(body["signals"]) == 1

        await eventually(applied_once, timeout=20)

        async def counted_once() -> None:
            summary = (await gateway.get("/api/v1/reporting/summary", headers=wenshui)).json()
            assert summary["by_supervision_class"]["key"] == 1 and summary["failed_spot_checks"] == 1

        await eventually(counted_once, timeout=10)
