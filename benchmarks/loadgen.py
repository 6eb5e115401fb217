"""A small HTTP/1.1 keep-alive load generator, run as its own process.

``python -m benchmarks.loadgen HOST PORT SECONDS CONCURRENCY PATHS_FILE HEADERS_JSON``
prints one JSON line: requests, errors, seconds, rps, p50_ms, p99_ms. Raw asyncio streams
keep the generator's own cost far below an HTTP client library's.
"""

from __future__ import annotations

import asyncio
import json
import sys
import time


async def _worker(
    host: str,
    port: int,
    paths: list[str],
    headers: bytes,
    deadline: float,
    latencies: list[float],
    counts: dict[str, int],
    offset: int,
) -> None:
    reader, writer = await asyncio.open_connection(host, port)
    i = offset
    try:
        while time.perf_counter() < deadline:
            path = paths[i % len(paths)]
            i += 1
            started = time.perf_counter()
            writer.write(
                b"GET "
                + path.encode()
                + b" HTTP/1.1\r\nHost: "
                + host.encode()
                + b"\r\n"
                + headers
                + b"\r\n"
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
            latencies.append(time.perf_counter() - started)
            counts["ok" if status == 200 else "errors"] += 1
    finally:
        writer.close()


async def run(
    host: str,
    port: int,
    seconds: float,
    concurrency: int,
    paths: list[str],
    header_map: dict[str, str],
) -> dict[str, float]:
    headers = b"".join(f"{k}: {v}\r\n".encode() for k, v in header_map.items())
    latencies: list[float] = []
    counts = {"ok": 0, "errors": 0}
    started = time.perf_counter()
    deadline = started + seconds
    await asyncio.gather(
        *(
            _worker(host, port, paths, headers, deadline, latencies, counts, k * 7919)
            for k in range(concurrency)
        )
    )
    elapsed = time.perf_counter() - started
    latencies.sort()
    n = len(latencies)
    return {
        "requests": counts["ok"],
        "errors": counts["errors"],
        "seconds": round(elapsed, 3),
        "rps": round(counts["ok"] / elapsed, 1),
        "p50_ms": round(latencies[n // 2] * 1000, 3) if n else 0.0,
        "p99_ms": round(latencies[min(n - 1, int(n * 0.99))] * 1000, 3) if n else 0.0,
    }


def main() -> None:
    host, port, seconds, concurrency, paths_file, headers_json = sys.argv[1:7]
    with open(paths_file, encoding="utf-8") as fh:
        paths = [line.strip() for line in fh if line.strip()]
    result = asyncio.run(
        run(host, int(port), float(seconds), int(concurrency), paths, json.loads(headers_json))
    )
    print(json.dumps(result))


if __name__ == "__main__":
    main()
