"""Roster import: pupils from a school's MIS export (CSV), added or updated by UPN.

Two halves, kept apart so the rules can be tested without a database:

- `RosterReader` reads the header (any known spelling of each field, see `storage.mis.headers`)
  and then checks one row at a time, normalising each value (`storage.mis.values`); problems are
  grouped (`storage.mis.problems`). It never holds the file: memory grows with the pupils (their
  UPNs, to find duplicates and who is missing), not with the file's size.
- `import_roster(session, school_id, reader, ...)` writes while it reads, 500 rows a statement:
  new pupils inserted, changed pupils updated, pupils absent from the file marked "missing"
  (never deleted). It runs in the caller's transaction, so a caller that finds problems (or a
  dry run) rolls everything back and nothing is written.
"""

from __future__ import annotations

import io
from collections.abc import Callable, Iterable, Iterator
from dataclasses import dataclass, field, fields
from datetime import date, datetime
from typing import Any, BinaryIO

from sqlalchemy import and_, bindparam, insert, select, update
from sqlmodel import Session

from storage.mis import headers, reader, values
from storage.mis.headers import HeaderPlan
from storage.mis.problems import Problems, RowError
from storage.mis.upn import upn_kind
from storage.models import Person, PersonStatus, Role, utcnow

__all__ = ["COLUMNS", "RosterFileError", "RosterReader", "RowError", "Tutors", "import_roster", "read_roster_file"]

