"""Prometheus metrics: families, the ASGI middleware, and multiprocess aggregation."""

from __future__ import annotations

import contextlib
import os
import socket
import subprocess
import sys
import textwrap
import time
from collections.abc import AsyncIterator
from pathlib import Path

import httpx
import pytest
from fastapi import Depends, FastAPI, Request
from fastapi.responses import Response
from prometheus_client.parser import text_string_to_metric_families

from gateway.platform.metrics import (
    MULTIPROC_ENV,
    Metrics,
    MetricsMiddleware,
    create_metrics,
    prepare_multiprocess_dir,
    render,
)

ROOT = Path(__file__).resolve().parents[2]


def samples(metrics: Metrics) -> dict[tuple[str, tuple[tuple[str, str], ...]], float]:
    body, content_type = render(metrics)
    assert content_type.startswith("text/plain")
    return parsed(body.decode())


def parsed(text: str) -> dict[tuple[str, tuple[tuple[str, str], ...]], float]:
    found: dict[tuple[str, tuple[tuple[str, str], ...]], float] = {}
    for family in text_string_to_metric_families(text):
        for sample in family.samples:
            found[(sample.name, tuple(sorted(sample.labels.items())))] = sample.value
    return found


def build_app(metrics: Metrics | None = None) -> FastAPI:
    """A small app shaped like the gateway: an auth dependency that names the agency."""
    metrics = metrics or create_metrics()
    app = FastAPI()

    def authenticated(request: Request) -> None:
        request.state.agency = "dinsos"

    @app.get("/v1/residents/{nik}", dependencies=[Depends(authenticated)])
    async def resident(nik: str) -> dict[str, str]:
        return {"ok": "yes"}

    @app.get("/fails")
    async def fails() -> None:
        raise RuntimeError("a bug")

    @app.get("/metrics")
    async def scrape() -> Response:
        body, content_type = render(metrics)
        return Response(body, media_type=content_type)

    console = FastAPI()

    @console.get("/pages/{page}")
    async def page(page: str) -> dict[str, str]:
        return {}

    app.mount("/console", console)
    app.add_middleware(MetricsMiddleware, metrics=metrics)
    return app


def test_families_are_bound_to_their_own_registry() -> None:
    first, second = create_metrics(), create_metrics()
    first.observe_decision(agency="dinsos", action="resident.read", outcome="allow")
    assert (
        samples(first)[
            (
                "satugate_decisions_total",
                (("action", "resident.read"), ("agency", "dinsos"), ("outcome", "allow")),
            )
        ]
        == 1.0
    )
    assert not any(name == "satugate_decisions_total" for name, _ in samples(second))


def test_observations() -> None:
    metrics = create_metrics()
    metrics.observe_audit_batch(3, 0.004)
    metrics.observe_audit_batch(40, 0.02)
    metrics.count_audit_failure()
    metrics.observe_source("dukcapil", 0.01)
    metrics.observe_source("dtks", 3.2, error="timeout")
    metrics.count_unauthenticated("invalid_token")
    metrics.count_rate_limited("officer")
    found = samples(metrics)
    assert found[("satugate_audit_batch_size_count", ())] == 2
    assert found[("satugate_audit_batch_size_sum", ())] == 43
    assert found[("satugate_audit_batch_size_bucket", (("le", "4.0"),))] == 1
    assert found[("satugate_audit_commit_seconds_sum", ())] == pytest.approx(0.024)
    assert found[("satugate_audit_commit_failures_total", ())] == 1
    assert found[("satugate_source_request_duration_seconds_count", (("source", "dtks"),))] == 1
    assert found[("satugate_source_errors_total", (("kind", "timeout"), ("source", "dtks")))] == 1
    assert ("satugate_source_errors_total", (("kind", "timeout"), ("source", "dukcapil"))) not in (
        found
    )
    assert found[("satugate_unauthenticated_requests_total", (("reason", "invalid_token"),))] == 1
    assert found[("satugate_rate_limited_requests_total", (("scope", "officer"),))] == 1


