"""`waymark report destinations` and `waymark report benchmark3`: the careers leader's reports at a terminal."""

from __future__ import annotations

from collections.abc import Callable, Sequence
from datetime import date
from pathlib import Path
from typing import TypeVar

import typer
from rich.console import Console
from rich.table import Table as RichTable
from sqlmodel import Session

from bot.cli import settings_or_exit
from core.settings import Settings
from reports import build
from reports.equality import EqualityTable
from reports.national import CAVEAT, Comparison
from reports.tables import Table, count_text, percent_text
from storage import audit
from storage.db import make_engine, transaction
from storage.migrate import upgrade
from storage.models import School, utcnow
from storage.reports import EXPORT_REPORT, GROUPS, Breakdown, find_school
from storage.schools import sector_keywords

T = TypeVar("T")

report_app = typer.Typer(
    help="Destination, Benchmark 3 and equality reports: tables, CSV and PNG charts.", no_args_is_help=True
)

SUPPRESS_HELP = "show counts from 1 to 4 as <5, as schools do when they publish figures"


def _school(session_school: School | None, name: str | None) -> School:
    if session_school is None:
        if name:
            typer.echo(f"No school called {name!r}. Check the name with `waymark init`.", err=True)
        else:
            typer.echo(
                "There is more than one school (or none yet), and none is called WAYMARK_SCHOOL_NAME: "
                "name one with --school.",
                err=True,
            )
        raise typer.Exit(1)
    return session_school


def _audit(session: Session, school: School, detail: str) -> None:
    """Reports are about pupils: the export is logged like a chat one (no actor at a terminal)."""
    assert school.id is not None
    audit.record(
        session, school_id=school.id, actor_id=None, action=EXPORT_REPORT, subject_id=None, now=utcnow(), detail=detail
    )


def _build(school: str | None, make: Callable[[Session, School, Settings, date], T], detail: str) -> T:
    """One report from the configured database, for the named school, audited in the same unit of work."""
    settings = settings_or_exit()
    engine = make_engine(settings.database_url)
    upgrade(engine)
    today = utcnow().astimezone(settings.zone).date()
    with transaction(engine) as session:
        # Without --school: the only school, or (with several) the one WAYMARK_SCHOOL_NAME names.
        found = _school(
            find_school(session, school) or (None if school else find_school(session, settings.school_name)), school
        )
        table = make(session, found, settings, today)
        _audit(session, found, detail)
    engine.dispose()
    return table


def _print(table: Table, suppress_small: bool) -> None:
    console = Console()
    rich = RichTable(table.row_header, table.base_header, *table.columns, title=table.title)
    for row in (*table.rows, table.total()) if table.rows else ():
        cells = []
        for count in row.cells:
            share = percent_text(count, row.base, suppress_small)
            cells.append(count_text(count, suppress_small) + (f" ({share})" if share and count else ""))
        rich.add_row(row.label, count_text(row.base, suppress_small), *cells)
    console.print(rich)
    if not table.rows:
        console.print("No one to count yet.")
    for note in table.notes:
        console.print(note)
    if suppress_small:
        console.print("Counts from 1 to 4 are shown as <5.")


def _print_national(found: Sequence[Comparison], suppress_small: bool) -> None:
    """DfE's figures under the table, only for the rows DfE publishes, with the caveat every time."""
    if not found:
        return
    console = Console()
    console.print("\nNational comparison (DfE):")
    for comparison in found:
        for line in comparison.lines(suppress_small=suppress_small):
            console.print(line, highlight=False)
    console.print(CAVEAT)


def _write(path: Path, data: bytes, what: str) -> None:
    try:
        path.write_bytes(data)
    except OSError as exc:
        typer.echo(f"Could not write the {what} to {path}: {exc.strerror or exc}.", err=True)
        raise typer.Exit(1) from None
    typer.echo(f"Wrote the {what} to {path}.")


