"""A whole embedded gateway per test (real ASGI app, SQLite store, synthetic sources),
with helpers to obtain tokens and to check refusals."""

from __future__ import annotations

import base64
import sqlite3
from collections.abc import AsyncIterator
from dataclasses import dataclass
from datetime import date
from pathlib import Path
from typing import Any

import httpx
import pytest

from gateway.demo.seed import prepare_sources, seed_store
from gateway.platform.app import create_app
from gateway.platform.services import Services, build_services
from gateway.platform.settings import Settings

ISSUER = "http://localhost"
PROBLEM = "application/problem+json"


@pytest.fixture(scope="session")
def attack_sources(tmp_path_factory: pytest.TempPathFactory) -> Path:
    data_dir = tmp_path_factory.mktemp("attack-sources")
    prepare_sources(Settings(data_dir=data_dir), residents=300, seed=23, force=True)
    return data_dir / "sources"


def residents_in(sources: Path, city: str = "35.78", n: int = 3) -> list[dict[str, Any]]:
    """Adults domiciled in ``city`` (inside the demo social affairs office's jurisdiction)."""
    cutoff = date.today().replace(year=date.today().year - 20).isoformat()
    with sqlite3.connect(f"file:{sources / 'civil.db'}?mode=ro", uri=True) as conn:
        conn.row_factory = sqlite3.Row
        rows = conn.execute(
            "SELECT * FROM residents WHERE city_code = ? AND birth_date <= ? ORDER BY nik LIMIT ?",
            (city, cutoff, n),
        ).fetchall()
    assert len(rows) == n
    return [dict(r) for r in rows]


@dataclass
class Target:
    client: httpx.AsyncClient
    services: Services
    demo: dict[str, Any]
    settings: Settings
    capture: pytest.CaptureFixture[str]
    seen: str = ""
    app: Any = None

    def from_address(self, host: str) -> httpx.AsyncClient:
        """A client of the same gateway calling from another source address."""
        transport = httpx.ASGITransport(app=self.app, client=(host, 40000))
        return httpx.AsyncClient(transport=transport, base_url=ISSUER)

    def logs(self) -> str:
        """Everything the gateway logged to stdout and stderr so far."""
        out = self.capture.readouterr()
        self.seen += out.out + out.err
        return self.seen

    def creds(self, client_id: str) -> tuple[str, str]:
        for c in self.demo["clients"]:
            if c["client_id"] == client_id:
                return str(c["client_id"]), str(c["client_secret"])
        raise KeyError(client_id)

    async def token_response(
        self, client_id: str, secret: str | None = None, scope: str | None = None
    ) -> httpx.Response:
        cid, known = self.creds(client_id)
        data = {"grant_type": "client_credentials"}
        if scope is not None:
            data["scope"] = scope
        basic = base64.b64encode(f"{cid}:{secret or known}".encode()).decode()
        return await self.client.post(
            "/oauth/token", data=data, headers={"Authorization": f"Basic {basic}"}
        )

    async def token(self, client_id: str, scope: str | None = None) -> str:
        r = await self.token_response(client_id, scope=scope)
        assert r.status_code == 200, r.text
        return str(r.json()["access_token"])

    async def headers(self, client_id: str, **extra: str) -> dict[str, str]:
        h = {
            "Authorization": f"Bearer {await self.token(client_id)}",
            "X-Purpose": "social_assistance",
            "X-On-Behalf-Of": "officer.01",
        }
        h.update(extra)
        return h


@pytest.fixture
async def target(
    attack_sources: Path, tmp_path: Path, capsys: pytest.CaptureFixture[str]
) -> AsyncIterator[Target]:
    data_dir = tmp_path / "data"
    (data_dir / "sources").mkdir(parents=True)
    (data_dir / "sources" / "summary.json").write_text(
        (attack_sources / "summary.json").read_text()
    )
    settings = Settings(
        data_dir=data_dir,
        sources_file=attack_sources / "sources.yaml",
        issuer=ISSUER,
        checkpoint_interval=0.2,
    )
    demo = await seed_store(settings, base_url=ISSUER)
    services = await build_services(settings)
    app = create_app(settings, services=services)
    try:
        async with app.router.lifespan_context(app):
            transport = httpx.ASGITransport(app=app)
            async with httpx.AsyncClient(transport=transport, base_url=ISSUER) as client:
                yield Target(client, services, demo, settings, capsys, app=app)
    finally:
        await services.aclose()


def assert_problem(r: httpx.Response, status: int, code: str | None = None) -> dict[str, Any]:
    """A refusal: the status, problem+json with the stable fields, and the code."""
    assert r.status_code == status, r.text
    assert r.headers["content-type"].startswith(PROBLEM), r.headers["content-type"]
    body: dict[str, Any] = r.json()
    assert body["status"] == status
    assert {"type", "title", "detail", "code"} <= set(body)
    if code is not None:
        assert body["code"] == code, body
    return body
