"""A full scenario against a real gateway process on the production path (PostgreSQL
store, Redis limits): lookups, searches, batches, re-identification, refusals of every
kind, auditor reports. Afterwards its whole log, and every error body it answered, are
scanned for the NIKs and names the scenario used: none may appear.
"""

from __future__ import annotations

import asyncio
from pathlib import Path
from typing import Any

import httpx
import pytest

from tests.attacks.conftest import residents_in
from tests.faults.procs import (
    GatewayProcess,
    RedisServer,
    fetch_token,
    free_port,
    gateway_env,
    seed_data_dir,
)

pytestmark = [pytest.mark.slow, pytest.mark.postgres, pytest.mark.timeout(180)]

CASE = {"X-Legal-Basis": "PKS-DUKCAPIL/DINSOS/12/2025"}


async def _scenario(
    base: str, demo: dict[str, Any], people: list[dict[str, Any]], outsiders: list[dict[str, Any]]
) -> list[httpx.Response]:
    answers: list[httpx.Response] = []
    tokens = {
        c: fetch_token(base, demo, c)
        for c in (
            "demo-dinsos",
            "demo-dinsos-denpasar",
            "demo-dinkes",
            "demo-bappeda",
            "demo-auditor",
            "demo-admin",
        )
    }

    def h(client: str, purpose: str = "social_assistance", **extra: str) -> dict[str, str]:
        return {
            "Authorization": f"Bearer {tokens[client]}",
            "X-Purpose": purpose,
            "X-On-Behalf-Of": "officer.scenario",
            **extra,
        }

    async with httpx.AsyncClient(base_url=base, timeout=20) as client:

        async def go(method: str, path: str, **kw: Any) -> httpx.Response:
            r = await client.request(method, path, **kw)
            answers.append(r)
            return r

        for p in people:
            nik = p["nik"]
            assert (
                await go("GET", f"/v1/residents/{nik}", headers=h("demo-dinsos"))
            ).status_code == 200
            await go("GET", f"/v1/residents/{nik}", headers=h("demo-dinkes", "health_insurance"))
            await go("GET", f"/v1/residents/{nik}", headers=h("demo-bappeda", "statistics"))
            await go("GET", f"/v1/residents/{nik}", headers=h("demo-dinsos-denpasar"))
            await go("GET", f"/v1/residents/{nik}", headers=h("demo-dinsos", "immunisation"))
            await go(
                "GET",
                f"/v1/residents/{nik}",
                headers=h("demo-dinsos"),
                params={"fields": f"full_name,{nik}"},
            )
            await go("GET", f"/v1/residents/{nik}x", headers=h("demo-dinsos"))
            await go("GET", f"/v1/residents/{nik[:-1]}", headers=h("demo-dinsos"))
            await go(
                "GET",
                f"/v1/residents/{nik}",
                headers=h("demo-dinsos") | {"X-On-Behalf-Of": f"{nik} {p['full_name']}"},
            )
            await go("GET", f"/v1/residents/{nik}", headers=h("demo-dinsos") | {"X-Purpose": nik})
            await go(
                "GET",
                f"/v1/residents/{nik}",
                headers=h("demo-dinsos") | {"X-Legal-Basis": (p["full_name"] + "\u200b").encode()},
            )
            await go(
                "POST",
                "/v1/residents/search",
                headers=h("demo-dinsos"),
                json={
                    "name": p["full_name"],
                    "address": {"kelurahan_code": p["kelurahan_code"], "rt": p["rt"]},
                },
            )
            await go(
                "POST",
                "/v1/residents/search",
                headers=h("demo-dinsos"),
                json={"name": p["full_name"], "address": {}},
            )
            await go(
                "POST",
                "/v1/residents/search",
                headers=h("demo-dinsos"),
                json={
                    "name": p["full_name"],
                    "address": {"kelurahan_code": p["kelurahan_code"]},
                    "birth_date": nik,
                },
            )
            await go(
                "POST",
                "/v1/residents/search",
                headers=h("demo-dinkes", "health_insurance"),
                json={"name": p["full_name"], "address": {"rt": p["rt"]}},
            )
            r = await go(
                "GET", f"/v1/residents/{nik}", headers=h("demo-dinsos", "case_management", **CASE)
            )
            if r.status_code == 200:
                subject = r.json()["subject"]
                await go(
                    "POST",
                    "/v1/pseudonyms/resolve",
                    headers=h("demo-dinsos", "case_management", **CASE),
                    json={"pseudonym": subject},
                )
                await go(
                    "POST",
                    "/v1/pseudonyms/resolve",
                    headers=h("demo-dinsos", "case_management"),
                    json={"pseudonym": subject},
                )
                await go(
                    "POST",
                    "/v1/pseudonyms/resolve",
                    headers=h("demo-dinsos", "case_management", **CASE),
                    json={"pseudonym": subject[:-3] + "abc"},
                )
                await go(
                    "POST",
                    "/v1/pseudonyms/resolve",
                    headers=h("demo-dinsos", "case_management", **CASE),
                    json={"pseudonym": nik},
                )
            auditor = {"Authorization": f"Bearer {tokens['demo-auditor']}"}
            await go("GET", f"/audit/subjects/{nik}/accesses", headers=auditor)
            await go("GET", "/audit/events", headers=auditor, params={"subject_nik": nik})
            await go("GET", "/audit/events", headers=auditor, params={"subject_nik": nik + "0"})
            await go("GET", "/audit/events", headers=auditor, params={"officer": p["full_name"]})
            await go("GET", f"/admin/clients/{nik}/revoke", headers=auditor)
            await go(
                "POST",
                f"/admin/clients/{nik}/revoke",
                headers={"Authorization": f"Bearer {tokens['demo-admin']}"},
            )
        batch = [p["nik"] for p in people + outsiders] + ["123", people[0]["nik"] + "9"]
        await go("POST", "/v1/residents/batch", headers=h("demo-dinsos"), json={"niks": batch})
        await go(
            "POST",
            "/v1/residents/batch",
            headers=h("demo-dinsos"),
            json={"niks": batch, "fields": ["full_name", people[0]["full_name"]]},
        )
        for o in outsiders:
            await go("GET", f"/v1/residents/{o['nik']}", headers=h("demo-dinsos"))
    return answers


