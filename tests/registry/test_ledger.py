"""The unit record: validation with real codes, change with versions and history, operating status, production
sites in another county, region changes, and grading's decisions kept for search — over real DB and NATS."""

from __future__ import annotations

from datetime import timedelta

import pytest

from services.common.auth import Caller
from services.common.db import today_cn
from services.common.events import (
    CLASS_CHANGED,
    TIER_ASSIGNED,
    ClassChanged,
    TierAssigned,
    make_event,
)
from services.common.settings import Settings
from services.registry.app import create_app
from tests.harness import (
    JIAOCHENG,
    PERSONNEL,
    SX_PROVINCE,
    WENSHUI,
    enterprise_body,
    eventually,
    identity,
    make_uscc,
    publish_events,
    serving,
    stream_events,
)

pytestmark = pytest.mark.asyncio

LVLIANG = Caller(username="lvliang", role="regulator", region_code="141100")


def full_record(uscc: str = "91110000600037341L", **fields: object) -> dict:
    record = {
        "name": "文水县燃气具制造有限公司",
        "station_code": "141121001",
        "registered_address": "山西省吕梁市文水县凤城镇工业园区8号",
        "principal_name": "张三",
        "principal_phone": "13812345678",
        "size_year": 2025,
        "product_categories": ["gas_stove", "lpg_regulator"],
        "certificates": [
            {
                "kind": "ccc",
                "number": "2025010801234567",
                "category_code": "gas_stove",
                "valid_until": "2030-01-08",
            }
        ],
        "sites": [{"region_code": "141122", "address": "交城县夏家营镇生产基地"}],
        "entry_reason": "production_licence",
    }
    return enterprise_body(uscc, **{**record, **fields})


@pytest.mark.parametrize(
    ("uscc", "valid"),
    [
        ("91110000600037341L", True),
        ("9144030071526726XG", True),
        ("91310110666007217T", True),
        ("91110000600037341N", False),  # wrong check character
        ("91110000600037341", False),  # 17 characters
        ("9111000060003734IL", False),  # I is not in the alphabet
    ],
)
async def test_uscc_is_checked_with_its_check_character(settings: Settings, uscc: str, valid: bool) -> None:
    async with serving(create_app(settings)) as client:
        response = await client.post(
            "/enterprises", json=enterprise_body(uscc), headers=identity(settings, WENSHUI)
        )
        if valid:
            assert response.status_code == 201, response.text
        else:
            assert response.status_code == 422 and response.json()["code"] == "USCC_INVALID"


@pytest.mark.parametrize(
    ("region", "status", "code"),
    [
        ("141121", 201, None),  # 文水县
        ("141100", 201, None),  # 吕梁市 itself is a valid code, entered by the city
        ("141199", 422, "REGION_CODE_INVALID"),  # no such county
        ("371202", 422, "REGION_CODE_INVALID"),  # 莱芜市莱城区: merged into 济南 (370116) in 2019
        ("1411210", 422, "VALIDATION_FAILED"),
    ],
)
async def test_region_codes_are_checked_against_the_dated_gb2260_table(
    settings: Settings, region: str, status: int, code: str | None
) -> None:
    async with serving(create_app(settings)) as client:
        body = enterprise_body(make_uscc(1), region_code=region)
        response = await client.post("/enterprises", json=body, headers=identity(settings, LVLIANG))
        assert response.status_code == status, response.text
        if code:
            assert response.json()["code"] == code


async def test_every_problem_of_a_record_is_reported_and_nothing_is_written(settings: Settings) -> None:
    async with serving(create_app(settings)) as client:
        body = full_record(
            station_code="141122001",
            principal_phone="12345",
            product_categories=["gas_stove", "perpetual_motion"],
            size_year=today_cn().year + 1,
        )
        response = await client.post("/enterprises", json=body, headers=identity(settings, WENSHUI))
        assert response.status_code == 422
        problem = response.json()
        assert {e["code"] for e in problem["errors"]} == {
            "STATION_CODE_INVALID",
            "PHONE_INVALID",
            "PRODUCT_CATEGORY_UNKNOWN",
            "SIZE_YEAR_INVALID",
        }
        assert all(any("\u4e00" <= ch <= "\u9fff" for ch in e["message"]) for e in problem["errors"])
        assert await stream_events(settings, "qsr.registry.>") == []


