"""The findings of the security probe, each as a regression test through the gateway of a real system (every
service a process of its own, real NATS, a real database). One system serves the module: the tests read what
the fixture set up and add only units of their own."""

from __future__ import annotations

import io
import socket
import threading
import time
from collections.abc import Iterator
from datetime import timedelta
from pathlib import Path
from typing import Any

import httpx
import jwt
import pytest
from openpyxl import load_workbook

from services.common.auth import ALGORITHM, USER_AUDIENCE
from services.common.db import today_cn
from services.common.launcher import System
from services.common.settings import Settings
from tests.harness import enterprise_body, make_uscc, module_system

pytestmark = pytest.mark.e2e

DEMO_USCC = "91141121MA00000010"  # the unit of the demo enterprise account ent-demo
FORMULA_NAME = "=cmd|' /C calc'!A0"  # a unit name that a spreadsheet would run
MISSING = "00000000-0000-0000-0000-000000000000"  # an id nothing has
TODAY = today_cn()  # the services count days in Beijing time
SUMMARY = f"/oversight-audits/summary?period={TODAY.year}"


def _wait(check: Any, timeout: float = 20.0) -> Any:
    deadline = time.monotonic() + timeout
    while True:
        try:
            return check()
        except AssertionError:
            if time.monotonic() > deadline:
                raise
        time.sleep(0.1)


def _login(gateway: httpx.Client, username: str) -> dict[str, str]:
    response = gateway.post("/auth/token", json={"username": username, "password": "demo"})
    assert response.status_code == 200, response.text
    return {"Authorization": f"Bearer {response.json()['access_token']}"}


class World:
    """The system, log-ins, the demo enterprise's own unit and another unit of Wenshui with a failed spot
    check and its follow-up, a case, a complaint and a manager."""

    def __init__(self, system: System) -> None:
        self.system = system
        self.gateway = httpx.Client(base_url=system.url("gateway"), timeout=30)
        g = self.gateway
        self.wenshui, self.ent = _login(g, "wenshui"), _login(g, "ent-demo")
        self.station, self.province = _login(g, "wenshui-s1"), _login(g, "sx-province")

        data = enterprise_body(DEMO_USCC, station_code="141121001", name="文水县燃气具有限公司")
        draft = g.post("/api/v1/registry/submissions", json={"data": data}, headers=self.ent)
        assert draft.status_code == 201, draft.text
        assert g.post(
            f"/api/v1/registry/submissions/{draft.json()['id']}/submit", headers=self.ent
        ).is_success
        confirmed = g.post(f"/api/v1/registry/submissions/{draft.json()['id']}/confirm", headers=self.station)
        assert confirmed.status_code == 200, confirmed.text
        self.own: str = confirmed.json()["enterprise_id"]

        self.other: str = self._created(
            "/api/v1/registry/enterprises",
            enterprise_body(make_uscc(701), name=FORMULA_NAME, product_categories=["gas_stove"]),
        )["id"]
        self.spot_check = self._fail_spot_check(self.other)
        order = {"deadline": (TODAY + timedelta(days=15)).isoformat(), "requirement": "整改"}
        followed = self._created(f"/api/v1/inspection/spot-checks/{self.spot_check}/follow-up", order)
        self.finding = followed["finding"]["id"]
        self.rectification = followed["rectification"]["id"]
        on_other, today = {"enterprise_id": self.other}, TODAY.isoformat()
        case = {**on_other, "source": "other", "cause": "销售不合格燃气灶", "opened_on": today}
        self.case = self._created("/api/v1/inspection/cases", case)["id"]
        complaint = {**on_other, "channel": "12315", "received_on": today, "summary": "熄火"}
        self.complaint = self._created("/api/v1/inspection/complaints", complaint)["id"]
        manager = {
            "role": "quality_director",
            "name": "李四",
            "id_number": "11010519491231002X",
            "appointed_on": today,
        }
        self.manager = self._created(f"/api/v1/registry/enterprises/{self.other}/managers", manager)["id"]

        def keyed() -> None:  # the failure reached grading: key supervision, on this year's key list
            got = g.get(f"/api/v1/grading/enterprises/{self.other}", headers=self.wenshui)
            assert got.status_code == 200 and got.json()["decision"]["supervision_class"] == "key", got.text
            own = g.get(f"/api/v1/grading/enterprises/{self.own}", headers=self.wenshui)
            assert own.status_code == 200 and own.json()["uscc"] == DEMO_USCC, own.text

        _wait(keyed)

    def _created(self, path: str, body: dict[str, Any]) -> dict[str, Any]:
        """What Wenshui creates at ``path``."""
        response = self.gateway.post(path, json=body, headers=self.wenshui)
        assert response.status_code == 201, response.text
        return dict(response.json())

    def _fail_spot_check(self, unit: str) -> str:
        body = {
            "enterprise_id": unit,
            "product": "家用燃气灶",
            "batch": "2026-01",
            "verdict": "failed",
            "failed_items": ["熄火保护装置"],
            "sampled_on": (TODAY - timedelta(days=1)).isoformat(),
        }
        response = self.gateway.post("/api/v1/inspection/spot-checks", json=body, headers=self.wenshui)
        assert response.status_code == 201, response.text
        return str(response.json()["id"])

    def grading(self, unit: str) -> dict[str, Any]:
        response = self.gateway.get(f"/api/v1/grading/enterprises/{unit}", headers=self.wenshui)
        assert response.status_code == 200, response.text
        return dict(response.json())


