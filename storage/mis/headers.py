"""Header rows: which of our fields each column of an export holds, and which layout it looks like.

No MIS publishes one fixed layout (a report's columns are chosen by the school), so the rule is
general: a header is compared in lower case with punctuation, `_` and spaces folded to one space,
`%` read as "percent", a dotted path (Wonde's `education_details.current_nc_year`) by its last
part, and a "Legal" prefix dropped. Every common spelling below then maps to one field; `--map`
covers the rest. Profiles only name the layout recognised, to reassure the person importing.
"""

from __future__ import annotations

import re
from collections.abc import Mapping, Sequence
from dataclasses import dataclass, field


def spelling_table(aliases: Mapping[str, Sequence[str]]) -> dict[str, tuple[str, int]]:
    """{folded spelling: (field, rank)} for a table of aliases like ALIASES, each also without its
    spaces, so 'DateOfBirth', 'FirstName' and 'U.P.N.' are read too."""
    table: dict[str, tuple[str, int]] = {}
    for name, spellings in aliases.items():
        for rank, spelling in enumerate(spellings):
            table.setdefault(spelling, (name, rank))
            table.setdefault(spelling.replace(" ", ""), (name, rank))
    return table


# Our fields, each with the spellings seen in SIMS reports, Arbor, Bromcom, Wonde and Assembly
# (REFERENCE.md, "MIS exports"), already in folded form. Where one file may carry two spellings
# of a field (Wonde's in_lea_care and ever_in_care), the earlier spelling here wins.
ALIASES: dict[str, tuple[str, ...]] = {
    "upn": ("upn", "unique pupil number", "pupil upn"),
    "given_name": ("given name", "forename", "first name", "firstname", "forenames", "first names"),
    "family_name": ("family name", "surname", "last name", "lastname"),
    "preferred_name": (
        "preferred name",
        "preferred forename",
        "preferred first name",
        "preferred given name",
        "known as",
        "chosen name",
    ),
    "year_group": ("year group", "year", "nc year", "current nc year", "national curriculum year", "year code", "yr"),
    "form": ("form", "reg group", "registration group", "registration form", "reg", "reg form", "tutor group"),
    "date_of_birth": ("date of birth", "dob", "birth date", "birthdate"),
    "gender": ("gender", "sex", "legal sex"),
    # A code column wins over a description column when a file has both.
    "ethnicity": (
        "ethnicity code",
        "ethnic code",
        "ethnicity",
        "ethnic group",
        "ethnic origin",
        "ethnicity description",
    ),
    "send": ("send", "sen status", "sen provision", "sen category", "sen", "send status", "sen code", "send provision"),
    "fsm": ("fsm", "fsm eligible", "eligible for free meals", "is fsm", "free school meals", "fsm eligibility"),
    "pupil_premium": (
        "pupil premium",
        "pupil premium indicator",
        "is pp",
        "pp",
        "premium pupil indicator",
        "pupil premium eligible",
    ),
    "eal": (
        "eal",
        "english as additional language",
        "english as an additional language",
        "is eal",
        "english as additional language status",
    ),
    "looked_after": ("looked after", "in care", "in lea care", "looked after child", "cla", "lac", "ever in care"),
    "young_carer": ("young carer", "is young carer"),
    "attendance": ("attendance", "percent attendance", "attendance percent", "attendance percentage"),
    "exclusions": ("exclusions", "number of exclusions", "exclusion count", "suspensions"),
    # An email names one person; a name may not, so an email column wins when a file has both.
    "tutor": ("tutor email", "form tutor email", "tutor", "form tutor", "tutor name", "form tutor name"),
    "leaving_date": ("leaving date", "end date", "date of leaving", "leave date", "date left"),
}
FIELDS = tuple(ALIASES)
_BY_SPELLING = spelling_table(ALIASES)
REQUIRED = ("upn", "given_name", "family_name", "year_group")
# Columns whose absence quietly skews the equality breakdowns or the age check, with what it means.
EQUALITY = {
    "send": "pupils new to Waymark count as no SEND (N); pupils already here keep what they had",
    "fsm": "pupils new to Waymark count as not eligible for free school meals; pupils already here keep theirs",
    "pupil_premium": "pupils new to Waymark count as not pupil premium; pupils already here keep theirs",
    "gender": "new pupils' gender is blank, so they fall outside the breakdowns by gender",
    "ethnicity": "new pupils' ethnicity is blank, so they fall outside the breakdowns by ethnicity",
    "date_of_birth": "new pupils have no date of birth, so the age check keeps them off Telegram and Slack",
}
# Words that make an ignored column look like an equality field (so it is reported, not dropped).
_LOOKS_LIKE = {
    "send": ("sen", "send", "ehc", "special need"),
    "fsm": ("fsm", "free meal", "free school meal"),
    "pupil_premium": ("premium", "pp", "disadvantage"),
    "gender": ("gender", "sex"),
    "ethnicity": ("ethnic",),
    "date_of_birth": ("birth", "dob"),
}
_LOOKS_LIKE_WORDS = re.compile(r"[a-z]+")

