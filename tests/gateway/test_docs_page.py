"""The documentation pages as a county integrator sees them, in a real browser (Debian's chromium, driven by
Playwright) against a running system: /docs lists every service's operations, logs in with a token from
``POST /auth/token`` and tries operations, a success and a refusal with its Chinese problem body; /redoc
renders; and neither page asks anything of a host other than the gateway (they must work without internet).

Screenshots of what the test saw are left in its tmp dir."""

from __future__ import annotations

import os
import uuid
from collections.abc import Iterator
from pathlib import Path
from typing import Any
from urllib.parse import quote, urlsplit

import httpx
import pytest
from playwright.sync_api import Browser, ConsoleMessage, Page, Request, expect, sync_playwright

from services.common.launcher import System
from services.common.settings import SERVICES
from tests.harness import module_system

CHROMIUM = Path("/usr/bin/chromium")
ENTERPRISES = "/api/v1/registry/enterprises"
ENTERPRISE = "/api/v1/registry/enterprises/{enterprise_id}"
TITLE = "QSR 工业产品质量安全主体责任监管平台 API"
TIMEOUT_MS = 30_000  # a page of 120 operations renders slowly on a busy 2-core machine
expect.set_options(timeout=TIMEOUT_MS)


@pytest.fixture(scope="module")
def system(tmp_path_factory: pytest.TempPathFactory) -> Iterator[System]:
    with module_system(tmp_path_factory, "docs-page") as running:
        yield running


@pytest.fixture(scope="module")
def browser() -> Iterator[Browser]:
    if not CHROMIUM.exists():
        pytest.fail(
            f"no chromium at {CHROMIUM}: this test drives Debian's chromium; install it with "
            "`apt-get install -y chromium fonts-wqy-microhei` (.ci/run does when it is missing)"
        )
    # Chromium's sandbox refuses to start as root (CI runs as root).
    args = ["--no-sandbox"] if os.geteuid() == 0 else []
    with sync_playwright() as playwright:
        launched = playwright.chromium.launch(executable_path=str(CHROMIUM), args=args)
        try:
            yield launched
        finally:
            launched.close()


class Visit:
    """A page in a fresh browser context, with every URL it requested."""

    def __init__(self, browser: Browser) -> None:
        self.context = browser.new_context(viewport={"width": 1400, "height": 1000}, locale="zh-CN")
        self.context.set_default_timeout(TIMEOUT_MS)
        self.page: Page = self.context.new_page()
        self.requested: list[str] = []
        self.refused: list[str] = []  # what the page's Content-Security-Policy kept it from loading
        self.blocked: list[str] = []  # requests the browser made no connection for (refused by the policy)
        self.page.on("request", self._record)
        self.page.on("requestfailed", self._failed)
        self.page.on("console", self._console)

    def _record(self, request: Request) -> None:
        self.requested.append(request.url)

    def _failed(self, request: Request) -> None:
        # Chromium names a request its Content-Security-Policy refused "csp" (net::ERR_BLOCKED_BY_CSP).
        if (request.failure or "").lower() in ("csp", "net::err_blocked_by_csp"):
            self.blocked.append(request.url)

    def _console(self, message: ConsoleMessage) -> None:
        if "Content Security Policy" in message.text:
            self.refused.append(message.text)

    def off_origin(self, origin: str) -> list[str]:
        """The requests that went anywhere but ``origin`` (data: and blob: URLs are the page's own; a request
        the browser blocked never left it)."""
        own = urlsplit(origin).netloc
        return [
            url
            for url in self.requested
            if urlsplit(url).scheme not in ("data", "blob")
            and urlsplit(url).netloc != own
            and url not in self.blocked
        ]


@pytest.fixture
def visit(browser: Browser) -> Iterator[Visit]:
    opened = Visit(browser)
    try:
        yield opened
    finally:
        opened.context.close()


def _document(gateway: str) -> dict[str, Any]:
    response = httpx.get(f"{gateway}/openapi.json", timeout=10)
    assert response.status_code == 200
    return response.json()


def _sections(page: Page) -> list[str]:
    """The tag sections of Swagger UI, top to bottom. It renders only those near the window (a virtual
    list), so the page is scrolled through as a reader would."""
    seen: list[str] = []
    while True:
        for tag in page.locator("h3.opblock-tag").evaluate_all("els => els.map(e => e.dataset.tag)"):
            if tag not in seen:
                seen.append(tag)
        if page.evaluate("window.scrollY + window.innerHeight >= document.body.scrollHeight - 2"):
            return seen
        page.mouse.wheel(0, 600)
        page.wait_for_timeout(100)


