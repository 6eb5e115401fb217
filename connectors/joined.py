"""Counts whose dimensions two sources hold: the civil registry joined with another
registry (the welfare registry's decile) by NIK.

Where the database can join, it does, and no row leaves it:

* both tables in one database (the same server and database, any schema): one
  ``JOIN ... ON nik`` in the count's statements;
* two SQLite files: the other file is attached read-only to the civil registry's
  connection (``ATTACH DATABASE``) for the statements, and detached after.

Otherwise (two servers, or a server and a file) the gateway joins, bounded and
streaming: the other source lists its residents' NIKs grouped by its dimensions, in
pages of ``PAGE`` ordered by (values, NIK) and fetched one after the other, and the
civil registry counts each page in SQL (``nik IN (...)``), grouped by its own
dimensions. The gateway holds one page of NIKs and the running cell counts at a time,
never a resident's record. A household split across two pages has its residents in a
cell counted in each, so its share of the cell is over-estimated by adding the pages'
largest households: the dominance rule then errs towards suppression, never away from
it. Households (``unit: households``) are not counted this way: one split across two
pages would count twice.
"""

from __future__ import annotations

import functools
from collections.abc import AsyncIterator, Sequence
from pathlib import Path
from typing import Any, Protocol

import sqlalchemy as sa
from sqlalchemy.engine import URL

from connectors.aggregate import AGE_BAND, CountPlan, CountQuery, CountRow, JoinedTable, count_rows
from connectors.errors import UnknownFields
from connectors.sql import ATTACHED

__all__ = ["PAGE", "SqlCounting", "count_joined"]


class SqlCounting(Protocol):
    """What a join needs of a SQL source (``SqlCounting``, or a wrapper delegating to it)."""

    name: str
    datasets: frozenset[str]
    fields: frozenset[str]

    @property
    def database(self) -> URL: ...

    @property
    def sqlite_file(self) -> Path | None: ...

    async def count(self, query: CountQuery) -> list[CountRow]: ...

    def count_plan(self, query: CountQuery, joined: JoinedTable | None = None) -> CountPlan: ...

    def joined_table(self, fields: Sequence[str], *, schema: str | None = None) -> JoinedTable: ...

    async def select(
        self, stmt: sa.Select[Any], *, attach: Path | None = None
    ) -> Sequence[sa.Row[Any]]: ...


#: NIKs per page of the streaming join.
PAGE = 5000


def _same_database(a: SqlCounting, b: SqlCounting) -> bool:
    x, y = a.database, b.database
    if x.get_backend_name() == "sqlite" or x.get_backend_name() != y.get_backend_name():
        return False
    return (x.host, x.port, x.database, x.username) == (y.host, y.port, y.database, y.username)


async def count_joined(
    civil: SqlCounting, other: SqlCounting, query: CountQuery, *, page: int = PAGE
) -> list[CountRow]:
    """``query`` counted on ``civil``, its fields that ``civil`` lacks read from
    ``other`` by NIK (see the module's notes for where the join happens; ``page``: NIKs
    per page when the gateway joins)."""
    theirs = sorted(query.fields() - civil.fields)
    if not set(theirs) <= other.fields or AGE_BAND in theirs:
        raise UnknownFields(frozenset(set(theirs) - other.fields) or frozenset(theirs))
    if civil.sqlite_file is not None and other.sqlite_file is not None:
        plan = civil.count_plan(query, other.joined_table(theirs, schema=ATTACHED))
        return await count_rows(plan, functools.partial(civil.select, attach=other.sqlite_file))
    if _same_database(civil, other):
        return await count_rows(civil.count_plan(query, other.joined_table(theirs)), civil.select)
    if query.unit != "residents":
        raise UnknownFields(frozenset(theirs))
    return await _streamed(civil, other, query, theirs, page)


async def _pages(
    other: SqlCounting, fields: Sequence[str], query: CountQuery, page: int
) -> AsyncIterator[tuple[tuple[str, ...], list[str]]]:
    """``other``'s NIKs with their values of ``fields`` (the query's filters on them
    applied), a page at a time: (values, NIKs) for each run of equal values in a page."""
    table = other.joined_table([*fields, *(f for f in query.filters if f in other.fields)])
    t = sa.table(
        table.table,
        *(sa.column(c) for c in sorted({*table.columns.values(), table.key})),
        schema=table.schema,
    )
    values = [t.c[table.columns[f]] for f in fields]
    nik = t.c[table.key]
    where = [
        sa.cast(t.c[table.columns[f]], sa.String(32)).in_(list(v))
        for f, v in sorted(query.filters.items())
        if f in table.columns
    ]
    after: tuple[Any, ...] | None = None
    while True:
        stmt = sa.select(*values, nik).where(*where, *(c.is_not(None) for c in values))
        if after is not None:
            stmt = stmt.where(sa.tuple_(*values, nik) > sa.tuple_(*after))
        stmt = stmt.order_by(*values, nik).limit(page)
        rows = await other.select(stmt)
        if not rows:
            return
        run: list[str] = []
        key: tuple[str, ...] | None = None
        for row in rows:
            k = tuple(str(v) for v in row[: len(fields)])
            if k != key and run:
                assert key is not None
                yield key, run
                run = []
            key = k
            run.append(str(row[-1]))
        assert key is not None
        yield key, run
        after = tuple(rows[-1])


async def _streamed(
    civil: SqlCounting, other: SqlCounting, query: CountQuery, theirs: Sequence[str], page: int
) -> list[CountRow]:
    dims = [f for f in query.group_by if f in theirs]
    own = CountQuery(
        tuple(f for f in query.group_by if f not in theirs),
        {f: v for f, v in query.filters.items() if f not in theirs},
        query.unit,
        query.year,
    )
    plan = civil.count_plan(own)
    counts: dict[tuple[str, ...], int] = {}
    largest: dict[tuple[str, ...], int] = {}
    for_dims = {f: i for i, f in enumerate(dims)}
    async for values, niks in _pages(other, dims, query, page):
        for row in await civil.select(plan.among(niks)):
            if row[plan.width] is None:  # no civil record among these NIKs
                continue
            own_key = iter(str(v) for v in row[: plan.width])
            key = tuple(
                values[for_dims[f]] if f in for_dims else next(own_key) for f in query.group_by
            )
            counts[key] = counts.get(key, 0) + int(row[plan.width])
            largest[key] = largest.get(key, 0) + int(row[plan.width + 1])
    return [
        CountRow(key, n, largest[key] if 2 * largest[key] > n else 0) for key, n in counts.items()
    ]
