"""The gateway collects witness cosignatures beside its request path.

A real ``satugate witness`` process and a witness that is down: lookups go on, the
checkpoint served carries the live witness's cosignature, ``/readyz`` and ``/metrics``
show the witnessed size and the lag, and the lag alert fires once the log outruns it.
"""

from __future__ import annotations

import asyncio
import threading
import time
from pathlib import Path

import httpx
import pytest

from audit.cosignature import Cosigner, WitnessKey, cosignatures, verify_cosigned
from audit.witness import format_request
from gateway.auditing.witnessing import WitnessCollector, build_witness_collector
from gateway.platform.settings import Settings
from tests.faults.procs import free_port
from tests.gateway.conftest import Gateway
from tests.gateway.residents import pick
from tests.witness.procs import witness_process
from tests.witness.test_tiles import event


async def eventually(predicate, timeout: float = 15.0) -> None:  # type: ignore[no-untyped-def]
    deadline = time.monotonic() + timeout
    while not await predicate():
        assert time.monotonic() < deadline, "timed out"
        await asyncio.sleep(0.05)


async def test_cosigned_checkpoints_while_a_witness_is_down(
    gateway: Gateway, demo_sources: Path, tmp_path: Path
) -> None:
    log_key = (await gateway.client.get("/audit/verifier-key")).text
    down = Cosigner.generate("witness.test/down")
    with witness_process(tmp_path / "w1", [log_key]) as w1:
        collector = WitnessCollector(
            gateway.services.audit,
            [
                (w1.url, w1.cosigner.verifier_key()),
                (f"http://127.0.0.1:{free_port()}", down.verifier_key()),
            ],
            quorum=1,
            interval=0.1,
            timeout=0.5,
            retries=1,
            lag_alert_seconds=0.5,
            registry=gateway.services.metrics.registry,
        )
        await collector.start()
        gateway.services.witnesses = collector
        try:
            (resident,) = pick(demo_sources, city="35.78")
            h = await gateway.headers("demo-dinsos", officer="officer.budi")
            started = time.monotonic()
            for _ in range(3):
                r = await gateway.client.get(f"/v1/residents/{resident['nik']}", headers=h)
                assert r.status_code == 200, r.text
            assert time.monotonic() - started < 5, "a down witness must not slow lookups"
            size = await gateway.services.audit.size()
            witnesses = [w1.cosigner.verifier_key(), down.verifier_key()]

            async def witnessed() -> bool:
                note = (await gateway.client.get("/audit/checkpoint")).text
                try:
                    cp = verify_cosigned(note, log_key, witnesses, 1)
                except Exception:
                    return False
                return cp.size >= size

            await eventually(witnessed)
            note = (await gateway.client.get("/audit/checkpoint")).text
            assert len(cosignatures(note, [])) == 0
            found = cosignatures(note, [WitnessKey.parse(k) for k in witnesses])
            assert list(found) == [WitnessKey.parse(witnesses[0]).verifier_id]

            ready = (await gateway.client.get("/readyz")).json()
            assert ready["status"] == "ready"
            detail = ready["witnessing"]
            assert detail["witnessed_size"] >= size and detail["quorum"] == 1
            states = {w["name"]: w["status"] for w in detail["witnesses"]}
            assert states == {"witness.test/w1": "ok", "witness.test/down": "unreachable"}
            metrics = (await gateway.client.get("/metrics")).text
            assert "satugate_audit_witnessed_size" in metrics
            assert "satugate_audit_witness_lag_entries" in metrics
        except BaseException:
            await collector.stop()
            raise
    # Every witness down now: lookups still succeed, and the lag alert fires.
    try:
        r = await gateway.client.get(f"/v1/residents/{resident['nik']}", headers=h)
        assert r.status_code == 200

        async def alerting() -> bool:
            return bool(collector.status()["lag_alert"])

        await eventually(alerting)
        detail = (await gateway.client.get("/readyz")).json()
        assert detail["status"] == "ready" and detail["witnessing"]["lag_entries"] >= 1
        metrics = (await gateway.client.get("/metrics")).text
        assert "satugate_audit_witness_lag_alert 1.0" in metrics
    finally:
        await collector.stop()
        gateway.services.witnesses = None


