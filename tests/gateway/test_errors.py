"""One error body everywhere, through the gateway of a real system (every service a process of its own): every
service's and the gateway's errors have the agreed problem+json shape, Chinese messages, the public
``instance`` and the request's id; paths the gateway will not pass on are refused before any service sees them.
One system serves the whole module."""

from __future__ import annotations

import asyncio
import re
from collections.abc import AsyncIterator, Iterator
from datetime import date, timedelta
from typing import Any

import httpx
import pytest
import pytest_asyncio

from services.common.launcher import System
from services.common.settings import SERVICES
from tests.e2e.client import login
from tests.harness import database_template, drop_databases, enterprise_body, make_uscc, whole_system

pytestmark = [pytest.mark.asyncio(loop_scope="module"), pytest.mark.e2e]

SHAPE = {"type", "title", "status", "code", "detail", "instance", "request_id"}
CJK = re.compile(r"[\u4e00-\u9fff]")
# What pydantic, Python or a codec would have said: none of it may reach a caller.
ENGLISH = re.compile(
    r"Field required|Input should|String should|List should|Value error|Extra inputs|JSON decode|"
    r"Traceback|Error:|codec|can't decode|byte 0x|Failpoint|failpoint|Internal Server Error"
)
FAILING = "dead_letters.list"  # armed to raise in exam: an unhandled exception in a real request


@pytest.fixture(scope="module")
def system(tmp_path_factory: pytest.TempPathFactory) -> Iterator[System]:
    tmp_path = tmp_path_factory.mktemp("errors")
    database_url = database_template(tmp_path)
    running = whole_system(tmp_path, database_url, QSR_UNKNOWN_UNIT_WAIT_SECONDS="0.3")
    try:
        (tmp_path / "logs").mkdir()
        running.start_nats()
        for name in (*SERVICES, "gateway"):
            running.start_app(name, {"QSR_FAILPOINTS": f"{FAILING}=raise"} if name == "exam" else None)
        running.wait_ready([*SERVICES, "gateway"], 90)
        yield running
    finally:
        running.shutdown()
        asyncio.run(drop_databases(database_url))


@pytest_asyncio.fixture(loop_scope="module", scope="module")
async def gateway(system: System) -> AsyncIterator[httpx.AsyncClient]:
    async with httpx.AsyncClient(base_url=system.url("gateway"), timeout=15) as client:
        yield client


@pytest_asyncio.fixture(loop_scope="module", scope="module")
async def tokens(gateway: httpx.AsyncClient) -> dict[str, dict[str, str]]:
    return {name: await login(gateway, name) for name in ("wenshui", "sx-province", "ent-demo")}


def chinese(text: Any) -> bool:
    return isinstance(text, str) and CJK.search(text) is not None and ENGLISH.search(text) is None


def problem(
    response: httpx.Response, status: int, code: str, instance: str, *, listed: bool | None = None
) -> dict[str, Any]:
    """The body, checked against the agreed shape; ``errors`` on a 422 that names fields (``listed``)."""
    assert response.status_code == status, response.text
    assert response.headers["content-type"] == "application/problem+json"
    body = response.json()
    listed = status == 422 if listed is None else listed
    assert set(body) == SHAPE | ({"errors"} if listed else set()), body
    assert body["type"] == "https://qsr.samr.local/problems/" + code.lower().replace("_", "-")
    assert (body["status"], body["code"], body["instance"]) == (status, code, instance), body
    assert chinese(body["title"]) and chinese(body["detail"]), body
    assert body["request_id"] and body["request_id"] == response.headers["x-request-id"]
    for error in body.get("errors", []):
        assert set(error) == {"field", "code", "message"} and chinese(error["message"]), error
    assert ENGLISH.search(response.text) is None, response.text
    return body


def fields(body: dict[str, Any]) -> dict[str, str]:
    return {error["field"]: error["code"] for error in body["errors"]}


# ------------------------------------------------------------------------------------------------ registry


