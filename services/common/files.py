"""Content-addressed files on local disk: attachments of the registry, evidence of inspections.

A file is streamed to a temporary file under ``<root>/tmp`` while it is hashed, checked, then moved to
``<root>/ab/cd/<sha256>``. The same content has the same address, so storing it twice keeps one file.
Each service names its own errors (its codes are what clients rely on): it passes them in as ``Refusals``.
"""

from __future__ import annotations

import asyncio
import hashlib
import os
import re
from collections.abc import AsyncIterator, Callable
from dataclasses import dataclass
from pathlib import Path
from typing import Any, NamedTuple

from starlette.datastructures import UploadFile

from services.common.ids import new_id

# The first bytes each known type must start with: a declared type that does not match is refused, so a
# script cannot be stored as a "PDF" and served back to a browser as one.
SIGNATURES: dict[str, tuple[bytes, ...]] = {
    "application/pdf": (b"%PDF-",),
    "image/jpeg": (b"\xff\xd8\xff",),
    "image/png": (b"\x89PNG\r\n\x1a\n",),
    "application/vnd.openxmlformats-officedocument.wordprocessingml.document": (b"PK\x03\x04",),
    "application/vnd.openxmlformats-officedocument.spreadsheetml.sheet": (b"PK\x03\x04",),
}
_STORAGE_KEY = re.compile(r"^[0-9a-f]{2}/[0-9a-f]{2}/[0-9a-f]{64}$")
_HEAD = 16
_BUFFER = 1024 * 1024
_STAGING_MADE: set[Path] = set()


@dataclass(frozen=True)
class Refusals:
    """The errors a service raises when it refuses a file (each builds the service's own error)."""

    too_large: Callable[[], Exception]
    empty: Callable[[], Exception]
    content_mismatch: Callable[[str], Exception]  # the declared content type
    digest_mismatch: Callable[[str, str], Exception] | None = None  # (received sha256, expected sha256)


class Received(NamedTuple):
    sha256: str
    size: int
    key: str
    temporary: Path


def storage_key(sha256: str) -> str:
    return f"{sha256[:2]}/{sha256[2:4]}/{sha256}"


def stored_path(root: Path, key: str) -> Path | None:
    """Where a stored key lies under ``root``; None for a key that is not a content address."""
    return root / key if _STORAGE_KEY.match(key) else None


async def chunks_of(upload: UploadFile, size: int) -> AsyncIterator[bytes]:
    while chunk := await upload.read(size):
        yield chunk


async def receive(
    chunks: AsyncIterator[bytes],
    *,
    root: Path,
    content_type: str,
    max_bytes: int,
    refusals: Refusals,
    expected_sha256: str | None = None,
) -> Received:
    """Stream to a temporary file while hashing; refuse one over ``max_bytes``, an empty one, one whose first
    bytes do not match the declared type and one whose SHA-256 is not the expected one. Nothing stays on
    disk when it refuses; otherwise the caller ``keep``s the temporary file or removes it.

    The chunks are hashed and written off the event loop, ``_BUFFER`` bytes at a time: a photo is one
    thread hop (directory, file, hash and bytes together), not one per chunk."""
    staging = root / "tmp"
    if staging not in _STAGING_MADE:  # once per process: the directory a client may look into stays
        await asyncio.to_thread(staging.mkdir, parents=True, exist_ok=True)
        _STAGING_MADE.add(staging)
    temporary = staging / f"{new_id()}.part"
    digest, size, head = hashlib.sha256(), 0, b""
    pending: list[bytes] = []
    pending_bytes, written = 0, False
    try:
        async for chunk in chunks:
            size += len(chunk)
            if size > max_bytes:
                raise refusals.too_large()
            if len(head) < _HEAD:
                head = (head + chunk)[:_HEAD]
            pending.append(chunk)
            pending_bytes += len(chunk)
            if pending_bytes >= _BUFFER:
                await asyncio.to_thread(_write, temporary, digest, pending, not written)
                pending, pending_bytes, written = [], 0, True
        if size == 0:
            raise refusals.empty()
        signatures = SIGNATURES.get(content_type)
        if signatures is not None and not head.startswith(signatures):
            raise refusals.content_mismatch(content_type)
        if pending:
            await asyncio.to_thread(_write, temporary, digest, pending, not written)
            written = True
        sha256 = digest.hexdigest()
        if expected_sha256 is not None and expected_sha256 != sha256:
            assert refusals.digest_mismatch is not None, "an expected SHA-256 needs its refusal"
            raise refusals.digest_mismatch(sha256, expected_sha256)
    except BaseException:
        if written:
            await asyncio.to_thread(temporary.unlink, missing_ok=True)
        raise
    return Received(sha256, size, storage_key(sha256), temporary)


def _write(path: Path, digest: Any, chunks: list[bytes], first: bool) -> None:
    """Hash and append ``chunks`` to ``path`` (created, with its directory, by the first call)."""
    if first:  # (again, should someone have removed it meanwhile)
        path.parent.mkdir(parents=True, exist_ok=True)
    with open(path, "wb" if first else "ab") as out:
        for chunk in chunks:
            digest.update(chunk)  # hashlib lets go of the GIL for chunks this size
            out.write(chunk)


async def keep(root: Path, received: Received) -> None:
    """Move a received file to its content address (an existing file there is already these bytes)."""
    await asyncio.to_thread(_move, received.temporary, root / received.key)


def _move(temporary: Path, target: Path) -> None:
    try:
        target.parent.mkdir(parents=True, exist_ok=True)
        os.replace(temporary, target)
    finally:
        temporary.unlink(missing_ok=True)
