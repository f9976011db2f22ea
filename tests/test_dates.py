"""The due-date parser and the school calendar: pure functions."""

from __future__ import annotations

from datetime import UTC, date, datetime
from zoneinfo import ZoneInfo

import pytest

from core.calendar import local_today, school_year_start, spring_term_start
from handlers.dates import DueDateError, parse_due, show, split_due

MONDAY = date(2026, 11, 23)


@pytest.mark.parametrize(
    ("typed", "expected"),
    [
        ("by 12 Dec", date(2026, 12, 12)),
        ("12 Dec", date(2026, 12, 12)),
        ("12th December", date(2026, 12, 12)),
        ("12 December 2026", date(2026, 12, 12)),
        ("Dec 12", date(2026, 12, 12)),
        ("12/12", date(2026, 12, 12)),
        ("12.12.26", date(2026, 12, 12)),
        ("12/12/2026", date(2026, 12, 12)),
        ("2026-12-12", date(2026, 12, 12)),
        ("  BY 12 DEC. ", date(2026, 12, 12)),
        ("next Friday", date(2026, 11, 27)),
        ("friday", date(2026, 11, 27)),
        ("Mon", date(2026, 11, 30)),  # today is Monday: the next one
        ("today", MONDAY),
        ("tomorrow", date(2026, 11, 24)),
        ("in 2 weeks", date(2026, 12, 7)),
        ("in a month", date(2026, 12, 23)),
        ("next week", date(2026, 11, 30)),
        ("3/2", date(2027, 2, 3)),  # day first, and past dates without a year roll to next year
        ("1 Nov", date(2027, 11, 1)),
        ("29/2", date(2028, 2, 29)),  # the next leap day
    ],
)
def test_parses_what_staff_type(typed: str, expected: date) -> None:
    assert parse_due(typed, MONDAY) == expected


@pytest.mark.parametrize(
    ("typed", "words"),
    [
        ("31/02", "no 31 February"),
        ("12/13", "no month 13"),
        ("1/1/2020", "already passed"),
        ("2040-01-01", "more than 5 years"),
        ("soon", "couldn't read"),
        ("", "empty"),
        ("\U0001f4c5", "couldn't read"),
        ("<script>", "couldn't read"),
    ],
)
def test_refuses_with_the_reason(typed: str, words: str) -> None:
    with pytest.raises(DueDateError, match=words):
        parse_due(typed, MONDAY)


def test_split_due_takes_a_trailing_date_only_when_it_reads_as_one() -> None:
    assert split_due("Visit the open day by 12 Dec", MONDAY) == ("Visit the open day", date(2026, 12, 12))
    assert split_due("Email Ms Ali, due next Friday", MONDAY) == ("Email Ms Ali", date(2026, 11, 27))
    assert split_due("Phone Mum by text", MONDAY) == ("Phone Mum by text", None)
    assert split_due("Write a CV", MONDAY) == ("Write a CV", None)


def test_a_date_said_without_by_leaves_the_action_text() -> None:
    """Issue 13: "in 2 weeks" stayed in the action's text after it became its date."""
    assert split_due("Visit the college in 2 weeks", MONDAY) == ("Visit the college", date(2026, 12, 7))
    assert split_due("Email Ms Ali next Friday.", MONDAY) == ("Email Ms Ali", date(2026, 11, 27))
    assert split_due("Ring the college tomorrow", MONDAY) == ("Ring the college", date(2026, 11, 24))
    assert split_due("Phone Mum in the evening", MONDAY) == ("Phone Mum in the evening", None)
    assert split_due("Keep going this way", MONDAY) == ("Keep going this way", None)


def test_today_is_the_schools_date_not_utcs() -> None:
    late_evening_utc = datetime(2026, 6, 30, 23, 30, tzinfo=UTC)  # already 1 July in London (BST)
    assert local_today(late_evening_utc, ZoneInfo("Europe/London")) == date(2026, 7, 1)
    assert local_today(late_evening_utc, ZoneInfo("UTC")) == date(2026, 6, 30)


def test_school_year_and_spring_term() -> None:
    assert school_year_start(date(2026, 8, 31)) == date(2025, 9, 1)
    assert school_year_start(date(2026, 9, 1)) == date(2026, 9, 1)
    assert spring_term_start(date(2026, 11, 23)) == date(2027, 1, 1)
    assert spring_term_start(date(2027, 3, 1)) == date(2027, 1, 1)
    assert show(date(2026, 12, 12)) == "Sat 12 Dec 2026" and show(None) == "no due date"
