"""Registry over a real database and a real NATS: entering units, jurisdiction, and the event it announces."""

from __future__ import annotations

import json

import nats
import pytest

from services.common.internal_keys import new_pair
from services.common.settings import Settings
from services.registry.app import create_app
from tests.harness import JIAOCHENG, SX_PROVINCE, WENSHUI, enterprise_body, identity, make_uscc, serving

pytestmark = pytest.mark.asyncio


async def test_register_then_read_and_the_event_is_in_the_stream(settings: Settings) -> None:
    async with serving(create_app(settings)) as client:
        response = await client.post(
            "/enterprises", json=enterprise_body("91110000600037341L"), headers=identity(settings, WENSHUI)
        )
        assert response.status_code == 201, response.text
        created = response.json()
        assert created["operating_status"] == "normal" and created["created_by"] == "wenshui"
        got = await client.get(f"/enterprises/{created['id']}", headers=identity(settings, WENSHUI))
        assert got.status_code == 200 and got.json()["uscc"] == "91110000600037341L"

        nc = await nats.connect(settings.nats_url)
        try:
            sub = await nc.jetstream().pull_subscribe(
                "qsr.registry.enterprise.registered", stream="QSR_REGISTRY"
            )
            [msg] = await sub.fetch(1, timeout=10)
        finally:
            await nc.close()
        event = json.loads(msg.data)
        assert event["type"] == "qsr.registry.enterprise.registered.v1"
        assert event["specversion"] == "1.0"
        assert event["region"] == "141121" and event["enterpriseid"] == created["id"]
        assert event["data"]["employees"] == 25
        assert msg.headers["Nats-Msg-Id"] == event["id"]


@pytest.mark.parametrize(
    ("change", "status", "code"),
    [
        ({"uscc": "91110000600037341N"}, 422, "USCC_INVALID"),
        ({"region_code": "141199"}, 422, "REGION_CODE_INVALID"),
        ({"kind": "sales"}, 422, "SALES_CHANNEL_INVALID"),
        ({"employees": -1}, 422, "VALIDATION_FAILED"),
        ({"entry_reason": "because"}, 422, "VALIDATION_FAILED"),
        ({"region_code": "141122"}, 403, "REGION_OUT_OF_JURISDICTION"),
    ],
)
async def test_bad_input_gets_a_stable_code_and_a_chinese_message(
    settings: Settings, change: dict, status: int, code: str
) -> None:
    async with serving(create_app(settings)) as client:
        body = {**enterprise_body(make_uscc(1)), **change}
        response = await client.post("/enterprises", json=body, headers=identity(settings, WENSHUI))
        assert response.status_code == status, response.text
        assert response.headers["content-type"].startswith("application/problem+json")
        problem = response.json()
        assert problem["code"] == code
        assert any("\u4e00" <= ch <= "\u9fff" for ch in problem["detail"])
        listed = await client.get("/enterprises", headers=identity(settings, SX_PROVINCE))
        assert listed.json()["items"] == []  # nothing half-written


async def test_a_duplicate_uscc_is_a_conflict(settings: Settings) -> None:
    async with serving(create_app(settings)) as client:
        headers = identity(settings, WENSHUI)
        assert (
            await client.post("/enterprises", json=enterprise_body(make_uscc(7)), headers=headers)
        ).status_code == 201
        again = await client.post(
            "/enterprises", json=enterprise_body(make_uscc(7).lower(), name="另一家"), headers=headers
        )
        assert again.status_code == 409 and again.json()["code"] == "ENTERPRISE_DUPLICATE_USCC"


async def test_without_the_gateway_identity_nothing_is_served(settings: Settings) -> None:
    async with serving(create_app(settings)) as client:
        assert (await client.get("/enterprises")).status_code == 401
        forged = {"x-qsr-identity": "eyJhbGciOiJub25lIn0.eyJzdWIiOiJ4In0."}
        assert (await client.get("/enterprises", headers=forged)).json()["code"] == "UNAUTHENTICATED"
        other_key = Settings(internal_signing_key=new_pair()[0], internal_public_key=new_pair()[1])
        assert (await client.get("/enterprises", headers=identity(other_key, SX_PROVINCE))).status_code == 401


async def test_a_county_cannot_see_its_neighbour_and_the_province_sees_both(settings: Settings) -> None:
    async with serving(create_app(settings)) as client:
        wenshui = (
            await client.post(
                "/enterprises", json=enterprise_body(make_uscc(1)), headers=identity(settings, WENSHUI)
            )
        ).json()
        jiaocheng = (
            await client.post(
                "/enterprises",
                json=enterprise_body(make_uscc(2, "141122"), region_code="141122"),
                headers=identity(settings, JIAOCHENG),
            )
        ).json()

        response = await client.get(f"/enterprises/{wenshui['id']}", headers=identity(settings, JIAOCHENG))
        assert response.status_code == 404 and response.json()["code"] == "ENTERPRISE_NOT_FOUND"
        listed = (await client.get("/enterprises", headers=identity(settings, JIAOCHENG))).json()
        assert [e["id"] for e in listed["items"]] == [jiaocheng["id"]]
        asked = await client.get("/enterprises?region=141121", headers=identity(settings, JIAOCHENG))
        assert asked.status_code == 403

        province = (await client.get("/enterprises", headers=identity(settings, SX_PROVINCE))).json()
        assert {e["id"] for e in province["items"]} == {wenshui["id"], jiaocheng["id"]}
        county = (
            await client.get("/enterprises?region=141122", headers=identity(settings, SX_PROVINCE))
        ).json()
        assert [e["id"] for e in county["items"]] == [jiaocheng["id"]]


async def test_pages_follow_the_cursor_without_gaps_or_repeats(settings: Settings) -> None:
    async with serving(create_app(settings)) as client:
        headers = identity(settings, WENSHUI)
        for serial in range(7):
            await client.post("/enterprises", json=enterprise_body(make_uscc(100 + serial)), headers=headers)
        seen: list[str] = []
        cursor = None
        while True:
            url = "/enterprises?limit=3" + (f"&cursor={cursor}" if cursor else "")
            page = (await client.get(url, headers=headers)).json()
            seen += [e["uscc"] for e in page["items"]]
            if cursor is None:  # a unit entered while paging shows up at the end, not twice
                await client.post("/enterprises", json=enterprise_body(make_uscc(200)), headers=headers)
            cursor = page["next_cursor"]
            if cursor is None:
                break
        assert seen == [make_uscc(100 + s) for s in range(7)] + [make_uscc(200)]
        bad = await client.get("/enterprises?cursor=!!", headers=headers)
        assert bad.status_code == 422
