"""Witnesses for the e2e benchmark, and how far the witnessed checkpoint trails the log.

:func:`running_witnesses` starts ``satugate witness serve`` processes that trust the
gateway's log verifier key; the second and later ones are reached through a
:class:`~benchmarks.latency_proxy.LatencyProxy`, as a witness farther away would be.

:class:`LagSampler` reads the gateway's ``/metrics`` at a steady pace: the witnessed
size (``satugate_audit_witnessed_size``) and the events the gateway has committed
(``satugate_audit_batch_size_sum``). The tree's size is those events plus an offset
learnt from the moments the witnesses had caught up (the witnessed size is never larger
than the tree). :func:`witness_lag` then gives, at each sample, how long the oldest
entry not under a witnessed checkpoint has been in the log: from the last sample at
which the tree was no larger than the witnessed size, so a figure errs long by at most
one sampling period. The gateway's own ``satugate_audit_witness_lag_seconds`` is read
beside it.
"""

from __future__ import annotations

import asyncio
import contextlib
import json
import socket
import subprocess
import sys
import threading
import time
import urllib.request
from collections.abc import Callable, Iterable, Iterator
from dataclasses import dataclass, field
from pathlib import Path
from statistics import median
from typing import Any

from prometheus_client.samples import Sample

from benchmarks.latency_proxy import latency_proxy

GOAL_LAG_SECONDS = 1.0
"""The witnessing goal: checkpoints cosigned by the quorum stay this close behind appends."""
ADDED_DELAY = 0.05
"""The latency the proxy adds each way in front of the second and later witnesses."""


@dataclass
class RunningWitness:
    name: str
    url: str
    """Where the gateway reaches it (through the proxy for a delayed one)."""
    verifier_key: str
    delay: float
    proc: subprocess.Popen[bytes]


def _free_port() -> int:
    with socket.socket() as s:
        s.bind(("127.0.0.1", 0))
        return int(s.getsockname()[1])


def _up(url: str) -> bool:
    try:
        with urllib.request.urlopen(url + "/healthz", timeout=1) as r:
            return bool(r.status == 200)
    except OSError:
        return False


def log_verifier_key(data_dir: Path, env: dict[str, str]) -> str:
    """The verifier key of the gateway's audit log, read from its seeded store."""
    from gateway.cli.demo_witness import log_verifier_key as read_key
    from gateway.platform.settings import Settings

    settings = Settings(
        data_dir=data_dir,
        database_url=env.get("SATUGATE_DATABASE_URL"),
        issuer=env["SATUGATE_ISSUER"],
    )
    return asyncio.run(read_key(settings))


def _stop(proc: subprocess.Popen[bytes]) -> None:
    if proc.poll() is None:
        proc.terminate()
        try:
            proc.wait(timeout=10)
        except subprocess.TimeoutExpired:
            proc.kill()
            proc.wait()


@contextlib.contextmanager
def running_witnesses(
    count: int, root: Path, log_key: str, delay: float = ADDED_DELAY
) -> Iterator[list[RunningWitness]]:
    """Start ``count`` witnesses of the log ``log_key``, the first one reached directly and
    the others through a proxy that adds ``delay`` seconds each way; stop them (each by
    its own process) and the proxies on exit."""
    from gateway.cli.witness import write_key

    root.mkdir(parents=True, exist_ok=True)
    with contextlib.ExitStack() as stack:
        started: list[RunningWitness] = []
        for i in range(1, count + 1):
            name = f"witness.bench.local/w{i}"
            cosigner = write_key(root / f"w{i}.key", name)
            port = _free_port()
            out = stack.enter_context((root / f"w{i}.out").open("wb"))
            proc = subprocess.Popen(  # our own interpreter and command, no shell
                [
                    sys.executable,
                    "-m",
                    "gateway.cli",
                    "witness",
                    "serve",
                    "--key",
                    str(root / f"w{i}.key"),
                    "--log",
                    log_key,
                    "--db",
                    str(root / f"w{i}.db"),
                    "--port",
                    str(port),
                ],
                stdout=out,
                stderr=subprocess.STDOUT,
            )
            stack.callback(_stop, proc)
            url = f"http://127.0.0.1:{port}"
            deadline = time.monotonic() + 30
            while not _up(url):
                if proc.poll() is not None or time.monotonic() > deadline:
                    raise RuntimeError(f"witness {name} did not start")
                time.sleep(0.1)
            added = delay if i > 1 else 0.0
            if added:
                proxied = stack.enter_context(latency_proxy("127.0.0.1", port, added))
                url = f"http://127.0.0.1:{proxied}"
            started.append(RunningWitness(name, url, cosigner.verifier_key(), added, proc))
        yield started


