"""The gateway's one OpenAPI document, against a running system: it validates, it lists every operation of
every service under its public path, what it says about logging in and its examples work, and a service that
comes up after the gateway appears in it."""

from __future__ import annotations

import importlib
from collections.abc import Iterator
from typing import Any
from urllib.parse import unquote

import httpx
import jsonschema
import pytest
from fastapi.routing import APIRoute, iter_route_contexts
from openapi_spec_validator import validate

from gateway.app import create_app
from gateway.openapi import HEALTH_PATHS, merge
from services.common.errors import PROBLEM_JSON
from services.common.launcher import System
from services.common.settings import SERVICES, Settings
from tests.harness import eventually, free_port, module_system, on_socket

METHODS = {"get", "put", "post", "patch", "delete"}


@pytest.fixture(scope="module")
def system(tmp_path_factory: pytest.TempPathFactory) -> Iterator[System]:
    with module_system(tmp_path_factory, "openapi") as running:
        yield running


@pytest.fixture(scope="module")
def document(system: System) -> dict[str, Any]:
    response = httpx.get(f"{system.url('gateway')}/openapi.json", timeout=10)
    assert response.status_code == 200
    return response.json()


def _schema(document: dict[str, Any], ref: str) -> dict[str, Any]:
    return document["components"]["schemas"][ref.rsplit("/", 1)[1]]


def _request_example(document: dict[str, Any], path: str, method: str = "post") -> dict[str, Any]:
    body = document["paths"][path][method]["requestBody"]["content"]["application/json"]["schema"]
    return _schema(document, body["$ref"])["examples"][0]


def test_the_merged_document_is_valid_and_complete(document: dict[str, Any]) -> None:
    validate(document)
    assert document["x-qsr-missing"] == []
    assert "暂缺" not in document["info"]["description"]
    ids = [op["operationId"] for item in document["paths"].values() for op in item.values()]
    assert len(ids) == len(set(ids))
    # Swagger groups by tag: every service's operations carry tags of that service only.
    for path, item in document["paths"].items():
        if path.startswith("/api/v1/") and not path.startswith("/api/v1/events/"):
            service = path.split("/")[3]
            for operation in item.values():
                assert all(tag.startswith(service) for tag in operation["tags"]), (path, operation["tags"])


def test_every_route_of_every_service_is_documented_under_its_public_path(
    document: dict[str, Any], tmp_path_factory: pytest.TempPathFactory
) -> None:
    settings = Settings(env="development", data_dir=tmp_path_factory.mktemp("apps"))
    expected: set[tuple[str, str]] = set()
    for service in SERVICES:
        app = importlib.import_module(f"services.{service}.app").create_app(settings)
        # FastAPI keeps included routers whole in app.routes; this walks them as FastAPI's own schema does.
        for route in iter_route_contexts(app.routes):
            if isinstance(route.original_route, APIRoute) and route.path not in HEALTH_PATHS:
                expected |= {
                    (f"/api/v1/{service}{route.path}", m.lower())
                    for m in (route.methods or set()) & {*map(str.upper, METHODS)}
                }
    documented = {(path, method) for path, item in document["paths"].items() for method in item}
    assert expected - documented == set()
    assert len(expected) > 100
    assert {(f"/api/v1/{service}/dead-letters", "get") for service in SERVICES} <= documented
    assert not any(
        path.endswith(("/healthz", "/readyz"))
        for path, _ in documented - {("/healthz", "get"), ("/readyz", "get")}
    )


def test_every_proxied_operation_needs_the_token_and_documents_its_problems(document: dict[str, Any]) -> None:
    schemes = document["components"]["securitySchemes"]
    assert list(schemes) == ["bearerAuth"] and schemes["bearerAuth"]["scheme"] == "bearer"
    responses = document["components"]["responses"]
    for path, item in document["paths"].items():
        if not path.startswith("/api/v1/"):
            continue
        for method, operation in item.items():
            assert operation["security"] == [{"bearerAuth": []}], (path, method)
            codes = set(operation["responses"])
            assert {"401", "403", "429"} <= codes, (path, method)
            if not path.startswith("/api/v1/events/"):
                assert {"404", "422", "502", "504"} <= codes, (path, method)
            for status in codes - {"200", "201", "202", "204"}:
                response = operation["responses"][status]
                if "$ref" in response:
                    response = responses[response["$ref"].rsplit("/", 1)[1]]
                if int(status) >= 400:
                    assert PROBLEM_JSON in response["content"], (path, method, status)
    login = document["paths"]["/auth/token"]["post"]
    assert "security" not in login and {"401", "422", "429"} <= set(login["responses"])
    not_found = responses["NotFound"]["content"][PROBLEM_JSON]["example"]
    assert not_found["code"] == "ENTERPRISE_NOT_FOUND"
    invalid = responses["ValidationFailed"]["content"][PROBLEM_JSON]
    assert invalid["schema"]["$ref"].endswith("/ValidationProblem")
    assert "缺少必填字段" in invalid["example"]["errors"][0]["message"]


