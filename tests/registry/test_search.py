"""Ledger search over a real database and a real NATS: filters, sorting with cursors, jurisdiction, sites."""

from __future__ import annotations

import base64
import json
from datetime import UTC, date, datetime, timedelta
from typing import Any

import httpx
import pytest
from fastapi import FastAPI
from sqlalchemy import update

from services.common.auth import Caller
from services.common.db import today_cn
from services.common.settings import Settings
from services.registry.app import create_app
from services.registry.models import Enterprise
from tests.harness import JIAOCHENG, SX_PROVINCE, WENSHUI, enterprise_body, identity, make_uscc, serving

pytestmark = pytest.mark.asyncio

WENSHUI_STATION = Caller(username="wenshui-s1", role="regulator", region_code="141121001")


async def enter(
    client: httpx.AsyncClient, settings: Settings, caller: Caller, serial: int, **fields: Any
) -> dict[str, Any]:
    region = fields.pop("region_code", "141121")
    body = enterprise_body(make_uscc(serial, region), region_code=region, **fields)
    response = await client.post("/enterprises", json=body, headers=identity(settings, caller))
    assert response.status_code == 201, response.text
    return response.json()


async def set_columns(app: FastAPI, enterprise_id: str, **values: Any) -> None:
    """What other flows keep on the unit (grading's tier and class, the managers, the duty check), put in
    place directly: this file is about finding units, not about how those flows set them."""
    async with app.state.db.transaction() as session:
        await session.execute(update(Enterprise).where(Enterprise.id == enterprise_id).values(**values))


async def change_status(
    client: httpx.AsyncClient, settings: Settings, enterprise_id: str, status: str
) -> None:
    response = await client.post(
        f"/enterprises/{enterprise_id}/status",
        json={"status": status, "effective_on": str(today_cn()), "reason": "测试"},
        headers=identity(settings, WENSHUI),
    )
    assert response.status_code == 201, response.text


async def listed(client: httpx.AsyncClient, settings: Settings, caller: Caller, query: str = "") -> list[str]:
    """Names of every unit of a list, following its cursor to the end."""
    names: list[str] = []
    cursor = None
    while True:
        url = f"/enterprises?limit=500&{query}" + (f"&cursor={cursor}" if cursor else "")
        response = await client.get(url, headers=identity(settings, caller))
        assert response.status_code == 200, response.text
        page = response.json()
        names += [item["name"] for item in page["items"]]
        cursor = page["next_cursor"]
        if cursor is None:
            return names


async def counted(client: httpx.AsyncClient, settings: Settings, caller: Caller, query: str = "") -> int:
    response = await client.get(f"/enterprises/count?{query}", headers=identity(settings, caller))
    assert response.status_code == 200, response.text
    return response.json()["count"]


async def ledger(client: httpx.AsyncClient, settings: Settings, app: FastAPI) -> dict[str, dict[str, Any]]:
    """Six units of Wenshui and one of Jiaocheng, each with its own mix of the filtered fields."""
    units = {
        "甲": await enter(
            client,
            settings,
            WENSHUI,
            1,
            name="文水县甲阀门有限公司",
            station_code="141121001",
            product_categories=["gas_stove", "gas_hose"],
        ),
        "乙": await enter(
            client,
            settings,
            WENSHUI,
            2,
            name="文水县乙电线厂",
            sales_channel="wholesale",
            station_code="141121002",
            product_categories=["wire_cable"],
        ),
        "丙": await enter(
            client, settings, WENSHUI, 3, name="文水县丙燃气具经销部", kind="sales", sales_channel="retail"
        ),
        "丁": await enter(
            client,
            settings,
            WENSHUI,
            4,
            name="文水县丁阀门经营部",
            kind="sales",
            sales_channel="wholesale",
            station_code="141121001",
        ),
        "己": await enter(
            client,
            settings,
            WENSHUI,
            6,
            name="文水县己JX铸造厂",
            sites=[{"region_code": "141122", "address": "交城县夏家营镇工业园"}],
            product_categories=["gas_hose"],
        ),
        "戊": await enter(
            client,
            settings,
            JIAOCHENG,
            5,
            name="交城县戊阀门厂",
            region_code="141122",
            station_code="141122001",
        ),
    }
    await set_columns(
        app,
        units["甲"]["id"],
        tier="A",
        supervision_class="key",
        locked=True,
        responsible_inspector="li",
        has_quality_director=True,
        has_risk_control_list=True,
        # 20:00 UTC on 10 January is 04:00 on 11 January in Beijing: entered on the 11th.
        created_at=datetime(2026, 1, 10, 20, 0, tzinfo=UTC),
    )
    await set_columns(app, units["乙"]["id"], tier="B", has_risk_control_list=True)
    await set_columns(
        app,
        units["丙"]["id"],
        tier="D",
        supervision_class="special",
        locked=True,
        responsible_inspector="wang",
        self_check_overdue_since=today_cn() - timedelta(days=3),
    )
    await set_columns(app, units["丁"]["id"], tier="C", supervision_class="key", has_quality_director=True)
    await set_columns(
        app, units["戊"]["id"], tier="A", supervision_class="key", locked=True, responsible_inspector="li"
    )
    await change_status(client, settings, units["乙"]["id"], "production_suspended")
    await change_status(client, settings, units["丁"]["id"], "deregistered")
    return units