_FOLD = re.compile(r"[^0-9a-z]+")


@dataclass(frozen=True)
class Profile:
    name: str
    signature: frozenset[str]  # folded headers typical of the layout (before "legal" is dropped)


PROFILES = (
    Profile(
        "SIMS report",
        frozenset(
            {
                "legal surname",
                "legal forename",
                "preferred forename",
                "preferred surname",
                "forename",
                "surname",
                "reg group",
                "reg",
                "dob",
                "sen status",
                "pupil premium indicator",
                "eligible for free meals",
                "ever in care",
                "english as additional language",
                "adno",
                "year of entry",
                "percent attendance",
            }
        ),
    ),
    Profile(
        "Arbor export",
        frozenset(
            {
                "first name",
                "last name",
                "legal first name",
                "legal last name",
                "preferred first name",
                "registration form",
                "year group",
                "date of birth",
                "sen provision",
            }
        ),
    ),
    Profile(
        "Bromcom export",
        frozenset({"legal forename", "legal surname", "registration group", "nc year", "date of birth", "sen status"}),
    ),
    Profile(
        "Wonde fields",
        frozenset(
            {
                "upi",
                "forename",
                "surname",
                "date of birth date",
                "education details current nc year",
                "extended details data sen status",
                "extended details data free school meals",
                "extended details data premium pupil indicator",
                "extended details data english as additional language status",
                "extended details data ethnicity",
                "extended details data in lea care",
                "extended details data ever in care",
            }
        ),
    ),
    Profile(
        "Assembly fields",
        frozenset(
            {
                "first name",
                "legal first name",
                "last name",
                "legal last name",
                "year code",
                "former upn",
                "start date",
                "end date",
                "ethnicity code",
                "in care",
                "is eal",
                "is fsm",
                "is pp",
                "sen category",
                "is fsm6",
                "service child",
            }
        ),
    ),
    Profile("Waymark's own columns", frozenset({"upn", "given name", "family name", "year group", "tutor email"})),
)


class HeaderError(ValueError):
    """The header row cannot be used (a required field missing, a field given twice, a bad --map)."""


def fold(header: str) -> str:
    """'Legal_Surname ' -> 'legal surname'; '% Attendance' -> 'percent attendance'."""
    text = header.replace("\ufeff", "").replace("%", " percent ").lower()
    return " ".join(_FOLD.sub(" ", text).split())


def field_for(folded: str, dotted: str, table: Mapping[str, tuple[str, int]] | None = None) -> tuple[str, int] | None:
    """Our field and the spelling's rank for one folded header, or None."""
    table = _BY_SPELLING if table is None else table
    candidates = [folded]
    if "." in dotted:  # Wonde: date_of_birth.date, extended_details.data.sen_status
        parts = [fold(p) for p in dotted.split(".") if fold(p)]
        candidates += [parts[-1], parts[-2]] if len(parts) > 1 and parts[-1] == "date" else [parts[-1]]
    for text in candidates:
        bare = text.removeprefix("legal ")
        for name in (text, bare, bare.replace(" ", ""), text.replace(" ", "").removeprefix("legal")):
            if name in table:
                return table[name]
        # "Preferred <any spelling of the given name>" is the name they go by.
        if text.startswith("preferred ") and table is _BY_SPELLING:
            found = field_for(text.removeprefix("preferred "), "", table)
            if found is not None and found[0] == "given_name":
                return "preferred_name", len(ALIASES["preferred_name"])
    return None


