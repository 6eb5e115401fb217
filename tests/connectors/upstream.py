"""A real upstream agency API for the HTTP connector's tests, served by uvicorn.

It implements the upstream contract of :mod:`connectors.http` over a fixed set of
records, and lets a test make it fail, slow down or demand a bearer token.
"""

from __future__ import annotations

import asyncio
import socket
import threading
import time
from collections.abc import Iterator
from contextlib import contextmanager
from dataclasses import dataclass, field

import uvicorn
from starlette.applications import Starlette
from starlette.requests import Request
from starlette.responses import JSONResponse, Response
from starlette.routing import Route


@dataclass
class UpstreamState:
    records: dict[str, dict[str, object]] = field(default_factory=dict)
    token: str | None = None
    fail_next: int = 0  # answer 503 to this many calls
    fail_status: int = 503
    delay_seconds: float = 0.0
    calls: int = 0
    record_calls: list[tuple[list[str], list[str]]] = field(default_factory=list)


def build_app(state: UpstreamState) -> Starlette:
    async def records(request: Request) -> Response:
        state.calls += 1
        expected = f"Bearer {state.token}"
        if state.token is not None and request.headers.get("authorization") != expected:
            return JSONResponse({"error": "unauthorised"}, status_code=401)
        if state.delay_seconds:
            await asyncio.sleep(state.delay_seconds)
        if state.fail_next > 0:
            state.fail_next -= 1
            return JSONResponse({"error": "down"}, status_code=state.fail_status)
        niks = [n for n in request.query_params.get("nik", "").split(",") if n]
        fields = [f for f in request.query_params.get("fields", "").split(",") if f]
        state.record_calls.append((niks, fields))
        out = {
            nik: {f: state.records[nik].get(f) for f in fields if f in state.records[nik]}
            | {"extra_field_not_asked": "x"}
            for nik in niks
            if nik in state.records
        }
        return JSONResponse({"records": out})

    async def health(request: Request) -> Response:
        return JSONResponse({"ok": True})

    return Starlette(routes=[Route("/api/records", records), Route("/api/health", health)])


@dataclass
class RunningUpstream:
    base_url: str
    state: UpstreamState
    server: uvicorn.Server
    thread: threading.Thread

    def stop(self) -> None:
        self.server.should_exit = True
        self.thread.join(timeout=10)


@contextmanager
def serve_upstream(
    state: UpstreamState, *, tls: dict[str, object] | None = None
) -> Iterator[RunningUpstream]:
    """Serve the upstream on 127.0.0.1 on a free port in a background thread.

    ``tls`` holds uvicorn's ``ssl_*`` settings (certificate, key, client CA) for HTTPS.
    """
    sock = socket.socket(socket.AF_INET, socket.SOCK_STREAM)
    sock.setsockopt(socket.SOL_SOCKET, socket.SO_REUSEADDR, 1)
    sock.bind(("127.0.0.1", 0))
    port = sock.getsockname()[1]
    config = uvicorn.Config(
        build_app(state),
        log_level="warning",
        lifespan="off",
        **(tls or {}),  # type: ignore[arg-type]
    )
    server = uvicorn.Server(config)
    thread = threading.Thread(target=server.run, kwargs={"sockets": [sock]}, daemon=True)
    thread.start()
    deadline = time.monotonic() + 10
    while not server.started:
        if time.monotonic() > deadline:
            raise RuntimeError("upstream did not start")
        time.sleep(0.01)
    scheme = "https" if tls else "http"
    running = RunningUpstream(f"{scheme}://127.0.0.1:{port}/api", state, server, thread)
    try:
        yield running
    finally:
        running.stop()
        sock.close()
