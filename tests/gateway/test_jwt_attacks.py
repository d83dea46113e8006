"""Forged tokens, as an attacker would try them: against a service directly with a made-up ``X-QSR-Identity``,
and against the gateway with a made-up user token. Every one is refused with 401 ``UNAUTHENTICATED`` in the
problem body; the genuine ones pass; during a key rotation a service accepts what its key list says."""

from __future__ import annotations

import asyncio
import base64
import hashlib
import hmac
import json
import time
from collections.abc import AsyncIterator
from typing import Any

import httpx
import jwt
import pytest
import pytest_asyncio

from gateway.app import create_app as create_gateway
from services.common.auth import (
    IDENTITY_HEADER,
    INTERNAL_AUDIENCE,
    INTERNAL_TTL_SECONDS,
    USER_AUDIENCE,
    Caller,
    identity_claims,
    issue_identity,
    issue_token,
)
from services.common.internal_keys import new_pair, private_key, public_pem
from services.common.settings import Settings
from services.registry.app import create_app as create_registry
from tests.harness import (
    JIAOCHENG,
    SX_PROVINCE,
    WENSHUI,
    enterprise_body,
    identity,
    make_uscc,
    on_socket,
    serving,
)

pytestmark = pytest.mark.asyncio

THREE_YEARS = 3 * 365 * 24 * 3600


def _b64(data: bytes) -> str:
    return base64.urlsafe_b64encode(data).rstrip(b"=").decode()


def _unsigned(header: dict[str, Any], claims: dict[str, Any]) -> str:
    return f"{_b64(json.dumps(header).encode())}.{_b64(json.dumps(claims).encode())}"


def _claims(**changes: Any) -> dict[str, Any]:
    """The claims the gateway would put in an identity for the province, with ``changes`` (None drops one)."""
    claims = {**identity_claims(SX_PROVINCE), **changes}
    return {name: value for name, value in claims.items() if value is not None}


def _signed(settings: Settings, **changes: Any) -> str:
    """Signed with the gateway's own key: only the claims are wrong."""
    return jwt.encode(_claims(**changes), settings.internal_signer, "EdDSA")


def _alg_none(_settings: Settings) -> str:
    return _unsigned({"alg": "none", "typ": "JWT"}, _claims()) + "."


def _hs256_with_the_public_key(settings: Settings) -> str:
    # The HS/RS confusion: the public key, which every service holds, used as an HMAC secret.
    signing_input = _unsigned({"alg": "HS256", "typ": "JWT"}, _claims())
    mac = hmac.new(public_pem(settings.internal_signer).encode(), signing_input.encode(), hashlib.sha256)
    return f"{signing_input}.{_b64(mac.digest())}"


def _another_key(_settings: Settings) -> str:
    return jwt.encode(_claims(), private_key(new_pair()[0]), "EdDSA")


def _region_edited_after_signing(settings: Settings) -> str:
    genuine = issue_identity(WENSHUI, settings.internal_signer)
    header, _payload, signature = genuine.split(".")
    claims = jwt.decode(genuine, options={"verify_signature": False})
    edited = {**claims, "region": "140000"}  # the county's identity made the province's
    return f"{header}.{_b64(json.dumps(edited).encode())}.{signature}"


ATTACKS = {
    "alg none": _alg_none,
    "HS256 signed with the public key": _hs256_with_the_public_key,
    "signed with another Ed25519 key": _another_key,
    "expired": lambda s: _signed(s, iat=int(time.time()) - 120, exp=int(time.time()) - 60),
    "not valid before (nbf) a minute from now": lambda s: _signed(s, nbf=int(time.time()) + 60),
    "issued (iat) a minute from now": lambda s: _signed(
        s, iat=int(time.time()) + 60, exp=int(time.time()) + 60 + INTERNAL_TTL_SECONDS
    ),
    "without iat": lambda s: _signed(s, iat=None),
    "without exp": lambda s: _signed(s, exp=None),
    "wrong audience (a user token's)": lambda s: _signed(s, aud=USER_AUDIENCE),
    "wrong issuer": lambda s: _signed(s, iss="qsr-registry"),
    "without issuer": lambda s: _signed(s, iss=None),
    "region edited after signing": _region_edited_after_signing,
    "a lifetime of three years (the probe's forgery)": lambda s: _signed(
        s, exp=int(time.time()) + THREE_YEARS
    ),
    "a lifetime one second longer than the gateway's": lambda s: _signed(
        s, exp=int(time.time()) + INTERNAL_TTL_SECONDS + 1
    ),
}


