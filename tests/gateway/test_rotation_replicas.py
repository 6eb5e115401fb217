"""On the production path (PostgreSQL and Redis, two replicas): a secret rotated through
one replica stops the old secret's tokens on the other at once, not when they expire;
the new secret's tokens work on both.

The other replica's copy of the store's clients is fresh when the rotation happens, so
it is the revocation of the old secret's generation, through Redis, that refuses them.
"""

from __future__ import annotations

import asyncio
import contextlib
from collections.abc import AsyncIterator, Callable, Iterator
from pathlib import Path

import httpx
import pytest

from gateway.identity.revocation import RedisRevocationStore
from gateway.platform.app import create_app
from gateway.platform.services import build_services
from gateway.platform.settings import Settings
from tests.faults.procs import RedisServer
from tests.gateway.conftest import ISSUER, Gateway, gateway_settings, running_gateway, sample_in

__all__ = ["gateway_settings"]  # the fixture, imported for use here

pytestmark = [pytest.mark.redis, pytest.mark.postgres, pytest.mark.timeout(120)]


def _in_sync_mirror(gw: Gateway) -> bool:
    """Whether the gateway's revocation mirror (the Redis store's) vouches for itself."""
    store = gw.services.revocation
    assert isinstance(store, RedisRevocationStore)
    return store.mirror_in_sync


@pytest.fixture
def store_kind() -> str:
    return "postgres"


@pytest.fixture
def private_redis(tmp_path: Path) -> Iterator[RedisServer]:
    server = RedisServer(tmp_path / "redis")
    server.start()
    try:
        yield server
    finally:
        server.stop()


async def _until(condition: Callable[[], bool], seconds: float = 5.0) -> None:
    loop = asyncio.get_running_loop()
    deadline = loop.time() + seconds
    while not condition():
        assert loop.time() < deadline, "not within the time allowed"
        await asyncio.sleep(0.01)


@contextlib.asynccontextmanager
async def _replica(settings: Settings) -> AsyncIterator[Gateway]:
    """A second gateway on the same stores (no seeding: the first replica did that)."""
    services = await build_services(settings)
    app = create_app(settings, services=services)
    try:
        async with app.router.lifespan_context(app):
            transport = httpx.ASGITransport(app=app)
            async with httpx.AsyncClient(transport=transport, base_url=ISSUER) as client:
                yield Gateway(client=client, services=services, demo={}, settings=settings)
    finally:
        await services.aclose()


async def test_a_rotation_stops_old_tokens_on_every_replica_at_once(
    gateway_settings: Settings, private_redis: RedisServer
) -> None:
    settings = gateway_settings.model_copy(update={"redis_url": private_redis.url})
    async with running_gateway(settings) as a, _replica(settings) as b:
        await _until(lambda: _in_sync_mirror(a))
        await _until(lambda: _in_sync_mirror(b))
        nik = sample_in(a.demo, "35.78")[0]["nik"]
        old = await a.headers("demo-dinsos")
        assert (await b.client.get(f"/v1/residents/{nik}", headers=old)).status_code == 200

        admin1 = {"Authorization": f"Bearer {await a.token('demo-admin')}"}
        admin2 = {"Authorization": f"Bearer {await a.token('demo-admin-2')}"}
        proposed = await a.client.post("/admin/clients/demo-dinsos/rotate", headers=admin1)
        assert proposed.status_code == 202, proposed.text
        approved = await a.client.post(
            f"/admin/proposals/{proposed.json()['id']}/approve", headers=admin2
        )
        assert approved.status_code == 200, approved.text

        principal = b.services.verifier.verify(old["Authorization"].removeprefix("Bearer "))
        await _until(
            lambda: (
                b.services.revocation.known_verdict(
                    principal.jti, client_id=principal.client_id, generation=principal.generation
                )
                is True
            ),
            seconds=1.0,
        )
        refused = await b.client.get(f"/v1/residents/{nik}", headers=old)
        assert refused.status_code == 401 and refused.json()["code"] == "invalid_token"

        token = await a.client.post(
            "/oauth/token",
            data={
                "grant_type": "client_credentials",
                "client_id": "demo-dinsos",
                "client_secret": approved.json()["client_secret"],
            },
        )
        new = {**old, "Authorization": f"Bearer {token.json()['access_token']}"}
        for replica in (a, b):
            r = await replica.client.get(f"/v1/residents/{nik}", headers=new)
            assert r.status_code == 200, r.text