REQUIRED = headers.REQUIRED
COLUMNS = (
    "upn",
    "given_name",
    "family_name",
    "preferred_name",
    "year_group",
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
BATCH = 500  # rows per bulk statement: well under SQLite's and psycopg's parameter limits
TEMPORARY_UPN = "a temporary UPN (ends in a letter): imported; put the permanent one in the MIS when the school has it"
_NAMES = frozenset({"given_name", "family_name", "preferred_name", "tutor"})


class RosterFileError(ValueError):
    """The file as a whole cannot be read (no header, a required column missing...)."""


@dataclass(frozen=True)
class RosterRow:
    """One valid pupil from the file, in the shape of the `person` table."""

    line: int
    upn: str
    given_name: str
    family_name: str
    year_group: int
    preferred_name: str | None = None
    date_of_birth: date | None = None
    form: str | None = None
    gender: str | None = None
    ethnicity: str | None = None
    send: str = "N"
    pupil_premium: bool = False
    fsm: bool = False
    tutor: str | None = None  # an email (lower case) or a name, as the file gave it
    leaving_date: date | None = None
    eal: bool = False
    looked_after: bool = False
    young_carer: bool = False
    attendance: float | None = None
    exclusions: int = 0
    tutor_id: int | None = None  # the member of staff `tutor` names, once resolved


# The person columns a roster row sets; line and the tutor as written are not stored.
_PERSON_FIELDS = tuple(f.name for f in fields(RosterRow) if f.name not in {"line", "tutor"})


def _text(limit: int) -> Callable[[str], str | None]:
    def parse(value: str) -> str | None:
        text = value.strip()
        if len(text) > limit:
            raise ValueError(f"is {len(text)} characters long; at most {limit} fit")
        return text or None

    return parse


def _name(limit: int, *, required: bool) -> Callable[[str], str | None]:
    def parse(value: str) -> str | None:
        text = values.clean_name(value)
        if len(text) > limit:
            raise ValueError(f"is {len(text)} characters long; at most {limit} fit")
        if not text and required:
            raise ValueError("is empty; every pupil needs one")
        return text or None

    return parse


def _upn(value: str) -> str:
    upn = value.strip().upper().replace(" ", "")
    if not upn:
        raise ValueError("is empty; every pupil needs their UPN")
    upn_kind(upn)
    return upn


def _ethnicity(value: str) -> str | None:
    code = values.ethnicity(value)
    if code is not None and len(code) > 100:
        raise ValueError(f"is {len(code)} characters long; at most 100 fit")
    return code


def _tutor(value: str) -> str | None:
    text = values.clean_name(value)
    return values.email(text) if "@" in text else (text or None)


PARSERS: dict[str, Callable[[str], Any]] = {
    "upn": _upn,
    "given_name": _name(100, required=True),
    "family_name": _name(100, required=True),
    "preferred_name": _name(100, required=False),
    "year_group": values.year_group,
    "date_of_birth": values.optional_date,
    "form": _text(20),
    "gender": values.gender,
    "ethnicity": _ethnicity,
    "send": values.sen,
    "pupil_premium": values.flag,
    "fsm": values.flag,
    "tutor": _tutor,
    "leaving_date": values.optional_date,
    "eal": values.flag,
    "looked_after": values.flag,
    "young_carer": values.flag,
    "attendance": values.attendance,
    "exclusions": values.count,
}


_TITLES = frozenset({"mr", "mrs", "ms", "miss", "mx", "dr", "prof", "sir"})


def _fold_name(name: str) -> str:
    """'Patel, Sam' and 'sam  PATEL' -> 'sam patel'; dots gone ('Mr. S. Patel' -> 'mr s patel')."""
    family, comma, given = name.partition(",")
    text = f"{given} {family}" if comma else name
    return " ".join(text.replace(".", " ").lower().split())


def _name_keys(given: str, family: str) -> list[str]:
    """How a staff list or an MIS may write one member of staff: 'sam patel', 's patel', 'patel'."""
    full = _fold_name(f"{given} {family}")
    family_key = _fold_name(family)
    keys = [full, f"{full[:1]} {family_key}".strip(), f"title {family_key}"]
    return list(dict.fromkeys(k for k in keys if k.strip()))


def _lookup_key(tutor: str) -> str:
    """The key for a tutor as a roster writes them: 'Sam Patel', 'Patel, Sam', 'Mr S Patel', 'Mrs Patel'."""
    words = _fold_name(tutor).split()
    if len(words) > 1 and words[0] in _TITLES:
        words = words[1:]
        if len(words) == 1:
            return f"title {words[0]}"
    return " ".join(words)


@dataclass(frozen=True)
class Tutors:
    """The school's staff, by email and by name, for the roster's tutor column."""

    by_email: dict[str, int] = field(default_factory=dict)
    by_name: dict[str, list[tuple[int, str]]] = field(default_factory=dict)  # folded name -> (id, email)

    @classmethod
    def of_school(cls, session: Session, school_id: int) -> Tutors:
        table = Person.__table__  # type: ignore[attr-defined]
        found = cls()
        for row in session.connection().execute(
            select(table.c.id, table.c.email, table.c.given_name, table.c.family_name).where(
                table.c.school_id == school_id, table.c.role == Role.staff.value, table.c.email.is_not(None)
            )
        ):
            email = str(row.email).lower()
            found.by_email[email] = row.id
            for key in _name_keys(row.given_name, row.family_name):
                found.by_name.setdefault(key, []).append((row.id, email))
        return found

    def resolve(self, tutor: str) -> int:
        """The member of staff's id; ValueError saying what to do when there is not exactly one."""
        if "@" in tutor:
            if tutor in self.by_email:
                return self.by_email[tutor]
            raise ValueError(
                f"{tutor} is not a member of staff; add them with `waymark staff import FILE.csv` "
                f"or `waymark staff add {tutor} NAME --role tutor`"
            )
        matches = self.by_name.get(_lookup_key(tutor), [])
        if len(matches) == 1:
            return matches[0][0]
        if matches:
            both = " and ".join(email for _id, email in matches)
            raise ValueError(
                f"{tutor!r} is the name of {len(matches)} members of staff ({both}); give the tutor's email"
            )
        raise ValueError(
            f"no member of staff is called {tutor!r}; add them with `waymark staff import FILE.csv`, "
            "or give the tutor's email"
        )


class RosterReader:
    """A roster file read one row at a time: `plan` from the header, then `rows()`."""

    def __init__(
        self,
        stream: BinaryIO,
        *,
        today: date | None = None,
        mapped: dict[str, str] | None = None,
        tutors: Tutors | None = None,
    ) -> None:
        self.today = today or date.today()
        self.tutors = tutors  # None: tutors are kept as written, not checked
        self.problems = Problems()
        self.notes = Problems()  # accepted, but worth knowing: temporary UPNs, local ethnicity codes
        self.seen: dict[str, int] = {}  # UPN -> its line: every pupil in the file, valid or not
        self.rows_read = 0
        try:
            self.encoding = reader.detect(stream)
        except reader.FileError as exc:
            raise RosterFileError(str(exc)) from None
        self._rows = reader.rows(stream, self.encoding)
        try:
            _line, header = next(self._rows)
        except StopIteration:
            raise RosterFileError(
                "the file is empty; it needs a header row, e.g. upn,given_name,family_name,year_group"
            ) from None
        except reader.FileError as exc:
            raise RosterFileError(str(exc)) from None
        if any(reader.control_message(h, name=False) for h in header):
            raise RosterFileError("line 1: the header row has a control character (e.g. NUL); export the file again")
        try:
            self.plan: HeaderPlan = headers.plan_header(header, mapped)
        except headers.HeaderError as exc:
            raise RosterFileError(str(exc)) from None
        self._earliest = date(self.today.year - 30, 1, 1)

    @property
    def columns(self) -> frozenset[str]:
        return frozenset(self.plan.positions)

    def rows(self) -> Iterator[RosterRow]:
        """The valid rows; every problem goes to `problems`, grouped."""
        positions = list(self.plan.positions.items())
        try:
            for line, cells in self._rows:
                joined = ",".join(cells)
                if not joined.replace(",", "").strip():
                    continue  # blank lines (Excel often adds some at the end)
                self.rows_read += 1
                # Control characters are rare: look for them cell by cell only when the row has one.
                row = self._check(line, cells, positions, reader.has_control(joined))
                if row is not None:
                    yield row
        except reader.FileError as exc:
            raise RosterFileError(str(exc)) from None

    def _check(self, line: int, cells: list[str], positions: list[tuple[str, int]], controls: bool) -> RosterRow | None:
        errors: list[RowError] = []
        notes: list[RowError] = []  # only for rows imported
        found: dict[str, Any] = {}
        width = len(cells)
        for name, index in positions:
            raw = cells[index] if index < width else ""
            if controls and (refused := reader.control_message(raw, name=name in _NAMES)):
                errors.append(RowError(line, name, refused))
                continue
            try:
                found[name] = PARSERS[name](raw)
            except ValueError as exc:
                errors.append(RowError(line, name, str(exc)))
        upn = found.get("upn")
        if upn is not None:
            if upn in self.seen:
                errors.append(RowError(line, "upn", f"{upn} is already on line {self.seen[upn]}"))
            else:
                self.seen[upn] = line
                if upn[-1].isalpha():
                    notes.append(RowError(line, "upn", TEMPORARY_UPN))
        ethnicity = found.get("ethnicity")
        if ethnicity is not None and not values.is_dfe_code(ethnicity):
            notes.append(RowError(line, "ethnicity", f"{ethnicity!r} is not one of the DfE codes; kept as given"))
        dob, leaving = found.get("date_of_birth"), found.get("leaving_date")
        if dob is not None and not self._earliest <= dob <= self.today:
            errors.append(RowError(line, "date_of_birth", f"{dob.isoformat()} is not a pupil's date of birth"))
        if leaving is not None and dob is not None and leaving <= dob:
            errors.append(RowError(line, "leaving_date", "is before the date of birth"))
        tutor = found.get("tutor")
        if tutor is not None and self.tutors is not None:
            try:
                found["tutor_id"] = self.tutors.resolve(tutor)
            except ValueError as exc:
                errors.append(RowError(line, "tutor", str(exc)))
        if errors:
            for error in errors:
                self.problems.add(error)
            return None
        for note in notes:
            self.notes.add(note)
        return RosterRow(line=line, **found)


@dataclass
class ParsedRoster:
    """A small roster read whole (tests, and callers that want the rows as a list)."""

    rows: list[RosterRow]
    errors: list[RowError]
    ignored_columns: list[str]
    reader: RosterReader


def read_roster_file(data: bytes, today: date | None = None, mapped: dict[str, str] | None = None) -> ParsedRoster:
    source = RosterReader(io.BytesIO(data), today=today, mapped=mapped)
    rows = list(source.rows())
    return ParsedRoster(rows, list(source.problems.first), list(source.plan.ignored), source)


# --- Writing ------------------------------------------------------------------------------------


@dataclass
class ImportResult:
    added: int = 0
    updated: int = 0
    unchanged: int = 0
    reactivated: int = 0  # were "missing", are back in the file
    missing: list[str] = field(default_factory=list)  # "UPN Given Family" of pupils absent from the file
    refused: int = 0  # rows the database refused (a UPN that belongs to a member of staff)


def _role_for(leaving: date | None, today: date) -> tuple[str, str]:
    """A pupil whose leaving date has passed is an alumnus; otherwise on roll."""
    if leaving is not None and leaving < today:
        return Role.alumnus.value, PersonStatus.left.value
    return Role.pupil.value, PersonStatus.active.value


def _chunks(items: Iterable[Any], size: int = BATCH) -> Iterator[list[Any]]:
    batch: list[Any] = []
    for item in items:
        batch.append(item)
        if len(batch) == size:
            yield batch
            batch = []
    if batch:
        yield batch


def import_roster(
    session: Session,
    school_id: int,
    source: RosterReader,
    *,
    now: datetime | None = None,
    progress: Callable[[int], None] | None = None,
) -> ImportResult:
    """Write the valid rows of a roster while reading it; returns what changed.

    Only the columns the file has are written to pupils already stored: a file without a SEND
    column leaves their SEND as it was. Pupils on roll in the database but absent from the file
    become "missing"; nobody is ever deleted. Problems collect in `source.problems`: the caller
    decides whether to keep what was written (`--skip-invalid`) or roll back.
    """
    today = source.today
    now = now or utcnow()
    table = Person.__table__  # type: ignore[attr-defined]
    conn = session.connection()
    if source.tutors is None:
        source.tutors = Tutors.of_school(session, school_id)
    columns = source.columns
    written = [name for name in _PERSON_FIELDS if name in columns or (name == "tutor_id" and "tutor" in columns)]
    compared = ("role", "status", "leaving_date", *written)
    existing = {
        r.upn: r
        for r in conn.execute(
            select(table.c.id, *(table.c[name] for name in dict.fromkeys(compared))).where(
                table.c.school_id == school_id, table.c.upn.is_not(None)
            )
        )
    }
    result = ImportResult()
    update_statement = (
        update(table)
        .where(table.c.id == bindparam("_id"))
        .values({name: bindparam(name) for name in ("role", "status", *written, "updated_at")})
    )
    for batch in _chunks(source.rows()):
        inserts: list[dict[str, Any]] = []
        updates: list[dict[str, Any]] = []
        for row in batch:
            old = existing.get(row.upn)
            leaving = row.leaving_date if "leaving_date" in columns or old is None else old.leaving_date
            role, status = _role_for(leaving, today)
            if old is None:
                inserts.append(
                    {
                        **{name: getattr(row, name) for name in _PERSON_FIELDS},
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
                source.problems.add(RowError(row.line, "upn", f"{row.upn} belongs to a member of staff"))
                result.refused += 1
                continue
            if old.status == PersonStatus.missing.value and status == PersonStatus.active.value:
                result.reactivated += 1
            wanted: dict[str, Any] = {"role": role, "status": status, **{n: getattr(row, n) for n in written}}
            if all(getattr(old, name) == value for name, value in wanted.items()):
                result.unchanged += 1
            else:
                updates.append({"_id": old.id, **wanted, "updated_at": now})
        if inserts:
            conn.execute(insert(table), inserts)
        if updates:
            conn.execute(update_statement, updates)
        result.added += len(inserts)
        result.updated += len(updates)
        if progress:
            progress(len(batch))

    in_file = source.seen
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
    for chunk in _chunks(gone):
        conn.execute(
            update(table)
            .where(table.c.id.in_([r.id for r in chunk]))
            .values(status=PersonStatus.missing.value, updated_at=now)
        )
    result.missing = [f"{r.upn} {r.given_name} {r.family_name}" for r in gone]
    return result