@pytest.fixture(scope="module")
def world(tmp_path_factory: pytest.TempPathFactory) -> Iterator[World]:
    # One client makes every request of the module: no rate limits.
    with module_system(tmp_path_factory, "security", QSR_RATE_LIMIT_ENABLED="false") as system:
        built = World(system)
        yield built
        built.gateway.close()


def _problem(response: httpx.Response, status: int, code: str) -> dict[str, Any]:
    assert response.status_code == status, response.text
    body = response.json()
    assert body["code"] == code, body
    assert any("\u4e00" <= ch <= "\u9fff" for ch in body["detail"]), body  # a Chinese message
    return dict(body)


# ---------------------------------------------------------------------------------- 1. roles in grading


def test_an_enterprise_account_reads_in_grading_only_its_own_unit(world: World) -> None:
    g, ent = world.gateway, world.ent
    own = g.get(f"/api/v1/grading/enterprises/{world.own}", headers=ent)
    assert own.status_code == 200 and own.json()["uscc"] == DEMO_USCC, own.text

    # Another unit of its county answers exactly as a unit that does not exist: no decision, no signals,
    # no spot-check ids, and nothing to tell that it exists.
    for path in ("", "/history"):
        other = _problem(
            g.get(f"/api/v1/grading/enterprises/{world.other}{path}", headers=ent), 404, "GRADING_NOT_FOUND"
        )
        none = _problem(
            g.get(f"/api/v1/grading/enterprises/{MISSING}{path}", headers=ent), 404, "GRADING_NOT_FOUND"
        )
        assert (other["title"], other["detail"]) == (none["title"], none["detail"])
        assert (
            world.spot_check
            not in g.get(f"/api/v1/grading/enterprises/{world.other}{path}", headers=ent).text
        )

    listed = g.get("/api/v1/grading/enterprises", headers=ent)
    assert listed.status_code == 200, listed.text
    assert [item["enterprise_id"] for item in listed.json()["items"]] == [world.own]
    keyed = g.get("/api/v1/grading/enterprises?supervision_class=key", headers=ent)
    assert keyed.json()["items"] == []  # the county's key units are not its business

    what_if = g.post("/api/v1/grading/what-if", json={"enterprise_id": world.other}, headers=ent)
    _problem(what_if, 404, "GRADING_NOT_FOUND")
    assert (
        g.post("/api/v1/grading/what-if", json={"enterprise_id": world.own}, headers=ent).status_code == 200
    )

    year = TODAY.year
    _problem(g.get(f"/api/v1/grading/annual-lists/{year}", headers=ent), 403, "REGULATOR_ONLY")
    _problem(g.get(f"/api/v1/grading/annual-lists/{year}/export.xlsx", headers=ent), 403, "REGULATOR_ONLY")
    # The county still has its list.
    county = g.get(f"/api/v1/grading/annual-lists/{year}", headers=world.wenshui)
    assert world.other in [item["enterprise_id"] for item in county.json()["items"]]


