"""Assembling a report: the storage query, the leavers it counts, and the table. Shared by chat and CLI."""

from __future__ import annotations

from collections.abc import Sequence
from datetime import UTC, date, datetime, time

from sqlmodel import Session

from core.calendar import latest_campaign_year, school_year_start
from core.settings import Settings
from handlers.risk import weights_from_json
from reports.cohorts import cohort_range, left_before
from reports.evidence import Evidence, evidence
from reports.national import Comparison, beside
from reports.tables import Table, destinations_table, publish, side_by_side
from storage import reports
from storage.models import School
from storage.reports import Breakdown

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
    cohorts: Sequence[int] = (),
) -> Table:
    """One table: all leavers who reached the year, one leaving `cohort`, or several `cohorts` side by side."""
    return destinations_by(
        session,
        school,
        settings,
        today=today,
        year_after_leaving=year_after_leaving,
        by=(by,),
        cohort=cohort,
        cohorts=cohorts,
    )[0]


def destinations_by(
    session: Session,
    school: School,
    settings: Settings,
    *,
    today: date,
    year_after_leaving: int,
    by: Sequence[Breakdown] = tuple(Breakdown),
    cohort: int | None = None,
    cohorts: Sequence[int] = (),
) -> list[Table]:
    """A table per breakdown (every one by default), all from one query per cohort: the alumni are
    grouped by every breakdown column at once, so seven breakdowns cost about what one does."""
    assert school.id is not None
    per_cohort: list[dict[Breakdown, Table]] = []
    wanted: list[int | None] = [*cohorts] or [cohort]
    for one in wanted:
        before = left_before(year_after_leaving, today, settings)
        start: date | None = None
        if one is not None:
            start, cohort_end = cohort_range(one)
            before = min(before, cohort_end)
        counts = reports.destination_counts_by(
            session,
            school.id,
            year_after_leaving=year_after_leaving,
            by=by,
            left_before=before,
            left_from=start,
            reminders=min(len(settings.reminder_days), 2),
        )
        per_cohort.append(
            {
                b: destinations_table(
                    counts[b],
                    by=b,
                    year_after_leaving=year_after_leaving,
                    cohort=one,
                    school_name=school.name,
                    left_before=before,
                )
                for b in by
            }
        )
    if len(per_cohort) == 1:
        return [per_cohort[0][b] for b in by]
    names = [str(c) for c in cohorts]
    found = []
    for b in by:
        tables = [one[b] for one in per_cohort]
        title = tables[0].title.replace(f"leavers of {names[0]}", f"leavers of {', '.join(names)}")
        found.append(side_by_side(tables, names, title))
    return found


EVIDENCE_COHORTS = 3  # "three years of destinations"


def leaving_cohorts(today: date, settings: Settings, count: int = EVIDENCE_COHORTS) -> list[tuple[int, int]]:
    """The last `count` leaving cohorts whose year 1 has come, newest first, each with the latest year
    after leaving it has reached (a July leaver's year 1 is the campaign that autumn)."""
    latest = latest_campaign_year(today, settings.campaign)
    return [(latest - n, n + 1) for n in range(count)]


def cohort_coverage(
    session: Session, school: School, settings: Settings, *, today: date
) -> list[reports.CohortCoverage]:
    assert school.id is not None
    found = []
    for cohort, year in leaving_cohorts(today, settings):
        start, end = cohort_range(cohort)
        counts = reports.destination_counts(
            session,
            school.id,
            year_after_leaving=year,
            by=Breakdown.send,
            left_before=min(end, left_before(year, today, settings)),
            left_from=start,
            reminders=min(len(settings.reminder_days), 2),
        )
        per_group: dict[str, int] = {}
        for c in counts:
            per_group[c.group] = per_group.get(c.group, 0) + c.alumni
        alumni = sum(per_group.values())
        not_known = per_group.get(reports.NOT_KNOWN_GROUP, 0)
        unreachable = per_group.get(reports.CANNOT_BE_CONTACTED_GROUP, 0)
        found.append(
            reports.CohortCoverage(
                cohort,
                year,
                alumni,
                alumni - not_known - unreachable,
                not_known,
                unreachable,
                sum(c.sustained for c in counts) if year >= 2 else 0,
                per_group.get("NEET", 0),
                reports.helping_alumni(session, school.id, start, end),
            )
        )
    return found


def benchmark3_evidence(session: Session, school: School, settings: Settings, *, today: date) -> Evidence:
    assert school.id is not None
    start = school_year_start(today)
    start_at = datetime.combine(start, time(), settings.zone).astimezone(UTC)
    weights = weights_from_json(school.risk_weights)  # the school's own at-risk-of-NEET weights
    pupils = reports.benchmark3_evidence(session, school.id, year_start_at=start_at, today=today, weights=weights)
    return evidence(
        pupils,
        cohort_coverage(session, school, settings, today=today),
        school_name=school.name,
        school_year=f"{start.year}-{(start.year + 1) % 100:02d}",
    )


def national_comparison(table: Table, by: Breakdown, *, suppress_small: bool = False) -> tuple[Comparison, ...]:
    """The DfE figures beside a destinations table's rows, from the table as published (`reports.national`)."""
    return beside(publish(table, suppress_small=suppress_small), by)
