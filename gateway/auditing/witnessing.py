"""Collect witness cosignatures for the audit log's checkpoints (C2SP tlog-witness client).

Each new checkpoint is sent to every configured witness at once, with the consistency
proof from the size that witness last cosigned; a 409 tells the size it really knows,
and the request is made again from there. Cosignatures are checked with the witness's
key before they are served. ``/audit/checkpoint`` then serves the newest checkpoint that
reached the quorum (or that every witness has answered), with every cosignature received.

A round starts every half ``interval`` (start to start; at once after a round that took
longer): an entry is in a checkpoint sent to the witnesses within half an interval of
its append, and under the quorum's cosignatures within one interval while the witnesses
answer within the other half. The lag shown counts from the collector's last read that
found nothing unwitnessed (the log's size then was, or was about to be, cosigned by the
quorum; the entries past it came later), so it is never shorter than the true age of
the oldest entry not yet witnessed, as of the collector's last look at the log.

Security decision: witnessing runs beside the request path and never in it. A witness
that is down, slow or refusing stops no lookup; it shows as lag in ``/metrics`` and
``/readyz``, and a warning is logged when the lag passes ``witness_lag_alert_seconds``.

The rounds run on a thread of their own, with their own event loop and their own
connections to the log's database (:meth:`audit.AuditLog.elsewhere`): on the gateway's
loop, each of a round's database reads and HTTP exchanges waited behind every lookup in
flight, and under peak load a round took 0.6-0.9 s, so entries waited up to 2 s for
their cosignatures (``python -m benchmarks e2e --witnesses 2``, its witness lag line).
"""

from __future__ import annotations

import asyncio
import contextlib
import threading
import time
from collections.abc import Awaitable
from dataclasses import dataclass, field
from typing import Any

import httpx
import structlog
from prometheus_client import CollectorRegistry, Gauge

import audit
from audit.checkpoint import Checkpoint, parse_note
from audit.cosignature import WitnessKey, add_signatures, note_body
from audit.witness import format_request
from gateway.platform.settings import Settings

logger = structlog.get_logger("satugate.witness")


@dataclass
class _Witness:
    url: str
    key: WitnessKey
    size: int | None = None  # the size it last cosigned, as far as this process knows
    status: str = "unknown"
    last_success: float | None = None


@dataclass
class _Round:
    note: str
    checkpoint: Checkpoint
    read_at: float
    """``time.monotonic()`` when the log's checkpoint was read for this round."""
    lines: dict[str, str] = field(default_factory=dict)
    answered: int = 0
    proofs: dict[int, asyncio.Task[tuple[bytes, ...]]] = field(default_factory=dict)
    """Consistency proofs to this checkpoint by the size they start from: witnesses that
    cosigned the same size share one read."""


