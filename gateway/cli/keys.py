"""``satugate keys``: rotate and retire pseudonym keys. Every change is audited."""

from __future__ import annotations

import asyncio
import os
from typing import Annotated

import typer
from sqlalchemy import select

from gateway import keys as keymod
from gateway import store
from gateway.recorder import operator_event
from gateway.services import install_schema, open_audit_log
from gateway.settings import Settings

app = typer.Typer(
    help="Pseudonym keys per agency domain: list, rotate, retire.", no_args_is_help=True
)


async def _change(action: str, domain: str, version: int | None) -> int:
    settings = Settings()
    engine = store.create_engine(settings.resolved_database_url())
    try:
        await install_schema(engine)
        keyring = keymod.KeyRing(
            engine, keymod.load_master_key(settings.resolved_master_key_file())
        )
        log = await open_audit_log(settings, engine, keyring)
        try:
            if action == "key.rotate":
                version = await keyring.rotate(keymod.PSEUDONYM, domain)
            else:
                assert version is not None
                await keyring.retire(keymod.PSEUDONYM, domain, version)
            await log.append(
                operator_event(
                    action,
                    officer=os.environ.get("USER", "operator"),
                    purpose="administration",
                    detail={"domain": domain, "version": version},
                )
            )
        finally:
            await log.stop()
    finally:
        await engine.dispose()
    return version


@app.command()
def rotate(domain: Annotated[str, typer.Option(help="The agency's pseudonym domain")]) -> None:
    """Make a new key version: new pseudonyms use it, old ones still resolve."""
    try:
        version = asyncio.run(_change("key.rotate", domain, None))
    except keymod.KeyError_ as exc:
        typer.echo(f"error: {exc}", err=True)
        raise typer.Exit(1) from None
    typer.echo(f"domain {domain}: version {version} is now current")


@app.command()
def retire(
    domain: Annotated[str, typer.Option(help="The agency's pseudonym domain")],
    version: Annotated[int, typer.Option(help="The version to retire")],
) -> None:
    """Retire a version: its pseudonyms no longer resolve (a clear error says so)."""
    try:
        asyncio.run(_change("key.retire", domain, version))
    except keymod.KeyError_ as exc:
        typer.echo(f"error: {exc}", err=True)
        raise typer.Exit(1) from None
    typer.echo(f"domain {domain}: version {version} retired")


@app.command("list")
def list_keys() -> None:
    """Key versions and their status (never the keys themselves)."""

    async def run() -> list[tuple[str, str, int, str]]:
        settings = Settings()
        engine = store.create_engine(settings.resolved_database_url())
        try:
            async with engine.connect() as conn:
                rows = (
                    await conn.execute(
                        select(
                            store.keys.c.purpose,
                            store.keys.c.domain,
                            store.keys.c.version,
                            store.keys.c.status,
                        ).order_by(store.keys.c.purpose, store.keys.c.domain, store.keys.c.version)
                    )
                ).all()
        finally:
            await engine.dispose()
        return [(r.purpose, r.domain, int(r.version), r.status) for r in rows]

    for purpose, domain, version, status in asyncio.run(run()):
        typer.echo(f"{purpose:<12} {domain:<20} v{version:<4} {status}")
