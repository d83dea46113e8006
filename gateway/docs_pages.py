"""The gateway's documentation pages: Swagger UI at ``/docs`` and ReDoc at ``/redoc``, on the merged document.

Their scripts, styles and icon are served by the gateway itself from ``gateway/static/`` (vendored from npm,
see ``gateway/static/SOURCE.md``), so the pages work in a bureau's intranet without internet: no CDN, no web
fonts. Each asset's URL carries a digest of its bytes (``?v=``), so it can be cached for a year: a new version
is a new URL."""

from __future__ import annotations

import hashlib
from pathlib import Path
from urllib.parse import parse_qs

from fastapi import FastAPI
from fastapi.openapi.docs import get_redoc_html, get_swagger_ui_html
from fastapi.responses import HTMLResponse
from starlette.responses import Response
from starlette.staticfiles import StaticFiles
from starlette.types import Scope

STATIC_DIR = Path(__file__).parent / "static"
STATIC_PREFIX = "/docs/static"
SWAGGER_JS = "swagger-ui/swagger-ui-bundle.js"
SWAGGER_CSS = "swagger-ui/swagger-ui.css"
FAVICON = "swagger-ui/favicon-32x32.png"
REDOC_JS = "redoc/redoc.standalone.js"
ASSETS = (SWAGGER_JS, SWAGGER_CSS, FAVICON, REDOC_JS)
# For a URL with the asset's current digest; any other (an old page, no ?v=) must ask again.
IMMUTABLE = "public, max-age=31536000, immutable"
REVALIDATE = "no-cache"
# Swagger UI keeps the token across reloads, and filters the many tags by a word; FastAPI's defaults add deep
# links (#/tag/operation) and the x- extensions.
# The browser itself keeps the pages on the gateway: ReDoc would otherwise fetch its maker's logo from their CDN
# (it draws it unconditionally; blocked, it draws nothing). Inline: Swagger UI's start-up script, both pages' styles.
CSP = "; ".join(
    (
        "default-src 'self'",
        "script-src 'self' 'unsafe-inline'",
        "style-src 'self' 'unsafe-inline'",
        "img-src 'self' data:",
        "font-src 'self' data:",
        "worker-src 'self' blob:",
        "connect-src 'self'",
    )
)
SWAGGER_UI = {"persistAuthorization": True, "filter": True, "displayRequestDuration": True}


def _digest(name: str) -> str:
    return hashlib.sha256((STATIC_DIR / name).read_bytes()).hexdigest()[:16]


class DocAssets(StaticFiles):
    """``gateway/static/`` with the cache headers the pages' versioned URLs allow."""

    def __init__(self, digests: dict[str, str]) -> None:
        super().__init__(directory=STATIC_DIR)
        self.digests = digests

    async def get_response(self, path: str, scope: Scope) -> Response:
        response = await super().get_response(path, scope)
        if response.status_code in (200, 304):
            asked = parse_qs(scope.get("query_string", b"").decode("latin-1")).get("v")
            current = self.digests.get(path)
            fresh = current is not None and asked == [current]
            response.headers["cache-control"] = IMMUTABLE if fresh else REVALIDATE
        return response


def _same_origin(page: HTMLResponse) -> HTMLResponse:
    page.headers["content-security-policy"] = CSP
    return page


def install(app: FastAPI, openapi_url: str) -> None:
    """``/docs``, ``/redoc`` and their assets under ``/docs/static/``, on the document at ``openapi_url``."""
    digests = {name: _digest(name) for name in ASSETS}

    def url(name: str) -> str:
        return f"{STATIC_PREFIX}/{name}?v={digests[name]}"

    app.mount(STATIC_PREFIX, DocAssets(digests), name="docs-static")

    @app.get("/docs", include_in_schema=False)
    async def swagger_ui() -> HTMLResponse:
        return _same_origin(
            get_swagger_ui_html(
                openapi_url=openapi_url,
                title="QSR API — Swagger UI",
                swagger_js_url=url(SWAGGER_JS),
                swagger_css_url=url(SWAGGER_CSS),
                swagger_favicon_url=url(FAVICON),
                swagger_ui_parameters=SWAGGER_UI,
            )
        )

    @app.get("/redoc", include_in_schema=False)
    async def redoc() -> HTMLResponse:
        return _same_origin(
            get_redoc_html(
                openapi_url=openapi_url,
                title="QSR API — ReDoc",
                redoc_js_url=url(REDOC_JS),
                redoc_favicon_url=url(FAVICON),
                with_google_fonts=False,
            )
        )
