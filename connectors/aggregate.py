"""Grouped counts computed by the source database: ``GROUP BY`` pushed down.

A count query names the fields to group by (an age band is derived from the birth date
in SQL), the filters (each a field and the values it may take) and the unit (residents,
or households by their family card number). No row of a resident leaves the database;
every answer has one row per non-empty cell. Built with SQLAlchemy Core, portable across
SQLite, PostgreSQL and MariaDB.

Residents are counted by one plain ``GROUP BY`` of the dimensions, the age band by the
birth year (``substr`` of the ISO date, the expression an index of the source can hold,
so that SQLite groups in index order without sorting) and the years folded into bands
over the grouped rows. The dominance rule asks one more thing of each cell: does one
household hold more than half of it, and with how many? Grouping every resident by
household as well would cost several times the count, so two small statements answer
it exactly instead:

* a household holding more than half of a cell of ``c > 2 * BIG_HOUSEHOLD`` residents
  has more than ``BIG_HOUSEHOLD`` members, so only the few households that large are
  grouped; whether there are any is asked first, beside the count, through the
  household index alone (most registries have none, and then that is all);
* the cells of at most ``2 * BIG_HOUSEHOLD`` residents, which the count names, are
  grouped by household in full, through the dimensions' index.

A cell's ``largest_household`` is therefore exact whenever that household holds more
than half of the cell, and 0 when no household does: all the dominance rule needs.
"""

from __future__ import annotations

import asyncio
from collections.abc import Awaitable, Callable, Mapping, Sequence
from dataclasses import dataclass
from typing import Any

import sqlalchemy as sa
from sqlalchemy.ext.compiler import compiles
from sqlalchemy.sql.compiler import SQLCompiler
from sqlalchemy.sql.functions import FunctionElement

__all__ = [
    "AGE_BAND",
    "BIG_HOUSEHOLD",
    "CountPlan",
    "CountQuery",
    "CountRow",
    "JoinedTable",
    "count_rows",
]

#: The derived dimension computed from the birth date.
AGE_BAND = "age_band"
#: Households larger than this are grouped for the dominance rule in every cell; cells of
#: at most twice this many residents are grouped by household in full.
BIG_HOUSEHOLD = 8
_BAND_WIDTH, _BANDS = 5, 18
_SMALL_CELLS = 500  # beyond this many small cells, every household is grouped


@dataclass(frozen=True)
class CountQuery:
    """Fields to group by, filters (field -> allowed values), the unit, and the year the
    age bands are reckoned in (age = year - birth year)."""

    group_by: tuple[str, ...]
    filters: Mapping[str, tuple[str, ...]]
    unit: str  # "residents" or "households"
    year: int

    def fields(self) -> set[str]:
        out = set(self.group_by) | set(self.filters)
        if AGE_BAND in out:
            out = (out - {AGE_BAND}) | {"birth_date"}
        return out


@dataclass(frozen=True)
class CountRow:
    key: tuple[str, ...]
    count: int
    largest_household: int  # exact when over half of ``count``, else 0


def band_label(index: int) -> str:
    start = index * _BAND_WIDTH
    return f"{start}+" if index == _BANDS - 1 else f"{start}-{start + _BAND_WIDTH - 1}"


def _in_band(born: sa.ColumnElement[Any], label: str, year: int) -> sa.ColumnElement[bool]:
    """Whether a birth year (four-digit text) falls in band ``label``: the same bands as
    ``_band_of`` (a birth after ``year`` in the first, every age from the last band's
    start up in the last), as a range an index on the birth year can serve."""
    index = next(i for i in range(_BANDS) if band_label(i) == label)
    conditions = []
    if index > 0:
        conditions.append(born <= f"{year - _BAND_WIDTH * index:04d}")
    if index < _BANDS - 1:
        conditions.append(born > f"{year - _BAND_WIDTH * (index + 1):04d}")
    return sa.and_(*conditions)


# Literals, not parameters: PostgreSQL matches a grouped expression to the selected one
# only when they are the same text.
_ONE: sa.ColumnClause[Any] = sa.literal_column("1")
_FOUR: sa.ColumnClause[Any] = sa.literal_column("4")


class _BirthYear(FunctionElement[str]):
    """The first four characters of the birth date as text: a DATE or ISO text column."""

    type = sa.String()
    name = "birth_year"
    inherit_cache = True


@compiles(_BirthYear)
def _birth_year(element: _BirthYear, compiler: SQLCompiler, **kw: Any) -> str:
    (column,) = element.clauses
    return compiler.process(sa.func.substr(sa.cast(column, sa.String(32)), _ONE, _FOUR), **kw)


