"""质量安全管理人员 over a real database and a real NATS: appointment, masking of personal data by role,
correction and removal, trainings, exam results from the exam service, and who may do what."""

from __future__ import annotations

import json
from datetime import timedelta
from typing import Any

import httpx
import nats
import pytest
from sqlalchemy import update
from stdnum.cn import ric

from services.common.auth import Caller
from services.common.db import today_cn
from services.common.events import (
    EXAM_RESULT_PUBLISHED,
    MANAGER_APPOINTED,
    MANAGER_DISQUALIFIED,
    MANAGER_REMOVED,
    CloudEvent,
    EventSpec,
    ExamResultPublished,
    make_event,
)
from services.common.settings import Settings
from services.registry.app import create_app
from services.registry.models import Manager
from tests.harness import (
    JIAOCHENG,
    PERSONNEL,
    SX_PROVINCE,
    WENSHUI,
    enterprise_caller,
    eventually,
    id_number,
    identity,
    new_unit,
    serving,
    stream_events,
)

pytestmark = pytest.mark.asyncio

TODAY = today_cn()
APPOINTED = (TODAY - timedelta(days=30)).isoformat()


async def appoint(
    client: httpx.AsyncClient, settings: Settings, unit: str, caller: Caller = WENSHUI, **fields: Any
) -> httpx.Response:
    body = {
        "role": "quality_director",
        "name": "张三",
        "id_number": id_number(1),
        "appointed_on": APPOINTED,
        **fields,
    }
    return await client.post(f"/enterprises/{unit}/managers", json=body, headers=identity(settings, caller))


async def unit_flags(client: httpx.AsyncClient, settings: Settings, unit: str) -> dict:
    response = await client.get(f"/enterprises/{unit}", headers=identity(settings, WENSHUI))
    assert response.status_code == 200, response.text
    return response.json()


async def published(settings: Settings, spec: EventSpec[Any]) -> list[tuple[dict, str]]:
    """Every event of one type registry has put on its stream: (envelope, raw body)."""
    nc = await nats.connect(settings.nats_url)
    try:
        sub = await nc.jetstream().subscribe(spec.subject, stream="QSR_REGISTRY", ordered_consumer=True)
        found = []
        while True:
            try:
                msg = await sub.next_msg(timeout=0.5)
            except nats.errors.TimeoutError:
                return found
            found.append((json.loads(msg.data), msg.data.decode()))
    finally:
        await nc.close()


def exam_result(unit: str, manager: str, result: str, published_on: str, exam: str = "exam-1") -> CloudEvent:
    payload = ExamResultPublished(
        exam_id=exam, enterprise_id=unit, manager_id=manager, result=result, published_on=published_on
    )
    return make_event(EXAM_RESULT_PUBLISHED, payload, region="141121", enterprise_id=unit)


async def publish(settings: Settings, *events: CloudEvent) -> None:
    """What the exam service does: its results on JetStream (stream QSR_EXAM)."""
    nc = await nats.connect(settings.nats_url)
    try:
        js = nc.jetstream()
        for event in events:
            ack = await js.publish(
                EXAM_RESULT_PUBLISHED.subject,
                event.model_dump_json().encode(),
                headers={"Nats-Msg-Id": event.id},
            )
            assert ack.stream == "QSR_EXAM"
    finally:
        await nc.close()


# ------------------------------------------------------------------------------------------------ masking


async def test_personal_data_is_masked_for_regulators_and_shown_to_the_personnel_officer(
    settings: Settings,
) -> None:
    person, phone = id_number(7), "13812345678"
    async with serving(create_app(settings)) as client:
        unit = await new_unit(client, settings, 1)
        created = await appoint(client, settings, unit["id"], id_number=person, phone=phone)
        assert created.status_code == 201, created.text
        manager = created.json()
        masked = {"id_number": person[:4] + "*" * 10 + person[-4:], "phone": "138****5678"}
        assert {k: manager[k] for k in masked} == masked
        assert manager["active"] is True and manager["exam_status"] is None

        detail = f"/enterprises/{unit['id']}/managers/{manager['id']}"
        listing = f"/enterprises/{unit['id']}/managers"
        for caller in (WENSHUI, SX_PROVINCE, enterprise_caller(unit["uscc"])):
            got = (await client.get(detail, headers=identity(settings, caller))).json()
            assert {k: got[k] for k in masked} == masked
            [listed] = (await client.get(listing, headers=identity(settings, caller))).json()
            assert {k: listed[k] for k in masked} == masked

        got = (await client.get(detail, headers=identity(settings, PERSONNEL))).json()
        assert (got["id_number"], got["phone"]) == (person, phone)
        [listed] = (await client.get(listing, headers=identity(settings, PERSONNEL))).json()
        assert (listed["id_number"], listed["phone"]) == (person, phone)

        # Neither the change history nor the event carries the number or the phone.
        history = await client.get(
            f"/enterprises/{unit['id']}/history", headers=identity(settings, PERSONNEL)
        )
        assert history.status_code == 200
        assert any(e["entity"] == "manager" and e["action"] == "appointed" for e in history.json()["items"])
        assert person not in history.text and phone not in history.text


