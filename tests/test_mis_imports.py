"""Real MIS exports imported end to end (SQLite and PostgreSQL): a file in each layout as schools
export it, checked field by field in the database; staff in bulk; tutors by name; the migration
that normalises values already stored; the greeting by preferred name."""

from __future__ import annotations

import io
from datetime import date
from typing import Any

import pytest
from alembic import command
from sqlalchemy import Engine, text
from sqlmodel import col, select

from storage import roster, seed
from storage.db import transaction
from storage.migrate import alembic_config, upgrade
from storage.mis.staff_file import read_staff
from storage.models import Person, Role, utcnow
from storage.staff import import_staff
from tests.conftest import MakeChat

TODAY = date(2026, 11, 23)


def _excel(*lines: str, encoding: str = "utf-8-sig") -> bytes:
    """As Excel saves a CSV: CRLF line endings, and a BOM in 'CSV UTF-8'."""
    return ("\r\n".join(lines) + "\r\n").encode(encoding)


def _import(engine: Engine, school_id: int, data: bytes) -> roster.RosterReader:
    source = roster.RosterReader(io.BytesIO(data), today=TODAY)
    with transaction(engine) as session:
        roster.import_roster(session, school_id, source)
        if source.problems:
            raise AssertionError(source.problems.summary(20))
    return source


def _pupil(engine: Engine, upn: str) -> Person:
    with transaction(engine, write=False) as session:
        return session.exec(select(Person).where(Person.upn == upn)).one()


LAYOUTS: dict[str, tuple[bytes, str, dict[str, Any]]] = {
    "sims": (
        _excel(
            "UPN,Legal Surname,Legal Forename,Preferred Forename,Reg Group,Year,DOB,Gender,Ethnicity,SEN Status,"
            "Pupil Premium Indicator,Eligible for free meals,EAL,Ever in care,% Attendance",
            "Y123456789001,O'Neill,Siobhán,Shiv,9A,NC Year 9,13 April 2012,Female,WBRI,S,Y,T,,F,94.5",
        ),
        "SIMS report",
        dict(family_name="O'Neill", given_name="Siobhán", preferred_name="Shiv", form="9A", year_group=9,
             date_of_birth=date(2012, 4, 13), gender="F", ethnicity="WBRI", send="E", pupil_premium=True, fsm=True,
             eal=False, looked_after=False, attendance=94.5),
    ),
    "arbor": (
        _excel(
            "UPN,First Name,Last Name,Preferred First Name,Year Group,Registration Form,Date of Birth,Gender,"
            "Ethnicity,SEN Provision,FSM,Pupil Premium,EAL,Looked After,Leaving Date",
            "M123456789002,Zoë,Smith,,Year 10,10B,13-Apr-2011,M,Pakistani,SEN Support,No,Yes,Yes,No,",
        ),
        "Arbor export",
        dict(given_name="Zoë", family_name="Smith", preferred_name=None, year_group=10, form="10B",
             date_of_birth=date(2011, 4, 13), gender="M", ethnicity="APKN", send="K", fsm=False, pupil_premium=True,
             eal=True, looked_after=False, leaving_date=None, role=Role.pupil),
    ),
    "bromcom": (
        _excel(
            "UPN,Legal Forename,Legal Surname,Registration Group,NC Year,Date of Birth,Gender,Ethnic Code,"
            "SEN Status,FSM Eligible,Pupil Premium,EAL,In Care",
            "B123456789003,Siân,Jones,11C,11,01/09/2010,F,White - Irish,N,N,N,N,Y",
        ),
        "Bromcom export",
        dict(given_name="Siân", family_name="Jones", form="11C", year_group=11, date_of_birth=date(2010, 9, 1),
             gender="F", ethnicity="WIRI", send="N", fsm=False, pupil_premium=False, looked_after=True),
    ),
    "wonde": (
        _excel(
            "upn,forename,surname,gender,date_of_birth.date,education_details.current_nc_year,"
            "extended_details.data.sen_status,extended_details.data.free_school_meals,"
            "extended_details.data.premium_pupil_indicator,extended_details.data.ethnicity,"
            "extended_details.data.in_lea_care",
            "Q123456789004,Leo,Nowak,MALE,2014-09-29 00:00:00.000000,7,K,false,true,WOTH,false",
        ),
        "Wonde fields",
        dict(given_name="Leo", family_name="Nowak", gender="M", date_of_birth=date(2014, 9, 29), year_group=7,
             send="K", fsm=False, pupil_premium=True, ethnicity="WOTH", looked_after=False),
    ),
    "assembly": (
        _excel(
            "upn,first_name,legal_first_name,last_name,legal_last_name,dob,year_code,gender,ethnicity_code,"
            "sen_category,is_fsm,is_pp,is_eal,in_care,end_date",
            "L123456789009,Mo,Mohammed,Ali,Ali,2008-02-02,13,M,ABAN,A,true,true,false,false,2026-07-20",
        ),
        "Assembly fields",
        dict(given_name="Mohammed", preferred_name="Mo", family_name="Ali", date_of_birth=date(2008, 2, 2),
             year_group=13, gender="M", ethnicity="ABAN", send="K", fsm=True, pupil_premium=True, eal=False,
             looked_after=False, leaving_date=date(2026, 7, 20), role=Role.alumnus),
    ),
    "windows-1252": (
        _excel(
            "UPN,Forename,Surname,Gender,DOB,Year,Reg,English as additional language,Pupil Premium Indicator,"
            "Eligible for free meals,Ever in care,SEN Status,Ethnicity",
            "A123456789012,Zoë,O'Neill,F,13 April 2012,Year 9,9A,No,,F,F,N,WBRI",
            "U123456789006,Siân,Ó Briain,F,01/02/2012,Y9,9B,Yes,Y,T,T,E,AIND",
            encoding="cp1252",
        ),
        "SIMS report",
        dict(given_name="Zoë", family_name="O'Neill", gender="F", year_group=9, form="9A", eal=False,
             pupil_premium=False, fsm=False, looked_after=False, send="N"),
    ),
}  # fmt: skip


