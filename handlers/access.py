"""Who may do and see what: pure functions, no I/O, so every rule is tested on its own."""

from __future__ import annotations

from collections.abc import Collection
from datetime import date

from storage.models import Person, Role, StaffRole


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


# --- who may see and record what -------------------------------------------------------------
#
# Every rule takes the people involved (and, for tutors, the ids of pupils assigned to them beyond
# their tutor group) and answers yes or no. Handlers call these on every step, button presses
# included, because button data can be forged. Anything not allowed here is refused.

RECORD_STAFF = frozenset({StaffRole.tutor.value, StaffRole.leader.value})


def private_and_linked(viewer: Person | None, chat_type: str) -> bool:
    return viewer is not None and chat_type == "private"


def staff_roles(viewer: Person | None) -> frozenset[str]:
    """Every staff role a member of staff holds (main role and others); empty for anyone else."""
    if viewer is None or viewer.role != Role.staff:
        return frozenset()
    return viewer.staff_roles


def is_leader(viewer: Person | None) -> bool:
    return StaffRole.leader.value in staff_roles(viewer)


def is_dsl(viewer: Person | None) -> bool:
    """A designated safeguarding lead, whether that is their main role or one beside it."""
    return StaffRole.dsl.value in staff_roles(viewer)


def is_record_staff(viewer: Person | None) -> bool:
    """Tutors and careers leaders keep advice records; other staff (e.g. the DSL alone) do not."""
    return bool(staff_roles(viewer) & RECORD_STAFF)


def sees_every_pupil(viewer: Person | None) -> bool:
    return is_leader(viewer)


def in_caseload(staff: Person, pupil: Person, assigned: Collection[int] = ()) -> bool:
    """A pupil of this member of staff: tutor group, assigned to them, or any pupil for the leader."""
    if not is_record_staff(staff) or staff.school_id != pupil.school_id or pupil.role != Role.pupil:
        return False
    if sees_every_pupil(staff):
        return True
    return (staff.id is not None and pupil.tutor_id == staff.id) or pupil.id in assigned


def dsl_sees(viewer: Person | None, subject: Person) -> bool:
    """A DSL may open any pupil's record at their school (safeguarding reaches past the caseload)."""
    return (
        is_dsl(viewer) and viewer is not None and viewer.school_id == subject.school_id and subject.role == Role.pupil
    )


def may_view_record(
    viewer: Person | None, subject: Person, assigned: Collection[int] = (), chat_type: str = "private"
) -> bool:
    """Pupils and alumni read their own record; tutors their caseload's; the leader and DSLs every pupil's."""
    if viewer is None or not private_and_linked(viewer, chat_type) or viewer.school_id != subject.school_id:
        return False
    if viewer.role in (Role.pupil, Role.alumnus):
        return viewer.id is not None and viewer.id == subject.id
    return in_caseload(viewer, subject, assigned) or dsl_sees(viewer, subject) or leader_sees_alumnus(viewer, subject)


def leader_sees_alumnus(viewer: Person | None, subject: Person) -> bool:
    """The careers leader follows former pupils' destinations, so may open an alumnus's record; tutors may not."""
    return (
        is_leader(viewer)
        and viewer is not None
        and viewer.school_id == subject.school_id
        and (subject.role == Role.alumnus)
    )


def may_log_advice(
    viewer: Person | None, subject: Person, assigned: Collection[int] = (), chat_type: str = "private"
) -> bool:
    if viewer is None or not private_and_linked(viewer, chat_type):
        return False
    return in_caseload(viewer, subject, assigned)


def may_see_staff_notes(
    viewer: Person | None, subject: Person, assigned: Collection[int] = (), chat_type: str = "private"
) -> bool:
    """Staff-only notes: staff who may view the pupil; never the pupil, never an alumnus, not even their own."""
    if viewer is None or viewer.role != Role.staff or not private_and_linked(viewer, chat_type):
        return False
    return in_caseload(viewer, subject, assigned) or dsl_sees(viewer, subject)


def may_view_destinations(viewer: Person | None, subject: Person, chat_type: str = "private") -> bool:
    """An alumnus sees only their own destinations; the careers leader sees every leaver's in the school."""
    if viewer is None or not private_and_linked(viewer, chat_type) or viewer.school_id != subject.school_id:
        return False
    if viewer.role == Role.alumnus:
        return viewer.id is not None and viewer.id == subject.id
    return is_leader(viewer) and subject.role == Role.alumnus


def may_see_attention(viewer: Person | None, chat_type: str = "private") -> bool:
    return private_and_linked(viewer, chat_type) and is_leader(viewer)


def may_see_concerns(viewer: Person | None, chat_type: str = "private") -> bool:
    """Safeguarding concerns and their notes: DSLs only, in a private chat."""
    return private_and_linked(viewer, chat_type) and is_dsl(viewer)


def may_open_concern(viewer: Person | None, school_id: int, chat_type: str = "private") -> bool:
    """One concern: a DSL of the concern's own school."""
    return may_see_concerns(viewer, chat_type) and viewer is not None and viewer.school_id == school_id
