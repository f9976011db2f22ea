"""The retention schedule: how long each kind of record is kept. Pure rules, no I/O.

A duration is written `90d`, `1y`, `6y` or `age:25` ("until the 25th birthday"). Each kind keeps
its records for that long after an event of its own (the last line of a transcript, a code's
expiry...), listed in KINDS. `storage.retention` finds the rows; the README and the privacy notice
quote DEFAULTS, and a test holds them to it.
"""

from __future__ import annotations

import json
import re
from dataclasses import dataclass
from datetime import date, datetime, timedelta

_DURATION = re.compile(r"^\s*(?:(\d{1,4})\s*([dy])|age\s*:\s*(\d{1,3}))\s*$", re.IGNORECASE)
# Pupils leave at 16 at the earliest: with no date of birth, "age:N" counts N - 16 years from leaving.
LEAVING_AGE = 16


class DurationError(ValueError):
    """A duration that is not `Nd`, `Ny` or `age:N`; the message says what was wrong."""


@dataclass(frozen=True)
class Duration:
    days: int = 0
    years: int = 0
    age: int | None = None  # "until the Nth birthday"

    def __str__(self) -> str:
        if self.age is not None:
            return f"age:{self.age}"
        return f"{self.years}y" if self.years else f"{self.days}d"

    def words(self) -> str:
        """How the privacy notice and the README say it."""
        if self.age is not None:
            return f"until your {self.age}th birthday"
        if self.years:
            return "1 year" if self.years == 1 else f"{self.years} years"
        return "1 day" if self.days == 1 else f"{self.days} days"


def parse_duration(text: str) -> Duration:
    match = _DURATION.match(text)
    if match is None:
        raise DurationError(f"{text!r} is not a duration: write 90d (days), 1y (years) or age:25 (until that birthday)")
    number, unit, age = match.groups()
    if age is not None:
        if not LEAVING_AGE <= int(age) <= 120:
            raise DurationError(f"age:{age} is not an age to keep records to: use {LEAVING_AGE} to 120")
        return Duration(age=int(age))
    return Duration(days=int(number)) if unit.lower() == "d" else Duration(years=int(number))


@dataclass(frozen=True)
class Kind:
    name: str
    default: str
    what: str  # what is kept, for people (README, `waymark school retention`)
    after: str  # the event the duration counts from


KINDS: tuple[Kind, ...] = (
    Kind(
        "careers_record",
        "age:25",
        "a pupil's careers record (journal, advice, actions, applications)",
        "birth or leaving",
    ),
    Kind("alumni_contacts", "0d", "an alumnus's contact details (email, chat accounts)", "check-ins end or /stop"),
    Kind("transcripts", "1y", "chat transcripts of the web chat and terminal", "the last line"),
    Kind("codes", "30d", "unused enrolment codes and wrong-code counts", "expiry"),
    Kind("outbox", "90d", "messages the bot has delivered", "delivery"),
    Kind("audit", "6y", "audit log entries", "the entry"),
    Kind("safeguarding", "age:25", "safeguarding records (closed concerns and their notes)", "birth or leaving"),
)
KIND_NAMES: tuple[str, ...] = tuple(k.name for k in KINDS)
KIND_AFTER: dict[str, str] = {k.name: k.after for k in KINDS}
# Kinds about a person, which may be kept to a birthday; a day or year duration counts from leaving.
BY_AGE = frozenset({"careers_record", "safeguarding"})
DEFAULTS: dict[str, Duration] = {k.name: parse_duration(k.default) for k in KINDS}


def schedule_from_json(text: str) -> dict[str, Duration]:
    """A school's schedule: the defaults with the school's changes (stored as JSON) applied."""
    changes = json.loads(text) if text.strip() else {}
    return {**DEFAULTS, **{name: parse_duration(value) for name, value in changes.items() if name in DEFAULTS}}


def schedule_to_json(schedule: dict[str, Duration]) -> str:
    """Only the kinds changed from the defaults, so a later change of default reaches every school."""
    changed = {name: str(d) for name, d in schedule.items() if d != DEFAULTS[name]}
    return json.dumps(changed, sort_keys=True) if changed else ""


def parse_change(text: str) -> tuple[str, Duration]:
    """`transcripts=2y` -> ("transcripts", 2 years); unknown kinds name the known ones."""
    name, sep, value = text.partition("=")
    name = name.strip().lower().replace("-", "_")
    if not sep or name not in DEFAULTS:
        raise DurationError(f"{text!r}: write KIND=DURATION, where KIND is one of {', '.join(KIND_NAMES)}")
    duration = parse_duration(value)
    if duration.age is not None and name not in BY_AGE:
        raise DurationError(f"{name} counts from {KIND_AFTER[name]}, not a birthday: write days or years (90d, 1y)")
    return name, duration


def add_years(day: date, years: int) -> date:
    try:
        return day.replace(year=day.year + years)
    except ValueError:  # 29 February in a year that has none
        return day.replace(year=day.year + years, day=28)


def cutoff(duration: Duration, now: datetime) -> datetime:
    """Records whose event was before this moment are past a day or year duration."""
    if duration.age is not None:
        raise ValueError("an age is counted from a birthday: use born_before")
    if duration.years:
        return datetime.combine(add_years(now.date(), -duration.years), now.timetz())
    return now - timedelta(days=duration.days)


def birthday_limit(duration: Duration, date_of_birth: date | None, leaving_date: date | None) -> date | None:
    """The day an `age:N` record may go: the Nth birthday, or with no date of birth the leaving date
    plus N - 16 years; None when neither is known (kept until a person decides)."""
    assert duration.age is not None
    if date_of_birth is not None:
        return add_years(date_of_birth, duration.age)
    if leaving_date is not None:
        return add_years(leaving_date, duration.age - LEAVING_AGE)
    return None


def born_before(duration: Duration, today: date) -> date:
    """People born before this date have had their Nth birthday by `today`."""
    assert duration.age is not None
    return add_years(today, -duration.age) + timedelta(days=1)


def left_before(duration: Duration, today: date) -> date:
    """People with no date of birth who left before this date are past `age:N` by `today`."""
    assert duration.age is not None
    return add_years(today, LEAVING_AGE - duration.age) + timedelta(days=1)
