"""The chart's rendered environment is enough to migrate and serve, on PostgreSQL and Redis.

No cluster here, so the test plays kubelet: it renders the chart, resolves the
container's environment (ConfigMap, Secret references) to the test's real servers, maps
the mounted files (master key, sources file, ``/tmp``) to a temporary folder, runs the
migration hook's command and then the gateway's command, and probes them the way the
chart and the image do.
"""

from __future__ import annotations

import base64
import os
import signal
import socket
import subprocess
import sys
import time
from pathlib import Path
from typing import Any

import httpx
import pytest

from tests.deploy.test_dockerfile import healthcheck_command
from tests.deploy.test_helm_chart import gateway_container, only, render

BIN = Path(sys.executable).parent


def free_port() -> int:
    with socket.socket() as sock:
        sock.bind(("127.0.0.1", 0))
        return int(sock.getsockname()[1])


class Kubelet:
    """Resolves a rendered pod spec's environment and mounts onto this machine."""

    def __init__(self, objects: list[dict[str, Any]], secrets: dict[tuple[str, str], str]) -> None:
        self.configmaps = {
            o["metadata"]["name"]: o.get("data", {}) for o in objects if o["kind"] == "ConfigMap"
        }
        self.secrets = secrets
        self.mounts: dict[str, Path] = {}

    def mount(self, container_path: str, host_path: Path) -> None:
        host_path.mkdir(parents=True, exist_ok=True)
        self.mounts[container_path] = host_path

    def path(self, value: str) -> str:
        for inside, outside in sorted(self.mounts.items(), key=lambda m: -len(m[0])):
            if value == inside or value.startswith(inside + "/"):
                return str(outside) + value[len(inside) :]
        return value

    def environment(self, container: dict[str, Any]) -> dict[str, str]:
        env: dict[str, str] = {}
        for source in container.get("envFrom", []):
            env.update(self.configmaps[source["configMapRef"]["name"]])
        for item in container.get("env", []):
            if "value" in item:
                env[item["name"]] = item["value"]
            else:
                ref = item["valueFrom"]["secretKeyRef"]
                env[item["name"]] = self.secrets[(ref["name"], ref["key"])]
        return {name: self.path(value) for name, value in env.items()}

    def command(self, container: dict[str, Any]) -> list[str]:
        program, *args = container["command"]
        return [str(BIN / program), *args]


def healthz_requests(exposition: str, route: str) -> float:
    from prometheus_client.parser import text_string_to_metric_families

    total = 0.0
    for family in text_string_to_metric_families(exposition):
        for sample in family.samples:
            if sample.name == "satugate_http_requests_total" and sample.labels["route"] == route:
                total += sample.value
    return total


def log_tail(folder: Path) -> str:
    return (folder / "gateway.log").read_text()[-3000:]


def write_sources(folder: Path) -> None:
    """The content of the operator's sources Secret, with the demo's small SQLite sources."""
    from gateway.demo.synthetic import generate_sources

    generate_sources(folder, residents=40)


