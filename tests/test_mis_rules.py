"""The pure rules of MIS exports: values, UPN check letters, header spellings and profiles,
grouped problems. Table-driven: each row is a spelling a real export uses."""

from __future__ import annotations

from datetime import date

import pytest

from storage.mis import headers, values
from storage.mis.problems import Problems, RowError
from storage.mis.reader import control_message
from storage.mis.staff_file import roles_of
from storage.mis.upn import UpnKind, check_letter, upn_kind, with_check_letter


@pytest.mark.parametrize(
    ("raw", "code"),
    [("F", "F"), ("Female", "F"), ("FEMALE", "F"), ("girl", "F"), ("m", "M"), ("MALE", "M"), ("X", "X"),
     ("Non-binary", "X"), ("", None)],
)  # fmt: skip
def test_gender(raw: str, code: str | None) -> None:
    assert values.gender(raw) == code


@pytest.mark.parametrize(
    ("raw", "code"),
    [("N", "N"), ("", "N"), ("No SEN", "N"), ("Monitoring", "N"), ("K", "K"), ("SEN Support", "K"),
     ("A", "K"), ("P", "K"), ("School Action Plus", "K"), ("E", "E"), ("EHC Plan", "E"), ("EHCP", "E"),
     ("S", "E"), ("Statement", "E"), ("e", "E")],
)  # fmt: skip
def test_sen_provision(raw: str, code: str) -> None:
    assert values.sen(raw) == code


@pytest.mark.parametrize(
    ("raw", "flag"),
    [("T", True), ("F", False), ("Y", True), ("", False), ("N", False), ("Yes", True), ("no", False),
     ("TRUE", True), ("False", False), ("1", True), ("0", False)],
)  # fmt: skip
def test_booleans(raw: str, flag: bool) -> None:
    assert values.flag(raw) is flag


@pytest.mark.parametrize(
    "raw",
    ["2010-04-13", "13/04/2010", "13 April 2010", "13-Apr-2010", "13 Apr 2010", "13.04.2010",
     "2010-04-13 00:00:00.000000", "13th April 2010"],
)  # fmt: skip
def test_dates(raw: str) -> None:
    assert values.a_date(raw) == date(2010, 4, 13)


@pytest.mark.parametrize(
    ("raw", "year"), [("9", 9), ("09", 9), ("Y9", 9), ("Year 9", 9), ("NC Year 9", 9), ("yr 9", 9)]
)
def test_year_groups(raw: str, year: int) -> None:
    assert values.year_group(raw) == year


@pytest.mark.parametrize(
    ("rule", "raw", "words"),
    [(values.gender, "Unknown", "is not a gender"), (values.sen, "Z", "is not a SEND code"),
     (values.flag, "maybe", "is not Y or N"), (values.a_date, "31/02/2011", "is not a date"),
     (values.a_date, "13 Smarch 2010", "is not a date"), (values.year_group, "R", "is not a year group"),
     (values.year_group, "Year 15", "is not a year group")],
)  # fmt: skip
def test_unreadable_values_say_what_to_write(rule: object, raw: str, words: str) -> None:
    with pytest.raises(ValueError, match=words):
        rule(raw)  # type: ignore[operator]


@pytest.mark.parametrize(
    ("raw", "code"),
    [("WBRI", "WBRI"), ("apkn", "APKN"), ("White - British", "WBRI"), ("Pakistani", "APKN"),
     ("Black or Black British - Caribbean", "BCRB"), ("Mixed - White and Asian", "MWAS"), ("Chinese", "CHNE"),
     ("Information not yet obtained", "NOBT"), ("WENG", "WENG"), ("Asian", "Asian"), ("", None)],
)  # fmt: skip
def test_ethnicity_codes_and_unambiguous_words(raw: str, code: str | None) -> None:
    # "WENG" (an extended local code) and "Asian" (several codes fit) are kept as given.
    assert values.ethnicity(raw) == code
    assert values.is_dfe_code(code or "") == (code in values.ETHNICITY_CODES)


def test_names_lose_invisible_characters_and_are_composed() -> None:
    assert values.clean_name("Ev\u202eil\u200b Name\u2066") == "Evil Name"
    assert values.clean_name("Zoe\u0308") == "Zo\u00eb"  # decomposed e + diaeresis -> one letter
    assert values.clean_name("  O'Neill  ") == "O'Neill"


def test_upn_check_letters_from_the_dfe_rule() -> None:
    assert check_letter("801200005001") == "B"
    assert upn_kind("B801200005001") is UpnKind.permanent
    with pytest.raises(ValueError, match=r"wrong check letter.*starts with B"):
        upn_kind("A801200005001")
    temporary = with_check_letter("80120000500A")
    assert upn_kind(temporary) is UpnKind.temporary
    with pytest.raises(ValueError, match="is not a UPN"):
        upn_kind("B80120000500")
    with pytest.raises(ValueError, match="is not a UPN"):
        upn_kind("I801200005001")  # I, O and S are never check letters