async def test_the_full_record_is_kept_and_the_principals_phone_is_masked_by_role(settings: Settings) -> None:
    async with serving(create_app(settings)) as client:
        created = await client.post("/enterprises", json=full_record(), headers=identity(settings, WENSHUI))
        assert created.status_code == 201, created.text
        unit = created.json()
        assert unit["principal_phone"] == "138****5678"
        assert unit["product_categories"] == ["gas_stove", "lpg_regulator"]
        assert unit["certificates"][0]["number"] == "2025010801234567"
        assert unit["sites"][0]["region_code"] == "141122" and unit["station_code"] == "141121001"
        clear = await client.get(f"/enterprises/{unit['id']}", headers=identity(settings, PERSONNEL))
        assert clear.json()["principal_phone"] == "13812345678"

        [event] = await stream_events(settings, "qsr.registry.enterprise.registered")
        assert event["data"]["product_categories"] == ["gas_stove", "lpg_regulator"]
        assert "principal_phone" not in event["data"] and "13812345678" not in str(event)


async def test_a_change_names_its_version_is_audited_and_announced(settings: Settings) -> None:
    async with serving(create_app(settings)) as client:
        headers = identity(settings, WENSHUI)
        unit = (await client.post("/enterprises", json=full_record(), headers=headers)).json()
        url = f"/enterprises/{unit['id']}"

        changed = await client.patch(
            url,
            json={"version": 1, "reason": "年报更新", "employees": 420, "principal_phone": "13900000000"},
            headers=headers,
        )
        assert changed.status_code == 200, changed.text
        assert changed.json()["version"] == 2 and changed.json()["employees"] == 420

        stale = await client.patch(
            url, json={"version": 1, "reason": "迟到的修改", "employees": 1}, headers=headers
        )
        assert stale.status_code == 409 and stale.json()["code"] == "ENTERPRISE_VERSION_STALE"
        assert stale.json()["current_version"] == 2

        same = await client.patch(
            url, json={"version": 2, "reason": "无变化", "employees": 420}, headers=headers
        )
        assert same.json()["version"] == 2  # nothing changed: no new version, no history, no event

        history = (await client.get(f"{url}/history", headers=headers)).json()["items"]
        assert [h["action"] for h in history] == ["registered", "updated"]
        update = history[1]
        assert update["changes"]["employees"] == [25, 420] and update["reason"] == "年报更新"
        assert update["changes"]["principal_phone"][1] == "（已变更，内容受保护）"
        assert "13900000000" not in str(history)

        updates = await stream_events(settings, "qsr.registry.enterprise.updated")
        assert [e["data"]["employees"] for e in updates] == [420]


async def test_operating_status_has_a_date_a_reason_and_a_history(settings: Settings) -> None:
    async with serving(create_app(settings)) as client:
        headers = identity(settings, WENSHUI)
        unit = (await client.post("/enterprises", json=enterprise_body(make_uscc(3)), headers=headers)).json()
        url = f"/enterprises/{unit['id']}"
        today = today_cn()
        paused = await client.post(
            f"{url}/status",
            json={
                "status": "production_suspended",
                "effective_on": str(today - timedelta(days=30)),
                "reason": "设备改造",
            },
            headers=headers,
        )
        assert paused.status_code == 201, paused.text
        future = await client.post(
            f"{url}/status",
            json={"status": "normal", "effective_on": str(today + timedelta(days=1)), "reason": "复产"},
            headers=headers,
        )
        assert future.status_code == 422 and future.json()["code"] == "STATUS_DATE_INVALID"
        await client.post(
            f"{url}/status",
            json={"status": "normal", "effective_on": str(today), "reason": "复产"},
            headers=headers,
        )
        gone = await client.post(
            f"{url}/status",
            json={"status": "deregistered", "effective_on": str(today), "reason": "企业注销"},
            headers=headers,
        )
        assert gone.status_code == 201
        after = await client.post(
            f"{url}/status",
            json={"status": "normal", "effective_on": str(today), "reason": "误操作"},
            headers=headers,
        )
        assert after.status_code == 409 and after.json()["code"] == "STATUS_FINAL"

        history = (await client.get(f"{url}/status-history", headers=headers)).json()
        assert [(h["from_status"], h["to_status"]) for h in history] == [
            ("normal", "production_suspended"),
            ("production_suspended", "normal"),
            ("normal", "deregistered"),
        ]
        detail = (await client.get(url, headers=headers)).json()
        assert detail["operating_status"] == "deregistered" and detail["status_reason"] == "企业注销"
        changed = await stream_events(settings, "qsr.registry.enterprise.status_changed")
        assert [e["data"]["to_status"] for e in changed] == ["production_suspended", "normal", "deregistered"]


