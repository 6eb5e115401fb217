"""The batching queue of the audit log's writer: it knows nothing of storage.

Callers put a prepared event with a future; the writer takes batches. A batch holds the
events queued while the previous one was being committed, so an idle log commits an
event at once and a busy one shares each transaction among many.
"""

from __future__ import annotations

import asyncio
from collections.abc import Callable
from dataclasses import dataclass

from audit.errors import AuditUnavailable
from audit.events import PreparedEvent


@dataclass(slots=True)
class Pending:
    """One queued event and the future its caller awaits (the leaf index)."""

    event: PreparedEvent
    future: asyncio.Future[int]


def expire(future: asyncio.Future[int]) -> None:
    """Fail a caller's future that is still waiting when its commit timeout passes."""
    if not future.done():
        future.set_exception(AuditUnavailable("the audit log did not commit in time"))


class BatchQueue:
    """Events waiting for the writer, and a stop marker behind the last of them.

    ``max_batch`` bounds a batch; ``max_wait`` > 0 waits that long for more events before
    a small batch.
    """

    def __init__(self, *, max_batch: int, max_wait: float) -> None:
        if max_batch < 1:
            raise ValueError("max_batch must be positive")
        self.max_batch = max_batch
        self._max_wait = max_wait
        self._items: asyncio.Queue[Pending | None] = asyncio.Queue()

    def put(self, pending: Pending) -> None:
        self._items.put_nowait(pending)

    def close(self) -> None:
        """Queue the stop marker: the writer ends after the events queued before it."""
        self._items.put_nowait(None)

    def waiting(self) -> int:
        return self._items.qsize()

    async def next_batch(self, limit: Callable[[int], int]) -> tuple[list[Pending], bool]:
        """The next batch of live events, and whether the stop marker was reached.

        ``limit(waiting)`` caps the batch, given how many events wait for it.
        """
        first = await self._items.get()
        batch: list[Pending] = []
        stopping = first is None
        if first is not None:
            batch.append(first)
            if self._items.qsize() + 1 < self.max_batch:
                # Let the tasks that are ready to run queue their events first (and, if
                # configured, wait a moment more) so that they share this transaction.
                await asyncio.sleep(self._max_wait)
            stopping = self._drain(batch, limit(self._items.qsize() + 1))
        # A caller that gave up (timeout, cancellation) has its future done: its event is
        # not written, so a 503 answer never hides an event logged afterwards.
        return [p for p in batch if not p.future.done()], stopping

    def _drain(self, batch: list[Pending], limit: int) -> bool:
        """Move queued events into ``batch``; True when the stop marker was seen."""
        while len(batch) < limit:
            try:
                item = self._items.get_nowait()
            except asyncio.QueueEmpty:
                return False
            if item is None:
                return True
            batch.append(item)
        return False
