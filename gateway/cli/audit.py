"""``satugate audit``: export the audit log, and verify an export or a live gateway.

Thin: the checks themselves live in :mod:`audit.verify`, which an auditor can also use
without the gateway. Exit status 0 when the log verifies, 1 when it does not, 2 when the
verification could not run (unreadable file, unreachable gateway, bad key).
"""

from __future__ import annotations

import asyncio
import base64
import json
import os
import sys
from collections.abc import Iterator
from pathlib import Path
from typing import Annotated

import httpx
import typer
from rich.console import Console
from rich.progress import BarColumn, MofNCompleteColumn, Progress, TextColumn, TimeRemainingColumn

import audit
from audit.tiles import TILE_WIDTH, TileRef, entry_bundles, parse_bundle
from audit.verify import LogVerifier, VerifyReport, feed_export, locate_first_bad

app = typer.Typer(help="Export the audit log and verify it.", no_args_is_help=True)
console = Console(stderr=True)

KEY_ENV = "SATUGATE_AUDIT_VERIFIER_KEY"


def _progress() -> Progress:
    return Progress(
        TextColumn("[bold]{task.description}"),
        BarColumn(),
        MofNCompleteColumn(),
        TimeRemainingColumn(),
        console=console,
        transient=True,
    )


def _read_key(value: str | None) -> str | None:
    """A verifier key given as text, or as ``@file`` / a path to a file holding it."""
    if value is None:
        value = os.environ.get(KEY_ENV)
    if value is None:
        return None
    path = Path(value[1:] if value.startswith("@") else value)
    if value.startswith("@") or (path.is_file() and "+" not in value):
        return path.read_text().strip()
    return value.strip()


def _fail(message: str) -> typer.Exit:
    console.print(f"[red]error:[/red] {message}")
    return typer.Exit(2)


# --- export --------------------------------------------------------------------------


async def _export(database_url: str, out: Path | None, record: bool) -> int:
    from gateway.platform import store
    from gateway.platform.settings import Settings, async_url

    settings = Settings()
    # A plain ``sqlite:///`` or ``postgresql://`` URL, as everywhere else: the driver is ours.
    engine = store.create_engine(
        async_url(database_url) if database_url else settings.resolved_database_url()
    )
    lines = 0
    try:
        if record:
            await _record_export(settings, engine)
        sink = out.open("w", encoding="utf-8") if out else sys.stdout
        try:
            with _progress() as progress:
                task = progress.add_task("exporting", total=None)
                async for line in audit.export_lines(engine):
                    sink.write(line)
                    lines += 1
                    if lines == 1:
                        progress.update(task, total=json.loads(line)["tree_size"])
                    elif '"leaf"' in line:
                        progress.advance(task)
        finally:
            if out:
                sink.close()
    finally:
        await engine.dispose()
    return lines


async def _record_export(settings: object, engine: object) -> None:
    """The export itself is evidence: it is logged before any line is written.

    Checkpoints are signed for the origin the log already has (its first checkpoint), so
    that a tool run with other settings than the gateway's cannot mix origins.
    """
    from gateway.auditing.recorder import operator_event
    from gateway.platform import keys as keymod
    from gateway.platform.services import audit_origin

    keyring = keymod.KeyRing(
        engine,  # type: ignore[arg-type]
        keymod.load_master_key(settings.resolved_master_key_file()),  # type: ignore[attr-defined]
    )
    origin = await audit.log_origin(engine) or audit_origin(settings)  # type: ignore[arg-type]
    log = audit.AuditLog(
        engine,  # type: ignore[arg-type]
        signer=audit.CheckpointSigner(origin, await keyring.checkpoint_key()),
        blind_key=(await keyring.current(keymod.AUDIT_BLIND)).reveal(),
    )
    await log.start()
    try:
        await log.append(
            operator_event(
                "audit.export",
                officer=os.environ.get("USER", "operator"),
                purpose="audit",
                detail={"via": "cli"},
            )
        )
        await log.checkpoint()
    finally:
        await log.stop()


