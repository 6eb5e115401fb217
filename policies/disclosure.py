"""Statistical disclosure control of a count table: noise, primary and secondary
suppression. Pure: given counts and a random source, it returns the table to release.

The rules, and where they come from:

* **Noise first (differential privacy, as the US Census Bureau's TopDown).** Every cell
  of the full cross-classification, zeros included, gets discrete Laplace noise of scale
  ``1/epsilon`` from the injected :class:`NoiseSource` (OpenDP's exact sampler of
  Canonne, Kamath and Steinke 2020, in integer arithmetic, so no floating-point side
  channel). A resident falls in exactly one cell,
  so one query spends ``epsilon``; a budget per agency and period caps the sum. Noisy
  cells are clamped at zero and the margins and the total are *sums of the noisy cells*
  (post-processing), so the table adds up. Two answers whose difference isolates a few
  residents ("kelurahan X" and "kelurahan X without the 0-4 band") are never both exact.
* **Primary suppression (ACRO's threshold rule, τ-Argus's minimum frequency).** Every
  cell, margin or total under ``min_cell`` is suppressed, zeros too, so that a
  suppressed mark does not say "someone is here". A cell where one household holds more
  than half of the residents is suppressed too (ACRO's / τ-Argus's (n, k) dominance rule
  with n = 1, k = 50 %), decided on the true household shares the source gives.
* **Secondary suppression (τ-Argus's complementary suppression).** The released cells,
  margins and total are linear equations in the suppressed ones. A suppressed value is
  pinned when the equations alone determine it (its unit vector lies in the row space of
  the equations over the suppressed values) or when the equations with ``x >= 0`` leave
  it one value (interval propagation). While any suppressed value is pinned, the
  smallest released value of an equation holding it is suppressed as well. If nothing
  is left to suppress, the whole table is suppressed.

The row space is computed modulo the prime 2**61 - 1: the equations have coefficients
0 and ±1, and their rank modulo that prime equals the rational rank unless the prime
divides a minor, which the tests check against exact enumeration on small tables.
"""

from __future__ import annotations

import itertools
from collections.abc import Mapping, Sequence
from dataclasses import dataclass
from fractions import Fraction
from functools import lru_cache
from typing import Protocol

__all__ = [
    "DOMINANCE_SHARE",
    "Equation",
    "NoiseSource",
    "ProtectedTable",
    "Structure",
    "pinned",
    "protect",
    "structure",
]

Key = tuple[str, ...]
#: A cell is dominated when its largest household holds more than this share of it.
DOMINANCE_SHARE = Fraction(1, 2)
_PRIME = (1 << 61) - 1


class NoiseSource(Protocol):
    """The sampler of the noise (OpenDP's discrete Laplace in service,
    ``gateway.statistics.noise``): ``counts`` back, each with independent discrete
    Laplace noise, the whole vector spending ``epsilon``."""

    def noisy_counts(self, counts: Sequence[int], epsilon: Fraction, /) -> list[int]: ...


# -- the table's equations ------------------------------------------------------------


@dataclass(frozen=True)
class Equation:
    """``sum(coefficient * value) == 0`` over the table's values (cells, margins, total)."""

    terms: tuple[tuple[int, int], ...]  # (value index, coefficient)


@dataclass(frozen=True)
class Structure:
    """The values of a table with its margins and total, and the equations between them.

    Values are numbered: the cells (the full cross product, row-major), then the margins
    ``(dimension index, category)`` of each dimension (none for a single dimension, whose
    margins are its cells), then the total."""

    dimensions: tuple[str, ...]
    categories: tuple[tuple[str, ...], ...]
    keys: tuple[Key, ...]
    margins: tuple[tuple[int, str], ...]
    equations: tuple[Equation, ...]
    cell_margins: tuple[tuple[int, ...], ...]  # per cell, the margins it adds to
    holding: tuple[tuple[int, ...], ...]  # per value, the equations that hold it

    @property
    def total_index(self) -> int:
        return len(self.keys) + len(self.margins)

    @property
    def size(self) -> int:
        return self.total_index + 1


def structure(dimensions: Sequence[str], categories: Sequence[Sequence[str]]) -> Structure:
    if len(dimensions) != len(categories) or not dimensions:
        raise ValueError("one list of categories per dimension, at least one dimension")
    return _structure(tuple(dimensions), tuple(tuple(c) for c in categories))


