"""Sources as the gateway sees them: the configured connectors, each timed for metrics."""

from __future__ import annotations

import time
from collections.abc import Sequence
from pathlib import Path
from typing import Any

import connectors
from gateway.platform.metrics import Metrics


class MeteredConnector:
    """Delegates to a connector and records each call's latency and failures."""

    def __init__(self, inner: connectors.Connector, metrics: Metrics) -> None:
        self._inner = inner
        self._metrics = metrics
        self.name = inner.name
        self.datasets = inner.datasets
        self.fields = inner.fields
        self.region_system = inner.region_system
        self.local = bool(getattr(inner, "local", False))

    def __getattr__(self, name: str) -> Any:
        return getattr(self._inner, name)

    async def _timed(self, call: Any, *args: Any, **kwargs: Any) -> Any:
        started = time.perf_counter()
        error: str | None = None
        try:
            return await call(*args, **kwargs)
        except connectors.SourceUnavailable:
            error = "unavailable"
            raise
        finally:
            self._metrics.observe_source(self.name, time.perf_counter() - started, error)

    async def fetch(
        self, niks: Sequence[str], fields: Sequence[str]
    ) -> dict[str, dict[str, object]]:
        result: dict[str, dict[str, object]] = await self._timed(self._inner.fetch, niks, fields)
        return result

    async def search(
        self, query: connectors.SearchQuery, *, limit: int
    ) -> list[connectors.Candidate]:
        result: list[connectors.Candidate] = await self._timed(
            self._inner.search, query, limit=limit
        )
        return result

    async def health(self) -> bool:
        return await self._inner.health()

    async def aclose(self) -> None:
        await self._inner.aclose()


def build_federation(
    sources_file: Path, metrics: Metrics, *, timeout: float
) -> connectors.Federation:
    metered = [MeteredConnector(c, metrics) for c in connectors.load_sources(sources_file)]
    return connectors.Federation(metered, timeout=timeout)
