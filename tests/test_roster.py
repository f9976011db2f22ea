"""Roster import: parsing rules (pure) and the write (SQLite and PostgreSQL)."""

from __future__ import annotations

import io
import time
from datetime import date
from pathlib import Path

import pytest
from sqlalchemy import Engine
from sqlmodel import col, func, select

from storage import roster, seed
from storage.db import transaction
from storage.mis.upn import with_check_letter
from storage.models import Person, PersonStatus, Role, StaffRole
from storage.schools import school_named
from storage.seed import write_roster
from storage.staff import StaffError, add_staff

TODAY = date(2026, 11, 23)
HEADER = "upn,given_name,family_name,date_of_birth,year_group,form,gender,ethnicity,send,pupil_premium,fsm,tutor_email"


def _csv(*lines: str, bom: bool = False, crlf: bool = False) -> bytes:
    text = ("\r\n" if crlf else "\n").join(lines) + ("\r\n" if crlf else "\n")
    return (b"\xef\xbb\xbf" if bom else b"") + text.encode("utf-8")


def _people(engine: Engine, school_id: int) -> dict[str, Person]:
    with transaction(engine, write=False) as session:
        rows = session.exec(select(Person).where(Person.school_id == school_id, col(Person.upn).is_not(None))).all()
        return {p.upn or "": p for p in rows}


def _import(
    engine: Engine, school_id: int, data: bytes, *, skip_invalid: bool = False, mapped: dict[str, str] | None = None
) -> tuple[roster.ImportResult, roster.RosterReader]:
    source = roster.RosterReader(io.BytesIO(data), today=TODAY, mapped=mapped)
    with transaction(engine) as session:
        result = roster.import_roster(session, school_id, source)
        if source.problems and not skip_invalid:
            raise AssertionError(source.problems.summary(20))  # rolls the transaction back
        return result, source


# --- parsing (pure) -----------------------------------------------------------------------------


def test_bom_shuffled_headers_crlf_and_any_case() -> None:
    data = _csv(
        "Year_Group,FAMILY_NAME,Notes,upn,Given Name,SEND,Pupil_Premium,date_of_birth",
        "10,Khan,likes chess,A123456789012,Amira,K,Y,14/03/2011",
        "12,O'Neill,,A12345678901C,Seán,,n,2009-01-31",
        bom=True,
        crlf=True,
    )
    parsed = roster.read_roster_file(data, TODAY)
    assert parsed.errors == []
    assert parsed.ignored_columns == ["Notes"]
    assert parsed.reader.notes.summary(5)[0].startswith("line 3, column upn: a temporary UPN")
    first, second = parsed.rows
    assert (first.upn, first.given_name, first.family_name, first.year_group) == ("A123456789012", "Amira", "Khan", 10)
    assert (first.send, first.pupil_premium, first.date_of_birth) == ("K", True, date(2011, 3, 14))
    assert (second.given_name, second.send, second.pupil_premium) == ("Seán", "N", False)
    assert second.date_of_birth == date(2009, 1, 31)


def test_missing_required_column_names_it() -> None:
    with pytest.raises(roster.RosterFileError) as caught:
        roster.read_roster_file(_csv("upn,given_name,year_group", "A123456789012,Amira,10"), TODAY)
    assert "family_name" in str(caught.value)


def test_bad_date_on_line_seven_names_line_and_column() -> None:
    rows = [
        f"{with_check_letter(f'1234567890{n:02d}')},Pupil{n},Smith,2011-01-0{n},10,10A,F,WBRI,N,N,N,"
        for n in range(1, 8)
    ]
    rows[5] = "U123456789006,Pupil6,Smith,31/02/2011,10,10A,F,WBRI,N,N,N,"  # data row 6 is file line 7
    parsed = roster.read_roster_file(_csv(HEADER, *rows), TODAY)
    assert [(e.line, e.column) for e in parsed.errors] == [(7, "date_of_birth")]
    assert str(parsed.errors[0]).startswith("line 7, column date_of_birth: '31/02/2011' is not a date")
    assert len(parsed.rows) == 6


@pytest.mark.parametrize(
    ("column", "value", "words"),
    [
        ("upn", "12345", "is not a UPN"),
        ("year_group", "Year 15", "not a year group"),
        ("send", "X", "use N (none), K (SEN support) or E (EHC plan)"),
        ("upn", "B123456789012", "wrong check letter"),
        ("pupil_premium", "maybe", "is not Y or N"),
        ("tutor", "not@an-email", "is not an email address"),
        ("given_name", "   ", "is empty"),
    ],
)
def test_each_bad_cell_is_named(column: str, value: str, words: str) -> None:
    cells = dict(
        upn="A123456789012",
        given_name="Amira",
        family_name="Khan",
        year_group="10",
        send="N",
        pupil_premium="N",
        tutor="",
    )
    cells[column] = value
    header = ",".join(cells)
    parsed = roster.read_roster_file(_csv(header, ",".join(cells.values())), TODAY)
    assert [(e.line, e.column) for e in parsed.errors] == [(2, column)]
    assert words in parsed.errors[0].message


