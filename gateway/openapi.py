"""The gateway's one OpenAPI document: its own operations and every service's, under the public prefix
``/api/v1/<service>``, with the bearer token and the problem+json error bodies a caller really gets.

``merge`` is a pure function over the documents (dicts); ``ServiceDocuments`` fetches the services' own
documents (``/openapi.json`` on each upstream, internal only), retries those it could not get, and keeps the
merged document encoded, so that serving it costs nothing."""

from __future__ import annotations

import asyncio
import copy
import json
import logging
import time
from collections.abc import Callable, Iterable, Mapping, Sequence
from typing import Any

import httpx

from services.common.errors import PROBLEM_JSON

log = logging.getLogger("qsr.gateway")

API_PREFIX = "/api/v1"
# Answered by each service for its probes only; the gateway's own /healthz and /readyz are documented.
HEALTH_PATHS = frozenset({"/healthz", "/readyz"})
BEARER = "bearerAuth"
METHODS = ("get", "put", "post", "delete", "options", "head", "patch", "trace")
WRITE_METHODS = frozenset({"put", "post", "patch", "delete"})
# FastAPI's own 422 body and its parts: every 422 is a ValidationProblem instead.
FASTAPI_VALIDATION = frozenset({"HTTPValidationError", "ValidationError"})
FASTAPI_422 = "Validation Error"
EVENTS_TAG = "events 事件"

LOGIN_HELP = (
    '登录：在 `POST /auth/token`（auth 登录）点击 “Try it out”，提交 `{"username": "wenshui", '
    '"password": "demo"}`（开发环境的演示账号），复制返回的 `access_token`；点击页面右上方的 '
    "“Authorize”，粘贴令牌（不带 `Bearer ` 前缀），之后每个 “Try it out” 都带上它，刷新页面后仍保留。"
    "令牌在 `expires_in` 秒后失效，届时重新登录。\n\n"
    "Log in: `POST /auth/token` with `{username, password}` (JSON) returns `access_token`; send it as "
    "`Authorization: Bearer <access_token>` (in Swagger UI: “Authorize”, paste the token)."
)

SECURITY_SCHEMES = {
    BEARER: {
        "type": "http",
        "scheme": "bearer",
        "bearerFormat": "JWT",
        "description": LOGIN_HELP,
    }
}


def _problem_type(code: str) -> str:
    return f"https://qsr.samr.local/problems/{code.lower().replace('_', '-')}"


def _example(status: int, code: str, title: str, detail: str, instance: str, **extra: Any) -> dict[str, Any]:
    return {
        "type": _problem_type(code),
        "title": title,
        "status": status,
        "code": code,
        "detail": detail,
        "instance": instance,
        "request_id": "5f0c6a1e9d2b4c7a8e3f1b2d4c6a8e0f",
        **extra,
    }


PROBLEM_SCHEMAS: dict[str, Any] = {
    "Problem": {
        "type": "object",
        "title": "Problem",
        "description": "错误响应（RFC 9457 application/problem+json）：稳定的 code 与中文说明。",
        "required": ["type", "title", "status", "code", "detail"],
        "properties": {
            "type": {"type": "string", "format": "uri-reference", "description": "问题类型的 URI"},
            "title": {"type": "string", "description": "问题类型的中文标题"},
            "status": {"type": "integer", "description": "HTTP 状态码"},
            "code": {"type": "string", "description": "稳定的错误码，如 ENTERPRISE_NOT_FOUND"},
            "detail": {"type": "string", "description": "本次错误的中文说明"},
            "instance": {"type": "string", "description": "调用方请求的公开路径"},
            "request_id": {"type": "string", "description": "本次请求的 X-Request-ID"},
        },
        "additionalProperties": True,
    },
    "ProblemFieldError": {
        "type": "object",
        "title": "ProblemFieldError",
        "required": ["field", "code", "message"],
        "properties": {
            "field": {"type": "string", "description": "字段路径（点分，如 certificates.0.number）"},
            "code": {"type": "string", "description": "稳定的错误码"},
            "message": {"type": "string", "description": "中文说明"},
        },
    },
    "ValidationProblem": {
        "title": "ValidationProblem",
        "description": "提交的数据无效（422）：errors 逐一列出出错的字段（不涉及具体字段的 422 没有 errors）。",
        "allOf": [
            {"$ref": "#/components/schemas/Problem"},
            {
                "type": "object",
                "properties": {
                    "errors": {"type": "array", "items": {"$ref": "#/components/schemas/ProblemFieldError"}}
                },
            },
        ],
    },
}