WENSHUI_ALL = {"甲", "乙", "丙", "丁", "己"}
FILTER_CASES = [
    ("", WENSHUI_ALL),
    ("region=141121", WENSHUI_ALL),
    ("station_code=141121001", {"甲", "丁"}),
    ("kind=production", {"甲", "乙", "己"}),
    ("kind=sales", {"乙", "丙", "丁"}),  # 乙 produces and sells wholesale
    ("sales_channel=wholesale", {"乙", "丁"}),
    ("sales_channel=retail", {"丙"}),
    ("tier=A", {"甲"}),
    ("tier=A&tier=D", {"甲", "丙"}),
    ("supervision_class=routine", {"乙", "己"}),
    ("supervision_class=key", {"甲", "丁"}),
    ("supervision_class=key&supervision_class=special", {"甲", "丙", "丁"}),
    ("locked=true", {"甲", "丙"}),
    ("locked=false", {"乙", "丁", "己"}),
    ("operating_status=normal", {"甲", "丙", "己"}),
    ("operating_status=production_suspended", {"乙"}),
    ("operating_status=production_suspended&operating_status=deregistered", {"乙", "丁"}),
    ("product_category=gas_hose", {"甲", "己"}),
    ("product_category=wire_cable", {"乙"}),
    ("product_category=ebike_battery", set()),
    ("missing=quality_director", {"乙", "丙", "己"}),
    ("missing=risk_control_list", {"丙", "丁", "己"}),
    ("missing=self_checks", {"丙"}),
    ("missing=quality_director&missing=risk_control_list", {"丙", "己"}),
    ("responsible_inspector=li", {"甲"}),  # 戊's inspector is also li, but 戊 is Jiaocheng's
    ("q=阀门", {"甲", "丁"}),
    ("q=燃气具经销", {"丙"}),
    ("q=门", {"甲", "丁"}),
    ("q=jx", {"己"}),  # any case
    ("q=JX铸造", {"己"}),
    ("q=%25", set()),  # "%": a wildcard is a character like any other
    (f"q={make_uscc(2)}", {"乙"}),
    (f"q={make_uscc(2).lower()}", {"乙"}),
    (f"q={make_uscc(3)[:-1]}", {"丙"}),
    ("q=91141121", WENSHUI_ALL),
    ("q=91141122", set()),
    ("created_to=2026-01-10", set()),
    ("created_from=2026-01-11&created_to=2026-01-11", {"甲"}),
    (f"created_from=2026-01-12&created_to={today_cn()}", WENSHUI_ALL - {"甲"}),
    ("kind=sales&locked=true&supervision_class=special", {"丙"}),
    ("station_code=141121001&supervision_class=key&operating_status=normal&q=阀门", {"甲"}),
    ("region=141121&product_category=gas_hose&missing=quality_director", {"己"}),
]


