"""The flow the product is known for, across real processes: a failed spot check raises the unit to key
supervision, three raise it to special; jurisdiction holds on every path, the event stream included."""

from __future__ import annotations

import asyncio
from datetime import date, timedelta
from typing import Any

import httpx
import pytest

from services.common.launcher import System
from tests.e2e.client import EventListener, login
from tests.harness import enterprise_body, eventually, make_uscc

pytestmark = [pytest.mark.asyncio, pytest.mark.e2e]
CLASS_CHANGED = "qsr.grading.class.changed.v1"


async def fail_spot_check(
    gateway: httpx.AsyncClient, headers: dict[str, str], enterprise_id: str, n: int
) -> dict:
    body = {
        "enterprise_id": enterprise_id,
        "product": "家用燃气灶",
        "batch": f"2026-{n:02d}",
        "verdict": "failed",
        "failed_items": ["熄火保护装置"],
        "sampled_on": (date.today() - timedelta(days=n)).isoformat(),
    }

    async def recorded() -> dict[str, Any]:
        # Inspection learns of a new unit from registry's event, a moment after it is entered.
        response = await gateway.post("/api/v1/inspection/spot-checks", json=body, headers=headers)
        assert response.status_code == 201, response.text
        return response.json()

    return await eventually(recorded, timeout=10)


async def grading_of(gateway: httpx.AsyncClient, headers: dict[str, str], enterprise_id: str) -> dict:
    response = await gateway.get(f"/api/v1/grading/enterprises/{enterprise_id}", headers=headers)
    assert response.status_code == 200, response.text
    return response.json()


