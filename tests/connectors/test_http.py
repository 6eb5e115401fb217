"""The HTTP connector against a real upstream served by uvicorn on 127.0.0.1."""

from __future__ import annotations

import asyncio
import time
from collections.abc import Iterator
from pathlib import Path
from typing import Any

import pytest

from connectors import HttpConnector, SearchNotSupported, SearchQuery, SourceUnavailable
from connectors.circuit import CircuitBreaker
from connectors.config import HttpSourceConfig, read_sources_file
from connectors.errors import UnknownFields
from tests.connectors.upstream import RunningUpstream, UpstreamState, serve_upstream

NIK_A = "3578084101900001"
NIK_B = "3578081202850002"
RECORDS: dict[str, dict[str, object]] = {
    NIK_A: {"welfare_decile": 2, "pkh_member": True, "monthly_income": "1500000"},
    NIK_B: {"welfare_decile": 7, "pkh_member": False, "monthly_income": 4200000},
}


@pytest.fixture
def upstream() -> Iterator[RunningUpstream]:
    with serve_upstream(UpstreamState(records=dict(RECORDS))) as running:
        yield running


def _config(base_url: str, **overrides: Any) -> HttpSourceConfig:
    values: dict[str, Any] = {
        "kind": "http",
        "name": "dtks_api",
        "base_url": base_url,
        "datasets": ("welfare",),
        "connect_timeout_seconds": 0.5,
        "read_timeout_seconds": 0.5,
        "retries": 2,
        "backoff_seconds": 0.01,
    }
    values.update(overrides)
    return HttpSourceConfig(**values)


async def test_fetch_batch_in_one_request(upstream: RunningUpstream) -> None:
    connector = HttpConnector.from_config(_config(upstream.base_url))
    try:
        records = await connector.fetch(
            [NIK_A, NIK_B, "3578000101010001", NIK_A],
            ["welfare_decile", "pkh_member", "monthly_income"],
        )
    finally:
        await connector.aclose()
    assert len(upstream.state.record_calls) == 1
    niks, fields = upstream.state.record_calls[0]
    assert niks == [NIK_A, NIK_B, "3578000101010001"]
    assert fields == ["welfare_decile", "pkh_member", "monthly_income"]
    assert records[NIK_A] == {"welfare_decile": 2, "pkh_member": True, "monthly_income": 1500000}
    assert records[NIK_B]["pkh_member"] is False
    assert "3578000101010001" not in records
    # Fields the upstream sent but nobody asked for are not passed on.
    assert all("extra_field_not_asked" not in r for r in records.values())


async def test_large_batches_are_chunked(upstream: RunningUpstream) -> None:
    connector = HttpConnector.from_config(_config(upstream.base_url, max_batch=2))
    try:
        niks = [NIK_A, NIK_B, "3578000101010001", "3578000101010002", "3578000101010003"]
        records = await connector.fetch(niks, ["welfare_decile"])
    finally:
        await connector.aclose()
    assert len(upstream.state.record_calls) == 3
    assert set(records) == {NIK_A, NIK_B}


async def test_retries_transient_failures(upstream: RunningUpstream) -> None:
    upstream.state.fail_next = 2  # two 503s, then success
    connector = HttpConnector.from_config(_config(upstream.base_url, retries=2))
    try:
        records = await connector.fetch([NIK_A], ["welfare_decile"])
    finally:
        await connector.aclose()
    assert records == {NIK_A: {"welfare_decile": 2}}
    assert upstream.state.calls == 3
    assert connector.breaker.state == "closed"


async def test_gives_up_after_the_retries(upstream: RunningUpstream) -> None:
    upstream.state.fail_next = 10
    connector = HttpConnector.from_config(_config(upstream.base_url, retries=1))
    try:
        with pytest.raises(SourceUnavailable) as info:
            await connector.fetch([NIK_A], ["welfare_decile"])
    finally:
        await connector.aclose()
    assert upstream.state.calls == 2
    assert info.value.source == "dtks_api"
    assert NIK_A not in str(info.value)


async def test_client_errors_are_not_retried(upstream: RunningUpstream) -> None:
    upstream.state.fail_next = 1
    upstream.state.fail_status = 400
    connector = HttpConnector.from_config(_config(upstream.base_url, retries=3))
    try:
        with pytest.raises(SourceUnavailable, match="400"):
            await connector.fetch([NIK_A], ["welfare_decile"])
    finally:
        await connector.aclose()
    assert upstream.state.calls == 1


async def test_read_timeout(upstream: RunningUpstream) -> None:
    upstream.state.delay_seconds = 1.0
    connector = HttpConnector.from_config(
        _config(upstream.base_url, read_timeout_seconds=0.2, retries=0)
    )
    started = time.monotonic()
    try:
        with pytest.raises(SourceUnavailable, match="timed out"):
            await connector.fetch([NIK_A], ["welfare_decile"])
    finally:
        await connector.aclose()
    assert time.monotonic() - started < 0.9


async def test_connection_refused_is_unavailable() -> None:
    with serve_upstream(UpstreamState()) as running:
        base_url = running.base_url
    # The server is stopped now: nothing listens on that port.
    connector = HttpConnector.from_config(_config(base_url, retries=1))
    try:
        with pytest.raises(SourceUnavailable, match="unreachable"):
            await connector.fetch([NIK_A], ["welfare_decile"])
        assert await connector.health() is False
    finally:
        await connector.aclose()


