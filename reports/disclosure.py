"""Disclosure control for published tables: which counts to hide so that no small count can be worked out.

Hiding the counts from 1 to 4 one at a time is not enough: when a row shows its total and every
other cell, the hidden one is the difference. So after hiding the small counts (primary
suppression) we hide other cells too (secondary suppression) until no hidden count is pinned to
one value by what is still published.

The model. A table has rows (one per group) and columns (one per outcome), each row's base (the
people it is about), each column's total and the grand total; all of these are "entries" of one
grid with margins: interior entries at (row, column), bases in the extra last column, column
totals in the extra last row, the grand total in the corner. What the reader knows: every shown
entry, that hidden entries are whole numbers of at least 0, that every column adds up to its
total, and — when `rows_add_up` (each person in exactly one column, as with destinations) — that
every row adds up to its base. A hidden entry is pinned when every table that fits this knowledge
gives it the same value.

Why a graph answers that exactly: subtract the margins from the grid (margins counted negative,
the corner positive) and every row and every column sums to zero. Two tables that fit differ by a
circulation on the bipartite graph whose nodes are rows and columns and whose edges are the hidden
entries, and any such difference splits into simple cycles, each of which can be applied alone by
one unit. So a hidden entry can take another value exactly when a cycle through it can be applied
one unit without taking any entry below zero: a directed-cycle test in a small residual graph.
Rows that need not add up (several measures of the same pupils) are joined to a free node, since
nothing ties their cells to one another.

A published subtotal of some rows' bases (`Grid.subtotal`: a "Year 10 up" column that copies the
base of Year 10 and above and is 0 below, so its total is the sum of those bases) is one more
known sum. It stays exact in the graph by splitting the base column's node in two: one node for the
bases in the subtotal (they add up to it), one for the rest and the grand total (they and the
subtotal add up to the grand total). The subtotal is an entry, an edge between the two nodes, kept
at `SUBTOTAL_ROW` of the base column. Each entry still lies in exactly two sums, once with each
sign, so the cycle test stays exact.
"""

from __future__ import annotations

from collections import deque
from collections.abc import Iterator, Sequence
from collections.abc import Set as AbstractSet
from dataclasses import dataclass
from decimal import Decimal
from itertools import chain, product

SMALLEST_SHOWN = 5  # counts from 1 to SMALLEST_SHOWN - 1 are hidden; 0 is shown (nobody to identify)

Entry = tuple[int, int]  # (row, column) in the grid with margins
Node = tuple[str, int]  # a sum the reader knows: ("r", row), ("c", column), ("s", column) a subtotal's


def is_small(count: int) -> bool:
    return 1 <= count < SMALLEST_SHOWN


def percent(part: int, whole: int, places: int = 0) -> Decimal | None:
    """`part` as a percentage of `whole`, halves rounded up (1/40 is 3%, 3/40 is 8%); None for a whole of 0.

    Integer arithmetic, so 2.5 is never stored as 2.4999 and rounded down; Python's `round` rounds
    halves to even, which a reader checking our sums by hand would not expect.
    """
    if whole <= 0:
        return None
    scale = 10**places
    rounded = (200 * part * scale + whole) // (2 * whole)
    return Decimal(rounded) / scale if places else Decimal(rounded)