async def test_middleware_labels_by_template_status_and_agency() -> None:
    metrics = create_metrics()
    app = build_app(metrics)
    transport = httpx.ASGITransport(app=app, raise_app_exceptions=False)
    async with httpx.AsyncClient(transport=transport, base_url="http://gateway") as client:
        for nik in ("3578081234560001", "3578081234560002"):
            assert (await client.get(f"/v1/residents/{nik}")).status_code == 200
        assert (await client.get("/no/such/path/3578081234560003")).status_code == 404
        assert (await client.get("/fails")).status_code == 500
        assert (await client.get("/console/pages/home")).status_code == 200
        assert (await client.request("BREW", "/v1/residents/1")).status_code == 405
        scraped = await client.get("/metrics")
    found = parsed(scraped.text)
    requests = {
        labels: value
        for (name, labels), value in found.items()
        if name == "satugate_http_requests_total"
    }

    def key(
        route: str, status: str, agency: str, method: str = "GET"
    ) -> tuple[tuple[str, str], ...]:
        return (("agency", agency), ("method", method), ("route", route), ("status", status))

    assert requests == {
        key("/v1/residents/{nik}", "200", "dinsos"): 2,
        key("unmatched", "404", "-"): 1,
        key("/fails", "500", "-"): 1,
        key("/console/pages/{page}", "200", "-"): 1,
        key("/v1/residents/{nik}", "405", "-", method="OTHER"): 1,
    }
    # no NIK ever becomes a label value; the scrape itself is not counted
    assert "35780812345600" not in scraped.text
    assert 'route="/metrics"' not in scraped.text
    duration = found[
        (
            "satugate_http_request_duration_seconds_count",
            (("method", "GET"), ("route", "/v1/residents/{nik}")),
        )
    ]
    assert duration == 2


async def test_middleware_finds_metrics_built_in_the_lifespan() -> None:
    """Apps that build their services at startup hand the middleware a finder."""
    built: list[Metrics] = []

    @contextlib.asynccontextmanager
    async def lifespan(app: FastAPI) -> AsyncIterator[None]:
        app.state.metrics = create_metrics()
        built.append(app.state.metrics)
        yield

    app = FastAPI(lifespan=lifespan)

    @app.get("/things/{thing}")
    async def thing(thing: str) -> dict[str, str]:
        return {}

    app.add_middleware(MetricsMiddleware, metrics=lambda scope: scope["app"].state.metrics)
    async with app.router.lifespan_context(app):
        transport = httpx.ASGITransport(app=app)
        async with httpx.AsyncClient(transport=transport, base_url="http://gateway") as client:
            assert (await client.get("/things/a")).status_code == 200
    labels = (("agency", "-"), ("method", "GET"), ("route", "/things/{thing}"), ("status", "200"))
    assert samples(built[0])[("satugate_http_requests_total", labels)] == 1


def test_half_configured_multiprocess_is_refused(
    monkeypatch: pytest.MonkeyPatch, tmp_path: Path
) -> None:
    """The variable set after prometheus_client was imported would lose other workers."""
    monkeypatch.setenv(MULTIPROC_ENV, str(tmp_path))
    with pytest.raises(RuntimeError, match=MULTIPROC_ENV):
        create_metrics()


def test_prepare_multiprocess_dir_empties_it(
    monkeypatch: pytest.MonkeyPatch, tmp_path: Path
) -> None:
    # Set, then delete: monkeypatch records the variable and removes what
    # prepare_multiprocess_dir writes once the test ends (a bare delenv of an unset
    # variable records nothing, and the setting would leak into every later test).
    monkeypatch.setenv(MULTIPROC_ENV, "unset-by-this-test")
    monkeypatch.delenv(MULTIPROC_ENV)
    target = tmp_path / "metrics"
    target.mkdir()
    (target / "counter_123.db").write_bytes(b"stale")
    prepare_multiprocess_dir(target)
    assert os.environ[MULTIPROC_ENV] == str(target)
    assert list(target.iterdir()) == []


