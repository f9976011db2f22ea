"""What a safeguarding alert says: who, which form, when, where and what kind, never the words.

An alert lands on lock screens and in mail previews, so it names the concern without quoting it;
the words are shown only when a DSL opens the concern (`/concerns ID`, the Open button).
"""

from __future__ import annotations

from datetime import UTC, datetime, timedelta
from typing import Protocol
from zoneinfo import ZoneInfo

from core.messages import Button
from core.platforms import label as platform_label
from handlers.safeguarding.categories import Category

# How a concern was raised (storage.models.ConcernSource values): this package stays below storage.
ASKED = "asked"
RAISED_BY_STAFF = "staff"


class Pupil(Protocol):
    """What an alert reads of the person it is about (a storage.models.Person)."""

    @property
    def full_name(self) -> str: ...
    @property
    def form(self) -> str | None: ...


class Concern(Protocol):
    """What an alert reads of a concern (a storage.models.Concern): never its words."""

    @property
    def id(self) -> int | None: ...
    @property
    def category(self) -> str: ...
    @property
    def source(self) -> str: ...
    @property
    def channel(self) -> str: ...
    @property
    def raised_at(self) -> datetime: ...


def open_button(concern_id: int) -> Button:
    return Button("Open", f"/concerns {concern_id}")


def label_for(category: str, source: str) -> str:
    """The plain-words kind of concern: a screening category's label, or how it was raised."""
    try:
        return Category(category).label
    except ValueError:
        pass
    if source == ASKED:
        return "Asked to talk to someone"
    if source == RAISED_BY_STAFF:
        return "Raised by a member of staff"
    return category.replace("_", " ").capitalize()


def category_label(concern: Concern) -> str:
    return label_for(concern.category, concern.source)


def who(pupil: Pupil) -> str:
    """The pupil's full name and form ("Amira Khan, 11A"); an alumnus has no form."""
    return f"{pupil.full_name}, {pupil.form}" if pupil.form else f"{pupil.full_name} (former pupil)"


def when(moment: datetime, zone: ZoneInfo) -> str:
    """ "14:05 on Wed 2 Dec", school time."""
    local = (moment if moment.tzinfo else moment.replace(tzinfo=UTC)).astimezone(zone)
    return f"{local:%H:%M} on {local:%a} {local.day} {local:%b}"


def waited(span: timedelta) -> str:
    """ "45 minutes", "1 hour", "2 hours 15 minutes", "3 days 2 hours"."""
    minutes = max(0, int(span.total_seconds() // 60))
    days, rest = divmod(minutes, 24 * 60)
    hours, minutes = divmod(rest, 60)
    parts = [(days, "day"), (hours, "hour"), (minutes, "minute")] if not days else [(days, "day"), (hours, "hour")]
    words = [f"{n} {unit}{'' if n == 1 else 's'}" for n, unit in parts if n]
    return " ".join(words) or "less than a minute"


def alert_text(pupil: Pupil, concern: Concern, zone: ZoneInfo) -> str:
    """The first alert to every DSL."""
    where = f" on {platform_label(concern.channel)}" if concern.channel else ""
    return (
        f"Safeguarding concern {concern.id}: {who(pupil)}.\n"
        f"{category_label(concern)}. Raised at {when(concern.raised_at, zone)}{where}.\n"
        "Open it to read what was written and take it on."
    )