@dataclass(frozen=True)
class Grid:
    """Counts with their margins: `cells[r][c]`, each row's `bases[r]`, and `rows_add_up`.

    `subtotal`: the rows whose bases add up to a published subtotal (None: no such subtotal). The
    subtotal is the entry (`subtotal_row`, `width`), below the grand total in the base column."""

    cells: tuple[tuple[int, ...], ...]
    bases: tuple[int, ...]
    rows_add_up: bool = True
    subtotal: frozenset[int] | None = None

    def __post_init__(self) -> None:
        if len(self.bases) != len(self.cells):
            raise ValueError(f"{len(self.cells)} rows but {len(self.bases)} bases")
        if self.subtotal is not None and not self.subtotal <= set(range(len(self.cells))):
            raise ValueError(f"subtotal rows {sorted(self.subtotal)} are not all rows of a {len(self.cells)}-row grid")

    @classmethod
    def of(
        cls,
        cells: Sequence[Sequence[int]],
        bases: Sequence[int] | None = None,
        *,
        rows_add_up: bool = True,
        subtotal: AbstractSet[int] | None = None,
    ) -> Grid:
        rows = tuple(tuple(row) for row in cells)
        return cls(
            rows,
            tuple(bases) if bases is not None else tuple(sum(row) for row in rows),
            rows_add_up,
            frozenset(subtotal) if subtotal is not None else None,
        )

    @property
    def subtotal_row(self) -> int:
        """The row index of the subtotal entry (in the base column): one below the totals."""
        return self.height + 1

    @property
    def subtotal_entry(self) -> Entry | None:
        return None if self.subtotal is None else (self.subtotal_row, self.width)

    @property
    def height(self) -> int:
        return len(self.cells)

    @property
    def width(self) -> int:
        return len(self.cells[0]) if self.cells else 0

    def value(self, entry: Entry) -> int:
        row, column = entry
        if entry == self.subtotal_entry:
            return sum(self.bases[r] for r in self.subtotal or ())
        inner_row, inner_column = row < self.height, column < self.width
        if inner_row and inner_column:
            return self.cells[row][column]
        if inner_row:
            return self.bases[row]
        if inner_column:
            return sum(r[column] for r in self.cells)
        return sum(self.bases)

    def entries(self) -> Iterator[Entry]:
        grid = product(range(self.height + 1), range(self.width + 1))
        return chain(grid, [self.subtotal_entry] if self.subtotal_entry else [])

    def sign(self, entry: Entry) -> int:
        """+1 inside and at the corner, -1 on the margins (see the module's note). The subtotal is +1: in
        the base column's part for its rows, it is what the grand total is in the whole column."""
        if entry == self.subtotal_entry:
            return 1
        return 1 if (entry[0] < self.height) == (entry[1] < self.width) else -1

    def ends(self, entry: Entry) -> tuple[Node, Node]:
        """The two sums an entry lies in, as the graph's nodes: its row's, then its column's.

        With a subtotal, the base column is two nodes: ("c", width) for the rest of the bases and the
        grand total, ("s", width) for the bases in the subtotal. The subtotal entry lies in both: it
        counts like a base in the rest's sum (it stands for those rows there) and like a total in its own.
        """
        row, column = entry
        if self.subtotal is None or column != self.width:
            return ("r", row), ("c", column)
        if entry == self.subtotal_entry:
            return ("c", column), ("s", column)
        return ("r", row), (("s", column) if row in self.subtotal else ("c", column))


@dataclass(frozen=True)
class Published:
    """Which entries of a grid are hidden, and what a reader may be shown."""

    grid: Grid
    hidden: frozenset[Entry]

    def count(self, row: int, column: int) -> int | None:
        return None if (row, column) in self.hidden else self.grid.value((row, column))

    def base(self, row: int) -> int | None:
        return self.count(row, self.grid.width)

    def total(self, column: int) -> int | None:
        return self.count(self.grid.height, column)

    def grand(self) -> int | None:
        return self.count(self.grid.height, self.grid.width)

    def share(self, row: int, column: int) -> Decimal | None:
        """A percentage only when both its count and its base are shown (a share of a hidden base gives the base away)."""
        count, base = self.count(row, column), self.count(row, self.grid.width)
        return None if count is None or base is None else percent(count, base)


_FREE = ("free", -1)


def _arcs(grid: Grid, hidden: frozenset[Entry]) -> dict[Node, list[tuple[Node, Entry]]]:
    """The residual graph: an arc for each way a hidden entry can move by one and stay at 0 or more."""
    arcs: dict[Node, list[tuple[Node, Entry]]] = {}
    for entry in hidden:
        row, column = grid.ends(entry)
        above_zero = grid.value(entry) >= 1
        if grid.sign(entry) > 0 or above_zero:  # row -> column raises the grid entry by its sign
            arcs.setdefault(row, []).append((column, entry))
        if grid.sign(entry) < 0 or above_zero:
            arcs.setdefault(column, []).append((row, entry))
    if not grid.rows_add_up:
        for row_index in range(grid.height + 1):
            arcs.setdefault(("r", row_index), []).append((_FREE, (-1, -1)))
            arcs.setdefault(_FREE, []).append((("r", row_index), (-1, -1)))
    return arcs