def _problem_response(description: str, example: dict[str, Any], schema: str = "Problem") -> dict[str, Any]:
    return {
        "description": description,
        "content": {PROBLEM_JSON: {"schema": {"$ref": f"#/components/schemas/{schema}"}, "example": example}},
    }


ENTERPRISES = f"{API_PREFIX}/registry/enterprises"
# status → (name in components.responses, the response)
PROBLEM_RESPONSES: dict[int, tuple[str, dict[str, Any]]] = {
    401: (
        "Unauthenticated",
        _problem_response(
            "UNAUTHENTICATED：未登录、令牌无效或已过期",
            _example(
                401,
                "UNAUTHENTICATED",
                "未登录或身份凭证无效",
                "请先登录：请求须携带 Authorization: Bearer <token>",
                ENTERPRISES,
            ),
        ),
    ),
    403: (
        "Forbidden",
        _problem_response(
            "无权执行此操作（看得见，但不能做）",
            _example(
                403,
                "REGION_OUT_OF_JURISDICTION",
                "无权执行此操作",
                "行政区划 141122 不在您的管辖范围内",
                ENTERPRISES,
            ),
        ),
    ),
    404: (
        "NotFound",
        _problem_response(
            "不存在，或不在您的管辖范围内",
            _example(
                404,
                "ENTERPRISE_NOT_FOUND",
                "单位不存在或不在您的管辖范围内",
                "单位 0f3c2a7e-5b1d-4e8a-9c6f-2d4b8a1e7c3f 不存在或不在您的管辖范围内",
                f"{ENTERPRISES}/0f3c2a7e-5b1d-4e8a-9c6f-2d4b8a1e7c3f",
            ),
        ),
    ),
    409: (
        "Conflict",
        _problem_response(
            "与现有数据冲突",
            _example(
                409,
                "ENTERPRISE_DUPLICATE_USCC",
                "与现有数据冲突",
                "统一社会信用代码 91141121MA0K2A3B4E 已在台账中",
                ENTERPRISES,
            ),
        ),
    ),
    413: (
        "RequestTooLarge",
        _problem_response(
            "REQUEST_TOO_LARGE：请求内容超过大小上限",
            _example(
                413,
                "REQUEST_TOO_LARGE",
                "请求内容超过大小上限",
                "请求内容不能超过 1024 MB",
                f"{ENTERPRISES}/import",
                max_bytes=1 << 30,
            ),
        ),
    ),
    422: (
        "ValidationFailed",
        _problem_response(
            "VALIDATION_FAILED 等：提交的数据无效，errors 列出每个出错的字段",
            _example(
                422,
                "VALIDATION_FAILED",
                "提交的数据无效",
                "请求参数校验失败，请检查 errors 中列出的字段",
                ENTERPRISES,
                errors=[{"field": "name", "code": "FIELD_REQUIRED", "message": "缺少必填字段"}],
            ),
            "ValidationProblem",
        ),
    ),
    429: (
        "RateLimited",
        {
            **_problem_response(
                "RATE_LIMITED：请求过于频繁，请在 Retry-After 秒后再试",
                _example(429, "RATE_LIMITED", "请求过于频繁", "请求过于频繁，请稍后再试", ENTERPRISES),
            ),
            "headers": {
                "Retry-After": {"description": "几秒后可以再试", "schema": {"type": "integer"}},
            },
        },
    ),
    502: (
        "UpstreamUnavailable",
        _problem_response(
            "UPSTREAM_UNAVAILABLE：后端服务暂不可用",
            _example(
                502,
                "UPSTREAM_UNAVAILABLE",
                "后端服务暂不可用，请稍后重试",
                "无法连接 registry 服务",
                ENTERPRISES,
            ),
        ),
    ),
    504: (
        "UpstreamTimeout",
        _problem_response(
            "UPSTREAM_TIMEOUT：后端服务响应超时",
            _example(
                504, "UPSTREAM_TIMEOUT", "后端服务响应超时，请稍后重试", "registry 服务响应超时", ENTERPRISES
            ),
        ),
    ),
}
PROXIED_STATUSES = (401, 403, 404, 422, 429, 502, 504)


