"""The enterprise's own entry: draft → submit → the station reviews → confirmed into the ledger, or returned."""

from __future__ import annotations

import pytest

from services.common.auth import Caller
from services.common.settings import Settings
from services.registry.app import create_app
from tests.harness import JIAOCHENG, WENSHUI, enterprise_body, identity, make_uscc, serving

pytestmark = pytest.mark.asyncio

USCC = make_uscc(501)
COMPANY = Caller(username="company-501", role="enterprise", region_code="141121", uscc=USCC)
OTHER_COMPANY = Caller(username="company-502", role="enterprise", region_code="141121", uscc=make_uscc(502))
STATION = Caller(username="wenshui-s1", role="regulator", region_code="141121001")
OTHER_STATION = Caller(username="wenshui-s2", role="regulator", region_code="141121002")


def draft(**fields: object) -> dict:
    return {
        "data": enterprise_body(
            USCC, station_code="141121001", principal_name="王五", principal_phone="13912345678", **fields
        )
    }


async def test_a_draft_is_reviewed_by_its_station_and_confirmed_into_the_ledger(settings: Settings) -> None:
    async with serving(create_app(settings)) as client:
        created = await client.post("/submissions", json=draft(), headers=identity(settings, COMPANY))
        assert created.status_code == 201, created.text
        sid = created.json()["id"]
        assert created.json()["status"] == "draft" and created.json()["enterprise_id"] is None

        # Nothing is in the ledger yet, and only its own station and county see the draft once submitted.
        assert (await client.post(f"/submissions/{sid}/submit", headers=identity(settings, COMPANY))).json()[
            "status"
        ] == "submitted"
        for outsider in (OTHER_STATION, JIAOCHENG, OTHER_COMPANY):
            got = await client.get(f"/submissions/{sid}", headers=identity(settings, outsider))
            assert got.status_code == 404, outsider
        seen = await client.get("/submissions?status=submitted", headers=identity(settings, STATION))
        assert [s["id"] for s in seen.json()["items"]] == [sid]
        assert seen.json()["items"][0]["data"]["principal_phone"] == "139****5678"

        # The company cannot confirm its own draft; the station does.
        refused = await client.post(f"/submissions/{sid}/confirm", headers=identity(settings, COMPANY))
        assert refused.status_code == 403 and refused.json()["code"] == "REGULATOR_ONLY"
        confirmed = await client.post(f"/submissions/{sid}/confirm", headers=identity(settings, STATION))
        assert confirmed.status_code == 200, confirmed.text
        enterprise_id = confirmed.json()["enterprise_id"]
        assert confirmed.json()["status"] == "confirmed" and confirmed.json()["reviewed_by"] == "wenshui-s1"

        unit = (await client.get(f"/enterprises/{enterprise_id}", headers=identity(settings, WENSHUI))).json()
        assert (
            unit["uscc"] == USCC
            and unit["entry_path"] == "enterprise"
            and unit["created_by"] == "company-501"
        )
        own = await client.get(f"/enterprises/{enterprise_id}", headers=identity(settings, COMPANY))
        assert own.status_code == 200
        assert (
            await client.get(f"/enterprises/{enterprise_id}", headers=identity(settings, OTHER_COMPANY))
        ).status_code == 404
        history = (
            await client.get(f"/enterprises/{enterprise_id}/history", headers=identity(settings, WENSHUI))
        ).json()
        [entry] = history["items"]
        assert entry["actor"] == "wenshui-s1" and sid in entry["reason"] and "company-501" in entry["reason"]


async def test_a_returned_update_is_edited_and_confirmed_and_both_paths_are_recorded(
    settings: Settings,
) -> None:
    async with serving(create_app(settings)) as client:
        body = enterprise_body(USCC, station_code="141121001")
        entered = await client.post("/enterprises", json=body, headers=identity(settings, WENSHUI))
        assert entered.status_code == 201
        enterprise_id = entered.json()["id"]

        sid = (
            await client.post("/submissions", json=draft(employees=400), headers=identity(settings, COMPANY))
        ).json()["id"]
        again = await client.post("/submissions", json=draft(), headers=identity(settings, COMPANY))
        assert again.status_code == 409 and again.json()["code"] == "SUBMISSION_ALREADY_OPEN"
        await client.post(f"/submissions/{sid}/submit", headers=identity(settings, COMPANY))
        returned = await client.post(
            f"/submissions/{sid}/return",
            json={"reasons": ["从业人员与社保缴纳人数不符"]},
            headers=identity(settings, STATION),
        )
        assert returned.json()["status"] == "returned"
        assert returned.json()["return_reasons"] == ["从业人员与社保缴纳人数不符"]
        # A returned draft cannot be confirmed until edited and submitted again.
        early = await client.post(f"/submissions/{sid}/confirm", headers=identity(settings, STATION))
        assert early.status_code == 409 and early.json()["code"] == "SUBMISSION_STATE_INVALID"

        edited = await client.put(
            f"/submissions/{sid}", json=draft(employees=320), headers=identity(settings, COMPANY)
        )
        assert edited.json()["status"] == "draft"
        await client.post(f"/submissions/{sid}/submit", headers=identity(settings, COMPANY))
        confirmed = await client.post(f"/submissions/{sid}/confirm", headers=identity(settings, STATION))
        assert confirmed.status_code == 200, confirmed.text
        assert confirmed.json()["enterprise_id"] == enterprise_id

        unit = (await client.get(f"/enterprises/{enterprise_id}", headers=identity(settings, WENSHUI))).json()
        assert unit["employees"] == 320 and unit["version"] == 2 and unit["principal_name"] == "王五"
        actions = [
            (e["action"], e["actor"])
            for e in (
                await client.get(f"/enterprises/{enterprise_id}/history", headers=identity(settings, WENSHUI))
            ).json()["items"]
        ]
        assert actions == [("registered", "wenshui"), ("returned", "wenshui-s1"), ("updated", "wenshui-s1")]


async def test_an_enterprise_may_only_draft_its_own_unit_and_bad_data_is_refused(settings: Settings) -> None:
    async with serving(create_app(settings)) as client:
        other = {"data": enterprise_body(make_uscc(777))}
        refused = await client.post("/submissions", json=other, headers=identity(settings, COMPANY))
        assert refused.status_code == 403 and refused.json()["code"] == "SUBMISSION_NOT_OWN_UNIT"
        bad = await client.post(
            "/submissions", json=draft(region_code="141199"), headers=identity(settings, COMPANY)
        )
        assert bad.status_code == 422 and bad.json()["code"] == "REGION_CODE_INVALID"
        by_regulator = await client.post("/submissions", json=draft(), headers=identity(settings, WENSHUI))
        assert by_regulator.status_code == 403 and by_regulator.json()["code"] == "ENTERPRISE_ACCOUNT_ONLY"
        # An enterprise account cannot write the ledger directly.
        direct = await client.post(
            "/enterprises", json=enterprise_body(USCC), headers=identity(settings, COMPANY)
        )
        assert direct.status_code == 403
        listed = await client.get("/submissions", headers=identity(settings, COMPANY))
        assert listed.json()["items"] == []
