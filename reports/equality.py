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

from reports.sectors import SECTORS, UNCLASSIFIED, classify, label, picked
from reports.tables import Row, Table, value_label
from storage.reports import Breakdown

SECTOR_ORDER: tuple[str, ...] = (*(s.key for s in SECTORS), UNCLASSIFIED)
SEVERAL = "A pupil who names interests in several sectors counts once in each."
WHERE = "Alumni in education, employment or training, by what they study or where."
SHARE_OF_SECTOR = "Percentages are each group's share of the sector's row."
_PIECES = re.compile(r"[,;/\n]|\band\b|\bor\b")


def sectors_named(text: str, extra: Mapping[str, str] | None = None) -> frozenset[str]:
    """Each sector a pupil's typed interests name, piece by piece; empty for empty text."""
    pieces = [p.strip() for p in _PIECES.split(text.casefold()) if p.strip()]
    return frozenset(classify(p, extra) for p in pieces)


def _order(by: Breakdown, value: str) -> tuple[bool, str]:
    return (value == "", value_label(by, value).casefold())


def sector_table(
    found: Iterable[tuple[str, frozenset[str]]],
    *,
    by: Breakdown,
    title: str,
    people: tuple[str, str],
    notes: tuple[str, ...] = (),
) -> Table:
    """Count (breakdown value, sectors) pairs into a sector-by-value table; sectors nobody named are kept (as 0).

    A report `Table` like every other, so it is published, rendered and exported by the same code
    (`reports.tables.publish`): each person in a row is in exactly one column, so the columns add
    up to the row's base (`adds_up`), and the "All" row counts each sector a person is in.
    `people` names what a row counts: ("Alumni", "alumnus"), or ("Interests", "interest") where a
    pupil counts once in each sector they name (so the "All" row is not a count of pupils)."""
    tally: dict[tuple[str, str], int] = {}
    values: set[str] = set()
    for value, sectors in found:
        values.add(value)
        for sector in sectors:
            tally[(sector, value)] = tally.get((sector, value), 0) + 1
    columns = sorted(values, key=lambda v: _order(by, v))
    rows = []
    for sector in SECTOR_ORDER:
        cells = tuple(tally.get((sector, v), 0) for v in columns)
        rows.append(Row(label(sector), sum(cells), cells))
    return Table(
        title,
        "Sector",
        people[0],
        tuple(value_label(by, v) for v in columns),
        tuple(rows) if columns else (),
        (*notes, SHARE_OF_SECTOR),
        people[1],
        adds_up=len(columns),
        omit_empty=True,
    )


def interests_table(
    pupils: Iterable[tuple[str, str, str]],
    *,
    by: Breakdown,
    extra: Mapping[str, str] | None = None,
    school_name: str = "",
) -> Table:
    """Pupils on roll who gave interests (typed, or sectors picked as buttons), per sector, by breakdown value."""
    found = [
        (value, sectors_named(text, extra) | frozenset(picked(keys)))
        for value, text, keys in pupils
        if text.strip() or picked(keys)
    ]
    title = _titled(school_name, f"Career interests of pupils by sector and {_by_words(by)}")
    return sector_table(found, by=by, title=title, people=("Interests", "interest"), notes=(SEVERAL,))


def destinations_table(
    alumni: Iterable[tuple[str, str]],
    *,
    by: Breakdown,
    year_after_leaving: int,
    extra: Mapping[str, str] | None = None,
    school_name: str = "",
) -> Table:
    """Alumni in education, employment or training, by the sector of their course or provider."""
    found = [(value, frozenset({classify(text, extra)})) for value, text in alumni]
    when = f"year {year_after_leaving} after leaving"
    title = _titled(school_name, f"Destinations of leavers, {when}, by sector and {_by_words(by)}")
    return sector_table(found, by=by, title=title, people=("Alumni", "alumnus"), notes=(WHERE,))


def _titled(school_name: str, title: str) -> str:
    return f"{school_name}: {title}" if school_name else title


def _by_words(by: Breakdown) -> str:
    words = {Breakdown.send: "SEND", Breakdown.fsm: "free school meals", Breakdown.eal: "EAL"}
    return words.get(by, by.value.replace("_", " "))


def tables(
    pupils: Iterable[tuple[str, str, str]],
    alumni: Iterable[tuple[str, str]],
    *,
    by: Breakdown,
    year_after_leaving: int,
    extra: Mapping[str, str] | None = None,
    school_name: str = "",
) -> tuple[Table, Table]:
    """The two tables of the lens, interests then destinations: what the CLI and the chat both show."""
    return (
        interests_table(pupils, by=by, extra=extra, school_name=school_name),
        destinations_table(alumni, by=by, year_after_leaving=year_after_leaving, extra=extra, school_name=school_name),
    )


def chart(table: Table, *, suppress_small: bool) -> tuple[bytes, str]:
    """A stacked bar per sector anyone is in, split by the breakdown's groups: the PNG and its words.

    Drawn by `reports.charts.stacked_bars` from the published figures, as the destination charts are."""
    from reports.charts import alt_text, stacked_bars

    columns = len(table.columns)
    return (
        stacked_bars(table, suppress_small=suppress_small, columns=columns),
        alt_text(table, suppress_small=suppress_small, columns=columns),
    )