@app.command()
def export(
    out: Annotated[
        Path | None, typer.Option("--out", "-o", help="File to write (default stdout).")
    ] = None,
    database_url: Annotated[
        str, typer.Option(help="The gateway store (default: SATUGATE_DATABASE_URL).")
    ] = "",
    record: Annotated[
        bool, typer.Option(help="Log the export itself as an audit.export event first.")
    ] = True,
) -> None:
    """Write the log as JSON lines: every leaf and every signed checkpoint."""
    from sqlalchemy.exc import SQLAlchemyError

    from gateway.platform.keys import KeyError_

    if database_url.startswith("sqlite") and ":///" in database_url:
        path = Path(database_url.split(":///", 1)[1])
        if not path.is_file():
            raise _fail(f"no database at {path}")
    try:
        lines = asyncio.run(_export(database_url, out, record))
    except audit.AuditError as exc:
        raise _fail(str(exc)) from None
    except (OSError, SQLAlchemyError, KeyError_, ValueError) as exc:
        # One line, never a traceback: e.g. no store at that URL, or no master key to
        # record the export with (``--no-record`` exports without it).
        first = " ".join(str(getattr(exc, "orig", None) or exc).split())[:200]
        raise _fail(f"cannot export: {type(exc).__name__}: {first}") from None
    if out:
        console.print(f"wrote {lines} lines to {out}")


# --- verify --------------------------------------------------------------------------


def _lines(path: Path) -> Iterator[str]:
    with path.open(encoding="utf-8") as handle:
        yield from handle


def _verify_file(
    path: Path,
    key: str,
    since: str | None,
    witnesses: tuple[list[str], int, str | None] = ([], 0, None),
) -> tuple[VerifyReport, str | None]:
    keys, quorum, witnessed = witnesses
    verifier = LogVerifier(key, earlier_checkpoint=since, witnesses=keys, quorum=quorum)
    if witnessed is not None:
        verifier.add_checkpoint(witnessed)
    with _progress() as progress:
        task = progress.add_task("verifying", total=None)
        report = feed_export(
            _lines(path),
            verifier,
            on_header=lambda n: progress.update(task, total=n),
            on_leaf=lambda _i: progress.advance(task),
        )
    return report, verifier.final_note


async def _token(client: httpx.AsyncClient, client_id: str, secret: str) -> str:
    response = await client.post(
        "/oauth/token",
        data={"grant_type": "client_credentials", "scope": "audit"},
        auth=(client_id, secret),
    )
    response.raise_for_status()
    return str(response.json()["access_token"])


async def _verify_live(
    url: str,
    key: str | None,
    since: str | None,
    token: str | None,
    client_id: str | None,
    client_secret: str | None,
    concurrency: int,
    transport: httpx.AsyncBaseTransport | None = None,
    witnesses: tuple[list[str], int] = ([], 0),
) -> tuple[VerifyReport, str | None]:
    async with httpx.AsyncClient(base_url=url, timeout=30, transport=transport) as client:
        if key is None:
            key = (await client.get("/audit/verifier-key")).raise_for_status().text.strip()
            console.print(
                "[yellow]warning:[/yellow] using the verifier key served by the gateway itself;"
                " pin the published key with --key"
            )
        if token is None and client_id and client_secret:
            token = await _token(client, client_id, client_secret)
        if token:
            client.headers["Authorization"] = f"Bearer {token}"
        note = (await client.get("/audit/checkpoint")).raise_for_status().text
        verifier = LogVerifier(
            key,
            earlier_checkpoint=since,
            keep_hashes=True,
            witnesses=witnesses[0],
            quorum=witnesses[1],
        )
        checkpoint = verifier.add_checkpoint(note)
        verifier.expected_size = checkpoint.size
        gate = asyncio.Semaphore(concurrency)

        async def fetch(bundle: TileRef) -> list[bytes]:
            """The leaves of one entry bundle (C2SP tlog-tiles): 256 leaves a request."""
            async with gate:
                response = await client.get(f"/audit/{bundle.path()}")
                response.raise_for_status()
                return parse_bundle(response.content, bundle.width)

        with _progress() as progress:
            task = progress.add_task("verifying", total=checkpoint.size)
            bundles = entry_bundles(checkpoint.size)
            window = max(concurrency * 2, 4)
            for at in range(0, len(bundles), window):
                batch = bundles[at : at + window]
                fetched = await asyncio.gather(*(fetch(b) for b in batch))
                for bundle, leaves in zip(batch, fetched, strict=True):
                    first = bundle.index * TILE_WIDTH
                    for offset, leaf in enumerate(leaves):
                        verifier.add_leaf(first + offset, leaf)
                    progress.advance(task, len(leaves))
        report = verifier.finish()
        if report.ok or verifier.hashes is None:
            return report, note

        async def consistency(first: int, second: int) -> list[bytes]:
            response = await client.get(
                "/audit/proof/consistency", params={"first": first, "second": second}
            )
            response.raise_for_status()
            return [base64.b64decode(p) for p in response.json()["proof"]]

        bad = await locate_first_bad(verifier.hashes, checkpoint, consistency)
        if bad is not None:
            report = VerifyReport(
                ok=False,
                tree_size=report.tree_size,
                root_hash=report.root_hash,
                leaves_checked=report.leaves_checked,
                first_bad_index=bad,
                bad_range=report.bad_range,
                problems=report.problems,
            )
        return report, note