async def test_each_filter_returns_exactly_the_expected_units_and_counts_them(settings: Settings) -> None:
    app = create_app(settings)
    async with serving(app) as client:
        units = await ledger(client, settings, app)
        by_name = {unit["name"]: key for key, unit in units.items()}
        for query, expected in FILTER_CASES:
            names = await listed(client, settings, WENSHUI, query)
            assert len(names) == len(set(names)), query
            assert {by_name[name] for name in names} == expected, query
            assert await counted(client, settings, WENSHUI, query) == len(expected), query


@pytest.mark.parametrize(
    ("query", "status", "code"),
    [
        ("created_from=2026-02-01&created_to=2026-01-01", 422, "SEARCH_DATE_RANGE_INVALID"),
        ("product_category=no_such", 422, "PRODUCT_CATEGORY_UNKNOWN"),
        ("tier=E", 422, "VALIDATION_FAILED"),
        ("missing=principal", 422, "VALIDATION_FAILED"),
        ("region=1411", 422, "VALIDATION_FAILED"),
        ("sort=employees", 422, "VALIDATION_FAILED"),
        ("limit=501", 422, "VALIDATION_FAILED"),
        ("region=141122", 403, "REGION_OUT_OF_JURISDICTION"),
        ("station_code=141122001", 403, "REGION_OUT_OF_JURISDICTION"),
    ],
)
async def test_bad_filters_are_refused_with_a_stable_code(
    settings: Settings, query: str, status: int, code: str
) -> None:
    async with serving(create_app(settings)) as client:
        for path in ("/enterprises", "/enterprises/count"):
            if path.endswith("count") and query.startswith(("sort", "limit")):
                continue
            response = await client.get(f"{path}?{query}", headers=identity(settings, WENSHUI))
            assert response.status_code == status, (path, response.text)
            assert response.json()["code"] == code
            assert any("\u4e00" <= ch <= "\u9fff" for ch in response.json()["detail"])


async def pages(
    client: httpx.AsyncClient, settings: Settings, query: str, *, insert_after_first: Any = None
) -> list[dict[str, Any]]:
    items: list[dict[str, Any]] = []
    cursor = None
    while True:
        url = f"/enterprises?limit=2&{query}" + (f"&cursor={cursor}" if cursor else "")
        response = await client.get(url, headers=identity(settings, WENSHUI))
        assert response.status_code == 200, response.text
        page = response.json()
        assert len(page["items"]) <= 2
        items += page["items"]
        if cursor is None and insert_after_first is not None:
            await insert_after_first()
        cursor = page["next_cursor"]
        if cursor is None:
            return items


async def test_every_sort_pages_through_all_units_exactly_once_both_ways(settings: Settings) -> None:
    app = create_app(settings)
    async with serving(app) as client:
        # Equal names and equal change times: the id must break the ties, or pages would skip or repeat.
        names = [
            "文水县阀门厂",
            "文水县电线厂",
            "文水县阀门厂",
            "安平五金店",
            "文水县阀门厂",
            "文水县电线厂",
            "巴彦灯具",
        ]
        created = [await enter(client, settings, WENSHUI, 10 + i, name=name) for i, name in enumerate(names)]
        same_time = datetime(2026, 3, 1, 8, 0, tzinfo=UTC)
        for unit in created[1:5]:
            await set_columns(app, unit["id"], updated_at=same_time)
        everything = {
            e["id"]: e
            for e in (await client.get("/enterprises?limit=500", headers=identity(settings, WENSHUI))).json()[
                "items"
            ]
        }
        assert len(everything) == len(names)

        extra = iter(range(100, 200))

        async def enter_one_more() -> None:  # entered while paging: seen at most once, the others unmoved
            await enter(client, settings, WENSHUI, next(extra), name="阿城文水分厂")

        for sort, key in [
            ("id", lambda e: e["id"]),
            ("name", lambda e: (e["name"], e["id"])),
            ("uscc", lambda e: (e["uscc"], e["id"])),
            ("updated_at", lambda e: (datetime.fromisoformat(e["updated_at"]), e["id"])),
        ]:
            for order in ("asc", "desc"):
                got = await pages(
                    client, settings, f"sort={sort}&order={order}", insert_after_first=enter_one_more
                )
                ids = [e["id"] for e in got]
                assert len(ids) == len(set(ids)), (sort, order)
                original = [i for i in ids if i in everything]
                expected = sorted(everything.values(), key=key, reverse=order == "desc")
                assert original == [e["id"] for e in expected], (sort, order)

        # The same rows on the same sort, asked for again, come back in the same order.
        assert [e["id"] for e in await pages(client, settings, "sort=name")] == [
            e["id"] for e in await pages(client, settings, "sort=name")
        ]