@pytest.mark.parametrize(
    ("given", "code"),
    [
        (id_number(3)[:-1] + ("0" if id_number(3)[-1] != "0" else "1"), "ID_NUMBER_INVALID"),  # check digit
        (id_number(3)[:-1], "ID_NUMBER_INVALID"),  # 17 characters
        ("14112119801301003" + ric.calc_check_digit("141121198013010030"), "ID_NUMBER_INVALID"),  # month 13
        (
            "99112119800101003" + ric.calc_check_digit("991121198001010030"),
            "ID_NUMBER_INVALID",
        ),  # no province
        ("14112119800101A03X", "ID_NUMBER_INVALID"),
    ],
)
async def test_an_invalid_id_number_is_refused_with_a_stable_code(
    settings: Settings, given: str, code: str
) -> None:
    async with serving(create_app(settings)) as client:
        unit = await new_unit(client, settings, 1)
        response = await appoint(client, settings, unit["id"], id_number=given)
        assert response.status_code == 422, response.text
        problem = response.json()
        assert problem["code"] == code and problem["errors"][0]["field"] == "id_number"
        assert any("\u4e00" <= ch <= "\u9fff" for ch in problem["detail"])
        listed = await client.get(f"/enterprises/{unit['id']}/managers", headers=identity(settings, WENSHUI))
        assert listed.json() == []
        assert (await unit_flags(client, settings, unit["id"]))["has_quality_director"] is False


async def test_phone_and_dates_are_checked_and_a_lower_case_x_is_accepted(settings: Settings) -> None:
    with_x = next(id_number(n) for n in range(1000) if id_number(n).endswith("X"))
    async with serving(create_app(settings)) as client:
        unit = await new_unit(client, settings, 1)
        bad_phone = await appoint(client, settings, unit["id"], phone="12345")
        assert bad_phone.status_code == 422 and bad_phone.json()["code"] == "PHONE_INVALID"
        future = await appoint(
            client, settings, unit["id"], appointed_on=(TODAY + timedelta(days=1)).isoformat()
        )
        assert future.status_code == 422 and future.json()["code"] == "MANAGER_DATE_INVALID"

        created = await appoint(client, settings, unit["id"], id_number=with_x.lower(), phone="0358-3012345")
        assert created.status_code == 201, created.text
        got = await client.get(
            f"/enterprises/{unit['id']}/managers/{created.json()['id']}",
            headers=identity(settings, PERSONNEL),
        )
        assert got.json()["id_number"] == with_x and got.json()["phone"] == "0358-3012345"
        # The same person, typed in lower case, is the same person.
        again = await appoint(client, settings, unit["id"], id_number=with_x)
        assert again.status_code == 409 and again.json()["code"] == "MANAGER_ALREADY_APPOINTED"


# ------------------------------------------------------------------------------------------------ lifecycle