def _refs_in(node: Any) -> Iterable[str]:
    """The component schema names ``node`` refers to."""
    if isinstance(node, dict):
        ref = node.get("$ref")
        if isinstance(ref, str) and ref.startswith("#/components/schemas/"):
            yield ref.rsplit("/", 1)[1]
        for value in node.values():
            yield from _refs_in(value)
    elif isinstance(node, list):
        for value in node:
            yield from _refs_in(value)


def _rewrite_refs(node: Any, renamed: Mapping[str, str]) -> Any:
    if not renamed:
        return node
    if isinstance(node, dict):
        out = {key: _rewrite_refs(value, renamed) for key, value in node.items()}
        ref = out.get("$ref")
        if isinstance(ref, str) and ref.startswith("#/components/schemas/"):
            name = ref.rsplit("/", 1)[1]
            if name in renamed:
                out["$ref"] = f"#/components/schemas/{renamed[name]}"
        return out
    if isinstance(node, list):
        return [_rewrite_refs(value, renamed) for value in node]
    return node


def _renames(service: str, schemas: Mapping[str, Any], taken: Mapping[str, Any]) -> dict[str, str]:
    """Names of ``service``'s schemas that must change: those another document defines differently, and
    those that refer (through any chain) to one that changes — equal text would otherwise mean another
    schema once its refs are rewritten."""
    clash = {name for name, schema in schemas.items() if name in taken and taken[name] != schema}
    refers = {name: set(_refs_in(schema)) for name, schema in schemas.items()}
    changed = True
    while changed:
        grown = {name for name in schemas if name in taken and refers[name] & clash} - clash
        clash |= grown
        changed = bool(grown)
    renamed: dict[str, str] = {}
    for name in sorted(clash):
        new = f"{service}_{name}"
        while new in taken or new in schemas:
            new = f"{service}_{new}"
        renamed[name] = new
    return renamed


def service_tag(service: str, tag: str) -> str:
    """``enterprises 生产和销售单位台账`` of registry → ``registry · enterprises 生产和销售单位台账``; a tag
    that already names its service (``grading 分层分级与分类监管``) stays as it is."""
    return tag if tag.split(" ", 1)[0] == service else f"{service} · {tag}"


def _unique(operation_id: str, taken: set[str]) -> str:
    candidate, n = operation_id, 2
    while candidate in taken:
        candidate, n = f"{operation_id}_{n}", n + 1
    taken.add(candidate)
    return candidate


def _with_problems(operation: dict[str, Any], statuses: Iterable[int]) -> None:
    """The problem+json responses of ``statuses`` on ``operation``; one the operation describes itself (its
    own description of a 422) keeps its words and gets the problem body, without the general example."""
    responses = operation.setdefault("responses", {})
    for status in sorted(set(statuses)):
        name, response = PROBLEM_RESPONSES[status]
        own = responses.get(str(status))
        if own is None or own.get("description") in (None, "", FASTAPI_422):
            responses[str(status)] = {"$ref": f"#/components/responses/{name}"}
        else:
            body = {"schema": response["content"][PROBLEM_JSON]["schema"]}
            responses[str(status)] = {
                **response,
                "description": own["description"],
                "content": {PROBLEM_JSON: body},
            }


def _proxied_statuses(operation: Mapping[str, Any], method: str) -> list[int]:
    """What a call through the gateway may answer besides its own: any write may conflict, any body may be
    too large for the gateway."""
    statuses = list(PROXIED_STATUSES)
    if method in WRITE_METHODS:
        statuses.append(409)
    if "requestBody" in operation:
        statuses.append(413)
    return statuses


def _own_statuses(operation: Mapping[str, Any], secured: bool) -> list[int]:
    """The gateway's own operation: the problems it declares, 422 when it takes input, 401/403/429 when it
    needs the token."""
    statuses = [int(s) for s in operation.get("responses", {}) if s.isdigit() and int(s) in PROBLEM_RESPONSES]
    if "requestBody" in operation or operation.get("parameters"):
        statuses.append(422)
    if secured:
        statuses += [401, 403, 429]
    return statuses


def _reachable_schemas(document: dict[str, Any]) -> set[str]:
    components = document.get("components", {})
    schemas = components.get("schemas", {})
    roots = [document.get("paths", {}), {k: v for k, v in components.items() if k != "schemas"}]
    seen: set[str] = set()
    pending = [name for root in roots for name in _refs_in(root)]
    while pending:
        name = pending.pop()
        if name in seen or name not in schemas:
            continue
        seen.add(name)
        pending.extend(_refs_in(schemas[name]))
    return seen


