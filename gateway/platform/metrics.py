"""Prometheus metrics: requests, decisions, the audit writer, sources, refusals.

Nothing is registered at import. ``create_metrics()`` builds a ``Metrics`` bound to its
own ``CollectorRegistry`` (tests make as many as they like); the app factory makes one
and hands it to ``MetricsMiddleware`` and to whoever observes (audit writer, connectors,
auth). ``render(metrics)`` produces the ``/metrics`` body.

Label values are kept to bounded sets so a client cannot blow up the series count:
routes are the *templates* (``/v1/residents/{nik}``, never a NIK), unmatched paths are
one ``unmatched`` route, methods outside the standard set are ``OTHER``, and the agency is
the authenticated agency id (``-`` before authentication), never anything a client sent.

Several worker processes (``uvicorn --workers N``): each process counts on its own, so
``/metrics`` from one worker would show only its share. prometheus-client's multiprocess
mode fixes that: set ``PROMETHEUS_MULTIPROC_DIR`` to an empty, writable directory
*before* the worker processes start (``prepare_multiprocess_dir`` does both); every worker
then writes its values to memory-mapped files there and ``render`` sums the files of all
workers. prometheus-client decides the mode when it is first imported, so the variable
must be in the environment of the workers from the start; ``create_metrics`` refuses a
half-configured process rather than serve numbers that silently miss workers. Only
counters and histograms are used, which need no clean-up when a worker exits.
"""

from __future__ import annotations

import os
import shutil
import time
from collections.abc import Callable
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

import prometheus_client.values
from prometheus_client import (
    CONTENT_TYPE_LATEST,
    CollectorRegistry,
    Counter,
    Histogram,
    generate_latest,
)
from prometheus_client.multiprocess import MultiProcessCollector
from starlette.types import ASGIApp, Message, Receive, Scope, Send

__all__ = [
    "MULTIPROC_ENV",
    "Metrics",
    "MetricsMiddleware",
    "create_metrics",
    "prepare_multiprocess_dir",
    "render",
    "route_template",
]

MULTIPROC_ENV = "PROMETHEUS_MULTIPROC_DIR"
UNAUTHENTICATED_AGENCY = "-"
UNMATCHED_ROUTE = "unmatched"
_METHODS = frozenset({"GET", "HEAD", "POST", "PUT", "PATCH", "DELETE", "OPTIONS"})

_LATENCY_BUCKETS = (0.001, 0.0025, 0.005, 0.01, 0.025, 0.05, 0.1, 0.25, 0.5, 1.0, 2.5, 5.0, 10.0)
_BATCH_BUCKETS = (1, 2, 4, 8, 16, 32, 64, 128, 256, 512, 1024, 2048)