class WitnessCollector:
    """Sends the log's checkpoints to witnesses and keeps the cosigned note to serve.

    ``log`` is the gateway's log; the rounds read it through an engine of their own, on
    the collector's thread (so its database must be a file or a server)."""

    def __init__(
        self,
        log: audit.AuditLog,
        witnesses: list[tuple[str, str]],
        *,
        quorum: int,
        interval: float = 1.0,
        timeout: float = 3.0,
        retries: int = 2,
        lag_alert_seconds: float = 60.0,
        registry: CollectorRegistry | None = None,
        transport: httpx.AsyncBaseTransport | None = None,
    ) -> None:
        self._log = log
        self._witnesses = [
            _Witness(url.rstrip("/"), WitnessKey.parse(key)) for url, key in witnesses
        ]
        if not 0 <= quorum <= len(self._witnesses):
            raise ValueError("the witness quorum must be between 0 and the number of witnesses")
        self._quorum = quorum
        self._interval = interval
        self._timeout = timeout
        self._retries = retries
        self._lag_alert = lag_alert_seconds
        self._transport = transport
        # The collector's thread: its loop, its main task, its view of the log, its client.
        self._thread: threading.Thread | None = None
        self._stopping = threading.Event()
        self._loop: asyncio.AbstractEventLoop | None = None
        self._main: asyncio.Task[None] | None = None
        self._reader: audit.AuditLog | None = None
        self._client: httpx.AsyncClient | None = None
        self._lock = threading.Lock()  # what status() reads while a round writes it
        self._round: _Round | None = None
        self._published: str | None = None
        self._witnessed_size = 0
        self._covered_at: float | None = None  # the last read with nothing unwitnessed
        self._log_size = 0
        self._unwitnessed_since: float | None = None
        self._alerting = False
        self._gauges = _gauges(registry)

    # --- lifecycle -----------------------------------------------------------------------

    async def start(self) -> None:
        if self._thread is None:
            self._stopping.clear()
            self._thread = threading.Thread(
                target=asyncio.run,
                args=(self._serve(),),
                name="witness-collector",
                daemon=True,
            )
            self._thread.start()

    async def stop(self) -> None:
        thread, self._thread = self._thread, None
        if thread is None:
            return
        self._stopping.set()
        loop, main = self._loop, self._main
        if loop is not None and main is not None:
            with contextlib.suppress(RuntimeError):  # its loop has closed already
                loop.call_soon_threadsafe(main.cancel)
        await asyncio.to_thread(thread.join)

    async def _serve(self) -> None:
        """The collector thread's whole life: open the log and a client, run the rounds."""
        self._main, self._loop = asyncio.current_task(), asyncio.get_running_loop()
        if self._stopping.is_set():
            return
        try:
            async with (
                self._log.elsewhere() as reader,
                httpx.AsyncClient(timeout=self._timeout, transport=self._transport) as client,
            ):
                self._reader, self._client = reader, client
                await self._run()
        except asyncio.CancelledError:
            pass
        except Exception as exc:  # the thread ends; the lag shows it and alerts
            logger.error("witness_collector_failed", error=type(exc).__name__)
        finally:
            self._reader = self._client = None
            self._main = self._loop = None

    async def _run(self) -> None:
        loop = asyncio.get_running_loop()
        while True:
            started = loop.time()
            try:
                await self.collect()
            except audit.AuditError as exc:  # the log's own trouble: retried next round
                logger.warning("witness_round_failed", error=type(exc).__name__)
            # Start to start: the time a round took is not added to the wait for the next.
            await asyncio.sleep(max(0.0, started + self._interval / 2 - loop.time()))

    # --- what is served ------------------------------------------------------------------

    async def checkpoint(self) -> str:
        """The newest checkpoint with its cosignatures; the log's own before any round."""
        return self._published if self._published is not None else await self._log.checkpoint()

    def status(self) -> dict[str, Any]:
        """For ``/readyz``: the witnessed size, the lag, and each witness's last answer."""
        self._observe()
        lag = self._lag_seconds()
        with self._lock:
            return self._status(lag)

    def _status(self, lag: float) -> dict[str, Any]:
        return {
            "quorum": self._quorum,
            "witnessed_size": self._witnessed_size,
            "log_size": self._log_size,
            "lag_entries": max(0, self._log_size - self._witnessed_size),
            "lag_seconds": round(lag, 3),
            "lag_alert": self._alerting,
            "witnesses": [
                {"name": w.key.name, "url": w.url, "size": w.size, "status": w.status}
                for w in self._witnesses
            ],
        }

    def _lag_seconds(self) -> float:
        since = self._unwitnessed_since
        return 0.0 if since is None else time.monotonic() - since

    # --- one round -----------------------------------------------------------------------

    async def collect(self) -> None:
        """Send the log's latest checkpoint to the witnesses that have not cosigned it
        (on the collector's thread)."""
        assert self._reader is not None
        read_at = time.monotonic()
        note = await self._reader.checkpoint(keep=False)
        checkpoint = parse_note(note)[0]
        self._log_size = checkpoint.size
        if self._round is None or self._round.note != note:
            self._round = _Round(note, checkpoint, read_at)
        current = self._round
        if checkpoint.size <= self._witnessed_size:
            self._unwitnessed_since = None
            self._covered_at = read_at
        elif self._unwitnessed_since is None:
            # The entries past the witnessed size came after the read that found it.
            since = self._covered_at
            self._unwitnessed_since = read_at if since is None else since
        self._observe()
        todo = [w for w in self._witnesses if w.key.verifier_id not in current.lines]
        if todo:
            current.answered = len(self._witnesses) - len(todo)
            await asyncio.gather(*(self._submit(w, current) for w in todo))
        self._publish(current)
        self._observe()

    async def _submit(self, witness: _Witness, current: _Round) -> None:
        line = await self._add_checkpoint(witness, current)
        if line is not None:
            current.lines[witness.key.verifier_id] = line
            witness.last_success = time.monotonic()
        current.answered += 1
        # Serve the new checkpoint as soon as it has the quorum, not after the slowest.
        if len(current.lines) >= max(self._quorum, 1):
            self._publish(current)

    async def _add_checkpoint(self, witness: _Witness, current: _Round) -> str | None:
        checkpoint = current.checkpoint
        assert self._client is not None and self._reader is not None
        old = witness.size or 0
        for attempt in range(self._retries + 1):
            if old > checkpoint.size:
                if await self._reader.size() >= old:
                    # Another process of this gateway sent a newer checkpoint first.
                    witness.status = "ok"
                    return None
                witness.status = "ahead_of_log"
                logger.error(
                    "witness_ahead_of_log",
                    witness=witness.key.name,
                    witness_size=old,
                    log_size=checkpoint.size,
                )
                return None
            proof: tuple[bytes, ...] = ()
            if 0 < old < checkpoint.size:
                proof = await self._proof(current, old)
            try:
                response = await self._client.post(
                    witness.url + "/add-checkpoint",
                    content=format_request(old, proof, current.note),
                )
            except httpx.HTTPError as exc:
                witness.status = "unreachable"
                logger.warning(
                    "witness_unreachable", witness=witness.key.name, error=type(exc).__name__
                )
                await asyncio.sleep(min(0.1 * 2**attempt, 1.0))
                continue
            if response.status_code == 409:
                known = response.text.strip()
                if not known.isdigit() or int(known) == old:
                    witness.status = "conflict"
                    logger.error("witness_conflict", witness=witness.key.name, old_size=old)
                    return None
                old = witness.size = int(known)
                continue
            if response.status_code != 200:
                witness.status = f"refused_{response.status_code}"
                log = logger.error if response.status_code == 422 else logger.warning
                log("witness_refused", witness=witness.key.name, status=response.status_code)
                if response.status_code >= 500:
                    await asyncio.sleep(min(0.1 * 2**attempt, 1.0))
                    continue
                return None
            line = _cosignature_line(witness.key, current.note, response.text)
            if line is None:
                witness.status = "bad_cosignature"
                logger.error("witness_bad_cosignature", witness=witness.key.name)
                return None
            witness.size, witness.status = checkpoint.size, "ok"
            return line
        return None

    def _proof(self, current: _Round, old: int) -> Awaitable[tuple[bytes, ...]]:
        task = current.proofs.get(old)
        if task is None or (task.done() and (task.cancelled() or task.exception() is not None)):
            # none yet, or the last read failed: read it (again) rather than fail each round
            task = current.proofs[old] = asyncio.ensure_future(self._read_proof(old, current))
        return task

    async def _read_proof(self, old: int, current: _Round) -> tuple[bytes, ...]:
        assert self._reader is not None
        return (await self._reader.consistency_proof(old, current.checkpoint.size)).proof

    def _publish(self, current: _Round) -> None:
        with self._lock:
            self._publish_locked(current)

    def _publish_locked(self, current: _Round) -> None:
        reached = len(current.lines) >= self._quorum
        if not reached and current.answered < len(self._witnesses):
            return  # keep serving the previous witnessed checkpoint while others answer
        self._published = add_signatures(current.note, current.lines.values())
        if reached and current.checkpoint.size >= self._witnessed_size:
            self._witnessed_size = current.checkpoint.size
            if self._covered_at is None or current.read_at > self._covered_at:
                self._covered_at = current.read_at
            self._unwitnessed_since = None
            if self._alerting:
                self._alerting = False
                logger.info("witness_lag_recovered", witnessed_size=self._witnessed_size)

    def _observe(self) -> None:
        with self._lock:
            self._observe_locked()

    def _observe_locked(self) -> None:
        lag = self._lag_seconds()
        if lag > self._lag_alert and not self._alerting:
            self._alerting = True
            logger.warning(
                "witness_lag_alert",
                lag_seconds=round(lag, 1),
                witnessed_size=self._witnessed_size,
                log_size=self._log_size,
                threshold_seconds=self._lag_alert,
            )
        size, entries, seconds, alert = self._gauges
        size.set(self._witnessed_size)
        entries.set(max(0, self._log_size - self._witnessed_size))
        seconds.set(lag)
        alert.set(1 if self._alerting else 0)