async def test_appoint_correct_remove_with_history_events_and_the_director_flag(settings: Settings) -> None:
    person = id_number(21)
    async with serving(create_app(settings)) as client:
        headers = identity(settings, WENSHUI)
        unit = await new_unit(client, settings, 1)
        base = f"/enterprises/{unit['id']}/managers"
        assert (await unit_flags(client, settings, unit["id"]))["has_quality_director"] is False

        officer = await appoint(client, settings, unit["id"], role="quality_officer", id_number=id_number(22))
        assert officer.status_code == 201
        assert (await unit_flags(client, settings, unit["id"]))["has_quality_director"] is False
        director = (await appoint(client, settings, unit["id"], id_number=person, phone="13900001111")).json()
        assert (await unit_flags(client, settings, unit["id"]))["has_quality_director"] is True

        twice = await appoint(client, settings, unit["id"], id_number=person, name="张三")
        assert twice.status_code == 409 and twice.json()["code"] == "MANAGER_ALREADY_APPOINTED"
        assert "质量安全总监" in twice.json()["detail"]
        as_principal = await appoint(client, settings, unit["id"], id_number=person, role="principal")
        assert as_principal.status_code == 201  # one person, two posts

        [appointed] = [
            e
            for e, _ in await published(settings, MANAGER_APPOINTED)
            if e["data"]["manager_id"] == director["id"]
        ]
        assert appointed["enterpriseid"] == unit["id"] and appointed["region"] == "141121"
        assert appointed["data"]["role"] == "quality_director" and appointed["data"]["name"] == "张三"
        raw = next(
            body for e, body in await published(settings, MANAGER_APPOINTED) if e["id"] == appointed["id"]
        )
        assert person not in raw and "13900001111" not in raw

        empty = await client.post(f"{base}/{director['id']}/change", json={"reason": "无"}, headers=headers)
        assert empty.status_code == 422 and empty.json()["code"] == "MANAGER_CHANGE_EMPTY"
        no_reason = await client.post(
            f"{base}/{director['id']}/change", json={"name": "张叁"}, headers=headers
        )
        assert no_reason.status_code == 422
        corrected = await client.post(
            f"{base}/{director['id']}/change",
            json={"name": "张叁", "phone": "13900002222", "reason": "姓名录入错误"},
            headers=headers,
        )
        assert corrected.status_code == 200 and corrected.json()["name"] == "张叁"
        assert corrected.json()["phone"] == "139****2222"

        early = await client.post(
            f"{base}/{director['id']}/removal",
            json={"removed_on": (TODAY - timedelta(days=31)).isoformat(), "reason": "离职"},
            headers=headers,
        )
        assert early.status_code == 422 and early.json()["code"] == "MANAGER_DATE_INVALID"
        removed = await client.post(
            f"{base}/{director['id']}/removal",
            json={"removed_on": TODAY.isoformat(), "reason": "离职"},
            headers=headers,
        )
        assert removed.status_code == 200, removed.text
        assert removed.json()["active"] is False and removed.json()["removal_reason"] == "离职"
        again = await client.post(
            f"{base}/{director['id']}/removal",
            json={"removed_on": TODAY.isoformat(), "reason": "离职"},
            headers=headers,
        )
        assert again.status_code == 409 and again.json()["code"] == "MANAGER_ALREADY_REMOVED"
        assert (await unit_flags(client, settings, unit["id"]))["has_quality_director"] is False

        active = (await client.get(base, headers=headers)).json()
        assert director["id"] not in {m["id"] for m in active} and len(active) == 2
        everyone = (await client.get(f"{base}?include_removed=true", headers=headers)).json()
        assert director["id"] in {m["id"] for m in everyone} and len(everyone) == 3

        [gone] = [
            e
            for e, _ in await published(settings, MANAGER_REMOVED)
            if e["data"]["manager_id"] == director["id"]
        ]
        assert gone["data"]["removed_on"] == TODAY.isoformat() and gone["data"]["reason"] == "离职"

        history = (await client.get(f"/enterprises/{unit['id']}/history", headers=headers)).json()["items"]
        mine = [(e["action"], e["reason"]) for e in history if e["entity_id"] == director["id"]]
        assert mine == [("appointed", "任命质量安全总监"), ("corrected", "姓名录入错误"), ("removed", "离职")]
        change = next(e for e in history if e["action"] == "corrected")["changes"]
        assert change["name"] == ["张三", "张叁"] and "13900002222" not in json.dumps(change)

        # Removed, the person may be appointed again.
        back = await appoint(client, settings, unit["id"], id_number=person, appointed_on=TODAY.isoformat())
        assert back.status_code == 201
        assert (await unit_flags(client, settings, unit["id"]))["has_quality_director"] is True


async def test_trainings_of_a_manager(settings: Settings) -> None:
    async with serving(create_app(settings)) as client:
        headers = identity(settings, WENSHUI)
        unit, other = await new_unit(client, settings, 1), await new_unit(client, settings, 2)
        manager = (await appoint(client, settings, unit["id"])).json()
        path = f"/enterprises/{unit['id']}/managers/{manager['id']}/trainings"
        body = {
            "held_on": TODAY.isoformat(),
            "topic": "《两个规定》解读",
            "hours": 4,
            "provider": "吕梁市市场监管局",
        }
        created = await client.post(path, json=body, headers=headers)
        assert created.status_code == 201, created.text
        assert (await client.post(path, json={**body, "hours": 0}, headers=headers)).status_code == 422
        future = await client.post(
            path, json={**body, "held_on": (TODAY + timedelta(days=2)).isoformat()}, headers=headers
        )
        assert future.status_code == 422 and future.json()["code"] == "TRAINING_INVALID"
        listed = (await client.get(path, headers=headers)).json()
        assert [(t["topic"], t["hours"], t["created_by"]) for t in listed] == [
            ("《两个规定》解读", 4.0, "wenshui")
        ]
        # The manager is not another unit's.
        wrong = await client.get(
            f"/enterprises/{other['id']}/managers/{manager['id']}/trainings", headers=headers
        )
        assert wrong.status_code == 404 and wrong.json()["code"] == "MANAGER_NOT_FOUND"


