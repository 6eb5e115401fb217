"""Health, readiness and the metrics an operator watches."""

from __future__ import annotations

from pathlib import Path

from tests.gateway.conftest import Gateway
from tests.gateway.residents import pick


def sample(text: str, name: str, **labels: str) -> float:
    total = 0.0
    for line in text.splitlines():
        if not line.startswith(name):
            continue
        if all(f'{k}="{v}"' in line for k, v in labels.items()):
            total += float(line.rsplit(" ", 1)[1])
    return total


async def test_health_readiness_and_metrics(gateway: Gateway, demo_sources: Path) -> None:
    assert (await gateway.client.get("/healthz")).json() == {"status": "ok"}
    ready = await gateway.client.get("/readyz")
    assert ready.status_code == 200 and ready.json()["checks"]["store"] == "ok"

    nik = pick(demo_sources, city="35.78")[0]["nik"]
    h = await gateway.headers("demo-dinsos")
    assert (await gateway.client.get(f"/v1/residents/{nik}", headers=h)).status_code == 200
    assert (
        await gateway.client.get(f"/v1/residents/{nik}", headers={**h, "X-Purpose": "statistics"})
    ).status_code == 403
    await gateway.client.get("/v1/catalog")

    text = (await gateway.client.get("/metrics")).text
    assert (
        sample(
            text,
            "satugate_http_requests_total",
            route="/v1/residents/{nik}",
            status="200",
            agency="dinsos",
        )
        >= 1
    )
    assert sample(text, "satugate_decisions_total", agency="dinsos", outcome="allow") >= 1
    assert (
        sample(text, "satugate_decisions_total", agency="dinsos", outcome="purpose_not_permitted")
        >= 1
    )
    assert sample(text, "satugate_audit_batch_size_count") >= 2
    assert sample(text, "satugate_source_request_duration_seconds_count", source="dukcapil") >= 1
    assert sample(text, "satugate_unauthenticated_requests_total", reason="missing_token") >= 1
    assert nik not in text, "no NIK in any label"
