"""``satugate db``: bring the database schema up to date, and check it.

Reads the database URL from the settings (``SATUGATE_DATABASE_URL`` or
``SATUGATE_DATABASE_URL_FILE``; absent: the embedded SQLite file). Never prints the URL:
it may carry a password.
"""

from __future__ import annotations

import asyncio
import tempfile
from pathlib import Path

import typer
from alembic import command
from sqlalchemy.ext.asyncio import create_async_engine
from sqlalchemy.pool import NullPool

from gateway import migrations
from gateway.platform.settings import Settings

app = typer.Typer(help="Database schema: migrations and checks.", no_args_is_help=True)


def _url() -> str:
    settings = Settings()
    if settings.database_url is None and settings.database_url_file is None:
        settings.data_dir.mkdir(parents=True, exist_ok=True)
    return settings.resolved_database_url()


@app.command()
def upgrade(
    revision: str = typer.Option("head", help="Target revision."),
    sql: bool = typer.Option(False, "--sql", help="Print the SQL instead of running it."),
) -> None:
    """Create or upgrade the schema (gateway store and audit log) to the newest revision."""
    url = _url()
    if sql:
        command.upgrade(migrations.alembic_config(url), revision, sql=True)
        return
    migrations.upgrade_url(url, revision)
    typer.echo(
        f"database at revision {migrations.head_revision() if revision == 'head' else revision}"
    )


async def _status(url: str) -> tuple[str | None, list[object]]:
    engine = create_async_engine(url, poolclass=NullPool)
    try:
        return await migrations.current_revision(engine), await migrations.drift(engine)
    finally:
        await engine.dispose()


@app.command()
def check() -> None:
    """Exit 0 when the database is at the newest revision and matches the code's models."""
    current, differences = asyncio.run(_status(_url()))
    head = migrations.head_revision()
    typer.echo(f"database revision: {current or '(none)'}; newest: {head}")
    if current != head:
        typer.echo("the database needs `satugate db upgrade`", err=True)
        raise typer.Exit(1)
    if differences:
        for difference in differences:
            typer.echo(f"drift: {difference}", err=True)
        raise typer.Exit(1)


@app.command()
def revision(
    message: str = typer.Option(..., "-m", "--message", help="What the migration does."),
) -> None:
    """(Development) write a new migration from the difference between head and the models.

    Builds a scratch SQLite database at head and compares it with the models, so it needs
    no server. Review the generated file: autogenerate does not see everything (renames,
    data moves, server-side functions).
    """
    with tempfile.TemporaryDirectory() as scratch:
        url = f"sqlite:///{Path(scratch) / 'head.db'}"
        migrations.upgrade_url(url)
        config = migrations.alembic_config(url)
        command.revision(config, message=message, autogenerate=True)