def test_a_user_logs_in_as_the_document_says_and_calls_what_it_documents(
    system: System, document: dict[str, Any]
) -> None:
    assert "POST /auth/token" in document["components"]["securitySchemes"]["bearerAuth"]["description"]
    credentials = _request_example(document, "/auth/token")
    with httpx.Client(base_url=system.url("gateway"), timeout=10) as gateway:
        login = gateway.post("/auth/token", json=credentials)
        assert login.status_code == 200, login.text
        headers = {"Authorization": f"Bearer {login.json()['access_token']}"}
        assert "get" in document["paths"]["/api/v1/registry/enterprises"]
        listed = gateway.get("/api/v1/registry/enterprises", headers=headers)
        assert listed.status_code == 200, listed.text

        # What the document says an error looks like is what the gateway answers.
        refused = gateway.get("/api/v1/registry/enterprises")
        assert refused.status_code == 401 and refused.headers["content-type"] == PROBLEM_JSON
        jsonschema.validate(refused.json(), document["components"]["schemas"]["Problem"])

        # The example of entering a unit is a unit the ledger takes; without its name it is a 422 problem.
        unit = _request_example(document, "/api/v1/registry/enterprises")
        entered = gateway.post("/api/v1/registry/enterprises", json=unit, headers=headers)
        assert entered.status_code == 201, entered.text
        nameless = gateway.post(
            "/api/v1/registry/enterprises",
            json={k: v for k, v in unit.items() if k != "name"},
            headers=headers,
        )
        assert nameless.status_code == 422 and nameless.headers["content-type"] == PROBLEM_JSON
        # The documented body of invalid input, whose example is what the missing name really gives.
        schemas = document["components"]["schemas"]
        validation = {"$ref": "#/components/schemas/ValidationProblem", "components": {"schemas": schemas}}
        jsonschema.validate(nameless.json(), validation)
        example = document["components"]["responses"]["ValidationFailed"]["content"][PROBLEM_JSON]["example"]
        assert nameless.json()["errors"] == example["errors"], nameless.text


def test_the_request_examples_are_in_the_services_documents(document: dict[str, Any]) -> None:
    spot_check = _request_example(document, "/api/v1/inspection/spot-checks")
    assert spot_check["product"] == "家用燃气灶" and spot_check["verdict"] == "failed"
    signal = _request_example(document, "/api/v1/grading/enterprises/{enterprise_id}/signals")
    assert signal["kind"] == "penalty"


def test_the_documentation_pages_are_the_gateways(system: System, document: dict[str, Any]) -> None:
    tags = {tag["name"] for tag in document["tags"]}
    with httpx.Client(base_url=system.url("gateway"), timeout=10) as gateway:
        swagger = gateway.get("/docs")
        assert swagger.status_code == 200 and "/openapi.json" in swagger.text
        assert '"persistAuthorization": true' in swagger.text and '"deepLinking": true' in swagger.text
        redoc = gateway.get("/redoc")
        assert redoc.status_code == 200 and "/openapi.json" in redoc.text
        for service in SERVICES:
            for page in ("docs", "redoc"):
                moved = gateway.get(f"/api/v1/{service}/{page}")  # no token needed for a page
                assert moved.status_code == 307, moved.text
                target, _, tag = moved.headers["location"].partition("#/")
                assert target == "/docs" and unquote(tag) in tags and unquote(tag).startswith(service)
    registry = system.url("registry")
    assert httpx.get(f"{registry}/docs").status_code == 404
    assert httpx.get(f"{registry}/redoc").status_code == 404
    assert httpx.get(f"{registry}/openapi.json").status_code == 200  # what the gateway reads