async def test_registry_shape_errors_are_chinese_with_codes_and_dotted_fields(
    gateway: httpx.AsyncClient, tokens: dict[str, dict[str, str]]
) -> None:
    path = "/api/v1/registry/enterprises"
    body = enterprise_body(
        make_uscc(901),
        employees="很多",
        certificates=[{"kind": "ccc", "number": "1", "valid_until": "2026-13-45"}],
    )
    del body["name"]
    refused = problem(
        await gateway.post(path, json=body, headers=tokens["wenshui"]), 422, "VALIDATION_FAILED", path
    )
    assert fields(refused) == {
        "name": "FIELD_REQUIRED",
        "employees": "FIELD_TYPE_INVALID",
        "certificates.0.valid_until": "DATE_INVALID",
    }
    messages = {error["field"]: error["message"] for error in refused["errors"]}
    assert messages["name"] == "缺少必填字段" and messages["employees"] == "应为整数"
    assert "YYYY-MM-DD" in messages["certificates.0.valid_until"]

    kind = problem(
        await gateway.post(
            path, json={**enterprise_body(make_uscc(902)), "kind": "factory"}, headers=tokens["wenshui"]
        ),
        422,
        "VALIDATION_FAILED",
        path,
    )
    [error] = kind["errors"]
    assert (error["field"], error["code"]) == ("kind", "VALUE_NOT_ALLOWED")
    assert "production" in error["message"] and "sales" in error["message"]

    limit = problem(
        await gateway.get(f"{path}?limit=abc", headers=tokens["wenshui"]), 422, "VALIDATION_FAILED", path
    )
    assert fields(limit) == {"limit": "FIELD_TYPE_INVALID"}


async def test_a_body_that_is_not_json_is_body_not_json(
    gateway: httpx.AsyncClient, tokens: dict[str, dict[str, str]]
) -> None:
    path = "/api/v1/registry/enterprises"
    headers = {**tokens["wenshui"], "content-type": "application/json"}
    body = problem(
        await gateway.post(path, content=b'{"uscc": ', headers=headers), 422, "BODY_NOT_JSON", path
    )
    assert [error["code"] for error in body["errors"]] == ["BODY_NOT_JSON"]


# Not found, forbidden, conflicting, unknown routes: (user or None, method, path, JSON body, status, code).
REFUSALS = [
    ("wenshui", "GET", "/api/v1/registry/enterprises/no-such-unit", None, 404, "ENTERPRISE_NOT_FOUND"),
    (
        "wenshui",
        "POST",
        "/api/v1/registry/region-changes",
        {"old_code": "141121", "new_code": "141122", "effective_on": "2026-01-01", "note": "批复"},
        403,
        "REGION_CHANGE_PROVINCE_ONLY",
    ),
    ("wenshui", "POST", "/api/v1/registry/enterprises", "duplicate", 409, "ENTERPRISE_DUPLICATE_USCC"),
    ("wenshui", "GET", "/api/v1/registry/no/such/route", None, 404, "NOT_FOUND"),
    ("wenshui", "DELETE", "/api/v1/registry/enterprises", None, 405, "METHOD_NOT_ALLOWED"),
    ("wenshui", "GET", "/api/v1/grading/enterprises/no-such-unit", None, 404, "GRADING_NOT_FOUND"),
    ("wenshui", "POST", "/api/v1/grading/recompute-jobs", {"full": True}, 403, "FORBIDDEN"),
    ("wenshui", "GET", "/api/v1/inspection/spot-checks/no-such-check", None, 404, "SPOT_CHECK_NOT_FOUND"),
    ("wenshui", "GET", "/api/v1/reporting/summary?region=140000", None, 403, "REGION_OUT_OF_JURISDICTION"),
    ("wenshui", "GET", "/api/v1/reporting/nothing-here", None, 404, "NOT_FOUND"),
    ("wenshui", "GET", "/api/v1/exam/questions/no-such-question", None, 404, "QUESTION_NOT_FOUND"),
    ("ent-demo", "GET", "/api/v1/exam/questions", None, 403, "QUESTION_BANK_REGULATOR_ONLY"),
    ("wenshui", "GET", "/api/v1/exam/nothing-here", None, 404, "NOT_FOUND"),
    ("wenshui", "GET", "/api/v1/exam/dead-letters", None, 403, "FORBIDDEN"),
    ("wenshui", "GET", "/api/v1/nosuch/things", None, 404, "SERVICE_NOT_FOUND"),
    (None, "GET", "/api/v1/registry/enterprises", None, 401, "UNAUTHENTICATED"),
    (None, "GET", "/api/v1/events/stream", None, 401, "UNAUTHENTICATED"),
    (None, "GET", "/no-such-page", None, 404, "NOT_FOUND"),
]


@pytest.mark.parametrize(("user", "method", "path", "body", "status", "code"), REFUSALS)
async def test_refusals_of_every_service_and_the_gateway_have_the_shape(
    gateway: httpx.AsyncClient,
    tokens: dict[str, dict[str, str]],
    user: str | None,
    method: str,
    path: str,
    body: Any,
    status: int,
    code: str,
) -> None:
    headers = tokens[user] if user else {}
    if body == "duplicate":
        body = enterprise_body(make_uscc(903))
        assert (await gateway.post(path, json=body, headers=headers)).status_code == 201
    response = await gateway.request(method, path, json=body, headers=headers)
    problem(response, status, code, path.partition("?")[0])