WORKER = textwrap.dedent(
    """
    import sys
    from gateway.platform.metrics import create_metrics
    metrics = create_metrics()
    for _ in range(int(sys.argv[1])):
        metrics.observe_decision(agency="dinkes", action="resident.read", outcome="deny")
    metrics.observe_audit_batch(int(sys.argv[1]), 0.01)
    """
)

SCRAPER = textwrap.dedent(
    """
    import sys
    from gateway.platform.metrics import create_metrics, render
    sys.stdout.write(render(create_metrics())[0].decode())
    """
)


def test_multiprocess_values_of_all_workers_are_summed(tmp_path: Path) -> None:
    env = {**os.environ, MULTIPROC_ENV: str(tmp_path), "PYTHONPATH": str(ROOT)}
    for count in (3, 4):
        subprocess.run([sys.executable, "-c", WORKER, str(count)], env=env, check=True, timeout=60)
    out = subprocess.run(
        [sys.executable, "-c", SCRAPER], env=env, check=True, timeout=60, capture_output=True
    ).stdout.decode()
    found = parsed(out)
    labels = (("action", "resident.read"), ("agency", "dinkes"), ("outcome", "deny"))
    assert found[("satugate_decisions_total", labels)] == 7
    assert found[("satugate_audit_batch_size_count", ())] == 2
    assert found[("satugate_audit_batch_size_sum", ())] == 7


def _free_port() -> int:
    with socket.socket() as sock:
        sock.bind(("127.0.0.1", 0))
        return int(sock.getsockname()[1])


@pytest.mark.slow
def test_uvicorn_workers_report_one_total(tmp_path: Path) -> None:
    """Two real uvicorn workers: whichever answers the scrape reports every request."""
    metrics_dir = tmp_path / "prom"
    metrics_dir.mkdir()
    port = _free_port()
    env = {**os.environ, MULTIPROC_ENV: str(metrics_dir), "PYTHONPATH": str(ROOT)}
    server = subprocess.Popen(
        [
            sys.executable,
            "-m",
            "uvicorn",
            "--factory",
            "tests.gateway.test_metrics:build_app",
            "--host",
            "127.0.0.1",
            "--port",
            str(port),
            "--workers",
            "2",
            # a busy machine can take longer than uvicorn's default 5 s to start a worker
            "--timeout-worker-healthcheck",
            "60",
            "--log-level",
            "warning",
        ],
        env=env,
        cwd=ROOT,
        stdout=subprocess.DEVNULL,
        stderr=subprocess.DEVNULL,
    )
    try:
        base = f"http://127.0.0.1:{port}"
        deadline = time.monotonic() + 30
        while True:
            try:
                httpx.get(f"{base}/metrics", timeout=1.0)
                break
            except httpx.TransportError:
                if time.monotonic() > deadline:
                    raise
                time.sleep(0.1)
        with httpx.Client(base_url=base, timeout=5.0) as client:
            for i in range(40):
                # a new connection each time so both workers get requests
                assert client.get(f"/v1/residents/{i}", headers={"Connection": "close"}).is_success
        while len(list(metrics_dir.glob("histogram_*.db"))) < 2 and time.monotonic() < deadline:
            time.sleep(0.1)
        assert len(list(metrics_dir.glob("histogram_*.db"))) >= 2  # two processes wrote
        labels = (
            ("agency", "dinsos"),
            ("method", "GET"),
            ("route", "/v1/residents/{nik}"),
            ("status", "200"),
        )
        for _ in range(4):
            scraped = parsed(httpx.get(f"{base}/metrics", headers={"Connection": "close"}).text)
            assert scraped[("satugate_http_requests_total", labels)] == 40
    finally:
        server.terminate()
        server.wait(timeout=20)
