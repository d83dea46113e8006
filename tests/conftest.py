from __future__ import annotations

from collections.abc import AsyncIterator, Iterator
from datetime import date
from pathlib import Path

import pytest
import pytest_asyncio

from services.common.db import today_cn
from services.common.settings import Settings
from tests.harness import NatsServer, database_template, drop_databases, make_settings


@pytest.fixture
def nats_server(tmp_path: Path) -> Iterator[NatsServer]:
    server = NatsServer(tmp_path / "jetstream")
    server.start()
    yield server
    server.stop()


@pytest_asyncio.fixture
async def database_url(tmp_path: Path) -> AsyncIterator[str]:
    template = database_template(tmp_path)
    yield template
    await drop_databases(template)


@pytest.fixture
def settings(nats_server: NatsServer, database_url: str, tmp_path: Path) -> Settings:
    return make_settings(nats_server, database_url, tmp_path)


@pytest.fixture(autouse=True)
def _today_when_the_test_starts(request: pytest.FixtureRequest) -> None:
    """Test modules name the day ``TODAY`` (Beijing), computed when they are imported; the services compute it
    at each request. A run crossing midnight in Beijing (16:00 UTC) would compare yesterday with today, so each
    test sees the day it starts on."""
    if isinstance(getattr(request.module, "TODAY", None), date):
        request.module.TODAY = today_cn()