@pytest.mark.parametrize("layout", list(LAYOUTS))
def test_each_layout_lands_field_by_field(engine: Engine, layout: str) -> None:
    data, profile, expected = LAYOUTS[layout]
    school = seed.school(engine)
    assert school.id is not None
    source = _import(engine, school.id, data)
    assert source.plan.profile == profile
    # Assembly's last_name beside legal_last_name: the legal one is used, the other listed as ignored.
    assert source.plan.ignored == (["last_name"] if layout == "assembly" else [])
    upn = data.decode("cp1252" if layout == "windows-1252" else "utf-8-sig").splitlines()[1].split(",")[0]
    person = _pupil(engine, upn)
    assert {name: getattr(person, name) for name in expected} == expected
    if layout == "windows-1252":
        assert source.encoding.codec == "cp1252"
        assert _pupil(engine, "U123456789006").given_name == "Siân"
        assert _pupil(engine, "U123456789006").family_name == "Ó Briain"


def test_a_later_file_without_a_column_keeps_what_was_stored(engine: Engine) -> None:
    school = seed.school(engine)
    assert school.id is not None
    _import(engine, school.id, LAYOUTS["sims"][0])
    source = _import(engine, school.id, _excel("UPN,Surname,Forename,Year", "Y123456789001,O'Neill,Siobhán,10"))
    person = _pupil(engine, "Y123456789001")
    assert (person.year_group, person.send, person.fsm, person.preferred_name) == (10, "E", True, "Shiv")
    assert len(source.plan.equality_notes) == 6


def test_names_cleaned_and_control_characters_refused_without_echo(engine: Engine) -> None:
    school = seed.school(engine)
    assert school.id is not None
    _import(engine, school.id, _excel("UPN,Forename,Surname,Year", "Y123456789001,Am\u202eira\u200b,Khan,10"))
    assert _pupil(engine, "Y123456789001").given_name == "Amira"
    source = roster.RosterReader(
        io.BytesIO(_excel("UPN,Forename,Surname,Year", "M123456789002,Secret\x00Name,Khan,10")), today=TODAY
    )
    assert list(source.rows()) == []
    (line,) = source.problems.summary(5)
    assert line.startswith("line 2, column given_name: has a control character (NUL) at character 7")
    assert "Secret" not in line and "Name" not in line


