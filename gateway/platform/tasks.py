"""Background tasks that the services own and end at shutdown."""

from __future__ import annotations

import asyncio
import contextlib
from typing import Any


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
