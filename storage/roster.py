"""Roster import: pupils from a school's MIS export (CSV), added or updated by UPN.

Two halves, kept apart so the rules can be tested without a database:

- `parse_roster(text, today)` is pure: it reads the header (any order, any case, unknown columns
  ignored), checks every row and returns the valid rows with a list of errors that name the line
  and the column.
- `import_roster(session, school_id, parsed, ...)` writes: new pupils inserted, changed pupils
  updated, pupils absent from the file marked "missing" (never deleted), all in a handful of bulk
  statements so 10,000 rows take seconds, not minutes.

The caller decides whether a file with errors is written at all (`--skip-invalid`).
"""

from __future__ import annotations

import csv
import io
import re
from collections.abc import Callable, Iterable, Sequence
from dataclasses import dataclass, field, fields
from datetime import date, datetime
from typing import Any

from sqlalchemy import and_, bindparam, insert, select, update
from sqlmodel import Session

from storage.models import Person, PersonStatus, Role, utcnow

REQUIRED = ("upn", "given_name", "family_name", "year_group")
OPTIONAL = (
    "date_of_birth",
    "form",
    "gender",
    "ethnicity",
    "send",
    "pupil_premium",
    "fsm",
    "tutor_email",
    "leaving_date",
    "eal",
    "looked_after",
    "young_carer",
    "attendance",
    "exclusions",
)
COLUMNS = REQUIRED + OPTIONAL

# A UPN is 13 characters: a check letter, 11 digits and a digit or (for a temporary UPN) a letter.
_UPN = re.compile(r"^[A-Z][0-9]{11}[0-9A-Z]$")
_EMAIL = re.compile(r"^[^@\s]+@[^@\s]+\.[^@\s]+$")
_YEAR = re.compile(r"^(?:year|yr|y)?\s*(\d{1,2})$", re.IGNORECASE)
_TRUE = {"y", "yes", "true", "1"}
_FALSE = {"n", "no", "false", "0", ""}
_SEND = {"n": "N", "": "N", "k": "K", "e": "E", "none": "N", "sen support": "K", "ehc plan": "E", "ehcp": "E"}
BATCH = 500  # rows per bulk statement: well under SQLite's and psycopg's parameter limits


class RosterFileError(ValueError):
    """The file as a whole cannot be read (no header, a required column missing...)."""


@dataclass(frozen=True)
class RowError:
    line: int  # the line in the file, counting the header as line 1
    column: str
    message: str

    def __str__(self) -> str:
        return f"line {self.line}, column {self.column}: {self.message}"


@dataclass(frozen=True)
class RosterRow:
    """One valid pupil from the file, in the shape of the `person` table."""

    line: int
    upn: str
    given_name: str
    family_name: str
    year_group: int
    date_of_birth: date | None = None
    form: str | None = None
    gender: str | None = None
    ethnicity: str | None = None
    send: str = "N"
    pupil_premium: bool = False
    fsm: bool = False
    tutor_email: str | None = None
    leaving_date: date | None = None
    eal: bool = False
    looked_after: bool = False
    young_carer: bool = False
    attendance: float | None = None
    exclusions: int = 0


# The person columns a roster row sets; tutor_email becomes tutor_id, line is not stored.
_PERSON_FIELDS = tuple(f.name for f in fields(RosterRow) if f.name not in {"line", "tutor_email"})


@dataclass
class ParsedRoster:
    rows: list[RosterRow] = field(default_factory=list)
    errors: list[RowError] = field(default_factory=list)
    ignored_columns: list[str] = field(default_factory=list)
    # Valid UPNs on rows left out for another error: still on roll, so never reported missing.
    skipped_upns: set[str] = field(default_factory=set)

    @property
    def lines_read(self) -> int:
        return len(self.rows) + len({e.line for e in self.errors})


@dataclass
class ImportResult:
    added: int = 0
    updated: int = 0
    unchanged: int = 0
    reactivated: int = 0  # were "missing", are back in the file
    missing: list[str] = field(default_factory=list)  # "UPN Given Family" of pupils absent from the file
    errors: list[RowError] = field(default_factory=list)  # rows left out (only with skip_invalid)


