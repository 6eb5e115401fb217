"""DPoP-bound tokens (RFC 9449): a token copied from a log or a proxy is useless without
the client's private key, and no proof serves twice, for another call, or late."""

from __future__ import annotations

import base64
import hashlib
import json
import secrets
import time
from pathlib import Path
from typing import Any

import httpx
from joserfc import jwt
from joserfc.jwk import ECKey, OctKey, RSAKey
from redis.asyncio import Redis

from gateway.identity.dpop import DpopVerifier, InvalidDpopProof
from gateway.identity.officers import JtiGuard
from tests.attacks.conftest import ISSUER, Target, assert_problem, residents_in

PURPOSE = {"X-Purpose": "social_assistance", "X-On-Behalf-Of": "officer.01"}


def _ath(token: str) -> str:
    return base64.urlsafe_b64encode(hashlib.sha256(token.encode()).digest()).rstrip(b"=").decode()


def proof(
    key: ECKey | RSAKey,
    method: str,
    url: str,
    token: str | None = None,
    *,
    alg: str = "ES256",
    header: dict[str, Any] | None = None,
    **claims: Any,
) -> str:
    head = {"typ": "dpop+jwt", "alg": alg, "jwk": key.as_dict(private=False), **(header or {})}
    body: dict[str, Any] = {
        "jti": secrets.token_urlsafe(12),
        "htm": method,
        "htu": url,
        "iat": int(time.time()),
    }
    if token is not None:
        body["ath"] = _ath(token)
    body.update(claims)
    return jwt.encode(head, {k: v for k, v in body.items() if v is not None}, key, algorithms=[alg])


async def bound_token(target: Target, key: ECKey, client_id: str = "demo-dinsos") -> str:
    cid, secret = target.creds(client_id)
    r = await target.client.post(
        "/oauth/token",
        data={"grant_type": "client_credentials"},
        auth=(cid, secret),
        headers={"DPoP": proof(key, "POST", f"{ISSUER}/oauth/token")},
    )
    assert r.status_code == 200, r.text
    body = r.json()
    assert body["token_type"] == "DPoP"
    return str(body["access_token"])


def _claims(token: str) -> dict[str, Any]:
    payload = token.split(".")[1]
    return dict(json.loads(base64.urlsafe_b64decode(payload + "=" * (-len(payload) % 4))))


def _nik(target: Target) -> str:
    assert target.settings.sources_file is not None
    return str(residents_in(target.settings.sources_file.parent, n=1)[0]["nik"])


async def _lookup(
    target: Target, token: str, dpop: str | None, scheme: str = "DPoP"
) -> httpx.Response:
    nik = _nik(target)
    headers = {"Authorization": f"{scheme} {token}", **PURPOSE}
    if dpop is not None:
        headers["DPoP"] = dpop
    return await target.client.get(f"/v1/residents/{nik}", headers=headers)


def _url(target: Target) -> str:
    return f"{ISSUER}/v1/residents/{_nik(target)}"


async def test_a_bound_token_carries_the_keys_thumbprint_and_works_with_a_proof(
    target: Target,
) -> None:
    key = ECKey.generate_key("P-256")
    token = await bound_token(target, key)
    assert _claims(token)["cnf"] == {"jkt": key.thumbprint()}
    r = await _lookup(target, token, proof(key, "GET", _url(target), token))
    assert r.status_code == 200, r.text
    # The catalog too: every resource call is checked the same way.
    r = await target.client.get(
        "/v1/catalog",
        headers={
            "Authorization": f"DPoP {token}",
            "DPoP": proof(key, "GET", f"{ISSUER}/v1/catalog", token),
        },
    )
    assert r.status_code == 200, r.text


async def test_a_stolen_bound_token_is_useless_without_the_key(target: Target) -> None:
    key = ECKey.generate_key("P-256")
    token = await bound_token(target, key)
    # As a bearer token.
    r = await _lookup(target, token, None, scheme="Bearer")
    assert_problem(r, 401, "invalid_token")
    assert r.headers["www-authenticate"].startswith("DPoP ")
    # With the DPoP scheme and no proof.
    r = await _lookup(target, token, None)
    assert_problem(r, 401, "invalid_dpop_proof")
    assert 'error="invalid_dpop_proof"' in r.headers["www-authenticate"]
    # With a proof by the thief's own key.
    thief = ECKey.generate_key("P-256")
    r = await _lookup(target, token, proof(thief, "GET", _url(target), token))
    assert_problem(r, 401, "invalid_dpop_proof")
    # With a proof the client made for this token, replayed.
    seen = proof(key, "GET", _url(target), token)
    assert (await _lookup(target, token, seen)).status_code == 200
    assert_problem(await _lookup(target, token, seen), 401, "invalid_dpop_proof")


