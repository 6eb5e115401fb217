"""Disclosure control of count tables: noise, primary and secondary suppression.

The secondary-suppression property is checked by an attacker who solves for the
suppressed values by exact integer enumeration: for every suppressed value the
released table must admit a second solution in which it differs.
"""

from __future__ import annotations

import itertools
from collections.abc import Sequence

from hypothesis import HealthCheck, given, settings
from hypothesis import strategies as st

from policies.disclosure import (
    ProtectedTable,
    Structure,
    pinned,
    protect,
    structure,
)

SETTINGS = settings(max_examples=60, deadline=None, suppress_health_check=[HealthCheck.too_slow])


def _solutions_differ(table: ProtectedTable, true_cells: Sequence[int], bound: int) -> set[int]:
    """The suppressed values (indices) for which some assignment of the suppressed cells,
    consistent with everything released and with counts >= 0, gives another value."""
    st_ = table.structure
    n = len(st_.keys)
    hidden_cells = [i for i in range(n) if table.values[i] is None]
    hidden = {i for i, v in enumerate(table.values) if v is None}
    movable: set[int] = set()
    for combo in itertools.product(range(bound + 1), repeat=len(hidden_cells)):
        cells = list(true_cells)
        for i, v in zip(hidden_cells, combo, strict=True):
            cells[i] = v
        values = _complete(st_, cells)
        released = table.values
        if any(released[i] is not None and released[i] != values[i] for i in range(st_.size)):
            continue
        truth = _complete(st_, list(true_cells))
        movable |= {i for i in hidden if values[i] != truth[i]}
    return movable


def _complete(st_: Structure, cells: list[int]) -> list[int]:
    out = list(cells)
    for d, value in st_.margins:
        out.append(sum(c for k, c in zip(st_.keys, cells, strict=True) if k[d] == value))
    out.append(sum(cells))
    return out


@st.composite
def tables(draw: st.DrawFn) -> tuple[list[list[str]], list[int]]:
    shape = draw(st.sampled_from([(2, 2), (2, 3), (3, 2), (3, 3), (4,), (2, 2, 2)]))
    cats = [[f"{d}{v}" for v in range(size)] for d, size in enumerate(shape)]
    n = 1
    for size in shape:
        n *= size
    counts = draw(st.lists(st.integers(0, 7), min_size=n, max_size=n))
    return cats, counts


@SETTINGS
@given(tables(), st.integers(2, 6))
def test_no_suppressed_value_can_be_solved(
    table: tuple[list[list[str]], list[int]], k: int
) -> None:
    cats, counts = table
    dims = [f"d{i}" for i in range(len(cats))]
    keys = list(itertools.product(*cats))
    released = protect(
        dims,
        cats,
        dict(zip(keys, counts, strict=True)),
        min_cell=k,
        epsilon=None,
    )
    hidden = {i for i, v in enumerate(released.values) if v is None}
    if len(hidden) == released.structure.size:
        return  # all withheld
    hidden_cells = sum(1 for i in range(len(keys)) if released.values[i] is None)
    if hidden_cells > 4:
        return  # beyond what enumeration can check quickly
    movable = _solutions_differ(released, counts, bound=min(14, sum(counts)))
    assert hidden <= movable, (cats, counts, k, released.values)


def test_primary_suppression_marks_every_small_cell_and_margin() -> None:
    cats = [["a", "b"], ["x", "y", "z"]]
    counts: dict[tuple[str, ...], int] = {
        ("a", "x"): 40,
        ("a", "y"): 3,
        ("a", "z"): 30,
        ("b", "x"): 25,
        ("b", "y"): 20,
        ("b", "z"): 12,
    }
    table = protect(["r", "s"], cats, counts, min_cell=10, epsilon=None)
    cells = dict(table.cells())
    assert cells[("a", "y")] is None
    assert table.primary == 1
    # The small cell shares row a and column y: one more in each is withheld.
    assert table.secondary >= 3
    assert not pinned(
        table.structure,
        _complete(table.structure, [40, 3, 30, 25, 20, 12]),
        {i for i, v in enumerate(table.values) if v is None},
    )
    assert table.total == 130


def test_a_cell_dominated_by_one_household_is_suppressed() -> None:
    cats = [["a", "b"], ["x", "y"]]
    counts: dict[tuple[str, ...], int] = {
        ("a", "x"): 12,
        ("a", "y"): 40,
        ("b", "x"): 30,
        ("b", "y"): 50,
    }
    table = protect(
        ["r", "s"],
        cats,
        counts,
        min_cell=10,
        epsilon=None,
        largest_household={("a", "x"): 7, ("a", "y"): 5},
    )
    assert dict(table.cells())[("a", "x")] is None
    assert dict(table.cells())[("a", "y")] is None  # its complement in the 2x2


def test_a_table_under_the_threshold_is_withheld_whole() -> None:
    table = protect(["r"], [["a", "b"]], {("a",): 2, ("b",): 3}, min_cell=10, epsilon=None)
    assert all(v is None for v in table.values)


def test_the_determined_check_finds_a_lone_suppressed_cell() -> None:
    st_ = structure(["r", "s"], [["a", "b"], ["x", "y"]])
    values = _complete(st_, [12, 3, 30, 50])
    assert pinned(st_, values, {1}) == {1}
    assert pinned(st_, values, {0, 1, 2, 3}) == set()