def merge(
    own: Mapping[str, Any],
    services: Mapping[str, Mapping[str, Any]],
    missing: Sequence[str] = (),
    *,
    secured_prefix: str = API_PREFIX + "/",
) -> dict[str, Any]:
    """One document: the gateway's own (``own``; its operations under ``secured_prefix`` need the token)
    and each service's (``services``: name → its document) under ``/api/v1/<name>``. ``missing``: the
    services whose documents could not be had; the document says so."""
    document: dict[str, Any] = copy.deepcopy(dict(own))
    document.pop("servers", None)
    components = document.setdefault("components", {})
    schemas: dict[str, Any] = components.setdefault("schemas", {})
    for name, schema in PROBLEM_SCHEMAS.items():
        schemas[name] = copy.deepcopy(schema)
    components["responses"] = {name: copy.deepcopy(response) for name, response in PROBLEM_RESPONSES.values()}
    components["securitySchemes"] = copy.deepcopy(SECURITY_SCHEMES)
    paths: dict[str, Any] = document.setdefault("paths", {})

    operation_ids: set[str] = set()
    gateway_tags: list[str] = []
    for path, item in paths.items():
        for method in METHODS:
            operation = item.get(method)
            if operation is None:
                continue
            if "operationId" in operation:
                operation["operationId"] = _unique(operation["operationId"], operation_ids)
            gateway_tags += [tag for tag in operation.get("tags", []) if tag not in gateway_tags]
            secured = path.startswith(secured_prefix)
            if secured:
                operation["security"] = [{BEARER: []}]
            _with_problems(operation, _own_statuses(operation, secured))
    tag_objects: list[dict[str, Any]] = [{"name": tag} for tag in gateway_tags]
    groups: list[dict[str, Any]] = [{"name": "gateway 网关", "tags": list(gateway_tags)}]

    for service, source in services.items():
        source_schemas = source.get("components", {}).get("schemas", {})
        renamed = _renames(service, source_schemas, schemas)
        for name, schema in source_schemas.items():
            schemas[renamed.get(name, name)] = _rewrite_refs(copy.deepcopy(schema), renamed)
        title = source.get("info", {}).get("title", service)
        own_tags: list[str] = []
        for path, item in source.get("paths", {}).items():
            if path in HEALTH_PATHS:
                continue
            public: dict[str, Any] = {}
            for method in METHODS:
                if method not in item:
                    continue
                operation = _rewrite_refs(copy.deepcopy(item[method]), renamed)
                tags = list(dict.fromkeys(service_tag(service, tag) for tag in operation.get("tags", [])))
                tags = tags or [service]
                operation["tags"] = tags
                own_tags += [tag for tag in tags if tag not in own_tags]
                operation["operationId"] = _unique(
                    f"{service}_{operation.get('operationId', method + path)}", operation_ids
                )
                operation["security"] = [{BEARER: []}]
                _with_problems(operation, _proxied_statuses(operation, method))
                public[method] = operation
            if public:
                paths[f"{API_PREFIX}/{service}{path}"] = public
        # The dead letters every service has come after the service's own work.
        own_tags.sort(key=lambda tag: tag == service_tag(service, EVENTS_TAG))
        tag_objects += [{"name": tag, "description": title} for tag in own_tags]
        groups.append({"name": f"{service} — {title}", "tags": own_tags})

    for name in FASTAPI_VALIDATION - _reachable_schemas(document):
        schemas.pop(name, None)

    info = document.setdefault("info", {})
    info["title"] = "QSR 工业产品质量安全主体责任监管平台 API"
    description = [
        "统一入口（网关）的全部接口：登录、各服务 `/api/v1/<service>/…`、实时事件流。"
        "错误响应均为 application/problem+json（见 Problem、ValidationProblem）。",
        LOGIN_HELP,
    ]
    if missing:
        description.append(
            f"**暂缺** 以下服务的接口（服务未就绪，网关会自动重试，恢复后本文档随之更新）：{', '.join(missing)}"
        )
    info["description"] = "\n\n".join(description)
    document["tags"] = tag_objects
    document["x-tagGroups"] = groups  # ReDoc's grouping by service
    document["x-qsr-missing"] = list(missing)
    return document