@dataclass(frozen=True)
class Metrics:
    """The gateway's metric families, all bound to ``registry``.

    Observe through the methods: they keep label names and values consistent.
    """

    registry: CollectorRegistry
    multiprocess_dir: str | None
    requests: Counter
    request_seconds: Histogram
    decisions: Counter
    audit_batch_size: Histogram
    audit_commit_seconds: Histogram
    audit_failures: Counter
    source_seconds: Histogram
    source_errors: Counter
    unauthenticated: Counter
    rate_limited: Counter
    token_failures: Counter
    # The labelled children already made: ``labels()`` validates and locks on every call,
    # a cost paid on each request otherwise. As many entries as the metrics have series.
    _children: dict[tuple[object, tuple[str, ...]], Any] = field(
        default_factory=dict, repr=False, compare=False
    )

    def _child(self, metric: Counter | Histogram, *values: str) -> Any:
        key = (metric, values)
        child = self._children.get(key)
        if child is None:
            child = self._children[key] = metric.labels(*values)
        return child

    def observe_request(
        self, *, route: str, method: str, status: int, agency: str | None, seconds: float
    ) -> None:
        """One finished HTTP request (the middleware calls this)."""
        method = method.upper() if method.upper() in _METHODS else "OTHER"
        self._child(
            self.requests, route, method, str(status), agency or UNAUTHENTICATED_AGENCY
        ).inc()
        self._child(self.request_seconds, route, method).observe(seconds)

    def observe_decision(self, *, agency: str, action: str, outcome: str) -> None:
        """A policy decision: ``outcome`` such as ``allow``, ``deny``, ``not_found``."""
        self._child(self.decisions, agency, action, outcome).inc()

    def observe_audit_batch(self, size: int, seconds: float) -> None:
        """One group commit of the audit writer: how many events, how long it took."""
        self.audit_batch_size.observe(size)
        self.audit_commit_seconds.observe(seconds)

    def count_audit_failure(self) -> None:
        """A group commit that failed (its requests were answered 503)."""
        self.audit_failures.inc()

    def observe_source(self, source: str, seconds: float, error: str | None = None) -> None:
        """One call to a source; ``error`` names the failure kind (``timeout``, ...)."""
        self._child(self.source_seconds, source).observe(seconds)
        if error is not None:
            self.source_errors.labels(source, error).inc()

    def count_unauthenticated(self, reason: str) -> None:
        """A request refused before authentication succeeded (``missing_token``, ...)."""
        self.unauthenticated.labels(reason).inc()

    def count_token_failure(self, outcome: str) -> None:
        self._child(self.token_failures, outcome).inc()

    def count_rate_limited(self, scope: str) -> None:
        """A request refused by a rate limit; ``scope`` is ``client``, ``officer``, ..."""
        self.rate_limited.labels(scope).inc()


def _multiprocess_active() -> bool:
    return bool(getattr(prometheus_client.values.ValueClass, "_multiprocess", False))


def create_metrics(registry: CollectorRegistry | None = None) -> Metrics:
    """Build the metric families on ``registry`` (a fresh one when not given)."""
    directory = os.environ.get(MULTIPROC_ENV) or None
    if bool(directory) != _multiprocess_active():
        raise RuntimeError(
            f"{MULTIPROC_ENV} must be set before prometheus_client is first imported "
            "(in the environment of every worker process), or not at all"
        )
    reg = registry if registry is not None else CollectorRegistry(auto_describe=True)
    return Metrics(
        registry=reg,
        multiprocess_dir=directory,
        requests=Counter(
            "satugate_http_requests",
            "HTTP requests by route template, method, status and agency.",
            ["route", "method", "status", "agency"],
            registry=reg,
        ),
        request_seconds=Histogram(
            "satugate_http_request_duration_seconds",
            "Time from request start to response end, by route template and method.",
            ["route", "method"],
            buckets=_LATENCY_BUCKETS,
            registry=reg,
        ),
        decisions=Counter(
            "satugate_decisions",
            "Policy decisions by agency, audit action and outcome.",
            ["agency", "action", "outcome"],
            registry=reg,
        ),
        audit_batch_size=Histogram(
            "satugate_audit_batch_size",
            "Events per audit group commit.",
            buckets=_BATCH_BUCKETS,
            registry=reg,
        ),
        audit_commit_seconds=Histogram(
            "satugate_audit_commit_seconds",
            "Duration of one audit group commit.",
            buckets=_LATENCY_BUCKETS,
            registry=reg,
        ),
        audit_failures=Counter(
            "satugate_audit_commit_failures",
            "Audit group commits that failed.",
            registry=reg,
        ),
        source_seconds=Histogram(
            "satugate_source_request_duration_seconds",
            "Duration of calls to a source of record data.",
            ["source"],
            buckets=_LATENCY_BUCKETS,
            registry=reg,
        ),
        source_errors=Counter(
            "satugate_source_errors",
            "Failed calls to a source, by source and kind of failure.",
            ["source", "kind"],
            registry=reg,
        ),
        unauthenticated=Counter(
            "satugate_unauthenticated_requests",
            "Requests refused for missing or invalid credentials.",
            ["reason"],
            registry=reg,
        ),
        rate_limited=Counter(
            "satugate_rate_limited_requests",
            "Requests refused by a rate limit.",
            ["scope"],
            registry=reg,
        ),
        token_failures=Counter(
            "satugate_token_failures",
            "Token requests refused for their client credentials, and those throttled for "
            "failing too often (per claimed client id or per source address).",
            ["outcome"],
            registry=reg,
        ),
    )


