"""Dates as staff type them on a phone, and the school calendar: pure functions, no I/O.

Due dates are British day-first: `12/12`, `12 Dec`, `by 12th December 2026`, `2026-12-12`,
`next Friday`, `tomorrow`, `in 2 weeks`. A date without a year is the next one on or after today.
"Today" is the school's own date (its time zone), never UTC's.
"""

from __future__ import annotations

import calendar
import re
from datetime import date, timedelta

MONTHS = {name.lower(): i for i, name in enumerate(calendar.month_name) if name} | {
    name.lower(): i for i, name in enumerate(calendar.month_abbr) if name
}
MONTHS["sept"] = 9
WEEKDAYS = {name.lower(): i for i, name in enumerate(calendar.day_name)} | {
    name.lower(): i for i, name in enumerate(calendar.day_abbr)
}
WEEKDAYS |= {"tues": 1, "weds": 2, "thur": 3, "thurs": 3}
MAX_YEARS_AHEAD = 5

EXAMPLES = "like 12 Dec, 12/12, 2026-12-12 or next Friday"


class DueDateError(ValueError):
    """A typed date that cannot be used; the message says why, in plain words."""


def _ordinal_day(text: str) -> int:
    return int(re.sub(r"(st|nd|rd|th)$", "", text))


def _checked(year: int, month: int, day: int) -> date:
    try:
        return date(year, month, day)
    except ValueError:
        if 1 <= month <= 12:
            raise DueDateError(f"There is no {day} {calendar.month_name[month]}.") from None
        raise DueDateError(f"There is no month {month}. Write the day first, {EXAMPLES}.") from None


def _without_year(month: int, day: int, today: date) -> date:
    if not 1 <= month <= 12:
        raise DueDateError(f"There is no month {month}. Write the day first, {EXAMPLES}.")
    if month == 2 and day == 29:
        # Only leap years have one: take the next 29 February that is not past.
        year = today.year
        while not calendar.isleap(year) or date(year, 2, 29) < today:
            year += 1
        return date(year, 2, 29)
    candidate = _checked(today.year, month, day)
    return candidate if candidate >= today else _checked(today.year + 1, month, day)


def _full_year(text: str) -> int:
    year = int(text)
    return 2000 + year if len(text) == 2 else year


def _weekday_after(today: date, weekday: int) -> date:
    return today + timedelta(days=(weekday - today.weekday() - 1) % 7 + 1)


def _add_months(start: date, months: int) -> date:
    month_index = start.month - 1 + months
    year, month = start.year + month_index // 12, month_index % 12 + 1
    return date(year, month, min(start.day, calendar.monthrange(year, month)[1]))


_NUMERIC = re.compile(r"^(\d{1,2})[/.\-](\d{1,2})(?:[/.\-](\d{2}|\d{4}))?$")
_ISO = re.compile(r"^(\d{4})-(\d{1,2})-(\d{1,2})$")
_DAY_MONTH = re.compile(r"^(\d{1,2}(?:st|nd|rd|th)?)(?:\s+of)?\s+([a-z]+)\.?(?:,?\s+(\d{4}))?$")
_MONTH_DAY = re.compile(r"^([a-z]+)\.?\s+(\d{1,2}(?:st|nd|rd|th)?)(?:,?\s+(\d{4}))?$")
_IN_N = re.compile(r"^in\s+(a|an|one|two|three|four|\d{1,3})\s+(day|week|month)s?$")
_WORD_NUMBERS = {"a": 1, "an": 1, "one": 1, "two": 2, "three": 3, "four": 4}


def _parse(text: str, today: date) -> date:
    if text in {"today", "tonight"}:
        return today
    if text == "tomorrow":
        return today + timedelta(days=1)
    if m := _ISO.match(text):
        return _checked(int(m[1]), int(m[2]), int(m[3]))
    if m := _NUMERIC.match(text):
        day, month = int(m[1]), int(m[2])
        return _checked(_full_year(m[3]), month, day) if m[3] else _without_year(month, day, today)
    for pattern, day_group, month_group in ((_DAY_MONTH, 1, 2), (_MONTH_DAY, 2, 1)):
        if (m := pattern.match(text)) and m[month_group] in MONTHS:
            day, month = _ordinal_day(m[day_group]), MONTHS[m[month_group]]
            return _checked(int(m[3]), month, day) if m[3] else _without_year(month, day, today)
    words = text.split()
    if words and words[0] in {"next", "this", "on"} and len(words) == 2:
        words = words[1:]
    if len(words) == 1 and words[0] in WEEKDAYS:
        return _weekday_after(today, WEEKDAYS[words[0]])
    if text in {"next week", "in a week"}:
        return today + timedelta(weeks=1)
    if m := _IN_N.match(text):
        count = _WORD_NUMBERS.get(m[1]) or int(m[1])
        unit = m[2]
        if unit == "month":
            return _add_months(today, count)
        return today + (timedelta(weeks=count) if unit == "week" else timedelta(days=count))
    raise DueDateError(f"I couldn't read that as a date. Type it {EXAMPLES}.")


def parse_due(text: str, today: date) -> date:
    """A due date from what a member of staff typed; `DueDateError` says what is wrong."""
    cleaned = re.sub(r"\s+", " ", text.strip().lower()).rstrip(".!")
    cleaned = re.sub(r"^(by|due|before|on)\s+", "", cleaned)
    if not cleaned:
        raise DueDateError(f"That was empty. Type a date {EXAMPLES}.")
    due = _parse(cleaned, today)
    if due < today:
        raise DueDateError(f"{due.day} {due:%B %Y} has already passed. Type a date from today on.")
    if due > _add_months(today, 12 * MAX_YEARS_AHEAD):
        raise DueDateError(f"{due.day} {due:%B %Y} is more than {MAX_YEARS_AHEAD} years away. Check the year.")
    return due


_TRAILING_DUE = re.compile(r"^(?P<action>.*\S)[\s,;:\-–]+(?:by|due|before)\s+(?P<when>[^,;]{1,40})$", re.IGNORECASE)
# A date said the way people say one, with no "by": "... in 2 weeks", "... next Friday", "... tomorrow".
_TRAILING_WHEN = re.compile(
    r"^(?P<action>.*\S)[\s,;:\-–]+(?P<when>(?:in|next|this|on)\s+[^,;]{1,30}|tomorrow|today)[.!]?$", re.IGNORECASE
)


def split_due(text: str, today: date) -> tuple[str, date | None]:
    """'Visit the college open day by 12 Dec' -> ('Visit the college open day', 12 Dec); also
    'Visit the college in 2 weeks': the words that became the date leave the action's text.

    Text whose tail does not read as a date is kept whole ("Phone Mum by text" has no date).
    """
    for pattern in (_TRAILING_DUE, _TRAILING_WHEN):
        m = pattern.match(text.strip())
        if m is None:
            continue
        try:
            return m["action"].rstrip(" ,;:-\u2013"), parse_due(m["when"], today)
        except DueDateError:
            continue
    return text.strip(), None


def show(due: date | None) -> str:
    return f"{due:%a} {due.day} {due:%b %Y}" if due else "no due date"
