"""Who may do and see what: pure functions, no I/O, so every rule is tested on its own."""

from __future__ import annotations

from datetime import date

from storage.models import Person, Role


def age_on(date_of_birth: date, today: date) -> int:
    before_birthday = (today.month, today.day) < (date_of_birth.month, date_of_birth.day)
    return today.year - date_of_birth.year - int(before_birthday)


def too_young_for(person: Person, min_age: int, today: date) -> bool:
    """A pupil under the platform's minimum age may not link there. Unknown birthdays count as too young."""
    if min_age <= 0 or person.role != Role.pupil:
        return False
    if person.date_of_birth is None:
        return True
    return age_on(person.date_of_birth, today) < min_age