# ------------------------------------------------------------------------------------------------ one per post


async def managers(client: httpx.AsyncClient, settings: Settings, unit: str, **query: Any) -> list[dict]:
    response = await client.get(
        f"/enterprises/{unit}/managers", params=query, headers=identity(settings, WENSHUI)
    )
    assert response.status_code == 200, response.text
    return response.json()


async def test_a_second_director_is_refused_and_a_successor_replaces_the_holder(settings: Settings) -> None:
    succeeded_on = (TODAY - timedelta(days=5)).isoformat()
    async with serving(create_app(settings)) as client:
        headers = identity(settings, WENSHUI)
        unit = (await new_unit(client, settings, 1))["id"]
        first = (await appoint(client, settings, unit, name="张三", id_number=id_number(41))).json()

        second = await appoint(client, settings, unit, name="李四", id_number=id_number(42))
        assert second.status_code == 409, second.text
        problem = second.json()
        assert problem["code"] == "MANAGER_POST_OCCUPIED"
        assert (
            "张三" in problem["detail"] and APPOINTED in problem["detail"] and "replaces" in problem["detail"]
        )
        assert [h["id"] for h in problem["holders"]] == [first["id"]]
        assert [m["id"] for m in await managers(client, settings, unit)] == [first["id"]]

        successor = await appoint(
            client,
            settings,
            unit,
            name="李四",
            id_number=id_number(42),
            appointed_on=succeeded_on,
            replaces=first["id"],
        )
        assert successor.status_code == 201, successor.text
        successor_id = successor.json()["id"]
        [director] = await managers(client, settings, unit)
        assert (director["id"], director["name"], director["appointed_on"]) == (
            successor_id,
            "李四",
            succeeded_on,
        )
        gone = next(
            m
            for m in await managers(client, settings, unit, include_removed="true")
            if m["id"] == first["id"]
        )
        assert (gone["active"], gone["removed_on"], gone["removal_reason"]) == (
            False,
            succeeded_on,
            "由李四接任",
        )
        assert (await unit_flags(client, settings, unit))["has_quality_director"] is True

        history = (await client.get(f"/enterprises/{unit}/history", headers=headers)).json()["items"]
        by_manager = {(e["entity_id"], e["action"]): e for e in history if e["entity"] == "manager"}
        removal = by_manager[(first["id"], "removed")]
        assert removal["reason"] == "由李四接任" and removal["actor"] == "wenshui"
        assert removal["changes"]["removed_on"] == [None, succeeded_on]
        assert "接任张三" in by_manager[(successor_id, "appointed")]["reason"]

        async def announced() -> None:
            [removed] = [e for e, _ in await published(settings, MANAGER_REMOVED)]
            assert removed["data"]["manager_id"] == first["id"]
            assert removed["data"]["removed_on"] == succeeded_on and removed["data"]["reason"] == "由李四接任"
            appointed = {e["data"]["manager_id"] for e, _ in await published(settings, MANAGER_APPOINTED)}
            assert appointed == {first["id"], successor_id}

        await eventually(announced)


async def test_replaces_must_name_a_manager_in_post_in_the_same_unit_and_role(settings: Settings) -> None:
    async with serving(create_app(settings)) as client:
        headers = identity(settings, WENSHUI)
        unit, other = (await new_unit(client, settings, 1))["id"], (await new_unit(client, settings, 2))["id"]
        earlier = (await appoint(client, settings, unit, name="前任", id_number=id_number(51))).json()
        director = (
            await appoint(
                client,
                settings,
                unit,
                name="张三",
                id_number=id_number(52),
                appointed_on=(TODAY - timedelta(days=10)).isoformat(),
                replaces=earlier["id"],
            )
        ).json()
        officer = (
            await appoint(
                client, settings, unit, role="quality_officer", name="李四", id_number=id_number(53)
            )
        ).json()
        theirs = (await appoint(client, settings, other, name="赵六", id_number=id_number(54))).json()
        before = await managers(client, settings, unit, include_removed="true")

        for replaces, status, code in [
            (officer["id"], 422, "MANAGER_REPLACES_INVALID"),  # another role
            (theirs["id"], 422, "MANAGER_REPLACES_INVALID"),  # another unit
            ("no-such-manager", 422, "MANAGER_REPLACES_INVALID"),
            (earlier["id"], 409, "MANAGER_ALREADY_REMOVED"),  # already removed
        ]:
            refused = await appoint(
                client, settings, unit, name="王五", id_number=id_number(55), replaces=replaces
            )
            assert refused.status_code == status, (replaces, refused.text)
            assert refused.json()["code"] == code
            if status == 422:  # a 409 names no fields (``errors`` is for invalid input); its detail says why
                assert [e["field"] for e in refused.json()["errors"]] == ["replaces"]
        assert (
            "质量安全员"
            in (
                await appoint(
                    client, settings, unit, name="王五", id_number=id_number(55), replaces=officer["id"]
                )
            ).json()["detail"]
        )
        # Taking over before the predecessor was appointed is a wrong date.
        too_early = await appoint(
            client,
            settings,
            unit,
            name="王五",
            id_number=id_number(55),
            appointed_on=(TODAY - timedelta(days=11)).isoformat(),
            replaces=director["id"],
        )
        assert too_early.status_code == 422 and too_early.json()["code"] == "MANAGER_DATE_INVALID"
        # An officer cannot take a director's post by naming him either.
        sideways = await appoint(
            client,
            settings,
            unit,
            role="quality_officer",
            name="王五",
            id_number=id_number(55),
            replaces=director["id"],
        )
        assert sideways.status_code == 422 and sideways.json()["code"] == "MANAGER_REPLACES_INVALID"

        assert await managers(client, settings, unit, include_removed="true") == before
        assert [m["id"] for m in await managers(client, settings, other)] == [theirs["id"]]
        assert (await client.get(f"/enterprises/{other}/managers/{theirs['id']}", headers=headers)).json()[
            "active"
        ] is True