@compiles(_BirthYear, "sqlite")
def _birth_year_sqlite(element: _BirthYear, compiler: SQLCompiler, **kw: Any) -> str:
    # No cast: the very expression of the source's index ``substr(birth_date, 1, 4)``.
    (column,) = element.clauses
    return compiler.process(sa.func.substr(column, _ONE, _FOUR), **kw)


def _band_of(born: sa.ColumnElement[Any], year: int) -> sa.ColumnElement[Any]:
    """The band label of a birth year (text), as SQL."""
    born_year = sa.cast(born, sa.Integer)
    whens = [
        (born_year > year - _BAND_WIDTH * (i + 1), sa.literal(band_label(i)))
        for i in range(_BANDS - 1)
    ]
    return sa.case(*whens, else_=sa.literal(band_label(_BANDS - 1)))


@dataclass(frozen=True)
class JoinedTable:
    """A second table of the same database joined to the counted one by NIK: its
    ``columns`` (field -> column) serve the fields the counted table lacks."""

    table: str
    columns: Mapping[str, str]
    key: str = "nik"
    schema: str | None = None


class CountPlan:
    """The statements answering one count query on ``table`` (``columns``: field ->
    column; ``household``: the family card column; ``key``: the NIK column), with the
    fields of ``joined`` read from that table, joined by NIK."""

    def __init__(
        self,
        table: str,
        columns: Mapping[str, str],
        household: str,
        query: CountQuery,
        *,
        schema: str | None = None,
        key: str = "nik",
        joined: JoinedTable | None = None,
    ) -> None:
        other = joined.columns if joined is not None else {}
        own = {f for f in query.fields() if f not in other}
        names = {columns[f] for f in own} | {household, key}
        self.t = sa.table(table, *(sa.column(c) for c in sorted(names)), schema=schema)
        self.source: sa.FromClause = self.t
        self.w: sa.TableClause | None = None
        if joined is not None:
            used = {joined.columns[f] for f in query.fields() if f in other} | {joined.key}
            self.w = sa.table(
                joined.table, *(sa.column(c) for c in sorted(used)), schema=joined.schema
            )
            self.source = self.t.join(self.w, self.t.c[key] == self.w.c[joined.key])
        self.columns = columns
        self.other = other
        self.query = query
        self.key = self.t.c[key]
        self.hh = self.t.c[household]
        self.width = len(query.group_by)

    def _row_expr(self, field: str) -> sa.ColumnElement[Any]:
        """A field of one resident's row; the age band as the birth year."""
        if field == AGE_BAND:
            return _BirthYear(self.t.c[self.columns["birth_date"]])
        if self.w is not None and field in self.other:
            # As text: a decile is an integer in one registry and compared with "3".
            return sa.cast(self.w.c[self.other[field]], sa.String(32))
        return self.t.c[self.columns[field]]

    def _where(self) -> list[sa.ColumnElement[bool]]:
        out: list[sa.ColumnElement[bool]] = []
        for field, values in sorted(self.query.filters.items()):
            if field == AGE_BAND:
                born = self._row_expr(field)
                out.append(sa.or_(*(_in_band(born, v, self.query.year) for v in sorted(values))))
            else:
                out.append(self._row_expr(field).in_(list(values)))
        return out

    def _grouped(self, *, by_household: bool) -> sa.Subquery:
        """Residents per cell (and per household), the age band still a birth year."""
        dims = [self._row_expr(f).label(f"d{i}") for i, f in enumerate(self.query.group_by)]
        extra = [self.hh.label("hh")] if by_household else []
        return (
            sa.select(*dims, *extra, sa.func.count().label("n"))
            .select_from(self.source)
            .where(*self._where())
            .group_by(*(d.element for d in dims), *(e.element for e in extra))
            .subquery("grouped")
        )

    def _folded(self, sub: sa.Subquery) -> list[sa.ColumnElement[Any]]:
        """The cell key over ``sub``'s rows: each birth year folded into its band."""
        return [
            (_band_of(sub.c[f"d{i}"], self.query.year) if f == AGE_BAND else sub.c[f"d{i}"]).label(
                f"k{i}"
            )
            for i, f in enumerate(self.query.group_by)
        ]

    def counts(self) -> sa.Select[Any]:
        """One row per non-empty cell: its key and its count (residents or households)."""
        if self.query.unit == "households":
            # A household is counted once per cell; the dimensions are household-level.
            sub = self._grouped(by_household=True)
            keys = self._folded(sub)
            return sa.select(*keys, sa.func.count(sa.distinct(sub.c.hh))).group_by(*keys)
        sub = self._grouped(by_household=False)
        keys = self._folded(sub)
        return sa.select(*keys, sa.func.sum(sub.c.n)).group_by(*keys)

    def _per_household(self, condition: sa.ColumnElement[bool]) -> sa.Subquery:
        """Each household's residents in each cell (of the rows meeting ``condition``)."""
        dims = [self._row_expr(f).label(f"d{i}") for i, f in enumerate(self.query.group_by)]
        per_year = (
            sa.select(*dims, self.hh.label("hh"), sa.func.count().label("n"))
            .select_from(self.source)
            .where(*self._where(), condition)
            .group_by(*(d.element for d in dims), self.hh)
            .subquery("per_year")
        )
        keys = self._folded(per_year)
        return (
            sa.select(*keys, per_year.c.hh, sa.func.sum(per_year.c.n).label("m"))
            .group_by(*keys, per_year.c.hh)
            .subquery("per_household")
        )

    def _largest(self, condition: sa.ColumnElement[bool]) -> sa.Select[Any]:
        per_cell = self._per_household(condition)
        cell = [per_cell.c[f"k{i}"] for i in range(self.width)]
        return sa.select(*cell, sa.func.max(per_cell.c.m)).group_by(*cell)

    def among(self, niks: Sequence[str]) -> sa.Select[Any]:
        """Among the residents ``niks`` only: each cell's count and largest household
        (whatever its share), in one statement of per-household groups."""
        per_cell = self._per_household(self.key.in_(list(niks)))
        cell = [per_cell.c[f"k{i}"] for i in range(self.width)]
        return sa.select(*cell, sa.func.sum(per_cell.c.m), sa.func.max(per_cell.c.m)).group_by(
            *cell
        )

    def _big(self) -> sa.Select[Any]:
        return sa.select(self.hh).group_by(self.hh).having(sa.func.count() > BIG_HOUSEHOLD)

    def big_household_count(self) -> sa.Select[Any]:
        """How many households of the table have more than ``BIG_HOUSEHOLD`` members."""
        return sa.select(sa.func.count()).select_from(self._big().subquery("big"))

    def big_households(self) -> sa.Select[Any]:
        """The largest household of more than ``BIG_HOUSEHOLD`` members in each cell."""
        return self._largest(self.hh.in_(self._big().scalar_subquery()))

    def small_cells(self, keys: Sequence[tuple[str, ...]]) -> sa.Select[Any]:
        """The largest household of each of the cells ``keys``, all households."""
        if len(keys) > _SMALL_CELLS:
            return self._largest(sa.true())
        exprs = [self._row_expr(f) for f in self.query.group_by]
        cells = [
            sa.and_(
                *(
                    _in_band(e, v, self.query.year) if f == AGE_BAND else e == v
                    for f, e, v in zip(self.query.group_by, exprs, key, strict=True)
                )
            )
            for key in keys
        ]
        return self._largest(sa.or_(*cells))