def witnesses_setting(witnesses: list[RunningWitness]) -> str:
    """The ``SATUGATE_WITNESSES`` value for these witnesses."""
    return json.dumps([{"url": w.url, "key": w.verifier_key} for w in witnesses])


@dataclass(frozen=True)
class LagPoint:
    at: float
    """``time.monotonic()`` when the sample was read."""
    events: float
    """Events the gateway has committed (``satugate_audit_batch_size_sum``)."""
    witnessed: float
    """``satugate_audit_witnessed_size``."""
    gauge: float
    """The gateway's own ``satugate_audit_witness_lag_seconds``."""


def witness_lag(
    points: list[LagPoint], windows: Iterable[tuple[float, float]]
) -> dict[str, Any] | None:
    """The witness lag at each sample read within ``windows`` (``(start, end)`` in
    ``time.monotonic()``): maximum and median in seconds, computed from the witnessed size
    against the tree's size, and the maximum of the gateway's own gauge. None without a
    sample in the windows."""
    if not points:
        return None
    # the tree is never smaller than the witnessed size; where they meet, that is its size
    offset = max(p.witnessed - p.events for p in points)
    spans = list(windows)
    lags: list[float] = []
    gauges: list[float] = []
    for i, p in enumerate(points):
        if not any(start <= p.at <= end for start, end in spans):
            continue
        gauges.append(p.gauge)
        if p.events + offset <= p.witnessed:
            lags.append(0.0)
            continue
        # the last moment the tree held nothing the witnesses had not cosigned
        since = next(
            (q.at for q in reversed(points[:i]) if q.events + offset <= p.witnessed),
            points[0].at,
        )
        lags.append(p.at - since)
    if not lags:
        return None
    return {
        "max_s": round(max(lags), 3),
        "p50_s": round(median(lags), 3),
        "samples": len(lags),
        "gauge_max_s": round(max(gauges), 3),
    }


@dataclass
class LagSampler:
    """Reads the gateway's witnessing figures from ``read`` every ``period`` seconds on a
    thread of its own, between :meth:`start` and :meth:`stop`."""

    read: Callable[[], Iterable[Sample]]
    period: float = 0.05
    points: list[LagPoint] = field(default_factory=list)
    _stop: threading.Event = field(default_factory=threading.Event)
    _thread: threading.Thread | None = None

    def start(self) -> None:
        self._thread = threading.Thread(target=self._run, name="witness-lag", daemon=True)
        self._thread.start()

    def stop(self) -> None:
        self._stop.set()
        if self._thread is not None:
            self._thread.join(timeout=10)

    def _run(self) -> None:
        while not self._stop.is_set():
            began = time.monotonic()
            found: dict[str, float] = {}
            with contextlib.suppress(OSError):
                for s in self.read():
                    found[s.name] = s.value
            if {
                "satugate_audit_batch_size_sum",
                "satugate_audit_witnessed_size",
                "satugate_audit_witness_lag_seconds",
            } <= found.keys():
                self.points.append(
                    LagPoint(
                        time.monotonic(),
                        found["satugate_audit_batch_size_sum"],
                        found["satugate_audit_witnessed_size"],
                        found["satugate_audit_witness_lag_seconds"],
                    )
                )
            self._stop.wait(max(0.0, self.period - (time.monotonic() - began)))

    def settle(self, timeout: float = 30.0) -> bool:
        """Wait until the witnesses have cosigned everything committed so far (as far as
        the samples tell: the witnessed size stands still at its largest); True if so."""
        deadline = time.monotonic() + timeout
        while time.monotonic() < deadline:
            time.sleep(0.25)
            recent = [p for p in self.points if p.at > time.monotonic() - 1.5]
            if len(recent) >= 5 and len({(p.events, p.witnessed) for p in recent}) == 1:
                offset = max(p.witnessed - p.events for p in self.points)
                if recent[-1].events + offset <= recent[-1].witnessed:
                    return True
        return False