def render(metrics: Metrics) -> tuple[bytes, str]:
    """The ``/metrics`` body and its content type.

    In multiprocess mode the values of all workers are read from the shared directory
    and summed, whichever worker answers the scrape.
    """
    if metrics.multiprocess_dir is not None:
        merged = CollectorRegistry()
        MultiProcessCollector(merged, path=metrics.multiprocess_dir)  # type: ignore[no-untyped-call]
        return generate_latest(merged), CONTENT_TYPE_LATEST
    return generate_latest(metrics.registry), CONTENT_TYPE_LATEST


def prepare_multiprocess_dir(path: Path) -> None:
    """Create (or empty) ``path`` and name it in ``PROMETHEUS_MULTIPROC_DIR``.

    Call once in the parent process before worker processes are started. Emptying it
    matters: files of a previous run would otherwise be summed into this one's.
    """
    if path.exists():
        shutil.rmtree(path)
    path.mkdir(parents=True, mode=0o700)
    os.environ[MULTIPROC_ENV] = str(path)


def route_template(scope: Scope) -> str:
    """The matched route's path template, or ``unmatched``.

    Starlette's router records the matched route in ``scope["route"]``; a mounted
    application's inner router overwrites it with the inner route, whose path is relative
    to the mount (``root_path``).
    """
    route = scope.get("route")
    # The template without convertors: ``/v1/residents/{nik}``, not ``{nik:nik}``.
    path = getattr(route, "path_format", None) or getattr(route, "path", None)
    if not isinstance(path, str):
        return UNMATCHED_ROUTE
    app_root = scope.get("app_root_path", "")
    prefix = str(scope.get("root_path", ""))
    if app_root and prefix.startswith(app_root):
        prefix = prefix[len(app_root) :]
    return prefix + path


class MetricsMiddleware:
    """Pure ASGI middleware counting every HTTP request.

    The agency label is read after the response from ``request.state.<agency_attr>``
    (``scope["state"]``), which the authentication dependency sets; requests that never
    authenticated are counted under ``-``. Requests to ``skip_paths`` (the scrape itself)
    are not counted.

    ``metrics`` is the ``Metrics`` object, or a function of the scope that finds it, for
    apps that build their services in the lifespan, after the middleware stack exists
    (e.g. ``lambda scope: scope["app"].state.services.metrics``); when it finds none, the
    request is not counted.
    """

    def __init__(
        self,
        app: ASGIApp,
        metrics: Metrics | Callable[[Scope], Metrics | None],
        *,
        agency_attr: str = "agency",
        skip_paths: frozenset[str] = frozenset({"/metrics"}),
    ) -> None:
        self.app = app
        self.metrics = metrics
        self.agency_attr = agency_attr
        self.skip_paths = skip_paths

    async def __call__(self, scope: Scope, receive: Receive, send: Send) -> None:
        if scope["type"] != "http" or scope.get("path") in self.skip_paths:
            await self.app(scope, receive, send)
            return
        started = time.perf_counter()
        status = 500  # an exception before the response started ends as a 500

        async def send_recording_status(message: Message) -> None:
            nonlocal status
            if message["type"] == "http.response.start":
                status = int(message["status"])
            await send(message)

        try:
            await self.app(scope, receive, send_recording_status)
        finally:
            metrics = self.metrics if isinstance(self.metrics, Metrics) else self.metrics(scope)
            if metrics is not None:
                self._observe(metrics, scope, status, time.perf_counter() - started)

    def _observe(self, metrics: Metrics, scope: Scope, status: int, seconds: float) -> None:
        state = scope.get("state") or {}
        agency = state.get(self.agency_attr) if isinstance(state, dict) else None
        metrics.observe_request(
            route=route_template(scope),
            method=str(scope.get("method", "")),
            status=status,
            agency=str(agency) if agency is not None else None,
            seconds=seconds,
        )
