"""Background tasks: those the app's lifespan runs for as long as the app, and the
cancellation of a task at shutdown."""

from __future__ import annotations

import asyncio
import contextlib
import contextvars
from collections.abc import Awaitable, Callable
from typing import Any

from gateway.platform.logs import get_logger


async def cancel_task(task: asyncio.Task[Any] | None) -> None:
    """Cancel ``task`` if it still runs, and wait until it has ended.

    Used at shutdown only: what the task would have answered no longer matters, so its
    cancellation, or an error it ended with, is not raised again here.
    """
    if task is None or task.done():
        return
    task.cancel()
    with contextlib.suppress(asyncio.CancelledError, Exception):
        await task


class Background:
    """Periodic refreshes that the app's lifespan starts and cancels: no request starts a
    task that outlives it."""

    def __init__(self) -> None:
        self._tasks: list[asyncio.Task[None]] = []

    @property
    def tasks(self) -> tuple[asyncio.Task[None], ...]:
        return tuple(self._tasks)

    def every(self, seconds: float, refresh: Callable[[], Awaitable[None]], *, name: str) -> None:
        """Call ``refresh`` every ``seconds``, in an empty ``contextvars`` context (it
        serves no one request), until ``aclose``."""
        if seconds <= 0:
            raise ValueError("a refresh interval must be positive")
        task = asyncio.get_running_loop().create_task(
            _every(seconds, refresh, name), name=f"refresh-{name}", context=contextvars.Context()
        )
        self._tasks.append(task)

    async def aclose(self) -> None:
        tasks, self._tasks = self._tasks, []
        for task in tasks:
            await cancel_task(task)


async def _every(seconds: float, refresh: Callable[[], Awaitable[None]], name: str) -> None:
    """A failed refresh is logged and the next one comes on time: the cache keeps what
    it has, and a reader that must not use an old copy checks its age itself (the
    revoked clients' set does, and fails closed)."""
    while True:
        await asyncio.sleep(seconds)
        try:
            await refresh()
        except Exception as exc:  # the store is down, or a bug: said, and tried again
            get_logger().warning("refresh_failed", refresh=name, error=type(exc).__name__)
