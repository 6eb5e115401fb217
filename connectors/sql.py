"""The SQL connector: a source of truth behind any SQLAlchemy database URL.

Read-only by construction: the connector only ever issues ``SELECT`` statements built
with SQLAlchemy Core (never SQL strings assembled from input), and it asks the database
for read-only sessions too: SQLite files are opened with ``mode=ro``, PostgreSQL
sessions default to read-only transactions, MySQL/MariaDB sessions are set read-only.
A fetch is one query for the whole batch of NIKs (``WHERE nik IN (...)``), never one
query per NIK.
"""

from __future__ import annotations

import asyncio
import json
import logging
import os
import sqlite3
import stat
import time
from collections.abc import Sequence
from pathlib import Path
from typing import Any

import sqlalchemy as sa
from rapidfuzz import fuzz, process
from sqlalchemy.dialects import sqlite as sqlite_dialect
from sqlalchemy.engine import URL, make_url
from sqlalchemy.exc import SQLAlchemyError
from sqlalchemy.ext.asyncio import AsyncEngine, create_async_engine

from connectors.aggregate import CountPlan, CountQuery, CountRow, JoinedTable, count_rows
from connectors.config import SqlSourceConfig
from connectors.crosswalk import Crosswalk
from connectors.errors import (
    SearchNotSupported,
    SourceConfigError,
    SourceUnavailable,
    UnknownFields,
)
from connectors.matching import THRESHOLD, BlockRow, check_query, score_block
from connectors.models import Candidate, Record, SearchQuery
from connectors.names import NormalisedName, normalise_name
from connectors.values import changed_when_plain, clean_value, to_kemendagri_codes

__all__ = ["ATTACHED", "SqlConnector", "async_url", "create_source_engine"]

#: The schema name a second SQLite file is attached under, for a count joining the two.
ATTACHED = "joined_source"

#: Typo-tolerant blocking: region tokens at least this similar (rapidfuzz ratio, 0-100)
#: to a single-token query are tried, at most this many.
_NEAR_TOKEN = 75
_NEAR_TOKENS = 8

log = logging.getLogger(__name__)

_ASYNC_DRIVERS = {
    "postgresql": "postgresql+asyncpg",
    "postgres": "postgresql+asyncpg",
    "postgresql+psycopg2": "postgresql+asyncpg",
    "postgresql+asyncpg": "postgresql+asyncpg",
    "postgresql+psycopg": "postgresql+psycopg",
    "mysql": "mysql+aiomysql",
    "mysql+pymysql": "mysql+aiomysql",
    "mysql+aiomysql": "mysql+aiomysql",
    "mysql+asyncmy": "mysql+asyncmy",
    "mariadb": "mysql+aiomysql",
    "mariadb+pymysql": "mysql+aiomysql",
    "sqlite": "sqlite+aiosqlite",
    "sqlite+pysqlite": "sqlite+aiosqlite",
    "sqlite+aiosqlite": "sqlite+aiosqlite",
}


def async_url(url: str) -> URL:
    """The async-driver form of a database URL; SQLite files are opened read-only.

    ``postgresql://`` becomes ``postgresql+asyncpg://``, ``mysql://`` and ``mariadb://``
    become ``mysql+aiomysql://``, ``sqlite:///f.db`` becomes
    ``sqlite+aiosqlite:///file:f.db?mode=ro&uri=true``.
    """
    parsed = make_url(url)
    driver = _ASYNC_DRIVERS.get(parsed.drivername)
    if driver is None:
        raise SourceConfigError(f"unsupported database driver {parsed.drivername!r}")
    parsed = parsed.set(drivername=driver)
    if driver.startswith("sqlite"):
        database = parsed.database or ""
        if not database or database == ":memory:":
            raise SourceConfigError("a SQLite source must be a file")
        if not database.startswith("file:"):
            database = f"file:{database}"
        parsed = parsed.set(database=database).update_query_dict({"mode": "ro", "uri": "true"})
    return parsed


def create_source_engine(url: str, *, pool_size: int = 5) -> AsyncEngine:
    """A pooled async engine for a source, asking the server for read-only sessions."""
    target = async_url(url)
    kwargs: dict[str, Any] = {}
    backend = target.get_backend_name()
    if backend == "postgresql":
        kwargs["pool_size"] = pool_size
        kwargs["pool_pre_ping"] = True
        if target.get_driver_name() == "asyncpg":
            kwargs["connect_args"] = {"server_settings": {"default_transaction_read_only": "on"}}
    elif backend == "mysql":
        kwargs["pool_size"] = pool_size
        kwargs["pool_pre_ping"] = True
        kwargs["pool_recycle"] = 1800
        kwargs["connect_args"] = {"init_command": "SET SESSION TRANSACTION READ ONLY"}
    return create_async_engine(target, **kwargs)


