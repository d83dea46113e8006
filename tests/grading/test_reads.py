"""A unit's grading is read in one statement: the decision, its signals and its manual decisions together."""

from __future__ import annotations

from datetime import timedelta

import pytest

from services.common.settings import Settings
from services.grading.app import create_app
from tests.grading.test_service import LVLIANG, TODAY, failed, publish, registered
from tests.harness import JIAOCHENG, SX_PROVINCE, WENSHUI, eventually, identity, selects, serving, statements

pytestmark = pytest.mark.asyncio


async def test_the_grading_is_one_select_and_the_same_body_as_after_a_change(settings: Settings) -> None:
    app = create_app(settings)
    async with serving(app) as client:
        headers = identity(settings, WENSHUI)
        await publish(settings, registered(3), failed("unit-3", "sc-2", days_ago=1), failed("unit-3", "sc-1"))

        async def both_signals() -> None:
            got = await client.get("/enterprises/unit-3", headers=headers)
            assert got.status_code == 200 and len(got.json()["signals"]) == 2

        await eventually(both_signals)
        signal = await client.post(
            "/enterprises/unit-3/signals",
            json={
                "kind": "summoned",
                "occurred_on": str(TODAY - timedelta(days=3)),
                "note": "约谈",
                "ref": "YT-2026-001",
            },
            headers=headers,
        )
        assert signal.status_code == 201, signal.text
        url = "/enterprises/unit-3/manual-decisions"
        later = str(TODAY + timedelta(days=30))
        for cls, reason in (("routine", "企业已整改到位"), ("special", "近期多次投诉")):
            changed = await client.post(
                # Two failures put the unit under the city: the city decides by hand.
                url,
                json={"supervision_class": cls, "reason": reason, "expires_on": later},
                headers=identity(settings, LVLIANG),
            )
            assert changed.status_code == 201, changed.text

        for caller in (WENSHUI, SX_PROVINCE):
            with statements(app) as seen:
                got = await client.get("/enterprises/unit-3", headers=identity(settings, caller))
            assert got.status_code == 200, got.text
            assert len(selects(seen)) == 1, seen
            # The change's answer is built from the ORM objects, the read from one statement's JSON.
            assert got.content == changed.content
        body = got.json()
        assert [s["occurred_on"] for s in body["signals"]] == sorted(
            s["occurred_on"] for s in body["signals"]
        )
        assert len(body["signals"]) == 3 and {"note": "约谈"} in [s["detail"] for s in body["signals"]]
        assert [m["in_force"] for m in body["manual_decisions"]] == [True, True]

        with statements(app) as seen:
            hidden = await client.get("/enterprises/unit-3", headers=identity(settings, JIAOCHENG))
        assert hidden.status_code == 404 and hidden.json()["code"] == "GRADING_NOT_FOUND"
        assert len(selects(seen)) >= 1  # out of sight it waits for the unit as long as an unknown one
