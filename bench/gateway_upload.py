"""A large attachment uploaded through the gateway: what it costs the gateway's memory, and how fast it goes.

Starts nats-server, registry and the gateway as processes (as ``qsr up`` does), enters one unit, then uploads
one attachment of ``--mib`` MiB (default 800; a PDF by its first bytes, generated on the fly, never on disk on
this side) to ``POST /api/v1/registry/enterprises/{id}/attachments`` as multipart/form-data with a declared
length, and prints the peak RSS (VmHWM) of the gateway and registry processes against theirs before, the
time and MB/s, and registry's answer (size and SHA-256, checked against what was sent). ``--direct`` uploads
the same once more straight to registry, for the rate without the gateway.

Registry's attachment limit is raised to fit (QSR_ATTACHMENT_MAX_BYTES); the gateway's own limit
(QSR_GATEWAY_MAX_BODY_BYTES, 1 GiB) is left as it is. After the body, registry copies the file from its
multipart spool to its content address before it answers, which takes seconds at this size, so the
gateway's upstream timeout is raised too (QSR_UPSTREAM_TIMEOUT_SECONDS=120).
"""

from __future__ import annotations

import argparse
import asyncio
import hashlib
import os
import time
from collections.abc import AsyncIterator
from pathlib import Path

import httpx

from bench.common import command_line, machine, start_system
from services.common.auth import Caller, issue_identity
from services.common.settings import Settings

UNIT = {
    "uscc": "91110000600037341L",
    "name": "基准测试单位",
    "kind": "production",
    "region_code": "141121",
    "employees": 25,
    "revenue_wan_yuan": 1500,
    "entry_reason": "survey",
}
BOUNDARY = "qsr-bench-upload-boundary"
BLOCK = 1024 * 1024


def _status(pid: int, field: str) -> int:
    """A VmHWM / VmRSS line of /proc/<pid>/status, in bytes."""
    for line in Path(f"/proc/{pid}/status").read_text().splitlines():
        if line.startswith(field + ":"):
            return int(line.split()[1]) * 1024
    raise KeyError(field)


def _mib(value: int) -> str:
    return f"{value / 1024 / 1024:,.0f} MiB"


class Attachment:
    """A multipart body of one file part of ``size`` bytes, made as it is sent (and hashed on the way)."""

    def __init__(self, size: int) -> None:
        self.size = size
        self.head = (
            f"--{BOUNDARY}\r\n"
            'Content-Disposition: form-data; name="file"; filename="benchmark.pdf"\r\n'
            "Content-Type: application/pdf\r\n\r\n"
        ).encode()
        self.tail = f"\r\n--{BOUNDARY}--\r\n".encode()
        self.length = len(self.head) + size + len(self.tail)
        self.sha256 = ""
        self.last_sent_at = 0.0

    async def chunks(self) -> AsyncIterator[bytes]:
        digest = hashlib.sha256()
        yield self.head
        sent = 0
        while sent < self.size:
            # Every block differs from the one before it, so that nothing upstream can fold repeats.
            block = (b"%%PDF-1.7 %d " % sent).ljust(BLOCK, b"\x00")[: min(BLOCK, self.size - sent)]
            digest.update(block)
            sent += len(block)
            yield block
        yield self.tail
        self.sha256 = digest.hexdigest()
        self.last_sent_at = time.monotonic()


async def upload(
    client: httpx.AsyncClient, path: str, headers: dict[str, str], size: int
) -> tuple[float, float]:
    """Seconds for the whole upload and, of those, seconds from its last byte to registry's answer."""
    attachment = Attachment(size)
    started = time.monotonic()
    response = await client.post(
        path,
        content=attachment.chunks(),
        headers={
            **headers,
            "Content-Type": f"multipart/form-data; boundary={BOUNDARY}",
            "Content-Length": str(attachment.length),
        },
    )
    finished = time.monotonic()
    assert response.status_code == 201, response.text
    stored = response.json()
    assert (stored["size"], stored["sha256"]) == (size, attachment.sha256), stored
    return finished - started, finished - attachment.last_sent_at


async def main(mib: int, direct: bool) -> None:
    size = mib * 1024 * 1024
    os.environ["QSR_ATTACHMENT_MAX_BYTES"] = str(size + BLOCK)
    os.environ["QSR_UPSTREAM_TIMEOUT_SECONDS"] = "120"
    system = start_system(["registry", "gateway"])
    try:
        gateway_pid = system.processes["gateway"].pid
        registry_pid = system.processes["registry"].pid
        async with httpx.AsyncClient(base_url=system.url("gateway"), timeout=300) as client:
            login = await client.post("/auth/token", json={"username": "wenshui", "password": "demo"})
            bearer = {"Authorization": f"Bearer {login.json()['access_token']}"}
            unit = (await client.post("/api/v1/registry/enterprises", headers=bearer, json=UNIT)).json()
            before = {
                name: _status(pid, "VmRSS")
                for name, pid in (("gateway", gateway_pid), ("registry", registry_pid))
            }
            seconds, answer = await upload(
                client, f"/api/v1/registry/enterprises/{unit['id']}/attachments", bearer, size
            )
        peak = {
            name: _status(pid, "VmHWM")
            for name, pid in (("gateway", gateway_pid), ("registry", registry_pid))
        }
        print(f"command: {command_line()}")
        print(f"machine: {machine()}; one upload of {mib} MiB (multipart, Content-Length declared), SQLite")
        print(
            f"through the gateway: {seconds:.1f} s, {mib / seconds:,.0f} MiB/s "
            f"({answer:.1f} s of it after the last byte: registry storing the file)"
        )
        print(
            f"peak RSS: gateway {_mib(peak['gateway'])} (before the upload {_mib(before['gateway'])}), "
            f"registry {_mib(peak['registry'])} (before {_mib(before['registry'])})"
        )
        if direct:
            caller = Caller(username="wenshui", role="regulator", region_code="141121")
            internal = issue_identity(caller, Settings().internal_signer)
            async with httpx.AsyncClient(base_url=system.url("registry"), timeout=300) as client:
                seconds, answer = await upload(
                    client, f"/enterprises/{unit['id']}/attachments", {"x-qsr-identity": internal}, size
                )
            print(
                f"straight to registry: {seconds:.1f} s, {mib / seconds:,.0f} MiB/s ({answer:.1f} s after the last byte)"
            )
    finally:
        system.shutdown()


if __name__ == "__main__":
    parser = argparse.ArgumentParser(
        description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter
    )
    parser.add_argument("--mib", type=int, default=800, help="attachment size in MiB")
    parser.add_argument("--direct", action="store_true", help="also upload it straight to registry")
    args = parser.parse_args()
    asyncio.run(main(args.mib, args.direct))
