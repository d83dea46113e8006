"""One error shape for every service: RFC 9457 problem+json with a stable ``code`` and a Chinese ``detail``."""

from __future__ import annotations

from typing import Any

from fastapi import FastAPI, Request
from fastapi.exceptions import RequestValidationError
from fastapi.responses import JSONResponse
from starlette.exceptions import HTTPException as StarletteHTTPException

PROBLEM_JSON = "application/problem+json"


class QSRError(Exception):
    """Base of every error a caller may see. Subclasses fix ``status``, ``code`` and ``title``."""

    status: int = 400
    code: str = "BAD_REQUEST"
    title: str = "请求无效"

    def __init__(self, detail: str | None = None, **extra: Any) -> None:
        self.detail = detail or self.title
        self.extra = extra
        super().__init__(self.detail)

    def problem(self, instance: str | None = None) -> dict[str, Any]:
        body: dict[str, Any] = {
            "type": f"https://qsr.samr.local/problems/{self.code.lower().replace('_', '-')}",
            "title": self.title,
            "status": self.status,
            "code": self.code,
            "detail": self.detail,
        }
        if instance:
            body["instance"] = instance
        body.update(self.extra)
        return body


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


def problem_response(
    status: int, body: dict[str, Any], headers: dict[str, str] | None = None
) -> JSONResponse:
    return JSONResponse(body, status_code=status, media_type=PROBLEM_JSON, headers=headers)


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


def install_error_handlers(app: FastAPI) -> None:
    @app.exception_handler(QSRError)
    async def _qsr_error(request: Request, exc: QSRError) -> JSONResponse:
        return problem_response(exc.status, exc.problem(request.url.path))

    @app.exception_handler(RequestValidationError)
    async def _validation(request: Request, exc: RequestValidationError) -> JSONResponse:
        errors = [
            {"loc": list(err.get("loc", ())), "msg": err.get("msg", ""), "type": err.get("type", "")}
            for err in exc.errors()
        ]
        body = Invalid("请求参数校验失败，请检查 errors 中列出的字段").problem(request.url.path)
        body["errors"] = errors
        return problem_response(422, body)

    @app.exception_handler(StarletteHTTPException)
    async def _http(request: Request, exc: StarletteHTTPException) -> JSONResponse:
        code, title = _STATUS_CODES.get(exc.status_code, ("HTTP_ERROR", "请求失败"))
        body = {
            "type": "about:blank",
            "title": title,
            "status": exc.status_code,
            "code": code,
            "detail": title,
            "instance": request.url.path,
        }
        return problem_response(exc.status_code, body, getattr(exc, "headers", None))
