"""``satugate audit check-report``: check a saved report or receipt proof offline.

Reads what ``GET /v1/me/accesses`` (a resident's report) or
``GET /audit/receipts/{leaf_index}/proof`` (a receipt) returned, saved as JSON, and
checks it with the log's published verifier key and the witnesses' keys alone: the
checkpoint's signature and witness quorum, then every entry's inclusion proof. Exit
status 0 when it holds, 1 when it does not, 2 when it cannot be read.
"""

from __future__ import annotations

import json
from pathlib import Path
from typing import Annotated, Any

import typer

from audit.bundles import verify_bundle
from audit.errors import ProofError
from gateway.cli.audit import KEY_ENV, _read_key


def _bundle(document: Any) -> tuple[dict[str, Any], list[int]]:
    """The proof bundle of a saved document, and the leaf indexes its entries name."""
    if isinstance(document, dict) and isinstance(document.get("proofs"), dict):
        accesses = document.get("accesses") or []
        return document["proofs"], [a.get("leaf_index") for a in accesses]
    if isinstance(document, dict) and "checkpoint" in document:
        return document, []
    raise ProofError("not a report with proofs, nor a proof bundle")


def check_report(
    report: Annotated[Path, typer.Argument(help="The saved report or receipt proof (JSON).")],
    key: Annotated[
        str | None, typer.Option(help=f"The log's verifier key, or @file (default ${KEY_ENV}).")
    ] = None,
    witness: Annotated[
        list[str] | None,
        typer.Option(help="A witness's cosignature verifier key, or @file (repeatable)."),
    ] = None,
    quorum: Annotated[
        int | None,
        typer.Option(min=0, help="Valid witness cosignatures required (default: all given)."),
    ] = None,
) -> None:
    """Check a saved resident report or receipt proof against a witnessed checkpoint."""
    try:
        log_key = _read_key(key)
        if not log_key:
            typer.echo(f"error: --key (or ${KEY_ENV}) is required", err=True)
            raise typer.Exit(2)
        witnesses = [k for k in (_read_key(w) for w in witness or []) if k]
        document = json.loads(report.read_text(encoding="utf-8"))
    except (OSError, ValueError) as exc:
        typer.echo(f"error: cannot read: {type(exc).__name__}", err=True)
        raise typer.Exit(2) from None
    need = len(witnesses) if quorum is None else quorum
    try:
        bundle, named = _bundle(document)
        proven, pending = verify_bundle(bundle, log_key, witnesses, need)
        missing = [i for i in named if i not in proven and i not in pending]
        if missing:
            raise ProofError(f"entries without a proof: leaf {missing[0]}")
    except ProofError as exc:
        typer.echo(f"FAILED: {exc}")
        raise typer.Exit(1) from None
    typer.echo(f"OK: {len(proven)} entries proven in the checkpoint ({need} witness(es) required)")
    if pending:
        typer.echo(f"{len(pending)} entries logged after the checkpoint: check again later")
