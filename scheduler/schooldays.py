"""The school calendar as pure functions: bank holidays in England, the school's own holidays, night."""

from __future__ import annotations

from collections.abc import Iterable
from datetime import date, time
from functools import lru_cache

import holidays

DateRange = tuple[date, date]  # first and last day, both included

NIGHT_STARTS = time(21, 0)
DAY_STARTS = time(7, 30)


@lru_cache(maxsize=64)
def _england(year: int) -> frozenset[date]:
    return frozenset(holidays.country_holidays("GB", subdiv="ENG", years=year).keys())


def is_bank_holiday(day: date) -> bool:
    return day in _england(day.year)


def is_working_day(day: date) -> bool:
    """Monday to Friday and not a bank holiday in England."""
    return day.weekday() < 5 and not is_bank_holiday(day)


def parse_school_holidays(text: str) -> list[DateRange]:
    """The school's holiday lines, "YYYY-MM-DD..YYYY-MM-DD" (or one date); anything else is ignored.

    The lines are typed by a person, so a bad line is skipped rather than stopping every reminder.
    """
    ranges: list[DateRange] = []
    for raw in text.splitlines():
        line = raw.split("#", 1)[0].strip()
        if not line:
            continue
        first, _, last = line.partition("..")
        try:
            start = date.fromisoformat(first.strip())
            end = date.fromisoformat(last.strip()) if last.strip() else start
        except ValueError:
            continue
        if end >= start:
            ranges.append((start, end))
    return ranges


def in_ranges(day: date, ranges: Iterable[DateRange]) -> bool:
    return any(first <= day <= last for first, last in ranges)


def is_school_day(day: date, school_holidays: Iterable[DateRange] = ()) -> bool:
    return is_working_day(day) and not in_ranges(day, school_holidays)


def is_night(moment: time) -> bool:
    """21:00 to 07:30 school time."""
    return moment >= NIGHT_STARTS or moment < DAY_STARTS
