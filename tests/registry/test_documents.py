"""制度文件 and attachments over a real database and disk: versions, the risk control list, upload limits,
content addressing, and who may do what."""

from __future__ import annotations

import hashlib
import os
from datetime import timedelta
from pathlib import Path
from typing import Any

import httpx
import pytest

from services.common.auth import Caller
from services.common.db import today_cn
from services.common.settings import Settings
from services.registry.app import create_app
from services.registry.documents import current_risk_points
from tests.harness import JIAOCHENG, WENSHUI, enterprise_body, identity, make_uscc, serving, stream_events

pytestmark = pytest.mark.asyncio

TODAY = today_cn()
PDF = "application/pdf"
PNG = "image/png"


def pdf_bytes(size: int = 2000) -> bytes:
    """A PDF's signature and random bytes: every call is new content."""
    head = b"%PDF-1.7\n"
    return head + os.urandom(size - len(head))


def enterprise_caller(uscc: str) -> Caller:
    return Caller(username=f"ent-{uscc[-4:]}", role="enterprise", region_code="141121", uscc=uscc)


async def new_unit(client: httpx.AsyncClient, settings: Settings, serial: int) -> dict:
    response = await client.post(
        "/enterprises", json=enterprise_body(make_uscc(serial)), headers=identity(settings, WENSHUI)
    )
    assert response.status_code == 201, response.text
    return response.json()


async def adopt(
    client: httpx.AsyncClient, settings: Settings, unit: str, caller: Caller = WENSHUI, **fields: Any
) -> httpx.Response:
    body = {"kind": "director_duties", "title": "质量安全总监职责", "adopted_on": TODAY.isoformat(), **fields}
    return await client.post(f"/enterprises/{unit}/documents", json=body, headers=identity(settings, caller))


async def upload(
    client: httpx.AsyncClient,
    settings: Settings,
    unit: str,
    content: bytes,
    content_type: str = PDF,
    filename: str = "总监职责.pdf",
    caller: Caller = WENSHUI,
) -> httpx.Response:
    return await client.post(
        f"/enterprises/{unit}/attachments",
        files={"file": (filename, content, content_type)},
        headers=identity(settings, caller),
    )


def stored_files(settings: Settings) -> list[Path]:
    root = settings.attachments_path
    return sorted(p for p in root.rglob("*") if p.is_file()) if root.exists() else []


RISKS = [
    {"point": "原材料进货查验", "controls": "查验供货商资质和产品合格证明", "responsible": "采购部 王五"},
    {"point": "出厂检验", "controls": "逐批检验，不合格不出厂", "responsible": "质检部 赵六"},
]


# ------------------------------------------------------------------------------------------------ documents


async def test_documents_are_versioned_per_kind_and_the_latest_is_in_force(settings: Settings) -> None:
    async with serving(create_app(settings)) as client:
        headers = identity(settings, WENSHUI)
        unit = await new_unit(client, settings, 1)
        first = await adopt(client, settings, unit["id"], title="质量安全总监职责（2025版）")
        assert first.status_code == 201, first.text
        second = await adopt(client, settings, unit["id"], title="质量安全总监职责（2026修订）")
        code = await adopt(client, settings, unit["id"], kind="officer_code", title="质量安全员守则")
        assert (first.json()["version"], second.json()["version"], code.json()["version"]) == (1, 2, 1)

        base = f"/enterprises/{unit['id']}/documents"
        latest = (await client.get(base, headers=headers)).json()
        assert sorted((d["kind"], d["version"], d["title"]) for d in latest) == [
            ("director_duties", 2, "质量安全总监职责（2026修订）"),
            ("officer_code", 1, "质量安全员守则"),
        ]
        everything = (await client.get(f"{base}?all_versions=true", headers=headers)).json()
        assert sorted((d["kind"], d["version"]) for d in everything) == [
            ("director_duties", 1),
            ("director_duties", 2),
            ("officer_code", 1),
        ]
        old = await client.get(f"{base}/{first.json()['id']}", headers=headers)
        assert old.status_code == 200 and old.json()["title"] == "质量安全总监职责（2025版）"
        missing = await client.get(f"{base}/nope", headers=headers)
        assert missing.status_code == 404 and missing.json()["code"] == "DOCUMENT_NOT_FOUND"

        future = await adopt(client, settings, unit["id"], adopted_on=(TODAY + timedelta(days=1)).isoformat())
        assert future.status_code == 422 and future.json()["code"] == "DOCUMENT_DATE_INVALID"
        unknown = await adopt(client, settings, unit["id"], kind="safety_manual")
        assert unknown.status_code == 422
        history = (await client.get(f"/enterprises/{unit['id']}/history", headers=headers)).json()["items"]
        assert [e["reason"] for e in history if e["entity"] == "document"] == [
            "通过《质量安全总监职责》第 1 版",
            "通过《质量安全总监职责》第 2 版",
            "通过《质量安全员守则》第 1 版",
        ]