# --- Reading and checking (pure) -----------------------------------------------------------------


def decode(data: bytes) -> str:
    """Text from the bytes of a CSV file: UTF-8 with or without the BOM Excel writes."""
    try:
        return data.decode("utf-8-sig")
    except UnicodeDecodeError as exc:
        raise RosterFileError(
            f"the file is not UTF-8 text (byte {exc.start + 1}); in Excel use Save As > 'CSV UTF-8'"
        ) from None


def _header_name(raw: str) -> str:
    return raw.strip().lstrip("\ufeff").strip().lower().replace(" ", "_").replace("-", "_")


def _parse_date(value: str) -> date:
    """ISO 2010-03-14 or the UK's 14/03/2010 (what MIS exports and Excel write)."""
    value = value.strip()
    for fmt in ("%Y-%m-%d", "%d/%m/%Y", "%d-%m-%Y", "%d.%m.%Y"):
        try:
            return datetime.strptime(value, fmt).date()
        except ValueError:
            continue
    raise ValueError(f"{value!r} is not a date; write it as YYYY-MM-DD (2010-03-14) or DD/MM/YYYY (14/03/2010)")


def _parse_bool(value: str) -> bool:
    low = value.strip().lower()
    if low in _TRUE:
        return True
    if low in _FALSE:
        return False
    raise ValueError(f"{value!r} is not Y or N")


def _parse_year(value: str) -> int:
    match = _YEAR.match(value.strip())
    year = int(match.group(1)) if match else -1
    if not 1 <= year <= 14:
        raise ValueError(f"{value!r} is not a year group; write a number from 1 to 14, e.g. 10")
    return year


def _parse_send(value: str) -> str:
    code = _SEND.get(value.strip().lower())
    if code is None:
        raise ValueError(f"{value!r} is not a SEND code; use N (none), K (SEN support) or E (EHC plan)")
    return code


def _parse_attendance(value: str) -> float | None:
    text = value.strip().removesuffix("%").strip()
    if not text:
        return None
    try:
        number = float(text)
    except ValueError:
        raise ValueError(f"{value!r} is not a percentage, e.g. 94.5") from None
    if not 0 <= number <= 100:
        raise ValueError(f"{value!r} is not a percentage between 0 and 100")
    return number


def _parse_count(value: str) -> int:
    text = value.strip()
    if not text:
        return 0
    if not text.isdigit():
        raise ValueError(f"{value!r} is not a whole number, e.g. 0 or 2")
    return int(text)


def _text(limit: int) -> Callable[[str], str | None]:
    def parse(value: str) -> str | None:
        text = value.strip()
        if len(text) > limit:
            raise ValueError(f"is {len(text)} characters long; at most {limit} fit")
        return text or None

    return parse


def _required_text(limit: int) -> Callable[[str], str]:
    optional = _text(limit)

    def parse(value: str) -> str:
        text = optional(value)
        if text is None:
            raise ValueError("is empty; every pupil needs one")
        return text

    return parse


def _parse_upn(value: str) -> str:
    upn = value.strip().upper().replace(" ", "")
    if not upn:
        raise ValueError("is empty; every pupil needs their UPN")
    if not _UPN.match(upn):
        raise ValueError(
            f"{value.strip()!r} is not a UPN (13 characters: a letter, then 11 digits, then a digit or letter)"
        )
    return upn


def _parse_email(value: str) -> str | None:
    text = value.strip().lower()
    if not text:
        return None
    if not _EMAIL.match(text):
        raise ValueError(f"{value.strip()!r} is not an email address")
    return text


def _optional_date(value: str) -> date | None:
    return _parse_date(value) if value.strip() else None


_PARSERS: dict[str, Callable[[str], Any]] = {
    "upn": _parse_upn,
    "given_name": _required_text(100),
    "family_name": _required_text(100),
    "year_group": _parse_year,
    "date_of_birth": _optional_date,
    "form": _text(20),
    "gender": _text(50),
    "ethnicity": _text(100),
    "send": _parse_send,
    "pupil_premium": _parse_bool,
    "fsm": _parse_bool,
    "tutor_email": _parse_email,
    "leaving_date": _optional_date,
    "eal": _parse_bool,
    "looked_after": _parse_bool,
    "young_carer": _parse_bool,
    "attendance": _parse_attendance,
    "exclusions": _parse_count,
}