@lru_cache(maxsize=64)
def _structure(dimensions: tuple[str, ...], cats: tuple[tuple[str, ...], ...]) -> Structure:
    """Built once per shape: a gateway asks for a handful of table shapes, over and over."""
    keys = tuple(itertools.product(*cats))
    n = len(keys)
    margins: list[tuple[int, str]] = []
    holds: list[list[int]] = []  # per margin, the cells it sums
    equations: list[Equation] = []
    total = n + (sum(len(c) for c in cats) if len(cats) > 1 else 0)
    if len(cats) == 1:
        equations.append(Equation(((total, 1), *((i, -1) for i in range(n)))))
        cell_margins: tuple[tuple[int, ...], ...] = tuple(() for _ in keys)
    else:
        first_of: list[dict[str, int]] = []
        for d, values in enumerate(cats):
            first = n + len(margins)
            first_of.append({v: first + o for o, v in enumerate(values)})
            margins.extend((d, v) for v in values)
            holds.extend([] for _ in values)
        cell_margins = tuple(tuple(first_of[d][v] for d, v in enumerate(key)) for key in keys)
        for i, ms in enumerate(cell_margins):
            for m in ms:
                holds[m - n].append(i)
        start = n
        for values in cats:  # each dimension's margins, then the total as their sum
            for j in range(start, start + len(values)):
                equations.append(Equation(((j, 1), *((i, -1) for i in holds[j - n]))))
            equations.append(
                Equation(((total, 1), *((j, -1) for j in range(start, start + len(values)))))
            )
            start += len(values)
    holding: list[list[int]] = [[] for _ in range(total + 1)]
    for e, eq in enumerate(equations):
        for i, _ in eq.terms:
            holding[i].append(e)
    return Structure(
        dimensions,
        cats,
        keys,
        tuple(margins),
        tuple(equations),
        cell_margins,
        tuple(tuple(h) for h in holding),
    )


# -- pinned values ---------------------------------------------------------------------


def _determined(st: Structure, suppressed: set[int]) -> set[int]:
    """Suppressed values the equations determine whatever the released values are."""
    rows: list[dict[int, int]] = []
    for eq in st.equations:
        row = {i: c % _PRIME for i, c in eq.terms if i in suppressed}
        if row:
            rows.append(row)
    pivots: list[tuple[int, dict[int, int]]] = []
    for row in rows:
        for col, prow in pivots:
            factor = row.get(col)
            if factor:
                for k, v in prow.items():
                    nv = (row.get(k, 0) - factor * v) % _PRIME
                    if nv:
                        row[k] = nv
                    else:
                        row.pop(k, None)
        if not row:
            continue
        col = min(row)
        inv = pow(row[col], _PRIME - 2, _PRIME)
        row = {k: v * inv % _PRIME for k, v in row.items()}
        for _, prow in pivots:  # keep the basis reduced
            factor = prow.get(col)
            if factor:
                for k, v in row.items():
                    nv = (prow.get(k, 0) - factor * v) % _PRIME
                    if nv:
                        prow[k] = nv
                    else:
                        prow.pop(k, None)
        pivots.append((col, row))
    return {col for col, row in pivots if len(row) == 1}


def _bound_pinned(st: Structure, values: Sequence[int], suppressed: set[int]) -> set[int]:
    """Suppressed values that ``x >= 0`` and interval propagation leave a single value."""
    big = sum(values[i] for i in range(len(st.keys))) + 1
    lo = {i: 0 for i in suppressed}
    hi = {i: big for i in suppressed}
    touched = sorted({e for i in suppressed for e in st.holding[i]})
    for _ in range(8):
        changed = False
        for eq in (st.equations[e] for e in touched):
            known = sum(c * values[i] for i, c in eq.terms if i not in suppressed)
            unknown = [(i, c) for i, c in eq.terms if i in suppressed]
            all_lo = sum(cj * (lo[j] if cj > 0 else hi[j]) for j, cj in unknown)
            all_hi = sum(cj * (hi[j] if cj > 0 else lo[j]) for j, cj in unknown)
            for i, c in unknown:
                # c * x_i = -known - sum(others); the others' bounds are all but x_i's own
                rest_lo = all_lo - c * (lo[i] if c > 0 else hi[i])
                rest_hi = all_hi - c * (hi[i] if c > 0 else lo[i])
                a, b = -known - rest_hi, -known - rest_lo
                if c < 0:
                    a, b = -b, -a
                if a > lo[i]:
                    lo[i], changed = a, True
                if b < hi[i]:
                    hi[i], changed = b, True
        if not changed:
            break
    return {i for i in suppressed if lo[i] >= hi[i]}


