"""The ``satugate`` command line."""

from __future__ import annotations

import typer

from gateway.cli import audit, console, core, db, keys, policy, proofs, regions, witness

app = typer.Typer(
    name="satugate",
    help="satugate: purpose-bound, audited access to resident data for city agencies.",
    no_args_is_help=True,
    add_completion=False,
)
core.register(app)
app.add_typer(policy.app, name="policy")
audit.app.command("check-report")(proofs.check_report)
app.add_typer(audit.app, name="audit")
app.add_typer(keys.app, name="keys")
app.add_typer(db.app, name="db")
app.add_typer(regions.app, name="regions")
app.add_typer(console.app, name="console")
app.add_typer(witness.app, name="witness")


def main() -> None:
    app()
