"""A published subtotal of some rows' bases (the "Year 10 up" column's total) in disclosure control.

The oracle here is brute force, independent of the graph model and of linear programming: it lists
every table of whole numbers of at least 0 that fits what a reader is shown (the shown entries,
every column adding up to its total, rows adding up to their bases where they do, and the subtotal
rows' bases adding up to the subtotal), and a hidden entry is pinned exactly when it takes one value
in all of them. Any other value a hidden entry can take is one step along a cycle away, so values up
to one more than the largest number in the table are enough to see it move.
"""

from __future__ import annotations

import os
from collections.abc import Iterator

import numpy
from hypothesis import example, given, settings
from hypothesis import strategies as st

from reports.disclosure import Entry, Grid, pinned, suppress
from reports.evidence import by_year_group
from reports.tables import Row, Table, publish
from storage.reports import PupilEvidence

EXAMPLES = int(os.environ.get("WAYMARK_TEST_EXAMPLES", "300"))
MOST_HIDDEN = 5  # brute force tries (largest + 2) ** hidden tables: keep it quick


def _numbers(cells: list[list[int]], bases: list[int], subtotal: set[int] | None) -> dict[Entry, int]:
    """Every entry of the grid with margins, from the cells alone (not from `Grid.value`)."""
    h, w = len(cells), len(cells[0])
    found = {(r, c): cells[r][c] for r in range(h) for c in range(w)}
    found |= {(r, w): bases[r] for r in range(h)}
    found |= {(h, c): sum(cells[r][c] for r in range(h)) for c in range(w)}
    found[(h, w)] = sum(bases)
    if subtotal is not None:
        found[(h + 1, w)] = sum(bases[r] for r in subtotal)
    return found


def _sums(h: int, w: int, rows_add_up: bool, subtotal: set[int] | None) -> list[list[tuple[Entry, int]]]:
    """Each sum a reader knows: the entries it adds (+1) and the one it equals (-1)."""
    sums = [[((r, c), 1) for r in range(h)] + [((h, c), -1)] for c in range(w + 1)]
    if rows_add_up:
        sums += [[((r, c), 1) for c in range(w)] + [((r, w), -1)] for r in range(h + 1)]
    if subtotal is not None:
        sums.append([((r, w), 1) for r in sorted(subtotal)] + [((h + 1, w), -1)])
    return sums


def brute_pinned(
    cells: list[list[int]], bases: list[int], rows_add_up: bool, subtotal: set[int] | None, hidden: set[Entry]
) -> set[Entry]:
    numbers = _numbers(cells, bases, subtotal)
    h, w = len(cells), len(cells[0])
    order = sorted(hidden)
    if not order:
        return set()
    # Every candidate table at once (numpy): one row per table, one column per hidden entry.
    values = numpy.arange(max(numbers.values()) + 2)
    tables = numpy.stack(numpy.meshgrid(*[values] * len(order), indexing="ij"), -1).reshape(-1, len(order))
    fits = numpy.ones(len(tables), dtype=bool)
    for terms in _sums(h, w, rows_add_up, subtotal):
        total = numpy.zeros(len(tables), dtype=numpy.int64)
        for entry, sign in terms:
            total += sign * (tables[:, order.index(entry)] if entry in hidden else numbers[entry])
        fits &= total == 0
    found = tables[fits]
    assert len(found), "the true table always fits"
    return {e for i, e in enumerate(order) if len(numpy.unique(found[:, i])) == 1}


@st.composite
def cases(draw: st.DrawFn) -> tuple[list[list[int]], list[int], bool, set[int] | None, set[Entry]]:
    h = draw(st.integers(min_value=1, max_value=3))
    w = draw(st.integers(min_value=1, max_value=2))
    small = st.just(0) | st.integers(min_value=0, max_value=3)  # zeros often: a hidden 0 can only go up
    cells = [[draw(small) for _ in range(w)] for _ in range(h)]
    rows_add_up = draw(st.booleans())
    bases = [sum(row) if rows_add_up else max(row) + draw(small) for row in cells]
    subtotal = draw(st.none() | st.sets(st.integers(min_value=0, max_value=h - 1)))
    everything = sorted(_numbers(cells, bases, subtotal))
    hidden = draw(st.sets(st.sampled_from(everything), max_size=MOST_HIDDEN))
    return cells, bases, rows_add_up, subtotal, hidden