async def test_several_officers_may_serve_and_one_may_replace_another(settings: Settings) -> None:
    async with serving(create_app(settings)) as client:
        unit = (await new_unit(client, settings, 1))["id"]
        officers = []
        for n, name in enumerate(["甲", "乙", "丙"]):
            created = await appoint(
                client, settings, unit, role="quality_officer", name=name, id_number=id_number(60 + n)
            )
            assert created.status_code == 201, created.text
            officers.append(created.json()["id"])
        successor = await appoint(
            client,
            settings,
            unit,
            role="quality_officer",
            name="丁",
            id_number=id_number(63),
            appointed_on=TODAY.isoformat(),
            replaces=officers[1],
        )
        assert successor.status_code == 201, successor.text
        assert sorted(m["name"] for m in await managers(client, settings, unit)) == sorted(["甲", "丙", "丁"])
        [left] = [
            m for m in await managers(client, settings, unit, include_removed="true") if not m["active"]
        ]
        assert (left["id"], left["removed_on"], left["removal_reason"]) == (
            officers[1],
            TODAY.isoformat(),
            "由丁接任",
        )


async def test_a_unit_with_several_directors_from_before_the_rule_reads_them_and_names_them_all(
    settings: Settings,
) -> None:
    app = create_app(settings)
    async with serving(app) as client:
        unit = (await new_unit(client, settings, 1))["id"]
        one = (await appoint(client, settings, unit, name="张三", id_number=id_number(71))).json()
        two = (
            await appoint(
                client, settings, unit, role="quality_officer", name="李四", id_number=id_number(72)
            )
        ).json()
        # Entered before one director per unit was enforced.
        async with app.state.db.transaction() as session:
            await session.execute(
                update(Manager).where(Manager.id == two["id"]).values(role="quality_director")
            )

        listed = await managers(client, settings, unit)
        assert {(m["id"], m["role"]) for m in listed} == {
            (one["id"], "quality_director"),
            (two["id"], "quality_director"),
        }

        refused = await appoint(client, settings, unit, name="王五", id_number=id_number(73))
        assert refused.status_code == 409 and refused.json()["code"] == "MANAGER_POST_OCCUPIED"
        assert {h["id"] for h in refused.json()["holders"]} == {one["id"], two["id"]}
        assert "张三" in refused.json()["detail"] and "李四" in refused.json()["detail"]

        replaced = await appoint(
            client, settings, unit, name="王五", id_number=id_number(73), replaces=one["id"]
        )
        assert replaced.status_code == 201, replaced.text
        assert {m["name"] for m in await managers(client, settings, unit)} == {"李四", "王五"}


