"""The local authority exchange file: one row per young person, NCCIS activity codes, read and written.

LA templates vary; this is the common shape REFERENCE.md describes (a UTF-8 CSV keyed by UPN with
names, date of birth, sex, ethnicity, SEN, activity code, provider, start date and date
ascertained). The same columns are read back by `waymark import-destinations --source la`, so a
file the LA returns with its own codes filled in goes straight in.

Ethnicity: NCCIS has its own three-letter codes. We map only the census codes whose NCCIS code
REFERENCE.md lists and whose meaning is unambiguous; every other code is written blank and counted
as not mapped, so a wrong guess never reaches the LA. WHI and WHR are NCCIS codes (not census
ones) that REFERENCE.md lists without their meanings: that they are White British (WBRI) and White
Irish (WIRI) is likely but unconfirmed, so those two census codes are among the not mapped until
someone checks them against the NCCIS management information requirement.
"""

from __future__ import annotations

import csv
import io
from collections import Counter
from collections.abc import Iterable
from dataclasses import dataclass
from datetime import date

from core.csvsafe import FORMULA_STARTS, SafeDictWriter
from storage.destinations import CANNOT_BE_CONTACTED, NOT_KNOWN, by_code
from storage.nccis import Tracked

COLUMNS: tuple[str, ...] = (
    "UPN",
    "Surname",
    "Forename",
    "Date of birth",
    "Gender",
    "Ethnicity",
    "SEN",
    "Activity code",
    "Provider",
    "Start date",
    "Date ascertained",
)
CENSUS_TO_NCCIS: dict[str, str] = {
    "AIND": "IND",  # Indian
    "APKN": "PAK",  # Pakistani
    "ABAN": "BAN",  # Bangladeshi
    "CHNE": "CHI",  # Chinese
    "BCRB": "BLC",  # Black Caribbean
    "MWBC": "MXC",  # Mixed White and Black Caribbean
}
REFUSED = 830
# Codes an LA may send us: every code a category refines to, and the three kinds of "unknown".
ACCEPTED_CODES = frozenset({NOT_KNOWN, CANNOT_BE_CONTACTED, REFUSED})


@dataclass(frozen=True)
class YoungPerson:
    upn: str
    family_name: str
    given_name: str
    date_of_birth: date | None
    gender: str
    ethnicity: str  # census code
    send: str  # N, K, E
    activity_code: int
    provider: str
    ascertained: date | None
    started: date | None = None  # see `young_person`


@dataclass(frozen=True)
class Written:
    text: str
    rows: int
    not_mapped: Counter[str]  # census ethnicity code -> young people written with a blank ethnicity


def young_person(t: Tracked) -> YoungPerson:
    """One row of the file. Start date: Waymark stores no date an activity began (alumni tell us where
    they are, not since when), so it is the date the destination was reported — the latest report
    counts, so the activity had started by then. Blank where nothing is reported (810) and for a
    sixth former on roll (no destination; the LA knows the school's year dates)."""
    p = t.person
    return YoungPerson(
        p.upn or "",
        p.family_name,
        p.given_name,
        p.date_of_birth,
        p.gender or "",
        p.ethnicity or "",
        p.send,
        t.code,
        t.provider,
        t.ascertained,
        t.ascertained,
    )


def nccis_ethnicity(census: str) -> str | None:
    return CENSUS_TO_NCCIS.get(census.strip().upper())


def write(people: Iterable[YoungPerson]) -> Written:
    buffer = io.StringIO(newline="")
    writer = SafeDictWriter(buffer, COLUMNS)
    writer.writeheader()
    rows, not_mapped = 0, Counter[str]()
    for p in people:
        ethnicity = nccis_ethnicity(p.ethnicity)
        if ethnicity is None:
            not_mapped[p.ethnicity.strip().upper() or "(none recorded)"] += 1
        writer.writerow(
            {
                "UPN": p.upn,
                "Surname": p.family_name,
                "Forename": p.given_name,
                "Date of birth": p.date_of_birth.isoformat() if p.date_of_birth else "",
                "Gender": p.gender,
                "Ethnicity": ethnicity or "",
                "SEN": p.send,
                "Activity code": p.activity_code,
                "Provider": p.provider,
                "Start date": p.started.isoformat() if p.started else "",
                "Date ascertained": p.ascertained.isoformat() if p.ascertained else "",
            }
        )
        rows += 1
    return Written(buffer.getvalue(), rows, not_mapped)


@dataclass(frozen=True)
class Activity:
    """One row of an LA's file: what they found a young person doing, and when."""

    line: int
    upn: str
    code: int
    provider: str
    ascertained: date


@dataclass(frozen=True)
class Problem:
    line: int
    reason: str


def _unsafe(text: str) -> str:
    """Undo the quote our writer puts before a cell a spreadsheet would run as a formula."""
    return text[1:] if text.startswith("'") and text[1:].startswith(FORMULA_STARTS) else text


@dataclass(frozen=True)
class LaFile:
    activities: list[Activity]
    problems: list[Problem]  # lines that cannot be used, with why in plain words
    unascertained: int  # lines with no date ascertained: nothing found out yet, so nothing to take in


def read(text: str) -> LaFile:
    """The activities in an LA file, and each line that cannot be used."""
    reader = csv.DictReader(io.StringIO(text.lstrip("\ufeff")))
    missing = [c for c in ("UPN", "Activity code", "Date ascertained") if c not in (reader.fieldnames or [])]
    if missing:
        return LaFile([], [Problem(1, f"the file has no {', '.join(repr(c) for c in missing)} column")], 0)
    found, problems, unascertained = [], [], 0
    for row in reader:
        line = reader.line_num
        upn = (row.get("UPN") or "").strip()
        code_text = (row.get("Activity code") or "").strip()
        when_text = (row.get("Date ascertained") or "").strip()
        if not upn:
            problems.append(Problem(line, "no UPN"))
            continue
        if not when_text:
            unascertained += 1
            continue
        if not code_text.isdigit() or (int(code_text) not in ACCEPTED_CODES and by_code(int(code_text)) is None):
            problems.append(Problem(line, f"{code_text or 'a blank'} is not an NCCIS activity code Waymark knows"))
            continue
        try:
            when = date.fromisoformat(when_text)
        except ValueError:
            problems.append(Problem(line, f"the date ascertained {when_text!r} is not a date like 2025-11-03"))
            continue
        found.append(Activity(line, upn, int(code_text), _unsafe((row.get("Provider") or "").strip()), when))
    return LaFile(found, problems, unascertained)
