"""An inspection's detail is read in one statement: the visit, its findings, evidence and revision count."""

from __future__ import annotations

import uuid
from collections.abc import AsyncIterator

import pytest
import pytest_asyncio

from services.common.settings import Settings
from services.inspection.app import create_app
from tests.harness import JIAOCHENG, SX_PROVINCE, WENSHUI, selects, serving, statements
from tests.inspection.test_visits import JPEG, LI, STATION, Phone, World, checklist_of, statuses, unit, visit

pytestmark = pytest.mark.asyncio


@pytest_asyncio.fixture
async def world(settings: Settings) -> AsyncIterator[World]:
    app = create_app(settings)
    async with serving(app) as client:
        async with app.state.db.transaction() as session:
            session.add(unit(1, station="141121001"))
        yield World(app, client, settings)


async def test_the_detail_is_one_select_and_the_same_body_as_after_the_review(world: World) -> None:
    checklist = await checklist_of(world, "unit-1")
    inspection = str(uuid.uuid4())
    ops = visit(Phone(LI), inspection, "unit-1", checklist, **{checklist[0]["id"]: "fail"})
    assert statuses(await world.sync(LI, ops)) == ["applied"] * 4
    jpeg = world.headers(LI, **{"Content-Type": "image/jpeg"})
    # A position with all 17 digits a double holds: SQLite's JSON functions alone would round it to 15.
    for lat in (37.43219876543219, 37.43):
        params = {"kind": "photo", "taken_at": "2026-03-02T10:15:00.5", "lat": lat, "lon": 112.03}
        put = await world.client.put(
            f"/inspections/{inspection}/evidence/{uuid.uuid4()}", content=JPEG, params=params, headers=jpeg
        )
        assert put.status_code == 201, put.text
    reviewed = await world.client.post(
        f"/inspections/{inspection}/review", json={"note": "同意"}, headers=world.headers(WENSHUI)
    )
    assert reviewed.status_code == 200, reviewed.text
    assert reviewed.json()["findings"] and len(reviewed.json()["evidence"]) == 2

    for caller in (WENSHUI, STATION, SX_PROVINCE):
        with statements(world.app) as seen:
            got = await world.client.get(f"/inspections/{inspection}", headers=world.headers(caller))
        assert got.status_code == 200, got.text
        assert len(selects(seen)) == 1, seen
        # The review's answer is built from the ORM objects, the read from one statement's JSON.
        assert got.content == reviewed.content
    assert 37.43219876543219 in [e["latitude"] for e in got.json()["evidence"]]

    for inspection_id in (inspection, str(uuid.uuid4())):
        with statements(world.app) as seen:
            hidden = await world.client.get(f"/inspections/{inspection_id}", headers=world.headers(JIAOCHENG))
        assert hidden.status_code == 404 and len(selects(seen)) == 1


async def test_a_known_units_checklist_is_one_select(world: World) -> None:
    with statements(world.app) as seen:
        await checklist_of(world, "unit-1")
    assert len(selects(seen)) == 1, seen