def test_staff_in_bulk_idempotent_and_tutors_named_by_name(engine: Engine) -> None:
    school = seed.school(engine)
    assert school.id is not None
    staff_file = _excel(
        "Email Address,First Name,Surname,Role",
        "Sam.Patel@School.Example,Sam,Patel,Form Tutor",
        "kim.lee@school.example,Kim,Lee,",
        "priya@school.example,Priya,Shah,Careers Leader; DSL",
        "kim.lee2@school.example,Kim,Lee,tutor",
    )
    staff = read_staff(io.BytesIO(staff_file))
    assert not staff.problems
    with transaction(engine) as session:
        first = import_staff(session, school.id, staff.rows)
    with transaction(engine) as session:
        again = import_staff(session, school.id, read_staff(io.BytesIO(staff_file)).rows)
    assert (first.added, first.updated, first.unchanged) == (4, 0, 0)
    assert (again.added, again.updated, again.unchanged) == (0, 0, 4)
    with transaction(engine, write=False) as session:
        priya = session.exec(select(Person).where(Person.email == "priya@school.example")).one()
        assert priya.staff_roles == {"leader", "dsl"}
        sam = session.exec(select(Person).where(Person.email == "sam.patel@school.example")).one()

    roster_file = _excel("UPN,Forename,Surname,Year,Form Tutor", 'Y123456789001,Amira,Khan,10,"Patel, Sam"')
    _import(engine, school.id, roster_file)
    assert _pupil(engine, "Y123456789001").tutor_id == sam.id
    # As SIMS often writes a tutor: title, initial, surname (or title and surname).
    for written in ("Mr S. Patel", "Mr Patel", "sam patel"):
        _import(engine, school.id, _excel("UPN,Forename,Surname,Year,Tutor", f"Y123456789001,Amira,Khan,10,{written}"))
        assert _pupil(engine, "Y123456789001").tutor_id == sam.id
    shared = roster.RosterReader(
        io.BytesIO(_excel("UPN,Forename,Surname,Year,Tutor", "M123456789002,Leo,Nowak,10,Kim Lee")), today=TODAY
    )
    with transaction(engine) as session:
        roster.import_roster(session, school.id, shared)
        session.rollback()
    assert shared.problems.summary(5) == [
        "line 2, column tutor: 'Kim Lee' is the name of 2 members of staff "
        "(kim.lee@school.example and kim.lee2@school.example); give the tutor's email"
    ]
    nobody = roster.RosterReader(
        io.BytesIO(_excel("UPN,Forename,Surname,Year,Tutor", "M123456789002,Leo,Nowak,10,Mrs Okafor")), today=TODAY
    )
    with transaction(engine) as session:
        roster.import_roster(session, school.id, nobody)
        session.rollback()
    assert nobody.problems.summary(5)[0].startswith("line 2, column tutor: no member of staff is called 'Mrs Okafor'")


def test_migration_normalises_values_already_stored(engine: Engine) -> None:
    config = alembic_config()
    with engine.begin() as conn:
        config.attributes["connection"] = conn
        command.downgrade(config, "0003")
    with engine.begin() as conn:
        conn.execute(
            text(
                "INSERT INTO school (name, skills, holidays, risk_weights, safeguarding_escalate_minutes, "
                "safeguarding_contacts, safeguarding_phrases, created_at) "
                "VALUES ('Old', '', '', '', 60, '', '', :at)"
            ),
            {"at": utcnow()},
        )
        school_id = conn.execute(text("SELECT id FROM school")).scalar_one()
        for n, (gender, ethnicity, send) in enumerate(
            [("Female", "White - British", "N"), ("F", "WBRI", "S"), ("boy", "Martian", "K"), ("??", None, "N")]
        ):
            conn.execute(
                text("INSERT INTO person (school_id, role, other_staff_roles, status, upn, given_name, family_name, "
                     "gender, ethnicity, send, pupil_premium, fsm, eal, looked_after, young_carer, exclusions, "
                     "interests, created_at, updated_at) VALUES (:school, 'pupil', '', 'active', :upn, 'A', 'B', "
                     ":gender, :ethnicity, :send, false, false, false, false, false, 0, '', :at, :at)"),
                {"school": school_id, "upn": f"X{n}", "gender": gender, "ethnicity": ethnicity, "send": send,
                 "at": utcnow()},
            )  # fmt: skip
    upgrade(engine)
    with transaction(engine, write=False) as session:
        people = session.exec(select(Person).order_by(col(Person.upn))).all()
        assert [(p.gender, p.ethnicity, p.send, p.preferred_name) for p in people] == [
            ("F", "WBRI", "N", None),
            ("F", "WBRI", "E", None),
            ("M", "Martian", "K", None),  # not a code and no description of one: kept
            ("??", None, "N", None),  # unreadable: kept as it was, nothing lost
        ]


def test_the_greeting_uses_the_preferred_name(engine: Engine, chat: MakeChat) -> None:
    school = seed.school(engine)
    pupil = seed.pupil(engine, school.id, "Siobhán", "O'Neill", preferred_name="Shiv")
    talk = chat("shiv", pupil)
    talk.say("/start")
    assert talk.text.startswith("Hello again, Shiv!")