def test_an_enterprise_account_cannot_post_signals_or_decide_classes(world: World) -> None:
    g, ent = world.gateway, world.ent
    before = world.grading(world.other)
    accident = {"kind": "major_accident", "occurred_on": TODAY.isoformat()}
    credit_d = {"kind": "credit_risk", "credit_class": "D", "occurred_on": TODAY.isoformat()}
    manual = {
        "supervision_class": "routine",
        "reason": "企业自行认定为一般",
        "expires_on": (TODAY + timedelta(days=30)).isoformat(),
    }
    # Another's unit: the same 404 as a unit that does not exist (the manual decision's 403 told that it
    # existed); its own: 403.
    refusals = [
        *((f"{world.other}/signals", body, 404, "GRADING_NOT_FOUND") for body in (accident, credit_d)),
        *((f"{world.own}/signals", body, 403, "REGULATOR_ONLY") for body in (accident, credit_d)),
        (f"{world.other}/manual-decisions", manual, 404, "GRADING_NOT_FOUND"),
        (f"{MISSING}/manual-decisions", manual, 404, "GRADING_NOT_FOUND"),
        (f"{world.own}/manual-decisions", manual, 403, "REGULATOR_ONLY"),
    ]
    for path, body, status, code in refusals:
        _problem(g.post(f"/api/v1/grading/enterprises/{path}", json=body, headers=ent), status, code)
    recompute = g.post("/api/v1/grading/recompute-jobs", json={"full": True}, headers=ent)
    _problem(recompute, 403, "REGULATOR_ONLY")

    after = world.grading(world.other)
    assert after["decision"]["supervision_class"] == before["decision"]["supervision_class"] == "key"
    assert len(after["signals"]) == len(before["signals"])
    assert world.grading(world.own)["signals"] == []
    # A regulator still may.
    posted = g.post(f"/api/v1/grading/enterprises/{world.own}/signals", json=accident, headers=world.wenshui)
    assert posted.status_code == 201, posted.text


def test_an_enterprise_account_gets_no_county_summary(world: World) -> None:
    _problem(world.gateway.get("/api/v1/reporting/summary", headers=world.ent), 403, "REGULATOR_ONLY")
    assert world.gateway.get("/api/v1/reporting/summary", headers=world.wenshui).status_code == 200


# ----------------------------------------------------------------------- 1. inspection and registry, too


def test_an_enterprise_account_finds_nothing_of_another_unit_in_inspection(world: World) -> None:
    g, ent = world.gateway, world.ent
    by_id = {
        f"/spot-checks/{world.spot_check}": 404,
        f"/findings/{world.finding}": 404,
        f"/rectifications/{world.rectification}": 404,
        f"/enterprises/{world.other}/checklist": 404,
    }
    for path, status in by_id.items():
        response = g.get(f"/api/v1/inspection{path}", headers=ent)
        assert response.status_code == status, (path, response.text)
    # Cases and complaints: another unit's are refused by id (complaints are the regulators' alone).
    for path in (f"/cases/{world.case}", f"/complaints/{world.complaint}", "/complaints"):
        response = g.get(f"/api/v1/inspection{path}", headers=ent)
        assert response.status_code in (403, 404), (path, response.text)
        assert world.other not in response.text
    for path in ("/cases", "/findings", "/rectifications", "/inspections", "/oversight-audits", SUMMARY):
        response = g.get(f"/api/v1/inspection{path}", headers=ent)
        assert response.status_code in (200, 403), (path, response.text)
        assert world.other not in response.text and world.spot_check not in response.text, path
    for path in ("/plans", "/visit-duty", "/assignments", "/inspectors"):
        response = g.get(f"/api/v1/inspection{path}", headers=ent)
        assert response.status_code == 403, (path, response.text)
    writes = {
        f"/spot-checks/{world.spot_check}/retest-application": {"applied_on": TODAY.isoformat()},
        f"/spot-checks/{world.spot_check}/retest": {"result": "overturned", "decided_on": TODAY.isoformat()},
        f"/rectifications/{world.rectification}/evidence": {"note": "已整改"},
        f"/rectifications/{world.rectification}/verify": {"passed": True, "verified_on": TODAY.isoformat()},
        f"/complaints/{world.complaint}/verify": {"verified": True, "decided_on": TODAY.isoformat()},
        f"/cases/{world.case}/close": {"closed_on": TODAY.isoformat(), "penalised": False},
    }
    for path, body in writes.items():
        response = g.post(f"/api/v1/inspection{path}", json=body, headers=ent)
        assert response.status_code in (403, 404), (path, response.text)
    # Nothing changed on the other unit.
    check = g.get(f"/api/v1/inspection/spot-checks/{world.spot_check}", headers=world.wenshui).json()
    assert (check["retest_applied_on"], check["retest_result"]) == (None, None)
    rect = g.get(f"/api/v1/inspection/rectifications/{world.rectification}", headers=world.wenshui).json()
    assert rect["status"] == "ordered"


