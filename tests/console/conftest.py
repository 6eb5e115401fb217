"""A whole gateway with the console mounted, seeded with demo data and console users."""

from __future__ import annotations

import re
from collections.abc import AsyncIterator, Callable, Iterator
from dataclasses import dataclass, field
from pathlib import Path
from typing import TYPE_CHECKING, Any

import httpx
import pytest
from argon2 import PasswordHasher
from fastapi import FastAPI
from starlette.routing import NoMatchFound

from gateway import console
from gateway.console.users import get_user
from gateway.demo.seed import prepare_sources, seed_store
from gateway.platform.app import create_app
from gateway.platform.services import Services, build_services
from gateway.platform.settings import Settings

if TYPE_CHECKING:
    from playwright.sync_api import Browser as PlaywrightBrowser
    from playwright.sync_api import Page, ViewportSize

    from tests.console.browser import Served

#: Opens a new browser window on the served gateway (``open_page``).
Opener = Callable[[], "Page"]

ISSUER = "http://localhost"
ADMIN_1 = ("admin.satu", "kata-sandi-admin-satu")
ADMIN_2 = ("admin.dua", "kata-sandi-admin-dua")
AUDITOR = ("auditor.satu", "kata-sandi-auditor")
CSRF_RE = re.compile(r'name="csrf" value="([^"]+)"')


def with_console(app: FastAPI) -> FastAPI:
    """Mount the console unless the application already serves it."""
    try:
        app.url_path_for("console_login")
    except NoMatchFound:
        app.include_router(console.router)
    return app


def csrf_of(html: str) -> str:
    found = CSRF_RE.search(html)
    assert found, "no CSRF token on the page"
    return found.group(1)


@pytest.fixture(scope="session")
def console_sources(tmp_path_factory: pytest.TempPathFactory) -> Path:
    data_dir = tmp_path_factory.mktemp("console-sources")
    prepare_sources(Settings(data_dir=data_dir), residents=300, seed=23, force=True)
    return data_dir / "sources"


def make_settings(sources: Path, data_dir: Path, **extra: Any) -> Settings:
    (data_dir / "sources").mkdir(parents=True)
    (data_dir / "sources" / "summary.json").write_text((sources / "summary.json").read_text())
    return Settings(
        data_dir=data_dir,
        sources_file=sources / "sources.yaml",
        issuer=extra.pop("issuer", ISSUER),
        checkpoint_interval=0.2,
        # The console users of these tests sign in with passwords, as the demo's do;
        # the tests of TOTP ask for it.
        console_totp_required=extra.pop("console_totp_required", False),
        **extra,
    )


@pytest.fixture
def console_store(request: pytest.FixtureRequest) -> str:
    """The gateway store under the console: SQLite unless a test asks for more."""
    return str(getattr(request, "param", "sqlite"))


BOTH_STORES = pytest.mark.parametrize(
    "console_store", ["sqlite", pytest.param("postgres", marks=pytest.mark.postgres)], indirect=True
)
"""Run a test on the embedded SQLite store and on the real PostgreSQL server."""


@pytest.fixture
def console_settings(
    console_store: str, console_sources: Path, tmp_path: Path, request: pytest.FixtureRequest
) -> Settings:
    extra: dict[str, Any] = {}
    if console_store == "postgres":
        extra["database_url"] = request.getfixturevalue("postgres_url")
    return make_settings(console_sources, tmp_path / "data", **extra)


@dataclass
class Browser:
    """One person's browser: its own cookie jar, and the CSRF token of its session."""

    client: httpx.AsyncClient
    csrf: str = ""

    async def sign_in(
        self, username: str, password: str, totp: str | None = None
    ) -> httpx.Response:
        page = await self.client.get("/console/login")
        data = {"csrf": csrf_of(page.text), "username": username, "password": password}
        if totp is not None:
            data["totp"] = totp
        response = await self.client.post("/console/login", data=data)
        if response.status_code == 303:
            home = await self.client.get("/console/")
            self.csrf = csrf_of(home.text)
        return response

    async def get(self, path: str, **kwargs: Any) -> httpx.Response:
        return await self.client.get(path, **kwargs)

    async def post(
        self, path: str, data: dict[str, Any] | None = None, **kwargs: Any
    ) -> httpx.Response:
        body = {"csrf": self.csrf, **(data or {})}
        return await self.client.post(path, data=body, **kwargs)


@dataclass
class Console:
    app: FastAPI
    services: Services
    settings: Settings
    demo: dict[str, Any]
    _clients: list[httpx.AsyncClient] = field(default_factory=list)

    def browser(self) -> Browser:
        client = httpx.AsyncClient(transport=httpx.ASGITransport(app=self.app), base_url=ISSUER)
        self._clients.append(client)
        return Browser(client)

    async def signed_in(self, user: tuple[str, str]) -> Browser:
        browser = self.browser()
        response = await browser.sign_in(*user)
        assert response.status_code == 303, response.text
        return browser

    async def events(self, **filters: Any) -> list[dict[str, Any]]:
        import audit

        page = await self.services.audit.search(audit.EventQuery(limit=500, **filters))
        return page.events

    async def aclose(self) -> None:
        for client in self._clients:
            await client.aclose()