def parse_roster(text: str, today: date | None = None) -> ParsedRoster:
    """Check a whole roster file; raise RosterFileError when it cannot be read as a roster at all."""
    today = today or date.today()
    # newline="" lets the csv module handle CRLF and line breaks inside quoted cells.
    reader = csv.reader(io.StringIO(text.lstrip("\ufeff"), newline=""))
    try:
        header = next(reader)
    except StopIteration:
        raise RosterFileError(
            "the file is empty; it needs a header row, e.g. upn,given_name,family_name,year_group"
        ) from None
    except csv.Error as exc:
        raise RosterFileError(f"line 1: {exc}") from None
    names = [_header_name(h) for h in header]
    positions: dict[str, int] = {}
    ignored: list[str] = []
    for index, name in enumerate(names):
        if name in _PARSERS:
            if name in positions:
                raise RosterFileError(f"the column {name!r} appears twice in the header row")
            positions[name] = index
        elif name:
            ignored.append(header[index].strip())
    missing = [name for name in REQUIRED if name not in positions]
    if missing:
        raise RosterFileError(
            f"required column{'s' if len(missing) > 1 else ''} missing from the header row: {', '.join(missing)} "
            f"(the header must include {', '.join(REQUIRED)})"
        )

    parsed = ParsedRoster(ignored_columns=ignored)
    seen: dict[str, int] = {}
    try:
        for cells in reader:
            line = reader.line_num
            if not any(cell.strip() for cell in cells):
                continue  # blank lines (Excel often adds some at the end)
            row_errors: list[RowError] = []
            values: dict[str, Any] = {}
            for name, index in positions.items():
                raw = cells[index] if index < len(cells) else ""
                try:
                    values[name] = _PARSERS[name](raw)
                except ValueError as exc:
                    row_errors.append(RowError(line, name, str(exc)))
            upn = values.get("upn")
            if upn is not None:
                if upn in seen:
                    row_errors.append(RowError(line, "upn", f"{upn} is already on line {seen[upn]}"))
                else:
                    seen[upn] = line
            dob, leaving = values.get("date_of_birth"), values.get("leaving_date")
            if dob is not None and not date(today.year - 30, 1, 1) <= dob <= today:
                row_errors.append(RowError(line, "date_of_birth", f"{dob.isoformat()} is not a pupil's date of birth"))
            if leaving is not None and dob is not None and leaving <= dob:
                row_errors.append(RowError(line, "leaving_date", "is before the date of birth"))
            if row_errors:
                parsed.errors.extend(row_errors)
                if upn is not None:
                    parsed.skipped_upns.add(upn)
            else:
                parsed.rows.append(RosterRow(line=line, **values))
    except csv.Error as exc:
        raise RosterFileError(f"line {reader.line_num}: {exc}") from None
    return parsed


def read_roster_file(data: bytes, today: date | None = None) -> ParsedRoster:
    return parse_roster(decode(data), today)


# --- Writing ------------------------------------------------------------------------------------


def _role_for(row: RosterRow, today: date) -> tuple[str, str]:
    """A pupil whose leaving date has passed is an alumnus; otherwise on roll."""
    if row.leaving_date is not None and row.leaving_date < today:
        return Role.alumnus.value, PersonStatus.left.value
    return Role.pupil.value, PersonStatus.active.value


def staff_emails(session: Session, school_id: int) -> dict[str, int]:
    """Staff email (lower case) -> person id, for linking tutors."""
    table = Person.__table__  # type: ignore[attr-defined]
    rows = session.connection().execute(
        select(table.c.id, table.c.email).where(
            table.c.school_id == school_id, table.c.role == Role.staff.value, table.c.email.is_not(None)
        )
    )
    return {str(row.email).lower(): row.id for row in rows}


