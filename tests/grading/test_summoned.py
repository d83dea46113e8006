"""Grading's ``summoned`` signal: exam's ``exam.enterprise.summoned`` (约谈 after repeated exam failures) is a
larger risk of the national pack (key.larger_risk_1y), counted once per summons however often announced."""

from __future__ import annotations

import pytest

from services.common.db import today_cn
from services.common.events import EXAM_ENTERPRISE_SUMMONED, CloudEvent, ExamEnterpriseSummoned, make_event
from services.common.ids import new_id
from services.common.settings import Settings
from services.grading.app import create_app
from tests.harness import WENSHUI, eventually, identity, publish_events, registration, serving

pytestmark = pytest.mark.asyncio


def summoned(unit: str, summons_id: str) -> CloudEvent:
    payload = ExamEnterpriseSummoned(
        summons_id=summons_id,
        enterprise_id=unit,
        region_code="141121",
        failures=2,
        result_ids=["r-1", "r-2"],
        summoned_on=today_cn(),
        reason="近730日内质量安全管理人员考核不合格 2 人次，约谈单位主要负责人",
    )
    return make_event(EXAM_ENTERPRISE_SUMMONED, payload, region="141121", enterprise_id=unit)


async def test_a_summons_raises_the_unit_to_key_supervision_once_however_often_announced(
    settings: Settings,
) -> None:
    unit, other = new_id(), new_id()
    summons_id = new_id()
    first = summoned(unit, summons_id)
    # The same event twice, and the same summons announced again in an event of its own.
    async with serving(create_app(settings)) as client:
        await publish_events(settings, registration(21, unit), registration(22, other), first, first)
        await publish_events(settings, summoned(unit, summons_id))
        headers = identity(settings, WENSHUI)

        async def key() -> dict:
            response = await client.get(f"/enterprises/{unit}", headers=headers)
            assert response.status_code == 200, response.text
            body = response.json()
            assert len(body["signals"]) == 2  # the two events that arrived, the repeated one dropped
            assert body["decision"]["supervision_class"] == "key"
            return body

        body = await eventually(key)
        reason = body["decision"]["reasons"][0]
        assert reason["rule"] == "key.larger_risk_1y"
        assert "约谈" in reason["text"] and "计 1 次" in reason["text"], reason["text"]
        assert len(reason["evidence"]) == 1
        signal = next(s for s in body["signals"] if s["id"] == reason["evidence"][0])
        assert (signal["kind"], signal["ref"], signal["source_type"]) == (
            "summoned",
            summons_id,
            EXAM_ENTERPRISE_SUMMONED.type,
        )
        assert signal["detail"]["failures"] == 2 and signal["detail"]["result_ids"] == ["r-1", "r-2"]

        # A unit nobody summoned stays routine.
        async def graded() -> dict:
            response = await client.get(f"/enterprises/{other}", headers=headers)
            assert response.status_code == 200, response.text
            return response.json()

        assert (await eventually(graded))["decision"]["supervision_class"] == "routine"
