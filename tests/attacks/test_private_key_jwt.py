"""``private_key_jwt`` (RFC 7523): a client's public keys are registered through a
proposal a second administrator approves; its assertions are checked for issuer,
subject, audience, expiry and a single-use jti; a client (or a deployment) may refuse
shared secrets altogether."""

from __future__ import annotations

import base64
import json
import secrets
import time
from typing import Any

import httpx
from joserfc import jwt
from joserfc.jwk import ECKey, OctKey

from gateway.identity.client_auth import ASSERTION_TYPE
from tests.attacks.conftest import ISSUER, Target, assert_problem

CLIENT = "demo-dinsos"


async def _as(target: Target, client_id: str) -> dict[str, str]:
    return {"Authorization": f"Bearer {await target.token(client_id)}"}


async def register(
    target: Target,
    key: ECKey,
    *,
    secrets_disabled: bool = False,
    dpop_required: bool = False,
    client: str = CLIENT,
) -> None:
    public = {**key.as_dict(private=False), "kid": key.thumbprint()}
    r = await target.client.post(
        f"/admin/clients/{client}/keys",
        json={
            "jwks": {"keys": [public]},
            "secrets_disabled": secrets_disabled,
            "dpop_required": dpop_required,
        },
        headers=await _as(target, "demo-admin"),
    )
    assert r.status_code == 202, r.text
    proposal = r.json()["id"]
    # Not in force before a second person approves it.
    _refused(await _token(target, assertion(key)))
    r = await target.client.post(
        f"/admin/proposals/{proposal}/approve", headers=await _as(target, "demo-admin-2")
    )
    assert r.status_code == 200, r.text


def assertion(key: ECKey, *, alg: str = "ES256", **override: Any) -> str:
    now = int(time.time())
    claims: dict[str, Any] = {
        "iss": CLIENT,
        "sub": CLIENT,
        "aud": f"{ISSUER}/oauth/token",
        "iat": now,
        "exp": now + 60,
        "jti": secrets.token_urlsafe(12),
    }
    claims.update(override)
    header = {"alg": alg, "kid": key.thumbprint()}
    return jwt.encode(header, {k: v for k, v in claims.items() if v is not None}, key,
                      algorithms=[alg])  # fmt: skip


async def _token(target: Target, value: str, **form: str) -> httpx.Response:
    data = {
        "grant_type": "client_credentials",
        "client_assertion_type": ASSERTION_TYPE,
        "client_assertion": value,
        **form,
    }
    return await target.client.post("/oauth/token", data=data)


def _refused(r: httpx.Response) -> None:
    assert r.status_code in (400, 401), r.text
    assert r.json()["error"] == "invalid_client", r.text
    assert "access_token" not in r.json()


async def test_a_registered_key_gets_a_token_that_works(target: Target) -> None:
    key = ECKey.generate_key("P-256")
    await register(target, key)
    r = await _token(target, assertion(key), client_id=CLIENT)
    assert r.status_code == 200, r.text
    token = r.json()["access_token"]
    assert r.headers.get_list("cache-control") == ["no-store"]
    r = await target.client.get("/v1/catalog", headers={"Authorization": f"Bearer {token}"})
    assert r.status_code == 200, r.text
    # The issuer as audience is accepted too (RFC 7523 §3); the client id may be left out.
    assert (await _token(target, assertion(key, aud=ISSUER))).status_code == 200
    # The shared secret still works until the client gives it up.
    assert (await target.token_response(CLIENT)).status_code == 200


async def test_careless_and_hostile_assertions_are_refused(target: Target) -> None:
    # Every refusal spends the claimed client's failure budget: room for them all here.
    target.services.settings.token_failure_rate = "100/minute"
    key = ECKey.generate_key("P-256")
    await register(target, key)
    now = int(time.time())
    used = assertion(key)
    assert (await _token(target, used)).status_code == 200
    other = ECKey.generate_key("P-256")
    cases = {
        "replayed": used,
        "expired": assertion(key, iat=now - 600, exp=now - 300),
        "long-lived": assertion(key, exp=now + 3600),
        "no exp": assertion(key, exp=None),
        "no jti": assertion(key, jti=None),
        "wrong audience": assertion(key, aud="https://other.example/oauth/token"),
        "no audience": assertion(key, aud=None),
        "iss is another client": assertion(key, iss="demo-dinkes"),
        "unregistered key": assertion(other),
    }
    for name, value in cases.items():
        r = await _token(target, value)
        # RFC 6749 §5.2: 401 is for credentials in the Authorization header; 400 here.
        assert r.status_code == 400, (name, r.text)
        assert r.json()["error"] == "invalid_client", name
    # HS256 under a guessed shared key, and alg none.
    oct_key = OctKey.generate_key(256)
    hs = jwt.encode({"alg": "HS256"}, {"iss": CLIENT, "sub": CLIENT, "aud": ISSUER,
                                        "exp": now + 60, "jti": "hs"}, oct_key,
                    algorithms=["HS256"])  # fmt: skip
    _refused(await _token(target, hs))
    unsigned = ".".join(
        base64.urlsafe_b64encode(json.dumps(p).encode()).rstrip(b"=").decode()
        for p in ({"alg": "none"}, {"iss": CLIENT, "sub": CLIENT, "aud": ISSUER,
                                    "exp": now + 60, "jti": "none"})
    ) + "."  # fmt: skip
    _refused(await _token(target, unsigned))
    # Another client's assertion cannot be made with this client's key.
    r = await _token(
        target, assertion(key, iss="demo-dinkes", sub="demo-dinkes"), client_id="demo-dinkes"
    )
    _refused(r)


