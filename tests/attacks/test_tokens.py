"""Forged, stale and stolen credentials: every one refused with 401/403 problem+json.

Tokens with bad claims are signed with the gateway's own key, so that each test proves
the claim check itself and not merely the signature check.
"""

from __future__ import annotations

import base64
import hashlib
import hmac
import json
import time
from typing import Any

from joserfc import jwt
from joserfc.jwk import ECKey

from tests.attacks.conftest import ISSUER, Target, assert_problem, residents_in


def _b64(data: bytes) -> str:
    return base64.urlsafe_b64encode(data).rstrip(b"=").decode()


def _claims(**override: Any) -> dict[str, Any]:
    now = int(time.time())
    claims: dict[str, Any] = {
        "iss": ISSUER,
        "sub": "demo-dinsos",
        "aud": "satugate",
        "client_id": "demo-dinsos",
        "agency": "dinsos",
        "scope": "residents:read residents:search pseudonyms:resolve admin audit",
        "iat": now,
        "nbf": now,
        "exp": now + 600,
        "jti": f"forged-{now}-{len(override)}",
    }
    claims.update(override)
    return {k: v for k, v in claims.items() if v is not None}


def _signed(target: Target, claims: dict[str, Any], **header: Any) -> str:
    key = target.services.token_server.signing_key
    head = {"alg": "ES256", "typ": "at+jwt", "kid": key.kid, **header}
    return jwt.encode(head, claims, key, algorithms=["ES256"])


def _raw(header: dict[str, Any], claims: dict[str, Any], signature: bytes = b"") -> str:
    signing_input = f"{_b64(json.dumps(header).encode())}.{_b64(json.dumps(claims).encode())}"
    return f"{signing_input}.{_b64(signature)}"


async def _refused(target: Target, token: str, nik: str) -> None:
    h = {
        "Authorization": f"Bearer {token}",
        "X-Purpose": "social_assistance",
        "X-On-Behalf-Of": "officer.01",
    }
    body = assert_problem(
        await target.client.get(f"/v1/residents/{nik}", headers=h), 401, "invalid_token"
    )
    assert token not in json.dumps(body)
    assert_problem(await target.client.get("/audit/events", headers=h), 401, "invalid_token")
    assert_problem(await target.client.get("/admin/clients", headers=h), 401, "invalid_token")


async def test_control_a_token_signed_by_the_gateway_with_sound_claims_is_accepted(
    target: Target, attack_sources: Any
) -> None:
    """The forging helper makes tokens the gateway accepts: the refusals below are real."""
    nik = residents_in(attack_sources)[0]["nik"]
    token = _signed(target, _claims(scope="residents:read"))
    h = {
        "Authorization": f"Bearer {token}",
        "X-Purpose": "social_assistance",
        "X-On-Behalf-Of": "officer.01",
    }
    assert (await target.client.get(f"/v1/residents/{nik}", headers=h)).status_code == 200


async def test_alg_none_is_refused(target: Target, attack_sources: Any) -> None:
    nik = residents_in(attack_sources)[0]["nik"]
    kid = target.services.token_server.signing_key.kid
    for alg in ("none", "None", "NONE"):
        await _refused(target, _raw({"alg": alg, "typ": "at+jwt", "kid": kid}, _claims()), nik)


async def test_hs256_signed_with_the_public_key_is_refused(
    target: Target, attack_sources: Any
) -> None:
    nik = residents_in(attack_sources)[0]["nik"]
    jwks = (await target.client.get("/.well-known/jwks.json")).json()
    public = ECKey.import_key(jwks["keys"][0])
    kid = jwks["keys"][0].get("kid") or target.services.token_server.signing_key.kid
    secrets_to_try = [
        public.as_pem(private=False),
        json.dumps(jwks["keys"][0]).encode(),
        json.dumps(jwks["keys"][0], separators=(",", ":"), sort_keys=True).encode(),
    ]
    for secret in secrets_to_try:
        for alg, digest in (("HS256", hashlib.sha256), ("HS512", hashlib.sha512)):
            header = {"alg": alg, "typ": "at+jwt", "kid": kid}
            unsigned = _raw(header, _claims()).rsplit(".", 1)[0]
            mac = hmac.new(secret, unsigned.encode(), digest).digest()
            await _refused(target, f"{unsigned}.{_b64(mac)}", nik)


