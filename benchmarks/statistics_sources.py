"""The statistics benchmark's sources: the synthetic registries in SQLite, and the same
rows in PostgreSQL, seeded once and kept between runs.

The SQLite files are the demo's generator's (``gateway.demo.synthetic``), kept in the
work directory under a marker naming their size. PostgreSQL gets the columns that
statistics read, copied from those files with ``COPY`` (asyncpg's binary copy), into a
schema named after the size whose comment says the copy finished: a second run with the
same size copies nothing.
"""

from __future__ import annotations

import sqlite3
from contextlib import closing
from datetime import date
from pathlib import Path

import asyncpg

from gateway.demo.synthetic import generate_sources

#: The indexes statistics use (README, "Computed where the data is"): the dimensions with
#: the birth year as ``connectors.aggregate`` writes it, and the family card number (the
#: synthetic civil registry has the latter already).
SQLITE_INDEXES = (
    ("ix_residents_statistics", "kecamatan_code, sex, substr(birth_date, 1, 4)"),
    ("ix_residents_kk", "kk_number"),
)
POSTGRES_INDEXES = (("ix_residents_kk", "kk_number"),)
#: Without them PostgreSQL guesses 100,000 groups for the count, sorts on disk instead of
#: hashing 5,000 groups, and takes three times as long.
POSTGRES_STATISTICS = "kecamatan_code, sex, (substr(CAST(birth_date AS VARCHAR(32)), 1, 4))"
#: Civil registry columns copied to PostgreSQL (birth dates as DATE, the rest text).
CIVIL = ("nik", "kk_number", "sex", "birth_date", "kelurahan_code", "kecamatan_code", "city_code")
_CHUNK = 50_000


def sqlite_sources(work: Path, residents: int) -> Path:
    """The folder holding ``civil.db``, ``welfare.db`` and ``sources.yaml`` for
    ``residents`` residents, generated on first use."""
    sources = work / "sources"
    marker = sources / f"residents-{residents}"
    if not marker.exists():
        for old in sources.glob("residents-*"):
            old.unlink()
        sources.mkdir(parents=True, exist_ok=True)
        generate_sources(sources, residents=residents, seed=7)
        marker.touch()
    with closing(sqlite3.connect(sources / "civil.db")) as conn:  # seeded before the index
        for name, cols in SQLITE_INDEXES:
            conn.execute(f"CREATE INDEX IF NOT EXISTS {name} ON residents ({cols})")
    return sources


async def postgres_sources(url: str, sources: Path, residents: int) -> str:
    """Copy the civil registry and the welfare registry of ``sources`` into a schema of
    their size unless they are there already; returns the schema."""
    schema = f"bench_statistics_{residents}"
    conn = await asyncpg.connect(url)
    try:
        seeded = await conn.fetchval(
            "SELECT obj_description(oid, 'pg_namespace') FROM pg_namespace WHERE nspname = $1",
            schema,
        )
        if seeded == f"residents-{residents}":
            return schema
        await conn.execute(f"DROP SCHEMA IF EXISTS {schema} CASCADE")
        await conn.execute(f"CREATE SCHEMA {schema}")
        await conn.execute(
            f"CREATE UNLOGGED TABLE {schema}.residents (nik text PRIMARY KEY, kk_number text,"
            " sex text, birth_date date, kelurahan_code text, kecamatan_code text,"
            " city_code text)"
        )
        await conn.execute(
            f"CREATE UNLOGGED TABLE {schema}.welfare (nik text PRIMARY KEY, welfare_decile integer)"
        )
        with closing(sqlite3.connect(f"file:{sources / 'civil.db'}?mode=ro", uri=True)) as civil:
            cursor = civil.execute(f"SELECT {', '.join(CIVIL)} FROM residents")
            while chunk := cursor.fetchmany(_CHUNK):
                await conn.copy_records_to_table(
                    "residents",
                    schema_name=schema,
                    columns=CIVIL,
                    records=[(*r[:3], date.fromisoformat(r[3]), *r[4:]) for r in chunk],
                )
        with closing(
            sqlite3.connect(f"file:{sources / 'welfare.db'}?mode=ro", uri=True)
        ) as welfare:
            cursor = welfare.execute("SELECT nik, welfare_decile FROM welfare")
            while chunk := cursor.fetchmany(_CHUNK):
                await conn.copy_records_to_table(
                    "welfare", schema_name=schema, columns=("nik", "welfare_decile"), records=chunk
                )
        for name, cols in POSTGRES_INDEXES:
            await conn.execute(f"CREATE INDEX {name} ON {schema}.residents ({cols})")
        await conn.execute(
            f"CREATE STATISTICS {schema}.st_residents_statistics (ndistinct)"
            f" ON {POSTGRES_STATISTICS} FROM {schema}.residents"
        )
        # VACUUM sets the visibility map, so that the household index is read alone.
        await conn.execute(f"VACUUM ANALYZE {schema}.residents")
        await conn.execute(f"VACUUM ANALYZE {schema}.welfare")
        await conn.execute(f"COMMENT ON SCHEMA {schema} IS 'residents-{residents}'")
        return schema
    finally:
        await conn.close()