def _key(row: Sequence[Any], width: int) -> tuple[str, ...]:
    return tuple(str(v) for v in row[:width])


async def count_rows(
    plan: CountPlan, run: Callable[[sa.Select[Any]], Awaitable[Sequence[Sequence[Any]]]]
) -> list[CountRow]:
    """The cells of ``plan``'s query, each statement run by ``run`` (the count and the
    number of large households at once, then the large households' and the small
    cells' statements where there are any)."""
    w = plan.width
    if plan.query.unit == "households":
        return [CountRow(_key(r, w), int(r[w]), 1) for r in await run(plan.counts())]
    counted, big = await asyncio.gather(run(plan.counts()), run(plan.big_household_count()))
    counts = {_key(r, w): int(r[w]) for r in counted}
    largest: dict[tuple[str, ...], int] = {}
    if big[0][0]:
        largest = {_key(r, w): int(r[w]) for r in await run(plan.big_households())}
    small = [k for k, n in counts.items() if n <= 2 * BIG_HOUSEHOLD]
    if small:
        for r in await run(plan.small_cells(small)):
            largest[_key(r, w)] = max(largest.get(_key(r, w), 0), int(r[w]))
    out: list[CountRow] = []
    for key, n in counts.items():
        top = largest.get(key, 0)
        out.append(CountRow(key, n, top if 2 * top > n else 0))
    return out
