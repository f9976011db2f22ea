"""Assembling a report: the storage query, the leavers it counts, and the table. Shared by chat and CLI."""

from __future__ import annotations

from datetime import UTC, date, datetime, time

from sqlmodel import Session

from core.calendar import school_year_start
from core.settings import Settings
from reports.cohorts import cohort_range, left_before
from reports.national import Comparison, comparisons
from reports.tables import GROUP_LABELS, Table, benchmark3_table, destinations_table, value_label
from storage import reports
from storage.models import School
from storage.reports import POSITIVE_GROUPS, Breakdown

MAX_YEARS_AFTER = 10


def destinations(
    session: Session,
    school: School,
    settings: Settings,
    *,
    today: date,
    year_after_leaving: int,
    by: Breakdown,
    cohort: int | None = None,
) -> Table:
    assert school.id is not None
    before = left_before(year_after_leaving, today, settings)
    start: date | None = None
    if cohort is not None:
        start, cohort_end = cohort_range(cohort)
        before = min(before, cohort_end)
    counts = reports.destination_counts(
        session,
        school.id,
        year_after_leaving=year_after_leaving,
        by=by,
        left_before=before,
        left_from=start,
        reminders=min(len(settings.reminder_days), 2),
    )
    return destinations_table(
        counts, by=by, year_after_leaving=year_after_leaving, cohort=cohort, school_name=school.name
    )


def benchmark3(session: Session, school: School, settings: Settings, *, today: date) -> Table:
    assert school.id is not None
    start = school_year_start(today)
    start_at = datetime.combine(start, time(), settings.zone).astimezone(UTC)
    rows = reports.benchmark3_by_year(session, school.id, year_start_at=start_at, today=today)
    return benchmark3_table(rows, school_year=f"{start.year}-{(start.year + 1) % 100:02d}", school_name=school.name)


def national_comparison(table: Table, by: Breakdown) -> tuple[Comparison, ...]:
    """The DfE figures beside a destinations table's rows, where DfE publishes the same breakdown."""
    if not table.rows:
        return ()
    positive = [table.columns.index(GROUP_LABELS[g]) for g in POSITIVE_GROUPS]
    # Row labels back to the roster values DfE's groups are named by ("Female" is "F").
    raw = {value_label(by, v): v for v in ("F", "M", "Y", "N")}
    rows = [(raw.get(row.label, "?"), row.label, sum(row.cells[i] for i in positive), row.base) for row in table.rows]
    total = table.total()
    rows.append(("", total.label, sum(total.cells[i] for i in positive), total.base))
    return comparisons(by.value, rows)
