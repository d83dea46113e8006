"""整改证明材料 over a real database and NATS: the unit (or its regulator) uploads photos and PDFs to a
rectification, names them with its account of the work, and the inspector downloads them; retries, limits,
jurisdiction and a closed rectification."""

from __future__ import annotations

import hashlib
import uuid
from collections.abc import AsyncIterator
from typing import Any

import httpx
import pytest
from fastapi import FastAPI

from services.common.settings import Settings
from services.inspection.app import create_app
from tests.harness import JIAOCHENG, WENSHUI, enterprise_caller, identity, make_uscc, serving
from tests.inspection.factories import add_unit
from tests.inspection.test_followup import _rectification_of

pytestmark = pytest.mark.asyncio

JPEG = b"\xff\xd8\xff\xe0" + b"\x00\x10JFIF" + bytes(range(256)) * 40
PNG = b"\x89PNG\r\n\x1a\n" + bytes(range(200))
PDF = b"%PDF-1.7\n" + b"1 0 obj << /Type /Catalog >> endobj\n" * 20 + b"%%EOF\n"


def _put(
    client: httpx.AsyncClient, path: str, headers: dict[str, str], content: Any, content_type: str, **kw: Any
) -> Any:
    return client.put(path, content=content, headers={**headers, "Content-Type": content_type}, **kw)


async def test_the_unit_uploads_names_and_the_inspector_downloads_its_evidence(
    served: tuple[FastAPI, httpx.AsyncClient], settings: Settings
) -> None:
    app, client = served
    unit = await add_unit(app, 21)
    rectification = (await _rectification_of(client, settings, unit.id, 15))["id"]
    base = f"/rectifications/{rectification}"
    own = identity(settings, enterprise_caller(unit.uscc or ""))
    regulator = identity(settings, WENSHUI)

    photo = str(uuid.uuid4())
    params = {"taken_at": "2026-03-02T10:15:00", "lat": 37.43, "lon": 112.03}
    created = await _put(client, f"{base}/evidence/{photo}", own, JPEG, "image/jpeg", params=params)
    assert created.status_code == 201, created.text
    body = created.json()
    assert (body["id"], body["rectification_id"], body["kind"], body["uploaded_by"]) == (
        photo,
        rectification,
        "photo",
        enterprise_caller(unit.uscc or "").username,
    )
    assert body["sha256"] == hashlib.sha256(JPEG).hexdigest() and body["size"] == len(JPEG)
    assert body["device_taken_at"].startswith("2026-03-02T02:15:00") and body["latitude"] == 37.43

    # A retry (the phone lost the answer) is harmless; the same id with other bytes is refused.
    retried = await _put(client, f"{base}/evidence/{photo}", own, JPEG, "image/jpeg", params=params)
    assert retried.status_code == 200 and retried.json() == body
    changed = await _put(client, f"{base}/evidence/{photo}", own, JPEG + b"\x00", "image/jpeg")
    assert (changed.status_code, changed.json()["code"]) == (409, "EVIDENCE_CONTENT_DIFFERS")

    report = str(uuid.uuid4())
    multipart = await client.put(
        f"{base}/evidence/{report}", files={"file": ("整改报告.pdf", PDF, "application/pdf")}, headers=own
    )
    assert multipart.status_code == 201 and multipart.json()["kind"] == "document"
    by_regulator = str(uuid.uuid4())
    assert (
        await _put(client, f"{base}/evidence/{by_regulator}", regulator, PNG, "image/png")
    ).status_code == 201

    for content, content_type, code in (
        (b"plain text", "text/plain", "EVIDENCE_TYPE_NOT_ALLOWED"),
        (JPEG, "application/pdf", "EVIDENCE_CONTENT_MISMATCH"),
        (b"", "image/jpeg", "EVIDENCE_EMPTY"),
    ):
        refused = await _put(client, f"{base}/evidence/{uuid.uuid4()}", own, content, content_type)
        assert (refused.status_code, refused.json()["code"]) == (422, code)
    corrupted = await _put(
        client,
        f"{base}/evidence/{uuid.uuid4()}",
        {**own, "Content-SHA256": hashlib.sha256(b"other").hexdigest()},
        JPEG,
        "image/jpeg",
    )
    assert (corrupted.status_code, corrupted.json()["code"]) == (422, "EVIDENCE_DIGEST_MISMATCH")
    assert (await _put(client, f"{base}/evidence/not-a-uuid", own, JPEG, "image/jpeg")).status_code == 422

    kept = sorted([photo, report, by_regulator])
    assert (await client.get(base, headers=own)).json()["evidence_file_ids"] == kept  # the retry: one file

    submitted = await client.post(
        f"{base}/evidence",
        json={"note": "已召回该批次并更换调压器膜片供应商", "evidence_file_ids": [photo, report]},
        headers=own,
    )
    assert submitted.status_code == 200, submitted.text
    assert (submitted.json()["status"], submitted.json()["evidence_file_ids"]) == ("submitted", kept)

    got = await client.get(f"{base}/evidence/{photo}", headers=regulator)
    assert (got.status_code, got.content, got.headers["content-type"]) == (200, JPEG, "image/jpeg")
    assert got.headers["etag"] == f'"{body["sha256"]}"'
    upper = await client.get(f"{base}/evidence/{photo.upper()}", headers=regulator)  # a UUID in capitals
    assert (upper.status_code, upper.content) == (200, JPEG)
    pdf = await client.get(f"{base}/evidence/{report}", headers=own)
    assert (pdf.status_code, pdf.content, pdf.headers["content-type"]) == (200, PDF, "application/pdf")
    unknown = await client.get(f"{base}/evidence/{uuid.uuid4()}", headers=regulator)
    assert (unknown.status_code, unknown.json()["code"]) == (404, "EVIDENCE_NOT_FOUND")

    verified = await client.post(
        f"{base}/verify", json={"passed": True, "note": "复查到位"}, headers=regulator
    )
    assert verified.status_code == 200, verified.text
    too_late = await _put(client, f"{base}/evidence/{uuid.uuid4()}", own, JPEG, "image/jpeg")
    assert (too_late.status_code, too_late.json()["code"]) == (409, "RECTIFICATION_CLOSED")
    late_by_regulator = await _put(client, f"{base}/evidence/{uuid.uuid4()}", regulator, PNG, "image/png")
    assert (late_by_regulator.status_code, late_by_regulator.json()["code"]) == (409, "RECTIFICATION_CLOSED")
    still_a_retry = await _put(client, f"{base}/evidence/{photo}", own, JPEG, "image/jpeg")
    assert still_a_retry.status_code == 200 and still_a_retry.json() == body
    assert (await client.get(base, headers=own)).json()["evidence_file_ids"] == kept
    assert list((settings.attachments_path / "inspection" / "tmp").iterdir()) == []  # nothing half-written


