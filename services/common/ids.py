"""Identifiers: time-ordered UUIDs (version 7), so that keyset pagination by id follows creation order."""

from __future__ import annotations

import os
import time
import uuid


def new_id() -> str:
    """A UUIDv7 (RFC 9562) as text: 48 bits of Unix milliseconds, the version, then random bits."""
    millis = time.time_ns() // 1_000_000
    rand = int.from_bytes(os.urandom(10), "big")
    rand_a = rand >> 68  # 12 bits
    rand_b = rand & ((1 << 62) - 1)
    value = (millis & ((1 << 48) - 1)) << 80 | 0x7 << 76 | rand_a << 64 | 0b10 << 62 | rand_b
    return str(uuid.UUID(int=value))


def new_ids(count: int) -> list[str]:
    """``count`` UUIDv7 of this millisecond, for bulk writes: one clock read and one read of random bytes
    instead of one each per id (as with ``new_id``, ids of the same millisecond are in random order)."""
    prefix = ((time.time_ns() // 1_000_000) & ((1 << 48) - 1)) << 80 | 0x7 << 76 | 0b10 << 62
    random = os.urandom(10 * count)
    ids = []
    for i in range(0, 10 * count, 10):
        rand = int.from_bytes(random[i : i + 10], "big")
        h = f"{prefix | (rand >> 68) << 64 | (rand & ((1 << 62) - 1)):032x}"
        ids.append(f"{h[:8]}-{h[8:12]}-{h[12:16]}-{h[16:20]}-{h[20:]}")
    return ids
