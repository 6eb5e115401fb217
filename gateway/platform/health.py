"""Liveness, readiness and Prometheus metrics."""

from __future__ import annotations

import hmac
from typing import Any

from fastapi import APIRouter, Request
from fastapi.responses import Response
from sqlalchemy import text

from gateway.identity.auth import get_services
from gateway.platform.errors import NotFound, Unauthenticated
from gateway.platform.metrics import render as render_metrics
from gateway.platform.responses import JSON

router = APIRouter(tags=["operations"])


@router.get("/healthz", summary="Alive")
async def healthz() -> dict[str, str]:
    return {"status": "ok"}


@router.get("/readyz", summary="Ready: store, audit writer, Redis when configured")
async def readyz(request: Request) -> Response:
    services = get_services(request)
    checks: dict[str, Any] = {}
    try:
        async with services.engine.connect() as conn:
            await conn.execute(text("SELECT 1"))
        checks["store"] = "ok"
    except Exception:  # readiness reports, it never raises
        checks["store"] = "unavailable"
    try:
        await services.audit.size()
        checks["audit_log"] = "ok"
    except Exception:  # readiness reports, it never raises
        checks["audit_log"] = "unavailable"
    if services.settings.resolved_redis_url():
        checks["redis"] = "ok" if await services.limiter.ping() else "unavailable"
    ready = all(v == "ok" for v in checks.values())
    body: dict[str, Any] = {"status": "ready" if ready else "not_ready", "checks": checks}
    if services.witnesses is not None:
        # Detail only: a witness that is down or behind never makes the gateway unready.
        body["witnessing"] = services.witnesses.status()
    return JSON(body, status_code=200 if ready else 503)


@router.get("/metrics", summary="Prometheus metrics", include_in_schema=False)
async def metrics(request: Request) -> Response:
    """Off, open, or behind a bearer token, as the settings say (the counters tell much
    about who calls the gateway and how)."""
    services = get_services(request)
    if not services.settings.metrics_enabled:
        raise NotFound("no such resource")
    expected = services.settings.resolved_metrics_token()
    if expected is not None:
        header = request.headers.get("authorization", "")
        given = header[7:].strip() if header[:7].lower() == "bearer " else ""
        if not hmac.compare_digest(given.encode(), expected.encode()):
            raise Unauthenticated(
                "the metrics token is required", headers={"WWW-Authenticate": "Bearer"}
            )
    body, content_type = render_metrics(services.metrics)
    return Response(body, media_type=content_type)
