"""Liveness, readiness and Prometheus metrics."""

from __future__ import annotations

from typing import Any

from fastapi import APIRouter, Request
from fastapi.responses import Response
from sqlalchemy import text

from gateway.auth import get_services
from gateway.metrics import render as render_metrics
from gateway.responses import JSON

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
    body, content_type = render_metrics(get_services(request).metrics)
    return Response(body, media_type=content_type)