async def test_the_risk_control_list_needs_risk_points_and_sets_the_flag(settings: Settings) -> None:
    app = create_app(settings)
    async with serving(app) as client:
        unit, bare = await new_unit(client, settings, 1), await new_unit(client, settings, 2)
        title = {"kind": "risk_control_list", "title": "质量安全风险管控清单"}
        empty = await adopt(client, settings, unit["id"], **title)
        assert empty.status_code == 422 and empty.json()["code"] == "RISK_POINTS_REQUIRED"
        blank = await adopt(
            client,
            settings,
            unit["id"],
            **title,
            risk_points=[{"point": " ", "controls": "x", "responsible": "y"}],
        )
        assert blank.status_code == 422
        stray = await adopt(client, settings, unit["id"], risk_points=RISKS)
        assert stray.status_code == 422 and stray.json()["code"] == "RISK_POINTS_NOT_ALLOWED"
        flags = (await client.get(f"/enterprises/{unit['id']}", headers=identity(settings, WENSHUI))).json()
        assert flags["has_risk_control_list"] is False

        first = await adopt(client, settings, unit["id"], **title, risk_points=RISKS)
        assert first.status_code == 201 and first.json()["risk_points"] == RISKS
        revised = await adopt(client, settings, unit["id"], **title, risk_points=RISKS[:1])
        assert revised.json()["version"] == 2
        flags = (await client.get(f"/enterprises/{unit['id']}", headers=identity(settings, WENSHUI))).json()
        assert flags["has_risk_control_list"] is True

        async with app.state.db.session() as session:
            assert await current_risk_points(session, unit["id"]) == RISKS[:1]
            assert await current_risk_points(session, bare["id"]) == []
        # Each version is announced, so that inspection's checklists carry the unit's own risk points.
        adopted = await stream_events(settings, "qsr.registry.risk_control_list.adopted")
        assert [(e["data"]["version"], len(e["data"]["points"])) for e in adopted] == [
            (1, len(RISKS)),
            (2, 1),
        ]
        assert adopted[1]["data"]["points"][0]["point"] == RISKS[0]["point"]


# ------------------------------------------------------------------------------------------------ attachments


async def test_an_attachment_is_stored_once_by_its_hash_and_served_back(settings: Settings) -> None:
    content = pdf_bytes()
    async with serving(create_app(settings)) as client:
        unit, other = await new_unit(client, settings, 1), await new_unit(client, settings, 2)
        created = await upload(client, settings, unit["id"], content, filename="../../质量安全总监职责.pdf")
        assert created.status_code == 201, created.text
        body = created.json()
        assert body["sha256"] == hashlib.sha256(content).hexdigest() and body["size"] == len(content)
        assert body["content_type"] == PDF and body["filename"] == "质量安全总监职责.pdf"

        got = await client.get(
            f"/enterprises/{unit['id']}/attachments/{body['id']}", headers=identity(settings, WENSHUI)
        )
        assert got.status_code == 200 and got.content == content
        assert got.headers["content-type"] == PDF and got.headers["x-content-type-options"] == "nosniff"
        assert "attachment" in got.headers["content-disposition"]

        again = await upload(client, settings, other["id"], content, filename="副本.pdf")
        assert again.status_code == 201
        assert again.json()["id"] != body["id"] and again.json()["sha256"] == body["sha256"]
        assert [p.name for p in stored_files(settings)] == [body["sha256"]]

        # A document points at an attachment of its own unit only.
        mine = await adopt(client, settings, unit["id"], attachment_id=body["id"])
        assert mine.status_code == 201 and mine.json()["attachment_id"] == body["id"]
        foreign = await adopt(client, settings, unit["id"], attachment_id=again.json()["id"])
        assert foreign.status_code == 422 and foreign.json()["code"] == "DOCUMENT_ATTACHMENT_UNKNOWN"
        sideways = await client.get(
            f"/enterprises/{unit['id']}/attachments/{again.json()['id']}", headers=identity(settings, WENSHUI)
        )
        assert sideways.status_code == 404 and sideways.json()["code"] == "ATTACHMENT_NOT_FOUND"

        # The unit's attachments are listed in upload order, a page at a time; the other unit's are not among them.
        later = (await upload(client, settings, unit["id"], pdf_bytes(), filename="安全员守则.pdf")).json()
        path = f"/enterprises/{unit['id']}/attachments"
        first = (await client.get(path, params={"limit": 1}, headers=identity(settings, WENSHUI))).json()
        assert [a["id"] for a in first["items"]] == [body["id"]] and first["next_cursor"]
        rest = await client.get(
            path, params={"limit": 1, "cursor": first["next_cursor"]}, headers=identity(settings, WENSHUI)
        )
        assert [(a["id"], a["filename"]) for a in rest.json()["items"]] == [(later["id"], "安全员守则.pdf")]
        assert rest.json()["next_cursor"] is None


