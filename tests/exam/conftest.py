from __future__ import annotations

from collections.abc import AsyncIterator

import httpx
import pytest_asyncio

from services.common.settings import Settings
from services.exam.app import create_app
from tests.harness import serving


@pytest_asyncio.fixture
async def exam(settings: Settings) -> AsyncIterator[httpx.AsyncClient]:
    """The exam service (its migrations, its NATS consumers) and a client of it."""
    async with serving(create_app(settings)) as client:
        yield client