def test_an_enterprise_account_finds_nothing_of_another_unit_in_registry(world: World) -> None:
    g, ent = world.gateway, world.ent
    unit = world.other
    for path in (
        f"/enterprises/{unit}",
        f"/enterprises/{unit}/managers",
        f"/enterprises/{unit}/managers/{world.manager}",
        f"/enterprises/{unit}/documents",
        f"/enterprises/{unit}/attachments",
        f"/enterprises/{unit}/self-checks",
        f"/enterprises/{unit}/self-checks/compliance",
        f"/enterprises/{unit}/history",
        f"/enterprises/{unit}/status-history",
        f"/enterprises/{unit}/inspector/history",
    ):
        other = g.get(f"/api/v1/registry{path}", headers=ent)
        none = g.get(f"/api/v1/registry{path.replace(unit, MISSING)}", headers=ent)
        assert other.status_code == 404, (path, other.text)
        assert (other.status_code, other.json()["code"]) == (none.status_code, none.json()["code"]), path
    listed = g.get("/api/v1/registry/enterprises", headers=ent)
    assert [item["id"] for item in listed.json()["items"]] == [world.own]
    assert g.get("/api/v1/registry/enterprises/count", headers=ent).json()["count"] == 1
    for path in ("/sites", "/enterprises/export?format=csv"):
        response = g.get(f"/api/v1/registry{path}", headers=ent)
        assert unit not in response.text and FORMULA_NAME not in response.text, path
    for path in ("/self-checks/compliance", "/inspectors/late", "/inspectors/assignments"):
        assert g.get(f"/api/v1/registry{path}", headers=ent).status_code == 403, path


# ------------------------------------------------------------------------------- 2. formula injection


def test_the_annual_list_export_writes_a_formula_like_name_as_text(world: World) -> None:
    response = world.gateway.get(
        f"/api/v1/grading/annual-lists/{TODAY.year}/export.xlsx", headers=world.wenshui
    )
    assert response.status_code == 200, response.text
    sheet = load_workbook(io.BytesIO(response.content))["生产单位"]
    cells = [row[1] for row in sheet.iter_rows(min_row=3) if row[2].value == world.other]
    assert len(cells) == 1
    assert (cells[0].value, cells[0].data_type) == (FORMULA_NAME, "s")  # a string, not a formula ("f")


# -------------------------------------------------------------------------- 3. null in a PATCH body


FIELDS_REQUIRED = ("name", "kind", "region_code", "employees", "revenue_wan_yuan")
FIELDS_NULLABLE = (
    "sales_channel",
    "station_code",
    "registered_address",
    "principal_name",
    "principal_phone",
    "size_year",
    "entry_note",
)


def _patch(world: World, unit: str, **fields: Any) -> httpx.Response:
    g = world.gateway
    version = g.get(f"/api/v1/registry/enterprises/{unit}", headers=world.wenshui).json()["version"]
    body = {"version": version, "reason": "核对台账", **fields}
    return g.patch(f"/api/v1/registry/enterprises/{unit}", json=body, headers=world.wenshui)