def test_control_characters_are_placed_never_shown() -> None:
    message = control_message("Am\x00ira", name=True)
    assert message is not None and "NUL" in message and "character 3" in message and "Am" not in message
    assert control_message("Amira\nKhan", name=True) is not None
    assert control_message("line one\nline two", name=False) is None  # CSV allows breaks in cells
    assert control_message("Amira", name=True) is None


@pytest.mark.parametrize(
    ("header", "profile"),
    [
        (["UPN", "Legal Surname", "Forename", "Reg Group", "Year", "DOB", "SEN Status", "FSM Eligible"], "SIMS report"),
        (["UPN", "First Name", "Last Name", "Year Group", "Registration Form", "Date of Birth"], "Arbor export"),
        (["UPN", "Legal Forename", "Legal Surname", "Registration Group", "NC Year", "Gender"], "Bromcom export"),
        (["upn", "forename", "surname", "date_of_birth.date", "education_details.current_nc_year"], "Wonde fields"),
        (["upn", "first_name", "legal_first_name", "last_name", "year_code", "is_fsm"], "Assembly fields"),
        (["upn", "given_name", "family_name", "year_group"], "Waymark's own columns"),
    ],
)
def test_each_layout_is_recognised_and_mapped(header: list[str], profile: str) -> None:
    plan = headers.plan_header(header)
    assert plan.profile == profile
    assert set(headers.REQUIRED) <= set(plan.positions)
    assert plan.ignored == []


def test_spellings_prefixes_and_map() -> None:
    plan = headers.plan_header(
        ["U.P.N.", "legal_surname", "LEGAL FORENAME", "Preferred Forename", "nc-year", "% Attendance", "Tutor Grp"],
        headers.parse_map(["Tutor Grp=form"]),
    )
    assert plan.used == {
        "upn": "U.P.N.",
        "given_name": "LEGAL FORENAME",
        "family_name": "legal_surname",
        "preferred_name": "Preferred Forename",
        "year_group": "nc-year",
        "form": "Tutor Grp",
        "attendance": "% Attendance",
    }
    # Assembly: first_name is the name used, legal_first_name the legal one.
    assembly = headers.plan_header(["upn", "first_name", "legal_first_name", "last_name", "legal_last_name", "year"])
    assert (assembly.used["given_name"], assembly.used["preferred_name"]) == ("legal_first_name", "first_name")
    assert assembly.used["family_name"] == "legal_last_name"
    # Any "Preferred" spelling of the given name; --map also takes a field's usual spellings.
    preferred = headers.plan_header(["UPN", "Legal Forenames", "Surname", "Year", "Preferred Forenames"])
    assert preferred.used["preferred_name"] == "Preferred Forenames"
    assert headers.parse_map(["Tutor=tutor_email", "Needs=SEN Status"]) == {"tutor": "tutor", "needs": "send"}
    with pytest.raises(headers.HeaderError, match="not one of our fields"):
        headers.parse_map(["Tutor Grp=tutor_colour"])
    with pytest.raises(headers.HeaderError, match="appears twice"):
        headers.plan_header(["upn", "Surname", "surname", "Forename", "Year"])


def test_half_matching_header_reports_every_equality_column() -> None:
    plan = headers.plan_header(["UPN", "Surname", "Forename", "Year", "SEN Need Type", "Free Meal Status"])
    notes = {note.split(":")[0]: note for note in plan.equality_notes}
    assert set(notes) == {"send", "fsm", "pupil_premium", "gender", "ethnicity", "date_of_birth"}
    assert "'SEN Need Type' looks like it but is not understood" in notes["send"]
    assert "count as no SEND" in notes["send"]
    assert "'Free Meal Status' looks like it" in notes["fsm"]
    assert "no column in this file" in notes["gender"]
    assert "age check" in notes["date_of_birth"]


def test_problems_group_lines_into_runs() -> None:
    problems = Problems()
    for line in [*range(2, 202), 205, 207, 300, 301, 400, 500, 600]:
        problems.add(RowError(line, "tutor", "nobody@school.org is not a member of staff"))
    problems.add(RowError(9, "date_of_birth", "'x' is not a date"))
    first, second = problems.summary(10)
    assert first == (
        "lines 2\u2013201, 205, 207, 300\u2013301, 400 and 2 more, column tutor: nobody@school.org is not a member of staff"
    )
    assert second == "line 9, column date_of_birth: 'x' is not a date"
    assert problems.summary(1)[1] == "... and 1 more kinds of problem"


def test_staff_roles_as_staff_lists_write_them() -> None:
    assert roles_of("Careers Leader; DSL") == ("leader", "dsl")
    assert roles_of("") == ("tutor",)
    assert roles_of("Form Tutor") == ("tutor",)
    with pytest.raises(ValueError, match="'head' is not a staff role"):
        roles_of("head")
