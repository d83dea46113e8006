"""The verifiable random draw every service uses (双随机 in inspection, the sampled exams in exam).

Algorithm ``sha256-rank-v1`` ("sort by hash"): the sort key of a candidate is ``HMAC-SHA256(key = UTF-8(seed),
message = UTF-8(purpose) + 0x00 + UTF-8(candidate id))`` as lower-case hex; candidates are sorted by
``(key, id)`` ascending and the first ``n`` are chosen. The seed, the purpose and the candidate list are
published with the result (the list as the SHA-256 of its canonical JSON), so anyone can re-run it::

    key = lambda c: hmac.new(seed.encode(), f"{purpose}\\x00{c}".encode(), hashlib.sha256).hexdigest()
    drawn = sorted(candidates, key=lambda c: (key(c), c))[:count]
"""

from __future__ import annotations

import hashlib
import hmac
import json
import math
import os
from collections.abc import Iterable
from decimal import Decimal
from typing import Any

ALGORITHM = "sha256-rank-v1"


def new_seed() -> str:
    """A fresh seed from the operating system's randomness (128 bits, hex); it is recorded and published."""
    return os.urandom(16).hex()


def sort_key(seed: str, purpose: str, candidate: str) -> str:
    """The hash a candidate is ranked by (see the module's docstring)."""
    message = purpose.encode() + b"\x00" + candidate.encode()
    return hmac.new(seed.encode(), message, hashlib.sha256).hexdigest()


def rank(seed: str, purpose: str, candidates: Iterable[str]) -> list[str]:
    """The candidates in draw order: ascending by their sort key, ties (never seen) by id.

    The same order as sorting by ``sort_key``, computed from HMAC's inner and outer hash states prepared once
    (RFC 2104), and compared as digests (the hex of a digest sorts as its bytes do): a paper ranks thousands
    of questions per draw, and ``hmac.new`` per candidate takes about twice as long."""
    key = seed.encode()
    if len(key) > _BLOCK:
        key = hashlib.sha256(key).digest()
    key = key.ljust(_BLOCK, b"\0")
    inner = hashlib.sha256(bytes(b ^ 0x36 for b in key))
    inner.update(purpose.encode() + b"\x00")
    outer = hashlib.sha256(bytes(b ^ 0x5C for b in key))
    inner_copy, outer_copy = inner.copy, outer.copy

    def digest(candidate: str) -> bytes:
        first = inner_copy()
        first.update(candidate.encode())
        second = outer_copy()
        second.update(first.digest())
        return second.digest()

    return sorted(candidates, key=lambda candidate: (digest(candidate), candidate))


_BLOCK = 64  # SHA-256's block size, HMAC's key length


def draw_count(ratio: float, population: int) -> int:
    """How many of ``population`` a ``ratio`` draws: rounded up in decimal (0.1 × 30 is 3, not 4), so any
    ratio above 0 draws at least one when there is one (抽查比例 is a minimum)."""
    if not 0 <= ratio <= 1:
        raise ValueError(f"ratio must lie in [0, 1]: {ratio}")
    if population < 0:
        raise ValueError(f"population must not be negative: {population}")
    return min(population, math.ceil(Decimal(str(ratio)) * population))


def canonical_digest(recorded: Any) -> str:
    """SHA-256 of the canonical JSON (sorted keys, no spaces, UTF-8) of a draw's recorded inputs."""
    canonical = json.dumps(recorded, ensure_ascii=False, sort_keys=True, separators=(",", ":"))
    return hashlib.sha256(canonical.encode()).hexdigest()