async def test_a_proof_serves_only_its_own_call(target: Target) -> None:
    key = ECKey.generate_key("P-256")
    token = await bound_token(target, key)
    other = await bound_token(target, key)
    url = _url(target)
    cases = {
        "another method": proof(key, "POST", url, token),
        "another URL": proof(key, "GET", f"{ISSUER}/v1/catalog", token),
        "another host": proof(key, "GET", url.replace(ISSUER, "https://evil.example"), token),
        "another token": proof(key, "GET", url, other),
        "no ath": proof(key, "GET", url),
        "stale": proof(key, "GET", url, token, iat=int(time.time()) - 600),
        "future": proof(key, "GET", url, token, iat=int(time.time()) + 600),
        "no jti": proof(key, "GET", url, token, jti=None),
        "wrong typ": proof(key, "GET", url, token, header={"typ": "JWT"}),
    }
    for name, value in cases.items():
        r = await _lookup(target, token, value)
        assert r.status_code == 401, (name, r.text)
        assert r.json()["code"] == "invalid_dpop_proof", name


async def test_no_shared_secret_or_unsigned_proof_and_no_private_key(target: Target) -> None:
    key = ECKey.generate_key("P-256")
    token = await bound_token(target, key)
    url = _url(target)
    # HS256 under a key the proof itself carries: a MAC anyone can make.
    oct_key = OctKey.generate_key(256)
    head = {"typ": "dpop+jwt", "alg": "HS256", "jwk": oct_key.as_dict(private=True)}
    claims = {"jti": "x1", "htm": "GET", "htu": url, "iat": int(time.time()), "ath": _ath(token)}
    hs = jwt.encode(head, claims, oct_key, algorithms=["HS256"])
    assert_problem(await _lookup(target, token, hs), 401, "invalid_dpop_proof")
    # alg none.
    none_head = {"typ": "dpop+jwt", "alg": "none", "jwk": key.as_dict(private=False)}
    unsigned = (
        ".".join(
            base64.urlsafe_b64encode(json.dumps(p).encode()).rstrip(b"=").decode()
            for p in (none_head, claims)
        )
        + "."
    )
    assert_problem(await _lookup(target, token, unsigned), 401, "invalid_dpop_proof")
    # A jwk with its private part.
    leaked = proof(key, "GET", url, token, header={"jwk": key.as_dict(private=True)})
    assert_problem(await _lookup(target, token, leaked), 401, "invalid_dpop_proof")


async def test_the_dpop_scheme_with_a_bearer_token_is_refused(target: Target) -> None:
    bearer = await target.token("demo-dinsos")
    key = ECKey.generate_key("P-256")
    r = await _lookup(target, bearer, proof(key, "GET", _url(target), bearer))
    assert_problem(r, 401, "invalid_token")
    # The plain bearer token still works as before where DPoP is not required.
    r = await _lookup(target, bearer, None, scheme="Bearer")
    assert r.status_code == 200, r.text


async def test_a_deployment_may_require_dpop(target: Target) -> None:
    assert target.services.dpop is not None
    target.services.dpop.required = True
    r = await target.token_response("demo-dinsos")
    assert r.status_code == 400
    assert r.json()["error"] == "invalid_dpop_proof"
    assert r.headers.get_list("cache-control") == ["no-store"]
    key = ECKey.generate_key("P-256")
    await bound_token(target, key)
    # A bad proof at the token endpoint: an OAuth error, no token.
    cid, secret = target.creds("demo-dinsos")
    r = await target.client.post(
        "/oauth/token",
        data={"grant_type": "client_credentials"},
        auth=(cid, secret),
        headers={"DPoP": proof(key, "POST", f"{ISSUER}/v1/catalog")},
    )
    assert r.status_code == 400 and r.json()["error"] == "invalid_dpop_proof"


