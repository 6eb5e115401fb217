"""The FastAPI application factory. Everything long-lived is built in the lifespan."""

from __future__ import annotations

import gc
import re
from collections.abc import AsyncIterator, Awaitable, Callable
from contextlib import asynccontextmanager
from typing import Any

from fastapi import FastAPI, Request
from fastapi.exceptions import RequestValidationError
from fastapi.responses import Response
from fastapi.routing import APIRoute
from sqlalchemy.exc import DBAPIError, InterfaceError, OperationalError
from starlette.exceptions import HTTPException as StarletteHTTPException
from starlette.routing import Match
from starlette.types import ASGIApp, Receive, Scope, Send

from audit import AuditUnavailable as AuditLogUnavailable
from gateway import console
from gateway.admin import routes as admin
from gateway.auditing import alert_routes, tiles
from gateway.auditing import investigation_routes as investigations
from gateway.auditing import routes as audit
from gateway.identity import routes as oauth
from gateway.platform import health
from gateway.platform import openapi as openapi_doc
from gateway.platform.errors import (
    AuditUnavailable,
    BadRequest,
    GatewayError,
    InvalidRequest,
    MethodNotAllowed,
    NotFound,
    render,
)
from gateway.platform.logs import configure_logging, get_logger
from gateway.platform.middleware import GatewayMiddleware
from gateway.platform.services import Services, build_services
from gateway.platform.settings import Settings
from gateway.residents import answers as residents_answers
from gateway.residents import routes as residents
from gateway.statistics import routes as statistics

DESCRIPTION = (
    "satugate brokers requests for resident personal data between a city's agencies and "
    "the sources of truth: purpose-bound, field-level, pseudonymised per agency, and "
    "recorded in a tamper-evident audit log."
)


Endpoint = Callable[[Request], Awaitable[Response]]


class Gateway(FastAPI):
    """FastAPI, with the resident read answered without the framework's per-request work.

    ``GET /v1/residents/{nik}`` is most of the traffic, and it declares no parameters:
    its endpoint reads the bare request. Starlette's route matching (every route's
    pattern in turn) and FastAPI's request handling cost more than the lookup's own
    work, so that one route is matched by its own pattern and its endpoint is called
    directly, inside the same ``GatewayMiddleware`` (request id, body limit, security
    headers, access log, metrics), with errors rendered by the same exception handlers.
    It stays a registered route: the OpenAPI document lists it, and the framework serves
    it wherever the direct path does not apply (a mounted root path).

    The benchmark that needs it is ``python -m benchmarks e2e`` (the throughput ratio and
    the added p50); ``tests/gateway/test_residents_api.py::
    test_the_direct_read_path_answers_as_the_framework_route_does`` proves it answers, and
    records, exactly as the framework's route does.
    """

    _direct: tuple[re.Pattern[str], APIRoute, Endpoint, ASGIApp] | None = None

    def serve_directly(self, route: APIRoute, endpoint: Endpoint, **middleware: Any) -> None:
        # The route's own compiled pattern: exactly the paths the router would match.
        handler = GatewayMiddleware(self._answer, **middleware)
        self._direct = (route.path_regex, route, endpoint, handler)

    async def __call__(self, scope: Scope, receive: Receive, send: Send) -> None:
        direct = self._direct
        if (
            direct is not None
            and scope["type"] == "http"
            and scope["method"] == "GET"
            and not scope.get("root_path")
        ):
            match = direct[0].match(scope["path"])
            if match is not None:
                scope["app"] = self
                scope["route"] = direct[1]
                scope["endpoint"] = direct[2]
                scope["path_params"] = match.groupdict()
                await direct[3](scope, receive, send)
                return
        await super().__call__(scope, receive, send)

    async def _answer(self, scope: Scope, receive: Receive, send: Send) -> None:
        assert self._direct is not None
        request = Request(scope, receive)
        try:
            response = await self._direct[2](request)
        except Exception as exc:
            response = await self._handler_for(exc)(request, exc)
        await response(scope, receive, send)

    def _handler_for(self, exc: Exception) -> Callable[[Request, Exception], Awaitable[Response]]:
        """The registered handler of the nearest class of ``exc``, as Starlette picks it."""
        for cls in type(exc).__mro__:
            handler = self.exception_handlers.get(cls)
            if handler is not None:
                return handler  # type: ignore[return-value]
        raise exc

    def disable_direct_path(self) -> None:
        self._direct = None


