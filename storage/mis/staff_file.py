"""Staff lists exported from the MIS or a spreadsheet: email, name and role, with the same
header tolerance as pupils' rosters (`storage.mis.headers.fold`)."""

from __future__ import annotations

import re
from collections.abc import Iterator
from dataclasses import dataclass, field
from typing import BinaryIO

from storage.mis import headers, reader, values
from storage.mis.problems import Problems, RowError

ALIASES = {
    "email": ("email", "email address", "e mail", "work email", "school email", "staff email", "tutor email"),
    "name": ("name", "full name", "staff name", "display name", "tutor name"),
    "given_name": ("given name", "forename", "first name", "preferred forename", "preferred first name"),
    "family_name": ("family name", "surname", "last name"),
    "role": ("role", "roles", "staff role", "waymark role"),
}
_SPELLINGS = headers.spelling_table(ALIASES)
# How staff lists name our roles; anything else is refused with the choices.
_ROLES = {
    "tutor": "tutor",
    "form tutor": "tutor",
    "teacher": "tutor",
    "leader": "leader",
    "careers leader": "leader",
    "careers lead": "leader",
    "dsl": "dsl",
    "safeguarding lead": "dsl",
    "designated safeguarding lead": "dsl",
}
_ROLE_SPLIT = re.compile(r"\s*(?:[;/+|,&]|\band\b)\s*", re.IGNORECASE)
DEFAULT_ROLE = "tutor"


@dataclass(frozen=True)
class StaffRow:
    line: int
    email: str
    name: str
    roles: tuple[str, ...]  # the main role first


@dataclass
class StaffFile:
    rows: list[StaffRow] = field(default_factory=list)
    problems: Problems = field(default_factory=Problems)
    used: dict[str, str] = field(default_factory=dict)  # field -> header as spelt
    ignored: list[str] = field(default_factory=list)
    encoding: str = ""


def roles_of(value: str) -> tuple[str, ...]:
    """'Tutor; DSL' -> ('tutor', 'dsl'); blank -> the default; ValueError for an unknown role."""
    parts = [" ".join(p.lower().split()) for p in _ROLE_SPLIT.split(value) if p.strip()]
    if not parts:
        return (DEFAULT_ROLE,)
    unknown = [p for p in parts if p not in _ROLES]
    if unknown:
        raise ValueError(f"{unknown[0]!r} is not a staff role; use tutor, leader (careers leader) or dsl")
    return tuple(dict.fromkeys(_ROLES[p] for p in parts))


def _plan(header: list[str]) -> tuple[dict[str, int], list[str]]:
    positions: dict[str, int] = {}
    ignored: list[str] = []
    for index, raw in enumerate(header):
        found = headers.field_for(headers.fold(raw), raw, _SPELLINGS)
        if found is None or found[0] in positions:
            if raw.strip():
                ignored.append(raw.strip())
            continue
        positions[found[0]] = index
    if "email" not in positions:
        raise reader.FileError("no email column in the header row (e.g. 'Email' or 'Email Address')")
    if "name" not in positions and not {"given_name", "family_name"} <= set(positions):
        raise reader.FileError("no name column in the header row ('Name', or 'First Name' and 'Surname')")
    return positions, ignored


def read_staff(stream: BinaryIO) -> StaffFile:
    """Every row checked; problems grouped. FileError when the file cannot be read at all."""
    encoding = reader.detect(stream)
    lines: Iterator[tuple[int, list[str]]] = reader.rows(stream, encoding)
    first = next(lines, None)
    if first is None:
        raise reader.FileError("the file is empty; it needs a header row, e.g. email,name,role")
    positions, ignored = _plan(first[1])
    result = StaffFile(used={k: first[1][i].strip() for k, i in positions.items()}, ignored=ignored)
    result.encoding = encoding.label
    seen: dict[str, int] = {}
    for line, cells in lines:
        if not "".join(cells).strip():
            continue
        cell = {name: (cells[i] if i < len(cells) else "") for name, i in positions.items()}
        errors = [
            RowError(line, name, message)
            for name, text in cell.items()
            if (message := reader.control_message(text, name=True))
        ]
        if errors:
            for error in errors:
                result.problems.add(error)
            continue
        name = values.clean_name(cell.get("name") or f"{cell.get('given_name', '')} {cell.get('family_name', '')}")
        try:
            email = values.email(cell["email"])
            if email is None:
                raise ValueError("is empty; every member of staff needs their school email")
        except ValueError as exc:
            result.problems.add(RowError(line, "email", str(exc)))
            continue
        try:
            roles = roles_of(cell.get("role", ""))
        except ValueError as exc:
            result.problems.add(RowError(line, "role", str(exc)))
            continue
        if not name:
            result.problems.add(RowError(line, "name", "is empty; every member of staff needs one"))
        elif email in seen:
            result.problems.add(RowError(line, "email", f"{email} is already on line {seen[email]}"))
        else:
            seen[email] = line
            result.rows.append(StaffRow(line, email, name, roles))
    return result
