"""Which leavers a destination report counts: pure date rules, no I/O.

Year N after leaving is asked about in the Nth campaign after someone leaves (scheduler.campaign).
A report for year N counts only alumni whose Nth campaign has opened, so last summer's leavers are
not "not known" for a year that has not happened to them yet.
"""

from __future__ import annotations

from datetime import date

from core.calendar import latest_campaign_year, nominal_start
from core.settings import Settings


def left_before(year_after_leaving: int, today: date, settings: Settings) -> date:
    """Alumni who left before this date have reached year `year_after_leaving` by `today`."""
    return nominal_start(latest_campaign_year(today, settings.campaign) - year_after_leaving + 1, settings.campaign)


def cohort_range(cohort: int) -> tuple[date, date]:
    """Leavers "of 2024": a leaving date in that calendar year, as `waymark campaign status` counts them."""
    return date(cohort, 1, 1), date(cohort + 1, 1, 1)
