from __future__ import annotations

from collections.abc import AsyncIterator

import httpx
import pytest_asyncio
from fastapi import FastAPI

from services.common.settings import Settings
from services.inspection.app import create_app
from tests.harness import serving


@pytest_asyncio.fixture
async def served(settings: Settings) -> AsyncIterator[tuple[FastAPI, httpx.AsyncClient]]:
    """The inspection service and a client of it."""
    app = create_app(settings)
    async with serving(app) as client:
        yield app, client
