"""The gateway's cache of verified tokens."""

from __future__ import annotations

import asyncio

import pytest

from gateway.identity import IdentityCache
from services.common.auth import Caller, issue_token
from services.common.errors import Unauthorized
from services.common.internal_keys import new_pair, private_key

pytestmark = pytest.mark.asyncio


async def test_a_cached_identity_ends_with_its_token() -> None:
    """The cache spares verifying a token on every request, but never past the token's own expiry."""
    identities = IdentityCache("s" * 32, private_key(new_pair()[0]))
    token = issue_token(Caller("wenshui", "regulator", "141121"), "s" * 32, ttl_seconds=1)
    identities.caller(f"Bearer {token}")
    await asyncio.sleep(1.1)
    with pytest.raises(Unauthorized):
        identities.caller(f"Bearer {token}")