async def test_full_scenario_leaves_no_nik_or_name_in_logs_or_error_bodies(
    attack_sources: Path, tmp_path: Path, postgres_url: str
) -> None:
    people = residents_in(attack_sources, "35.78", n=3)
    outsiders = residents_in(attack_sources, "51.71", n=2)
    redis = RedisServer(tmp_path / "redis")
    redis.start()
    port = free_port()
    data_dir = tmp_path / "data"
    demo = await seed_data_dir(attack_sources, data_dir, port=port, database_url=postgres_url)
    env = gateway_env(
        data_dir,
        port,
        SATUGATE_DATABASE_URL=postgres_url,
        SATUGATE_REDIS_URL=redis.url,
        SATUGATE_LOG_LEVEL="debug",
    )
    gw = GatewayProcess(env, port, tmp_path / "gateway.log")
    gw.start()
    try:
        answers = await _scenario(gw.base, demo, people, outsiders)
        await asyncio.sleep(0.5)  # the last access-log lines
    finally:
        gw.stop()
        redis.stop()
    statuses = {r.status_code for r in answers}
    assert 200 in statuses and {403, 404, 422} <= statuses, statuses
    assert not any(r.status_code >= 500 for r in answers), [
        r.text for r in answers if r.status_code >= 500
    ]
    errors = [r for r in answers if r.status_code >= 400]
    assert len(errors) >= 30
    logs = gw.logs()
    assert '"route"' in logs and '"status": 403' in logs, "the access log was captured"
    secrets_used = [p["nik"] for p in people + outsiders]
    secrets_used += [p["full_name"] for p in people + outsiders]
    secrets_used += [p["nik"][:-1] for p in people]  # a NIK cut short is still one
    leaks = [s for s in secrets_used if s in logs]
    assert leaks == [], "the log names residents"
    for r in errors:
        for s in secrets_used:
            assert s not in r.text, (r.request.url.path.split("/")[1], r.status_code, r.json())