async def test_server_nonces(target: Target) -> None:
    assert target.services.dpop is not None
    target.services.dpop.nonce_required = True
    key = ECKey.generate_key("P-256")
    cid, secret = target.creds("demo-dinsos")
    r = await target.client.post(
        "/oauth/token",
        data={"grant_type": "client_credentials"},
        auth=(cid, secret),
        headers={"DPoP": proof(key, "POST", f"{ISSUER}/oauth/token")},
    )
    assert r.status_code == 400 and r.json()["error"] == "use_dpop_nonce"
    nonce = r.headers["dpop-nonce"]
    r = await target.client.post(
        "/oauth/token",
        data={"grant_type": "client_credentials"},
        auth=(cid, secret),
        headers={"DPoP": proof(key, "POST", f"{ISSUER}/oauth/token", nonce=nonce)},
    )
    assert r.status_code == 200, r.text
    token = r.json()["access_token"]
    r = await _lookup(target, token, proof(key, "GET", _url(target), token))
    assert_problem(r, 401, "use_dpop_nonce")
    assert r.headers["dpop-nonce"]
    assert 'error="use_dpop_nonce"' in r.headers["www-authenticate"]
    r = await _lookup(target, token, proof(key, "GET", _url(target), token, nonce="1.forged"))
    assert_problem(r, 401, "use_dpop_nonce")
    r = await _lookup(target, token, proof(key, "GET", _url(target), token, nonce=nonce))
    assert r.status_code == 200, r.text


async def test_metadata_names_the_dpop_algorithms(target: Target) -> None:
    meta = (await target.client.get("/.well-known/oauth-authorization-server")).json()
    assert set(meta["dpop_signing_alg_values_supported"]) == {"ES256", "EdDSA", "PS256"}
    assert "RS256" not in meta["dpop_signing_alg_values_supported"]
    assert "HS256" not in meta["dpop_signing_alg_values_supported"]


async def test_a_proof_replayed_at_another_replica_is_refused(
    redis_url: str, redis_prefix: str, tmp_path: Path
) -> None:
    """Two gateways sharing a Redis: a proof used at one is refused at the other."""
    verifiers = [
        DpopVerifier(JtiGuard(Redis.from_url(redis_url), prefix=f"{redis_prefix}dpop:"))
        for _ in range(2)
    ]
    key = ECKey.generate_key("P-256")
    url = "https://gw.example/v1/catalog"
    made = proof(key, "GET", url, "tok")
    try:
        assert await verifiers[0].check(made, method="GET", url=url, access_token="tok") == (
            key.thumbprint()
        )
        try:
            await verifiers[1].check(made, method="GET", url=url, access_token="tok")
        except InvalidDpopProof as exc:
            assert "used before" in exc.detail
        else:
            raise AssertionError("a replayed proof was accepted by the second replica")
    finally:
        for verifier in verifiers:
            await verifier.guard.aclose()


async def test_an_rs256_proof_is_refused(target: Target) -> None:
    """FAPI 2.0 takes PS256, ES256 and EdDSA only: RS256 (PKCS#1 v1.5) is refused."""
    key = RSAKey.generate_key(2048)
    cid, secret = target.creds("demo-dinsos")
    r = await target.client.post(
        "/oauth/token",
        data={"grant_type": "client_credentials"},
        auth=(cid, secret),
        headers={"DPoP": proof(key, "POST", f"{ISSUER}/oauth/token", alg="RS256")},
    )
    assert r.status_code == 400 and r.json()["error"] == "invalid_dpop_proof", r.text


async def test_an_rsa_proof_is_accepted(target: Target) -> None:
    key = RSAKey.generate_key(2048)
    cid, secret = target.creds("demo-dinsos")
    r = await target.client.post(
        "/oauth/token",
        data={"grant_type": "client_credentials"},
        auth=(cid, secret),
        headers={"DPoP": proof(key, "POST", f"{ISSUER}/oauth/token", alg="PS256")},
    )
    assert r.status_code == 200, r.text
    token = r.json()["access_token"]
    r = await _lookup(target, token, proof(key, "GET", _url(target), token, alg="PS256"))
    assert r.status_code == 200, r.text
