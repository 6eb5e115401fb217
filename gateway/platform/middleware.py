"""Pure ASGI middleware: request id, body size limit, trusted hosts, security headers,
access log and metrics.

Pure ASGI (not ``BaseHTTPMiddleware``) keeps the per-request cost small on the hot path.
"""

from __future__ import annotations

import contextlib
import os
import re
import time
from typing import Any

from starlette.types import ASGIApp, Message, Receive, Scope, Send

from gateway.platform.errors import NikInHeader, PayloadTooLarge, UntrustedHost, render
from gateway.platform.logs import get_logger
from gateway.residents.nik import carries_nik

_REQUEST_ID = re.compile(r"[A-Za-z0-9._\-]{1,128}")


class _TooLarge(Exception):
    pass


# Probes reach a pod by its address, not by the public name: they are answered whatever
# the Host header says (they build no URL from it).
_ANY_HOST_PATHS = frozenset({"/healthz", "/readyz"})
_HSTS = (b"strict-transport-security", b"max-age=31536000; includeSubDomains")


class GatewayMiddleware:
    def __init__(
        self,
        app: ASGIApp,
        *,
        max_body_bytes: int,
        hsts: bool = False,
        trusted_hosts: frozenset[str] = frozenset(),
    ) -> None:
        """``hsts``: send Strict-Transport-Security (the issuer is https). Security
        decision: with ``trusted_hosts`` a request naming another Host is refused (400
        ``untrusted_host``), so no URL the gateway builds can carry a forged host."""
        self.app = app
        self.max_body = max_body_bytes
        self.hsts = hsts
        self.trusted_hosts = trusted_hosts
        self.log = get_logger()

    async def __call__(self, scope: Scope, receive: Receive, send: Send) -> None:
        if scope["type"] != "http":
            await self.app(scope, receive, send)
            return
        started = time.perf_counter()
        headers = dict(scope.get("headers") or [])
        raw_id = headers.get(b"x-request-id", b"").decode("latin-1")
        # A client's request id is echoed only when it is harmless; otherwise we make one.
        echo = _REQUEST_ID.fullmatch(raw_id) is not None
        request_id = raw_id if echo else os.urandom(16).hex()
        if echo and carries_nik(raw_id):
            # Security decision: a NIK as request id would be echoed, logged and recorded;
            # refused before anything else, under an id of our own.
            request_id = os.urandom(16).hex()
            scope.setdefault("state", {})["request_id"] = request_id
            response = render(NikInHeader("X-Request-Id must not carry a NIK"), instance=request_id)
            response.headers["x-request-id"] = request_id
            await response(scope, receive, send)
            self._log(scope, 422, started, request_id)
            return
        scope.setdefault("state", {})["request_id"] = request_id
        status_holder: dict[str, Any] = {"status": 500}

        if self.trusted_hosts and scope.get("path") not in _ANY_HOST_PATHS:
            host = headers.get(b"host", b"").decode("latin-1").lower()
            if _hostname(host) not in self.trusted_hosts:
                response = render(UntrustedHost("the Host header names no host of this gateway"))
                response.headers["x-request-id"] = request_id
                await response(scope, receive, send)
                self._log(scope, 400, started, request_id)
                return

        length = headers.get(b"content-length")
        if length is not None and (not length.isdigit() or int(length) > self.max_body):
            response = render(PayloadTooLarge(f"the body exceeds {self.max_body} bytes"))
            response.headers["x-request-id"] = request_id
            await response(scope, receive, send)
            self._log(scope, 413, started, request_id)
            return

        received = 0
        # Set once a body without Content-Length outgrows the limit. Frameworks may catch
        # the exception raised in ``receive`` (FastAPI turns it into a 400): whatever the
        # app answers then is dropped and the 413 below goes out instead.
        cut_off = False
        response_started = False

        async def limited_receive() -> Message:
            nonlocal received, cut_off
            message = await receive()
            if message["type"] == "http.request":
                received += len(message.get("body", b""))
                if received > self.max_body:
                    cut_off = True
                    raise _TooLarge
            return message

        async def send_wrapper(message: Message) -> None:
            nonlocal response_started
            if cut_off and not response_started:
                return
            if message["type"] == "http.response.start":
                response_started = True
                status_holder["status"] = message["status"]
                headers = list(message.get("headers", []))
                headers.append((b"x-request-id", request_id.encode("latin-1")))
                # Nothing is cached unless a route says so (immutable audit tiles do).
                if not any(k.lower() == b"cache-control" for k, _ in headers):
                    headers.append((b"cache-control", b"no-store"))
                headers.append((b"x-content-type-options", b"nosniff"))
                nonce = scope["state"].get("dpop_nonce")  # set only where nonces are on
                if nonce is not None:
                    headers.append((b"dpop-nonce", nonce.encode("ascii")))
                if self.hsts:
                    headers.append(_HSTS)
                message["headers"] = headers
            await send(message)

        with contextlib.suppress(_TooLarge):
            await self.app(scope, limited_receive, send_wrapper)
        if cut_off and not response_started:
            response = render(PayloadTooLarge(f"the body exceeds {self.max_body} bytes"))
            response.headers["x-request-id"] = request_id
            await response(scope, receive, send)
            status_holder["status"] = 413
        self._log(scope, status_holder["status"], started, request_id)

    def _log(self, scope: Scope, status: int, started: float, request_id: str) -> None:
        route = scope.get("route")
        # The template without convertors: ``/v1/residents/{nik}``, not ``{nik:nik}``.
        template = getattr(route, "path_format", None) or "unmatched"
        state = scope.get("state", {})
        principal = state.get("principal")
        elapsed = time.perf_counter() - started
        app = scope.get("app")
        services = getattr(getattr(app, "state", None), "services", None)
        agency = principal.agency if principal is not None else "-"
        if services is not None:
            services.metrics.observe_request(
                route=template,
                method=scope.get("method", ""),
                status=status,
                agency=agency,
                seconds=elapsed,
            )
        self.log.info(
            "request",
            request_id=request_id,
            method=scope.get("method"),
            route=template,
            status=status,
            client=principal.client_id if principal is not None else None,
            agency=principal.agency if principal is not None else None,
            latency_ms=round(elapsed * 1000, 2),
        )


def _hostname(host: str) -> str:
    """The name in a Host header, without its port (``[::1]:8000`` -> ``[::1]``)."""
    if host.startswith("["):
        return host.split("]", 1)[0] + "]"
    return host.rsplit(":", 1)[0] if ":" in host else host
