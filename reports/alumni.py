"""Alumni who can help, grouped by the sector of what they do now, for inviting to talks and mentoring.

Pure: `storage.willing_alumni` finds them; here they are sorted into our sectors (by the same keyword
rules as the equality lens) and described in words. Channels are named, never handles.
"""

from __future__ import annotations

from collections.abc import Iterable, Mapping, Sequence
from dataclasses import dataclass

from core.csvsafe import csv_text
from reports.export import BOM
from reports.sectors import SECTORS, UNCLASSIFIED, classify, label
from storage.willing_alumni import WillingAlumnus

CHANNEL_WORDS = {"telegram": "Telegram", "slack": "Slack", "web": "web chat", "email": "email"}
HOW_TO_REACH = (
    "Reach: the channels Waymark holds for them (their accounts and addresses are never shown here). "
    "Find one with /pupil NAME in the chat to see their record."
)


@dataclass(frozen=True)
class Helper:
    name: str
    left: str  # leaving year, or ""
    now: str  # current destination in words
    reach: str  # channels in words


def sector_of(alumnus: WillingAlumnus, extra: Mapping[str, str] | None = None) -> str:
    """The sector they picked at the check-in, or else the one their course or provider names."""
    if alumnus.sector in {s.key for s in SECTORS}:
        return alumnus.sector
    return classify(f"{alumnus.course} {alumnus.provider}", extra)


def describe(alumnus: WillingAlumnus) -> Helper:
    where = ", ".join(p for p in (alumnus.course, alumnus.provider) if p)
    now = (alumnus.doing or "Not reported") + (f": {where}" if where else "")
    reach = ", ".join(CHANNEL_WORDS.get(c, c) for c in alumnus.channels) or "no channel: not reachable through Waymark"
    return Helper(alumnus.name, str(alumnus.left.year) if alumnus.left else "", now, reach)


def by_sector(
    alumni: Iterable[WillingAlumnus], extra: Mapping[str, str] | None = None
) -> list[tuple[str, list[Helper]]]:
    """(sector label, helpers) in our sector order, unclassified last; sectors with nobody left out."""
    grouped: dict[str, list[Helper]] = {}
    for alumnus in alumni:
        grouped.setdefault(sector_of(alumnus, extra), []).append(describe(alumnus))
    order = [s.key for s in SECTORS] + [UNCLASSIFIED]
    return [(label(key), grouped[key]) for key in order if key in grouped]


HEADER: tuple[str, ...] = ("Sector", "Name", "Left", "Doing now", "Reach")
NOBODY = "No alumni have said yes yet: pupils are asked when they leave."
STAFF_ONLY = "Staff only: names of former pupils, for inviting them to talks and mentoring. Not for publishing."


def title(school_name: str = "") -> str:
    return (f"{school_name}: " if school_name else "") + "Alumni who would help current pupils"


def rows(groups: Sequence[tuple[str, list[Helper]]]) -> list[list[str]]:
    """One row per alumnus under `HEADER`: what the CSV, the workbook, the page and the terminal show."""
    return [[sector, h.name, h.left, h.now, h.reach] for sector, helpers in groups for h in helpers]


def to_csv(found: Sequence[Sequence[str]]) -> bytes:
    """`rows` as CSV through the one writer (`core.csvsafe`): names and courses come from outside."""
    return (BOM + csv_text([list(HEADER), *found])).encode("utf-8")


def render_lines(groups: Sequence[tuple[str, list[Helper]]], school_name: str = "") -> list[str]:
    if not groups:
        return [title(school_name), NOBODY]
    title_line = title(school_name)
    lines = [title_line]
    for sector, helpers in groups:
        lines += ["", f"{sector} ({len(helpers)})"]
        for h in helpers:
            lines.append(f"- {h.name}" + (f" (left {h.left})" if h.left else "") + f": {h.now}. Reach: {h.reach}")
    return [*lines, "", HOW_TO_REACH]
