from __future__ import annotations

from collections.abc import AsyncIterator, Iterator
from pathlib import Path

import pytest
import pytest_asyncio

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
