"""One error shape for every service and the gateway: RFC 9457 problem+json with a stable ``code``, a Chinese
``title`` and ``detail``, the public ``instance`` and the ``request_id``; ``errors`` (field, code, message)
on 422.

Every error ends here: a ``QSRError``, a request FastAPI could not validate (pydantic's errors mapped to Chinese
by ``shape_errors``), Starlette's own 404 and 405, and (in ``request_context``) an unhandled exception."""

from __future__ import annotations

import logging
from typing import Any

from fastapi import FastAPI, Request
from fastapi.exceptions import RequestValidationError
from fastapi.responses import JSONResponse
from starlette.exceptions import HTTPException as StarletteHTTPException
from starlette.types import ASGIApp, Message, Receive, Scope, Send

from services.common.request_context import (
    PREFIX_HEADER,
    REQUEST_ID_HEADER,
    public_path,
    request_id,
    with_request_id,
)
from services.common.shape_errors import BODY_NOT_JSON, shape_errors

log = logging.getLogger("qsr")

PROBLEM_JSON = "application/problem+json"
PROBLEM_TYPE = "https://qsr.samr.local/problems/"


def problem_body(
    status: int, code: str, title: str, detail: str, *, instance: str, request_id: str
) -> dict[str, Any]:
    return {
        "type": PROBLEM_TYPE + code.lower().replace("_", "-"),
        "title": title,
        "status": status,
        "code": code,
        "detail": detail,
        "instance": instance,
        "request_id": request_id,
    }


class QSRError(Exception):
    """Base of every error a caller may see. Subclasses fix ``status``, ``code`` and ``title``.

    ``field=`` names the input at fault: on a 422 it becomes the one entry of ``errors`` (``errors=`` gives the
    whole list instead); a 422 that names no field (an unreadable file) has no ``errors``, other statuses never. Other keyword arguments are extension members of the body (``current_version``,
    ``holders``, ``max_bytes``)."""

    status: int = 400
    code: str = "BAD_REQUEST"
    title: str = "请求无效"

    def __init__(self, detail: str | None = None, **extra: Any) -> None:
        self.detail = detail or self.title
        self.extra = extra
        super().__init__(self.detail)

    def problem(self, instance: str, request_id: str) -> dict[str, Any]:
        extra = dict(self.extra)
        field = extra.pop("field", None)
        errors = extra.pop("errors", None)
        body = problem_body(
            self.status, self.code, self.title, self.detail, instance=instance, request_id=request_id
        )
        if self.status == 422 and errors is None and field:
            errors = [{"field": field, "code": self.code, "message": self.detail}]
        if self.status == 422 and errors:
            body["errors"] = errors
        body.update(extra)
        return body

    def problem_for(self, scope: Any) -> dict[str, Any]:
        """The body for the request of ``scope`` (an ASGI scope)."""
        return self.problem(public_path(scope), request_id(scope))


class NotFound(QSRError):
    status, code, title = 404, "NOT_FOUND", "资源不存在"


class Forbidden(QSRError):
    status, code, title = 403, "FORBIDDEN", "无权执行此操作"


class Unauthorized(QSRError):
    status, code, title = 401, "UNAUTHENTICATED", "未登录或身份凭证无效"


class Conflict(QSRError):
    status, code, title = 409, "CONFLICT", "与现有数据冲突"


class Invalid(QSRError):
    status, code, title = 422, "VALIDATION_FAILED", "提交的数据无效"


class Unavailable(QSRError):
    status, code, title = 503, "UNAVAILABLE", "服务暂不可用"


class BodyNotJson(Invalid):
    code, title = BODY_NOT_JSON, "请求体不是有效的 JSON"


class InternalError(QSRError):
    status, code, title = 500, "INTERNAL_ERROR", "服务器内部错误"


def problem_response(
    status: int, body: dict[str, Any], headers: dict[str, str] | None = None
) -> JSONResponse:
    return JSONResponse(body, status_code=status, media_type=PROBLEM_JSON, headers=headers)


def error_response(exc: QSRError, scope: Any, headers: dict[str, str] | None = None) -> JSONResponse:
    return problem_response(exc.status, exc.problem_for(scope), headers)