async def test_expired_token_is_refused(target: Target, attack_sources: Any) -> None:
    nik = residents_in(attack_sources)[0]["nik"]
    now = int(time.time())
    token = _signed(target, _claims(iat=now - 7200, nbf=now - 7200, exp=now - 3600))
    await _refused(target, token, nik)


async def test_token_not_yet_valid_is_refused(target: Target, attack_sources: Any) -> None:
    nik = residents_in(attack_sources)[0]["nik"]
    now = int(time.time())
    await _refused(target, _signed(target, _claims(nbf=now + 3600, exp=now + 7200)), nik)


async def test_wrong_audience_or_issuer_is_refused(target: Target, attack_sources: Any) -> None:
    nik = residents_in(attack_sources)[0]["nik"]
    for claims in (
        _claims(aud="another-service"),
        _claims(aud=["another-service"]),
        _claims(aud="satugate:resident-report"),
        _claims(iss="http://evil.example"),
        _claims(iss=ISSUER + "/"),
        _claims(iss=None),
        _claims(aud=None),
        _claims(exp=None),
        _claims(jti=None),
    ):
        await _refused(target, _signed(target, claims), nik)


async def test_tampered_payload_is_refused(target: Target, attack_sources: Any) -> None:
    nik = residents_in(attack_sources)[0]["nik"]
    genuine = await target.token("demo-dinkes")
    head, payload, signature = genuine.split(".")
    claims = json.loads(base64.urlsafe_b64decode(payload + "=" * (-len(payload) % 4)))
    for change in (
        {"scope": "residents:read residents:search admin audit"},
        {"agency": "dinsos", "client_id": "demo-dinsos"},
        {"exp": claims["exp"] + 86_400},
    ):
        forged = {**claims, **change}
        await _refused(target, f"{head}.{_b64(json.dumps(forged).encode())}.{signature}", nik)
    # A flipped bit in the signature, and a signature moved onto another header.
    flipped = signature[:-2] + ("A" if signature[-2] != "A" else "B") + signature[-1]
    await _refused(target, f"{head}.{payload}.{flipped}", nik)
    other_head = _b64(json.dumps({"alg": "ES256", "typ": "JWT"}).encode())
    await _refused(target, f"{other_head}.{payload}.{signature}", nik)


async def test_unknown_key_id_and_foreign_key_are_refused(
    target: Target, attack_sources: Any
) -> None:
    nik = residents_in(attack_sources)[0]["nik"]
    foreign = ECKey.generate_key("P-256", parameters={"kid": "jwt-99"})
    real_kid = target.services.token_server.signing_key.kid
    for kid in ("jwt-99", real_kid, "../../etc/passwd"):
        head: dict[str, Any] = {"alg": "ES256", "typ": "at+jwt", "kid": kid}
        await _refused(target, jwt.encode(head, _claims(), foreign, algorithms=["ES256"]), nik)
    # A key carried in the header itself (jwk, jku, x5u) is never trusted.
    embedded = foreign.as_dict(private=False)
    for extra in (
        {"jwk": embedded},
        {"jku": "http://evil.example/jwks.json"},
        {"x5u": "http://evil.example/cert.pem"},
    ):
        head = {"alg": "ES256", "typ": "at+jwt", "kid": real_kid, **extra}
        await _refused(target, jwt.encode(head, _claims(), foreign, algorithms=["ES256"]), nik)
    # The gateway's own key, but a kid it does not publish, or not an access token.
    await _refused(target, _signed(target, _claims(), kid="jwt-99"), nik)
    await _refused(target, _signed(target, _claims(), typ="JWT"), nik)
    await _refused(target, _signed(target, _claims(), typ="report+jwt"), nik)


async def test_revoked_client_is_refused_at_once(target: Target, attack_sources: Any) -> None:
    nik = residents_in(attack_sources)[0]["nik"]
    dinkes = await target.headers("demo-dinkes", **{"X-Purpose": "health_insurance"})
    assert (await target.client.get(f"/v1/residents/{nik}", headers=dinkes)).status_code == 200
    admin = {"Authorization": f"Bearer {await target.token('demo-admin')}"}
    r = await target.client.post("/admin/clients/demo-dinkes/revoke", headers=admin)
    assert r.status_code == 200, r.text
    # The token issued before the revocation stops working, and no new one is issued.
    assert_problem(
        await target.client.get(f"/v1/residents/{nik}", headers=dinkes), 401, "invalid_token"
    )
    refused = await target.token_response("demo-dinkes")
    assert refused.status_code in (400, 401) and refused.json()["error"] == "invalid_client"