class SqlConnector:
    """A source read through SQLAlchemy Core, table and columns from its configuration."""

    def __init__(
        self,
        config: SqlSourceConfig,
        engine: AsyncEngine,
        *,
        crosswalk: Crosswalk | None = None,
    ) -> None:
        self.name = config.name
        self.datasets = frozenset(config.datasets)
        self.fields = config.held_fields()
        self.region_system: str = config.region_system
        self.primary = config.primary
        self.supports_search = config.search.enabled
        self._threshold = (
            config.search.threshold if config.search.threshold is not None else THRESHOLD
        )
        self._config = config
        self._engine = engine
        self._timeout = config.timeout_seconds
        self._crosswalk = crosswalk
        if self.region_system == "bps" and crosswalk is None:
            raise SourceConfigError(f"source {self.name}: a BPS-coded source needs a crosswalk")
        columns = {config.key, *(config.column(f) for f in self.fields)}
        if config.search.enabled:
            columns |= {
                config.column(f)
                for f in ("kelurahan_code", "kecamatan_code", "rt", "rw", "birth_date")
                if f in self.fields
            }
            columns.add(config.search.name_key_column or config.search.name_column)
        self._table = sa.table(
            config.table, *(sa.column(c) for c in sorted(columns)), schema=config.schema_
        )
        self._tokens = (
            sa.table(
                config.search.token_table,
                sa.column("token"),
                sa.column("kelurahan_code"),
                sa.column("nik"),
                schema=config.schema_,
            )
            if config.search.enabled
            and config.search.token_table
            and self.region_system == "kemendagri"
            else None
        )
        self._sqlite_file: Path | None = None
        # The file (device, inode) that the inline connection and the pool have open: a
        # source file replaced by a new one (a fresh snapshot moved over it) is noticed
        # at the next query, and read from then on.
        self._inline_file: tuple[int, int] | None = None
        self._pool_file: tuple[int, int] | None = None
        self._inline: sqlite3.Connection | None = None
        self._inline_sql: dict[tuple[bool, tuple[str, ...]], str] = {}
        if engine.url.get_backend_name() == "sqlite" and engine.url.database:
            self._sqlite_file = Path(engine.url.database.removeprefix("file:"))
        self.local = self._sqlite_file is not None  # keyed fetches read the file in place

    @classmethod
    def from_config(
        cls, config: SqlSourceConfig, *, crosswalk: Crosswalk | None = None
    ) -> SqlConnector:
        """Build the connector and its pooled engine (no connection is opened yet)."""
        engine = create_source_engine(config.resolved_url(), pool_size=config.pool_size)
        return cls(config, engine, crosswalk=crosswalk)

    def __repr__(self) -> str:
        return f"SqlConnector(name={self.name!r}, table={self._config.table!r})"

    def _col(self, field: str) -> sa.ColumnClause[Any]:
        return self._table.c[self._config.column(field)]

    def _file_identity(self) -> tuple[int, int] | None:
        """The SQLite source file's (device, inode); None when there is no such file.

        A SQLite source whose file is gone is down; don't ask the driver to open it.
        (aiosqlite's worker thread can outlive a failed open and then trip over a closed
        event loop; checking first keeps a missing file a plain, quiet outage.)
        """
        assert self._sqlite_file is not None
        try:
            info = os.stat(self._sqlite_file)
        except OSError:
            return None
        return (info.st_dev, info.st_ino) if stat.S_ISREG(info.st_mode) else None

    async def _pool_ready(self) -> bool:
        """False when the SQLite source file is gone. When it was replaced since the pool
        last looked, the pool's connections (open on the old file) are closed first, so
        that the next ones open the new file. Always True for a database server."""
        if self._sqlite_file is None:
            return True
        identity = self._file_identity()
        if identity is None:
            return False
        if self._pool_file is not None and identity != self._pool_file:
            await self._engine.dispose()
        self._pool_file = identity
        return True

    async def _rows(
        self, stmt: sa.Select[Any], *, attach: Path | None = None
    ) -> Sequence[sa.Row[Any]]:
        """The rows of ``stmt``; ``attach``: a second SQLite file read beside this one, as
        schema ``ATTACHED`` (read-only, detached again before the connection is pooled)."""
        if not await self._pool_ready():
            raise SourceUnavailable(self.name, "file missing")
        try:
            async with asyncio.timeout(self._timeout):
                async with self._engine.connect() as conn:
                    if attach is not None:
                        await conn.exec_driver_sql(
                            f"ATTACH DATABASE ? AS {ATTACHED}", (f"file:{attach}?mode=ro",)
                        )
                    try:
                        result = await conn.execute(stmt)
                        rows: Sequence[sa.Row[Any]] = result.all()
                    finally:
                        if attach is not None:
                            await conn.rollback()
                            await conn.exec_driver_sql(f"DETACH DATABASE {ATTACHED}")
                    return rows
        except TimeoutError:
            raise SourceUnavailable(self.name, "timed out") from None
        except (SQLAlchemyError, OSError) as exc:
            # Security decision: driver messages echo the query parameters (NIKs), so
            # only the exception type is logged and the cause is not chained.
            log.warning(
                "source query failed", extra={"source": self.name, "error": type(exc).__name__}
            )
            raise SourceUnavailable(self.name, "query failed") from None

    def _fetch_inline(self, wanted: tuple[str, ...], niks: list[str]) -> list[tuple[Any, ...]]:
        """Keyed fetch from a local SQLite file, on the event loop's thread.

        An index lookup in SQLite takes microseconds in C, far less than a hand-off to the
        async driver's thread and back, or than building and compiling the statement each
        time: the statement is compiled once per field list by SQLAlchemy, with the NIKs
        as one JSON parameter (``IN (SELECT value FROM json_each(?))``). The file is opened
        read-only, and the source's timeout still holds: SQLite's progress handler
        interrupts a query that outlives it.
        """
        assert self._sqlite_file is not None
        identity = self._file_identity()
        if identity is None:
            raise SourceUnavailable(self.name, "file missing")
        if identity != self._inline_file:
            self._close_inline()  # replaced, or not open yet: open what the path holds
        one = len(niks) == 1
        sql = self._inline_sql.get((one, wanted))
        if sql is None:
            key = self._table.c[self._config.key]
            if one:  # the common case: an equality probe of the key's index
                where = key == sa.bindparam("niks")
            else:
                listed = sa.func.json_each(sa.bindparam("niks")).table_valued("value")
                where = key.in_(sa.select(listed.c.value))
            stmt = sa.select(key, *(self._col(f) for f in wanted)).where(where)
            sql = self._inline_sql[(one, wanted)] = str(stmt.compile(dialect=_SQLITE))
        deadline = time.monotonic() + self._timeout
        try:
            if self._inline is None:
                self._inline = sqlite3.connect(
                    f"file:{self._sqlite_file}?mode=ro", uri=True, check_same_thread=False
                )
                self._inline_file = identity
                self._inline.execute("PRAGMA query_only=ON")
            conn = self._inline
            conn.set_progress_handler(lambda: time.monotonic() > deadline, 10_000)
            try:
                return conn.execute(sql, (niks[0] if one else json.dumps(niks),)).fetchall()
            finally:
                conn.set_progress_handler(None, 0)
        except sqlite3.Error as exc:
            self._close_inline()
            log.warning(
                "source query failed", extra={"source": self.name, "error": type(exc).__name__}
            )
            raise SourceUnavailable(self.name, "query failed") from None

    def _close_inline(self) -> None:
        if self._inline is not None:
            self._inline.close()
            self._inline = None
            self._inline_file = None

    async def fetch(self, niks: Sequence[str], fields: Sequence[str]) -> dict[str, Record]:
        """The requested fields of the given NIKs, in one query; absent NIKs are left out."""
        unknown = frozenset(fields) - self.fields - {"nik"}
        if unknown:
            raise UnknownFields(unknown)
        unique = list(dict.fromkeys(niks))
        if not unique:
            return {}
        wanted = [f for f in dict.fromkeys(fields) if f != "nik"]
        key = self._table.c[self._config.key]
        rows: Sequence[Sequence[Any]]
        if self._sqlite_file is not None:
            rows = self._fetch_inline(tuple(wanted), unique)
        else:
            stmt = sa.select(key, *(self._col(f) for f in wanted)).where(key.in_(unique))
            rows = await self._rows(stmt)
        out: dict[str, Record] = {}
        cleaned = changed_when_plain(tuple(wanted))
        for row in rows:
            values: tuple[Any, ...] = tuple(row)
            nik = str(values[0])
            record: Record = dict(zip(wanted, values[1:], strict=True))
            if not _PLAIN_TYPES.issuperset(map(type, values)):
                record = {f: clean_value(f, v) for f, v in record.items()}
            else:  # strings and numbers as read: only booleans and numeric text change
                for f in cleaned:
                    record[f] = clean_value(f, record[f])
            if "nik" in fields:
                record["nik"] = nik
            if self.region_system == "bps" and self._crosswalk is not None:
                record = to_kemendagri_codes(record, self._crosswalk)
            out[nik] = record
        return out

    def _block_codes(self, query: SearchQuery) -> tuple[str, str | None]:
        """The column and value to block on, in this source's coding system."""
        if query.kelurahan_code and "kelurahan_code" in self.fields:
            field, code = "kelurahan_code", query.kelurahan_code
        else:
            field = "kecamatan_code"
            code = query.kecamatan_code or (query.kelurahan_code or "")[:8]
        if self.region_system == "bps" and self._crosswalk is not None:
            field = "kecamatan_code"
            code = query.kecamatan_code or (query.kelurahan_code or "")[:8]
            return field, self._crosswalk.to_bps(code)
        return field, code

    def _block_select(self, query: SearchQuery, name: NormalisedName) -> sa.Select[Any]:
        """The columns scoring needs; a name of common parts only is filtered by birth date."""
        config = self._config
        key = self._table.c[config.key]
        name_col = self._table.c[config.search.name_key_column or config.search.name_column]
        extra = [self._col(f) for f in ("rt", "rw", "birth_date") if f in self.fields]
        base = sa.select(key, name_col, *extra)
        if not name.is_specific and query.birth_date and "birth_date" in self.fields:
            base = base.where(self._col("birth_date") == query.birth_date)
        return base

    def _search_stages(
        self, query: SearchQuery, name: NormalisedName, block_field: str, code: str
    ) -> list[tuple[sa.Select[Any], bool]]:
        """The block queries to try in turn, each with whether it was cut to the RT/RW.

        1. the kelurahan's RT/RW, when the query gives them (smallest block);
        2. with a token index, the residents of the region sharing a distinctive name token
           with the query (a typo in one token is caught by another; a single token with
           a typo is handled by :meth:`_near_tokens`);
        3. without a token index (or without a distinctive token), the whole region.
        """
        base = self._block_select(query, name)
        region = self._col(block_field) == code
        stages: list[tuple[sa.Select[Any], bool]] = []
        if block_field == "kelurahan_code" and query.rt and query.rw and "rt" in self.fields:
            stages.append(
                (base.where(region, self._col("rt") == query.rt, self._col("rw") == query.rw), True)
            )
        tokens = name.strong_tokens
        if self._tokens is not None and tokens:
            stages.append((self._token_join(base, tokens, block_field, code), False))
        else:
            stages.append((base.where(region), False))
        return stages

    def _token_region(self, block_field: str, code: str) -> sa.ColumnElement[bool]:
        assert self._tokens is not None
        column = self._tokens.c.kelurahan_code
        if block_field == "kelurahan_code":
            return column == code
        # A kecamatan: the range of its kelurahan codes ("/" sorts right after ".").
        return sa.and_(column > code + ".", column < code + "/")

    def _token_join(
        self, base: sa.Select[Any], tokens: Sequence[str], block_field: str, code: str
    ) -> sa.Select[Any]:
        """Residents of the region having one of ``tokens`` in their name."""
        assert self._tokens is not None
        t = self._tokens
        key = self._table.c[self._config.key]
        return (
            base.select_from(t.join(self._table, key == t.c.nik))
            .where(t.c.token.in_(sorted(set(tokens))), self._token_region(block_field, code))
            .distinct()
        )

    async def _near_tokens(self, token: str, block_field: str, code: str) -> list[str]:
        """The region's name tokens spelled like ``token``: typo-tolerant blocking.

        Reads the region's token vocabulary from the token index (an index-only scan,
        far cheaper than reading the residents) and keeps the close ones.
        """
        assert self._tokens is not None
        t = self._tokens
        stmt = sa.select(t.c.token).where(self._token_region(block_field, code)).distinct()
        vocabulary = [str(r[0]) for r in await self._rows(stmt)]
        close = process.extract(
            token, vocabulary, scorer=fuzz.ratio, score_cutoff=_NEAR_TOKEN, limit=_NEAR_TOKENS
        )
        return [str(c[0]) for c in close if c[0] != token]

    def _block_rows(self, rows: Sequence[sa.Row[Any]]) -> list[BlockRow]:
        by_key = self._config.search.name_key_column is not None
        extra = [f for f in ("rt", "rw", "birth_date") if f in self.fields]
        block: list[BlockRow] = []
        for row in rows:
            r: tuple[Any, ...] = tuple(row)
            block.append(
                BlockRow(
                    nik=str(r[0]),
                    name_key=str(r[1]) if by_key else normalise_name(str(r[1] or "")).key,
                    **{
                        f: (str(clean_value(f, v)) if v is not None else None)
                        for f, v in zip(extra, r[2:], strict=True)
                    },
                )
            )
        return block

    async def search(self, query: SearchQuery, *, limit: int) -> list[Candidate]:
        """Residents of the query's block whose names match, best first, at most ``limit``.

        Raises :class:`QueryNotSpecific` for queries that could enumerate residents.
        """
        if not self.supports_search:
            raise SearchNotSupported(self.name)
        name = check_query(query)
        block_field, code = self._block_codes(query)
        if code is None:
            return []
        scored: list[tuple[str, float]] = []
        for stmt, narrowed in self._search_stages(query, name, block_field, code):
            block = self._block_rows(await self._rows(stmt))
            scored = score_block(
                query, name, block, address_narrowed=narrowed, threshold=self._threshold
            )
            if scored:
                break
        strong = name.strong_tokens
        if not scored and self._tokens is not None and len(strong) == 1:
            # A single distinctive token found no one: it may itself carry the typo.
            near = await self._near_tokens(strong[0], block_field, code)
            if near:
                stmt = self._token_join(self._block_select(query, name), near, block_field, code)
                scored = score_block(
                    query,
                    name,
                    self._block_rows(await self._rows(stmt)),
                    address_narrowed=False,
                    threshold=self._threshold,
                )
        return [Candidate(nik, score, self.name) for nik, score in scored[:limit]]

    async def count(self, query: CountQuery) -> list[CountRow]:
        """Grouped counts, computed by the database (``connectors.aggregate``)."""
        return await count_rows(self.count_plan(query), self._rows)

    async def select(
        self, stmt: sa.Select[Any], *, attach: Path | None = None
    ) -> Sequence[sa.Row[Any]]:
        """The rows of a statement built by ``connectors`` (the counts' plans and joins)."""
        return await self._rows(stmt, attach=attach)

    def count_plan(self, query: CountQuery, joined: JoinedTable | None = None) -> CountPlan:
        """The statements of ``query`` on this source's table (``joined``: a table of the
        same database serving the fields this one lacks)."""
        wanted = query.fields() | {"kk_number"}
        if joined is not None:
            wanted -= set(joined.columns)
        if self.region_system != "kemendagri" or not wanted <= self.fields:
            raise UnknownFields(frozenset(wanted - self.fields) or frozenset({"region_system"}))
        columns = {f: self._config.column(f) for f in wanted}
        return CountPlan(
            self._config.table,
            columns,
            columns["kk_number"],
            query,
            schema=self._config.schema_,
            key=self._config.key,
            joined=joined,
        )

    def joined_table(self, fields: Sequence[str], *, schema: str | None = None) -> JoinedTable:
        """This source's table as the joined one of another source's count."""
        return JoinedTable(
            self._config.table,
            {f: self._config.column(f) for f in fields},
            key=self._config.key,
            schema=schema if schema is not None else self._config.schema_,
        )

    @property
    def database(self) -> URL:
        """Where the source lives: the engine's URL (a SQLite file, or a server's database)."""
        return self._engine.url

    @property
    def sqlite_file(self) -> Path | None:
        return self._sqlite_file

    async def health(self) -> bool:
        """Whether the source answers a trivial query within its timeout."""
        if not await self._pool_ready():
            return False
        try:
            async with asyncio.timeout(self._timeout):
                async with self._engine.connect() as conn:
                    await conn.execute(sa.select(sa.literal(1)))
            return True
        except (TimeoutError, SQLAlchemyError, OSError):
            return False

    async def aclose(self) -> None:
        await self._engine.dispose()
        self._close_inline()


_SQLITE = sqlite_dialect.dialect()
_PLAIN_TYPES = frozenset({str, int, float, type(None)})
