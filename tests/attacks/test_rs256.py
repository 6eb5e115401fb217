"""RS256 access tokens by setting (RFC 9068 §2.1 requires support for it); ES256 stays
the default. Switching leaves the other algorithm's keys in the JWKS, so tokens issued
before the switch keep working until they expire, like a rotation's overlap."""

from __future__ import annotations

import base64
import json
from pathlib import Path
from typing import Any

import httpx
from joserfc import jwt
from joserfc.jwk import KeySet

from gateway.demo.seed import seed_store
from gateway.platform.app import create_app
from gateway.platform.services import build_services
from gateway.platform.settings import Settings
from tests.attacks.conftest import ISSUER


def _header(token: str) -> dict[str, Any]:
    part = token.split(".")[0]
    return dict(json.loads(base64.urlsafe_b64decode(part + "=" * (-len(part) % 4))))


async def _run(
    settings: Settings, demo: dict[str, Any], old: str | None
) -> tuple[str, dict[str, Any]]:
    services = await build_services(settings)
    app = create_app(settings, services=services)
    try:
        async with app.router.lifespan_context(app):
            transport = httpx.ASGITransport(app=app)
            async with httpx.AsyncClient(transport=transport, base_url=ISSUER) as client:
                creds = next(c for c in demo["clients"] if c["client_id"] == "demo-dinsos")
                r = await client.post(
                    "/oauth/token",
                    data={"grant_type": "client_credentials"},
                    auth=(creds["client_id"], creds["client_secret"]),
                )
                assert r.status_code == 200, r.text
                token = str(r.json()["access_token"])
                jwks = (await client.get("/.well-known/jwks.json")).json()
                for t in (token, old):
                    if t is None:
                        continue
                    r = await client.get("/v1/catalog", headers={"Authorization": f"Bearer {t}"})
                    assert r.status_code == 200, r.text
                return token, jwks
    finally:
        await services.aclose()


async def test_rs256_by_setting_with_both_keys_published(
    attack_sources: Path, tmp_path: Path
) -> None:
    data_dir = tmp_path / "data"
    (data_dir / "sources").mkdir(parents=True)
    (data_dir / "sources" / "summary.json").write_text(
        (attack_sources / "summary.json").read_text()
    )
    common: dict[str, Any] = {
        "data_dir": data_dir,
        "sources_file": attack_sources / "sources.yaml",
        "issuer": ISSUER,
    }
    es = Settings(**common)
    demo = await seed_store(es, base_url=ISSUER)
    es_token, es_jwks = await _run(es, demo, None)
    assert _header(es_token)["alg"] == "ES256"
    assert {k["kty"] for k in es_jwks["keys"]} == {"EC"}

    rs = Settings(**common, token_signing_alg="RS256")
    rs_token, rs_jwks = await _run(rs, demo, es_token)  # the ES256 token still verifies
    assert _header(rs_token)["alg"] == "RS256"
    assert {k["kty"] for k in rs_jwks["keys"]} == {"EC", "RSA"}
    assert {k["alg"] for k in rs_jwks["keys"]} == {"ES256", "RS256"}
    # A third-party verifier with the published JWKS checks it (RFC 9068 §4).
    keys = KeySet.import_key_set({"keys": list(rs_jwks["keys"])})
    decoded = jwt.decode(rs_token, keys, algorithms=["RS256"])
    assert decoded.header["typ"] == "at+jwt" and decoded.claims["iss"] == ISSUER

    # A resident's report token is signed with the same key, so RS256 too.
    services = await build_services(rs)
    try:
        from gateway.auditing.reports import issue_report_token, read_report_token

        nik = demo["sample_residents"][0]["nik"]
        report, _, _ = await issue_report_token(services, nik)
        assert _header(report)["alg"] == "RS256"
        await read_report_token(services, report)
    finally:
        await services.aclose()

    # Back to ES256: the RSA key stays published, and the RS256 token still verifies.
    _, back = await _run(es, demo, rs_token)
    assert {k["kty"] for k in back["keys"]} == {"EC", "RSA"}


async def test_an_rs256_token_under_an_ec_kid_is_refused(
    attack_sources: Path, tmp_path: Path
) -> None:
    """The algorithm is bound to the key's kind: no RS256 signature passes for an EC kid."""
    from joserfc.jwk import RSAKey

    data_dir = tmp_path / "data"
    (data_dir / "sources").mkdir(parents=True)
    (data_dir / "sources" / "summary.json").write_text(
        (attack_sources / "summary.json").read_text()
    )
    settings = Settings(data_dir=data_dir, sources_file=attack_sources / "sources.yaml",
                        issuer=ISSUER)  # fmt: skip
    await seed_store(settings, base_url=ISSUER)
    services = await build_services(settings)
    try:
        ec_kid = services.jwks["keys"][0]["kid"]
        forged = jwt.encode(
            {"alg": "RS256", "typ": "at+jwt", "kid": ec_kid},
            {"iss": ISSUER, "aud": "satugate", "client_id": "demo-dinsos", "agency": "dinsos",
             "exp": 9_999_999_999, "nbf": 0, "iat": 0, "jti": "x"},
            RSAKey.generate_key(2048),
            algorithms=["RS256"],
        )  # fmt: skip
        from gateway.platform.errors import InvalidToken

        try:
            services.verifier.verify(forged)
        except InvalidToken:
            pass
        else:
            raise AssertionError("an RS256 token signed by a stranger's key was accepted")
    finally:
        await services.aclose()