@pytest.mark.asyncio
async def test_a_service_started_after_the_gateway_appears_once_it_is_up(
    system: System, settings: Settings
) -> None:
    exam_port = free_port()
    upstreams = {f"{service}_url": system.url(service) for service in SERVICES}
    gateway_settings = settings.model_copy(update={**upstreams, "exam_url": f"http://127.0.0.1:{exam_port}"})
    gateway_app = create_app(gateway_settings)
    async with gateway_app.router.lifespan_context(gateway_app):
        transport = httpx.ASGITransport(app=gateway_app)
        async with httpx.AsyncClient(transport=transport, base_url="http://test") as gateway:

            async def merged() -> dict[str, Any]:
                response = await gateway.get("/openapi.json")
                assert response.status_code == 200
                return response.json()

            async def all_but_exam() -> dict[str, Any]:
                doc = await merged()
                assert "/api/v1/registry/enterprises" in doc["paths"]
                return doc

            before = await eventually(all_but_exam)
            assert before["x-qsr-missing"] == ["exam"] and "exam" in before["info"]["description"]
            assert not any(path.startswith("/api/v1/exam/") for path in before["paths"])
            validate(before)
            assert (await gateway.get("/api/v1/exam/docs")).headers["location"] == "/docs"

            exam = importlib.import_module("services.exam.app").create_app(settings)
            async with on_socket(exam, port=exam_port):

                async def with_exam() -> dict[str, Any]:
                    doc = await merged()
                    assert doc["x-qsr-missing"] == []
                    return doc

                after = await eventually(with_exam, timeout=20)
                assert "/api/v1/exam/dead-letters" in after["paths"]
                assert "暂缺" not in after["info"]["description"]
                moved = await gateway.get("/api/v1/exam/docs")
                assert unquote(moved.headers["location"]).startswith("/docs#/exam")


def _doc(title: str, schemas: dict[str, Any], paths: dict[str, Any]) -> dict[str, Any]:
    return {
        "openapi": "3.1.0",
        "info": {"title": title, "version": "1"},
        "paths": paths,
        "components": {"schemas": schemas},
    }


def _get(ref: str, tag: str) -> dict[str, Any]:
    content = {"application/json": {"schema": {"$ref": f"#/components/schemas/{ref}"}}}
    return {
        "get": {
            "tags": [tag],
            "operationId": "read",
            "responses": {"200": {"description": "ok", "content": content}},
        }
    }


def test_schemas_of_the_same_name_but_different_shape_are_kept_apart() -> None:
    thing_a = {"type": "object", "properties": {"a": {"type": "string"}}}
    thing_b = {"type": "object", "properties": {"b": {"type": "integer"}}}
    holder = {"type": "object", "properties": {"thing": {"$ref": "#/components/schemas/Thing"}}}
    shared = {"type": "string", "enum": ["x"]}
    one = _doc(
        "one", {"Thing": thing_a, "Holder": holder, "Shared": shared}, {"/holders": _get("Holder", "things")}
    )
    two = _doc(
        "two", {"Thing": thing_b, "Holder": holder, "Shared": shared}, {"/holders": _get("Holder", "things")}
    )
    own = _doc("gateway", {}, {})
    merged = merge(own, {"one": one, "two": two})
    validate(merged)
    schemas = merged["components"]["schemas"]
    # Same text, but two's Holder holds two's Thing: both are renamed; the equal Shared is kept once.
    assert schemas["Thing"] == thing_a and schemas["two_Thing"] == thing_b
    assert schemas["two_Holder"]["properties"]["thing"]["$ref"] == "#/components/schemas/two_Thing"
    assert "Shared" in schemas and "two_Shared" not in schemas
    ref = merged["paths"]["/api/v1/two/holders"]["get"]["responses"]["200"]["content"]["application/json"]
    assert ref["schema"]["$ref"] == "#/components/schemas/two_Holder"
    operations = [merged["paths"][f"/api/v1/{s}/holders"]["get"] for s in ("one", "two")]
    assert [op["operationId"] for op in operations] == ["one_read", "two_read"]
    assert [op["tags"] for op in operations] == [["one · things"], ["two · things"]]
