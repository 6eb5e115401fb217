"""The surface beside the API: documentation, metrics, redirects and HSTS, as a
production deployment sets them."""

from __future__ import annotations

from collections.abc import AsyncIterator
from pathlib import Path

import httpx
import pytest
from pydantic import SecretStr

from gateway.demo.seed import seed_store
from gateway.platform.app import create_app
from gateway.platform.services import build_services
from gateway.platform.settings import Settings
from tests.attacks.conftest import assert_problem


@pytest.fixture
async def production(attack_sources: Path, tmp_path: Path) -> AsyncIterator[httpx.AsyncClient]:
    data_dir = tmp_path / "data"
    (data_dir / "sources").mkdir(parents=True)
    (data_dir / "sources" / "summary.json").write_text(
        (attack_sources / "summary.json").read_text()
    )
    settings = Settings(
        data_dir=data_dir,
        sources_file=attack_sources / "sources.yaml",
        issuer="https://satugate.example.go.id",
        docs_enabled=False,
        metrics_token=SecretStr("rahasia-metrik-uji"),
        trusted_hosts="satugate.example.go.id",
    )
    await seed_store(settings, base_url=settings.issuer)
    services = await build_services(settings)
    app = create_app(settings, services=services)
    try:
        async with app.router.lifespan_context(app):
            transport = httpx.ASGITransport(app=app)
            async with httpx.AsyncClient(
                transport=transport, base_url="https://satugate.example.go.id"
            ) as client:
                yield client
    finally:
        await services.aclose()


async def test_docs_are_off_and_metrics_need_their_token(production: httpx.AsyncClient) -> None:
    for path in ("/docs", "/redoc"):
        assert_problem(await production.get(path), 404, "not_found")
    assert (await production.get("/openapi.json")).status_code == 200, "the contract stays"
    assert_problem(await production.get("/metrics"), 401, "unauthenticated")
    wrong = {"Authorization": "Bearer tebakan"}
    assert_problem(await production.get("/metrics", headers=wrong), 401, "unauthenticated")
    right = {"Authorization": "Bearer rahasia-metrik-uji"}
    assert (await production.get("/metrics", headers=right)).status_code == 200


async def test_hsts_and_no_host_taken_from_the_request(production: httpx.AsyncClient) -> None:
    r = await production.get("/healthz")
    assert r.headers["strict-transport-security"].startswith("max-age=")
    forged = await production.get("/console/", headers={"Host": "evil.example"})
    assert_problem(forged, 400, "untrusted_host")
    # No slash redirect builds a URL from the request's Host: there is none.
    r = await production.get("/console", headers={"Host": "satugate.example.go.id"})
    assert "evil" not in r.headers.get("location", "") and r.status_code != 307
    # Probes reach pods by address: they are answered whatever the Host.
    assert (await production.get("/healthz", headers={"Host": "10.0.0.7:8000"})).status_code == 200