async def test_witnesses_come_from_settings(
    tmp_path: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    w = Cosigner.generate("witness.test/w1")
    monkeypatch.setenv(
        "SATUGATE_WITNESSES", f'[{{"url": "http://127.0.0.1:9", "key": "{w.verifier_key()}"}}]'
    )
    monkeypatch.setenv("SATUGATE_WITNESS_QUORUM", "1")
    settings = Settings(data_dir=tmp_path)
    assert settings.witnesses[0].key == w.verifier_key() and settings.witness_quorum == 1
    assert await build_witness_collector(Settings(data_dir=tmp_path, witnesses=[]), None) is None  # type: ignore[arg-type]


def test_the_request_body_is_the_spec_layout() -> None:
    body = format_request(3, [bytes(32)], "note\n\n\u2014 k sig\n")
    assert body == ("old 3\n" + "A" * 43 + "=\n\nnote\n\n\u2014 k sig\n").encode()
    assert httpx  # the client library the collector uses


async def test_two_processes_share_a_witness_without_false_alarms(
    gateway: Gateway, tmp_path: Path
) -> None:
    """Every worker of a gateway runs its own collector: the one that falls behind the
    witness learns the size with a 409 and catches up, and none reports a conflict."""
    log_key = (await gateway.client.get("/audit/verifier-key")).text
    with witness_process(tmp_path / "w1", [log_key]) as w1:
        pair = [
            WitnessCollector(
                gateway.services.audit,
                [(w1.url, w1.cosigner.verifier_key())],
                quorum=1,
                interval=0.05,
                timeout=2,
            )
            for _ in range(2)
        ]
        for collector in pair:
            await collector.start()
        try:
            for round_ in range(5):
                await asyncio.gather(
                    *(gateway.services.audit.append(event(round_ * 10 + i)) for i in range(10))
                )
                await asyncio.sleep(0.1)
            size = await gateway.services.audit.size()

            async def both_witnessed() -> bool:
                return all(c.status()["witnessed_size"] >= size for c in pair)

            await eventually(both_witnessed)
            for collector in pair:
                statuses = {w["status"] for w in collector.status()["witnesses"]}
                assert statuses == {"ok"}
                verify_cosigned(
                    await collector.checkpoint(), log_key, [w1.cosigner.verifier_key()], 1
                )
        finally:
            for collector in pair:
                await collector.stop()


async def test_the_witnessed_checkpoint_stays_within_an_interval_of_appends(
    gateway: Gateway, tmp_path: Path
) -> None:
    """While the log grows, every entry is under a checkpoint the quorum cosigned within
    one interval of its append, with a witness 100 ms away (a round trip); and the lag
    the collector reports shows that wait rather than only its rounds' own length."""
    from audit.checkpoint import VerifierKey
    from audit.witness import Witness, WitnessStore

    log = gateway.services.audit
    cosigner = Cosigner.generate("witness.test/far")
    witness = Witness(
        cosigner, [VerifierKey.parse(log.signer.verifier_key())], WitnessStore(tmp_path / "w.db")
    )

    async def far_away(request: httpx.Request) -> httpx.Response:
        await asyncio.sleep(0.1)
        answer = witness.add_checkpoint(request.content)
        return httpx.Response(answer.status, content=answer.body)

    # Rounds start every half interval, so an entry waits about half an interval and a
    # round; a loop that slept a whole interval after each round makes it wait more than
    # the interval. The interval is long beside a round (100 ms to the witness, plus
    # signing), so a busy machine's slower rounds stay within it.
    interval = 1.6
    collector = WitnessCollector(
        log,
        [("http://witness.test", cosigner.verifier_key())],
        quorum=1,
        interval=interval,
        transport=httpx.MockTransport(far_away),
    )
    appended: dict[int, float] = {}  # leaf index -> when its append returned
    seen: list[tuple[float, int, float]] = []  # when, witnessed size, reported lag
    await collector.start()
    try:

        async def grow() -> None:
            for i in range(500):
                receipt = await log.append(event(i))
                appended[receipt.leaf_index] = time.monotonic()
                await asyncio.sleep(0.01)

        async def watch(done: asyncio.Task[None]) -> None:
            while not done.done():
                status = collector.status()
                seen.append((time.monotonic(), status["witnessed_size"], status["lag_seconds"]))
                await asyncio.sleep(0.01)

        growing = asyncio.create_task(grow())
        await asyncio.gather(growing, watch(growing))
    finally:
        await collector.stop()
        witness.store.close()
    first = min(appended)
    lags = [
        at - appended[size]
        for at, size, _ in seen
        if size >= first and size in appended and appended[size] <= at
    ]
    assert len(lags) > 100
    assert max(lags) <= interval, f"an entry waited {max(lags):.3f} s for the witnesses"
    reported = max(lag for _, _, lag in seen)
    assert reported >= max(lags) / 2, f"reported {reported:.3f} s, waited {max(lags):.3f} s"


async def test_rounds_go_on_while_the_gateways_loop_is_busy(
    gateway: Gateway, tmp_path: Path
) -> None:
    """The collector's rounds run on a thread of their own: while the gateway's event loop
    is held by work that never yields, the log's new entries still get cosigned."""
    from audit.checkpoint import VerifierKey
    from audit.witness import Witness, WitnessStore

    log = gateway.services.audit
    cosigner = Cosigner.generate("witness.test/near")
    witness = Witness(
        cosigner, [VerifierKey.parse(log.signer.verifier_key())], WitnessStore(tmp_path / "w.db")
    )

    answering = threading.Event()  # the witness is unavailable until the loop is held

    async def near(request: httpx.Request) -> httpx.Response:
        if not answering.is_set():
            return httpx.Response(503)
        answer = witness.add_checkpoint(request.content)
        return httpx.Response(answer.status, content=answer.body)

    collector = WitnessCollector(
        log,
        [("http://witness.test", cosigner.verifier_key())],
        quorum=1,
        interval=0.2,
        transport=httpx.MockTransport(near),
    )
    await collector.start()
    try:
        await asyncio.gather(*(log.append(event(i)) for i in range(20)))
        size = await log.size()
        assert collector.status()["witnessed_size"] < size
        answering.set()
        held_until = time.monotonic() + 10
        while collector.status()["witnessed_size"] < size:  # never yields to the loop
            assert time.monotonic() < held_until, "no round ran while the loop was held"
        verify_cosigned(
            await collector.checkpoint(), log.signer.verifier_key(), [cosigner.verifier_key()], 1
        )
    finally:
        await collector.stop()
        witness.store.close()
