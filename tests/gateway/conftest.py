"""A whole gateway per test: synthetic sources, a seeded store, the real ASGI app.

The gateway store is parametrised over the embedded SQLite file and the real PostgreSQL
server; the sources are SQLite files generated once per session (read-only).
"""

from __future__ import annotations

import base64
import contextlib
import json
from collections.abc import AsyncIterator
from dataclasses import dataclass
from pathlib import Path
from typing import Any

import httpx
import pytest
from argon2 import PasswordHasher

from gateway.demo.seed import prepare_sources, seed_store
from gateway.platform.app import create_app
from gateway.platform.services import Services, build_services
from gateway.platform.settings import Settings

ISSUER = "http://localhost"
# The cheapest argon2 settings: console passwords are not what these tests are about.
FAST_HASHER = PasswordHasher(time_cost=1, memory_cost=8, parallelism=1)


@pytest.fixture(scope="session")
def demo_sources(tmp_path_factory: pytest.TempPathFactory) -> Path:
    data_dir = tmp_path_factory.mktemp("demo-sources")
    prepare_sources(Settings(data_dir=data_dir), residents=600, seed=11, force=True)
    return data_dir / "sources"


@pytest.fixture(params=["sqlite", pytest.param("postgres", marks=pytest.mark.postgres)])
def store_kind(request: pytest.FixtureRequest) -> str:
    return str(request.param)


@pytest.fixture
def gateway_settings(
    store_kind: str, demo_sources: Path, tmp_path: Path, request: pytest.FixtureRequest
) -> Settings:
    database_url = None
    if store_kind == "postgres":
        database_url = request.getfixturevalue("postgres_url")
    data_dir = tmp_path / "data"
    (data_dir / "sources").mkdir(parents=True)
    (data_dir / "sources" / "summary.json").write_text((demo_sources / "summary.json").read_text())
    return Settings(
        data_dir=data_dir,
        database_url=database_url,
        sources_file=demo_sources / "sources.yaml",
        issuer=ISSUER,
        checkpoint_interval=0.2,
    )


@dataclass
class Gateway:
    client: httpx.AsyncClient
    services: Services
    demo: dict[str, Any]
    settings: Settings

    def creds(self, client_id: str) -> tuple[str, str]:
        for c in self.demo["clients"]:
            if c["client_id"] == client_id:
                return c["client_id"], c["client_secret"]
        raise KeyError(client_id)

    async def token(self, client_id: str, scope: str | None = None) -> str:
        cid, secret = self.creds(client_id)
        data = {"grant_type": "client_credentials"}
        if scope:
            data["scope"] = scope
        basic = base64.b64encode(f"{cid}:{secret}".encode()).decode()
        r = await self.client.post(
            "/oauth/token", data=data, headers={"Authorization": f"Basic {basic}"}
        )
        assert r.status_code == 200, r.text
        return str(r.json()["access_token"])

    async def headers(
        self,
        client_id: str,
        purpose: str = "social_assistance",
        officer: str = "officer.01",
        **extra: str,
    ) -> dict[str, str]:
        h = {
            "Authorization": f"Bearer {await self.token(client_id)}",
            "X-Purpose": purpose,
            "X-On-Behalf-Of": officer,
        }
        h.update(extra)
        return h


@contextlib.asynccontextmanager
async def running_gateway(settings: Settings) -> AsyncIterator[Gateway]:
    """A seeded store and the app on it, its lifespan running, and a client to call it."""
    demo = await seed_store(settings, base_url=ISSUER, console_hasher=FAST_HASHER)
    services = await build_services(settings)
    app = create_app(settings, services=services)
    try:
        async with app.router.lifespan_context(app):
            transport = httpx.ASGITransport(app=app)
            async with httpx.AsyncClient(transport=transport, base_url=ISSUER) as client:
                yield Gateway(client=client, services=services, demo=demo, settings=settings)
    finally:
        await services.aclose()


@pytest.fixture
async def gateway(gateway_settings: Settings) -> AsyncIterator[Gateway]:
    async with running_gateway(gateway_settings) as gw:
        yield gw


def sample_in(demo: dict[str, Any], prefix: str) -> list[dict[str, Any]]:
    return [r for r in demo["sample_residents"] if r["kelurahan_code"].startswith(prefix)]


def dump(obj: Any) -> str:
    return json.dumps(obj, ensure_ascii=False)