async def test_the_principal_keeps_the_units_record_in_step(settings: Settings) -> None:
    app = create_app(settings)
    async with serving(app) as client:
        headers = identity(settings, WENSHUI)
        unit = (await new_unit(client, settings, 1, principal_name="王建国", principal_phone="13800001111"))[
            "id"
        ]
        record = f"/enterprises/{unit}"

        async def shown() -> dict:
            response = await client.get(record, headers=identity(settings, PERSONNEL))
            assert response.status_code == 200, response.text
            return response.json()

        assert (await shown())["version"] == 1
        first = await appoint(
            client,
            settings,
            unit,
            role="principal",
            name="赵六",
            id_number=id_number(81),
            phone="13900002222",
        )
        assert first.status_code == 201, first.text
        got = await shown()
        assert (got["principal_name"], got["principal_phone"], got["version"]) == ("赵六", "13900002222", 2)

        history = (await client.get(f"{record}/history", headers=headers)).json()["items"]
        [synced] = [e for e in history if e["entity"] == "enterprise" and e["action"] == "updated"]
        assert synced["changes"]["principal_name"] == ["王建国", "赵六"] and "赵六" in synced["reason"]
        assert "13900002222" not in json.dumps(synced)

        async def one_update() -> None:
            updates = await stream_events(settings, "qsr.registry.enterprise.updated")
            assert [e["enterpriseid"] for e in updates] == [unit]

        await eventually(one_update)

        # The clerk's edit made against the version read before the appointment is now stale.
        stale = await client.patch(
            record, json={"version": 1, "reason": "改地址", "registered_address": "凤城镇"}, headers=headers
        )
        assert stale.status_code == 409 and stale.json()["code"] == "ENTERPRISE_VERSION_STALE"

        # A correction of the principal's name reaches the record too.
        corrected = await client.post(
            f"{record}/managers/{first.json()['id']}/change",
            json={"name": "赵陆", "reason": "错字"},
            headers=headers,
        )
        assert corrected.status_code == 200, corrected.text
        got = await shown()
        assert (got["principal_name"], got["principal_phone"], got["version"]) == ("赵陆", "13900002222", 3)

        # A second principal is refused; a successor replaces the first, and the phone follows the person.
        refused = await appoint(
            client, settings, unit, role="principal", name="孙七", id_number=id_number(82)
        )
        assert refused.status_code == 409 and refused.json()["code"] == "MANAGER_POST_OCCUPIED"
        assert (await shown())["version"] == 3
        successor = await appoint(
            client,
            settings,
            unit,
            role="principal",
            name="孙七",
            id_number=id_number(82),
            appointed_on=TODAY.isoformat(),
            replaces=first.json()["id"],
        )
        assert successor.status_code == 201, successor.text
        got = await shown()
        assert (got["principal_name"], got["principal_phone"], got["version"]) == ("孙七", None, 4)

        # Removed without a successor: the record keeps the last name it had.
        removed = await client.post(
            f"{record}/managers/{successor.json()['id']}/removal",
            json={"removed_on": TODAY.isoformat(), "reason": "离职"},
            headers=headers,
        )
        assert removed.status_code == 200, removed.text
        got = await shown()
        assert (got["principal_name"], got["version"]) == ("孙七", 4)

        async def three_updates() -> None:
            updates = await stream_events(settings, "qsr.registry.enterprise.updated")
            assert len(updates) == 3 and {e["enterpriseid"] for e in updates} == {unit}

        await eventually(three_updates)


async def test_an_import_may_rename_the_principal_and_a_later_correction_leaves_it(
    settings: Settings,
) -> None:
    async with serving(create_app(settings)) as client:
        headers = identity(settings, WENSHUI)
        unit = await new_unit(client, settings, 1, principal_name="王建国")
        record = f"/enterprises/{unit['id']}"
        principal = (
            await appoint(
                client, settings, unit["id"], role="principal", name="赵六", id_number=id_number(91)
            )
        ).json()
        assert (await unit_flags(client, settings, unit["id"]))["principal_name"] == "赵六"

        header = [
            "统一社会信用代码",
            "单位名称",
            "单位类型",
            "注册地行政区划代码",
            "从业人员（人）",
            "营业收入（万元）",
            "录入原因",
            "主要负责人",
        ]
        row = [unit["uscc"], unit["name"], "生产", "141121", "25", "1500", "监督抽查", "周八"]
        sheet = ("\n".join(",".join(line) for line in (header, row)) + "\n").encode("utf-8")
        imported = await client.post(
            "/enterprises/import", files={"file": ("台账.csv", sheet)}, headers=headers
        )
        assert imported.status_code in (200, 201), imported.text
        assert imported.json()["updated"] == 1, imported.json()
        got = await unit_flags(client, settings, unit["id"])
        assert (got["principal_name"], got["version"]) == ("周八", 3)
        # The import names the unit's principal; the manager record is left as it was.
        [still] = await managers(client, settings, unit["id"])
        assert (still["id"], still["name"], still["active"]) == (principal["id"], "赵六", True)

        # The record no longer names 赵六: correcting his phone does not touch it.
        corrected = await client.post(
            f"{record}/managers/{principal['id']}/change",
            json={"phone": "13700001111", "reason": "换号"},
            headers=headers,
        )
        assert corrected.status_code == 200, corrected.text
        got = await unit_flags(client, settings, unit["id"])
        assert (got["principal_name"], got["version"]) == ("周八", 3)


# ------------------------------------------------------------------------------------------------ exam results


