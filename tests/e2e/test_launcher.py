"""``qsr up`` as a user runs it: it starts everything, says where, and stops without leaving a process."""

from __future__ import annotations

import os
import signal
import subprocess
import sys
import time
from pathlib import Path

import httpx
import pytest

from services.common.settings import SERVICES
from tests.harness import free_port

pytestmark = pytest.mark.e2e


def _descendants(pid: int) -> set[int]:
    found: set[int] = set()
    pending = [pid]
    while pending:
        current = pending.pop()
        try:
            children = Path(f"/proc/{current}/task/{current}/children").read_text().split()
        except OSError:
            continue
        for child in map(int, children):
            found.add(child)
            pending.append(child)
    return found


def _alive(pid: int) -> bool:
    try:
        state = Path(f"/proc/{pid}/stat").read_text().split(")")[-1].split()[0]
    except OSError:
        return False
    return state != "Z"


@pytest.mark.parametrize("stop_signal", [signal.SIGTERM, signal.SIGINT])
def test_qsr_up_runs_everything_and_stops_cleanly(tmp_path: Path, stop_signal: signal.Signals) -> None:
    gateway_port = free_port()
    env = {
        **os.environ,
        "QSR_DATA_DIR": str(tmp_path / "var"),
        "QSR_GATEWAY_PORT": str(gateway_port),
        "QSR_EMBEDDED_NATS_PORT": str(free_port()),
        **{f"QSR_{s.upper()}_URL": f"http://127.0.0.1:{free_port()}" for s in SERVICES},
    }
    env.pop("QSR_NATS_URL", None)
    env.pop("QSR_DATABASE_URL", None)
    launcher = subprocess.Popen(
        [sys.executable, "-m", "services.common.launcher", "up"],
        env=env,
        stdout=subprocess.PIPE,
        stderr=subprocess.STDOUT,
        text=True,
    )
    assert launcher.stdout is not None
    printed: list[str] = []
    deadline = time.monotonic() + 90
    for line in launcher.stdout:
        printed.append(line)
        if "Press Ctrl-C" in line or time.monotonic() > deadline:
            break
    output = "".join(printed)
    assert f"http://127.0.0.1:{gateway_port}" in output, output
    assert "wenshui" in output and "(embedded)" in output
    ready = httpx.get(f"http://127.0.0.1:{gateway_port}/readyz", timeout=5)
    assert ready.status_code == 200 and ready.json()["status"] == "ready"
    assert (tmp_path / "var" / "registry.db").exists()  # SQLite under the data directory by default

    children = _descendants(launcher.pid)
    assert len(children) >= 7  # nats-server, five services, the gateway
    launcher.send_signal(stop_signal)
    assert launcher.wait(30) == 0
    rest = launcher.stdout.read()
    assert "stopped." in rest
    time.sleep(0.2)
    assert [pid for pid in children if _alive(pid)] == []