async def test_a_county_sees_a_site_on_its_territory_but_does_not_supervise_the_unit(
    settings: Settings,
) -> None:
    async with serving(create_app(settings)) as client:
        with_site = (
            await client.post("/enterprises", json=full_record(), headers=identity(settings, WENSHUI))
        ).json()
        without = (
            await client.post(
                "/enterprises", json=enterprise_body(make_uscc(4)), headers=identity(settings, WENSHUI)
            )
        ).json()

        seen = await client.get(f"/enterprises/{with_site['id']}", headers=identity(settings, JIAOCHENG))
        assert seen.status_code == 200 and seen.json()["via_site"] is True
        assert seen.json()["principal_phone"] == "138****5678"
        change = await client.patch(
            f"/enterprises/{with_site['id']}",
            json={"version": 1, "reason": "越权修改", "employees": 1},
            headers=identity(settings, JIAOCHENG),
        )
        assert change.status_code == 403 and change.json()["code"] == "ENTERPRISE_NOT_SUPERVISED_BY_CALLER"
        for path in ("", "/history", "/status-history"):
            hidden = await client.get(
                f"/enterprises/{without['id']}{path}", headers=identity(settings, JIAOCHENG)
            )
            assert hidden.status_code == 404, path
        status = await client.post(
            f"/enterprises/{without['id']}/status",
            json={"status": "business_suspended", "effective_on": str(today_cn()), "reason": "越权"},
            headers=identity(settings, JIAOCHENG),
        )
        assert status.status_code == 404


async def test_a_merged_county_moves_its_units_with_their_history(settings: Settings) -> None:
    async with serving(create_app(settings)) as client:
        moved = (
            await client.post(
                "/enterprises",
                json=enterprise_body(make_uscc(5, "141122"), region_code="141122"),
                headers=identity(settings, JIAOCHENG),
            )
        ).json()
        change = {
            "old_code": "141122",
            "new_code": "141121",
            "effective_on": str(today_cn()),
            "note": "民政部批复（演练）",
        }
        refused = await client.post("/region-changes", json=change, headers=identity(settings, WENSHUI))
        assert refused.status_code == 403 and refused.json()["code"] == "REGION_CHANGE_PROVINCE_ONLY"
        applied = await client.post("/region-changes", json=change, headers=identity(settings, SX_PROVINCE))
        assert applied.status_code == 201, applied.text
        assert applied.json()["units_moved"] == 1

        assert (
            await client.get(f"/enterprises/{moved['id']}", headers=identity(settings, JIAOCHENG))
        ).status_code == 404
        now = (await client.get(f"/enterprises/{moved['id']}", headers=identity(settings, WENSHUI))).json()
        assert now["region_code"] == "141121" and now["created_by"] == "jiaocheng"
        history = (
            await client.get(f"/enterprises/{moved['id']}/history", headers=identity(settings, WENSHUI))
        ).json()
        assert [h["action"] for h in history["items"]] == ["registered", "region_changed"]
        assert history["items"][1]["changes"]["region_code"] == ["141122", "141121"]
        updates = await stream_events(settings, "qsr.registry.enterprise.updated")
        assert [(e["region"], e["data"]["region_code"]) for e in updates] == [("141121", "141121")]


async def test_gradings_tier_class_and_locking_are_kept_on_the_unit(settings: Settings) -> None:
    async with serving(create_app(settings)) as client:
        unit = (
            await client.post(
                "/enterprises", json=enterprise_body(make_uscc(6)), headers=identity(settings, WENSHUI)
            )
        ).json()
        await publish_events(
            settings,
            make_event(
                TIER_ASSIGNED,
                TierAssigned(enterprise_id=unit["id"], tier="C", previous_tier=None, rule="r", reason="小型"),
                region="141121",
                enterprise_id=unit["id"],
            ),
            make_event(
                CLASS_CHANGED,
                ClassChanged(
                    enterprise_id=unit["id"], from_class="routine", to_class="key", reasons=[], locked=True
                ),
                region="141121",
                enterprise_id=unit["id"],
            ),
        )

        async def kept() -> None:
            got = (await client.get(f"/enterprises/{unit['id']}", headers=identity(settings, WENSHUI))).json()
            assert (got["tier"], got["supervision_class"], got["locked"]) == ("C", "key", True)

        await eventually(kept)
