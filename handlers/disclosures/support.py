"""What a pupil or alumnus is told after something they wrote raised a concern, or after they asked
for help: kindly, in words an 11-year-old understands, and never a promise of secrecy."""

from __future__ import annotations

from datetime import date, datetime, time, timedelta
from zoneinfo import ZoneInfo

from core.calendar import is_school_day, parse_school_holidays
from handlers.access import age_on
from storage.models import Person, Role, School

STAFF_DAY_STARTS = time(8, 0)
STAFF_DAY_ENDS = time(18, 0)

CHILDLINE = "You can talk to Childline for free, any time, day or night: call 0800 1111 or visit childline.org.uk."
DANGER = "If you are in danger right now, call 999."
ADULT_SERVICES = (
    "If you are in danger right now, call 999. You can talk to Samaritans for free, any time, "
    "day or night: call 116 123."
)


def in_staff_hours(now: datetime, zone: ZoneInfo, school: School | None) -> bool:
    """Monday to Friday 08:00-18:00 school time, not a bank holiday or one of the school's holidays."""
    local = now.astimezone(zone)
    holidays = parse_school_holidays(school.holidays if school is not None else "")
    return is_school_day(local.date(), holidays) and STAFF_DAY_STARTS <= local.time() < STAFF_DAY_ENDS


def next_school_day(now: datetime, zone: ZoneInfo, school: School | None) -> date:
    """The first school day whose staff hours have not ended yet (today before 08:00 counts)."""
    local = now.astimezone(zone)
    holidays = parse_school_holidays(school.holidays if school is not None else "")
    day = local.date() if local.time() < STAFF_DAY_STARTS else local.date() + timedelta(days=1)
    while not is_school_day(day, holidays):
        day += timedelta(days=1)
    return day


def when_in_touch(now: datetime, zone: ZoneInfo, school: School | None) -> str:
    """ "today", or the next school day by name when it is evening, a weekend or a holiday."""
    if in_staff_hours(now, zone, school):
        return "today"
    day = next_school_day(now, zone, school)
    if day == now.astimezone(zone).date():
        return "this morning, when school opens"
    return f"on the next school day, {day:%A} {day.day} {day:%B}"


def is_adult_alumnus(person: Person, today: date) -> bool:
    return (
        person.role == Role.alumnus and person.date_of_birth is not None and age_on(person.date_of_birth, today) >= 18
    )


def support_text(person: Person, school: School | None, now: datetime, zone: ZoneInfo) -> str:
    when = when_in_touch(now, zone, school)
    if is_adult_alumnus(person, now.astimezone(zone).date()):
        return (
            "Thank you for telling us. What you wrote makes us want to check you are safe, so it has been "
            f"passed to the school's safeguarding lead, and they will be in touch {when}.\n\n{ADULT_SERVICES}"
        )
    return (
        "Thank you for telling us. You are not in trouble.\n\n"
        "What you wrote makes us want to check you are safe, so it has been passed to the school's "
        "safeguarding lead. That is a member of staff whose job is to help keep pupils safe. "
        f"They will be in touch with you {when}.\n\n"
        f"{DANGER}\n\n{CHILDLINE}"
    )