async def test_old_secret_after_rotation_is_refused(target: Target) -> None:
    _, old = target.creds("demo-bappeda")
    admin = {"Authorization": f"Bearer {await target.token('demo-admin')}"}
    r = await target.client.post("/admin/clients/demo-bappeda/rotate", headers=admin)
    assert r.status_code == 202, r.text
    second = {"Authorization": f"Bearer {await target.token('demo-admin-2')}"}
    r = await target.client.post(f"/admin/proposals/{r.json()['id']}/approve", headers=second)
    assert r.status_code == 200, r.text
    new = r.json()["client_secret"]
    assert new != old
    stale = await target.token_response("demo-bappeda", secret=old)
    assert stale.status_code in (400, 401) and stale.json()["error"] == "invalid_client"
    assert old not in stale.text and new not in stale.text
    fresh = await target.token_response("demo-bappeda", secret=new)
    assert fresh.status_code == 200, fresh.text


async def test_scope_escalation_is_refused(target: Target, attack_sources: Any) -> None:
    """A client asking for scopes it lacks gets none of them, and calls needing them fail."""
    nik = residents_in(attack_sources)[0]["nik"]
    for asked in ("residents:read admin audit", "admin", "audit pseudonyms:resolve"):
        r = await target.token_response("demo-dinkes", scope=asked)
        if r.status_code != 200:
            assert r.status_code in (400, 401) and r.json()["error"] == "invalid_scope"
            continue
        # Whatever the answer says, the token itself must carry no scope the client lacks.
        token = r.json()["access_token"]
        payload = token.split(".")[1]
        claims = json.loads(base64.urlsafe_b64decode(payload + "=" * (-len(payload) % 4)))
        assert set(claims.get("scope", "").split()) <= {"residents:read"}, claims
        assert set(r.json().get("scope", "").split()) <= {"residents:read"}
        h = {
            "Authorization": f"Bearer {r.json()['access_token']}",
            "X-Purpose": "health_insurance",
            "X-On-Behalf-Of": "officer.01",
        }
        assert_problem(
            await target.client.get("/admin/clients", headers=h), 403, "insufficient_scope"
        )
        assert_problem(
            await target.client.get("/audit/events", headers=h), 403, "insufficient_scope"
        )
        assert_problem(
            await target.client.post("/v1/pseudonyms/resolve", headers=h, json={"pseudonym": "x"}),
            403,
            "insufficient_scope",
        )
        assert_problem(
            await target.client.get(f"/audit/subjects/{nik}/accesses", headers=h),
            403,
            "insufficient_scope",
        )


async def test_agency_calling_audit_or_admin_is_refused(
    target: Target, attack_sources: Any
) -> None:
    nik = residents_in(attack_sources)[0]["nik"]
    h = await target.headers("demo-dinsos")
    for method, path, body in (
        ("GET", "/audit/events", None),
        ("GET", f"/audit/subjects/{nik}/accesses", None),
        ("POST", f"/audit/subjects/{nik}/report-token", None),
        ("GET", "/audit/alerts", None),
        ("GET", "/admin/clients", None),
        ("GET", "/admin/agencies", None),
        ("POST", "/admin/clients", {"name": "x", "agency": "dinsos", "scopes": ["admin"]}),
        ("POST", "/admin/clients/demo-dinsos/rotate", None),
        ("POST", "/admin/clients/demo-admin/revoke", None),
        ("POST", "/admin/keys/rotate", {"domain": "dinsos"}),
        ("POST", "/admin/policies/simulate", {"agency": "dinsos", "purpose": "statistics"}),
    ):
        r = await target.client.request(method, path, headers=h, json=body)
        assert_problem(r, 403, "insufficient_scope")
    # Agencies may read the leaves of their own calls (to prove what they received), but
    # another agency's leaf is as good as absent.
    dinkes = await target.headers("demo-dinkes", **{"X-Purpose": "health_insurance"})
    seen = await target.client.get(f"/v1/residents/{nik}", headers=dinkes)
    assert seen.status_code == 200, seen.text
    index = seen.json()["audit"]["leaf_index"]
    assert (await target.client.get(f"/audit/leaves/{index}", headers=dinkes)).status_code == 200
    assert_problem(await target.client.get(f"/audit/leaves/{index}", headers=h), 404)
    # The auditor cannot administer, nor the administrator read residents.
    auditor = {"Authorization": f"Bearer {await target.token('demo-auditor')}"}
    assert_problem(
        await target.client.get("/admin/clients", headers=auditor), 403, "insufficient_scope"
    )
    admin = await target.headers("demo-admin")
    assert_problem(
        await target.client.get(f"/v1/residents/{nik}", headers=admin), 403, "insufficient_scope"
    )


