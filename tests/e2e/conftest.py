from __future__ import annotations

from collections.abc import Iterator
from pathlib import Path

import pytest

from services.common.launcher import System
from services.common.settings import SERVICES
from tests.harness import free_port


@pytest.fixture
def system(tmp_path: Path, database_url: str) -> Iterator[System]:
    """The whole system as ``qsr up`` runs it: nats-server, five services and the gateway, each a process."""
    ports = {name: free_port() for name in (*SERVICES, "gateway")}
    env = {
        "PATH": "/usr/bin:/bin",
        "QSR_ENV": "development",
        "QSR_DATA_DIR": str(tmp_path),
        "QSR_DATABASE_URL": database_url,
        "QSR_ACK_WAIT_SECONDS": "2",
        **{f"QSR_{s.upper()}_URL": f"http://127.0.0.1:{ports[s]}" for s in SERVICES},
    }
    nats_port = free_port()
    env["QSR_NATS_URL"] = f"nats://127.0.0.1:{nats_port}"
    running = System(data_dir=tmp_path, env=env, ports=ports, nats_port=nats_port)
    try:
        running.start(timeout=90)
        yield running
    finally:
        running.shutdown()