@pytest.mark.slow
@pytest.mark.postgres
@pytest.mark.redis
def test_gateway_migrates_and_serves_with_the_charts_environment(
    postgres_url: str, redis_url: str, tmp_path: Path
) -> None:
    # two workers per pod: the harder path (shared limits in Redis, summed metrics)
    # and metrics behind the token of their Secret (the chart leaves them off otherwise)
    objects = render({"config": {"workers": 2}, "metrics": {"existingSecret": "satugate-metrics"}})
    deployment = gateway_container(objects)
    job = only(objects, "Job")["spec"]["template"]["spec"]["containers"][0]
    kubelet = Kubelet(
        objects,
        secrets={
            ("satugate-database", "url"): postgres_url,
            ("satugate-redis", "url"): redis_url,
            ("satugate-metrics", "token"): "rahasia-metrik",
        },
    )
    kubelet.mount("/tmp", tmp_path / "tmp")
    kubelet.mount("/run/secrets/satugate", tmp_path / "secrets")
    kubelet.mount("/etc/satugate/sources", tmp_path / "sources")
    master_key = Path(kubelet.path("/run/secrets/satugate/master-key"))
    master_key.write_text(base64.b64encode(os.urandom(32)).decode())
    master_key.chmod(0o440)
    write_sources(tmp_path / "sources")
    base_env = {"PATH": f"{BIN}:/usr/bin:/bin", "HOME": str(tmp_path), "PYTHONUNBUFFERED": "1"}

    # the pre-install hook
    migrate = subprocess.run(
        kubelet.command(job),
        env={**base_env, **kubelet.environment(job)},
        cwd=tmp_path,
        capture_output=True,
        text=True,
        timeout=180,
        check=False,
    )
    assert migrate.returncode == 0, migrate.stderr[-2000:]

    # the pods (the port moved off 8000, which this machine may be using)
    port = free_port()
    env = {**base_env, **kubelet.environment(deployment), "SATUGATE_PORT": str(port)}
    assert env["SATUGATE_WORKERS"] == "2"
    log = (tmp_path / "gateway.log").open("w")
    server = subprocess.Popen(
        kubelet.command(deployment), env=env, cwd=tmp_path, stdout=log, stderr=subprocess.STDOUT
    )
    base = f"http://127.0.0.1:{port}"
    probes = {
        name: deployment[f"{name}Probe"]["httpGet"]["path"]
        for name in ("startup", "liveness", "readiness")
    }
    try:
        deadline = time.monotonic() + 120
        ready: httpx.Response | None = None
        while time.monotonic() < deadline and server.poll() is None:
            try:
                ready = httpx.get(base + probes["readiness"], timeout=3)
                if ready.status_code == 200:
                    break
            except httpx.TransportError:
                pass
            time.sleep(0.5)
        assert server.poll() is None, "the gateway exited: " + log_tail(tmp_path)
        assert ready is not None and ready.status_code == 200, "not ready: " + log_tail(tmp_path)
        checks = ready.json()["checks"]
        assert checks == {"store": "ok", "audit_log": "ok", "redis": "ok"}
        for name in ("startup", "liveness"):
            assert httpx.get(base + probes[name], timeout=5).status_code == 200
        # the image's own health check, against this server
        health = subprocess.run(
            healthcheck_command(), env={**base_env, "SATUGATE_PORT": str(port)}, timeout=30
        )
        assert health.returncode == 0
        # Metrics: every scrape, whichever worker answers it, counts every request. So far
        # /healthz was asked twice (the probes above) and once by the image's check.
        for _ in range(10):
            assert httpx.get(base + probes["liveness"], headers={"Connection": "close"}).is_success
        # The chart's trusted host is the issuer's: a scrape names it, with the token.
        scrape = {
            "Connection": "close",
            "Host": "satugate.example.go.id",
            "Authorization": "Bearer rahasia-metrik",
        }
        refused = httpx.get(base + "/metrics", headers={**scrape, "Authorization": ""}, timeout=5)
        assert refused.status_code == 401
        for _ in range(3):
            scraped = httpx.get(base + "/metrics", headers=scrape, timeout=5)
            assert scraped.status_code == 200
            assert healthz_requests(scraped.text, probes["liveness"]) == 13
    finally:
        server.send_signal(signal.SIGTERM)
        try:
            # the chart gives the pod terminationGracePeriodSeconds to stop
            grace = only(objects, "Deployment")["spec"]["template"]["spec"][
                "terminationGracePeriodSeconds"
            ]
            server.wait(timeout=grace)
        finally:
            if server.poll() is None:
                server.kill()
                server.wait(timeout=10)
            log.close()
    assert server.returncode == 0, log_tail(tmp_path)
    assert "died" not in (tmp_path / "gateway.log").read_text(), "workers were restarted"