def pinned(st: Structure, values: Sequence[int], suppressed: set[int]) -> set[int]:
    """The suppressed values a reader of the released ones can recompute."""
    return _determined(st, suppressed) | _bound_pinned(st, values, suppressed)


# -- protecting a table ----------------------------------------------------------------


@dataclass(frozen=True)
class ProtectedTable:
    """The table to release: ``None`` for a suppressed value."""

    structure: Structure
    values: tuple[int | None, ...]
    primary: int
    secondary: int

    @property
    def suppressed(self) -> int:
        return self.primary + self.secondary

    def cells(self) -> list[tuple[Key, int | None]]:
        return [(k, self.values[i]) for i, k in enumerate(self.structure.keys)]

    def margins(self) -> list[tuple[str, str, int | None]]:
        n = len(self.structure.keys)
        return [
            (self.structure.dimensions[d], value, self.values[n + j])
            for j, (d, value) in enumerate(self.structure.margins)
        ]

    @property
    def total(self) -> int | None:
        return self.values[self.structure.total_index]


def protect(
    dimensions: Sequence[str],
    categories: Sequence[Sequence[str]],
    counts: Mapping[Key, int],
    *,
    min_cell: int,
    epsilon: Fraction | None,
    noise: NoiseSource | None = None,
    largest_household: Mapping[Key, int] | None = None,
) -> ProtectedTable:
    """Noise (when ``epsilon`` is given, from ``noise``), then primary and secondary
    suppression."""
    if min_cell < 1:
        raise ValueError("min_cell must be at least 1")
    st = structure(dimensions, categories)
    true = [counts.get(key, 0) for key in st.keys]
    if epsilon is None:
        cells = true
    elif noise is None:
        raise ValueError("a noisy table needs a noise source")
    else:
        cells = [max(0, c) for c in noise.noisy_counts(true, epsilon)]
        if len(cells) != len(true):
            raise ValueError("the noise source answered another number of cells")
    values = _complete(st, cells)
    suppressed = {i for i, v in enumerate(values) if v < min_cell}
    if largest_household:
        share = DOMINANCE_SHARE
        for i, key in enumerate(st.keys):
            top = largest_household.get(key, 0)
            if true[i] and top * share.denominator > share.numerator * true[i]:
                suppressed.add(i)
    primary = len(suppressed)
    suppressed = _secondary(st, values, suppressed)
    out = tuple(None if i in suppressed else v for i, v in enumerate(values))
    return ProtectedTable(st, out, primary, len(suppressed) - primary)


def _complete(st: Structure, cells: Sequence[int]) -> list[int]:
    values = list(cells) + [0] * (st.size - len(cells))
    for c, ms in zip(cells, st.cell_margins, strict=True):
        for m in ms:
            values[m] += c
    values[st.total_index] = sum(cells)
    return values


def _secondary(st: Structure, values: Sequence[int], suppressed: set[int]) -> set[int]:
    suppressed = set(suppressed)
    total = st.total_index
    while suppressed:
        exposed = pinned(st, values, suppressed)
        if not exposed:
            return suppressed
        added = False
        for i in sorted(exposed):  # one partner for each pinned value, then look again
            if i in suppressed and _complement(st, values, suppressed, i, total):
                added = True
        if not added:
            return set(range(st.size))
    return suppressed


def _complement(
    st: Structure, values: Sequence[int], suppressed: set[int], i: int, total: int
) -> bool:
    """Suppress the best released partner of ``i``: in the equation holding ``i`` with
    the fewest suppressed values, the smallest nonzero released cell (then margin, then
    the total last)."""
    holding = [st.equations[e] for e in st.holding[i]]
    holding.sort(key=lambda eq: sum(1 for j, _ in eq.terms if j in suppressed))
    for eq in holding:
        free = [j for j, _ in eq.terms if j not in suppressed]
        if not free:
            continue
        best = min(free, key=lambda j: (j == total, j >= len(st.keys), values[j] == 0, values[j]))
        suppressed.add(best)
        return True
    return False
