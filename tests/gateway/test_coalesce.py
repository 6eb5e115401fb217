"""The coalescer: shared flushes, one at a time, each caller its own result or error."""

from __future__ import annotations

import asyncio
import contextvars

import pytest

from gateway.platform.coalesce import Coalescer


class Flushes:
    """A flush that records its batches and, while ``hold`` is set, waits to be let go."""

    def __init__(self) -> None:
        self.batches: list[list[int]] = []
        self.hold = False
        self.release = asyncio.Event()
        self.started = asyncio.Event()
        self.in_flight = 0
        self.most_in_flight = 0

    async def __call__(self, items: list[int]) -> list[int]:
        self.batches.append(list(items))
        self.in_flight += 1
        self.most_in_flight = max(self.most_in_flight, self.in_flight)
        self.started.set()
        try:
            if self.hold:
                await self.release.wait()
            if any(item < 0 for item in items):
                raise ValueError("negative item")
            return [item * 10 for item in items]
        finally:
            self.in_flight -= 1


async def one_in_flight() -> tuple[Flushes, Coalescer[int, int], asyncio.Task[int]]:
    """A coalescer whose first flush (of the item 1) is in flight and held there."""
    flushes = Flushes()
    flushes.hold = True
    coalescer = Coalescer(flushes)
    first = asyncio.create_task(coalescer.submit(1))
    await flushes.started.wait()
    return flushes, coalescer, first


async def settle() -> None:
    """Let every task that is ready run until it waits."""
    for _ in range(5):
        await asyncio.sleep(0)


async def test_a_lone_submit_is_flushed_at_once_and_alone() -> None:
    flushes = Flushes()
    coalescer = Coalescer(flushes)
    assert await coalescer.submit(7) == 70
    assert await coalescer.submit(8) == 80
    assert flushes.batches == [[7], [8]]


async def test_concurrent_submits_share_flushes_in_order() -> None:
    flushes = Flushes()
    coalescer = Coalescer(flushes)
    results = await asyncio.gather(*(coalescer.submit(i) for i in range(20)))
    assert results == [i * 10 for i in range(20)]
    assert flushes.batches == [list(range(20))]


async def test_submits_during_a_flush_go_together_in_the_next_one() -> None:
    flushes, coalescer, first = await one_in_flight()
    queued = [asyncio.create_task(coalescer.submit(i)) for i in (2, 3, 4)]
    await settle()
    assert flushes.batches == [[1]]  # the others wait for the flush in flight
    flushes.release.set()
    assert await first == 10
    assert [await task for task in queued] == [20, 30, 40]
    assert flushes.batches == [[1], [2, 3, 4]]
    assert flushes.most_in_flight == 1


async def test_an_error_reaches_every_caller_of_its_flush_and_the_next_flush_works() -> None:
    flushes, coalescer, first = await one_in_flight()
    failing = [asyncio.create_task(coalescer.submit(i)) for i in (2, -1, 3)]
    await settle()
    flushes.release.set()
    assert await first == 10  # its own flush went through
    outcomes = await asyncio.gather(*failing, return_exceptions=True)
    assert all(isinstance(outcome, ValueError) for outcome in outcomes)
    assert await coalescer.submit(5) == 50
    assert flushes.batches == [[1], [2, -1, 3], [5]]


async def test_a_flush_with_the_wrong_number_of_results_fails_its_callers() -> None:
    async def short(items: list[int]) -> list[int]:
        return items[1:]

    coalescer = Coalescer(short)
    outcomes = await asyncio.gather(
        coalescer.submit(1), coalescer.submit(2), return_exceptions=True
    )
    assert all(isinstance(outcome, RuntimeError) for outcome in outcomes)


async def test_a_caller_cancelled_during_its_flush_does_not_cancel_the_others() -> None:
    flushes = Flushes()
    flushes.hold = True
    coalescer = Coalescer(flushes)
    # the first caller starts the flush that the others ride in
    callers = [asyncio.create_task(coalescer.submit(i)) for i in (1, 2, 3)]
    await flushes.started.wait()
    callers[0].cancel()
    await settle()
    assert flushes.in_flight == 1  # the flush itself was not cancelled
    flushes.release.set()
    with pytest.raises(asyncio.CancelledError):
        await callers[0]
    assert [await callers[1], await callers[2]] == [20, 30]
    assert flushes.batches == [[1, 2, 3]]  # sent once, the cancelled result dropped
    assert await coalescer.submit(4) == 40


async def test_a_caller_cancelled_before_its_flush_is_left_out_of_it() -> None:
    flushes, coalescer, first = await one_in_flight()
    queued = [asyncio.create_task(coalescer.submit(i)) for i in (2, 3, 4)]
    await settle()
    queued[1].cancel()
    await settle()
    flushes.release.set()
    assert await first == 10
    assert [await queued[0], await queued[2]] == [20, 40]
    with pytest.raises(asyncio.CancelledError):
        await queued[1]
    assert flushes.batches == [[1], [2, 4]]


async def test_the_flush_runs_outside_the_context_of_the_caller_that_started_it() -> None:
    request_id: contextvars.ContextVar[str] = contextvars.ContextVar("request_id")
    seen: list[str | None] = []

    async def flush(items: list[int]) -> list[int]:
        seen.append(request_id.get(None))
        return items

    coalescer = Coalescer(flush)
    request_id.set("request-1")
    assert await coalescer.submit(1) == 1
    assert seen == [None]
