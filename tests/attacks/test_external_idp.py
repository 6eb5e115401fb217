"""Tokens of an external identity provider, a real local issuer started by the test (an
HTTP server in a thread serving OIDC discovery and its JWKS): verified against its keys,
mapped to a registered client, bounded by that client's scopes; keys fetched again on an
unknown kid, but not on every forged one."""

from __future__ import annotations

import json
import threading
import time
from collections.abc import AsyncIterator, Iterator
from dataclasses import dataclass, field
from http.server import BaseHTTPRequestHandler, ThreadingHTTPServer
from pathlib import Path
from typing import Any

import httpx
import pytest
from joserfc import jwt
from joserfc.jwk import ECKey, OctKey, RSAKey

from gateway.demo.seed import seed_store
from gateway.platform.app import create_app
from gateway.platform.services import Services, build_services
from gateway.platform.settings import ExternalIssuer, Settings
from tests.attacks.conftest import ISSUER, assert_problem

AUDIENCE = "satugate-ext"


@dataclass
class Issuer:
    url: str = ""
    keys: list[ECKey | RSAKey] = field(default_factory=list)
    hits: dict[str, int] = field(default_factory=dict)
    padding: int = 0
    """Characters of filler in the key set's answer (a huge answer from a hostile host)."""

    def token(self, key: ECKey | RSAKey | None = None, **override: Any) -> str:
        key = key or self.keys[-1]
        now = int(time.time())
        claims: dict[str, Any] = {
            "iss": self.url,
            "aud": AUDIENCE,
            "azp": "demo-dinsos",
            "scope": "residents:read",
            "iat": now,
            "exp": now + 300,
            "jti": f"ext-{now}-{len(self.hits)}-{id(override)}",
        }
        claims.update(override)
        alg = "RS256" if isinstance(key, RSAKey) else "ES256"
        return jwt.encode({"alg": alg, "kid": key.kid, "typ": "JWT"},
                          {k: v for k, v in claims.items() if v is not None}, key,
                          algorithms=[alg])  # fmt: skip


@pytest.fixture
def issuer() -> Iterator[Issuer]:
    state = Issuer(keys=[ECKey.generate_key("P-256", parameters={"kid": "k1"})])

    class Handler(BaseHTTPRequestHandler):
        def do_GET(self) -> None:
            state.hits[self.path] = state.hits.get(self.path, 0) + 1
            if self.path == "/.well-known/openid-configuration":
                body: dict[str, Any] = {"issuer": state.url, "jwks_uri": state.url + "/jwks"}
            elif self.path == "/jwks":
                body = {"keys": [k.as_dict(private=False) for k in state.keys]}
                if state.padding:
                    body["filler"] = "x" * state.padding
            else:
                self.send_error(404)
                return
            data = json.dumps(body).encode()
            self.send_response(200)
            self.send_header("Content-Type", "application/json")
            self.send_header("Content-Length", str(len(data)))
            self.end_headers()
            self.wfile.write(data)

        def log_message(self, *args: Any) -> None:
            return None

    server = ThreadingHTTPServer(("127.0.0.1", 0), Handler)
    state.url = f"http://127.0.0.1:{server.server_address[1]}"
    thread = threading.Thread(target=server.serve_forever, daemon=True)
    thread.start()
    try:
        yield state
    finally:
        server.shutdown()
        server.server_close()


@dataclass
class Gateway:
    client: httpx.AsyncClient
    services: Services


@pytest.fixture
async def gateway(attack_sources: Path, tmp_path: Path, issuer: Issuer) -> AsyncIterator[Gateway]:
    data_dir = tmp_path / "data"
    (data_dir / "sources").mkdir(parents=True)
    (data_dir / "sources" / "summary.json").write_text(
        (attack_sources / "summary.json").read_text()
    )
    settings = Settings(
        data_dir=data_dir,
        sources_file=attack_sources / "sources.yaml",
        issuer=ISSUER,
        external_issuers=[ExternalIssuer(issuer=issuer.url, audience=AUDIENCE, client_claim="azp")],
    )
    await seed_store(settings, base_url=ISSUER)
    services = await build_services(settings)
    app = create_app(settings, services=services)
    try:
        async with app.router.lifespan_context(app):
            transport = httpx.ASGITransport(app=app)
            async with httpx.AsyncClient(transport=transport, base_url=ISSUER) as client:
                yield Gateway(client, services)
    finally:
        await services.aclose()