def first_tags(document: Mapping[str, Any]) -> dict[str, str]:
    """Each service's first tag of its own work (``/api/v1/<service>/docs`` leads there): not the dead
    letters every service has, unless it has nothing else."""
    found: dict[str, list[str]] = {}
    for group in document.get("x-tagGroups", []):
        service = group["name"].split(" ", 1)[0]
        tags = group.get("tags", [])
        if tags:
            found[service] = [tag for tag in tags if tag != service_tag(service, EVENTS_TAG)] or tags
    return {service: tags[0] for service, tags in found.items()}


# The first retry comes soon (services start beside the gateway); then less and less often.
RETRY_FIRST_SECONDS, RETRY_MAX_SECONDS = 0.5, 15.0
# A request for the document while a service is missing tries it again, at most this often (a service
# that is down refuses the connection at once; one that hangs holds such a request up to the fetch timeout).
REFETCH_ON_REQUEST_SECONDS = 0.25
FETCH_TIMEOUT_SECONDS = 3.0


class ServiceDocuments:
    """The services' documents, fetched from each upstream's ``/openapi.json`` over the proxy's pool; the
    merged document encoded once per change.

    ``start`` fetches in the background, so a service that is down does not hold up the gateway; the missing
    ones are tried again with back-off until every one is had, and on a request for the document when the last
    try is a moment old."""

    def __init__(self, own: Callable[[], dict[str, Any]], upstreams: Mapping[str, str]) -> None:
        self.own = own
        self.upstreams = dict(upstreams)
        self.documents: dict[str, dict[str, Any]] = {}
        self.document: dict[str, Any] = {}
        self.encoded = b""
        self.first_tags: dict[str, str] = {}
        self._client: httpx.AsyncClient | None = None
        self._lock = asyncio.Lock()
        self._last_try = 0.0
        self._retry: asyncio.Task[None] | None = None

    @property
    def missing(self) -> list[str]:
        return [service for service in self.upstreams if service not in self.documents]

    def _rebuild(self) -> None:
        ordered = {
            service: self.documents[service] for service in self.upstreams if service in self.documents
        }
        self.document = merge(self.own(), ordered, self.missing)
        self.encoded = json.dumps(self.document, ensure_ascii=False, separators=(",", ":")).encode()
        self.first_tags = first_tags(self.document)

    async def _fetch(self, service: str) -> dict[str, Any] | None:
        assert self._client is not None
        try:
            response = await self._client.get(
                f"{self.upstreams[service]}/openapi.json", timeout=FETCH_TIMEOUT_SECONDS
            )
            if response.status_code == 200:
                document = response.json()
                if isinstance(document, dict) and isinstance(document.get("paths"), dict):
                    return document
        except (httpx.HTTPError, ValueError):
            pass
        return None

    async def refresh(self) -> None:
        """Tries every missing service once (together); rebuilds the merged document if any came."""
        async with self._lock:
            self._last_try = time.monotonic()
            missing = self.missing
            if not missing:
                return
            fetched = await asyncio.gather(*(self._fetch(service) for service in missing))
            got = {service: doc for service, doc in zip(missing, fetched, strict=True) if doc is not None}
            if got:
                self.documents.update(got)
                self._rebuild()
                log.info("openapi: have the documents of %s", ", ".join(sorted(got)))

    async def _retry_until_complete(self) -> None:
        delay = RETRY_FIRST_SECONDS
        while True:
            await self.refresh()
            if not self.missing:
                return
            await asyncio.sleep(delay)
            delay = min(delay * 2, RETRY_MAX_SECONDS)

    def start(self, client: httpx.AsyncClient) -> None:
        self._client = client
        self._rebuild()  # the gateway's own part at once, whatever the services do
        self._retry = asyncio.create_task(self._retry_until_complete(), name="gateway-openapi")

    async def stop(self) -> None:
        if self._retry is not None:
            self._retry.cancel()
            try:
                await self._retry
            except asyncio.CancelledError:
                pass
            except Exception:
                log.exception("openapi: the retry of the services' documents failed")
            self._retry = None

    async def current(self) -> bytes:
        """The merged document, encoded; after a failed fetch, a request tries the missing services again."""
        if self.missing and self._client is not None:
            if self._lock.locked():
                async with self._lock:  # a try is under way: its answer, not the one before it
                    pass
            elif time.monotonic() - self._last_try >= REFETCH_ON_REQUEST_SECONDS:
                await self.refresh()
        if not self.encoded:
            self._rebuild()
        return self.encoded