async def test_a_failed_exam_removes_the_person_everywhere_until_a_qualified_result(
    settings: Settings,
) -> None:
    person, bystander = id_number(31), id_number(32)
    failed_on = (TODAY - timedelta(days=2)).isoformat()
    async with serving(create_app(settings)) as client:
        headers = identity(settings, WENSHUI)
        unit, other = await new_unit(client, settings, 1), await new_unit(client, settings, 2)
        director = (await appoint(client, settings, unit["id"], id_number=person)).json()
        officer = (
            await appoint(client, settings, other["id"], id_number=person, role="quality_officer")
        ).json()
        colleague = (
            await appoint(
                client, settings, unit["id"], id_number=bystander, role="quality_officer", name="李四"
            )
        ).json()
        assert (await unit_flags(client, settings, unit["id"]))["has_quality_director"] is True

        await publish(settings, exam_result(unit["id"], director["id"], "failed", failed_on))

        async def disqualified() -> dict:
            got = await client.get(f"/enterprises/{unit['id']}/managers/{director['id']}", headers=headers)
            assert got.json()["exam_status"] == "disqualified"
            return got.json()

        got = await eventually(disqualified)
        assert (
            got["active"] is False
            and got["removed_on"] == failed_on
            and got["removal_reason"] == "考核不合格"
        )
        elsewhere = (
            await client.get(f"/enterprises/{other['id']}/managers/{officer['id']}", headers=headers)
        ).json()
        assert elsewhere["active"] is False and elsewhere["exam_status"] == "disqualified"
        untouched = (
            await client.get(f"/enterprises/{unit['id']}/managers/{colleague['id']}", headers=headers)
        ).json()
        assert untouched["active"] is True and untouched["exam_status"] is None
        assert (await unit_flags(client, settings, unit["id"]))["has_quality_director"] is False

        events = [e for e, _ in await published(settings, MANAGER_DISQUALIFIED)]
        assert len(events) == 2
        assert {(e["enterpriseid"], e["data"]["manager_id"]) for e in events} == {
            (unit["id"], director["id"]),
            (other["id"], officer["id"]),
        }
        assert all(
            e["data"]["reason"] == "考核不合格" and e["data"]["removed_on"] == failed_on for e in events
        )
        history = (await client.get(f"/enterprises/{other['id']}/history", headers=headers)).json()["items"]
        assert [e["actor"] for e in history if e["action"] == "disqualified"] == ["exam"]

        refused = await appoint(
            client, settings, unit["id"], id_number=person, appointed_on=TODAY.isoformat()
        )
        assert refused.status_code == 409 and refused.json()["code"] == "MANAGER_DISQUALIFIED"
        assert failed_on in refused.json()["detail"]
        refused = await appoint(client, settings, other["id"], id_number=person, role="principal")
        assert refused.status_code == 409 and refused.json()["code"] == "MANAGER_DISQUALIFIED"

        # Retaken and passed: the person may serve again (the old appointments stay ended).
        await publish(
            settings, exam_result(unit["id"], director["id"], "qualified", TODAY.isoformat(), "exam-2")
        )

        async def requalified() -> dict:
            got = await client.get(f"/enterprises/{unit['id']}/managers/{director['id']}", headers=headers)
            assert got.json()["exam_status"] == "qualified"
            return got.json()

        assert (await eventually(requalified))["active"] is False
        back = await appoint(client, settings, unit["id"], id_number=person, appointed_on=TODAY.isoformat())
        assert back.status_code == 201, back.text
        assert back.json()["exam_status"] == "qualified"
        assert (await unit_flags(client, settings, unit["id"]))["has_quality_director"] is True


async def test_an_exam_result_for_an_unknown_manager_is_dead_lettered(settings: Settings) -> None:
    async with serving(create_app(settings)) as client:
        unit = await new_unit(client, settings, 1)
        event = exam_result(unit["id"], "no-such-manager", "failed", TODAY.isoformat())
        await publish(settings, event)

        async def dead() -> None:
            response = await client.get("/dead-letters", headers=identity(settings, SX_PROVINCE))
            assert response.status_code == 200
            assert event.id in {row["event_id"] for row in response.json()}

        await eventually(dead)


# ------------------------------------------------------------------------------------------------ who may


