from __future__ import annotations

from collections.abc import Iterator
from pathlib import Path

import pytest

from services.common.launcher import System
from tests.harness import whole_system


@pytest.fixture
def system(tmp_path: Path, database_url: str) -> Iterator[System]:
    """The whole system as ``qsr up`` runs it: nats-server, five services and the gateway, each a process."""
    running = whole_system(tmp_path, database_url)
    try:
        running.start(timeout=90)
        yield running
    finally:
        running.shutdown()
