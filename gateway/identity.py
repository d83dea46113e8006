"""Turns a user's bearer token into the short-lived identity the services trust, with a small cache so
the hot path does not verify and sign on every request."""

from __future__ import annotations

import time

import jwt
from cryptography.hazmat.primitives.asymmetric.ed25519 import Ed25519PrivateKey

from services.common.auth import INTERNAL_TTL_SECONDS, Caller, issue_identity, read_token
from services.common.errors import Unauthorized


class IdentityCache:
    MAX_ENTRIES = 10_000

    def __init__(self, secret_key: str, signer: Ed25519PrivateKey) -> None:
        self.secret_key = secret_key
        self.signer = signer  # the internal identity's Ed25519 key, which only the gateway holds
        self._cache: dict[str, tuple[Caller, str, float]] = {}

    def caller(self, authorization: str | None) -> tuple[Caller, str]:
        """The caller and its internal identity token, from an ``Authorization: Bearer …`` header."""
        if not authorization or not authorization[:7].lower() == "bearer ":
            raise Unauthorized("请先登录：请求须携带 Authorization: Bearer <token>")
        token = authorization[7:].strip()
        now = time.monotonic()
        hit = self._cache.get(token)
        if hit is not None and hit[2] > now:
            return hit[0], hit[1]
        caller = read_token(token, self.secret_key)  # raises Unauthorized when invalid or expired
        internal = issue_identity(caller, self.signer)
        if len(self._cache) >= self.MAX_ENTRIES:
            self._cache.clear()
        # Re-verify well before the internal token expires, and never past the user token's own expiry: a
        # cached answer must not let an expired token through. (Its signature was verified just above.)
        expires = jwt.decode(token, options={"verify_signature": False})["exp"]
        until = min(now + INTERNAL_TTL_SECONDS / 2, now + (expires - time.time()))
        self._cache[token] = (caller, internal, until)
        return caller, internal
