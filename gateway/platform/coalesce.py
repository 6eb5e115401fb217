"""Concurrent callers share one round trip: what queues up during a flush goes in the next.

Under concurrent load most of the cost of a Redis check is the client library's Python work
per call, not the network. A ``Coalescer`` keeps at most one flush in flight; everything
submitted meanwhile goes together in the next flush, sent as soon as the current one
completes. A lone request goes at once, at the event loop's next turn: there is no timer
and no waiting for company, so batches form only where there is already a queue.

Why the flush runs in a task of its own rather than in the task of the caller that starts
it: a flush carries other callers' items. Run in the first caller's task, cancelling that
caller (a client that hung up) would cancel the Redis call under everyone else, and sending
their items again would be wrong where a flush has effects (a rate limit may already have
been spent). No caller's cancellation reaches the flush's own task, and every outcome of it
(the results, an exception, its own cancellation when the loop shuts down) is delivered to
the futures its callers wait on, so it cannot fail without its callers knowing. The task
exists only while there is work: nothing lingers between bursts, and nothing ties a
coalescer to one event loop.

The task starts in an empty ``contextvars`` context: a flush serves several requests, so it
must not run under the request-scoped values (log fields, the current client) of whichever
request happened to start it.

A caller cancelled before its item is sent is left out of the flush (an abandoned request
spends no rate limit); one cancelled after has its result dropped.
"""

from __future__ import annotations

import asyncio
import contextvars
from collections.abc import Awaitable, Callable
from typing import Generic, TypeVar

__all__ = ["Coalescer"]

Item = TypeVar("Item")
Result = TypeVar("Result")


class Coalescer(Generic[Item, Result]):
    """Sends concurrent ``submit`` calls through ``flush`` together, one flush at a time.

    ``flush`` takes the items of a batch in submission order and returns one result per
    item, in the same order. When it raises, every caller of that batch gets the exception
    and the next batch is flushed as usual.
    """

    def __init__(self, flush: Callable[[list[Item]], Awaitable[list[Result]]]) -> None:
        self._flush = flush
        self._queue: list[tuple[Item, asyncio.Future[Result]]] = []
        self._drain_task: asyncio.Task[None] | None = None

    async def submit(self, item: Item) -> Result:
        """The result of ``item``, flushed with whatever else is waiting."""
        waiter: asyncio.Future[Result] = asyncio.get_running_loop().create_future()
        self._queue.append((item, waiter))
        if self._drain_task is None:
            self._drain_task = asyncio.create_task(self._drain(), context=contextvars.Context())
        return await waiter

    async def _drain(self) -> None:
        try:
            while self._queue:
                batch = [(item, waiter) for item, waiter in self._queue if not waiter.done()]
                self._queue = []
                if batch:
                    await self._send(batch)
        finally:
            self._drain_task = None
            # Items are left over only when this task was cancelled (the loop shutting
            # down): their callers are told rather than left waiting forever.
            leftover, self._queue = self._queue, []
            for _, waiter in leftover:
                waiter.cancel()

    async def _send(self, batch: list[tuple[Item, asyncio.Future[Result]]]) -> None:
        try:
            results = await self._flush([item for item, _ in batch])
            if len(results) != len(batch):
                raise RuntimeError(f"flush returned {len(results)} results for {len(batch)} items")
        except Exception as exc:  # the callers' failure, not this task's: each of them gets it
            for _, waiter in batch:
                if not waiter.done():
                    waiter.set_exception(exc)
            return
        except BaseException:
            for _, waiter in batch:
                waiter.cancel()
            raise
        for (_, waiter), result in zip(batch, results, strict=True):
            if not waiter.done():  # done here means its caller was cancelled: dropped
                waiter.set_result(result)
