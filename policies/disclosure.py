"""Statistical disclosure control of a count table: noise, primary and secondary
suppression. Pure: given counts and a random source, it returns the table to release.

The rules, and where they come from:

* **Noise first (differential privacy, as the US Census Bureau's TopDown).** Every cell
  of the full cross-classification, zeros included, gets discrete Laplace noise of scale
  ``1/epsilon`` (the exact sampler of Canonne, Kamath and Steinke 2020, in rational
  arithmetic, so no floating-point side channel). A resident falls in exactly one cell,
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
from typing import Protocol

__all__ = [
    "DOMINANCE_SHARE",
    "Equation",
    "ProtectedTable",
    "RandomSource",
    "Structure",
    "discrete_laplace",
    "pinned",
    "protect",
    "structure",
]

Key = tuple[str, ...]
#: A cell is dominated when its largest household holds more than this share of it.
DOMINANCE_SHARE = Fraction(1, 2)
_PRIME = (1 << 61) - 1


class RandomSource(Protocol):
    """What the sampler needs of a random generator (``secrets.SystemRandom`` in service)."""

    def randrange(self, stop: int, /) -> int: ...


# -- noise ----------------------------------------------------------------------------


def _bernoulli(p: Fraction, rng: RandomSource) -> bool:
    return rng.randrange(p.denominator) < p.numerator


def _bernoulli_exp(gamma: Fraction, rng: RandomSource) -> bool:
    """True with probability exp(-gamma), gamma >= 0, exactly (CKS20, Algorithm 1)."""
    while gamma > 1:
        if not _bernoulli_exp(Fraction(1), rng):
            return False
        gamma -= 1
    k = 1
    while _bernoulli(gamma / k, rng):
        k += 1
    return k % 2 == 1


def discrete_laplace(scale: Fraction, rng: RandomSource) -> int:
    """An integer with P(x) proportional to exp(-|x| / scale) (CKS20, Algorithm 2)."""
    if scale <= 0:
        raise ValueError("the scale must be positive")
    t, s = scale.numerator, scale.denominator  # scale t/s
    while True:
        u = rng.randrange(t)
        if not _bernoulli_exp(Fraction(u, t), rng):
            continue
        v = 0
        while _bernoulli_exp(Fraction(1), rng):
            v += 1
        y = (u + t * v) // s
        negative = rng.randrange(2) == 1
        if negative and y == 0:
            continue
        return -y if negative else y


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

    @property
    def total_index(self) -> int:
        return len(self.keys) + len(self.margins)

    @property
    def size(self) -> int:
        return self.total_index + 1


def structure(dimensions: Sequence[str], categories: Sequence[Sequence[str]]) -> Structure:
    if len(dimensions) != len(categories) or not dimensions:
        raise ValueError("one list of categories per dimension, at least one dimension")
    cats = tuple(tuple(c) for c in categories)
    keys = tuple(itertools.product(*cats))
    index = {k: i for i, k in enumerate(keys)}
    n = len(keys)
    equations: list[Equation] = []
    margins: list[tuple[int, str]] = []
    total = n + (sum(len(c) for c in cats) if len(cats) > 1 else 0)
    if len(cats) == 1:
        equations.append(Equation(((total, 1), *((i, -1) for i in range(n)))))
    else:
        for d, values in enumerate(cats):
            first = n + len(margins)
            for offset, value in enumerate(values):
                m = first + offset
                margins.append((d, value))
                members = [index[k] for k in keys if k[d] == value]
                equations.append(Equation(((m, 1), *((i, -1) for i in members))))
            equations.append(Equation(((total, 1), *((first + o, -1) for o in range(len(values))))))
    return Structure(tuple(dimensions), cats, keys, tuple(margins), tuple(equations))


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
    for _ in range(8):
        changed = False
        for eq in st.equations:
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
    rng: RandomSource,
    largest_household: Mapping[Key, int] | None = None,
) -> ProtectedTable:
    """Noise (when ``epsilon`` is given), then primary and secondary suppression."""
    if min_cell < 1:
        raise ValueError("min_cell must be at least 1")
    st = structure(dimensions, categories)
    cells: list[int] = []
    for key in st.keys:
        count = counts.get(key, 0)
        if epsilon is not None:
            count = max(0, count + discrete_laplace(1 / epsilon, rng))
        cells.append(count)
    values = _complete(st, cells)
    suppressed = {i for i, v in enumerate(values) if v < min_cell}
    for i, key in enumerate(st.keys):
        top = (largest_household or {}).get(key, 0)
        true = counts.get(key, 0)
        if true and Fraction(top, true) > DOMINANCE_SHARE:
            suppressed.add(i)
    primary = len(suppressed)
    suppressed = _secondary(st, values, suppressed)
    out = tuple(None if i in suppressed else v for i, v in enumerate(values))
    return ProtectedTable(st, out, primary, len(suppressed) - primary)


def _complete(st: Structure, cells: Sequence[int]) -> list[int]:
    values = list(cells) + [0] * (st.size - len(cells))
    n = len(st.keys)
    for j, (d, value) in enumerate(st.margins):
        values[n + j] = sum(c for k, c in zip(st.keys, cells, strict=True) if k[d] == value)
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
    holding = [eq for eq in st.equations if any(j == i for j, _ in eq.terms)]
    holding.sort(key=lambda eq: sum(1 for j, _ in eq.terms if j in suppressed))
    for eq in holding:
        free = [j for j, _ in eq.terms if j not in suppressed]
        if not free:
            continue
        best = min(free, key=lambda j: (j == total, j >= len(st.keys), values[j] == 0, values[j]))
        suppressed.add(best)
        return True
    return False