async def test_a_bad_cursor_or_one_of_another_order_is_refused(settings: Settings) -> None:
    async with serving(create_app(settings)) as client:
        headers = identity(settings, WENSHUI)
        for serial in range(3):
            await enter(client, settings, WENSHUI, 30 + serial, name=f"文水县{serial}号厂")
        by_name = (await client.get("/enterprises?sort=name&limit=1", headers=headers)).json()["next_cursor"]
        assert by_name
        forged = base64.urlsafe_b64encode(
            json.dumps({"sort": "name", "desc": False, "after": "x", "value": 5}).encode()
        ).decode()
        for query in (
            "cursor=!!",
            "cursor=bm90IGpzb24",
            f"cursor={forged}",
            f"sort=uscc&cursor={by_name}",
            f"sort=name&order=desc&cursor={by_name}",
        ):
            response = await client.get(f"/enterprises?{query}", headers=headers)
            assert response.status_code == 422, query
            assert response.json()["errors"][0]["field"] == "cursor"
        assert (
            await client.get(f"/enterprises?sort=name&cursor={by_name}", headers=headers)
        ).status_code == 200


async def test_a_county_never_lists_or_counts_its_neighbours_units_and_the_province_sees_both(
    settings: Settings,
) -> None:
    app = create_app(settings)
    async with serving(app) as client:
        await ledger(client, settings, app)
        assert await listed(client, settings, JIAOCHENG) == ["交城县戊阀门厂"]
        assert await counted(client, settings, JIAOCHENG) == 1
        for query in (
            "q=文水",
            "q=91141121",
            "responsible_inspector=wang",
            "product_category=gas_hose",
            "tier=D",
        ):
            assert await listed(client, settings, JIAOCHENG, query) == [], query
            assert await counted(client, settings, JIAOCHENG, query) == 0, query
        assert await listed(client, settings, JIAOCHENG, "responsible_inspector=li") == ["交城县戊阀门厂"]
        for path in ("/enterprises", "/enterprises/count", "/sites"):
            for query in ("region=141121", "region=140000", "region=141100"):
                response = await client.get(f"{path}?{query}", headers=identity(settings, JIAOCHENG))
                assert response.status_code == 403, (path, query)
                assert response.json()["code"] == "REGION_OUT_OF_JURISDICTION"
        response = await client.get(
            "/enterprises?station_code=141121001", headers=identity(settings, JIAOCHENG)
        )
        assert response.status_code == 403

        everything = set(await listed(client, settings, SX_PROVINCE))
        assert len(everything) == 6 and "交城县戊阀门厂" in everything
        assert await counted(client, settings, SX_PROVINCE) == 6
        assert await listed(client, settings, SX_PROVINCE, "region=141122") == ["交城县戊阀门厂"]
        assert set(await listed(client, settings, SX_PROVINCE, "region=141100&q=阀门")) == {
            "文水县甲阀门有限公司",
            "文水县丁阀门经营部",
            "交城县戊阀门厂",
        }
        assert await counted(client, settings, SX_PROVINCE, "responsible_inspector=li") == 2
        outside = await client.get("/enterprises?region=110101", headers=identity(settings, SX_PROVINCE))
        assert outside.status_code == 403