async def test_an_unreadable_import_file_is_refused_in_chinese_without_pythons_words(
    gateway: httpx.AsyncClient, tokens: dict[str, dict[str, str]]
) -> None:
    path = "/api/v1/registry/enterprises/import"
    header = "统一社会信用代码,单位名称\n".encode("gb18030")
    binary = header + b"91141121MA0000001X,\xf6\xff\x00\x81\n"  # neither UTF-8 nor GB18030 on line 2
    refused = await gateway.post(
        path, files={"file": ("台账.csv", binary, "text/csv")}, headers=tokens["wenshui"]
    )
    body = problem(refused, 422, "IMPORT_FILE_UNREADABLE", path, listed=False)
    assert "UTF-8" in body["detail"] and "GB18030" in body["detail"] and "第 2 行" in body["detail"]

    broken = await gateway.post(
        path,
        files={"file": ("台账.xlsx", b"PK\x03\x04" + bytes(range(256)) * 4, "application/octet-stream")},
        headers=tokens["wenshui"],
    )
    body = problem(broken, 422, "IMPORT_FILE_UNREADABLE", path, listed=False)
    assert ".xlsx" in body["detail"] and "Error" not in body["detail"]


# -------------------------------------------------------------------------- grading, inspection, reporting


async def test_grading_errors_have_the_shape(
    gateway: httpx.AsyncClient, tokens: dict[str, dict[str, str]]
) -> None:
    wenshui = tokens["wenshui"]
    signals = "/api/v1/grading/enterprises/no-such-unit/signals"
    bad = problem(
        await gateway.post(signals, json={"kind": "penalty", "occurred_on": "去年"}, headers=wenshui),
        422,
        "VALIDATION_FAILED",
        signals,
    )
    assert fields(bad) == {"occurred_on": "DATE_INVALID"}

    # A custom validator's own (Chinese) words are the message; the whole body is at fault, so no field.
    what_if = problem(
        await gateway.post("/api/v1/grading/what-if", json={}, headers=wenshui),
        422,
        "VALIDATION_FAILED",
        "/api/v1/grading/what-if",
    )
    assert what_if["errors"] == [
        {
            "field": "",
            "code": "VALUE_INVALID",
            "message": "须提供 enterprise_id（已入库单位）或 region_code 与 size（假设单位）",
        }
    ]


async def test_inspection_errors_have_the_shape(
    gateway: httpx.AsyncClient, tokens: dict[str, dict[str, str]]
) -> None:
    wenshui = tokens["wenshui"]
    path = "/api/v1/inspection/spot-checks"
    body = {
        "enterprise_id": "no-such-unit",
        "product": "家用燃气灶",
        "batch": "2026-01",
        "verdict": "failed",
        "failed_items": ["熄火保护装置"],
        "sampled_on": "yesterday",
        "sampled_at": "warehouse",
    }
    refused = problem(await gateway.post(path, json=body, headers=wenshui), 422, "VALIDATION_FAILED", path)
    assert fields(refused) == {"sampled_on": "DATE_INVALID", "sampled_at": "VALUE_NOT_ALLOWED"}
    del body["product"]
    body.update(sampled_on=(date.today() - timedelta(days=1)).isoformat(), sampled_at="producer")
    assert fields(
        problem(await gateway.post(path, json=body, headers=wenshui), 422, "VALIDATION_FAILED", path)
    ) == {"product": "FIELD_REQUIRED"}


async def test_an_unhandled_exception_is_a_500_with_the_request_id_logged_not_shown(
    system: System, gateway: httpx.AsyncClient, tokens: dict[str, dict[str, str]]
) -> None:
    path = "/api/v1/exam/dead-letters"
    response = await gateway.get(path, headers=tokens["sx-province"])
    body = problem(response, 500, "INTERNAL_ERROR", path)
    assert body["request_id"] in body["detail"]  # what the user tells support
    log = (system.data_dir / "logs" / "exam.log").read_text()
    [line] = [line for line in log.splitlines() if body["request_id"] in line]
    assert "unhandled error in GET /api/v1/exam/dead-letters" in line
    assert "FailpointError: failpoint dead_letters.list" in log.split(line, 1)[1]  # the traceback follows


# --------------------------------------------------------------------------------- the gateway's own answers


