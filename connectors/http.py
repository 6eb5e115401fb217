"""The HTTP connector: an upstream agency's REST API as a source.

Upstream contract (what an agency API must offer to be federated):

``GET {base_url}/records?nik=<nik>,<nik>,...&fields=<field>,<field>,...``
    ``200 application/json``: ``{"records": {"<nik>": {"<field>": value, ...}, ...}}``.
    NIKs the upstream does not hold are simply absent from ``records``. Field names are
    the contract's (``welfare_decile``, ``pkh_member`` ...). The call is idempotent and
    may be retried. The upstream should not log query strings (they carry NIKs).

``GET {base_url}/health``
    Any 2xx when the upstream can serve.

Authentication is a bearer token (``Authorization: Bearer ...``, read from an
environment variable or a mounted file) or mutual TLS (client certificate and key,
optionally a private CA).

Resilience: connect and read timeouts; retries with exponential backoff on transport
errors and 502/503/504 (GETs only, which are idempotent); a circuit breaker per source
(:mod:`connectors.circuit`) that fails fast while the upstream is down.
"""

from __future__ import annotations

import asyncio
import logging
import random
import ssl
from collections.abc import Sequence
from typing import Any

import httpx

from connectors.circuit import CircuitBreaker
from connectors.config import HttpSourceConfig
from connectors.crosswalk import Crosswalk
from connectors.errors import (
    SearchNotSupported,
    SourceConfigError,
    SourceUnavailable,
    UnknownFields,
)
from connectors.models import Candidate, Record, SearchQuery
from connectors.values import clean_value, to_kemendagri_codes

__all__ = ["HttpConnector"]

log = logging.getLogger(__name__)

_RETRY_STATUS = frozenset({502, 503, 504})


def _token(config: HttpSourceConfig) -> str | None:
    import os

    auth = config.auth
    if auth.kind != "bearer":
        return None
    if auth.token_env:
        value = os.environ.get(auth.token_env)
        if not value:
            raise SourceConfigError(f"source {config.name}: {auth.token_env} is not set")
        return value.strip()
    assert auth.token_file is not None
    return auth.token_file.read_text(encoding="utf-8").strip()


def _ssl_context(config: HttpSourceConfig) -> ssl.SSLContext | bool:
    auth = config.auth
    ca = auth.ca_file or config.ca_file
    if auth.kind != "mtls" and ca is None:
        return True
    context = ssl.create_default_context(cafile=str(ca) if ca else None)
    if auth.kind == "mtls":
        assert auth.cert_file is not None and auth.key_file is not None
        context.load_cert_chain(str(auth.cert_file), str(auth.key_file))
    return context


class HttpConnector:
    """A source behind an upstream REST API (see the module docstring for the contract)."""

    supports_search = False

    def __init__(
        self,
        config: HttpSourceConfig,
        client: httpx.AsyncClient,
        *,
        crosswalk: Crosswalk | None = None,
        breaker: CircuitBreaker | None = None,
    ) -> None:
        self.name = config.name
        self.datasets = frozenset(config.datasets)
        self.fields = config.held_fields()
        self.region_system: str = config.region_system
        self.primary = config.primary
        self._config = config
        self._client = client
        self._crosswalk = crosswalk
        if self.region_system == "bps" and crosswalk is None:
            raise SourceConfigError(f"source {self.name}: a BPS-coded source needs a crosswalk")
        self.breaker = breaker or CircuitBreaker(
            failure_threshold=config.breaker.failure_threshold,
            reset_seconds=config.breaker.reset_seconds,
        )

    @classmethod
    def from_config(
        cls, config: HttpSourceConfig, *, crosswalk: Crosswalk | None = None
    ) -> HttpConnector:
        """Build the connector and its pooled ``httpx.AsyncClient``."""
        headers = {"Accept": "application/json"}
        token = _token(config)
        if token:
            headers["Authorization"] = f"Bearer {token}"
        timeout = httpx.Timeout(
            config.read_timeout_seconds,
            connect=config.connect_timeout_seconds,
            pool=config.connect_timeout_seconds,
        )
        client = httpx.AsyncClient(
            base_url=config.base_url.rstrip("/") + "/",
            headers=headers,
            timeout=timeout,
            verify=_ssl_context(config),
            follow_redirects=False,
            trust_env=False,
        )
        return cls(config, client, crosswalk=crosswalk)

    def __repr__(self) -> str:
        return f"HttpConnector(name={self.name!r})"

    async def _get(self, path: str, params: dict[str, str]) -> httpx.Response:
        """GET with retries and backoff, guarded by the circuit breaker.

        Security decision: error messages and logs name the source and the failure kind
        only; the request URL (which carries NIKs) never appears.
        """
        if not self.breaker.allow():
            raise SourceUnavailable(self.name, "circuit open")
        attempts = self._config.retries + 1
        reason = "failed"
        for attempt in range(attempts):
            try:
                response = await self._client.get(path, params=params)
            except httpx.TimeoutException:
                reason = "timed out"
            except httpx.TransportError:
                reason = "unreachable"
            else:
                if response.status_code < 400:
                    self.breaker.record_success()
                    return response
                reason = f"answered {response.status_code}"
                if response.status_code not in _RETRY_STATUS:
                    break
            if attempt + 1 < attempts:
                delay = self._config.backoff_seconds * (2**attempt)
                await asyncio.sleep(delay * (0.5 + random.random()))  # noqa: S311 - jitter
        self.breaker.record_failure()
        log.warning("upstream call failed", extra={"source": self.name, "reason": reason})
        raise SourceUnavailable(self.name, reason)

    async def _fetch_chunk(self, niks: list[str], wanted: list[str]) -> dict[str, Any]:
        response = await self._get("records", {"nik": ",".join(niks), "fields": ",".join(wanted)})
        try:
            body = response.json()
        except ValueError:
            raise SourceUnavailable(self.name, "sent invalid JSON") from None
        records = body.get("records") if isinstance(body, dict) else None
        if not isinstance(records, dict):
            raise SourceUnavailable(self.name, "sent an answer without 'records'")
        return records

    async def fetch(self, niks: Sequence[str], fields: Sequence[str]) -> dict[str, Record]:
        """The requested fields of the given NIKs: one request per ``max_batch`` NIKs.

        Security decision: only NIKs that were asked for and fields that were asked for
        are passed on, whatever else the upstream sends.
        """
        unknown = frozenset(fields) - self.fields - {"nik"}
        if unknown:
            raise UnknownFields(unknown)
        unique = list(dict.fromkeys(niks))
        if not unique:
            return {}
        wanted = [f for f in dict.fromkeys(fields) if f != "nik"]
        size = self._config.max_batch
        chunks = [unique[i : i + size] for i in range(0, len(unique), size)]
        answers = await asyncio.gather(*(self._fetch_chunk(c, wanted) for c in chunks))
        asked = set(unique)
        out: dict[str, Record] = {}
        for records in answers:
            for nik, values in records.items():
                if nik not in asked or not isinstance(values, dict):
                    continue
                record: Record = {f: clean_value(f, values.get(f)) for f in wanted if f in values}
                if "nik" in fields:
                    record["nik"] = nik
                if self.region_system == "bps" and self._crosswalk is not None:
                    record = to_kemendagri_codes(record, self._crosswalk)
                out[nik] = record
        return out

    async def search(self, query: SearchQuery, *, limit: int) -> list[Candidate]:
        raise SearchNotSupported(self.name)

    async def health(self) -> bool:
        try:
            response = await self._client.get("health")
        except httpx.HTTPError:
            return False
        return response.is_success

    async def aclose(self) -> None:
        await self._client.aclose()
