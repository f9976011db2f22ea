"""The school calendar as pure functions: the school year, bank holidays in England, the school's own
holidays, night, and the yearly alumni campaign's dates. Shared by every floor above."""

from __future__ import annotations

from collections.abc import Iterable
from datetime import date, datetime, time, timedelta
from functools import lru_cache
from zoneinfo import ZoneInfo

from core.settings import CampaignRules

DateRange = tuple[date, date]  # first and last day, both included

NIGHT_STARTS = time(21, 0)
DAY_STARTS = time(7, 30)


@lru_cache(maxsize=64)
def _england(year: int) -> frozenset[date]:
    # Imported here: the package takes a tenth of a second to load, and most commands that read the
    # school's settings (e.g. `waymark erase`) never ask about a bank holiday.
    import holidays

    return frozenset(holidays.country_holidays("GB", subdiv="ENG", years=year).keys())


def is_bank_holiday(day: date) -> bool:
    return day in _england(day.year)


def is_working_day(day: date) -> bool:
    """Monday to Friday and not a bank holiday in England."""
    return day.weekday() < 5 and not is_bank_holiday(day)


def parse_school_holidays(text: str) -> list[DateRange]:
    """The school's holiday lines, "YYYY-MM-DD..YYYY-MM-DD" (or one date); anything else is ignored.

    The lines are typed by a person, so a bad line is skipped rather than stopping every reminder.
    """
    ranges: list[DateRange] = []
    for raw in text.splitlines():
        line = raw.split("#", 1)[0].strip()
        if not line:
            continue
        first, _, last = line.partition("..")
        try:
            start = date.fromisoformat(first.strip())
            end = date.fromisoformat(last.strip()) if last.strip() else start
        except ValueError:
            continue
        if end >= start:
            ranges.append((start, end))
    return ranges


def in_ranges(day: date, ranges: Iterable[DateRange]) -> bool:
    return any(first <= day <= last for first, last in ranges)


def is_school_day(day: date, school_holidays: Iterable[DateRange] = ()) -> bool:
    return is_working_day(day) and not in_ranges(day, school_holidays)


def is_night(moment: time) -> bool:
    """21:00 to 07:30 school time."""
    return moment >= NIGHT_STARTS or moment < DAY_STARTS


# ---- the school year --------------------------------------------------------------------------


def local_today(now: datetime, zone: ZoneInfo) -> date:
    """The school's own date (its time zone), never UTC's."""
    return now.astimezone(zone).date()


def school_year_start(today: date) -> date:
    """The school year starts on 1 September."""
    return date(today.year if today.month >= 9 else today.year - 1, 9, 1)


def spring_term_start(today: date) -> date:
    """1 January of the current school year: when "no next step yet" starts to matter in Year 11 and 13."""
    return date(school_year_start(today).year + 1, 1, 1)


TERM_LENGTH = timedelta(weeks=13)


def last_term_start(today: date) -> date:
    """The start of "the last term": a rolling 13 weeks, so the window never shrinks to nothing on 2 January."""
    return today - TERM_LENGTH


# ---- the yearly alumni campaign ---------------------------------------------------------------

RUN_NOW_LEAD = timedelta(days=61)  # run-now may open this year's campaign from early August


# ---- pure rules -------------------------------------------------------------------------------


def nominal_start(year: int, rules: CampaignRules) -> date:
    return date(year, rules.start_month, rules.start_day)


def campaign_opens(year: int, rules: CampaignRules) -> date:
    """The first working day on or after the configured start date."""
    day = nominal_start(year, rules)
    while not is_working_day(day):
        day += timedelta(days=1)
    return day


def scheduled_campaign_year(today: date, rules: CampaignRules) -> int | None:
    """The campaign whose window is open today, if any."""
    for year in (today.year, today.year - 1):
        opens = campaign_opens(year, rules)
        if opens <= today < opens + timedelta(days=rules.window_days):
            return year
    return None


def run_now_campaign_year(today: date, rules: CampaignRules) -> int:
    """The campaign a careers leader means by "run it now": the latest one that opens within the lead."""
    year = today.year + 1
    while campaign_opens(year, rules) - RUN_NOW_LEAD > today:
        year -= 1
    return year


def latest_campaign_year(today: date, rules: CampaignRules) -> int:
    """The most recent campaign that has opened by today."""
    return today.year if campaign_opens(today.year, rules) <= today else today.year - 1


def first_campaign_year(leaving_date: date, rules: CampaignRules) -> int:
    """Year 1 after leaving is the first campaign that starts after the leaving date."""
    year = leaving_date.year
    return year if leaving_date < nominal_start(year, rules) else year + 1


def years_after_leaving(leaving_date: date, campaign_year: int, rules: CampaignRules) -> int:
    return campaign_year - first_campaign_year(leaving_date, rules) + 1


def leaving_range(campaign_year: int, rules: CampaignRules) -> tuple[date, date]:
    """Leaving dates [first, before) that put a campaign in years 1..N after leaving."""
    return (
        nominal_start(campaign_year - rules.years, rules),
        nominal_start(campaign_year, rules),
    )


# ---- leavers ----------------------------------------------------------------------------------

CONSENT_LEAD = timedelta(days=100)  # from mid-April for a July leaver: the summer term
STILL_ASKED_FOR = timedelta(days=365)  # the leader's list keeps a leaver who left without answering


def asking_window(today: date) -> tuple[date, date]:
    """Leaving dates of pupils we ask now: those leaving within the summer term ahead."""
    return today, today + CONSENT_LEAD


def unanswered_window(today: date) -> tuple[date, date]:
    """Leaving dates the careers leader's "not answered yet" list covers."""
    return today - STILL_ASKED_FOR, today + CONSENT_LEAD
