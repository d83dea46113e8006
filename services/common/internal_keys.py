"""The Ed25519 keys of the internal identity: the gateway signs ``X-QSR-Identity`` with the private key, the
services verify it with the public key(s) only, so no service can mint an identity for another.

``QSR_INTERNAL_PUBLIC_KEY`` holds one or more PEM public keys one after the other: during a rotation both the
old and the new key are listed, and an identity signed with either is accepted. In development, with neither
key set, a pair is generated once into ``{data_dir}/keys`` (the private key mode 0600) and used by every
process of that data directory.
"""

from __future__ import annotations

import os
import re
from functools import lru_cache
from pathlib import Path

from cryptography.hazmat.primitives import serialization
from cryptography.hazmat.primitives.asymmetric.ed25519 import Ed25519PrivateKey, Ed25519PublicKey

PRIVATE_FILE, PUBLIC_FILE = "internal.pem", "internal.pub.pem"
_PEM_BLOCK = re.compile(r"-----BEGIN ([A-Z ]+)-----.+?-----END \1-----", re.DOTALL)


@lru_cache(maxsize=16)
def private_key(pem: str) -> Ed25519PrivateKey:
    """The signing key in ``pem`` (ValueError when it is not one Ed25519 private key)."""
    try:
        key = serialization.load_pem_private_key(pem.strip().encode(), password=None)
    except (ValueError, TypeError) as exc:
        raise ValueError("not a PEM private key") from exc
    if not isinstance(key, Ed25519PrivateKey):
        raise ValueError("not an Ed25519 key")
    return key


@lru_cache(maxsize=16)
def public_keys(pem: str) -> tuple[Ed25519PublicKey, ...]:
    """Every public key in ``pem``, in order (ValueError when there is none or one is not Ed25519)."""
    blocks = [match.group(0) for match in _PEM_BLOCK.finditer(pem)]
    if not blocks:
        raise ValueError("no PEM block")
    keys = []
    for block in blocks:
        try:
            key = serialization.load_pem_public_key(block.encode())
        except ValueError as exc:
            raise ValueError("not a PEM public key") from exc
        if not isinstance(key, Ed25519PublicKey):
            raise ValueError("not an Ed25519 key")
        keys.append(key)
    return tuple(keys)


def public_pem(key: Ed25519PrivateKey) -> str:
    return (
        key.public_key()
        .public_bytes(serialization.Encoding.PEM, serialization.PublicFormat.SubjectPublicKeyInfo)
        .decode()
    )


def new_pair() -> tuple[str, str]:
    """A fresh (private PEM, public PEM)."""
    key = Ed25519PrivateKey.generate()
    private = key.private_bytes(
        serialization.Encoding.PEM, serialization.PrivateFormat.PKCS8, serialization.NoEncryption()
    ).decode()
    return private, public_pem(key)


def development_pair(data_dir: Path) -> tuple[str, str]:
    """The development pair of ``data_dir``: read from ``keys/``, generated there the first time."""
    folder = data_dir / "keys"
    private_path, public_path = folder / PRIVATE_FILE, folder / PUBLIC_FILE
    if private_path.exists():
        private = private_path.read_text(encoding="utf-8")
        public = public_pem(private_key(private))
    else:
        folder.mkdir(parents=True, exist_ok=True)
        private, public = new_pair()
        # Written 0600 beside, then linked into place: two processes starting together both end up with the
        # first one's key, and nobody reads a half-written file.
        spare = folder / f".{PRIVATE_FILE}.{os.getpid()}"
        fd = os.open(spare, os.O_WRONLY | os.O_CREAT | os.O_TRUNC, 0o600)
        with os.fdopen(fd, "w", encoding="utf-8") as handle:
            handle.write(private)
        try:
            os.link(spare, private_path)
        except FileExistsError:
            return development_pair(data_dir)
        finally:
            spare.unlink()
    if not public_path.exists() or public_path.read_text(encoding="utf-8") != public:
        public_path.write_text(public, encoding="utf-8")
    return private, public
