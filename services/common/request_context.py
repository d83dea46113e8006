"""What an error body says about its request: the public path the caller sent (``instance``) and the request
id (``X-Request-ID``), read from the ASGI scope."""

from __future__ import annotations

import re
import uuid
from typing import Any
from urllib.parse import quote

REQUEST_ID_HEADER = b"x-request-id"
# Set by the gateway on what it forwards: the public prefix of the service (``/api/v1/registry``).
PREFIX_HEADER = b"x-forwarded-prefix"
# A caller's own request id is kept when it is a plain token (it lands in logs and bodies), else replaced.
_REQUEST_ID = re.compile(rb"[A-Za-z0-9._:\-]{1,128}")
_PREFIX = re.compile(rb"(/[A-Za-z0-9._\-]+)+")
# Kept as they are in a path: the unreserved and reserved characters of RFC 3986, and % (escapes stay escapes).
_PATH_SAFE = "/?%:@!$&'()*+,;=-._~"


def _header(scope: Any, name: bytes) -> bytes | None:
    for key, value in scope.get("headers", ()):
        if key == name:
            return value
    return None


def as_sent(raw: bytes) -> str:
    """A raw request path as text: escapes kept as the caller wrote them, any other byte escaped."""
    return quote(raw, safe=_PATH_SAFE)


def raw_path(scope: Any) -> bytes:
    """The path as the caller sent it, not decoded, without the query string."""
    raw = scope.get("raw_path")
    if not raw:
        return quote(scope.get("path", ""), safe=_PATH_SAFE).encode()
    return bytes(raw).partition(b"?")[0]


def public_path(scope: Any) -> str:
    """The path the caller used: the gateway's prefix for this service (when forwarded) + the raw path."""
    prefix = _header(scope, PREFIX_HEADER) or b""
    if prefix and not _PREFIX.fullmatch(prefix):
        prefix = b""
    return prefix.decode() + as_sent(raw_path(scope))


def request_id(scope: Any) -> str:
    value = _header(scope, REQUEST_ID_HEADER)
    return value.decode("latin-1") if value else ""


def with_request_id(scope: Any, *, drop: frozenset[bytes] = frozenset()) -> tuple[dict[str, Any], bytes]:
    """``scope`` with exactly one X-Request-ID (the caller's if it is a plain token, else a new one) and
    without the headers in ``drop``; and that id."""
    rid: bytes | None = None
    headers = []
    for name, value in scope.get("headers", ()):
        if name == REQUEST_ID_HEADER:
            if rid is None and _REQUEST_ID.fullmatch(value):
                rid = value
        elif name not in drop:
            headers.append((name, value))
    rid = rid or uuid.uuid4().hex.encode()
    headers.append((REQUEST_ID_HEADER, rid))
    return {**scope, "headers": headers}, rid
