"""``satugate keys``: list and rotate pseudonym keys. Every change is audited.

Retiring a key is a proposal another person approves (``gateway.admin.proposals``), through
the API or the console, not a command of one operator.
"""

from __future__ import annotations

import asyncio
import os
from typing import Annotated

import typer
from sqlalchemy import select

from gateway.admin.policies import PolicyStore
from gateway.auditing.recorder import operator_event
from gateway.platform import keys as keymod
from gateway.platform import store
from gateway.platform.services import install_schema, open_audit_log
from gateway.platform.settings import Settings

app = typer.Typer(help="Pseudonym keys per agency domain: list, rotate.", no_args_is_help=True)


async def _rotate(domain: str) -> int:
    """Rotate a domain of the active bundle; the event is appended first (fail closed)."""
    settings = Settings()
    engine = store.create_engine(settings.resolved_database_url())
    try:
        await install_schema(engine)
        keyring = keymod.KeyRing(
            engine, keymod.load_master_key(settings.resolved_master_key_file())
        )
        policy_store = PolicyStore(engine)
        await policy_store.bootstrap(settings.policy_dir)  # installs one only if none is
        active = await policy_store.current()
        if domain not in {a.pseudonym_domain for a in active.policy.agencies.values()}:
            raise keymod.KeyError_("keys are made only for pseudonym domains of the active bundle")
        log = await open_audit_log(settings, engine, keyring)
        try:
            await log.append(
                operator_event(
                    "key.rotate",
                    officer=os.environ.get("USER", "operator"),
                    purpose="administration",
                    detail={"domain": domain},
                )
            )
            version = await keyring.rotate(keymod.PSEUDONYM, domain)
        finally:
            await log.stop()
    finally:
        await engine.dispose()
    return version


@app.command()
def rotate(domain: Annotated[str, typer.Option(help="The agency's pseudonym domain")]) -> None:
    """Make a new key version: new pseudonyms use it, old ones still resolve.

    Retiring a version (its pseudonyms stop resolving) takes two persons: one proposes
    it (``POST /admin/keys/retire`` or the console), another administrator approves.
    """
    try:
        version = asyncio.run(_rotate(domain))
    except keymod.KeyError_ as exc:
        typer.echo(f"error: {exc}", err=True)
        raise typer.Exit(1) from None
    typer.echo(f"domain {domain}: version {version} is now current")


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