def test_duplicate_upn_in_one_file_is_an_error_on_the_second_line() -> None:
    parsed = roster.read_roster_file(
        _csv("upn,given_name,family_name,year_group", "A123456789012,A,B,10", "a123456789012,C,D,11"), TODAY
    )
    assert [str(e) for e in parsed.errors] == ["line 3, column upn: A123456789012 is already on line 2"]


def test_not_text_utf16_and_empty_files_get_clear_errors() -> None:
    with pytest.raises(roster.RosterFileError, match="not text"):
        roster.read_roster_file(b"upn,given_name\nA1,Zo\x81", TODAY)
    with pytest.raises(roster.RosterFileError, match="UTF-16"):
        roster.read_roster_file("upn,given_name".encode("utf-16"), TODAY)
    with pytest.raises(roster.RosterFileError, match="empty"):
        roster.read_roster_file(b"", TODAY)


# --- writing (SQLite and PostgreSQL) ------------------------------------------------------------


def test_missing_column_writes_nothing(engine: Engine) -> None:
    school = seed.school(engine)
    assert school.id is not None
    _import(engine, school.id, _csv(HEADER, "Y123456789001,Amira,Khan,2011-03-14,10,10A,F,APKN,N,Y,Y,"))
    before = {upn: (p.family_name, p.form, p.status) for upn, p in _people(engine, school.id).items()}
    # No family_name column: the import call refuses it whole, nobody is added, changed or marked missing.
    without_family = _csv("upn,given_name,year_group,form", "M123456789002,Oliver,10,10A", "B123456789003,Zara,10,10B")
    with pytest.raises(roster.RosterFileError, match="family_name"):
        _import(engine, school.id, without_family)
    after = {upn: (p.family_name, p.form, p.status) for upn, p in _people(engine, school.id).items()}
    assert after == before == {"Y123456789001": ("Khan", "10A", PersonStatus.active)}


def test_reimport_updates_by_upn_reports_missing_and_links_tutors(engine: Engine) -> None:
    school = seed.school(engine)
    assert school.id is not None
    with transaction(engine) as session:
        tutor = add_staff(session, school.id, "Sam.Patel@School.Example", "Sam Patel", "tutor").person
    first = _csv(
        HEADER,
        "Y123456789001,Amira,Khan,2011-03-14,10,10A,F,APKN,N,Y,Y,sam.patel@school.example",
        "M123456789002,Oliver,Smith,2011-05-01,10,10A,M,WBRI,K,N,N,",
        "B123456789003,Zara,Ali,2011-07-09,10,10B,F,ABAN,N,N,N,",
    )
    result, _ = _import(engine, school.id, first)
    assert (result.added, result.updated, result.unchanged, result.missing) == (3, 0, 0, [])
    people = _people(engine, school.id)
    assert people["Y123456789001"].tutor_id == tutor.id
    assert people["Y123456789001"].pupil_premium and people["M123456789002"].send == "K"

    # Oliver moves form, Zara is no longer in the file, a new pupil arrives.
    second = _csv(
        HEADER,
        "Y123456789001,Amira,Khan,2011-03-14,10,10A,F,APKN,N,Y,Y,sam.patel@school.example",
        "M123456789002,Oliver,Smith,2011-05-01,10,10C,M,WBRI,K,N,N,",
        "Q123456789004,Leo,Nowak,2011-02-02,10,10B,M,WOTH,N,N,N,",
    )
    result, _ = _import(engine, school.id, second)
    assert (result.added, result.updated, result.unchanged) == (1, 1, 1)
    assert result.missing == ["B123456789003 Zara Ali"]
    people = _people(engine, school.id)
    assert len(people) == 4  # nobody duplicated, nobody deleted
    assert people["M123456789002"].form == "10C"
    assert people["B123456789003"].status == PersonStatus.missing
    assert people["Q123456789004"].status == PersonStatus.active

    # Zara comes back: active again.
    third = _csv(HEADER, "B123456789003,Zara,Ali,2011-07-09,10,10B,F,ABAN,N,N,N,")
    result, _ = _import(engine, school.id, third)
    assert result.reactivated == 1
    assert _people(engine, school.id)["B123456789003"].status == PersonStatus.active


