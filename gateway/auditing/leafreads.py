"""Reads of single leaves, on the record without doubling the log.

Every read of ``GET /audit/leaves/{index}`` is recorded, but a verifier walks the whole
log a leaf at a time: one event per leaf would add as many events as it reads. So the
reads of one client and officer within ``wait`` seconds share one event that lists
their indexes (as ranges), and each of those reads waits for that event's commit, as a
lookup waits for its own: no leaf leaves unrecorded, and a log that cannot commit
answers them all 503.
"""

from __future__ import annotations

import asyncio
from dataclasses import dataclass, field

from gateway.auditing.recorder import Call

MAX_RANGES = 64


@dataclass
class _Group:
    call: Call
    future: asyncio.Future[None]
    indexes: list[int] = field(default_factory=list)


def ranges(indexes: list[int]) -> dict[str, object]:
    """The indexes as ``[first, last]`` runs; past ``MAX_RANGES`` runs, their span and
    count only."""
    runs: list[list[int]] = []
    for index in sorted(set(indexes)):
        if runs and index == runs[-1][1] + 1:
            runs[-1][1] = index
        else:
            runs.append([index, index])
    if len(runs) <= MAX_RANGES:
        return {"ranges": runs}
    return {"first": runs[0][0], "last": runs[-1][1], "count": len(set(indexes))}


class LeafReads:
    def __init__(self, wait: float = 0.05) -> None:
        self._wait = wait
        self._pending: dict[tuple[str, str | None], _Group] = {}
        self._writing: set[asyncio.Task[None]] = set()

    async def record(self, call: Call, index: int) -> None:
        key = (call.principal.client_id, call.officer)
        group = self._pending.get(key)
        if group is None:
            loop = asyncio.get_running_loop()
            group = self._pending[key] = _Group(call, loop.create_future())
            loop.call_later(self._wait, self._flush, key)
        group.indexes.append(index)
        await asyncio.shield(group.future)

    def _flush(self, key: tuple[str, str | None]) -> None:
        group = self._pending.pop(key)
        task = asyncio.ensure_future(self._write(group))
        self._writing.add(task)
        task.add_done_callback(self._writing.discard)

    async def _write(self, group: _Group) -> None:
        try:
            await group.call.record(
                decision="allow",
                status=200,
                result_count=len(group.indexes),
                detail={"view": "leaf", **ranges(group.indexes)},
            )
        except asyncio.CancelledError:
            group.future.cancel()
            raise
        except Exception as exc:  # handed to every waiting read: none is served unrecorded
            group.future.set_exception(exc)
        else:
            group.future.set_result(None)