async def test_only_who_sees_the_rectification_uploads_or_downloads(
    served: tuple[FastAPI, httpx.AsyncClient], settings: Settings
) -> None:
    app, client = served
    unit, other = await add_unit(app, 22), await add_unit(app, 23)
    rectification = (await _rectification_of(client, settings, unit.id, 15))["id"]
    others = (await _rectification_of(client, settings, other.id, 15))["id"]
    photo = f"/rectifications/{rectification}/evidence/{uuid.uuid4()}"
    own = identity(settings, enterprise_caller(unit.uscc or ""))
    assert (await _put(client, photo, own, JPEG, "image/jpeg")).status_code == 201

    outsiders = {
        "neighbour county": identity(settings, JIAOCHENG),
        "another unit's account": identity(settings, enterprise_caller(other.uscc or "")),
        "an unknown unit's account": identity(settings, enterprise_caller(make_uscc(99))),
    }
    for who, headers in outsiders.items():
        upload = await _put(
            client, f"/rectifications/{rectification}/evidence/{uuid.uuid4()}", headers, PNG, "image/png"
        )
        assert (upload.status_code, upload.json()["code"]) == (404, "RECTIFICATION_NOT_FOUND"), who
        retry = await _put(client, photo, headers, JPEG, "image/jpeg")  # not even a retry of a kept file
        assert retry.status_code == 404, who
        download = await client.get(photo, headers=headers)
        assert (download.status_code, download.json()["code"]) == (404, "RECTIFICATION_NOT_FOUND"), who
    regulator = identity(settings, WENSHUI)
    assert (
        len(
            (await client.get(f"/rectifications/{rectification}", headers=regulator)).json()[
                "evidence_file_ids"
            ]
        )
        == 1
    )

    # A file belongs to the rectification it was uploaded to: another one neither shows it nor takes its id.
    file_id = photo.rsplit("/", 1)[1]
    elsewhere = f"/rectifications/{others}/evidence/{file_id}"
    assert (await client.get(elsewhere, headers=regulator)).status_code == 404
    taken = await _put(client, elsewhere, regulator, JPEG, "image/jpeg")
    assert (taken.status_code, taken.json()["code"]) == (409, "EVIDENCE_CONTENT_DIFFERS")
    named = await client.post(
        f"/rectifications/{others}/evidence",
        json={"note": "已整改", "evidence_file_ids": [file_id]},
        headers=regulator,
    )
    assert (named.status_code, named.json()["code"]) == (422, "RECTIFICATION_EVIDENCE_FILE_UNKNOWN")


async def test_rectification_evidence_over_the_size_limit_is_refused(settings: Settings) -> None:
    settings = settings.model_copy(update={"attachment_max_bytes": 4096})
    app = create_app(settings)
    async with serving(app) as client:
        unit = await add_unit(app, 24)
        rectification = (await _rectification_of(client, settings, unit.id, 15))["id"]
        path = f"/rectifications/{rectification}/evidence/{uuid.uuid4()}"
        own = identity(settings, enterprise_caller(unit.uscc or ""))
        big = JPEG + bytes(5000)
        declared = await _put(client, path, own, big, "image/jpeg")
        assert (declared.status_code, declared.json()["code"]) == (413, "EVIDENCE_TOO_LARGE")

        async def chunked() -> AsyncIterator[bytes]:  # no Content-Length: counted while streaming
            for start in range(0, len(big), 1000):
                yield big[start : start + 1000]

        streamed = await _put(client, path, own, chunked(), "image/jpeg")
        assert (streamed.status_code, streamed.json()["code"]) == (413, "EVIDENCE_TOO_LARGE")
        multipart = await client.put(path, files={"file": ("big.jpg", big, "image/jpeg")}, headers=own)
        assert multipart.status_code == 413
        assert list((settings.attachments_path / "inspection" / "tmp").iterdir()) == []
        assert (await client.get(f"/rectifications/{rectification}", headers=own)).json()[
            "evidence_file_ids"
        ] == []
        assert (await _put(client, path, own, JPEG[:4000], "image/jpeg")).status_code == 201