async def test_a_neighbour_county_sees_nothing_and_a_site_county_only_reads(settings: Settings) -> None:
    async with serving(create_app(settings)) as client:
        unit = await new_unit(client, settings, 1)
        manager = (await appoint(client, settings, unit["id"], phone="13812345678")).json()
        base = f"/enterprises/{unit['id']}/managers"
        one = f"{base}/{manager['id']}"
        neighbour = identity(settings, JIAOCHENG)
        training = {"held_on": TODAY.isoformat(), "topic": "培训", "hours": 2}
        attempts = [
            client.post(
                base,
                json={
                    "role": "principal",
                    "name": "王五",
                    "id_number": id_number(2),
                    "appointed_on": APPOINTED,
                },
                headers=neighbour,
            ),
            # Naming the county's director as the one replaced changes nothing either.
            client.post(
                base,
                json={
                    "role": "quality_director",
                    "name": "王五",
                    "id_number": id_number(2),
                    "appointed_on": TODAY.isoformat(),
                    "replaces": manager["id"],
                },
                headers=neighbour,
            ),
            client.get(base, headers=neighbour),
            client.get(f"{base}?include_removed=true", headers=neighbour),
            client.get(one, headers=neighbour),
            client.post(f"{one}/change", json={"name": "改名", "reason": "试试"}, headers=neighbour),
            client.post(
                f"{one}/removal", json={"removed_on": TODAY.isoformat(), "reason": "试试"}, headers=neighbour
            ),
            client.post(f"{one}/trainings", json=training, headers=neighbour),
            client.get(f"{one}/trainings", headers=neighbour),
        ]
        for attempt in attempts:
            response = await attempt
            assert response.status_code == 404, response.text
            assert response.json()["code"] == "ENTERPRISE_NOT_FOUND"
        [still] = (await client.get(base, headers=identity(settings, WENSHUI))).json()
        assert still["name"] == "张三" and still["active"] is True

        # A unit producing on a site in the neighbour county: readable there (masked), not changeable.
        sited = await new_unit(
            client, settings, 2, sites=[{"region_code": "141122", "address": "交城县夏家营镇工业园"}]
        )
        await appoint(client, settings, sited["id"], phone="13812345678")
        [seen] = (await client.get(f"/enterprises/{sited['id']}/managers", headers=neighbour)).json()
        assert seen["phone"] == "138****5678"
        refused = await appoint(
            client, settings, sited["id"], JIAOCHENG, role="principal", id_number=id_number(3)
        )
        assert refused.status_code == 403 and refused.json()["code"] == "ENTERPRISE_NOT_SUPERVISED_BY_CALLER"
        [held] = (await client.get(f"/enterprises/{sited['id']}/managers", headers=neighbour)).json()
        refused = await appoint(
            client, settings, sited["id"], JIAOCHENG, id_number=id_number(3), replaces=held["id"]
        )
        assert refused.status_code == 403 and refused.json()["code"] == "ENTERPRISE_NOT_SUPERVISED_BY_CALLER"
        assert (await client.get(f"/enterprises/{sited['id']}/managers", headers=neighbour)).json() == [held]


async def test_the_enterprise_keeps_its_own_managers_and_not_another_units(settings: Settings) -> None:
    async with serving(create_app(settings)) as client:
        own, other = await new_unit(client, settings, 1), await new_unit(client, settings, 2)
        account = enterprise_caller(own["uscc"])
        created = await appoint(client, settings, own["id"], account)
        assert created.status_code == 201, created.text
        assert created.json()["created_by"] == account.username
        assert created.json()["id_number"] != id_number(1)  # its own people, still masked
        base = f"/enterprises/{own['id']}/managers/{created.json()['id']}"
        headers = identity(settings, account)
        corrected = await client.post(
            f"{base}/change", json={"phone": "13700001111", "reason": "换号"}, headers=headers
        )
        assert corrected.status_code == 200
        training = await client.post(
            f"{base}/trainings",
            json={"held_on": TODAY.isoformat(), "topic": "内部培训", "hours": 1},
            headers=headers,
        )
        assert training.status_code == 201
        removed = await client.post(
            f"{base}/removal", json={"removed_on": TODAY.isoformat(), "reason": "调岗"}, headers=headers
        )
        assert removed.status_code == 200 and removed.json()["active"] is False

        theirs = (await appoint(client, settings, other["id"], id_number=id_number(5))).json()
        for response in (
            await appoint(client, settings, other["id"], account, id_number=id_number(6)),
            await client.get(f"/enterprises/{other['id']}/managers", headers=headers),
            await client.get(f"/enterprises/{other['id']}/managers/{theirs['id']}", headers=headers),
            await client.post(
                f"/enterprises/{other['id']}/managers/{theirs['id']}/removal",
                json={"removed_on": TODAY.isoformat(), "reason": "试试"},
                headers=headers,
            ),
        ):
            assert response.status_code == 404 and response.json()["code"] == "ENTERPRISE_NOT_FOUND"
        # Nor through its own unit's path.
        sideways = await client.get(f"/enterprises/{own['id']}/managers/{theirs['id']}", headers=headers)
        assert sideways.status_code == 404 and sideways.json()["code"] == "MANAGER_NOT_FOUND"