def _reaches(arcs: dict[Node, list[tuple[Node, Entry]]], start: Node, goal: Node, without: Entry) -> bool:
    seen, queue = {start}, deque([start])
    while queue:
        node = queue.popleft()
        if node == goal:
            return True
        for nxt, entry in arcs.get(node, ()):
            if entry != without and nxt not in seen:
                seen.add(nxt)
                queue.append(nxt)
    return False


def _movable(grid: Grid, arcs: dict[Node, list[tuple[Node, Entry]]], entry: Entry) -> bool:
    """Whether a cycle through `entry`'s arc, in either direction, moves it by one."""
    row, column = grid.ends(entry)
    return any(
        _reaches(arcs, after, before, entry)
        for before, after in ((row, column), (column, row))
        if any(nxt == after and e == entry for nxt, e in arcs.get(before, ()))
    )


def pinned(grid: Grid, hidden: frozenset[Entry]) -> frozenset[Entry]:
    """The hidden entries whose exact value follows from what is shown."""
    arcs = _arcs(grid, hidden)
    return frozenset(entry for entry in hidden if not _movable(grid, arcs, entry))


def _cost(grid: Grid, entries: AbstractSet[Entry]) -> tuple[int, int]:
    """Prefer hiding margins last (a hidden total hurts every reader), then the smallest counts."""
    totals = {(grid.height, grid.width), grid.subtotal_entry}
    margins = sum(1 for e in entries if grid.sign(e) < 0 or e in totals)
    return margins, sum(grid.value(e) for e in entries)


def _options(grid: Grid, target: Entry, hidden: frozenset[Entry]) -> Iterator[frozenset[Entry]]:
    """Sets of further entries that may free `target`: one entry in its row or column, a rectangle's
    corners, and with a subtotal, a base on each side of it (the subtotal's two sums)."""
    row, column = target
    real = frozenset(grid.entries())
    if grid.subtotal is not None and column == grid.width:
        inside = [(r, column) for r in sorted(grid.subtotal)]
        outside = [(r, column) for r in range(grid.height + 1) if r not in grid.subtotal]
        subtotal = (grid.subtotal_row, column)
        pairs = product(inside, outside) if target == subtotal else ((subtotal, e) for e in inside + outside)
        for pair in pairs:
            if target not in pair and (extra := frozenset(pair) - hidden):
                yield extra
    rows, columns = range(grid.height + 1), range(grid.width + 1)
    for other in [(row, c) for c in columns if c != column] + [(r, column) for r in rows if r != row]:
        if other in real and other not in hidden:
            yield frozenset({other})
    for r, c in product(rows, columns):
        corners = frozenset({(row, c), (r, column), (r, c)})
        if r != row and c != column and corners <= real and (extra := corners - hidden):
            yield extra


def suppress(grid: Grid, also: AbstractSet[Entry] = frozenset(), known: AbstractSet[Entry] = frozenset()) -> Published:
    """Hide the small counts and `also`, then the fewest and smallest others that leave none of them pinned.

    `also`: entries hidden for a reason outside this grid (a base another grid of the same table hid).
    `known`: entries a reader knows without being shown (0 by definition, as next steps below Year
    10): never hidden, since hiding one would seem to protect a count and protect nothing.
    """
    everything = frozenset(grid.entries()) - frozenset(known)
    hidden = frozenset(e for e in everything if is_small(grid.value(e))) | (frozenset(also) & everything)
    while stuck := pinned(grid, hidden):
        target = min(stuck)
        # The cheapest option that frees the target (the first of equal cost): testing the target
        # alone, cheapest first, since most options are tried and only one is taken.
        options = sorted(
            (x for x in _options(grid, target, hidden) if x <= everything), key=lambda extra: _cost(grid, extra)
        )
        freeing = next((x for x in options if _movable(grid, _arcs(grid, hidden | x), target)), None)
        if freeing is not None:
            hidden = hidden | freeing
        elif hidden != everything:
            hidden = hidden | frozenset(e for e in everything if e[0] == target[0] or e[1] == target[1])
            if target in pinned(grid, hidden):
                hidden = everything
        else:
            break  # everything is hidden: nothing is published to work anything out from
    return Published(grid, hidden)
