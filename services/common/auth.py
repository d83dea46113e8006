"""Who is calling. The gateway authenticates users and passes a short-lived signed identity to services;
services trust nothing else (a plain header a caller could forge is never read)."""

from __future__ import annotations

import time
from dataclasses import dataclass
from typing import Annotated, Any

import jwt
from cryptography.hazmat.primitives.asymmetric.ed25519 import Ed25519PrivateKey, Ed25519PublicKey
from fastapi import Depends, Request

from services.common.errors import Forbidden, Unauthorized
from services.common.regions import is_valid_region, level_of, within
from services.common.uscc import normalise_uscc

IDENTITY_HEADER = "x-qsr-identity"
INTERNAL_AUDIENCE = "qsr-internal"
USER_AUDIENCE = "qsr"
ALGORITHM = "HS256"  # the user's token (QSR_SECRET_KEY)
# The internal identity: signed by the gateway's Ed25519 key, verified with its public key(s) only.
INTERNAL_ALGORITHM = "EdDSA"
INTERNAL_ISSUER = "qsr-gateway"
INTERNAL_TTL_SECONDS = 60
# How far a service's clock may lag the gateway's: an identity issued further in the future is refused.
CLOCK_SKEW_SECONDS = 5


# Roles. A regulator works within its region (a station sees the units it is responsible for); an
# enterprise account acts for its own unit only (``uscc``); a personnel officer (人员信息管理) is a regulator
# who may read managers' personal data unmasked.
REGULATOR, ENTERPRISE, PERSONNEL_OFFICER = "regulator", "enterprise", "personnel_officer"
REGULATOR_ROLES = frozenset({REGULATOR, PERSONNEL_OFFICER})
ROLES = frozenset({*REGULATOR_ROLES, ENTERPRISE})


@dataclass(frozen=True)
class Caller:
    username: str
    role: str
    region_code: str
    uscc: str | None = None  # the unit an enterprise account acts for

    @property
    def is_regulator(self) -> bool:
        return self.role in REGULATOR_ROLES

    @property
    def level(self) -> str:
        return level_of(self.region_code)

    def can_see(self, region_code: str) -> bool:
        return within(self.region_code, region_code)

    def claims(self) -> dict[str, Any]:
        claims = {"sub": self.username, "role": self.role, "region": self.region_code}
        if self.uscc:
            claims["uscc"] = self.uscc
        return claims


class RegulatorOnly(Forbidden):
    code, title = "REGULATOR_ONLY", "仅监管部门可以办理"


def require_regulator(caller: Caller, detail: str | None = None) -> None:
    """Refuse an enterprise account (403 ``REGULATOR_ONLY``) what only a regulator may do."""
    if not caller.is_regulator:
        raise RegulatorOnly(detail)


def _known_region(code: Any) -> bool:
    """A GB/T 2260 code of the shipped table, or a station code: a county of the table and 3 digits. (Which
    stations exist is the ledger's business, see ``services.common.stations``; a token for a station nobody
    lists sees no unit.)"""
    if not isinstance(code, str):
        return False
    if len(code) == 9 and code[6:].isdigit():
        return is_valid_region(code[:6]) and level_of(code[:6]) == "county"
    return is_valid_region(code)


def _caller_from(claims: dict[str, Any]) -> Caller:
    """The caller a token names, once its claims make sense: a signed token with a malformed region, an
    unknown role or an enterprise without a valid USCC is refused like a forged one (ValueError)."""
    username, role, region, uscc = claims["sub"], claims["role"], claims["region"], claims.get("uscc")
    if not isinstance(username, str) or not username.strip():
        raise ValueError("sub")
    if role not in ROLES:
        raise ValueError("role")
    if not _known_region(region):
        raise ValueError("region")
    if role == ENTERPRISE:
        if not isinstance(uscc, str) or normalise_uscc(uscc) != uscc:
            raise ValueError("uscc")
    elif uscc is not None:
        raise ValueError("uscc")  # only an enterprise account acts for a unit
    return Caller(username=username, role=role, region_code=region, uscc=uscc)


