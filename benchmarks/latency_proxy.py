"""A TCP proxy that delays every byte by a fixed time each way: a server farther away.

It runs its own event loop on a thread of its own, so that a benchmark's synchronous
code can put it in front of a witness for the length of a run (:func:`latency_proxy`).
Bytes are delayed, not throttled: each chunk read is written ``delay`` seconds after it
arrived, whatever else is in flight.
"""

from __future__ import annotations

import asyncio
import contextlib
import threading
from collections.abc import Iterator


class LatencyProxy:
    """Forwards 127.0.0.1:<port> to a target, ``delay`` seconds later in each direction."""

    def __init__(self, host: str, port: int, delay: float) -> None:
        self._target = (host, port)
        self._delay = delay
        self._server: asyncio.Server | None = None
        self._transports: set[asyncio.WriteTransport] = set()
        self._tasks: set[asyncio.Task[None]] = set()
        self.port = 0

    async def start(self) -> None:
        self._server = await asyncio.start_server(self._handle, "127.0.0.1", 0)
        self.port = int(self._server.sockets[0].getsockname()[1])

    async def close(self) -> None:
        """Stop listening and drop every connection still open."""
        if self._server is not None:
            self._server.close()
        for transport in list(self._transports):
            transport.abort()
        if self._tasks:  # their reads end with the connections; what they hold is dropped
            await asyncio.wait(set(self._tasks), timeout=self._delay + 1)
        for task in list(self._tasks):
            task.cancel()
        await asyncio.gather(*self._tasks, return_exceptions=True)
        if self._server is not None:
            await self._server.wait_closed()

    async def _handle(self, reader: asyncio.StreamReader, writer: asyncio.StreamWriter) -> None:
        task = asyncio.current_task()
        assert task is not None
        self._tasks.add(task)
        self._transports.add(writer.transport)
        try:
            try:
                up_reader, up_writer = await asyncio.open_connection(*self._target)
            except OSError:
                return
            self._transports.add(up_writer.transport)
            try:
                await asyncio.gather(self._pipe(reader, up_writer), self._pipe(up_reader, writer))
            except asyncio.CancelledError:
                pass  # closed with the proxy: the connection ends here
            finally:
                up_writer.transport.abort()
                self._transports.discard(up_writer.transport)
        finally:
            writer.transport.abort()
            self._transports.discard(writer.transport)
            self._tasks.discard(task)

    async def _pipe(self, src: asyncio.StreamReader, dst: asyncio.StreamWriter) -> None:
        """Copy ``src`` to ``dst``, each chunk ``delay`` seconds after it was read; the end
        of the stream is passed on as late as the bytes before it."""
        loop = asyncio.get_running_loop()
        due: asyncio.Queue[tuple[float, bytes]] = asyncio.Queue()

        async def deliver() -> None:
            while True:
                at, data = await due.get()
                if (wait := at - loop.time()) > 0:
                    await asyncio.sleep(wait)
                if not data:
                    if dst.can_write_eof():
                        dst.write_eof()
                    return
                dst.write(data)
                await dst.drain()

        delivery = asyncio.create_task(deliver())
        try:
            with contextlib.suppress(ConnectionError, OSError):
                while data := await src.read(65536):
                    due.put_nowait((loop.time() + self._delay, data))
            due.put_nowait((loop.time() + self._delay, b""))
            with contextlib.suppress(ConnectionError, OSError):
                await delivery
        finally:
            delivery.cancel()


@contextlib.contextmanager
def latency_proxy(host: str, port: int, delay: float) -> Iterator[int]:
    """A :class:`LatencyProxy` to ``host:port`` on a thread of its own; yields its port."""
    loop = asyncio.new_event_loop()
    thread = threading.Thread(target=loop.run_forever, name="latency-proxy", daemon=True)
    thread.start()
    proxy = LatencyProxy(host, port, delay)
    try:
        asyncio.run_coroutine_threadsafe(proxy.start(), loop).result(timeout=10)
        yield proxy.port
    finally:
        with contextlib.suppress(Exception):
            asyncio.run_coroutine_threadsafe(proxy.close(), loop).result(timeout=10)
        loop.call_soon_threadsafe(loop.stop)
        thread.join(timeout=10)
        loop.close()