def _cosignature_line(key: WitnessKey, note: str, text: str) -> str | None:
    """The line of the witness's answer that is its valid cosignature of ``note``."""
    body = note_body(note)
    for line in text.splitlines()[:16]:
        probe = add_signatures(note, [line])
        try:
            sigs = parse_note(probe)[1]
        except audit.ProofError:
            continue
        name, blob = sigs[-1]
        if key.verify(body, name, blob) is not None:
            return line
    return None


def _gauges(registry: CollectorRegistry | None) -> tuple[Gauge, Gauge, Gauge, Gauge]:
    reg = registry if registry is not None else CollectorRegistry()
    return (
        Gauge(
            "satugate_audit_witnessed_size",
            "Largest checkpoint cosigned by the witness quorum.",
            registry=reg,
            multiprocess_mode="max",
        ),
        Gauge(
            "satugate_audit_witness_lag_entries",
            "Log entries not yet under a witnessed checkpoint.",
            registry=reg,
            multiprocess_mode="min",
        ),
        Gauge(
            "satugate_audit_witness_lag_seconds",
            "How long the log has been ahead of its witnesses.",
            registry=reg,
            multiprocess_mode="min",
        ),
        Gauge(
            "satugate_audit_witness_lag_alert",
            "1 while the witness lag passes its alert setting.",
            registry=reg,
            multiprocess_mode="min",
        ),
    )


async def build_witness_collector(
    settings: Settings, log: audit.AuditLog, registry: CollectorRegistry | None = None
) -> WitnessCollector | None:
    """The started collector for the configured witnesses, or ``None`` without any."""
    if not settings.witnesses:
        return None
    collector = WitnessCollector(
        log,
        [(w.url, w.key) for w in settings.witnesses],
        quorum=min(settings.witness_quorum, len(settings.witnesses)),
        interval=settings.checkpoint_interval,
        timeout=settings.witness_timeout_seconds,
        retries=settings.witness_retries,
        lag_alert_seconds=settings.witness_lag_alert_seconds,
        registry=registry,
    )
    await collector.start()
    return collector
