"""A unit's record is read in one statement: the unit, its categories, certificates and sites together."""

from __future__ import annotations

import pytest

from services.common.settings import Settings
from services.registry.app import create_app
from tests.harness import (
    JIAOCHENG,
    PERSONNEL,
    SX_PROVINCE,
    WENSHUI,
    enterprise_body,
    identity,
    selects,
    serving,
    statements,
)

pytestmark = pytest.mark.asyncio


def _record() -> dict:
    return enterprise_body(
        "91110000600037341L",
        principal_phone="13812345678",
        # Out of order on purpose: the record lists categories by code and children by id.
        product_categories=["lpg_regulator", "gas_stove"],
        certificates=[
            {
                "kind": "ccc",
                "number": "2025010801234567",
                "category_code": "gas_stove",
                "valid_until": "2030-01-08",
            },
            {"kind": "production_licence", "number": "XK16-001-00001", "valid_from": "2024-02-29"},
        ],
        sites=[
            {"region_code": "141122", "address": "交城县夏家营镇生产基地"},
            {"region_code": "141121", "address": "文水县凤城镇二号厂区"},
        ],
    )


async def test_the_record_is_one_select_and_the_same_body_as_after_the_write(settings: Settings) -> None:
    app = create_app(settings)
    async with serving(app) as client:
        created = await client.post("/enterprises", json=_record(), headers=identity(settings, WENSHUI))
        assert created.status_code == 201, created.text
        unit = created.json()
        for caller in (WENSHUI, JIAOCHENG, SX_PROVINCE, PERSONNEL):
            with statements(app) as seen:
                got = await client.get(f"/enterprises/{unit['id']}", headers=identity(settings, caller))
            assert got.status_code == 200, got.text
            assert len(selects(seen)) == 1, seen
            body = got.json()
            assert body["via_site"] is (caller is JIAOCHENG)
            if caller is WENSHUI:  # the write's answer is built from the ORM objects, the read from JSON
                assert got.content == created.content
        assert body["product_categories"] == ["gas_stove", "lpg_regulator"]
        assert [c["id"] for c in body["certificates"]] == sorted(c["id"] for c in unit["certificates"])
        assert [s["id"] for s in body["sites"]] == sorted(s["id"] for s in unit["sites"])


async def test_a_unit_out_of_sight_is_one_select_too(settings: Settings) -> None:
    app = create_app(settings)
    async with serving(app) as client:
        created = await client.post(
            "/enterprises", json=enterprise_body("91110000600037341L"), headers=identity(settings, WENSHUI)
        )
        for enterprise_id in (created.json()["id"], "no-such-unit"):
            with statements(app) as seen:
                got = await client.get(f"/enterprises/{enterprise_id}", headers=identity(settings, JIAOCHENG))
            assert got.status_code == 404 and got.json()["code"] == "ENTERPRISE_NOT_FOUND"
            assert len(selects(seen)) == 1, seen
