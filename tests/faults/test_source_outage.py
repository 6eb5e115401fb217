"""An upstream source (an agency's HTTP API, run as its own process) stops and comes back.

Promises: a lookup that needs the stopped source answers 504 ``source_unavailable`` and
is audited; the circuit opens after the configured failures and closes again once the
upstream answers; lookups that do not need it go on. When the primary source (the civil
registry, which decides whether a NIK exists) is down, the answer is 504 too, never 500.
"""

from __future__ import annotations

import asyncio
import logging
import shutil
import sqlite3
import subprocess
from collections.abc import AsyncIterator
from dataclasses import dataclass
from datetime import date
from pathlib import Path
from typing import Any

import httpx
import pytest
import yaml

from gateway.demo.seed import seed_store
from gateway.platform.app import create_app
from gateway.platform.services import Services, build_services
from gateway.platform.settings import Settings
from tests import servers
from tests.faults.procs import PYTHON, ROOT, free_port, wait_until

pytestmark = [pytest.mark.slow, pytest.mark.timeout(120)]

ISSUER = "http://localhost"
FAILURE_THRESHOLD = 3
BREAKER = {"failure_threshold": FAILURE_THRESHOLD, "reset_seconds": 1.0}


@dataclass
class Upstream:
    port: int
    db: Path
    table: str
    proc: subprocess.Popen[bytes] | None = None

    def start(self) -> None:
        self.proc = subprocess.Popen(
            [PYTHON, "-m", "tests.faults.upstream", str(self.port), str(self.db), self.table],
            cwd=ROOT,
            stdout=subprocess.DEVNULL,
            stderr=subprocess.DEVNULL,
        )
        wait_until(
            lambda: servers.reachable("127.0.0.1", self.port, 0.3),
            timeout=20,
            what="the upstream to listen",
        )

    def stop(self) -> None:
        if self.proc is not None and self.proc.poll() is None:
            self.proc.kill()
            self.proc.wait(timeout=10)


@dataclass
class Rig:
    client: httpx.AsyncClient
    services: Services
    demo: dict[str, Any]
    upstream: Upstream

    def breaker_state(self, source: str) -> str:
        connector = next(c for c in self.services.federation.connectors if c.name == source)
        return str(connector.breaker.state)  # type: ignore[attr-defined]

    async def headers(self, client_id: str) -> dict[str, str]:
        cid, secret = next(
            (c["client_id"], c["client_secret"])
            for c in self.demo["clients"]
            if c["client_id"] == client_id
        )
        r = await self.client.post(
            "/oauth/token",
            data={"grant_type": "client_credentials", "client_id": cid, "client_secret": secret},
        )
        assert r.status_code == 200, r.text
        return {
            "Authorization": f"Bearer {r.json()['access_token']}",
            "X-Purpose": "social_assistance",
            "X-On-Behalf-Of": "officer.source",
        }


def _http_source(name: str, port: int, datasets: list[str], primary: bool) -> dict[str, Any]:
    return {
        "name": name,
        "kind": "http",
        "base_url": f"http://127.0.0.1:{port}",
        "datasets": datasets,
        "primary": primary,
        "connect_timeout_seconds": 0.5,
        "read_timeout_seconds": 1.0,
        "retries": 0,
        "backoff_seconds": 0.0,
        "breaker": BREAKER,
    }


async def _rig(
    sources: Path, tmp_path: Path, *, replace: str, table: str, db: str, primary: bool
) -> AsyncIterator[Rig]:
    data_dir = tmp_path / "data"
    shutil.copytree(sources, data_dir / "sources")
    sources_file = data_dir / "sources" / "sources.yaml"
    config = yaml.safe_load(sources_file.read_text())
    upstream = Upstream(free_port(), data_dir / "sources" / db, table)
    config["sources"] = [
        _http_source(f"{s['name']}_api", upstream.port, s["datasets"], primary)
        if s["name"] == replace
        else s
        for s in config["sources"]
    ]
    sources_file.write_text(yaml.safe_dump(config))
    settings = Settings(
        data_dir=data_dir, sources_file=sources_file, issuer=ISSUER, checkpoint_interval=0.2
    )
    demo = await seed_store(settings, base_url=ISSUER)
    services = await build_services(settings)
    app = create_app(settings, services=services)
    upstream.start()
    try:
        async with app.router.lifespan_context(app):
            transport = httpx.ASGITransport(app=app)
            async with httpx.AsyncClient(transport=transport, base_url=ISSUER) as client:
                yield Rig(client, services, demo, upstream)
    finally:
        upstream.stop()
        await services.aclose()