def create_app(settings: Settings | None = None, *, services: Services | None = None) -> Gateway:
    settings = settings or Settings()
    configure_logging(settings.log_level)

    @asynccontextmanager
    async def lifespan(app: FastAPI) -> AsyncIterator[None]:
        owned = services is None
        app.state.services = services if services is not None else await build_services(settings)
        # Every background refresh runs as long as the app, and no longer.
        background = app.state.services.start_refreshers()
        # What startup built (modules, services, compiled policies) lives as long as the
        # process: moved out of the collector's generations, full collections no longer
        # walk it, and their pauses stop growing with it.
        gc.freeze()
        try:
            yield
        finally:
            gc.unfreeze()
            await background.aclose()
            if owned:
                await app.state.services.aclose()

    app = Gateway(
        title="satugate",
        version="1.0.0",
        description=DESCRIPTION,
        lifespan=lifespan,
        docs_url="/docs" if settings.docs_enabled else None,
        redoc_url="/redoc" if settings.docs_enabled else None,
    )
    # A slash redirect would build its Location from the request's Host header.
    app.router.redirect_slashes = False
    for router in (
        oauth.router,
        residents.router,
        statistics.router,
        audit.router,
        audit.resident_router,
        investigations.router,
        alert_routes.router,
        tiles.router,
        admin.router,
        health.router,
    ):
        app.include_router(router)
    app.include_router(console.router)
    _install_error_handlers(app)
    _complete_openapi(app)
    middleware: dict[str, Any] = {
        "max_body_bytes": settings.max_body_bytes,
        "hsts": settings.issuer.startswith("https://"),
        "trusted_hosts": settings.trusted_host_names(),
    }
    app.add_middleware(GatewayMiddleware, **middleware)
    read = next(
        r
        for r in residents.router.routes
        if isinstance(r, APIRoute) and r.path == residents.READ_PATH and "GET" in (r.methods or ())
    )
    app.serve_directly(read, residents.read_resident, **middleware)
    return app


def _complete_openapi(app: FastAPI) -> None:
    """Serve the completed document (``gateway.platform.openapi``), built once."""
    generate = app.openapi

    def openapi() -> dict[str, Any]:
        if app.openapi_schema is None:
            app.openapi_schema = openapi_doc.complete(generate(), residents_answers.ANSWERS)
        return app.openapi_schema

    app.openapi = openapi  # type: ignore[method-assign]


def _instance(request: Request) -> str:
    return str(request.scope.get("state", {}).get("request_id", ""))


def _store_down(exc: Exception) -> bool:
    """Whether an error means the store could not be reached (not a bug in a query)."""
    if isinstance(exc, ConnectionError):
        return True
    if not isinstance(exc, DBAPIError):
        return False
    if exc.connection_invalidated or isinstance(exc, OperationalError | InterfaceError):
        return True
    for cause in (exc.orig, getattr(exc.orig, "__cause__", None)):
        if isinstance(cause, OSError) or type(cause).__name__ in _DRIVER_CONNECTION_ERRORS:
            return True
        state = str(getattr(cause, "sqlstate", None) or getattr(cause, "pgcode", None) or "")
        # SQLSTATE class 08 (connection exception) and 57P (shutdown, starting up).
        if state.startswith(("08", "57P")):
            return True
    return False


# asyncpg's own names for a server that is gone, restarting or refusing connections.
_DRIVER_CONNECTION_ERRORS = frozenset(
    {
        "ConnectionDoesNotExistError",
        "CannotConnectNowError",
        "ConnectionFailureError",
        "AdminShutdownError",
        "CrashShutdownError",
        "TooManyConnectionsError",
    }
)