async def test_report_token_opens_only_its_own_resident(
    target: Target, attack_sources: Any
) -> None:
    """Another resident's report: the token names one resident and cannot be re-aimed."""
    a, b = residents_in(attack_sources, n=2)
    auditor = {"Authorization": f"Bearer {await target.token('demo-auditor')}"}
    r = await target.client.post(f"/audit/subjects/{a['nik']}/report-token", headers=auditor)
    assert r.status_code == 200, r.text
    report = r.json()["report_token"]
    mine = await target.client.get("/v1/me/accesses", headers={"Authorization": f"Bearer {report}"})
    assert mine.status_code == 200, mine.text
    head, payload, sig = report.split(".")
    claims = json.loads(base64.urlsafe_b64decode(payload + "=" * (-len(payload) % 4)))
    for change in ({"sub": b["nik"]}, {"sub": claims["sub"][:-2] + "xx"}, {"nik": b["nik"]}):
        forged = f"{head}.{_b64(json.dumps({**claims, **change}).encode())}.{sig}"
        bearer = {"Authorization": f"Bearer {forged}"}
        r = await target.client.get("/v1/me/accesses", headers=bearer)
        assert_problem(r, 401, "invalid_token")
    # Query parameters cannot re-aim it either.
    other = await target.client.get(
        "/v1/me/accesses", params={"nik": b["nik"]}, headers={"Authorization": f"Bearer {report}"}
    )
    # (The same resident's report, now also showing the first read of it.)
    assert other.status_code == 200
    seen = [x["event_id"] for x in other.json()["accesses"]]
    assert seen[: len(mine.json()["accesses"])] == [x["event_id"] for x in mine.json()["accesses"]]
    assert mine.json()["audit"]["event_id"] in seen
    # An access token is not a report token, and a report token is not an access token.
    access = await target.token("demo-dinsos")
    assert_problem(
        await target.client.get("/v1/me/accesses", headers={"Authorization": f"Bearer {access}"}),
        401,
        "invalid_token",
    )
    h = {
        "Authorization": f"Bearer {report}",
        "X-Purpose": "social_assistance",
        "X-On-Behalf-Of": "officer.01",
    }
    assert_problem(
        await target.client.get(f"/v1/residents/{a['nik']}", headers=h), 401, "invalid_token"
    )
    assert_problem(await target.client.get("/audit/events", headers=h), 401, "invalid_token")


async def test_revoked_client_stays_revoked_after_a_restart(
    target: Target, attack_sources: Any
) -> None:
    """Embedded mode keeps revocations in process memory; a restarted gateway must still
    refuse the revoked client's unexpired tokens (the store remembers)."""
    import httpx

    from gateway.platform.app import create_app
    from gateway.platform.services import build_services

    nik = residents_in(attack_sources)[0]["nik"]
    h = await target.headers("demo-dinsos")
    admin = {"Authorization": f"Bearer {await target.token('demo-admin')}"}
    r = await target.client.post("/admin/clients/demo-dinsos/revoke", headers=admin)
    assert r.status_code == 200, r.text
    services = await build_services(target.settings)
    app = create_app(target.settings, services=services)
    try:
        async with app.router.lifespan_context(app):
            transport = httpx.ASGITransport(app=app)
            async with httpx.AsyncClient(transport=transport, base_url=ISSUER) as client:
                r = await client.get(f"/v1/residents/{nik}", headers=h)
                assert_problem(r, 401, "invalid_token")
    finally:
        await services.aclose()


async def test_token_endpoint_brute_force_is_rate_limited(target: Target) -> None:
    limited = None
    for attempt in range(200):
        r = await target.token_response("demo-dinkes", secret=f"guess-{attempt}")
        if r.status_code == 429:
            limited = r
            break
        assert r.status_code in (400, 401) and r.json()["error"] == "invalid_client"
    assert limited is not None, "guessing secrets is slowed down"
    assert_problem(limited, 429, "rate_limited")
    assert int(limited.headers["retry-after"]) >= 1