@pytest.mark.parametrize(
    ("content", "content_type", "status", "code"),
    [
        (pdf_bytes(1025), PDF, 413, "ATTACHMENT_TOO_LARGE"),
        (b"hello", "text/plain", 422, "ATTACHMENT_TYPE_NOT_ALLOWED"),
        (b"<script>alert(1)</script>", "text/html", 422, "ATTACHMENT_TYPE_NOT_ALLOWED"),
        (pdf_bytes(500), PNG, 422, "ATTACHMENT_CONTENT_MISMATCH"),
        (b"", PDF, 422, "ATTACHMENT_EMPTY"),
    ],
)
async def test_attachments_over_the_limit_or_of_other_types_are_refused_and_leave_nothing(
    settings: Settings, content: bytes, content_type: str, status: int, code: str
) -> None:
    limited = settings.model_copy(update={"attachment_max_bytes": 1024})
    async with serving(create_app(limited)) as client:
        unit = await new_unit(client, limited, 1)
        exactly = await upload(client, limited, unit["id"], pdf_bytes(1024))
        assert exactly.status_code == 201, exactly.text
        before = stored_files(limited)
        response = await upload(client, limited, unit["id"], content, content_type)
        assert response.status_code == status, response.text
        problem = response.json()
        assert problem["code"] == code and any("\u4e00" <= ch <= "\u9fff" for ch in problem["detail"])
        assert stored_files(limited) == before


# ------------------------------------------------------------------------------------------------ who may


async def test_a_neighbour_county_gets_404_on_every_document_and_attachment_endpoint(
    settings: Settings,
) -> None:
    async with serving(create_app(settings)) as client:
        unit = await new_unit(client, settings, 1)
        attachment = (await upload(client, settings, unit["id"], pdf_bytes())).json()
        document = (await adopt(client, settings, unit["id"])).json()
        neighbour = identity(settings, JIAOCHENG)
        files_before = stored_files(settings)
        for response in (
            await adopt(client, settings, unit["id"], JIAOCHENG),
            await client.get(f"/enterprises/{unit['id']}/documents", headers=neighbour),
            await client.get(f"/enterprises/{unit['id']}/documents?all_versions=true", headers=neighbour),
            await client.get(f"/enterprises/{unit['id']}/documents/{document['id']}", headers=neighbour),
            await upload(client, settings, unit["id"], pdf_bytes(), caller=JIAOCHENG),
            await client.get(f"/enterprises/{unit['id']}/attachments/{attachment['id']}", headers=neighbour),
            await client.get(f"/enterprises/{unit['id']}/attachments", headers=neighbour),
        ):
            assert response.status_code == 404, response.text
            assert response.json()["code"] == "ENTERPRISE_NOT_FOUND"
        assert stored_files(settings) == files_before
        listed = (
            await client.get(f"/enterprises/{unit['id']}/documents", headers=identity(settings, WENSHUI))
        ).json()
        assert [d["version"] for d in listed] == [1]


async def test_the_enterprise_keeps_its_own_documents_and_not_another_units(settings: Settings) -> None:
    async with serving(create_app(settings)) as client:
        own, other = await new_unit(client, settings, 1), await new_unit(client, settings, 2)
        account = enterprise_caller(own["uscc"])
        attachment = await upload(client, settings, own["id"], pdf_bytes(), caller=account)
        assert attachment.status_code == 201 and attachment.json()["uploaded_by"] == account.username
        document = await adopt(
            client,
            settings,
            own["id"],
            account,
            kind="risk_control_list",
            title="风险管控清单",
            risk_points=RISKS,
            attachment_id=attachment.json()["id"],
        )
        assert document.status_code == 201, document.text
        got = await client.get(
            f"/enterprises/{own['id']}/attachments/{attachment.json()['id']}",
            headers=identity(settings, account),
        )
        assert got.status_code == 200

        theirs = (await adopt(client, settings, other["id"])).json()
        headers = identity(settings, account)
        for response in (
            await adopt(client, settings, other["id"], account),
            await upload(client, settings, other["id"], pdf_bytes(), caller=account),
            await client.get(f"/enterprises/{other['id']}/documents", headers=headers),
            await client.get(f"/enterprises/{other['id']}/documents/{theirs['id']}", headers=headers),
        ):
            assert response.status_code == 404 and response.json()["code"] == "ENTERPRISE_NOT_FOUND"
        sideways = await client.get(f"/enterprises/{own['id']}/documents/{theirs['id']}", headers=headers)
        assert sideways.status_code == 404 and sideways.json()["code"] == "DOCUMENT_NOT_FOUND"