def _refused(response: httpx.Response, path: str) -> None:
    assert response.status_code == 401, response.text
    assert response.headers["content-type"].startswith("application/problem+json")
    body = response.json()
    assert body["code"] == "UNAUTHENTICATED" and body["status"] == 401
    assert body["type"] == "https://qsr.samr.local/problems/unauthenticated"
    assert body["title"] and body["detail"] and body["instance"] == path


@pytest_asyncio.fixture
async def registry(settings: Settings) -> AsyncIterator[httpx.AsyncClient]:
    async with serving(create_registry(settings)) as client:
        yield client


@pytest.mark.parametrize("attack", ATTACKS.values(), ids=ATTACKS.keys())
async def test_a_service_refuses_a_forged_identity(
    registry: httpx.AsyncClient, settings: Settings, attack: Any
) -> None:
    response = await registry.get("/enterprises", headers={IDENTITY_HEADER: attack(settings)})
    _refused(response, "/enterprises")


async def test_a_service_accepts_the_gateways_identity(
    registry: httpx.AsyncClient, settings: Settings
) -> None:
    response = await registry.get("/enterprises", headers=identity(settings, SX_PROVINCE))
    assert response.status_code == 200, response.text
    # At the edge of what is allowed: the full lifetime, issued a moment ago.
    edge = _signed(settings, iat=int(time.time()) - 1, exp=int(time.time()) - 1 + INTERNAL_TTL_SECONDS)
    assert (await registry.get("/enterprises", headers={IDENTITY_HEADER: edge})).status_code == 200


async def test_an_identity_accepted_once_is_refused_once_it_expires(
    registry: httpx.AsyncClient, settings: Settings
) -> None:
    """A service remembers the identities it verified (one signature check per identity, not per request); what
    it remembers must not outlive the identity: expired 4 s ago is within the 5 s clock skew, 2 s later not."""
    now = int(time.time())
    ending = _signed(settings, iat=now - INTERNAL_TTL_SECONDS + 1, exp=now - 4 + 1)
    assert (await registry.get("/enterprises", headers={IDENTITY_HEADER: ending})).status_code == 200
    assert (await registry.get("/enterprises", headers={IDENTITY_HEADER: ending})).status_code == 200
    await asyncio.sleep(2.5)
    _refused(await registry.get("/enterprises", headers={IDENTITY_HEADER: ending}), "/enterprises")


async def test_during_a_rotation_both_keys_are_accepted_and_after_it_only_the_new(settings: Settings) -> None:
    (old_private, old_public), (new_private, new_public) = new_pair(), new_pair()
    old = issue_identity(SX_PROVINCE, private_key(old_private))
    new = issue_identity(SX_PROVINCE, private_key(new_private))
    rotating = settings.model_copy(update={"internal_public_key": old_public + new_public})
    async with serving(create_registry(rotating)) as client:
        for token in (old, new):
            assert (await client.get("/enterprises", headers={IDENTITY_HEADER: token})).status_code == 200
    rotated = settings.model_copy(update={"internal_public_key": new_public})
    async with serving(create_registry(rotated)) as client:
        assert (await client.get("/enterprises", headers={IDENTITY_HEADER: new})).status_code == 200
        _refused(await client.get("/enterprises", headers={IDENTITY_HEADER: old}), "/enterprises")


# Through the gateway: the caller's bearer token is what can be forged there (its X-QSR-Identity is replaced).