async def test_include_sites_shows_a_neighbours_unit_producing_here_and_sites_lists_it(
    settings: Settings,
) -> None:
    app = create_app(settings)
    async with serving(app) as client:
        units = await ledger(client, settings, app)
        guest = units["己"]
        assert "文水县己JX铸造厂" not in await listed(client, settings, JIAOCHENG)
        with_sites = await client.get(
            "/enterprises?include_sites=true", headers=identity(settings, JIAOCHENG)
        )
        items = with_sites.json()["items"]
        assert {(e["name"], e["via_site"]) for e in items} == {
            ("交城县戊阀门厂", False),
            ("文水县己JX铸造厂", True),
        }
        assert await counted(client, settings, JIAOCHENG, "include_sites=true") == 2
        # Filters apply to guests as to the county's own units.
        assert await listed(client, settings, JIAOCHENG, "include_sites=true&product_category=gas_hose") == [
            "文水县己JX铸造厂"
        ]
        assert set(await listed(client, settings, JIAOCHENG, "include_sites=true&region=141122")) == {
            "交城县戊阀门厂",
            "文水县己JX铸造厂",
        }
        # In Wenshui, where it is registered, the unit is its own, not a guest.
        own = (
            await client.get("/enterprises?include_sites=true", headers=identity(settings, WENSHUI))
        ).json()
        assert {e["name"] for e in own["items"]} == {units[k]["name"] for k in WENSHUI_ALL}
        assert not any(e["via_site"] for e in own["items"])

        sites = await client.get("/sites", headers=identity(settings, JIAOCHENG))
        assert sites.status_code == 200, sites.text
        [site] = sites.json()["items"]
        assert site["region_code"] == "141122" and site["address"] == "交城县夏家营镇工业园"
        assert site["enterprise"] == {
            "id": guest["id"],
            "name": "文水县己JX铸造厂",
            "uscc": guest["uscc"],
            "region_code": "141121",
        }
        assert (await client.get("/sites", headers=identity(settings, WENSHUI))).json()["items"] == []
        province = (await client.get("/sites?region=141122", headers=identity(settings, SX_PROVINCE))).json()
        assert [s["enterprise"]["id"] for s in province["items"]] == [guest["id"]]
        assert (await client.get("/sites?region=141121", headers=identity(settings, SX_PROVINCE))).json()[
            "items"
        ] == []


async def test_a_station_lists_only_the_units_it_is_responsible_for(settings: Settings) -> None:
    app = create_app(settings)
    async with serving(app) as client:
        await ledger(client, settings, app)
        assert set(await listed(client, settings, WENSHUI_STATION)) == {
            "文水县甲阀门有限公司",
            "文水县丁阀门经营部",
        }
        assert await counted(client, settings, WENSHUI_STATION) == 2
        assert await listed(
            client, settings, WENSHUI_STATION, "include_sites=true&operating_status=normal"
        ) == ["文水县甲阀门有限公司"]
        assert await listed(client, settings, WENSHUI_STATION, "station_code=141121001&tier=C") == [
            "文水县丁阀门经营部"
        ]
        for query in ("region=141121", "station_code=141121002"):
            response = await client.get(f"/enterprises?{query}", headers=identity(settings, WENSHUI_STATION))
            assert response.status_code == 403, query
        assert (await client.get("/sites", headers=identity(settings, WENSHUI_STATION))).json()["items"] == []


async def test_an_enterprise_account_lists_only_its_own_unit(settings: Settings) -> None:
    app = create_app(settings)
    async with serving(app) as client:
        units = await ledger(client, settings, app)
        account = Caller(username="jia", role="enterprise", region_code="141121", uscc=units["甲"]["uscc"])
        assert await listed(client, settings, account) == ["文水县甲阀门有限公司"]
        assert await listed(client, settings, account, "include_sites=true") == ["文水县甲阀门有限公司"]
        assert await counted(client, settings, account, "q=文水") == 1
        guest_account = Caller(
            username="ji", role="enterprise", region_code="141121", uscc=units["己"]["uscc"]
        )
        [site] = (await client.get("/sites", headers=identity(settings, guest_account))).json()["items"]
        assert site["enterprise"]["id"] == units["己"]["id"]


async def test_the_list_shows_what_a_dashboard_needs(settings: Settings) -> None:
    app = create_app(settings)
    async with serving(app) as client:
        units = await ledger(client, settings, app)
        response = await client.get("/enterprises?q=丙燃气", headers=identity(settings, WENSHUI))
        [item] = response.json()["items"]
        assert item["id"] == units["丙"]["id"]
        assert item["tier"] == "D" and item["supervision_class"] == "special" and item["locked"] is True
        assert item["responsible_inspector"] == "wang"
        assert item["self_check_overdue_since"] == str(today_cn() - timedelta(days=3))
        assert item["has_quality_director"] is False and item["via_site"] is False
        assert date.fromisoformat(item["created_at"][:10]) <= today_cn()
