"""The ``satugate`` command line."""

from __future__ import annotations

import typer

from gateway.cli import core

app = typer.Typer(
    name="satugate",
    help="satugate: purpose-bound, audited access to resident data for city agencies.",
    no_args_is_help=True,
    add_completion=False,
)
core.register(app)


def _register_optional() -> None:
    import importlib

    for name in ("policy", "audit", "regions", "keys", "db"):
        try:
            module = importlib.import_module(f"gateway.cli.{name}")
        except ModuleNotFoundError as exc:
            if exc.name != f"gateway.cli.{name}":
                raise
            continue
        app.add_typer(module.app, name=name)


_register_optional()


def main() -> None:
    app()
