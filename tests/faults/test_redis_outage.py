"""The Redis behind rate limits and token revocation stops, then comes back (a private
redis-server on a free port; the shared one is never touched).

Promise: while Redis is down every call that needs it answers 503
``rate_limiter_unavailable`` (fail closed: no limits, no data); when it is back the
gateway serves again by itself.
"""

from __future__ import annotations

import asyncio
from collections.abc import AsyncIterator
from dataclasses import dataclass
from pathlib import Path
from typing import Any

import httpx
import pytest

from gateway.demo.seed import seed_store
from gateway.platform.app import create_app
from gateway.platform.services import Services, build_services
from gateway.platform.settings import Settings
from tests.faults.conftest import adult_niks
from tests.faults.procs import RedisServer

pytestmark = [pytest.mark.slow, pytest.mark.timeout(120)]

ISSUER = "http://localhost"


@dataclass
class Rig:
    client: httpx.AsyncClient
    services: Services
    demo: dict[str, Any]
    redis: RedisServer

    def creds(self, client_id: str) -> dict[str, str]:
        c = next(c for c in self.demo["clients"] if c["client_id"] == client_id)
        return {
            "grant_type": "client_credentials",
            "client_id": c["client_id"],
            "client_secret": c["client_secret"],
        }


@pytest.fixture
async def rig(fault_sources: Path, tmp_path: Path) -> AsyncIterator[Rig]:
    redis = RedisServer(tmp_path / "redis")
    redis.start()
    data_dir = tmp_path / "data"
    (data_dir / "sources").mkdir(parents=True)
    summary = (fault_sources / "summary.json").read_text()
    (data_dir / "sources" / "summary.json").write_text(summary)
    settings = Settings(
        data_dir=data_dir,
        sources_file=fault_sources / "sources.yaml",
        issuer=ISSUER,
        redis_url=redis.url,
        checkpoint_interval=0.2,
    )
    demo = await seed_store(settings, base_url=ISSUER)
    services = await build_services(settings)
    app = create_app(settings, services=services)
    try:
        async with app.router.lifespan_context(app):
            transport = httpx.ASGITransport(app=app)
            async with httpx.AsyncClient(transport=transport, base_url=ISSUER) as client:
                yield Rig(client, services, demo, redis)
    finally:
        await services.aclose()
        redis.stop()


def _code(r: httpx.Response) -> tuple[int, str | None]:
    if r.headers.get("content-type", "").startswith("application/problem+json"):
        return r.status_code, r.json().get("code")
    return r.status_code, None


async def test_redis_down_answers_503_and_recovers(rig: Rig, fault_sources: Path) -> None:
    nik = adult_niks(fault_sources, n=1)[0]
    token = (await rig.client.post("/oauth/token", data=rig.creds("demo-dinsos"))).json()
    h = {
        "Authorization": f"Bearer {token['access_token']}",
        "X-Purpose": "social_assistance",
        "X-On-Behalf-Of": "officer.redis",
    }
    assert (await rig.client.get(f"/v1/residents/{nik}", headers=h)).status_code == 200

    rig.redis.stop()
    for _ in range(3):
        r = await rig.client.get(f"/v1/residents/{nik}", headers=h)
        assert _code(r) == (503, "rate_limiter_unavailable"), r.text
    r = await rig.client.post("/oauth/token", data=rig.creds("demo-dinsos"))
    assert _code(r) == (503, "rate_limiter_unavailable"), r.text
    ready = await rig.client.get("/readyz")
    assert ready.status_code == 503 and ready.json()["checks"]["redis"] == "unavailable"

    rig.redis.start()
    for _ in range(50):
        r = await rig.client.get(f"/v1/residents/{nik}", headers=h)
        if r.status_code == 200:
            break
        assert _code(r) == (503, "rate_limiter_unavailable"), r.text
        await asyncio.sleep(0.1)
    assert r.status_code == 200, "the gateway serves again once Redis is back"
    again = await rig.client.post("/oauth/token", data=rig.creds("demo-dinsos"))
    assert again.status_code == 200
    assert (await rig.client.get("/readyz")).status_code == 200


async def test_revoked_client_stays_revoked_after_redis_restarts_empty(
    rig: Rig, fault_sources: Path
) -> None:
    """Revocations must outlive a Redis that restarts without persistence (the store's
    record is re-read every 2 s, so the check waits that long)."""
    nik = adult_niks(fault_sources, n=1)[0]
    token = (await rig.client.post("/oauth/token", data=rig.creds("demo-dinsos"))).json()
    h = {
        "Authorization": f"Bearer {token['access_token']}",
        "X-Purpose": "social_assistance",
        "X-On-Behalf-Of": "officer.redis",
    }
    assert (await rig.client.get(f"/v1/residents/{nik}", headers=h)).status_code == 200
    admin_token = (await rig.client.post("/oauth/token", data=rig.creds("demo-admin"))).json()
    admin = {"Authorization": f"Bearer {admin_token['access_token']}"}
    revoked = await rig.client.post("/admin/clients/demo-dinsos/revoke", headers=admin)
    assert revoked.status_code == 200, revoked.text
    assert _code(await rig.client.get(f"/v1/residents/{nik}", headers=h)) == (401, "invalid_token")

    rig.redis.stop()
    rig.redis.start()  # empty: --save "" and no append-only file
    await asyncio.sleep(2.2)
    r = await rig.client.get(f"/v1/residents/{nik}", headers=h)
    assert _code(r) == (401, "invalid_token"), r.text