@settings(max_examples=EXAMPLES, deadline=None)
@given(cases())
@example(([[0]], [0], False, {0}, {(0, 0), (0, 1), (1, 0), (1, 1), (2, 1)}))  # a subtotal of 0, hidden
def test_the_graph_model_with_a_subtotal_agrees_with_brute_force(
    case: tuple[list[list[int]], list[int], bool, set[int] | None, set[Entry]],
) -> None:
    cells, bases, rows_add_up, subtotal, hidden = case
    grid = Grid.of(cells, bases, rows_add_up=rows_add_up, subtotal=subtotal)
    assert pinned(grid, frozenset(hidden)) == brute_pinned(cells, bases, rows_add_up, subtotal, hidden)


def _lone_hidden_base() -> Iterator[tuple[set[Entry], set[Entry]]]:
    # Years 7, 11 and 12, one measure: Year 7's base 3 is hidden alone (its cell 0 is shown).
    yield {(0, 1)}, {(0, 1)}  # All 23 - Year 10 up 20 = 3: pinned, the leak from the last session
    yield {(0, 1), (1, 1)}, {(0, 1), (1, 1)}  # hiding Year 11 too does not help: 11 + 12 = 20 is known
    yield {(0, 1), (1, 1), (4, 1), (3, 1)}, set()  # Year 11's base with the subtotal and the grand total


def test_a_lone_hidden_year7_base_is_pinned_by_all_less_year10_up() -> None:
    cells, bases, subtotal = [[0], [5], [6]], [3, 9, 11], {1, 2}
    grid = Grid.of(cells, bases, rows_add_up=False, subtotal=subtotal)
    for hidden, stuck in _lone_hidden_base():
        assert pinned(grid, frozenset(hidden)) == stuck == brute_pinned(cells, bases, False, subtotal, hidden)
    published = suppress(grid)
    assert (0, 1) in published.hidden
    assert brute_pinned(cells, bases, False, subtotal, set(published.hidden)) == set()


def test_year10_up_copies_are_hidden_with_their_bases_and_its_total_with_the_subtotal() -> None:
    # Year 7 (3 pupils, so hidden), Year 11 (9) and Year 12 (11): "Year 10 up" is 0, 9 and 11.
    rows = [
        PupilEvidence(7, frozenset(), 3, 0, 0, 0, 0, 0, 0, 0, 0, 0, 0),
        PupilEvidence(11, frozenset(), 9, 5, 0, 0, 0, 0, 9, 9, 0, 0, 0),
        PupilEvidence(12, frozenset(), 11, 6, 0, 0, 0, 0, 11, 11, 0, 0, 0),
    ]
    table = by_year_group(rows)
    shown = publish(table, suppress_small=True)
    width, upper = len(table.columns), table.columns.index("Year 10 up")
    assert shown.base(0) is None  # Year 7's 3 pupils
    assert shown.count(0, upper) == 0  # below Year 10 there is nobody in Year 10 up: shown, it gives nothing away
    for row in (1, 2, 3):  # Year 11, Year 12 and All: each copy as its base, the total as the subtotal
        base_hidden = (row, width) in shown.hidden
        assert ((row, upper) in shown.hidden) == (base_hidden if row < 3 else (3, upper) in shown.hidden)
    # All less Year 10 up less nothing else would be Year 7's 3: one of them is hidden.
    assert shown.base(3) is None or shown.count(3, upper) is None or shown.base(1) is None


def test_a_column_that_is_neither_the_base_nor_zero_is_refused() -> None:
    rows = [PupilEvidence(11, frozenset(), 9, 5, 0, 0, 0, 0, 7, 7, 0, 0, 0)]
    try:
        publish(by_year_group(rows), suppress_small=True)
    except ValueError as error:
        assert "Year 10 up" in str(error) and "Year 11" in str(error)
    else:
        raise AssertionError("a 'Year 10 up' of 7 in a year of 9 pupils was taken for a copy")


def test_a_copy_of_the_base_among_the_columns_that_add_up_to_it_is_refused() -> None:
    table = Table("t", "Year group", "Pupils", ("A", "B"), (Row("Year 11", 5, (5, 0)),), adds_up=2, copies_base="A")
    try:
        publish(table, suppress_small=True)
    except ValueError as error:
        assert "'A' copies the base" in str(error)
    else:
        raise AssertionError("a copy of the base was taken as a part of it")
