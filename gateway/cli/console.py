"""``satugate console``: manage the people who sign in to the web console."""

from __future__ import annotations

import asyncio
import os
from typing import Annotated

import typer
from sqlalchemy.exc import SQLAlchemyError

from gateway.platform.keys import KeyError_
from gateway.platform.settings import Settings

app = typer.Typer(
    name="console",
    help="Console users (administrators and auditors of the web console).",
    no_args_is_help=True,
    add_completion=False,
)


@app.callback()
def _console() -> None:
    """Console users (administrators and auditors of the web console)."""


PASSWORD_ENV = "SATUGATE_CONSOLE_PASSWORD"  # noqa: S105 - the name of a variable


async def _add_user(
    settings: Settings, username: str, password: str, role: str, totp: str | None
) -> None:
    from gateway.console import create_user
    from gateway.platform import store
    from gateway.platform.keys import load_master_key
    from gateway.platform.services import install_schema

    # The master key first: without it nothing is written.
    master = load_master_key(settings.resolved_master_key_file()) if totp else None
    engine = store.create_engine(settings.resolved_database_url())
    try:
        await install_schema(engine)
        await create_user(engine, username, password, role, totp, master_key=master)
    finally:
        await engine.dispose()


async def _set_password(settings: Settings, username: str, password: str) -> None:
    from gateway.console import set_password
    from gateway.platform import store

    url = settings.resolved_database_url()
    if url.startswith("sqlite") and ":///" in url:
        path = url.split(":///", 1)[1]
        if not os.path.isfile(path):
            raise FileNotFoundError(2, "no console users' store", path)
    engine = store.create_engine(url)
    try:
        await set_password(engine, username, password)
    finally:
        await engine.dispose()


def _setting_problem(exc: Exception) -> typer.Exit:
    """One line on stderr for a store or key that cannot be used; never a traceback."""
    if isinstance(exc, FileNotFoundError):
        what = (
            f"{exc.filename} does not exist (see SATUGATE_DATA_DIR, SATUGATE_DATABASE_URL,"
            " SATUGATE_MASTER_KEY_FILE)"
        )
    else:
        what = " ".join(str(getattr(exc, "orig", None) or exc).split())[:200]
    typer.echo(f"error: {type(exc).__name__}: {what}", err=True)
    return typer.Exit(2)


def _password() -> str:
    return os.environ.get(PASSWORD_ENV) or typer.prompt(
        "Password", hide_input=True, confirmation_prompt=True
    )


@app.command("set-password")
def set_password(username: Annotated[str, typer.Argument(help="An existing console user")]) -> None:
    """Give a console user a new password (their open sessions end). The password comes from
    $SATUGATE_CONSOLE_PASSWORD or a prompt."""
    from gateway.console import UserError

    try:
        asyncio.run(_set_password(Settings(), username, _password()))
    except UserError as exc:
        typer.echo(f"error: {exc}", err=True)
        raise typer.Exit(1) from None
    except (OSError, SQLAlchemyError, KeyError_) as exc:
        raise _setting_problem(exc) from None
    typer.echo(f"password of {username} changed; their open sessions have ended")


@app.command("add-user")
def add_user(
    username: Annotated[str, typer.Argument(help="Login name: lowercase letters, digits, . _ -")],
    role: Annotated[str, typer.Option(help="admin or auditor")],
    totp: Annotated[
        bool,
        typer.Option(
            "--totp/--no-totp",
            help="Enrol the user in TOTP (prints the secret once); the gateway requires it "
            "unless SATUGATE_CONSOLE_TOTP_REQUIRED=false",
        ),
    ] = True,
) -> None:
    """Create a console user. The password comes from $SATUGATE_CONSOLE_PASSWORD or a prompt
    (never from the command line, where it would land in the shell history)."""
    import pyotp

    from gateway.console import ROLES, UserError

    if role not in ROLES:
        raise typer.BadParameter("the role must be admin or auditor", param_hint="--role")
    password = _password()
    secret = pyotp.random_base32() if totp else None
    try:
        asyncio.run(_add_user(Settings(), username, password, role, secret))
    except UserError as exc:
        typer.echo(f"error: {exc}", err=True)
        raise typer.Exit(1) from None
    except (OSError, SQLAlchemyError, KeyError_) as exc:
        raise _setting_problem(exc) from None
    typer.echo(f"console user {username} ({role}) created")
    if secret is not None:
        uri = pyotp.TOTP(secret).provisioning_uri(name=username, issuer_name="satugate")
        typer.echo("add this to the user's authenticator app (shown once):")
        typer.echo(f"  secret: {secret}")
        typer.echo(f"  uri:    {uri}")
