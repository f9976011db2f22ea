"""Finding the school a command works on: each person belongs to exactly one."""

from __future__ import annotations

import json
import re
from dataclasses import dataclass
from datetime import date

from sqlmodel import Session, col, select

from core.calendar import DateRange, parse_school_holidays
from storage.models import School


@dataclass(frozen=True)
class SchoolChoice:
    school: School
    created: bool


def school_named(session: Session, name: str) -> SchoolChoice:
    """The school with this name (case-insensitive), created when there is none yet."""
    wanted = name.strip()
    if not wanted:
        raise ValueError("a school needs a name")
    for school in session.exec(select(School).order_by(col(School.id))).all():
        if school.name.casefold() == wanted.casefold():
            return SchoolChoice(school, created=False)
    school = School(name=wanted)
    session.add(school)
    session.flush()
    return SchoolChoice(school, created=True)


def all_schools(session: Session) -> list[School]:
    return list(session.exec(select(School).order_by(col(School.id))).all())


def only_school(session: Session) -> School | None:
    """The school when the database holds exactly one (the usual case); else None."""
    found = session.exec(select(School).order_by(col(School.id)).limit(2)).all()
    return found[0] if len(found) == 1 else None


def only_school_name(session: Session) -> str | None:
    """The school's name when the database holds exactly one school (the usual case); else None."""
    school = only_school(session)
    return school.name if school else None


# --- the school's own settings: skills framework, holidays, at-risk-of-NEET weights ----------------

MAX_SKILLS = 20
MAX_SKILL_LENGTH = 40  # a skill is a button label on a phone


class SettingError(ValueError):
    """A school setting that cannot be used, in words for the administrator who typed it."""


def parse_skills(text: str) -> list[str]:
    """ "Listening, Speaking, Teamwork" -> the list; blank names, repeats and over-long names are errors."""
    names = [part.strip() for part in text.split(",")]
    if not any(names):
        raise SettingError("no skills given: list them separated by commas, or use --default")
    seen: set[str] = set()
    result: list[str] = []
    for name in names:
        if not name:
            raise SettingError("an empty skill between two commas")
        if len(name) > MAX_SKILL_LENGTH:
            raise SettingError(f"{name[:50]!r} is too long for a button: {MAX_SKILL_LENGTH} characters at most")
        if name.casefold() in seen:
            raise SettingError(f"{name!r} is listed twice")
        seen.add(name.casefold())
        result.append(name)
    if len(result) > MAX_SKILLS:
        raise SettingError(f"{len(result)} skills: {MAX_SKILLS} at most, so pupils can still pick from buttons")
    return result


def set_skills(session: Session, school: School, names: list[str] | None) -> None:
    """The school's skills framework; None goes back to the default eight."""
    school.skills = ", ".join(names) if names else ""
    session.add(school)


def parse_range(text: str) -> DateRange:
    """ "2026-12-21..2027-01-01" (or one date) -> (first, last day), both included."""
    first, dots, last = text.strip().partition("..")
    try:
        start = date.fromisoformat(first.strip())
        end = date.fromisoformat(last.strip()) if dots else start
    except ValueError:
        raise SettingError(
            f"{text!r}: write the dates as YYYY-MM-DD..YYYY-MM-DD, e.g. 2026-12-21..2027-01-01"
        ) from None
    if end < start:
        raise SettingError(f"{text!r}: the last day is before the first")
    return start, end


def format_range(days: DateRange) -> str:
    """A holiday as it is stored and shown: "2026-12-21..2027-01-01", or one date."""
    start, end = days
    return start.isoformat() if start == end else f"{start.isoformat()}..{end.isoformat()}"


def holidays_of(school: School) -> list[DateRange]:
    """The school's holidays, earliest first, read as quiet hours read them (bad lines left out)."""
    return sorted(set(parse_school_holidays(school.holidays)))


def add_holiday(session: Session, school: School, days: DateRange) -> bool:
    """False when exactly these days are already a holiday; lines are kept in date order."""
    ranges = holidays_of(school)
    if days in ranges:
        return False
    _write_holidays(session, school, sorted([*ranges, days]))
    return True


def remove_holiday(session: Session, school: School, days: DateRange) -> bool:
    """False when no holiday has exactly these days."""
    ranges = holidays_of(school)
    if days not in ranges:
        return False
    _write_holidays(session, school, [r for r in ranges if r != days])
    return True


def _write_holidays(session: Session, school: School, ranges: list[DateRange]) -> None:
    school.holidays = "\n".join(format_range(r) for r in ranges)
    session.add(school)


def set_risk_weights(session: Session, school: School, stored: str) -> None:
    """The weights as JSON (built and checked by handlers.risk): "" for the defaults."""
    school.risk_weights = stored
    session.add(school)


def sector_keywords(school: School) -> dict[str, str]:
    """The school's own keyword -> sector rules for the equality lens (checked by reports.sectors)."""
    return dict(json.loads(school.sector_keywords)) if school.sector_keywords else {}


def set_sector_keywords(session: Session, school: School, rules: dict[str, str]) -> None:
    school.sector_keywords = json.dumps(dict(sorted(rules.items()))) if rules else ""
    session.add(school)


# --- safeguarding: how long an alert may wait, and who else hears when it does -------------------

MIN_ESCALATE_MINUTES = 5
MAX_ESCALATE_MINUTES = 24 * 60
_ADDRESS = re.compile(r"^[^@\s]+@[^@\s]+\.[^@\s]+$")


def parse_escalate_minutes(text: str) -> int:
    """Minutes an unacknowledged alert waits before it is sent again and the contacts are told."""
    try:
        minutes = int(text.strip())
    except ValueError:
        raise SettingError(f"{text!r} is not a number of minutes, e.g. 60") from None
    if not MIN_ESCALATE_MINUTES <= minutes <= MAX_ESCALATE_MINUTES:
        raise SettingError(
            f"{minutes} minutes: use {MIN_ESCALATE_MINUTES} to {MAX_ESCALATE_MINUTES} (a day); a disclosure cannot wait longer"
        )
    return minutes


def set_escalate_minutes(session: Session, school: School, minutes: int) -> None:
    school.safeguarding_escalate_minutes = minutes
    session.add(school)


def parse_contacts(addresses: list[str]) -> list[str]:
    """Email addresses, lower-cased, each once, in the order given; a bad one is an error."""
    found: list[str] = []
    for raw in addresses:
        address = raw.strip().strip(",").lower()
        if not _ADDRESS.match(address):
            raise SettingError(f"{raw!r} is not an email address")
        if address not in found:
            found.append(address)
    return found


def contacts_of(school: School) -> list[str]:
    """The school's escalation contacts (e.g. the head), one address a line as stored."""
    return [line.strip() for line in school.safeguarding_contacts.splitlines() if line.strip()]


def set_contacts(session: Session, school: School, addresses: list[str]) -> None:
    """Replace the contacts; an empty list clears them."""
    school.safeguarding_contacts = "\n".join(addresses)
    session.add(school)
