"""Several staff roles: every query that picks leaders, tutors or DSLs reads the main role and the
others, matching whole role names only; schools with nobody in a role are found. On SQLite and PostgreSQL."""

from __future__ import annotations

from sqlalchemy import Engine

from storage import alumni, concerns, nudges, seed
from storage.db import transaction
from storage.models import PersonStatus, StaffRole
from storage.people import schools_without
from storage.staff import add_staff, roles_text


def test_leaders_tutors_and_dsls_are_found_by_any_of_their_roles(engine: Engine) -> None:
    school = seed.school(engine)
    assert school.id is not None
    seed.staff(engine, school.id, "Lee", "Morgan", role=StaffRole.leader, other_staff_roles="dsl")
    seed.staff(engine, school.id, "Tia", "Ward", role=StaffRole.tutor, other_staff_roles=" dsl ,leader")
    seed.staff(engine, school.id, "Dee", "Lead", role=StaffRole.dsl)
    seed.staff(engine, school.id, "Sam", "Patel")
    seed.staff(
        engine, school.id, "Odd", "Name", role=StaffRole.tutor, other_staff_roles="dslx,leaders"
    )  # no whole name
    seed.staff(engine, school.id, "Gone", "Away", role=StaffRole.dsl, status=PersonStatus.missing.value)
    with transaction(engine, write=False) as session:
        assert [p.given_name for p in concerns.dsls(session, school.id)] == ["Lee", "Tia", "Dee"]
        assert [p.given_name for p in alumni.careers_leaders(session, school.id)] == ["Lee", "Tia"]
        assert [p.given_name for p in nudges.tutors(session, school.id)] == ["Tia", "Sam", "Odd"]


def test_schools_without_a_dsl(engine: Engine) -> None:
    covered = seed.school(engine, "Covered")
    bare = seed.school(engine, "Bare")
    assert covered.id is not None and bare.id is not None
    seed.staff(engine, covered.id, "Lee", "Morgan", role=StaffRole.leader, other_staff_roles="dsl")
    seed.staff(engine, bare.id, "Pat", "Shah", role=StaffRole.leader)
    seed.staff(engine, bare.id, "Gone", "Away", role=StaffRole.dsl, status=PersonStatus.missing.value)
    with transaction(engine, write=False) as session:
        assert [s.name for s in schools_without(session, StaffRole.dsl)] == ["Bare"]
        assert [s.name for s in schools_without(session, StaffRole.leader)] == []


def test_adding_staff_with_several_roles_the_first_is_the_main_one_and_a_second_add_replaces_them(
    engine: Engine,
) -> None:
    school = seed.school(engine)
    assert school.id is not None
    with transaction(engine) as session:
        person = add_staff(
            session, school.id, "lee@school.example", "Lee Morgan", "leader", also=["dsl", "leader"]
        ).person
        assert (person.staff_role, person.other_staff_roles) == ("leader", "dsl")
        assert roles_text(person) == "leader and dsl"
        assert [p.id for p in concerns.dsls(session, school.id)] == [person.id]
        again = add_staff(session, school.id, "LEE@school.example", "Lee Morgan", "tutor").person
        assert again.id == person.id and again.staff_roles == {"tutor"} and roles_text(again) == "tutor"
        assert concerns.dsls(session, school.id) == []