_STATUS_CODES = {
    400: ("BAD_REQUEST", "请求无效"),
    401: ("UNAUTHENTICATED", "未登录或身份凭证无效"),
    403: ("FORBIDDEN", "无权执行此操作"),
    404: ("NOT_FOUND", "资源不存在"),
    405: ("METHOD_NOT_ALLOWED", "不支持该请求方法"),
    409: ("CONFLICT", "与现有数据冲突"),
    413: ("PAYLOAD_TOO_LARGE", "请求内容过大"),
    415: ("UNSUPPORTED_MEDIA_TYPE", "不支持的内容类型"),
    429: ("RATE_LIMITED", "请求过于频繁"),
}
_HTTP_DETAILS = {
    404: "没有这个地址，请检查请求路径",
    405: "该地址不支持此请求方法",
}


def validation_problem(exc: RequestValidationError) -> QSRError:
    """A request FastAPI could not validate, with pydantic's errors in Chinese."""
    errors = shape_errors(exc.errors())
    if any(err["code"] == BODY_NOT_JSON for err in errors):
        return BodyNotJson(errors[0]["message"], errors=errors)
    count = f"（共 {len(errors)} 处）" if len(errors) > 1 else ""
    return Invalid(f"请求参数校验失败{count}，请检查 errors 中列出的字段", errors=errors)


def install_error_handlers(app: FastAPI) -> None:
    @app.exception_handler(QSRError)
    async def _qsr_error(request: Request, exc: QSRError) -> JSONResponse:
        return error_response(exc, request.scope, getattr(exc, "headers", None))

    @app.exception_handler(RequestValidationError)
    async def _validation(request: Request, exc: RequestValidationError) -> JSONResponse:
        return error_response(validation_problem(exc), request.scope)

    @app.exception_handler(StarletteHTTPException)
    async def _http(request: Request, exc: StarletteHTTPException) -> JSONResponse:
        code, title = _STATUS_CODES.get(exc.status_code, ("HTTP_ERROR", "请求失败"))
        body = problem_body(
            exc.status_code,
            code,
            title,
            _HTTP_DETAILS.get(exc.status_code, title),
            instance=public_path(request.scope),
            request_id=request_id(request.scope),
        )
        return problem_response(exc.status_code, body, getattr(exc, "headers", None))


class ErrorMiddleware:
    """Outermost: gives every request one X-Request-ID (the caller's or a new one), returns it on every response,
    and turns an unhandled exception into a 500 ``INTERNAL_ERROR`` body, the exception logged with the request id
    (never shown: the id lets support find the log line).

    ``front_door`` (the gateway): an ``X-Forwarded-Prefix`` from the caller is dropped, the gateway's own paths
    are public as they are. A service trusts the one the gateway sets."""

    def __init__(self, app: ASGIApp, *, front_door: bool = False) -> None:
        self.app = app
        self.drop = frozenset({PREFIX_HEADER}) if front_door else frozenset()

    async def __call__(self, scope: Scope, receive: Receive, send: Send) -> None:
        if scope["type"] != "http":
            await self.app(scope, receive, send)
            return
        scope, rid = with_request_id(scope, drop=self.drop)
        started = False

        async def send_with_id(message: Message) -> None:
            nonlocal started
            if message["type"] == "http.response.start":
                started = True
                headers = list(message.get("headers", ()))
                if not any(name.lower() == REQUEST_ID_HEADER for name, _ in headers):
                    headers.append((REQUEST_ID_HEADER, rid))
                message = {**message, "headers": headers}
            await send(message)

        try:
            await self.app(scope, receive, send_with_id)
        except Exception:
            log.exception(
                "unhandled error in %s %s (request_id %s)", scope["method"], public_path(scope), rid.decode()
            )
            if started:
                raise  # part of the answer is out: the server can only drop the connection
            failure = InternalError(
                f"服务器内部错误，请稍后重试；如仍失败，请将请求编号 {rid.decode()} 告知运维人员"
            )
            await error_response(failure, scope)(scope, receive, send_with_id)
