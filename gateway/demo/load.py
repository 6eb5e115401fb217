"""Copying the generated SQLite sources into another database (PostgreSQL, MariaDB ...).

The demo runs on SQLite files; tests and benchmarks also need the same data behind a
real PostgreSQL or MariaDB server. :func:`copy_source` creates the table with the same
columns and indexes and copies the rows in bulk.
"""

from __future__ import annotations

import sqlite3
from collections.abc import Callable, Iterator
from pathlib import Path

import sqlalchemy as sa

from gateway.demo.synthetic import CIVIL_COLUMNS, HEALTH_COLUMNS, TOKEN_COLUMNS, WELFARE_COLUMNS

__all__ = ["SOURCE_TABLES", "copy_source", "source_table", "sync_url"]

Columns = tuple[tuple[str, str], ...]
SOURCE_TABLES: dict[str, tuple[tuple[str, Columns], ...]] = {
    "civil.db": (("residents", CIVIL_COLUMNS), ("name_tokens", TOKEN_COLUMNS)),
    "welfare.db": (("welfare", WELFARE_COLUMNS),),
    "health.db": (("health", HEALTH_COLUMNS),),
}
_INDEXES = {
    "name_tokens": (
        ("ix_name_tokens", ("token", "kelurahan_code")),
        ("ix_name_tokens_region", ("kelurahan_code", "token")),
    ),
    "residents": (
        ("ix_residents_block", ("kelurahan_code", "rt", "rw")),
        ("ix_residents_kecamatan", ("kecamatan_code",)),
        ("ix_residents_kk", ("kk_number",)),
    ),
}
_LONG = frozenset(
    {"full_name", "mother_name", "father_name", "name_key", "street", "chronic_conditions"}
)


def sync_url(url: str) -> str:
    """A synchronous driver URL for bulk loading (``postgresql+psycopg``, ``mysql+pymysql``)."""
    parsed = sa.engine.make_url(url)
    backend = parsed.get_backend_name()
    if backend == "postgresql":
        parsed = parsed.set(drivername="postgresql+psycopg")
    elif backend in {"mysql", "mariadb"}:
        parsed = parsed.set(drivername="mysql+pymysql")
    return parsed.render_as_string(hide_password=False)


def source_table(
    metadata: sa.MetaData, table: str, columns: tuple[tuple[str, str], ...]
) -> sa.Table:
    """The SQLAlchemy table of a generated source, portable across databases."""
    cols: list[sa.Column[object]] = []
    for name, decl in columns:
        kind: sa.types.TypeEngine[object]
        if decl.startswith("INTEGER"):
            kind = sa.BigInteger()  # type: ignore[assignment]
        elif decl.startswith("BOOLEAN"):
            kind = sa.Boolean()  # type: ignore[assignment]
        else:
            kind = sa.String(240 if name in _LONG else 64)  # type: ignore[assignment]
        cols.append(
            sa.Column(
                name,
                kind,
                primary_key="PRIMARY KEY" in decl,
                nullable="NOT NULL" not in decl and "PRIMARY KEY" not in decl,
            )
        )
    return sa.Table(table, metadata, *cols)


def _indexes(table: sa.Table) -> list[sa.Index]:
    return [
        sa.Index(name, *(table.c[c] for c in cols)) for name, cols in _INDEXES.get(table.name, ())
    ]


def _chunks(path: Path, table: str, size: int) -> Iterator[list[tuple[object, ...]]]:
    conn = sqlite3.connect(f"file:{path}?mode=ro", uri=True)
    try:
        cursor = conn.execute(f"SELECT * FROM {table}")  # noqa: S608 - constant table name
        while rows := cursor.fetchmany(size):
            yield rows
    finally:
        conn.close()


def copy_source(
    sources_dir: Path,
    filename: str,
    url: str,
    *,
    chunk: int = 10_000,
    progress: Callable[[int], None] | None = None,
) -> int:
    """Copy one generated source (``civil.db``, ``welfare.db``, ``health.db``) into ``url``.

    The target tables are dropped and recreated. Returns the number of rows copied from
    the source's main table.
    """
    counts = [
        _copy_table(sources_dir / filename, table, columns, url, chunk=chunk, progress=progress)
        for table, columns in SOURCE_TABLES[filename]
    ]
    return counts[0]


def _copy_table(
    path: Path,
    table_name: str,
    columns: Columns,
    url: str,
    *,
    chunk: int,
    progress: Callable[[int], None] | None,
) -> int:
    metadata = sa.MetaData()
    table = source_table(metadata, table_name, columns)
    names = [c for c, _ in columns]
    bools = {i for i, (_, decl) in enumerate(columns) if decl.startswith("BOOLEAN")}
    engine = sa.create_engine(sync_url(url))
    copied = 0
    try:
        metadata.drop_all(engine)
        table.create(engine)
        backend = engine.dialect.name
        with engine.begin() as conn:
            for rows in _chunks(path, table_name, chunk):
                fixed = [
                    tuple(bool(v) if i in bools and v is not None else v for i, v in enumerate(row))
                    for row in rows
                ]
                if backend == "postgresql":
                    raw = conn.connection.dbapi_connection
                    assert raw is not None
                    with raw.cursor() as cur:  # type: ignore[attr-defined]
                        cols = ", ".join(names)
                        with cur.copy(f"COPY {table_name} ({cols}) FROM STDIN") as copy:
                            for row in fixed:
                                copy.write_row(row)
                else:
                    conn.execute(table.insert(), [dict(zip(names, r, strict=True)) for r in fixed])
                copied += len(rows)
                if progress is not None:
                    progress(copied)
        # Indexes after the rows: one sort instead of a million index updates.
        for index in _indexes(table):
            index.create(engine)
        if backend == "postgresql":
            with engine.connect().execution_options(isolation_level="AUTOCOMMIT") as conn:
                conn.execute(sa.text(f"ANALYZE {table_name}"))
    finally:
        engine.dispose()
    return copied