def _welfare_adult(sources: Path) -> str:
    cutoff = date.today().replace(year=date.today().year - 20).isoformat()
    with sqlite3.connect(sources / "welfare.db") as w:
        niks = [r[0] for r in w.execute("SELECT nik FROM welfare ORDER BY nik")]
    with sqlite3.connect(sources / "civil.db") as c:
        for nik in niks:
            if c.execute(
                "SELECT 1 FROM residents WHERE nik = ? AND city_code = '35.78' AND birth_date <= ?",
                (nik, cutoff),
            ).fetchone():
                return str(nik)
    raise AssertionError("no adult welfare member in Surabaya in the synthetic data")


@pytest.fixture
async def welfare_rig(fault_sources: Path, tmp_path: Path) -> AsyncIterator[Rig]:
    async for rig in _rig(
        fault_sources, tmp_path, replace="dtks", table="welfare", db="welfare.db", primary=False
    ):
        yield rig


@pytest.fixture
async def civil_rig(fault_sources: Path, tmp_path: Path) -> AsyncIterator[Rig]:
    async for rig in _rig(
        fault_sources, tmp_path, replace="dukcapil", table="residents", db="civil.db", primary=True
    ):
        yield rig


def _problem_code(r: httpx.Response) -> tuple[int, str | None]:
    if r.headers.get("content-type", "").startswith("application/problem+json"):
        return r.status_code, r.json().get("code")
    return r.status_code, None


async def _reasons(rig: Rig) -> list[str]:
    cid, secret = next(
        (c["client_id"], c["client_secret"])
        for c in rig.demo["clients"]
        if c["client_id"] == "demo-auditor"
    )
    r = await rig.client.post(
        "/oauth/token",
        data={"grant_type": "client_credentials", "client_id": cid, "client_secret": secret},
    )
    auditor = {"Authorization": f"Bearer {r.json()['access_token']}"}
    events = (
        await rig.client.get(
            "/audit/events", headers=auditor, params={"agency": "dinsos", "limit": 200}
        )
    ).json()["events"]
    return [str(e.get("reason")) for e in events]


async def test_upstream_down_answers_504_and_the_circuit_opens_and_closes(
    welfare_rig: Rig, fault_sources: Path, caplog: pytest.LogCaptureFixture
) -> None:
    caplog.set_level(logging.INFO)
    rig = welfare_rig
    nik = _welfare_adult(fault_sources)
    h = await rig.headers("demo-dinsos")
    path = f"/v1/residents/{nik}"
    with_welfare = {"fields": "full_name,welfare_decile"}
    r = await rig.client.get(path, headers=h, params=with_welfare)
    assert r.status_code == 200, r.text
    assert r.json()["sources"]["welfare_decile"] == "dtks_api"
    assert rig.breaker_state("dtks_api") == "closed"

    rig.upstream.stop()
    for _ in range(FAILURE_THRESHOLD):
        r = await rig.client.get(path, headers=h, params=with_welfare)
        assert _problem_code(r) == (504, "source_unavailable"), r.text
    assert rig.breaker_state("dtks_api") == "open"
    r = await rig.client.get(path, headers=h, params=with_welfare)
    assert _problem_code(r) == (504, "source_unavailable"), "the open circuit fails fast"
    # A lookup that does not need the stopped source is still served.
    civil_only = await rig.client.get(path, headers=h, params={"fields": "full_name"})
    assert civil_only.status_code == 200, civil_only.text

    rig.upstream.start()
    await asyncio.sleep(BREAKER["reset_seconds"] + 0.2)
    assert rig.breaker_state("dtks_api") == "half_open"
    r = await rig.client.get(path, headers=h, params=with_welfare)
    assert r.status_code == 200, r.text
    assert rig.breaker_state("dtks_api") == "closed"
    assert (await _reasons(rig)).count("source_unavailable") == BREAKER["failure_threshold"] + 1
    # The upstream URLs carry NIKs: the HTTP client must not log them (it does at INFO).
    assert nik not in caplog.text


async def test_primary_source_down_answers_504_not_500(civil_rig: Rig, fault_sources: Path) -> None:
    rig = civil_rig
    nik = _welfare_adult(fault_sources)
    h = await rig.headers("demo-dinsos")
    r = await rig.client.get(f"/v1/residents/{nik}", headers=h)
    assert r.status_code == 200, r.text
    assert r.json()["sources"]["full_name"] == "dukcapil_api"

    rig.upstream.stop()
    r = await rig.client.get(f"/v1/residents/{nik}", headers=h)
    assert _problem_code(r) == (504, "source_unavailable"), r.text
    assert nik not in r.text
    r = await rig.client.post("/v1/residents/batch", headers=h, json={"niks": [nik]})
    assert _problem_code(r) == (504, "source_unavailable"), r.text
    assert (await _reasons(rig)).count("source_unavailable") == 2

    rig.upstream.start()
    await asyncio.sleep(BREAKER["reset_seconds"] + 0.2)
    r = await rig.client.get(f"/v1/residents/{nik}", headers=h)
    assert r.status_code == 200, r.text
