"""Quiet hours: when the sender holds a message back, by who it is for (pure rules, and a cache).

The decision runs (nudges, digests, invitations, check-ins) already skip quiet times, but a row
can still reach the sender at a bad moment: queued at 20:55 and sent at 21:01, retried after a
backoff in the night, or found on a Saturday by a process that has just restarted. So the sender
checks again when it takes a row (storage.outbox.claim_due), from the recipient's role:

| recipient | held (school time zone)                                                          |
| --------- | -------------------------------------------------------------------------------- |
| pupil     | 21:00-07:30, weekends, England's bank holidays, the school's own holidays          |
| staff     | 21:00-07:30, weekends, England's bank holidays (careers staff work in the holidays) |
| alumnus   | 21:00-07:30 (adults who have left: a Saturday message is fine, a midnight one not) |

A held row goes back to the queue, due at 07:30 on the next day its recipient may be messaged;
nothing is lost and nothing is sent twice. WAYMARK_QUIET_HOURS=false turns all of it off.
"""

from __future__ import annotations

import time
from collections.abc import Callable, Iterable
from datetime import UTC, date, datetime, timedelta
from zoneinfo import ZoneInfo

from sqlmodel import Session

from core.calendar import DAY_STARTS, DateRange, is_night, is_school_day, is_working_day, parse_school_holidays
from storage import outbox

PUPIL, STAFF, ALUMNUS = "pupil", "staff", "alumnus"
MAX_DAYS_AHEAD = 400  # a holiday list typed wrong cannot make the search run for ever


def quiet_for(role: str, moment: datetime, zone: ZoneInfo, school_holidays: Iterable[DateRange] = ()) -> bool:
    """True when nothing should go to a person of this role now (see the table above)."""
    local = moment.astimezone(zone)
    if is_night(local.time()):
        return True
    if role == ALUMNUS:
        return False
    day = local.date()
    return not is_school_day(day, school_holidays) if role == PUPIL else not is_working_day(day)


def held_until(role: str, now: datetime, zone: ZoneInfo, school_holidays: Iterable[DateRange] = ()) -> datetime | None:
    """None when a message to this role may go now; else the next moment it may (07:30 of some day), in UTC."""
    ranges = list(school_holidays)
    if not quiet_for(role, now, zone, ranges):
        return None
    local = now.astimezone(zone)
    day: date = local.date() if local.time() < DAY_STARTS else local.date() + timedelta(days=1)
    for _ in range(MAX_DAYS_AHEAD):
        start = datetime.combine(day, DAY_STARTS, tzinfo=zone)
        if not quiet_for(role, start, zone, ranges):
            return start.astimezone(UTC)
        day += timedelta(days=1)
    return datetime.combine(day, DAY_STARTS, tzinfo=zone).astimezone(UTC)


class QuietHours:
    """The sender's quiet-hours rule, with each school's holidays read at most every `refresh` seconds."""

    def __init__(self, zone: ZoneInfo, refresh: float = 300.0) -> None:
        self.zone = zone
        self.refresh = refresh
        self._holidays: dict[int, list[DateRange]] = {}
        self._loaded_at = float("-inf")

    def rule(self, session: Session, now: datetime) -> Callable[[str, int], datetime | None]:
        """For one claim: (role, school id) -> hold until, or None to send now."""
        if time.monotonic() - self._loaded_at > self.refresh:
            self._holidays = {sid: parse_school_holidays(text) for sid, text in outbox.school_holidays(session).items()}
            self._loaded_at = time.monotonic()
        holidays = self._holidays
        seen: dict[tuple[str, int], datetime | None] = {}

        def hold(role: str, school_id: int) -> datetime | None:
            key = (role, school_id)
            if key not in seen:
                seen[key] = held_until(role, now, self.zone, holidays.get(school_id, ()) if role == PUPIL else ())
            return seen[key]

        return hold