async def test_circuit_opens_fails_fast_then_closes(upstream: RunningUpstream) -> None:
    clock = [0.0]
    breaker = CircuitBreaker(failure_threshold=2, reset_seconds=30, clock=lambda: clock[0])
    import httpx

    config = _config(upstream.base_url, retries=0)
    client = httpx.AsyncClient(base_url=upstream.base_url + "/", timeout=1.0)
    connector = HttpConnector(config, client, breaker=breaker)
    try:
        upstream.state.fail_next = 2
        for _ in range(2):
            with pytest.raises(SourceUnavailable):
                await connector.fetch([NIK_A], ["welfare_decile"])
        assert breaker.state == "open"
        calls = upstream.state.calls
        with pytest.raises(SourceUnavailable, match="circuit open"):
            await connector.fetch([NIK_A], ["welfare_decile"])
        assert upstream.state.calls == calls  # failed fast, upstream untouched
        clock[0] += 31  # cool-down over: half-open, one trial passes
        assert breaker.state == "half_open"
        upstream.state.fail_next = 1
        with pytest.raises(SourceUnavailable):
            await connector.fetch([NIK_A], ["welfare_decile"])
        assert breaker.state == "open"  # the trial failed: open again
        clock[0] += 31
        records = await connector.fetch([NIK_A], ["welfare_decile"])
        assert records == {NIK_A: {"welfare_decile": 2}}
        assert breaker.state == "closed"
    finally:
        await connector.aclose()


async def test_bearer_token_from_a_file(upstream: RunningUpstream, tmp_path: Path) -> None:
    upstream.state.token = "s3cret-token"
    (tmp_path / "token").write_text("s3cret-token\n")
    (tmp_path / "sources.yaml").write_text(
        "sources:\n"
        "  - name: dtks_api\n"
        "    kind: http\n"
        f"    base_url: {upstream.base_url}\n"
        "    datasets: [welfare]\n"
        "    auth: {kind: bearer, token_file: token}\n"
    )
    config = read_sources_file(tmp_path / "sources.yaml").sources[0]
    assert isinstance(config, HttpSourceConfig)
    connector = HttpConnector.from_config(config)
    wrong = HttpConnector.from_config(_config(upstream.base_url, retries=0))
    try:
        assert await connector.fetch([NIK_A], ["welfare_decile"]) == {NIK_A: {"welfare_decile": 2}}
        with pytest.raises(SourceUnavailable, match="401"):
            await wrong.fetch([NIK_A], ["welfare_decile"])
    finally:
        await connector.aclose()
        await wrong.aclose()
    assert "s3cret-token" not in repr(connector)


async def test_bearer_token_from_the_environment(
    upstream: RunningUpstream, monkeypatch: pytest.MonkeyPatch
) -> None:
    upstream.state.token = "env-token"
    monkeypatch.setenv("DTKS_TOKEN", "env-token")
    connector = HttpConnector.from_config(
        _config(upstream.base_url, auth={"kind": "bearer", "token_env": "DTKS_TOKEN"})
    )
    try:
        assert NIK_A in await connector.fetch([NIK_A], ["welfare_decile"])
    finally:
        await connector.aclose()


async def test_search_unsupported_and_fields_checked(upstream: RunningUpstream) -> None:
    connector = HttpConnector.from_config(_config(upstream.base_url))
    try:
        assert connector.supports_search is False
        with pytest.raises(SearchNotSupported):
            await connector.search(SearchQuery("Budi", kelurahan_code="35.78.08.1001"), limit=5)
        with pytest.raises(UnknownFields):
            await connector.fetch([NIK_A], ["full_name"])
        assert await connector.health() is True
    finally:
        await connector.aclose()


async def test_concurrent_calls_share_the_client(upstream: RunningUpstream) -> None:
    connector = HttpConnector.from_config(_config(upstream.base_url))
    try:
        results = await asyncio.gather(
            *(connector.fetch([NIK_A], ["welfare_decile"]) for _ in range(20))
        )
    finally:
        await connector.aclose()
    assert all(r == {NIK_A: {"welfare_decile": 2}} for r in results)


async def test_mutual_tls(tmp_path: Path) -> None:
    import ssl

    from tests.connectors.pki import make_pki

    pki = make_pki(tmp_path)
    tls = {
        "ssl_certfile": str(pki.server_cert),
        "ssl_keyfile": str(pki.server_key),
        "ssl_ca_certs": str(pki.ca_cert),
        "ssl_cert_reqs": ssl.CERT_REQUIRED,
    }
    with serve_upstream(UpstreamState(records=dict(RECORDS)), tls=tls) as running:
        good = HttpConnector.from_config(
            _config(
                running.base_url,
                retries=0,
                auth={
                    "kind": "mtls",
                    "cert_file": pki.client_cert,
                    "key_file": pki.client_key,
                    "ca_file": pki.ca_cert,
                },
            )
        )
        stranger = HttpConnector.from_config(
            _config(
                running.base_url,
                retries=0,
                auth={
                    "kind": "mtls",
                    "cert_file": pki.other_client_cert,
                    "key_file": pki.other_client_key,
                    "ca_file": pki.ca_cert,
                },
            )
        )
        anonymous = HttpConnector.from_config(
            _config(running.base_url, retries=0, ca_file=pki.ca_cert)
        )
        try:
            assert await good.fetch([NIK_A], ["welfare_decile"]) == {NIK_A: {"welfare_decile": 2}}
            for refused in (stranger, anonymous):
                with pytest.raises(SourceUnavailable):
                    await refused.fetch([NIK_A], ["welfare_decile"])
        finally:
            for c in (good, stranger, anonymous):
                await c.aclose()
        assert running.state.record_calls == [([NIK_A], ["welfare_decile"])]
