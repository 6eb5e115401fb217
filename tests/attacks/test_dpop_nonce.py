"""DPoP server nonces on every answer (RFC 9449 §8, §9): where nonces are in use, a
token response and a resource answer carry a fresh ``DPoP-Nonce`` for the next proof;
nonces rotate, and an old one is refused once its window has passed."""

from __future__ import annotations

import asyncio

import httpx
from joserfc.jwk import ECKey

from tests.attacks.conftest import ISSUER, Target, assert_problem
from tests.attacks.test_dpop import _lookup, _url, proof


async def _token(target: Target, key: ECKey, nonce: str | None) -> httpx.Response:
    cid, secret = target.creds("demo-dinsos")
    return await target.client.post(
        "/oauth/token",
        data={"grant_type": "client_credentials"},
        auth=(cid, secret),
        headers={"DPoP": proof(key, "POST", f"{ISSUER}/oauth/token", nonce=nonce)},
    )


async def test_answers_carry_the_next_nonce_and_old_ones_expire(target: Target) -> None:
    verifier = target.services.dpop
    assert verifier is not None
    verifier.nonce_required = True
    verifier.nonce_step_seconds = 1.0
    key = ECKey.generate_key("P-256")
    refused = await _token(target, key, None)
    assert refused.status_code == 400 and refused.json()["error"] == "use_dpop_nonce"
    r = await _token(target, key, refused.headers["dpop-nonce"])
    assert r.status_code == 200, r.text
    token, nonce = r.json()["access_token"], r.headers["dpop-nonce"]
    # The nonce from the 200 is good for the next call, whose 200 carries the next one.
    r = await _lookup(target, token, proof(key, "GET", _url(target), token, nonce=nonce))
    assert r.status_code == 200, r.text
    assert r.headers.get_list("dpop-nonce") == [r.headers["dpop-nonce"]], "one nonce"
    stale = nonce
    # Two steps later the old nonce is refused, with the current one to retry with.
    await asyncio.sleep(2.1)
    r = await _lookup(target, token, proof(key, "GET", _url(target), token, nonce=stale))
    assert_problem(r, 401, "use_dpop_nonce")
    fresh = r.headers["dpop-nonce"]
    assert fresh != stale
    r = await _lookup(target, token, proof(key, "GET", _url(target), token, nonce=fresh))
    assert r.status_code == 200, r.text
    # A nonce is the server's: one made up by the client, or one with another step, fails.
    step, mac = fresh.split(".", 1)
    forged = f"{int(step) + 1}.{mac}"
    r = await _lookup(target, token, proof(key, "GET", _url(target), token, nonce=forged))
    assert_problem(r, 401, "use_dpop_nonce")


async def test_no_nonce_header_where_nonces_are_not_in_use(target: Target) -> None:
    key = ECKey.generate_key("P-256")
    r = await _token(target, key, None)
    assert r.status_code == 200, r.text
    assert "dpop-nonce" not in r.headers
    token = r.json()["access_token"]
    r = await _lookup(target, token, proof(key, "GET", _url(target), token))
    assert r.status_code == 200 and "dpop-nonce" not in r.headers
    bearer = await target.headers("demo-dinsos")
    nik = _url(target).rsplit("/", 1)[1]
    r = await target.client.get(f"/v1/residents/{nik}", headers=bearer)
    assert r.status_code == 200 and "dpop-nonce" not in r.headers
