"""Disclosure control: no hidden count can be worked out from what a published table shows.

The oracle is independent of `reports.disclosure`: scipy's linear programming finds, for each
hidden entry, the least and the greatest value it can take given every shown entry, the column
sums and (for tables whose rows add up) the row sums. Since those constraints form a network
matrix, the extremes are whole numbers, so "pinned" is exactly "least == greatest".
"""

from __future__ import annotations

import os
from collections.abc import Callable, Hashable, Iterable, Sequence
from decimal import Decimal
from typing import Any

import pytest
from hypothesis import given, settings
from hypothesis import strategies as st

from reports.disclosure import Entry, Grid, percent, pinned, suppress

linprog = pytest.importorskip("scipy.optimize").linprog

EXAMPLES = int(os.environ.get("WAYMARK_TEST_EXAMPLES", "150"))


def _constraints(grid: Grid) -> list[list[tuple[Entry, int]]]:
    """Each sum a reader knows, as the entries it adds (+1) and the total it equals (-1)."""
    h, w = grid.height, grid.width
    sums = [[((r, c), 1) for r in range(h)] + [((h, c), -1)] for c in range(w + 1)]
    if grid.rows_add_up:
        sums += [[((r, c), 1) for c in range(w)] + [((r, w), -1)] for r in range(h + 1)]
    if grid.subtotal is not None:  # the bases of those rows add up to the published subtotal
        sums.append([((r, w), 1) for r in sorted(grid.subtotal)] + [((h + 1, w), -1)])
    return sums


def oracle_pinned(grid: Grid, hidden: frozenset[Entry]) -> set[Entry]:
    return lp_pinned(sorted(hidden), _constraints(grid), grid.value)


def lp_pinned(
    unknowns: Sequence[Hashable], sums: Iterable[Sequence[tuple[Hashable, int]]], value: Callable[[Any], int]
) -> set[Hashable]:
    """The unknowns (hidden numbers, each 0 or more) that every solution of `sums` (each term's
    coefficient times its number adds up to 0; a known number's is `value(key)`) gives one value."""
    index = {e: i for i, e in enumerate(unknowns)}
    a_eq, b_eq = [], []
    for terms in sums:
        row = [0.0] * len(unknowns)
        known = 0
        for entry, coefficient in terms:
            if entry in index:
                row[index[entry]] += coefficient
            else:
                known += coefficient * value(entry)
        if any(row):
            a_eq.append(row)
            b_eq.append(-known)
    # An unknown is pinned when its least and greatest values are both its true value. Any solution
    # found on the way that gives another unknown a different value shows that one free as well,
    # so its own two programs are skipped (the answer is the same, with far fewer programs).
    free: set[Hashable] = set()
    for entry in unknowns:
        objective = [0.0] * len(unknowns)
        for direction in (1.0, -1.0):
            if entry in free:
                break
            objective[index[entry]] = direction
            result = linprog(objective, A_eq=a_eq or None, b_eq=b_eq or None, bounds=(0, None), method="highs")
            if result.status == 3:  # unbounded: it can grow without end
                free.add(entry)
                break
            assert result.status == 0, result.message  # the true table always fits
            free |= {e for e, i in index.items() if abs(result.x[i] - value(e)) > 1e-6}
    return set(unknowns) - free


counts = st.integers(min_value=0, max_value=12) | st.integers(min_value=0, max_value=3)


@st.composite
def grids(draw: st.DrawFn) -> Grid:
    height = draw(st.integers(min_value=1, max_value=4))
    width = draw(st.integers(min_value=1, max_value=5))
    cells = [[draw(counts) for _ in range(width)] for _ in range(height)]
    # Sometimes the bases of some rows have a published subtotal (a "Year 10 up" column's total).
    subtotal = draw(st.none() | st.sets(st.integers(min_value=0, max_value=height - 1)))
    if draw(st.booleans()):
        return Grid.of(cells, subtotal=subtotal)
    # Several measures of the same pupils: each cell at most its row's base.
    bases = [max(row, default=0) + draw(st.integers(min_value=0, max_value=6)) for row in cells]
    return Grid.of(cells, bases, rows_add_up=False, subtotal=subtotal)


@settings(max_examples=EXAMPLES, deadline=None)
@given(grids())
def test_no_hidden_count_can_be_worked_out(grid: Grid) -> None:
    published = suppress(grid)
    small = {e for e in grid.entries() if 1 <= grid.value(e) <= 4}
    assert small <= published.hidden
    if published.hidden != frozenset(grid.entries()):
        assert oracle_pinned(grid, published.hidden) == set()


@settings(max_examples=EXAMPLES // 3, deadline=None)
@given(grids())
def test_the_graph_test_agrees_with_linear_programming(grid: Grid) -> None:
    hidden = frozenset(e for e in grid.entries() if 1 <= grid.value(e) <= 4)
    assert pinned(grid, hidden) == oracle_pinned(grid, hidden)


def test_the_subtraction_from_the_issue_is_closed() -> None:
    # Year 3 by SEND: All 11 − No SEND 10 − EHC 0 left SEN support's "<5" to be read as 1.
    grid = Grid.of([[7, 3, 0], [1, 0, 0], [0, 0, 0]])  # No SEND, SEN support, EHC plan x Education, Employment, NEET
    published = suppress(grid)
    assert (1, 0) in published.hidden and (1, 3) in published.hidden
    assert oracle_pinned(grid, published.hidden) == set()


def test_shares_of_hidden_counts_or_hidden_bases_are_hidden() -> None:
    published = suppress(Grid.of([[30, 10, 2], [20, 20, 20]]))
    assert published.share(0, 2) is None
    assert published.share(1, 0) == Decimal(33)  # 20 of 60
    hidden_base = suppress(Grid.of([[3, 0], [20, 20]]))
    assert hidden_base.base(0) is None and hidden_base.share(0, 1) is None


@pytest.mark.parametrize(
    ("part", "whole", "places", "shown"),
    [(1, 40, 0, "3"), (3, 40, 0, "8"), (1, 8, 1, "12.5"), (1, 3, 1, "33.3"), (2, 3, 0, "67"), (0, 5, 0, "0")],
)
def test_percentages_round_halves_up(part: int, whole: int, places: int, shown: str) -> None:
    assert str(percent(part, whole, places)) == shown


def test_a_percentage_of_nobody_is_none() -> None:
    assert percent(0, 0) is None
