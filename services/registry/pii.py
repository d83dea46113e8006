"""Personal data (ID numbers, phones): stored encrypted, looked up by a keyed hash, shown masked.

The key comes from ``QSR_PII_KEY`` (refused as a placeholder in production). Encryption is Fernet
(AES-128-CBC with HMAC-SHA256) from ``cryptography``; the lookup hash is HMAC-SHA256 under a key derived
apart, so the stored hash cannot be reversed by hashing every possible ID number without the key.
"""

from __future__ import annotations

import base64
import hashlib
import hmac
from collections.abc import Sequence
from functools import lru_cache

from cryptography.fernet import Fernet

from services.common.auth import Caller
from services.common.settings import Settings


def _derive(secret: str, purpose: bytes) -> bytes:
    return hmac.new(secret.encode(), purpose, hashlib.sha256).digest()


class Vault:
    def __init__(self, secret: str) -> None:
        self._fernet = Fernet(base64.urlsafe_b64encode(_derive(secret, b"qsr-pii-encryption")))
        self._hash_key = _derive(secret, b"qsr-pii-lookup")

    def seal(self, value: str | None) -> str | None:
        return None if value is None else self._fernet.encrypt(value.encode()).decode()

    def seal_many(self, values: Sequence[str]) -> list[str]:
        """``seal`` of many values (an import's phones), by the cryptography library's own Fernet: a
        hand-made token would be faster, but hand-written cryptography is not ours to keep."""
        encrypt = self._fernet.encrypt
        return [encrypt(value.encode()).decode() for value in values]

    def open(self, token: str | None) -> str | None:
        return None if token is None else self._fernet.decrypt(token.encode()).decode()

    def lookup_hash(self, value: str) -> str:
        return hmac.new(self._hash_key, value.strip().upper().encode(), hashlib.sha256).hexdigest()


@lru_cache(maxsize=8)
def vault_for(secret: str) -> Vault:
    return Vault(secret)


def vault(settings: Settings) -> Vault:
    return vault_for(settings.pii_key)


def may_read_pii(caller: Caller, settings: Settings) -> bool:
    return caller.role in settings.pii_roles


def mask_id_number(value: str | None) -> str | None:
    """110101199003071234 → 1101**********1234."""
    if value is None:
        return None
    keep = 4 if len(value) > 8 else 1
    return value[:keep] + "*" * (len(value) - 2 * keep) + value[-keep:]


def mask_phone(value: str | None) -> str | None:
    """13812345678 → 138****5678."""
    if value is None:
        return None
    if len(value) <= 7:
        return value[:1] + "*" * (len(value) - 1)
    return value[:3] + "*" * (len(value) - 7) + value[-4:]


def show(value: str | None, *, caller: Caller, settings: Settings, mask=mask_phone) -> str | None:  # type: ignore[no-untyped-def]
    """The value as this caller may see it."""
    return value if may_read_pii(caller, settings) else mask(value)
