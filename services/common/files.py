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
from typing import NamedTuple

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
    disk when it refuses; otherwise the caller ``keep``s the temporary file or removes it."""
    staging = root / "tmp"
    await asyncio.to_thread(staging.mkdir, parents=True, exist_ok=True)
    temporary = staging / f"{new_id()}.part"
    digest, size, head = hashlib.sha256(), 0, b""
    try:
        with await asyncio.to_thread(open, temporary, "wb") as out:
            async for chunk in chunks:
                size += len(chunk)
                if size > max_bytes:
                    raise refusals.too_large()
                if len(head) < _HEAD:
                    head = (head + chunk)[:_HEAD]
                digest.update(chunk)
                await asyncio.to_thread(out.write, chunk)
        if size == 0:
            raise refusals.empty()
        signatures = SIGNATURES.get(content_type)
        if signatures is not None and not head.startswith(signatures):
            raise refusals.content_mismatch(content_type)
        sha256 = digest.hexdigest()
        if expected_sha256 is not None and expected_sha256 != sha256:
            assert refusals.digest_mismatch is not None, "an expected SHA-256 needs its refusal"
            raise refusals.digest_mismatch(sha256, expected_sha256)
    except BaseException:
        await asyncio.to_thread(temporary.unlink, missing_ok=True)
        raise
    return Received(sha256, size, storage_key(sha256), temporary)


async def keep(root: Path, received: Received) -> None:
    """Move a received file to its content address (an existing file there is already these bytes)."""
    target = root / received.key
    try:
        await asyncio.to_thread(target.parent.mkdir, parents=True, exist_ok=True)
        await asyncio.to_thread(os.replace, received.temporary, target)
    finally:
        await asyncio.to_thread(received.temporary.unlink, missing_ok=True)