def _operation(page: Page, gateway: str, document: dict[str, Any], method: str, path: str) -> Any:
    """The operation's block in Swagger UI, opened by its deep link (``#/<tag>/<operationId>``) in a page
    loaded afresh: the link a colleague sends, and the token must still be there (persistAuthorization)."""
    operation = document["paths"][path][method]
    link = f"{quote(operation['tags'][0], safe='')}/{quote(operation['operationId'], safe='')}"
    page.goto("about:blank")
    page.goto(f"{gateway}/docs#/{link}")
    block = page.locator(f".opblock.opblock-{method}:has(.opblock-summary-path[data-path='{path}'])").first
    expect(block.locator(".try-out__btn")).to_be_visible()
    return block


def _execute(block: Any, params: dict[str, str] | None = None) -> Any:
    """Try it out, fill ``params``, Execute: the live response's row once it is there."""
    block.locator(".try-out__btn").click()
    for name, value in (params or {}).items():
        block.locator(f"tr[data-param-name='{name}'] input").fill(value)
    block.locator("button.execute").click()
    row = block.locator(".live-responses-table tr.response")
    expect(row).to_be_visible()
    return row


def test_swagger_ui_lists_every_service_logs_in_and_tries_operations(
    system: System, visit: Visit, tmp_path: Path
) -> None:
    gateway = system.url("gateway")
    document = _document(gateway)
    page = visit.page
    page.goto(f"{gateway}/docs")

    # Every tag of the merged document is a section of the page, so every service's operations are there.
    expect(page.locator("h3.opblock-tag").first).to_be_visible()
    page.screenshot(path=tmp_path / "docs-top.png")
    shown = _sections(page)
    assert shown == [tag["name"] for tag in document["tags"]]
    for service in SERVICES:
        assert any(tag.startswith(service) for tag in shown), f"no section of {service} on /docs"
    page.screenshot(path=tmp_path / "docs-bottom.png")
    page.evaluate("window.scrollTo(0, 0)")

    # Log in as the integrator would: a token from POST /auth/token, pasted into "Authorize".
    login = httpx.post(f"{gateway}/auth/token", json={"username": "wenshui", "password": "demo"}, timeout=10)
    assert login.status_code == 200
    page.locator(".auth-wrapper button.authorize").click()
    dialog = page.locator(".modal-ux")
    dialog.locator("input#auth-bearer-value").fill(login.json()["access_token"])
    dialog.get_by_role("button", name="Apply credentials").click()
    expect(dialog.get_by_role("button", name="Remove authorization")).to_be_visible()  # "Logout": authorised
    dialog.locator("button.btn-done").click()
    expect(dialog).to_be_hidden()

    # A call that needs the token: 200 with the ledger (without the token it would be a 401).
    listing = _operation(page, gateway, document, "get", ENTERPRISES)
    row = _execute(listing)
    expect(row.locator(".response-col_status")).to_have_text("200")
    expect(listing.locator(".curl-command")).to_contain_text("Authorization: Bearer")
    row.scroll_into_view_if_needed()
    page.screenshot(path=tmp_path / "docs-try-it-out.png")

    # A call that fails: the page shows the Chinese problem body the caller gets.
    unknown = str(uuid.uuid4())
    detail = _operation(page, gateway, document, "get", ENTERPRISE)
    row = _execute(detail, {"enterprise_id": unknown})
    expect(row.locator(".response-col_status")).to_have_text("404")
    body = row.locator(".response-col_description")
    expect(body).to_contain_text("ENTERPRISE_NOT_FOUND")
    expect(body).to_contain_text("不存在或不在您的管辖范围内")
    expect(body).to_contain_text(f"{ENTERPRISES}/{unknown}")  # instance: the public path
    expect(detail.locator(".curl-command")).to_contain_text("Authorization: Bearer")
    row.scroll_into_view_if_needed()
    page.screenshot(path=tmp_path / "docs-problem.png")

    assert any(
        url.endswith("swagger-ui-bundle.js") or "swagger-ui-bundle.js?" in url for url in visit.requested
    )
    assert visit.off_origin(gateway) == []
    assert visit.refused == []  # nothing the page needed was kept from it


def test_redoc_renders_from_the_gateway_alone(system: System, visit: Visit, tmp_path: Path) -> None:
    gateway = system.url("gateway")
    page = visit.page
    page.goto(f"{gateway}/redoc")
    expect(page.locator("h1", has_text=TITLE)).to_be_visible()
    # The services' operations are in its menu, grouped by service.
    expect(page.get_by_text("单位详情").first).to_be_attached()
    page.screenshot(path=tmp_path / "redoc.png")
    assert any("redoc.standalone.js" in url for url in visit.requested)
    assert visit.off_origin(gateway) == []
    # ReDoc draws its maker's logo from their CDN whatever its options; the gateway's policy refuses it.
    assert all("cdn.redoc.ly" in refused for refused in visit.refused), visit.refused
    assert all(urlsplit(url).netloc == "cdn.redoc.ly" for url in visit.blocked), visit.blocked