async def _catalog(gw: Gateway, token: str) -> httpx.Response:
    return await gw.client.get("/v1/catalog", headers={"Authorization": f"Bearer {token}"})


async def test_an_external_token_maps_to_its_registered_client(
    gateway: Gateway, issuer: Issuer
) -> None:
    r = await _catalog(gateway, issuer.token())
    assert r.status_code == 200, r.text
    assert issuer.hits["/.well-known/openid-configuration"] == 1
    # A scope the client is not registered for is not granted by the external token.
    r = await gateway.client.get(
        "/admin/clients",
        headers={"Authorization": f"Bearer {issuer.token(scope='residents:read admin')}"},
    )
    assert_problem(r, 403, "insufficient_scope")


async def test_careless_and_hostile_external_tokens_are_refused(
    gateway: Gateway, issuer: Issuer
) -> None:
    now = int(time.time())
    stranger = ECKey.generate_key("P-256", parameters={"kid": "k1"})
    cases = {
        "wrong audience": issuer.token(aud="another-api"),
        "no audience": issuer.token(aud=None),
        "expired": issuer.token(iat=now - 900, exp=now - 600),
        "unregistered client": issuer.token(azp="someone-else"),
        "no client claim": issuer.token(azp=None),
        "an admin client": issuer.token(azp="demo-admin", scope="admin"),
        "a stranger's key under the issuer's kid": issuer.token(key=stranger),
    }
    oct_key = OctKey.generate_key(256, parameters={"kid": "k1"})
    cases["HS256"] = jwt.encode(
        {"alg": "HS256", "kid": "k1"},
        {"iss": issuer.url, "aud": AUDIENCE, "azp": "demo-dinsos", "exp": now + 60},
        oct_key,
        algorithms=["HS256"],
    )
    for name, token in cases.items():
        r = await _catalog(gateway, token)
        assert r.status_code == 401, (name, r.text)
        assert r.json()["code"] == "invalid_token", name
        assert 'error="invalid_token"' in r.headers["www-authenticate"], name


async def test_keys_are_fetched_again_for_an_unknown_kid(gateway: Gateway, issuer: Issuer) -> None:
    assert (await _catalog(gateway, issuer.token())).status_code == 200
    assert issuer.hits["/jwks"] == 1
    # The issuer rotates: a token under the new kid makes the gateway fetch its keys again.
    assert gateway.services.external is not None
    gateway.services.external.refresh_seconds = 0.0
    issuer.keys.append(RSAKey.generate_key(2048, parameters={"kid": "k2"}))
    assert (await _catalog(gateway, issuer.token())).status_code == 200
    assert issuer.hits["/jwks"] == 2
    # Known kids are served from the cache.
    assert (await _catalog(gateway, issuer.token(key=issuer.keys[0]))).status_code == 200
    assert issuer.hits["/jwks"] == 2
    # Forged kids do not make the gateway hammer the issuer: one fetch per window.
    gateway.services.external.refresh_seconds = 30.0
    for n in range(5):
        forged = ECKey.generate_key("P-256", parameters={"kid": f"forged-{n}"})
        assert (await _catalog(gateway, issuer.token(key=forged))).status_code == 401
    assert issuer.hits["/jwks"] <= 3


async def test_a_huge_key_set_is_not_read_and_its_keys_are_not_used(
    gateway: Gateway, issuer: Issuer
) -> None:
    issuer.padding = 200_000  # past the size cap of a fetched key set
    r = await _catalog(gateway, issuer.token())
    assert r.status_code == 401, r.text
    assert r.json()["code"] == "invalid_token"
    assert issuer.hits["/jwks"] == 1
    # The same keys in an answer of a sane size are fetched and used.
    issuer.padding = 0
    assert gateway.services.external is not None
    gateway.services.external.refresh_seconds = 0.0
    assert (await _catalog(gateway, issuer.token())).status_code == 200
    assert issuer.hits["/jwks"] == 2