def test_null_in_a_patch_clears_a_list_and_refuses_a_required_field(world: World) -> None:
    g = world.gateway
    created = g.post(
        "/api/v1/registry/enterprises",
        json=enterprise_body(make_uscc(702), product_categories=["gas_stove"], station_code="141121001"),
        headers=world.wenshui,
    )
    assert created.status_code == 201, created.text
    unit = created.json()["id"]

    cleared = _patch(world, unit, product_categories=None)
    assert cleared.status_code == 200, cleared.text
    assert cleared.json()["product_categories"] == []
    for name in ("certificates", "sites"):
        response = _patch(world, unit, **{name: None})
        assert response.status_code == 200, (name, response.text)
        assert response.json()[name] == []
    for name in FIELDS_REQUIRED:
        body = _problem(_patch(world, unit, **{name: None}), 422, "VALIDATION_FAILED")
        assert body["errors"], body
    for name in FIELDS_NULLABLE:
        response = _patch(world, unit, **{name: None})
        assert response.status_code in (200, 422), (name, response.text)  # never a 500
    for name in ("version", "reason"):
        body = {"version": 1, "reason": "核对台账", name: None}
        response = g.patch(f"/api/v1/registry/enterprises/{unit}", json=body, headers=world.wenshui)
        assert response.status_code == 422, (name, response.text)
    record = g.get(f"/api/v1/registry/enterprises/{unit}", headers=world.wenshui).json()
    assert record["name"] and record["employees"] == 25  # nothing lost


# -------------------------------------------------------------------------------- 4. token claims


def _token(**claims: Any) -> dict[str, str]:
    now = int(time.time())
    payload = {"sub": "probe", "aud": USER_AUDIENCE, "iat": now, "exp": now + 300, **claims}
    payload = {k: v for k, v in payload.items() if v is not None}
    return {"Authorization": "Bearer " + jwt.encode(payload, Settings().secret_key, ALGORITHM)}


@pytest.mark.parametrize(
    "claims",
    [
        {"role": "regulator", "region": "abc"},
        {"role": "regulator", "region": "14"},
        {"role": "regulator", "region": "999999"},  # six digits, no such region
        {"role": "regulator", "region": "141121"[:4] + "9999"},  # a station of no county
        {"region": "141121"},  # no role
        {"role": "admin", "region": "141121"},
        {"role": "enterprise", "region": "141121"},  # no USCC
        {"role": "enterprise", "region": "141121", "uscc": "91141121MA00000011"},  # wrong check character
        {"role": "regulator", "region": 141121},
        {"role": "regulator", "region": "141121", "sub": ""},
    ],
)
def test_a_signed_token_with_malformed_claims_is_refused(world: World, claims: dict[str, Any]) -> None:
    response = world.gateway.get("/api/v1/registry/enterprises", headers=_token(**claims))
    _problem(response, 401, "UNAUTHENTICATED")


def test_a_signed_token_with_sound_claims_is_accepted(world: World) -> None:
    for claims in (
        {"role": "regulator", "region": "141121"},
        {"role": "regulator", "region": "141121001"},
        {"role": "enterprise", "region": "141121", "uscc": DEMO_USCC},
    ):
        response = world.gateway.get("/api/v1/registry/enterprises", headers=_token(**claims))
        assert response.status_code == 200, (claims, response.text)


# ------------------------------------------------------------------------------- 5. station codes