async def test_failed_spot_checks_raise_the_unit_to_key_then_special(system: System) -> None:
    async with httpx.AsyncClient(base_url=system.url("gateway"), timeout=10) as gateway:
        wenshui = await login(gateway, "wenshui")
        jiaocheng = await login(gateway, "jiaocheng")
        province = await login(gateway, "sx-province")
        async with (
            EventListener(system.url("gateway"), wenshui) as wenshui_stream,
            EventListener(system.url("gateway"), jiaocheng) as jiaocheng_stream,
            EventListener(system.url("gateway"), province) as province_stream,
        ):
            created = await gateway.post(
                "/api/v1/registry/enterprises", headers=wenshui, json=enterprise_body("91110000600037341L")
            )
            assert created.status_code == 201, created.text
            unit = created.json()["id"]
            neighbour = await gateway.post(
                "/api/v1/registry/enterprises",
                headers=jiaocheng,
                json=enterprise_body(
                    make_uscc(5, "141122"),
                    region_code="141122",
                    name="交城县某电线电缆厂",
                    employees=400,
                    revenue_wan_yuan=2500,
                ),
            )
            assert neighbour.status_code == 201, neighbour.text

            first = await fail_spot_check(gateway, wenshui, unit, 1)

            async def key() -> dict:
                body = await grading_of(gateway, wenshui, unit)
                decision = body["decision"]
                assert decision["tier"] == "C" and decision["supervision_class"] == "key"
                return body

            body = await eventually(key, timeout=5)
            decision = body["decision"]
            assert decision["pack"] == "shanxi" and decision["responsible_level"] == "county"
            [class_reason] = decision["reasons"]
            assert class_reason["rule"] == "key.larger_risk_1y" and "重点监管" in class_reason["text"]
            [signal] = body["signals"]
            assert signal["ref"] == first["id"] and signal["kind"] == "spot_check_failed"
            assert class_reason["evidence"] == [signal["id"]]

            async def streamed() -> None:
                events = wenshui_stream.of(CLASS_CHANGED, unit)
                assert len(events) == 1, events  # an assertion, so that eventually() retries
                [event] = events
                assert (event["data"]["from_class"], event["data"]["to_class"]) == ("routine", "key")

            await eventually(streamed, timeout=5)

            await fail_spot_check(gateway, wenshui, unit, 2)
            await fail_spot_check(gateway, wenshui, unit, 3)

            async def special() -> None:
                body = await grading_of(gateway, wenshui, unit)
                assert body["decision"]["supervision_class"] == "special"
                assert len(body["signals"]) == 3

            await eventually(special, timeout=5)

            async def counted() -> None:
                summary = (await gateway.get("/api/v1/reporting/summary", headers=wenshui)).json()
                assert summary["enterprises"] == 1
                assert summary["by_tier"]["C"] == 1
                assert summary["by_supervision_class"] == {"routine": 0, "key": 0, "special": 1}
                assert summary["failed_spot_checks"] == 3
                whole = (await gateway.get("/api/v1/reporting/summary", headers=province)).json()
                assert whole["region"] == "140000" and whole["enterprises"] == 2
                assert whole["by_tier"]["B"] == 1 and whole["by_supervision_class"]["routine"] == 1

            await eventually(counted, timeout=5)

            # Jiaocheng sees nothing of Wenshui's unit, by any path.
            for path in (f"/api/v1/registry/enterprises/{unit}", f"/api/v1/grading/enterprises/{unit}"):
                response = await gateway.get(path, headers=jiaocheng)
                assert response.status_code == 404, path
            listed = (await gateway.get("/api/v1/registry/enterprises", headers=jiaocheng)).json()["items"]
            assert [e["region_code"] for e in listed] == ["141122"]
            graded = (await gateway.get("/api/v1/grading/enterprises", headers=jiaocheng)).json()["items"]
            assert unit not in [e["enterprise_id"] for e in graded]
            theirs = (await gateway.get("/api/v1/reporting/summary", headers=jiaocheng)).json()
            assert theirs["enterprises"] == 1 and theirs["failed_spot_checks"] == 0
            asked = await gateway.get("/api/v1/reporting/summary?region=141121", headers=jiaocheng)
            assert asked.status_code == 403 and asked.json()["code"] == "REGION_OUT_OF_JURISDICTION"
            sneaky = await gateway.post(
                "/api/v1/inspection/spot-checks",
                headers=jiaocheng,
                json={
                    "enterprise_id": unit,
                    "product": "x",
                    "batch": "x",
                    "verdict": "failed",
                    "failed_items": ["x"],
                    "sampled_on": date.today().isoformat(),
                },
            )
            assert sneaky.status_code == 404

            # The province sees both counties live; Jiaocheng's stream carried only its own unit.
            await eventually(lambda: _has(province_stream, CLASS_CHANGED, unit), timeout=5)
            assert {e["region"] for e in province_stream.events} == {"141121", "141122"}
            await asyncio.sleep(0.3)
            assert jiaocheng_stream.events, "Jiaocheng's own unit should have reached its stream"
            assert {e["region"] for e in jiaocheng_stream.events} == {"141122"}


async def _has(listener: EventListener, event_type: str, enterprise_id: str) -> None:
    assert listener.of(event_type, enterprise_id)


async def test_the_gateway_refuses_callers_without_a_valid_token(system: System) -> None:
    async with httpx.AsyncClient(base_url=system.url("gateway"), timeout=10) as gateway:
        assert (await gateway.get("/api/v1/registry/enterprises")).status_code == 401
        bad = await gateway.get("/api/v1/registry/enterprises", headers={"Authorization": "Bearer nonsense"})
        assert bad.status_code == 401 and bad.json()["code"] == "UNAUTHENTICATED"
        wrong = await gateway.post("/auth/token", json={"username": "wenshui", "password": "wrong"})
        assert wrong.status_code == 401
        stream = await gateway.get("/api/v1/events/stream")
        assert stream.status_code == 401
        # A caller cannot pass an identity of its own past the gateway, not even one signed with its key.
        headers = await login(gateway, "jiaocheng")
        from services.common.auth import issue_identity
        from services.common.internal_keys import private_key
        from tests.harness import SX_PROVINCE

        forged = issue_identity(SX_PROVINCE, private_key(system.env["QSR_INTERNAL_SIGNING_KEY"]))
        response = await gateway.get(
            "/api/v1/reporting/summary?region=140000", headers={**headers, "X-QSR-Identity": forged}
        )
        assert response.status_code == 403