def check_tutors(session: Session, school_id: int, parsed: ParsedRoster) -> None:
    """Move rows whose tutor_email is no member of staff at this school into the errors."""
    known = staff_emails(session, school_id)
    kept: list[RosterRow] = []
    for row in parsed.rows:
        if row.tutor_email is not None and row.tutor_email not in known:
            parsed.errors.append(
                RowError(
                    row.line,
                    "tutor_email",
                    f"no member of staff has the email {row.tutor_email}; add them first with "
                    f"`waymark staff add {row.tutor_email} NAME --role tutor`",
                )
            )
            parsed.skipped_upns.add(row.upn)
        else:
            kept.append(row)
    parsed.rows = kept
    parsed.errors.sort(key=lambda e: e.line)


def _chunks(items: Sequence[Any], size: int = BATCH) -> Iterable[Sequence[Any]]:
    for start in range(0, len(items), size):
        yield items[start : start + size]


def import_roster(
    session: Session,
    school_id: int,
    parsed: ParsedRoster,
    *,
    today: date | None = None,
    now: datetime | None = None,
    progress: Callable[[int], None] | None = None,
) -> ImportResult:
    """Write the valid rows of a checked roster; returns what changed.

    Run `check_tutors` first. Pupils on roll in the database but absent from the file become
    "missing"; nobody is ever deleted. `progress(n)` is told how many more rows were handled.
    """
    today = today or date.today()
    now = now or utcnow()
    table = Person.__table__  # type: ignore[attr-defined]
    conn = session.connection()
    tutors = staff_emails(session, school_id)
    compared = ("role", "status", "tutor_id", *_PERSON_FIELDS)
    existing = {
        r.upn: r
        for r in conn.execute(
            select(table.c.id, *(table.c[name] for name in compared)).where(
                table.c.school_id == school_id, table.c.upn.is_not(None)
            )
        )
    }

    result = ImportResult(errors=list(parsed.errors))
    inserts: list[dict[str, Any]] = []
    updates: list[dict[str, Any]] = []
    for row in parsed.rows:
        role, status = _role_for(row, today)
        wanted: dict[str, Any] = {name: getattr(row, name) for name in _PERSON_FIELDS}
        wanted["tutor_id"] = tutors.get(row.tutor_email) if row.tutor_email else None
        old = existing.get(row.upn)
        if old is None:
            inserts.append(
                {
                    **wanted,
                    "school_id": school_id,
                    "role": role,
                    "status": status,
                    "staff_role": None,
                    "email": None,
                    "interests": "",
                    "created_at": now,
                    "updated_at": now,
                }
            )
            continue
        if old.role == Role.staff.value:
            result.errors.append(RowError(row.line, "upn", f"{row.upn} belongs to a member of staff"))
            continue
        if old.status == PersonStatus.missing.value and status == PersonStatus.active.value:
            result.reactivated += 1
        wanted["role"], wanted["status"] = role, status
        if all(getattr(old, name) == value for name, value in wanted.items()):
            result.unchanged += 1
        else:
            updates.append({"_id": old.id, **wanted, "updated_at": now})

    for batch in _chunks(inserts):
        conn.execute(insert(table), list(batch))
        if progress:
            progress(len(batch))
    if updates:
        statement = (
            update(table)
            .where(table.c.id == bindparam("_id"))
            .values({name: bindparam(name) for name in updates[0] if name != "_id"})
        )
        for batch in _chunks(updates):
            conn.execute(statement, list(batch))
            if progress:
                progress(len(batch))
    if progress:
        progress(result.unchanged)
    result.added, result.updated = len(inserts), len(updates)

    in_file = {row.upn for row in parsed.rows} | parsed.skipped_upns
    gone = [
        r
        for r in conn.execute(
            select(table.c.id, table.c.upn, table.c.given_name, table.c.family_name).where(
                and_(
                    table.c.school_id == school_id,
                    table.c.role == Role.pupil.value,
                    table.c.status == PersonStatus.active.value,
                    table.c.upn.is_not(None),
                )
            )
        )
        if r.upn not in in_file
    ]
    for batch in _chunks(gone):
        conn.execute(
            update(table)
            .where(table.c.id.in_([r.id for r in batch]))
            .values(status=PersonStatus.missing.value, updated_at=now)
        )
    result.missing = [f"{r.upn} {r.given_name} {r.family_name}" for r in gone]
    return result
