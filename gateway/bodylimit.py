"""A small limit on the request bodies of the gateway's own routes (log-in, health, the event stream).

Log-in needs a few hundred bytes; without a limit FastAPI reads whatever arrives, unauthenticated, into
memory. The body is read here, up to ``max_bytes``, before the route runs: a declared Content-Length above
it is refused at once, a chunked body as soon as it passes it (nothing more is read), with 413
``REQUEST_TOO_LARGE``. The proxied routes ``/api/v1/<service>/…`` never come here: the proxy streams them
with its own limit (``QSR_GATEWAY_MAX_BODY_BYTES``)."""

from __future__ import annotations

from starlette.types import ASGIApp, Message, Receive, Scope, Send

from gateway.proxy import RequestTooLarge
from services.common.errors import error_response

OWN_ROUTES_MAX_BODY_BYTES = 16 * 1024


class BodyLimitMiddleware:
    def __init__(self, app: ASGIApp, max_bytes: int = OWN_ROUTES_MAX_BODY_BYTES) -> None:
        self.app = app
        self.max_bytes = max_bytes

    async def __call__(self, scope: Scope, receive: Receive, send: Send) -> None:
        if scope["type"] != "http":
            await self.app(scope, receive, send)
            return
        refusal = RequestTooLarge(f"请求内容不能超过 {self.max_bytes // 1024} KB", max_bytes=self.max_bytes)
        declared = next((value for name, value in scope["headers"] if name == b"content-length"), None)
        if declared is not None and declared.strip().isdigit() and int(declared) > self.max_bytes:
            await error_response(refusal, scope)(scope, receive, send)
            return
        messages: list[Message] = []
        size = 0
        while True:
            message = await receive()
            messages.append(message)
            if message["type"] != "http.request":
                break  # the client went away: the route sees it as it would have
            size += len(message.get("body", b""))
            if size > self.max_bytes:
                await error_response(refusal, scope)(scope, receive, send)
                return
            if not message.get("more_body", False):
                break

        async def replay() -> Message:
            return messages.pop(0) if messages else await receive()

        await self.app(scope, replay, send)