SECRET = "a-real-user-token-signing-secret-" + "x" * 40  # 64+ bytes: HS512 would not warn
PATH = "/api/v1/registry/enterprises"


def _user(**changes: Any) -> dict[str, Any]:
    now = int(time.time())
    claims = {**WENSHUI.claims(), "aud": USER_AUDIENCE, "iat": now, "exp": now + 600, **changes}
    return {name: value for name, value in claims.items() if value is not None}


USER_ATTACKS = {
    "alg none": lambda: _unsigned({"alg": "none", "typ": "JWT"}, _user()) + ".",
    "another secret": lambda: jwt.encode(_user(), "another-secret-of-more-than-32-characters", "HS256"),
    "expired": lambda: jwt.encode(_user(exp=int(time.time()) - 60), SECRET, "HS256"),
    "not valid before a minute from now": lambda: jwt.encode(
        _user(nbf=int(time.time()) + 60), SECRET, "HS256"
    ),
    "wrong audience (an internal identity's)": lambda: jwt.encode(
        _user(aud=INTERNAL_AUDIENCE), SECRET, "HS256"
    ),
    "without exp": lambda: jwt.encode(_user(exp=None), SECRET, "HS256"),
    "without sub": lambda: jwt.encode(_user(sub=None), SECRET, "HS256"),
    "HS512": lambda: jwt.encode(_user(), SECRET, "HS512"),
    "signed with the development placeholder": lambda: issue_token(
        WENSHUI, Settings.model_fields["secret_key"].default, ttl_seconds=600
    ),
}


@pytest_asyncio.fixture
async def production_gateway(settings: Settings) -> AsyncIterator[tuple[httpx.AsyncClient, Settings, str]]:
    """A production gateway with real secrets in front of a real registry (yields the registry's URL too)."""
    private, public = new_pair()
    keys = {"internal_signing_key": private, "internal_public_key": public}
    registry_settings = settings.model_copy(update={"env": "production", "pii_key": "p" * 40, **keys})
    async with on_socket(create_registry(registry_settings)) as upstream:
        gateway_settings = registry_settings.model_copy(
            update={"secret_key": SECRET, "registry_url": upstream}
        )
        async with serving(create_gateway(gateway_settings)) as client:
            yield client, gateway_settings, upstream


@pytest.mark.parametrize("token", USER_ATTACKS.values(), ids=USER_ATTACKS.keys())
async def test_a_production_gateway_refuses_a_forged_user_token(
    production_gateway: tuple[httpx.AsyncClient, Settings, str], token: Any
) -> None:
    gateway, _, _ = production_gateway
    response = await gateway.get(PATH, headers={"Authorization": f"Bearer {token()}"})
    _refused(response, PATH)


async def test_a_genuine_user_token_passes_and_a_forged_identity_beside_it_is_replaced(
    production_gateway: tuple[httpx.AsyncClient, Settings, str],
) -> None:
    gateway, settings, registry_url = production_gateway
    async with httpx.AsyncClient(base_url=registry_url) as registry:
        created = await registry.post(
            "/enterprises",
            json=enterprise_body(make_uscc(1, "141122"), region_code="141122"),
            headers=identity(settings, JIAOCHENG),
        )
    assert created.status_code == 201, created.text
    neighbour = created.json()["id"]

    async def listed(caller: Caller, **headers: str) -> set[str]:
        token = issue_token(caller, SECRET, ttl_seconds=600)
        response = await gateway.get(PATH, headers={"Authorization": f"Bearer {token}", **headers})
        assert response.status_code == 200, response.text
        return {unit["id"] for unit in response.json()["items"]}

    assert neighbour in await listed(SX_PROVINCE)
    # Wenshui adds the province's identity, signed with the gateway's own key: the gateway drops it and the
    # registry sees Wenshui, who does not see its neighbour's unit.
    forged = issue_identity(SX_PROVINCE, settings.internal_signer)
    assert neighbour not in await listed(WENSHUI, **{IDENTITY_HEADER: forged})