def _print(report: VerifyReport) -> None:
    console.print(f"tree size      {report.tree_size}")
    console.print(f"root hash      {base64.b64encode(report.root_hash).decode()}")
    console.print(f"leaves checked {report.leaves_checked}")
    if report.witnessed_size is not None:
        console.print(f"witnessed size {report.witnessed_size} (witness quorum met)")
    if report.ok:
        console.print("[green]OK[/green]: every leaf hash, the root and the signatures verify")
        return
    where = ""
    if report.first_bad_index is not None:
        where = f": first bad index {report.first_bad_index}"
    elif report.bad_range is not None:
        where = f": first bad index in [{report.bad_range[0]}, {report.bad_range[1]})"
    console.print(f"[red]FAILED[/red]{where}")
    for problem in report.problems:
        console.print(f"  - {problem}")


def _print_consistency(earlier: str, size: int, since: Path | None) -> None:
    """What ``--since`` checked: the saved checkpoint's root was recomputed from the first
    leaves of this log, so the log only grew by appending since it was saved."""
    lines = earlier.split("\n")
    saved = int(lines[1]) if len(lines) > 2 and lines[1].isdigit() else 0
    console.print(
        f"consistency    checked against {since}: its root (size {saved}) is this log's"
        f" first {saved} leaves; {size - saved} appended since (size {saved} -> {size})",
        soft_wrap=True,
    )


@app.command()
def verify(
    export_file: Annotated[
        Path | None, typer.Argument(help="An export written by `satugate audit export`.")
    ] = None,
    url: Annotated[str | None, typer.Option(help="Verify a live gateway at this base URL.")] = None,
    key: Annotated[
        str | None,
        typer.Option(help=f"The published verifier key, or @file (default ${KEY_ENV})."),
    ] = None,
    since: Annotated[
        Path | None, typer.Option(help="A checkpoint saved earlier: the log must extend it.")
    ] = None,
    save_checkpoint: Annotated[
        Path | None, typer.Option(help="On success, save the verified checkpoint here.")
    ] = None,
    token: Annotated[
        str | None, typer.Option(envvar="SATUGATE_TOKEN", help="Bearer token.")
    ] = None,
    client_id: Annotated[str | None, typer.Option(envvar="SATUGATE_CLIENT_ID")] = None,
    client_secret: Annotated[str | None, typer.Option(envvar="SATUGATE_CLIENT_SECRET")] = None,
    concurrency: Annotated[int, typer.Option(min=1, max=64)] = 16,
    witness: Annotated[
        list[str] | None,
        typer.Option(help="A witness's cosignature verifier key, or @file (repeatable)."),
    ] = None,
    quorum: Annotated[
        int | None,
        typer.Option(min=0, help="Valid witness cosignatures required (default: all given)."),
    ] = None,
    checkpoint: Annotated[
        Path | None,
        typer.Option(
            help="A cosigned checkpoint (e.g. saved from /audit/checkpoint) for an export."
        ),
    ] = None,
) -> None:
    """Recompute every leaf hash and the root, check signatures and the saved checkpoint.

    With ``--witness``, the leaves must also match a checkpoint that ``--quorum`` of those
    witnesses cosigned: the gateway's own signature alone then does not suffice.
    """
    if (export_file is None) == (url is None):
        raise _fail("give either an export file or --url")
    try:
        witness_keys = [k for k in (_read_key(w) for w in witness or []) if k]
        need = len(witness_keys) if quorum is None else quorum
        verifier_key = _read_key(key)
        earlier = since.read_text() if since else None
        if export_file is not None:
            if verifier_key is None:
                raise _fail(f"--key (or ${KEY_ENV}) is required to verify an export")
            witnessed = checkpoint.read_text() if checkpoint else None
            report, note = _verify_file(
                export_file, verifier_key, earlier, (witness_keys, need, witnessed)
            )
        else:
            assert url is not None
            report, note = asyncio.run(
                _verify_live(
                    url,
                    verifier_key,
                    earlier,
                    token,
                    client_id,
                    client_secret,
                    concurrency,
                    witnesses=(witness_keys, need),
                )
            )
    except (OSError, httpx.HTTPError, audit.ProofError) as exc:
        raise _fail(f"cannot verify: {type(exc).__name__} {exc}".rstrip()) from None
    _print(report)
    if not report.ok:
        raise typer.Exit(1)
    if earlier is not None:
        _print_consistency(earlier, report.tree_size, since)
    if save_checkpoint is not None and note is not None:
        save_checkpoint.write_text(note)
        console.print(f"saved the checkpoint to {save_checkpoint}")