async def test_the_gateways_own_errors_and_answers_carry_a_request_id(
    gateway: httpx.AsyncClient, tokens: dict[str, dict[str, str]]
) -> None:
    login = problem(
        await gateway.post("/auth/token", json={"username": "wenshui"}),
        422,
        "VALIDATION_FAILED",
        "/auth/token",
    )
    assert fields(login) == {"password": "FIELD_REQUIRED"}
    problem(
        await gateway.post("/auth/token", json={"username": "wenshui", "password": "wrong"}),
        401,
        "UNAUTHENTICATED",
        "/auth/token",
    )
    healthz = await gateway.get("/healthz")
    assert healthz.status_code == 200 and len(healthz.headers["x-request-id"]) == 32


async def test_a_callers_request_id_is_kept_and_its_forwarded_prefix_dropped(
    gateway: httpx.AsyncClient, tokens: dict[str, dict[str, str]]
) -> None:
    headers = {**tokens["wenshui"], "X-Request-ID": "ticket-4711", "X-Forwarded-Prefix": "/evil"}
    path = "/api/v1/registry/enterprises/%E6%97%A0"  # 无, as the caller escaped it
    body = problem(await gateway.get(path, headers=headers), 404, "ENTERPRISE_NOT_FOUND", path)
    assert body["request_id"] == "ticket-4711"
    own = problem(await gateway.get("/nowhere", headers=headers), 404, "NOT_FOUND", "/nowhere")
    assert own["request_id"] == "ticket-4711"
    # Not a plain token: replaced, so that no caller writes what it likes into logs and bodies.
    odd = await gateway.get("/nowhere", headers={"X-Request-ID": "a b;<script>"})
    assert odd.json()["request_id"] == odd.headers["x-request-id"] != "a b;<script>"


# ------------------------------------------------------------------------------------------------- paths


async def raw_get(system: System, target: str, headers: dict[str, str]) -> httpx.Response:
    """GET ``target`` exactly as written (httpx and most clients remove dot segments before sending)."""
    reader, writer = await asyncio.open_connection("127.0.0.1", system.ports["gateway"])
    lines = [
        f"GET {target} HTTP/1.1",
        "Host: gateway",
        "Connection: close",
        *(f"{k}: {v}" for k, v in headers.items()),
    ]
    writer.write(("\r\n".join(lines) + "\r\n\r\n").encode())
    await writer.drain()
    raw = await reader.read()
    writer.close()
    head, _, content = raw.partition(b"\r\n\r\n")
    status_line, *header_lines = head.decode("latin-1").split("\r\n")
    response_headers = [tuple(h.split(": ", 1)) for h in header_lines]
    return httpx.Response(
        int(status_line.split()[1]),
        headers=response_headers,
        content=content,
        request=httpx.Request("GET", f"http://gateway{target}"),
    )


@pytest.mark.parametrize(
    "target",
    [
        "/api/v1/registry/..%2F..%2Fopenapi.json",
        "/api/v1/registry/..%2fopenapi.json",
        "/api/v1/registry/%2e%2e/openapi.json",
        "/api/v1/registry/%2E%2E/%2e%2e/openapi.json",
        "/api/v1/registry/../openapi.json",
        "/api/v1/registry/enterprises/../../openapi.json",
        "/api/v1/registry/./openapi.json",
        "/api/v1/registry/..\\openapi.json",
    ],
)
async def test_dot_segments_never_reach_a_service(
    system: System, tokens: dict[str, dict[str, str]], target: str
) -> None:
    response = await raw_get(system, target, tokens["wenshui"])
    body = problem(response, 400, "PATH_INVALID", target.replace("\\", "%5C"))
    assert "openapi" not in body["detail"]


@pytest.mark.parametrize(
    "target",
    [
        "/api/v1/registry/enterprises/a%00b",
        "/api/v1/registry/x%0d%0aSet-Cookie:%20a=b",
        "/healthz%00",
        "/api/v1/registry/%1f",
    ],
)
async def test_control_characters_in_a_path_are_refused(
    gateway: httpx.AsyncClient, tokens: dict[str, dict[str, str]], target: str
) -> None:
    body = problem(await gateway.get(target, headers=tokens["wenshui"]), 400, "PATH_INVALID", target)
    assert "%00" in body["detail"]


async def test_an_escaped_slash_is_passed_on_as_sent(
    gateway: httpx.AsyncClient, tokens: dict[str, dict[str, str]]
) -> None:
    # Not a separator at the gateway: registry%2Fenterprises is no service.
    problem(
        await gateway.get("/api/v1/registry%2Fenterprises", headers=tokens["wenshui"]),
        404,
        "SERVICE_NOT_FOUND",
        "/api/v1/registry%2Fenterprises",
    )
    # The service gets the path as sent and decides (here: no unit of that id).
    path = "/api/v1/registry/enterprises/a%2Fb"
    problem(await gateway.get(path, headers=tokens["wenshui"]), 404, "NOT_FOUND", path)
