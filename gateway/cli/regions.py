"""``satugate regions``: load the official Kemendagri region list of the year.

The list changes every year (kecamatan are split and re-coded), so the project ships no
national copy: the operator imports the list of the year (``code,name`` CSV, ~92,000
rows). Codes missing from the new list are kept, marked historical: NIKs keep the
kecamatan code of their first registration, and an old prefix is a warning, never a
rejection. Reads the database URL from the settings; never prints it.
"""

from __future__ import annotations

import asyncio
from dataclasses import dataclass
from pathlib import Path

import sqlalchemy as sa
import typer
from rich.console import Console
from rich.progress import BarColumn, MofNCompleteColumn, Progress, TextColumn, TimeElapsedColumn
from sqlalchemy.ext.asyncio import AsyncEngine

from connectors.regions import Region, RegionFormatError, iter_region_csv, region_level
from gateway import migrations
from gateway.platform import store
from gateway.platform.settings import Settings

app = typer.Typer(
    help="Region codes: import the Kemendagri list of the year.", no_args_is_help=True
)

_BATCH = 5_000


@app.callback()
def _group() -> None:
    """Region codes: import the Kemendagri list of the year."""


@dataclass(frozen=True)
class ImportSummary:
    current: int
    added: int
    retired: int


def _count_rows(path: Path) -> int:
    with path.open("rb") as handle:
        return max(0, sum(1 for line in handle if line.strip()) - 1)


async def store_regions(
    engine: AsyncEngine,
    rows: list[Region] | None = None,
    *,
    path: Path | None = None,
    year: int | None = None,
    progress: Progress | None = None,
    task: int | None = None,
) -> ImportSummary:
    """Replace the current region list in the gateway store, keeping retired codes.

    Every code already stored is first marked historical; the codes of the new list are
    then inserted or updated as current. One transaction: a failed import changes
    nothing.
    """
    table = store.regions
    seen: set[str] = set()
    added = 0

    def advance(count: int) -> None:
        if progress is not None and task is not None:
            progress.update(task, completed=count)  # type: ignore[arg-type]

    if rows is None and path is None:
        raise ValueError("store_regions needs rows or a path")
    source = rows if rows is not None else iter_region_csv(path, progress=advance)  # type: ignore[arg-type]
    update = (
        sa.update(table)
        .where(table.c.code == sa.bindparam("b_code"))
        .values(
            name=sa.bindparam("b_name"),
            level=sa.bindparam("b_level"),
            historical=False,
            list_year=year,
        )
    )
    async with engine.begin() as conn:
        existing = set((await conn.scalars(sa.select(table.c.code))).all())
        await conn.execute(sa.update(table).values(historical=True))
        inserts: list[dict[str, object]] = []
        updates: list[dict[str, object]] = []

        async def flush() -> None:
            if inserts:
                await conn.execute(sa.insert(table), inserts)
                inserts.clear()
            if updates:
                await conn.execute(update, updates)
                updates.clear()

        for region in source:
            if region.code in seen:
                raise RegionFormatError(0, f"duplicate code {region.code}")
            seen.add(region.code)
            level = ("province", "city", "kecamatan", "kelurahan").index(
                region_level(region.code)
            ) + 1
            if region.code in existing:
                updates.append({"b_code": region.code, "b_name": region.name, "b_level": level})
            else:
                inserts.append(
                    {
                        "code": region.code,
                        "name": region.name,
                        "level": level,
                        "historical": False,
                        "list_year": year,
                    }
                )
                added += 1
            if len(inserts) + len(updates) >= _BATCH:
                await flush()
        await flush()
    return ImportSummary(current=len(seen), added=added, retired=len(existing - seen))


async def _import(
    url: str, path: Path, year: int | None, total: int, console: Console
) -> ImportSummary:
    engine = store.create_engine(url, pool_size=1)
    try:
        with Progress(
            TextColumn("[bold]importing regions"),
            BarColumn(),
            MofNCompleteColumn(),
            TimeElapsedColumn(),
            console=console,
            transient=False,
        ) as progress:
            task = progress.add_task("regions", total=total)
            return await store_regions(engine, path=path, year=year, progress=progress, task=task)
    finally:
        await engine.dispose()


@app.command("import")
def import_(
    file: Path = typer.Argument(
        ...,
        exists=True,
        dir_okay=False,
        readable=True,
        help="The Kemendagri list as CSV with the header code,name.",
    ),
    year: int | None = typer.Option(None, help="The year of the list (recorded per code)."),
) -> None:
    """Import the official region list; codes it no longer has are kept as historical."""
    console = Console(stderr=True)
    settings = Settings()
    if settings.database_url is None and settings.database_url_file is None:
        settings.data_dir.mkdir(parents=True, exist_ok=True)
    url = settings.resolved_database_url()
    migrations.upgrade_url(url)
    try:
        summary = asyncio.run(_import(url, file, year, _count_rows(file), console))
    except RegionFormatError as exc:
        console.print(f"[red]not imported[/red]: {exc}")
        raise typer.Exit(code=1) from None
    typer.echo(
        f"{summary.current} current region codes ({summary.added} new), "
        f"{summary.retired} kept as historical"
    )
