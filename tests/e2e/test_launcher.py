"""``qsr up`` as a user runs it: it checks the settings first, starts everything, says where and how to log in,
and stops without leaving a process."""

from __future__ import annotations

import os
import re
import signal
import socket
import subprocess
import sys
import time
from pathlib import Path

import httpx
import pytest

from gateway.accounts import DEMO_ACCOUNTS
from gateway.proxy import KEEPALIVE_SECONDS
from services.common.internal_keys import new_pair
from services.common.settings import SERVICES
from tests.harness import free_port

PRIVATE, PUBLIC = new_pair()

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


def _env(tmp_path: Path, **settings: str) -> dict[str, str]:
    """A system of its own: free ports, SQLite and JetStream under ``tmp_path / "var"``."""
    env = {
        **os.environ,
        "QSR_DATA_DIR": str(tmp_path / "var"),
        "QSR_GATEWAY_PORT": str(free_port()),
        "QSR_EMBEDDED_NATS_PORT": str(free_port()),
        **{f"QSR_{s.upper()}_URL": f"http://127.0.0.1:{free_port()}" for s in SERVICES},
        **settings,
    }
    for inherited in (
        "QSR_NATS_URL",
        "QSR_DATABASE_URL",
        "QSR_SECRET_KEY",
        "QSR_INTERNAL_SIGNING_KEY",
        "QSR_INTERNAL_PUBLIC_KEY",
        "QSR_PII_KEY",
    ):
        if inherited not in settings:
            env.pop(inherited, None)
    return env


def _ports(env: dict[str, str]) -> list[int]:
    return [
        int(env["QSR_GATEWAY_PORT"]),
        int(env["QSR_EMBEDDED_NATS_PORT"]),
        *(int(env[f"QSR_{s.upper()}_URL"].rsplit(":", 1)[1]) for s in SERVICES),
    ]


def _listening(port: int) -> bool:
    with socket.socket() as sock:
        return sock.connect_ex(("127.0.0.1", port)) == 0


def _processes_naming(text: str) -> list[int]:
    found = []
    for entry in Path("/proc").iterdir():
        try:
            if entry.name.isdigit() and text in (entry / "cmdline").read_text(errors="replace"):
                found.append(int(entry.name))
        except OSError:
            continue
    return found


def _run_up(env: dict[str, str], timeout: float = 60) -> subprocess.CompletedProcess[str]:
    """``qsr up`` to its end (it is expected to refuse or fail): its exit code and what it printed."""
    return subprocess.run(
        [sys.executable, "-m", "services.common.launcher", "up"],
        env=env,
        capture_output=True,
        text=True,
        timeout=timeout,
    )


def _refused(tmp_path: Path, env: dict[str, str]) -> list[str]:
    """Runs ``qsr up`` expecting it to refuse its settings: the problems it printed, after checking that it
    answered within seconds and left nothing behind."""
    began = time.monotonic()
    result = _run_up(env)
    assert time.monotonic() - began < 15, "the settings are checked before anything is waited for"
    assert result.returncode == 2, (result.stdout, result.stderr)
    assert "启动中" not in result.stdout  # it never began to start
    assert not (tmp_path / "var").exists()  # no log file, no JetStream store, no database
    assert [port for port in _ports(env) if _listening(port)] == []
    assert _processes_naming(str(tmp_path)) == []  # no nats-server (its store would be under tmp_path)
    lines = result.stderr.splitlines()
    assert lines[0].startswith("QSR 未启动"), result.stderr
    return [line.strip() for line in lines[1:]]


def _variables(problems: list[str]) -> list[str]:
    return [problem.split("：", 1)[0] for problem in problems]


def test_a_production_start_without_two_secrets_and_the_signing_key_names_each_and_starts_nothing(
    tmp_path: Path,
) -> None:
    env = _env(tmp_path, QSR_ENV="production", QSR_INTERNAL_PUBLIC_KEY=PUBLIC)
    problems = _refused(tmp_path, env)
    assert _variables(problems) == ["QSR_SECRET_KEY", "QSR_PII_KEY", "QSR_INTERNAL_SIGNING_KEY"], problems
    assert all("32 个字符" in problem for problem in problems[:2])  # what to do
    assert "openssl genpkey -algorithm ed25519" in problems[2]


def test_an_invalid_value_and_a_missing_secret_are_both_reported(tmp_path: Path) -> None:
    env = _env(
        tmp_path,
        QSR_ENV="production",
        QSR_SECRET_KEY="s" * 40,
        QSR_INTERNAL_SIGNING_KEY=PRIVATE,
        QSR_INTERNAL_PUBLIC_KEY=PUBLIC,
        QSR_RATE_LIMIT_LOGIN="ten a minute",
        QSR_REPLICAS="0",
    )
    problems = _refused(tmp_path, env)
    assert sorted(_variables(problems)) == ["QSR_PII_KEY", "QSR_RATE_LIMIT_LOGIN", "QSR_REPLICAS"], problems


def test_a_port_already_taken_is_reported_before_anything_starts(tmp_path: Path) -> None:
    env = _env(tmp_path, QSR_ENV="development")
    with socket.socket() as taken:
        taken.bind(("127.0.0.1", int(env["QSR_GATEWAY_PORT"])))
        taken.listen()
        began = time.monotonic()
        result = _run_up(env)
    assert time.monotonic() - began < 15 and result.returncode == 2, result.stderr
    [problem] = result.stderr.splitlines()[1:]
    assert problem.strip().startswith("QSR_GATEWAY_PORT：") and "已被占用" in problem
    assert not (tmp_path / "var").exists()


