"""A small HTTP/1.1 keep-alive load generator, run as its own process.

``python -m benchmarks.loadgen HOST PORT SECONDS CONCURRENCY PATHS_FILE HEADERS_JSON [RATE]``
prints one JSON line: requests, errors, seconds, rps, p50_ms, p99_ms. Raw asyncio streams
keep the generator's own cost far below an HTTP client library's.

Without ``RATE`` the load is closed: ``CONCURRENCY`` connections each send their next
request as soon as the last one is answered (peak throughput). With ``RATE`` (requests per
second) it is open: request *k* is due at ``k / RATE`` seconds, whatever the server does,
and its latency counts from that moment, so a server that falls behind is charged for the
wait (no coordinated omission). ``CONCURRENCY`` connections carry the open load.
"""

from __future__ import annotations

import asyncio
import itertools
import json
import sys
import time


class _Run:
    def __init__(self, paths: list[str], headers: bytes, deadline: float) -> None:
        self.paths = paths
        self.headers = headers
        self.deadline = deadline
        self.latencies: list[float] = []
        self.counts = {"ok": 0, "errors": 0}

    def record(self, status: int, seconds: float) -> None:
        self.latencies.append(seconds)
        self.counts["ok" if status == 200 else "errors"] += 1


async def _request(
    reader: asyncio.StreamReader, writer: asyncio.StreamWriter, host: bytes, path: str, run: _Run
) -> int:
    writer.write(
        b"GET " + path.encode() + b" HTTP/1.1\r\nHost: " + host + b"\r\n" + run.headers + b"\r\n"
    )
    await writer.drain()
    head = await reader.readuntil(b"\r\n\r\n")
    status = int(head[9:12])
    length = 0
    for line in head.split(b"\r\n"):
        if line[:15].lower() == b"content-length:":
            length = int(line[15:].strip())
    if length:
        await reader.readexactly(length)
    return status


async def _closed_worker(host: str, port: int, run: _Run, offset: int) -> None:
    reader, writer = await asyncio.open_connection(host, port)
    i = offset
    try:
        while time.perf_counter() < run.deadline:
            path = run.paths[i % len(run.paths)]
            i += 1
            started = time.perf_counter()
            status = await _request(reader, writer, host.encode(), path, run)
            run.record(status, time.perf_counter() - started)
    finally:
        writer.close()


async def _open_worker(
    host: str, port: int, run: _Run, slots: itertools.count[int], start: float, rate: float
) -> None:
    reader, writer = await asyncio.open_connection(host, port)
    try:
        while True:
            k = next(slots)
            due = start + k / rate
            if due >= run.deadline:
                return
            delay = due - time.perf_counter()
            if delay > 0:
                await asyncio.sleep(delay)
            path = run.paths[(k * 7919) % len(run.paths)]
            status = await _request(reader, writer, host.encode(), path, run)
            run.record(status, time.perf_counter() - due)
    finally:
        writer.close()


async def run(
    host: str,
    port: int,
    seconds: float,
    concurrency: int,
    paths: list[str],
    header_map: dict[str, str],
    rate: float | None = None,
) -> dict[str, float]:
    headers = b"".join(f"{k}: {v}\r\n".encode() for k, v in header_map.items())
    started = time.perf_counter()
    state = _Run(paths, headers, started + seconds)
    if rate is None:
        workers = [_closed_worker(host, port, state, k * 7919) for k in range(concurrency)]
    else:
        slots = itertools.count()
        workers = [
            _open_worker(host, port, state, slots, started, rate) for _ in range(concurrency)
        ]
    await asyncio.gather(*workers)
    elapsed = time.perf_counter() - started
    latencies = sorted(state.latencies)
    n = len(latencies)
    return {
        "requests": state.counts["ok"],
        "errors": state.counts["errors"],
        "seconds": round(elapsed, 3),
        "rps": round(state.counts["ok"] / elapsed, 1),
        "p50_ms": round(latencies[n // 2] * 1000, 3) if n else 0.0,
        "p99_ms": round(latencies[min(n - 1, int(n * 0.99))] * 1000, 3) if n else 0.0,
    }


def main() -> None:
    host, port, seconds, concurrency, paths_file, headers_json = sys.argv[1:7]
    rate = float(sys.argv[7]) if len(sys.argv) > 7 else None
    with open(paths_file, encoding="utf-8") as fh:
        paths = [line.strip() for line in fh if line.strip()]
    result = asyncio.run(
        run(
            host,
            int(port),
            float(seconds),
            int(concurrency),
            paths,
            json.loads(headers_json),
            rate,
        )
    )
    print(json.dumps(result))


if __name__ == "__main__":
    main()