async def _record_rejected(request: Request, error: GatewayError) -> None:
    """A resident call whose body failed validation is refused on the record, like any
    other malformed input. A body that is not even JSON fails before the call's
    dependency has run: it runs here (authentication first: no 422 for strangers)."""
    state = request.scope.get("state", {})
    call = state.get("call")
    if call is None and request.method == "POST":
        caller = residents.CALLERS.get(request.url.path)
        if caller is not None:
            call = await caller(request)
    if call is not None and not call.recorded:
        await call.refuse(error)


def _allow(request: Request, exc: StarletteHTTPException) -> dict[str, str]:
    """A 405's headers, its ``Allow`` naming every method of the path (RFC 9110 §15.5.6),
    not only those of the first route that matched it. Only 405s pay for the walk."""
    methods = [
        method
        for method in _METHODS
        if any(
            route.matches({**request.scope, "method": method})[0] == Match.FULL
            for route in request.app.router.routes
        )
    ]
    headers = dict(exc.headers or {})
    if methods:
        headers["Allow"] = ", ".join(methods)
    return headers


_METHODS = ("GET", "HEAD", "POST", "PUT", "PATCH", "DELETE")


def _install_error_handlers(app: FastAPI) -> None:
    log = get_logger()

    @app.exception_handler(GatewayError)
    async def gateway_error(request: Request, exc: GatewayError) -> Response:
        return render(exc, instance=_instance(request))

    @app.exception_handler(AuditLogUnavailable)
    async def audit_unavailable(request: Request, exc: AuditLogUnavailable) -> Response:
        # An auditor's read while the store is down: the same 503 as a failed append.
        return render(AuditUnavailable("the audit log cannot be read now"), _instance(request))

    @app.exception_handler(RequestValidationError)
    async def validation_error(request: Request, exc: RequestValidationError) -> Response:
        # Name the failing locations and messages; never echo the submitted values.
        errors: list[dict[str, Any]] = [
            {"loc": [str(p) for p in e.get("loc", ())], "msg": str(e.get("msg", ""))[:200]}
            for e in exc.errors()[:20]
        ]
        error = InvalidRequest(
            "the request does not match the API schema", extra={"errors": errors}
        )
        try:
            await _record_rejected(request, error)
        except GatewayError as refused:  # unauthenticated, revoked, audit down: that answer
            return render(refused, instance=_instance(request))
        return render(error, instance=_instance(request))

    @app.exception_handler(StarletteHTTPException)
    async def http_error(request: Request, exc: StarletteHTTPException) -> Response:
        # The framework's own refusals (no route, no such method, an unreadable request)
        # are problems like ours; any other status it might raise is a bad request.
        kind = {404: NotFound, 405: MethodNotAllowed}.get(exc.status_code, BadRequest)
        headers = _allow(request, exc) if exc.status_code == 405 else dict(exc.headers or {})
        error = kind(kind.title.lower(), headers=headers)
        return render(error, instance=_instance(request))

    @app.exception_handler(DBAPIError)
    @app.exception_handler(ConnectionError)
    async def store_unreachable(request: Request, exc: Exception) -> Response:
        # Security decision: the gateway store also holds the audit trail. When it cannot
        # be reached (policy refresh, key load, client lookup), the call fails closed as
        # 503 audit_unavailable, like a failed audit write, never as a 500. Other database
        # errors (integrity, programming) stay 500s: they are bugs.
        if not _store_down(exc):
            return await unexpected(request, exc)
        log.warning(
            "store_unavailable", error_type=type(exc).__name__, request_id=_instance(request)
        )
        return render(
            AuditUnavailable("the gateway store is unreachable; nothing was released"),
            instance=_instance(request),
        )

    @app.exception_handler(Exception)
    async def unexpected(request: Request, exc: Exception) -> Response:
        # A 500 is always a bug: log its type (not its message, which may hold data).
        log.error("unhandled_error", error_type=type(exc).__name__, request_id=_instance(request))
        return render(
            GatewayError("an unexpected error occurred; nothing was released"),
            instance=_instance(request),
        )