async def test_a_client_that_gave_up_its_secret_cannot_use_it(target: Target) -> None:
    key = ECKey.generate_key("P-256")
    await register(target, key, secrets_disabled=True)
    r = await target.token_response(CLIENT)
    assert r.status_code == 401 and r.json()["error"] == "invalid_client", r.text
    cid, secret = target.creds(CLIENT)
    r = await target.client.post(
        "/oauth/token",
        data={"grant_type": "client_credentials", "client_id": cid, "client_secret": secret},
    )
    assert r.status_code in (400, 401) and r.json()["error"] == "invalid_client", r.text
    assert (await _token(target, assertion(key))).status_code == 200


async def test_only_public_keys_are_registered(target: Target) -> None:
    key = ECKey.generate_key("P-256")
    admin = await _as(target, "demo-admin")
    bad = {
        "private part": {"keys": [{**key.as_dict(private=True), "kid": "k1"}]},
        "shared secret": {"keys": [{**OctKey.generate_key(256).as_dict(), "kid": "k1"}]},
        "no kid": {"keys": [key.as_dict(private=False)]},
        "empty": {"keys": []},
    }
    for name, jwks in bad.items():
        r = await target.client.post(
            f"/admin/clients/{CLIENT}/keys", json={"jwks": jwks}, headers=admin
        )
        assert r.status_code == 422, (name, r.text)
    # An agency client cannot register keys for itself: it is not an administrator.
    r = await target.client.post(
        f"/admin/clients/{CLIENT}/keys",
        json={"jwks": {"keys": [{**key.as_dict(private=False), "kid": "k"}]}},
        headers=await _as(target, CLIENT),
    )
    assert_problem(r, 403, "insufficient_scope")


async def test_metadata_names_the_assertion_methods(target: Target) -> None:
    meta = (await target.client.get("/.well-known/oauth-authorization-server")).json()
    assert "private_key_jwt" in meta["token_endpoint_auth_methods_supported"]
    algs = meta["token_endpoint_auth_signing_alg_values_supported"]
    assert "ES256" in algs and not any(a.startswith("HS") or a == "none" for a in algs)
    target.services.settings.client_secrets_disabled = True
    meta = (await target.client.get("/.well-known/oauth-authorization-server")).json()
    assert meta["token_endpoint_auth_methods_supported"] == ["private_key_jwt"]
    # And no shared secret is taken, from any client.
    r = await target.token_response("demo-dinkes")
    assert r.status_code == 401 and r.json()["error"] == "invalid_client"


async def test_a_client_may_be_required_to_bind_its_tokens(target: Target) -> None:
    from tests.attacks.test_dpop import proof

    key = ECKey.generate_key("P-256")
    await register(target, key, dpop_required=True)
    r = await _token(target, assertion(key))
    assert r.status_code == 400 and r.json()["error"] == "invalid_dpop_proof", r.text
    r = await target.token_response(CLIENT)  # nor with its secret
    assert r.status_code == 400 and r.json()["error"] == "invalid_dpop_proof", r.text
    r = await target.client.post(
        "/oauth/token",
        data={
            "grant_type": "client_credentials",
            "client_assertion_type": ASSERTION_TYPE,
            "client_assertion": assertion(key),
        },
        headers={"DPoP": proof(key, "POST", f"{ISSUER}/oauth/token")},
    )
    assert r.status_code == 200 and r.json()["token_type"] == "DPoP", r.text
    # Other clients are not affected.
    assert (await target.token_response("demo-dinkes")).status_code == 200
