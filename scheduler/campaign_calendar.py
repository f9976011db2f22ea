"""The campaign calendar: pure date rules shared by the scheduler and the alumni conversations.

Kept apart from `scheduler.campaign` so that conversations can use these rules without importing
the code that writes outbox rows (which itself imports `handlers`).
"""

from __future__ import annotations

from datetime import date, timedelta

from bot.settings import Settings
from scheduler.schooldays import is_working_day

RUN_NOW_LEAD = timedelta(days=61)  # run-now may open this year's campaign from early August


# ---- pure rules -------------------------------------------------------------------------------


def nominal_start(year: int, settings: Settings) -> date:
    return date(year, settings.campaign_start_month, settings.campaign_start_day)


def campaign_opens(year: int, settings: Settings) -> date:
    """The first working day on or after the configured start date."""
    day = nominal_start(year, settings)
    while not is_working_day(day):
        day += timedelta(days=1)
    return day


def scheduled_campaign_year(today: date, settings: Settings) -> int | None:
    """The campaign whose window is open today, if any."""
    for year in (today.year, today.year - 1):
        opens = campaign_opens(year, settings)
        if opens <= today < opens + timedelta(days=settings.campaign_window_days):
            return year
    return None


def run_now_campaign_year(today: date, settings: Settings) -> int:
    """The campaign a careers leader means by "run it now": the latest one that opens within the lead."""
    year = today.year + 1
    while campaign_opens(year, settings) - RUN_NOW_LEAD > today:
        year -= 1
    return year


def latest_campaign_year(today: date, settings: Settings) -> int:
    """The most recent campaign that has opened by today."""
    return today.year if campaign_opens(today.year, settings) <= today else today.year - 1


def first_campaign_year(leaving_date: date, settings: Settings) -> int:
    """Year 1 after leaving is the first campaign that starts after the leaving date."""
    year = leaving_date.year
    return year if leaving_date < nominal_start(year, settings) else year + 1


def years_after_leaving(leaving_date: date, campaign_year: int, settings: Settings) -> int:
    return campaign_year - first_campaign_year(leaving_date, settings) + 1


def leaving_range(campaign_year: int, settings: Settings) -> tuple[date, date]:
    """Leaving dates [first, before) that put a campaign in years 1..N after leaving."""
    return (
        nominal_start(campaign_year - settings.campaign_years, settings),
        nominal_start(campaign_year, settings),
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
