"""``satugate witness``: run a C2SP tlog-witness of one or more logs, and make its key.

A witness needs only its signing key, the verifier keys of the logs it watches and a
small SQLite file of its own: the Inspektorat, the provincial government or a
civil-society group can run one without any access to the gateway's data.
"""

from __future__ import annotations

import json
import os
from pathlib import Path
from typing import Annotated

import typer

from audit.checkpoint import VerifierKey
from audit.cosignature import Cosigner
from audit.errors import ProofError
from audit.witness import Witness, WitnessStore

app = typer.Typer(
    help="Witness audit logs: cosign their consistent checkpoints.", no_args_is_help=True
)


def write_key(path: Path, name: str) -> Cosigner:
    """Make a witness signing key in ``path`` (owner-only); refuse to overwrite one."""
    cosigner = Cosigner.generate(name)
    path.parent.mkdir(parents=True, exist_ok=True)
    fd = os.open(path, os.O_WRONLY | os.O_CREAT | os.O_EXCL, 0o600)
    with os.fdopen(fd, "w") as out:
        out.write(cosigner.secret() + "\n")
    return cosigner


def load_key(path: Path) -> Cosigner:
    return Cosigner.from_secret(path.read_text(encoding="utf-8"))


def _log_key(value: str) -> VerifierKey:
    text = Path(value[1:]).read_text(encoding="utf-8") if value.startswith("@") else value
    return VerifierKey.parse(text)


@app.command()
def keygen(
    name: Annotated[str, typer.Option(help="The witness's name, e.g. witness.inspektorat.example")],
    key_file: Annotated[Path, typer.Option("--key", help="Where to write the signing key")],
) -> None:
    """Make a witness signing key; print its verifier key for logs to configure."""
    try:
        cosigner = write_key(key_file, name)
    except FileExistsError:
        typer.echo(f"error: {key_file} exists; not overwriting a witness key", err=True)
        raise typer.Exit(2) from None
    except ProofError as exc:
        typer.echo(f"error: {exc}", err=True)
        raise typer.Exit(2) from None
    typer.echo(cosigner.verifier_key())


@app.command()
def serve(
    key_file: Annotated[Path, typer.Option("--key", help="The witness signing key file")],
    log: Annotated[
        list[str], typer.Option(help="Verifier key of a log to witness (text or @file)")
    ],
    db: Annotated[Path, typer.Option(help="The witness's own SQLite file")] = Path("witness.db"),
    host: Annotated[str, typer.Option()] = "127.0.0.1",
    port: Annotated[int, typer.Option()] = 8100,
) -> None:
    """Serve POST /add-checkpoint (C2SP tlog-witness) for the logs given."""
    import uvicorn

    from gateway.cli.witness_app import create_witness_app

    try:
        witness = Witness(load_key(key_file), [_log_key(k) for k in log], WitnessStore(db))
    except (OSError, ProofError) as exc:
        typer.echo(f"error: {exc}", err=True)
        raise typer.Exit(2) from None
    typer.echo(f"witness {witness.cosigner.verifier_key()} on http://{host}:{port}")
    uvicorn.run(
        create_witness_app(witness), host=host, port=port, access_log=False, server_header=False
    )


@app.command()
def evidence(
    db: Annotated[Path, typer.Option(help="The witness's own SQLite file")] = Path("witness.db"),
) -> None:
    """Print the signed checkpoints this witness refused (forks, rollbacks), as JSON lines."""
    store = WitnessStore(db)
    try:
        for row in store.evidence():
            request = row["request"]
            assert isinstance(request, bytes)
            row["request"] = request.decode("utf-8", "replace")
            typer.echo(json.dumps(row))
    finally:
        store.close()
