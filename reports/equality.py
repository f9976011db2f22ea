"""The equality lens: career interests and destinations per sector, by gender (or another breakdown).

Pure functions over (breakdown value, free text) pairs. One row per sector of our own list and one
for what no rule matched (shown as unclassified, never guessed); one column per breakdown value, so
a stereotyped pattern reads straight across a row ("Construction and trades: 9 male, 0 female").
A pupil who names several interests ("nursing, football") counts once in each sector they name;
an alumnus counts once, in the sector of their current course or provider.
"""

from __future__ import annotations

import re
from collections.abc import Iterable, Mapping
from dataclasses import dataclass

from reports.disclosure import Grid, Published, suppress
from reports.sectors import SECTORS, UNCLASSIFIED, classify, label, picked
from reports.tables import value_label
from storage.reports import Breakdown

SECTOR_ORDER: tuple[str, ...] = (*(s.key for s in SECTORS), UNCLASSIFIED)
SEVERAL = "A pupil who names interests in several sectors counts once in each."
WHERE = "Alumni in education, employment or training, by what they study or where."
_PIECES = re.compile(r"[,;/\n]|\band\b|\bor\b")


def sectors_named(text: str, extra: Mapping[str, str] | None = None) -> frozenset[str]:
    """Each sector a pupil's typed interests name, piece by piece; empty for empty text."""
    pieces = [p.strip() for p in _PIECES.split(text.casefold()) if p.strip()]
    return frozenset(classify(p, extra) for p in pieces)


@dataclass(frozen=True)
class EqualityTable:
    title: str
    columns: tuple[str, ...]  # breakdown labels, e.g. "Female", "Male"
    rows: tuple[str, ...]  # sector labels, then "Unclassified"
    counts: tuple[tuple[int, ...], ...]  # counts[row][column]
    notes: tuple[str, ...] = ()

    def published(self, suppress_small: bool) -> Published:
        grid = Grid.of(self.counts)
        return suppress(grid) if suppress_small else Published(grid, frozenset())


def _order(by: Breakdown, value: str) -> tuple[bool, str]:
    return (value == "", value_label(by, value).casefold())


def sector_table(
    found: Iterable[tuple[str, frozenset[str]]], *, by: Breakdown, title: str, notes: tuple[str, ...] = ()
) -> EqualityTable:
    """Count (breakdown value, sectors) pairs into a sector-by-value table; sectors nobody named are kept (as 0)."""
    tally: dict[tuple[str, str], int] = {}
    values: set[str] = set()
    for value, sectors in found:
        values.add(value)
        for sector in sectors:
            tally[(sector, value)] = tally.get((sector, value), 0) + 1
    columns = sorted(values, key=lambda v: _order(by, v))
    counts = tuple(tuple(tally.get((sector, v), 0) for v in columns) for sector in SECTOR_ORDER)
    return EqualityTable(
        title, tuple(value_label(by, v) for v in columns), tuple(label(s) for s in SECTOR_ORDER), counts, notes
    )


def interests_table(
    pupils: Iterable[tuple[str, str, str]],
    *,
    by: Breakdown,
    extra: Mapping[str, str] | None = None,
    school_name: str = "",
) -> EqualityTable:
    """Pupils on roll who gave interests (typed, or sectors picked as buttons), per sector, by breakdown value."""
    found = [
        (value, sectors_named(text, extra) | frozenset(picked(keys)))
        for value, text, keys in pupils
        if text.strip() or picked(keys)
    ]
    title = _titled(school_name, f"Career interests of pupils by sector and {_by_words(by)}")
    return sector_table(found, by=by, title=title, notes=(SEVERAL,))


def destinations_table(
    alumni: Iterable[tuple[str, str]],
    *,
    by: Breakdown,
    year_after_leaving: int,
    extra: Mapping[str, str] | None = None,
    school_name: str = "",
) -> EqualityTable:
    """Alumni in education, employment or training, by the sector of their course or provider."""
    found = [(value, frozenset({classify(text, extra)})) for value, text in alumni]
    when = f"year {year_after_leaving} after leaving"
    title = _titled(school_name, f"Destinations of leavers, {when}, by sector and {_by_words(by)}")
    return sector_table(found, by=by, title=title, notes=(WHERE,))


def _titled(school_name: str, title: str) -> str:
    return f"{school_name}: {title}" if school_name else title


def _by_words(by: Breakdown) -> str:
    return {Breakdown.send: "SEND", Breakdown.fsm: "free school meals"}.get(by, by.value.replace("_", " "))


def render_lines(table: EqualityTable, *, suppress_small: bool) -> list[str]:
    """Plain text for a chat: one block per sector anyone is in, with each group's count and share of the sector."""
    shown = table.published(suppress_small)
    lines = [table.title]
    if not table.columns:
        return [*lines, "No one to count yet."]
    for r, sector in enumerate(table.rows):
        base = shown.base(r)
        if base == 0:
            continue
        lines += ["", f"{sector}: {_text(base)}"]
        for c, column in enumerate(table.columns):
            share = shown.share(r, c)
            lines.append(f"  {column}: {_text(shown.count(r, c))}" + (f" ({share}%)" if share is not None else ""))
    if suppress_small:
        lines += ["", "Counts from 1 to 4 hidden (*), and enough others that none can be worked out."]
    return [*lines, "", *table.notes]


def _text(count: int | None) -> str:
    return "*" if count is None else str(count)