def parse_map(pairs: Sequence[str]) -> dict[str, str]:
    """--map "Their Header=our_field" options -> {folded header: field}."""
    mapped: dict[str, str] = {}
    for pair in pairs:
        header, sep, wanted = pair.partition("=")
        name = wanted.strip().lower()
        if not sep or not header.strip():
            raise HeaderError(f'--map {pair!r}: write it as "Their Header=our_field", e.g. "Tutor Grp=form"')
        name = name if name in ALIASES else (_BY_SPELLING.get(fold(name)) or ("", 0))[0]
        if not name:
            raise HeaderError(f"--map {pair!r}: {wanted.strip()!r} is not one of our fields ({', '.join(FIELDS)})")
        mapped[fold(header)] = name
    return mapped


@dataclass
class HeaderPlan:
    """Which column index feeds which field, and what the header tells the person importing."""

    positions: dict[str, int] = field(default_factory=dict)
    used: dict[str, str] = field(default_factory=dict)  # field -> the header as the file spells it
    ignored: list[str] = field(default_factory=list)
    profile: str | None = None
    # One line each: equality columns missing, or present but not understood.
    equality_notes: list[str] = field(default_factory=list)


def plan_header(header: Sequence[str], mapped: Mapping[str, str] | None = None) -> HeaderPlan:
    mapped = mapped or {}
    plan = HeaderPlan()
    best: dict[str, tuple[int, int]] = {}  # field -> (rank, index)
    folded_seen: dict[str, int] = {}
    given: dict[bool, int] = {}  # is it the "legal" spelling -> column index
    for index, raw in enumerate(header):
        folded = fold(raw)
        if not folded:
            continue
        if folded in folded_seen:
            raise HeaderError(f"the column {raw.strip()!r} appears twice in the header row")
        folded_seen[folded] = index
        found = (mapped[folded], -1) if folded in mapped else field_for(folded, raw)
        if found is None:
            plan.ignored.append(raw.strip())
            continue
        name, rank = found
        if rank >= 0:  # same spelling with and without "Legal": the legal one wins
            rank = rank * 2 + (0 if folded.startswith("legal ") else 1)
        if name == "given_name" and rank >= 0:
            given.setdefault(folded.startswith("legal "), index)
        if name in best and best[name][0] == rank == -1:
            raise HeaderError(f"--map names two columns for {name}")
        if name not in best or rank < best[name][0]:
            if name in best:
                plan.ignored.append(header[best[name][1]].strip())
            best[name] = (rank, index)
        else:
            plan.ignored.append(raw.strip())
    # Assembly gives first_name (the name used) beside legal_first_name: the legal one is the
    # given name, the other the preferred one.
    if len(given) == 2 and "preferred_name" not in best:
        best["given_name"], best["preferred_name"] = (0, given[True]), (0, given[False])
        plan.ignored = [h for h in plan.ignored if h not in {header[i].strip() for i in given.values()}]
    plan.positions = {name: best[name][1] for name in FIELDS if name in best}
    plan.used = {name: header[index].strip() for name, index in plan.positions.items()}
    missing = [name for name in REQUIRED if name not in plan.positions]
    if missing:
        raise HeaderError(
            f"required column{'s' if len(missing) > 1 else ''} missing from the header row: {', '.join(missing)} "
            f"(the header must include {', '.join(REQUIRED)}, in any of their usual spellings, e.g. "
            "'Legal Surname' or 'Last Name'; name others with --map \"Their Header=family_name\")"
        )
    plan.profile = recognise(header)
    plan.equality_notes = _equality_notes(plan)
    return plan


def recognise(header: Sequence[str]) -> str | None:
    """The layout the header looks most like (at least two typical headers), or None."""
    folded = {fold(h) for h in header}
    scored = sorted(((len(p.signature & folded), -n, p.name) for n, p in enumerate(PROFILES)), reverse=True)
    hits, _order, name = scored[0]
    return name if hits >= 2 else None


def _equality_notes(plan: HeaderPlan) -> list[str]:
    notes: list[str] = []
    for name, meaning in EQUALITY.items():
        if name in plan.positions:
            continue
        lookalikes = [h for h in plan.ignored if _looks_like(h, name)]
        if lookalikes:
            shown = ", ".join(repr(h) for h in lookalikes)
            notes.append(
                f"{name}: column {shown} looks like it but is not understood; {meaning} "
                f'(name it with --map "{lookalikes[0]}={name}")'
            )
        else:
            notes.append(f"{name}: no column in this file; {meaning}")
    return notes


def _looks_like(header: str, name: str) -> bool:
    folded = fold(header)
    words = set(_LOOKS_LIKE_WORDS.findall(folded))
    return any((word in words) if " " not in word else (word in folded) for word in _LOOKS_LIKE[name])
