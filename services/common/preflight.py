"""What ``qsr up`` checks before it starts anything: every problem at once, one Chinese line each.

The settings themselves (``Settings``: types, ranges, secrets, URLs, rate limits, proxies, directories), then
what only the whole system shows: the policy packs load (grading would refuse them at its start), the region
table named by QSR_REGION_TABLE is readable, and the ports ``qsr up`` would listen on are given, distinct and
free. Nothing here starts a process, opens a database or writes a file.
"""

from __future__ import annotations

import csv
import errno
import os
import socket
from collections.abc import Mapping
from pathlib import Path
from urllib.parse import urlsplit

from services.common.policy import PACKS_DIR, PackError, load_packs
from services.common.settings import MISSING_SIGNING_KEY, SERVICES, InvalidSettings, Settings, read_settings

_REGION_COLUMNS = {"code", "name", "level", "parent_code"}


def check(env: Mapping[str, str]) -> tuple[Settings | None, list[str]]:
    """The settings ``qsr up`` would run with (None when they are invalid) and every problem found."""
    problems = _region_table(env.get("QSR_REGION_TABLE"))
    # ``qsr up`` runs the gateway, so it needs the signing key that a service's own settings do not ask for.
    if (
        env.get("QSR_ENV", "development") != "development"
        and not env.get("QSR_INTERNAL_SIGNING_KEY", "").strip()
    ):
        problems.append(f"QSR_INTERNAL_SIGNING_KEY：{MISSING_SIGNING_KEY}。")
    if env.get("QSR_ENV") == "production" and env.get("QSR_FAILPOINTS", "").strip():
        problems.append("QSR_FAILPOINTS：仅供崩溃测试注入故障，生产环境不得设置。请删去该变量。")
    try:
        settings = read_settings()
    except InvalidSettings as exc:
        return None, [*exc.problems, *problems]
    problems += _key_pair(settings)
    try:
        load_packs(settings.grading_packs_dir or PACKS_DIR)
    except PackError as exc:
        problems.append(
            f"QSR_GRADING_PACKS_DIR：规则包有误：{exc}。请改正该文件，或删去该变量以用自带的规则包。"
        )
    return settings, [*problems, *_ports(settings, embedded_nats=not env.get("QSR_NATS_URL"))]


def _key_pair(settings: Settings) -> list[str]:
    """The gateway's public key must be among those the services accept, or every request is refused."""
    if not settings.internal_signing_key.strip() or not settings.internal_public_key.strip():
        return []
    public = settings.internal_signer.public_key().public_bytes_raw()
    if any(key.public_bytes_raw() == public for key in settings.internal_verify_keys):
        return []
    return [
        "QSR_INTERNAL_PUBLIC_KEY：不含 QSR_INTERNAL_SIGNING_KEY 对应的公钥，服务将拒绝网关签发的每个身份凭证。"
        "请用 openssl pkey -in 私钥.pem -pubout 导出公钥并列入。"
    ]


def _region_table(value: str | None) -> list[str]:
    if not value:
        return []
    path = Path(value)
    if not path.is_file() or not os.access(path, os.R_OK):
        return [
            f"QSR_REGION_TABLE：{value!r} 不是可读的文件。请指向 GB/T 2260 区划表（CSV），或删去它以用自带的表。"
        ]
    with path.open(encoding="utf-8", newline="") as handle:
        columns = set(next(csv.reader(handle), []))
    if missing := sorted(_REGION_COLUMNS - columns):
        return [
            f"QSR_REGION_TABLE：{value!r} 缺少列 {', '.join(missing)}。"
            "请使用与自带区划表相同的列（code, name, level, parent_code）。"
        ]
    return []


def _ports(settings: Settings, *, embedded_nats: bool) -> list[str]:
    """The ports ``qsr up`` listens on: each named, none twice, none already taken."""
    problems: list[str] = []
    wanted: dict[str, tuple[str, str, int]] = {
        "gateway": ("QSR_GATEWAY_PORT", settings.gateway_host, settings.gateway_port)
    }
    if embedded_nats:
        wanted["NATS"] = ("QSR_EMBEDDED_NATS_PORT", "127.0.0.1", settings.embedded_nats_port)
    for service in SERVICES:
        variable, url = f"QSR_{service.upper()}_URL", settings.upstream_url(service)
        port = urlsplit(url).port
        if port is None:
            problems.append(
                f"{variable}：{url!r} 没有写明端口，qsr up 在该端口上启动 {service}。请写成 http://127.0.0.1:端口。"
            )
        else:
            wanted[service] = (variable, "127.0.0.1", port)
    users: dict[int, list[str]] = {}
    for name, (variable, _host, port) in wanted.items():
        users.setdefault(port, []).append(f"{name}（{variable}）")
    for port, names in users.items():
        if len(names) > 1:
            problems.append(f"端口 {port} 同时给了 {'、'.join(names)}。请给每个进程不同的端口。")
    for name, (variable, host, port) in wanted.items():
        if len(users[port]) == 1 and (wrong := _cannot_listen(host, port)):
            problems.append(
                f"{variable}：{host}:{port} {wrong}，{name} 无法监听。请停止占用它的进程，或改用其他端口。"
            )
    return problems


def _cannot_listen(host: str, port: int) -> str | None:
    with socket.socket(socket.AF_INET6 if ":" in host else socket.AF_INET) as sock:
        # As uvicorn binds: a port left in TIME_WAIT by a stopped system is free.
        sock.setsockopt(socket.SOL_SOCKET, socket.SO_REUSEADDR, 1)
        try:
            sock.bind((host, port))
        except OSError as exc:
            return "已被占用" if exc.errno == errno.EADDRINUSE else f"不可用（{exc.strerror or exc}）"
    return None
