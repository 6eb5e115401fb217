"""A real gateway served by uvicorn in a thread, for the headless browser tests."""

from __future__ import annotations

import asyncio
import socket
import threading
import time
from concurrent.futures import ThreadPoolExecutor
from dataclasses import dataclass
from datetime import UTC, datetime, timedelta
from pathlib import Path
from typing import TYPE_CHECKING, Any

import uvicorn

from gateway.demo.seed import seed_store
from gateway.platform.app import create_app
from gateway.platform.services import build_services
from gateway.platform.settings import Settings
from tests.console.conftest import FAST_HASHER, seed_users, with_console
from tests.console.events import lookup

if TYPE_CHECKING:
    from playwright.sync_api import Page

CHROMIUM = Path("/usr/bin/chromium")
CHROMIUM_ARGS = [
    "--headless",
    "--no-sandbox",
    "--disable-gpu",
    "--disable-quic",
    "--no-first-run",
    "--disable-background-networking",
    "--disable-component-update",
    "--disable-sync",
]


def free_port() -> int:
    with socket.socket() as sock:
        sock.bind(("127.0.0.1", 0))
        return int(sock.getsockname()[1])


async def prepare(settings: Settings, volume: int = 0) -> dict[str, Any]:
    """Seed the store, the console users and a few lookups to audit; ``volume`` more
    lookups of many officers and residents (the log at a working day's size)."""
    demo = await seed_store(settings, base_url=settings.issuer, console_hasher=FAST_HASHER)
    services = await build_services(settings)
    try:
        await seed_users(services)
        niks = demo["sample_niks"]
        for i in range(12):
            await lookup(services, niks[i % 3], agency="dinsos", officer=f"petugas.{i % 4}")
        for i in range(5):
            await lookup(
                services, niks[0], agency="dinkes", purpose="health_insurance", decision="deny"
            )
        if volume:  # lookups at 03:00 WIB: an off-hours alert, whatever the time now
            night = datetime.now(UTC).replace(hour=20, minute=0, second=0, microsecond=0)
            for days in (1, 2, 3):
                moment = (night - timedelta(days=days)).isoformat()
                await lookup(services, niks[2], officer="petugas.malam", time=moment)
        for start in range(0, volume, 500):
            await asyncio.gather(
                *(
                    lookup(services, niks[3 + i % (len(niks) - 3)], officer=f"petugas.{i % 37}")
                    for i in range(start, min(start + 500, volume))
                )
            )
    finally:
        await services.aclose()
    return demo


@dataclass
class Served:
    base_url: str
    demo: dict[str, Any]
    server: uvicorn.Server
    thread: threading.Thread

    def stop(self) -> None:
        self.server.should_exit = True
        self.thread.join(timeout=15)


def serve(settings: Settings, volume: int = 0) -> Served:
    # Its own thread: Playwright's sync API keeps an event loop in the main thread.
    with ThreadPoolExecutor(1) as pool:
        demo = pool.submit(asyncio.run, prepare(settings, volume)).result(timeout=300)
    app = with_console(create_app(settings))
    app.state.console_hasher = FAST_HASHER
    config = uvicorn.Config(
        app, host="127.0.0.1", port=int(settings.issuer.rsplit(":", 1)[-1]), log_level="warning",
        lifespan="on",
    )  # fmt: skip
    server = uvicorn.Server(config)
    thread = threading.Thread(target=server.run, name="console-uvicorn", daemon=True)
    thread.start()
    deadline = time.monotonic() + 30
    while not server.started:
        if not thread.is_alive() or time.monotonic() > deadline:
            raise RuntimeError("the test server did not start")
        time.sleep(0.05)
    return Served(settings.issuer, demo, server, thread)


def sign_in(page: Page, user: tuple[str, str]) -> None:
    """Sign in through the console's login page, in Indonesian (its default)."""
    page.goto("/console/login")
    page.get_by_label("Nama pengguna").fill(user[0])
    page.get_by_label("Kata sandi").fill(user[1])
    page.get_by_role("button", name="Masuk").click()
    page.wait_for_url("**/console/")
    assert page.get_by_role("heading", name="Dasbor").is_visible()