def test_two_hundred_rows_naming_one_unknown_tutor_give_one_line_and_nothing_is_written(engine: Engine) -> None:
    school = seed.school(engine)
    assert school.id is not None
    rows = [
        f"{with_check_letter(f'1234567{n:05d}')},P{n},Khan,,10,10A,F,APKN,N,Y,Y,nobody@school.example"
        for n in range(200)
    ]
    with pytest.raises(AssertionError) as refused:
        _import(engine, school.id, _csv(HEADER, *rows))
    assert refused.value.args[0] == [
        "lines 2\u2013201, column tutor: nobody@school.example is not a member of staff; add them with "
        "`waymark staff import FILE.csv` or `waymark staff add nobody@school.example NAME --role tutor`"
    ]
    assert _people(engine, school.id) == {}


def test_skip_invalid_writes_valid_rows_and_never_marks_skipped_pupils_missing(engine: Engine) -> None:
    school = seed.school(engine)
    assert school.id is not None
    _import(engine, school.id, _csv(HEADER, "Y123456789001,Amira,Khan,2011-03-14,10,10A,F,APKN,N,Y,Y,"))
    data = _csv(
        HEADER,
        "Y123456789001,Amira,Khan,not a date,10,10A,F,APKN,N,Y,Y,",
        "M123456789002,Oliver,Smith,2011-05-01,10,10A,M,WBRI,K,N,N,",
    )
    result, source = _import(engine, school.id, data, skip_invalid=True)
    assert (result.added, result.missing) == (1, [])
    assert [(e.line, e.column) for e in source.problems.first] == [(2, "date_of_birth")]
    people = _people(engine, school.id)
    assert people["Y123456789001"].status == PersonStatus.active
    assert people["Y123456789001"].date_of_birth == date(2011, 3, 14)  # the bad row changed nothing


def test_leaving_date_in_the_past_makes_an_alumnus(engine: Engine) -> None:
    school = seed.school(engine)
    assert school.id is not None
    data = _csv("upn,given_name,family_name,year_group,leaving_date", "Y123456789001,Amira,Khan,11,2026-07-20")
    _import(engine, school.id, data)
    person = _people(engine, school.id)["Y123456789001"]
    assert (person.role, person.status) == (Role.alumnus, PersonStatus.left)


def test_schools_are_kept_apart(engine: Engine) -> None:
    data = _csv("upn,given_name,family_name,year_group", "Y123456789001,Amira,Khan,10")
    with transaction(engine) as session:
        one = school_named(session, "One School").school.id
        two = school_named(session, "Two School").school.id
    assert one is not None and two is not None
    _import(engine, one, data)
    result, _ = _import(engine, two, _csv("upn,given_name,family_name,year_group", "L123456789009,Leo,Nowak,9"))
    assert result.missing == []  # school one's pupil is not school two's business
    assert set(_people(engine, one)) == {"Y123456789001"}


def test_staff_add_is_idempotent_by_email_and_checks_input(engine: Engine) -> None:
    school = seed.school(engine)
    assert school.id is not None
    with transaction(engine) as session:
        first = add_staff(session, school.id, "grace@school.example", "Grace Okafor", "tutor")
        again = add_staff(session, school.id, "GRACE@school.example", "Grace Okafor-Mensah", "leader")
        assert first.created and not again.created
        assert again.person.id == first.person.id
        assert (again.person.family_name, again.person.staff_role) == ("Okafor-Mensah", StaffRole.leader)
        with pytest.raises(StaffError, match="not a staff role"):
            add_staff(session, school.id, "x@school.example", "X Y", "headteacher")
        with pytest.raises(StaffError, match="not an email address"):
            add_staff(session, school.id, "nope", "X Y", "tutor")


def test_ten_thousand_rows(engine: Engine, tmp_path: Path) -> None:
    school = seed.school(engine)
    assert school.id is not None
    path = tmp_path / "roster-10k.csv"
    write_roster(10_000, path)
    started = time.perf_counter()
    result, _ = _import(engine, school.id, path.read_bytes())
    first = time.perf_counter() - started
    started = time.perf_counter()
    again, _ = _import(engine, school.id, path.read_bytes())
    second = time.perf_counter() - started
    print(f"\n10,000-row roster on {engine.dialect.name}: first import {first:.2f}s, re-import {second:.2f}s")
    assert result.added == 10_000
    assert (again.added, again.updated, again.unchanged) == (0, 0, 10_000)
    with transaction(engine, write=False) as session:
        assert (
            session.exec(select(func.count()).select_from(Person).where(Person.school_id == school.id)).one() == 10_000
        )
    assert first < 20 and second < 20  # "a few seconds" on a laptop; generous for a shared CI box