# argon2id with the library's defaults costs about a second per hash on a busy CI
# machine; the tests use the smallest parameters argon2 allows. Production keeps the
# defaults (``gateway.console.users.default_hasher``).
FAST_HASHER = PasswordHasher(time_cost=1, memory_cost=1024, parallelism=1)


async def seed_users(services: Services) -> None:
    """The tests' own known passwords for the demo's console users."""
    for (name, password), role in ((ADMIN_1, "admin"), (ADMIN_2, "admin"), (AUDITOR, "auditor")):
        if await get_user(services.engine, name) is None:
            await console.create_user(services.engine, name, password, role, hasher=FAST_HASHER)
        else:
            await console.set_password(services.engine, name, password, hasher=FAST_HASHER)


@pytest.fixture
async def console_app(console_settings: Settings) -> AsyncIterator[Console]:
    demo = await seed_store(console_settings, base_url=ISSUER, console_hasher=FAST_HASHER)
    services = await build_services(console_settings)
    app = with_console(create_app(console_settings, services=services))
    app.state.console_hasher = FAST_HASHER
    await seed_users(services)
    handle = Console(app=app, services=services, settings=console_settings, demo=demo)
    try:
        async with app.router.lifespan_context(app):
            yield handle
    finally:
        await handle.aclose()
        await services.aclose()


@pytest.hookimpl(wrapper=True, tryfirst=True)
def pytest_runtest_makereport(item: pytest.Item, call: pytest.CallInfo[None]) -> Any:
    """Keep each phase's report on the test item, so fixtures can tell a failure."""
    report = yield
    setattr(item, f"report_{report.when}", report)
    return report


# --- the headless browser tests (``test_browser*.py``) ------------------------------------
# A module sets ``browser_volume`` (lookups seeded beside the usual few), ``browser_viewport``
# and ``browser_timeout_ms`` by defining fixtures of those names; the defaults are here.
# Playwright and the served gateway are imported when a browser test asks for them.

BROWSER_ARTIFACTS = Path(__file__).resolve().parents[2] / "test-artifacts"


@pytest.fixture(scope="module")
def browser_volume() -> int:
    return 0


@pytest.fixture(scope="module")
def browser_viewport() -> ViewportSize:
    return {"width": 1280, "height": 900}


@pytest.fixture(scope="module")
def browser_timeout_ms() -> int:
    return 15_000


@pytest.fixture(scope="module")
def served(
    console_sources: Path, tmp_path_factory: pytest.TempPathFactory, browser_volume: int
) -> Iterator[Served]:
    """The gateway with its console, seeded, under uvicorn in a thread of its own."""
    from tests.console.browser import free_port, serve

    port = free_port()
    settings = make_settings(
        console_sources,
        tmp_path_factory.mktemp("browser") / "data",
        issuer=f"http://127.0.0.1:{port}",
    )
    running = serve(settings, volume=browser_volume)
    try:
        yield running
    finally:
        running.stop()


@pytest.fixture(scope="module")
def chromium() -> Iterator[PlaywrightBrowser]:
    """Debian's Chromium under Playwright (which never downloads a browser here)."""
    from tests.console.browser import CHROMIUM, CHROMIUM_ARGS

    playwright_sync = pytest.importorskip("playwright.sync_api")
    if not CHROMIUM.exists():
        pytest.skip("Debian chromium is not installed")
    with playwright_sync.sync_playwright() as pw:
        browser = pw.chromium.launch(
            executable_path=str(CHROMIUM), args=CHROMIUM_ARGS, headless=True
        )
        try:
            yield browser
        finally:
            browser.close()


@pytest.fixture
def open_page(
    chromium: PlaywrightBrowser,
    served: Served,
    browser_viewport: ViewportSize,
    browser_timeout_ms: int,
    request: pytest.FixtureRequest,
) -> Iterator[Opener]:
    """New browser windows (each its own cookies); screenshots of them if the test fails."""
    contexts = []

    def opener() -> Page:
        context = chromium.new_context(
            base_url=served.base_url, viewport=browser_viewport, accept_downloads=True
        )
        context.set_default_timeout(browser_timeout_ms)
        contexts.append(context)
        return context.new_page()

    yield opener
    report = getattr(request.node, "report_call", None)
    if report is not None and report.failed:
        BROWSER_ARTIFACTS.mkdir(exist_ok=True)
        for c, context in enumerate(contexts):
            for p, page in enumerate(context.pages):
                page.screenshot(
                    path=str(BROWSER_ARTIFACTS / f"{request.node.name}-{c}-{p}.png"),
                    full_page=True,
                )
    for context in contexts:
        context.close()
