"""Grouped counts computed by the source database: ``GROUP BY`` pushed down.

A count query names the fields to group by (an age band is derived from the birth date
in SQL), the filters (each a field and the values it may take) and the unit (residents,
or households by their family card number). One statement answers it: an inner
``GROUP BY`` of the dimensions and the household gives each household's residents per
cell, the outer one sums them and keeps the largest household of each cell (for the
dominance rule). No row of a resident leaves the database; the result has one row per
non-empty cell. Built with SQLAlchemy Core, portable across SQLite, PostgreSQL and
MariaDB.
"""

from __future__ import annotations

from collections.abc import Mapping, Sequence
from dataclasses import dataclass
from typing import Any

import sqlalchemy as sa

__all__ = ["AGE_BAND", "CountQuery", "CountRow", "count_statement"]

#: The derived dimension computed from the birth date.
AGE_BAND = "age_band"
_BAND_WIDTH, _BANDS = 5, 18


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
    largest_household: int


def band_label(index: int) -> str:
    start = index * _BAND_WIDTH
    return f"{start}+" if index == _BANDS - 1 else f"{start}-{start + _BAND_WIDTH - 1}"


def _age_band(birth: sa.ColumnElement[Any], year: int) -> sa.ColumnElement[Any]:
    # The year as the first four characters of the ISO date: the same SQL whether the
    # column is a DATE or ISO text, on SQLite, PostgreSQL and MariaDB.
    born = sa.cast(sa.func.substr(sa.cast(birth, sa.String(32)), 1, 4), sa.Integer)
    whens = [
        (born > year - _BAND_WIDTH * (i + 1), sa.literal(band_label(i))) for i in range(_BANDS - 1)
    ]
    return sa.case(*whens, else_=sa.literal(band_label(_BANDS - 1)))


def count_statement(
    table: str,
    columns: Mapping[str, str],
    household: str,
    query: CountQuery,
    *,
    schema: str | None = None,
) -> sa.Select[Any]:
    """The one statement answering ``query`` on ``table`` (``columns``: field -> column)."""
    names = {columns[f] for f in query.fields()} | {household}
    t = sa.table(table, *(sa.column(c) for c in sorted(names)), schema=schema)

    def expr(field: str) -> sa.ColumnElement[Any]:
        if field == AGE_BAND:
            return _age_band(t.c[columns["birth_date"]], query.year)
        return t.c[columns[field]]

    dims = [expr(f).label(f"d{i}") for i, f in enumerate(query.group_by)]
    hh = t.c[household].label("hh")
    where = [expr(f).in_(list(values)) for f, values in sorted(query.filters.items())]
    inner = (
        sa.select(*dims, hh, sa.func.count().label("n"))
        .where(*where)
        .group_by(*(d.element for d in dims), t.c[household])
        .subquery("per_household")
    )
    keys = [inner.c[f"d{i}"] for i in range(len(dims))]
    if query.unit == "households":
        total: sa.ColumnElement[Any] = sa.func.count()
        largest: sa.ColumnElement[Any] = sa.literal(1)
    else:
        total, largest = sa.func.sum(inner.c.n), sa.func.max(inner.c.n)
    return sa.select(*keys, total.label("count"), largest.label("largest")).group_by(*keys)


def rows_of(result: Sequence[Sequence[Any]], width: int) -> list[CountRow]:
    return [
        CountRow(tuple(str(v) for v in row[:width]), int(row[width]), int(row[width + 1]))
        for row in result
    ]