def test_a_station_that_does_not_exist_is_refused_everywhere(world: World) -> None:
    g = world.gateway
    body = enterprise_body(make_uscc(703), station_code="141121999")
    created = _problem(
        g.post("/api/v1/registry/enterprises", json=body, headers=world.wenshui), 422, "STATION_CODE_INVALID"
    )
    assert "141121999" in created["detail"]

    unit = g.post(
        "/api/v1/registry/enterprises", json={**body, "station_code": "141121002"}, headers=world.wenshui
    )
    assert unit.status_code == 201, unit.text
    _problem(_patch(world, unit.json()["id"], station_code="141121999"), 422, "STATION_CODE_INVALID")
    assert (
        g.get(f"/api/v1/registry/enterprises/{unit.json()['id']}", headers=world.wenshui).json()[
            "station_code"
        ]
        == "141121002"
    )

    draft = {**enterprise_body(DEMO_USCC), "station_code": "141121999"}
    _problem(
        g.post("/api/v1/registry/submissions", json={"data": draft}, headers=world.ent),
        422,
        "STATION_CODE_INVALID",
    )

    sheet = (
        "统一社会信用代码,单位名称,单位类型,销售渠道,注册地行政区划代码,市场监管所代码,从业人员（人）,营业收入（万元）,录入原因\n"
        f"{make_uscc(704)},文水县电线电缆厂,生产,,141121,141121999,80,5000,工业产品生产许可\n"
        f"{make_uscc(705)},文水县五金厂,生产,,141121,141121001,80,5000,工业产品生产许可\n"
    )
    response = g.post(
        "/api/v1/registry/enterprises/import?dry_run=true",
        files={"file": ("units.csv", sheet.encode(), "text/csv")},
        headers=world.wenshui,
    )
    assert response.status_code == 201, response.text
    report = response.json()
    assert (report["rejected"], report["created"]) == (1, 1)
    assert [(e["row"], e["code"]) for e in report["errors"]] == [(2, "STATION_CODE_INVALID")]


# --------------------------------------------------------------------------- 6. the log-in body limit


def _rss_kib(pid: int) -> int:
    for line in Path(f"/proc/{pid}/status").read_text().splitlines():
        if line.startswith("VmRSS:"):
            return int(line.split()[1])
    raise AssertionError("no VmRSS")


def _send_chunked(port: int, total: int) -> tuple[bytes, int]:
    """POST /auth/token with a chunked body of ``total`` bytes; the answer, and how much was sent."""
    sock = socket.create_connection(("127.0.0.1", port), timeout=30)
    answer = bytearray()
    sent = 0

    def read() -> None:
        try:
            while block := sock.recv(65536):
                answer.extend(block)
        except OSError:
            pass

    reader = threading.Thread(target=read)
    reader.start()
    chunk = b"x" * 65536
    try:
        sock.sendall(
            b"POST /auth/token HTTP/1.1\r\nHost: t\r\nContent-Type: application/json\r\n"
            b"Transfer-Encoding: chunked\r\n\r\n"
        )
        while sent < total and not answer:
            sock.sendall(b"%x\r\n%s\r\n" % (len(chunk), chunk))
            sent += len(chunk)
        sock.sendall(b"0\r\n\r\n")
    except OSError:
        pass  # the gateway answered and closed the connection
    reader.join(30)
    sock.close()
    return bytes(answer), sent


def test_log_in_refuses_a_large_body_before_reading_it(world: World) -> None:
    pid = world.system.processes["gateway"].pid
    port = world.system.ports["gateway"]
    # A first refusal loads what any refusal needs (code paths, buffers): what is measured is the large body.
    assert _send_chunked(port, 256 * 1024)[0].startswith(b"HTTP/1.1 413")
    before = _rss_kib(pid)
    answer, sent = _send_chunked(port, 100 * 1024 * 1024)
    assert answer.startswith(b"HTTP/1.1 413"), answer[:200]
    assert b"REQUEST_TOO_LARGE" in answer
    assert sent < 100 * 1024 * 1024  # refused long before the end
    assert _rss_kib(pid) - before < 4 * 1024, "the gateway's memory grew by more than 4 MB"

    # A declared Content-Length above the limit is refused before any of the body is read (by hand: httpx
    # would send the length of what it has).
    with socket.create_connection(("127.0.0.1", port), timeout=10) as sock:
        sock.sendall(
            b"POST /auth/token HTTP/1.1\r\nHost: t\r\nContent-Type: application/json\r\n"
            b"Content-Length: 104857600\r\n\r\n{}"
        )
        head = sock.recv(65536)
    assert head.startswith(b"HTTP/1.1 413"), head[:200]
    # An ordinary log-in still works.
    assert (
        world.gateway.post("/auth/token", json={"username": "wenshui", "password": "demo"}).status_code == 200
    )