@pytest.mark.parametrize("module", ["services.exam.app:app", "gateway.app:app"])
def test_a_process_started_on_its_own_refuses_bad_settings_naming_each(tmp_path: Path, module: str) -> None:
    """As in an image: no ``qsr up`` in front, the process itself refuses, every problem in its log."""
    env = _env(tmp_path, QSR_ENV="production", QSR_SECRET_KEY="s" * 40, QSR_MAX_DELIVER="none")
    result = subprocess.run(
        [sys.executable, "-m", "uvicorn", module, "--port", str(free_port())],
        env=env,
        capture_output=True,
        text=True,
        timeout=60,
    )
    assert result.returncode != 0
    log = result.stderr
    assert (
        "QSR_INTERNAL_PUBLIC_KEY：" in log
        and "QSR_PII_KEY：" in log
        and "QSR_MAX_DELIVER：'none' 不是整数" in log
    )
    assert "QSR_SECRET_KEY：" not in log and "s" * 40 not in log  # the one set is fine, and never echoed


def test_a_process_that_dies_during_start_up_is_explained_on_the_terminal(tmp_path: Path) -> None:
    """Settings that pass but a database that does not answer: the reason is printed, not only its log's name."""
    nobody = free_port()
    env = _env(tmp_path, QSR_DATABASE_URL=f"postgresql+asyncpg://postgres@127.0.0.1:{nobody}/qsr_{{service}}")
    result = _run_up(env, timeout=120)
    assert result.returncode == 1, result.stderr
    assert "exited with code" in result.stderr and "the last lines of" in result.stderr
    assert "ConnectionRefusedError" in result.stderr  # the log's own last words
    assert "stopped." in result.stdout


def _keep_alive(pid: int) -> float | None:
    """The ``--timeout-keep-alive`` a uvicorn process was started with (None for another process)."""
    try:
        args = Path(f"/proc/{pid}/cmdline").read_bytes().decode().split("\0")
    except OSError:
        return None
    if "uvicorn" not in args:
        return None
    return float(args[args.index("--timeout-keep-alive") + 1]) if "--timeout-keep-alive" in args else 5.0


def _start(env: dict[str, str]) -> tuple[subprocess.Popen[str], str]:
    """``qsr up`` until its banner is printed: the process and what it printed."""
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
    return launcher, "".join(printed)


@pytest.mark.parametrize("stop_signal", [signal.SIGTERM, signal.SIGINT])
def test_qsr_up_runs_everything_and_stops_cleanly(tmp_path: Path, stop_signal: signal.Signals) -> None:
    env = _env(tmp_path)
    gateway_port = int(env["QSR_GATEWAY_PORT"])
    launcher, output = _start(env)
    assert launcher.stdout is not None
    assert f"http://127.0.0.1:{gateway_port}" in output, output
    assert "(embedded)" in output
    # Development: the banner lists every demo account, the ones the gateway logs in.
    assert all(f"{account} (" in output for account in DEMO_ACCOUNTS), output
    ready = httpx.get(f"http://127.0.0.1:{gateway_port}/readyz", timeout=5)
    assert ready.status_code == 200 and ready.json()["status"] == "ready"
    assert (tmp_path / "var" / "registry.db").exists()  # SQLite under the data directory by default
    # Each process's own lines reach its log, with time, level and origin (not only uvicorn's).
    registry_log = (tmp_path / "var" / "logs" / "registry.log").read_text(encoding="utf-8")
    assert re.search(r"^\d{4}-\d\d-\d\d [\d:,]+ INFO qsr\.db registry: database migrated", registry_log, re.M)

    children = _descendants(launcher.pid)
    assert len(children) >= 7  # nats-server, five services, the gateway
    # Every service keeps an idle connection longer than the gateway's pool does, so that the gateway never
    # reuses one the service is closing (which failed as a 502 under the exam benchmark).
    keep_alive = [_keep_alive(pid) for pid in children if _keep_alive(pid) is not None]
    assert len(keep_alive) >= 6 and min(keep_alive) > KEEPALIVE_SECONDS, keep_alive
    launcher.send_signal(stop_signal)
    assert launcher.wait(30) == 0
    rest = launcher.stdout.read()
    assert "stopped." in rest
    time.sleep(0.2)
    assert [pid for pid in children if _alive(pid)] == []


def test_a_production_banner_lists_no_demo_account_and_says_how_log_in_stands(tmp_path: Path) -> None:
    secrets = {
        "QSR_SECRET_KEY": "s" * 40,
        "QSR_INTERNAL_SIGNING_KEY": PRIVATE,
        "QSR_INTERNAL_PUBLIC_KEY": PUBLIC,
        "QSR_PII_KEY": "p" * 40,
    }
    env = _env(tmp_path, QSR_ENV="production", **secrets)
    gateway = f"http://127.0.0.1:{env['QSR_GATEWAY_PORT']}"
    launcher, output = _start(env)
    try:
        assert "Press Ctrl-C" in output, output
        assert "没有内置账户" in output, output
        assert [account for account in DEMO_ACCOUNTS if account in output] == []
        assert "demo accounts" not in output
        # As the banner says: the demo accounts do not log in here.
        login = httpx.post(
            f"{gateway}/auth/token", json={"username": "wenshui", "password": "demo"}, timeout=5
        )
        assert login.status_code == 401
    finally:
        launcher.send_signal(signal.SIGTERM)
        assert launcher.wait(30) == 0
