"""The app's lifespan owns every background refresh, and ``build_services`` leaves nothing
behind when a step fails halfway."""

from __future__ import annotations

import asyncio
import os
import threading
from pathlib import Path

import pytest

from gateway.demo.seed import seed_store
from gateway.platform.app import create_app
from gateway.platform.services import build_services
from gateway.platform.settings import Settings
from tests.gateway.conftest import FAST_HASHER, ISSUER, Gateway, running_gateway

REFRESHES = {"refresh-policies", "refresh-keys", "refresh-revoked-clients"}


def _refreshes() -> set[asyncio.Task[object]]:
    return {t for t in asyncio.all_tasks() if t.get_name() in REFRESHES}


async def test_the_lifespan_starts_the_refreshes_and_ends_them(gateway_settings: Settings) -> None:
    assert _refreshes() == set()
    async with running_gateway(gateway_settings):
        running = _refreshes()
        assert {t.get_name() for t in running} == REFRESHES
        assert not any(t.done() for t in running)
    assert all(t.done() for t in running)
    assert _refreshes() == set()


async def test_the_refreshes_keep_the_revoked_clients_current(gateway: Gateway) -> None:
    """The set of revoked clients is read again by the lifespan's refresh, with no request
    to start it, so that requests never find it too old to use."""
    revoked = gateway.services.revoked_clients
    assert revoked is not None
    await revoked.contains("demo-dinsos")
    first = revoked._loaded_at
    assert first is not None
    loop = asyncio.get_running_loop()
    deadline = loop.time() + 10 * revoked.refresh_seconds
    while revoked._loaded_at == first:
        assert loop.time() < deadline, "not read again in the background"
        await asyncio.sleep(0.05)


def _open_files(under: Path) -> list[str]:
    found = []
    for fd in os.listdir("/proc/self/fd"):
        try:
            target = os.readlink(f"/proc/self/fd/{fd}")
        except OSError:
            continue
        if target.startswith(str(under)):
            found.append(target)
    return found


async def test_services_built_halfway_are_closed_when_a_later_step_fails(
    gateway_settings: Settings, tmp_path: Path
) -> None:
    """The officers file is read last, after the store is opened, the audit log's writer
    started and the sources, limits and revocation store made: a broken one leaves no
    engine connection, open file, task or thread behind."""
    await seed_store(gateway_settings, base_url=ISSUER, console_hasher=FAST_HASHER)
    broken = tmp_path / "officers.yaml"
    broken.write_text("agencies: [unclosed\n", encoding="utf-8")
    settings = gateway_settings.model_copy(update={"officers_file": broken})
    data_dir = settings.data_dir.resolve()
    tasks = set(asyncio.all_tasks())
    threads = set(threading.enumerate())

    with pytest.raises(Exception, match=r"flow sequence|expected"):
        await build_services(settings)

    await asyncio.sleep(0)
    assert {t for t in asyncio.all_tasks() - tasks if not t.done()} == set()
    assert _open_files(data_dir) == []
    loop = asyncio.get_running_loop()
    deadline = loop.time() + 5
    while set(threading.enumerate()) - threads:  # the SQLite drivers' connection threads
        assert loop.time() < deadline, f"left running: {set(threading.enumerate()) - threads}"
        await asyncio.sleep(0.05)


async def test_a_lifespan_given_its_services_ends_its_refreshes_and_leaves_them_open(
    gateway_settings: Settings,
) -> None:
    await seed_store(gateway_settings, base_url=ISSUER, console_hasher=FAST_HASHER)
    services = await build_services(gateway_settings)
    try:
        app = create_app(gateway_settings, services=services)
        async with app.router.lifespan_context(app):
            assert {t.get_name() for t in _refreshes()} == REFRESHES
        assert _refreshes() == set()
        assert (await services.policies.current()).bundle_id > 0  # still usable
    finally:
        await services.aclose()
