"""Shutdown ends what requests started in the background: no refresh outlives the services."""

from __future__ import annotations

import asyncio

from tests.gateway.conftest import Gateway


async def test_closing_the_services_ends_the_refreshes_requests_started(
    gateway: Gateway,
) -> None:
    services = gateway.services
    assert services.revoked_clients is not None
    loop = asyncio.get_running_loop()
    never = asyncio.Event()

    async def waiting() -> None:
        await never.wait()

    # Refreshes still running, as requests past their interval start them.
    poll = services.policies._poller = loop.create_task(waiting())
    reload = services.revoked_clients._reloading = loop.create_task(waiting())
    key_reload = loop.create_task(waiting())
    services.keyring._refreshing[("jwt", "global")] = key_reload  # type: ignore[assignment]

    await services.policies.aclose()
    await services.revoked_clients.aclose()
    await services.keyring.aclose()
    assert poll.cancelled() and reload.cancelled() and key_reload.cancelled()
