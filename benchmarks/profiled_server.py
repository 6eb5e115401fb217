"""The gateway under uvicorn with a sampling profiler that signals switch on and off.

``python -m benchmarks.profiled_server OUT PORT``: SIGUSR1 starts pyinstrument, SIGUSR2
stops it and saves the session to ``OUT`` (so start-up and shutdown are not profiled).
"""

from __future__ import annotations

import signal
import sys
from typing import Any

import uvicorn
from pyinstrument import Profiler


def main() -> None:
    out, port = sys.argv[1], int(sys.argv[2])
    # Not async-aware: the signal may land inside one request's task, and an async-aware
    # profiler would then follow that task alone. The server's whole thread is sampled.
    profiler = Profiler(interval=0.0005, async_mode="disabled")

    def start(*_: Any) -> None:
        profiler.start()

    def stop(*_: Any) -> None:
        session = profiler.stop()
        session.save(out)

    signal.signal(signal.SIGUSR1, start)
    signal.signal(signal.SIGUSR2, stop)
    uvicorn.run(
        "gateway.platform.app:create_app",
        factory=True,
        host="127.0.0.1",
        port=port,
        log_level="warning",
        access_log=False,
    )


if __name__ == "__main__":
    main()