@report_app.command("destinations")
def destinations(
    year_after: int = typer.Option(1, "--year-after", min=1, max=build.MAX_YEARS_AFTER, help="year after leaving"),
    by: Breakdown = typer.Option(Breakdown.gender, "--by", help="break down by this roster field"),
    cohort: int | None = typer.Option(None, "--cohort", help="only leavers of this year, e.g. 2024"),
    csv_file: Path | None = typer.Option(None, "--csv", help="also write the table as CSV (opens in Excel)"),
    png_file: Path | None = typer.Option(None, "--png", help="also write a stacked bar chart as PNG"),
    suppress_small: bool = typer.Option(False, "--suppress-small", help=SUPPRESS_HELP),
    school: str | None = typer.Option(None, "--school", help="school name, when the database holds several"),
) -> None:
    """Where leavers went in a year after leaving, by destination group and one breakdown, with DfE figures beside."""
    from reports.charts import stacked_bars
    from reports.export import to_csv

    table = _build(
        school,
        lambda session, found, settings, today: build.destinations(
            session, found, settings, today=today, year_after_leaving=year_after, by=by, cohort=cohort
        ),
        f"cli: destinations year {year_after} by {by.value}" + (f" cohort {cohort}" if cohort else ""),
    )
    _print(table, suppress_small)
    _print_national(build.national_comparison(table, by), suppress_small)
    if csv_file is not None:
        _write(csv_file, to_csv(table, suppress_small=suppress_small), "CSV")
    if png_file is not None:
        _write(png_file, stacked_bars(table, suppress_small=suppress_small, columns=len(GROUPS)), "chart")


@report_app.command("benchmark3")
def benchmark3(
    csv_file: Path | None = typer.Option(None, "--csv", help="also write the table as CSV (opens in Excel)"),
    suppress_small: bool = typer.Option(False, "--suppress-small", help=SUPPRESS_HELP),
    school: str | None = typer.Option(None, "--school", help="school name, when the database holds several"),
) -> None:
    """Pupils on roll per year group: guidance this school year, next step recorded, open and overdue actions."""
    from reports.export import to_csv

    table = _build(
        school,
        lambda session, found, settings, today: build.benchmark3(session, found, settings, today=today),
        "cli: benchmark3",
    )
    _print(table, suppress_small)
    if csv_file is not None:
        _write(csv_file, to_csv(table, suppress_small=suppress_small), "CSV")


def _print_equality(table: EqualityTable, suppress_small: bool) -> None:
    """Sectors down the side, the breakdown's groups across (with each group's share of the sector), then All."""
    shown = table.published(suppress_small)
    rich = RichTable("Sector", *table.columns, "All", title=table.title)
    for r, sector in enumerate(table.rows):
        cells = []
        for c in range(len(table.columns)):
            count, share = shown.count(r, c), shown.share(r, c)
            cells.append("*" if count is None else f"{count}" + (f" ({share}%)" if share is not None and count else ""))
        base = shown.base(r)
        rich.add_row(sector, *cells, "*" if base is None else str(base))
    Console().print(rich)
    for note in table.notes:
        typer.echo(note)
    if suppress_small:
        typer.echo("Counts from 1 to 4 hidden (*), and enough others that none can be worked out.")


@report_app.command("equality")
def equality(
    by: Breakdown = typer.Option(Breakdown.gender, "--by", help="break down by this roster field"),
    year_after: int = typer.Option(1, "--year-after", min=1, max=build.MAX_YEARS_AFTER, help="year after leaving"),
    suppress_small: bool = typer.Option(False, "--suppress-small", help=SUPPRESS_HELP),
    school: str | None = typer.Option(None, "--school", help="school name, when the database holds several"),
) -> None:
    """Pupils' career interests and leavers' destinations per sector, by gender (or --by), unclassified shown."""
    from reports import equality as lens
    from storage.equality import alumni_courses, pupil_interests

    def make(session: Session, found: School, settings: Settings, today: date) -> tuple[EqualityTable, ...]:
        assert found.id is not None
        extra = sector_keywords(found)
        return (
            lens.interests_table(pupil_interests(session, found.id, by), by=by, extra=extra, school_name=found.name),
            lens.destinations_table(
                alumni_courses(session, found.id, by, year_after),
                by=by,
                year_after_leaving=year_after,
                extra=extra,
                school_name=found.name,
            ),
        )

    for table in _build(school, make, f"cli: equality by {by.value} year {year_after}"):
        _print_equality(table, suppress_small)


@report_app.command("alumni")
def alumni(
    school: str | None = typer.Option(None, "--school", help="school name, when the database holds several"),
) -> None:
    """Alumni who said they would help current pupils, by the sector of what they do now, for talks and mentoring."""
    from reports.alumni import by_sector, render_lines
    from storage.willing_alumni import record_shown, willing_alumni

    def make(session: Session, found: School, settings: Settings, today: date) -> list[str]:
        assert found.id is not None
        shown = willing_alumni(session, found.id)
        record_shown(session, found.id, shown, actor_id=None, now=utcnow())
        return render_lines(by_sector(shown, sector_keywords(found)), found.name)

    for line in _build(school, make, "cli: alumni who can help"):
        typer.echo(line)


def register(app: typer.Typer) -> None:
    app.add_typer(report_app, name="report")