def issue_token(caller: Caller, secret: str, *, ttl_seconds: int, audience: str = USER_AUDIENCE) -> str:
    now = int(time.time())
    return jwt.encode(
        {**caller.claims(), "aud": audience, "iat": now, "exp": now + ttl_seconds}, secret, ALGORITHM
    )


def read_token(token: str, secret: str, *, audience: str = USER_AUDIENCE) -> Caller:
    try:
        claims = jwt.decode(
            token,
            secret,
            algorithms=[ALGORITHM],
            audience=audience,
            options={"require": ["exp", "sub", "aud"]},
        )
        return _caller_from(claims)
    except (jwt.PyJWTError, KeyError, TypeError, ValueError) as exc:
        raise Unauthorized("身份凭证无效或已过期，请重新登录") from exc


def identity_claims(caller: Caller) -> dict[str, Any]:
    """What the gateway puts in an identity for ``caller``, issued now for ``INTERNAL_TTL_SECONDS``."""
    now = int(time.time())
    return {
        **caller.claims(),
        "aud": INTERNAL_AUDIENCE,
        "iss": INTERNAL_ISSUER,
        "iat": now,
        "exp": now + INTERNAL_TTL_SECONDS,
    }


def issue_identity(caller: Caller, key: Ed25519PrivateKey) -> str:
    """The identity the gateway passes to services for ``caller``: EdDSA, ``INTERNAL_TTL_SECONDS`` long."""
    return jwt.encode(identity_claims(caller), key, INTERNAL_ALGORITHM)


# Identities this process has verified: the gateway reuses one for a caller for half its lifetime, so the
# signature check (a fifth of a millisecond, on every request) is done once per identity, not per request.
# Keyed by the token and the accepted keys; an entry is used only until the identity's own expiry.
_VERIFIED: dict[tuple[str, bytes], tuple[Caller, int]] = {}
_VERIFIED_MAX = 10_000


def read_identity(token: str, keys: tuple[Ed25519PublicKey, ...]) -> Caller:
    """The caller of an identity signed by one of ``keys`` (the gateway's, two during a rotation). The algorithm
    is pinned to EdDSA (no ``none``, no HS256 keyed with the public key), and a lifetime longer than the
    gateway gives, or an issue time in the future, is refused like a forged signature."""
    cache_key = (token, b"".join(key.public_bytes_raw() for key in keys))
    hit = _VERIFIED.get(cache_key)
    if hit is not None and time.time() <= hit[1] + CLOCK_SKEW_SECONDS:
        return hit[0]
    caller, expires = _verify_identity(token, keys)
    if len(_VERIFIED) >= _VERIFIED_MAX:
        _VERIFIED.clear()
    _VERIFIED[cache_key] = (caller, expires)
    return caller


def _verify_identity(token: str, keys: tuple[Ed25519PublicKey, ...]) -> tuple[Caller, int]:
    for key in keys:
        try:
            claims = jwt.decode(
                token,
                key,
                algorithms=[INTERNAL_ALGORITHM],
                audience=INTERNAL_AUDIENCE,
                issuer=INTERNAL_ISSUER,
                leeway=CLOCK_SKEW_SECONDS,
                options={"require": ["exp", "iat", "aud", "iss", "sub"]},
            )
        except jwt.InvalidSignatureError:
            continue  # perhaps the other key of a rotation
        except jwt.PyJWTError as exc:
            raise Unauthorized("身份凭证无效或已过期") from exc
        try:
            issued, expires = claims["iat"], claims["exp"]
            if not isinstance(issued, int) or not isinstance(expires, int):
                raise ValueError("iat/exp")
            if issued > time.time() + CLOCK_SKEW_SECONDS or expires - issued > INTERNAL_TTL_SECONDS:
                raise ValueError("lifetime")
            return _caller_from(claims), expires
        except (KeyError, TypeError, ValueError) as exc:
            raise Unauthorized("身份凭证无效或已过期") from exc
    raise Unauthorized("身份凭证的签名无效")


async def current_caller(request: Request) -> Caller:
    token = request.headers.get(IDENTITY_HEADER)
    if not token:
        raise Unauthorized("缺少经网关签发的身份凭证")
    return read_identity(token, request.app.state.settings.internal_verify_keys)


CallerDep = Annotated[Caller, Depends(current_caller)]
