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
from reports.evidence import Evidence
from reports.national import CAVEAT, Comparison
from reports.tables import HIDDEN_NOTE, Shown, Table, publish
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

SUPPRESS_HELP = "for publishing: hide counts from 1 to 4 (as x), and enough others that none can be worked out"


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


WIDTH = 80  # a terminal's usual width: no header is cut to "Gend…"


def _longest_word(text: str) -> int:
    return max((len(word) for word in text.split()), default=0)


def _rich_table(shown: Shown, chunk: Sequence[int], title: str) -> RichTable:
    """The label and base columns, then the columns in `chunk`: each cell a count over its percentage."""
    from rich import box

    table = shown.table
    rich = RichTable(title=title, box=box.SIMPLE, title_justify="left")
    for header in (table.row_header, table.base_header, *(table.columns[c] for c in chunk)):
        words = [header] + ([r.label for r in shown.rows] if header == table.row_header else [])
        rich.add_column(
            header,
            overflow="fold",
            min_width=max(_longest_word(w) for w in words),
            justify="left" if header == table.row_header else "right",
        )
    for index, row in enumerate(shown.rows):
        cells = []
        for column in chunk:
            share = shown.share_text(index, column)
            cells.append(shown.count_text(index, column) + (f"\n{share}" if share and row.cells[column] else ""))
        rich.add_row(row.label, shown.base_text(index), *cells)
    return rich


def column_chunks(shown: Shown, width: int = WIDTH) -> list[list[int]]:
    """The table's columns in groups that each fit `width` beside the label and base columns.

    A column is as wide as its longest header word or figure (headers wrap between words, never
    inside one); Rich's SIMPLE box adds a space either side of each column and one between them.
    """
    table, rows = shown.table, range(len(shown.rows))

    def need(texts: list[str], header: str) -> int:
        return max([_longest_word(header), *(len(t) for t in texts)]) + 3

    fixed = 1 + max(_longest_word(t) for t in (table.row_header, *(r.label for r in shown.rows))) + 3
    fixed += need([shown.base_text(r) for r in rows], table.base_header)
    chunks: list[list[int]] = [[]]
    used = fixed
    for column in range(len(table.columns)):
        wide = need(
            [shown.count_text(r, column) for r in rows] + [shown.share_text(r, column) for r in rows],
            table.columns[column],
        )
        if chunks[-1] and used + wide > width:
            chunks.append([])
            used = fixed
        chunks[-1].append(column)
        used += wide
    return chunks


def print_table(table: Table, suppress_small: bool, console: Console | None = None) -> None:
    """Rich tables at most 80 columns wide: as many as it takes, each with the labels and bases."""
    console = console or Console()
    shown = publish(table, suppress_small=suppress_small)
    chunks = column_chunks(shown) if table.rows else [list(range(len(table.columns)))]
    for number, chunk in enumerate(chunks):
        title = table.title + (f" ({number + 1} of {len(chunks)})" if len(chunks) > 1 else "")
        console.print(_rich_table(shown, chunk, title), width=WIDTH)
    if not table.rows:
        console.print("No one to count yet.")
    for note in table.notes:
        console.print(note, width=WIDTH)
    if shown.suppressed:
        console.print(HIDDEN_NOTE, width=WIDTH)


def _print_national(found: Sequence[Comparison]) -> None:
    """DfE's figures under the table, only for the rows DfE publishes, with the caveat every time."""
    if not found:
        return
    console = Console()
    console.print("\nNational comparison (DfE):")
    for comparison in found:
        for line in comparison.lines():
            console.print(line, highlight=False)
    console.print(CAVEAT)


def _write(path: Path, data: bytes, what: str) -> None:
    try:
        path.write_bytes(data)
    except OSError as exc:
        typer.echo(f"Could not write the {what} to {path}: {exc.strerror or exc}.", err=True)
        raise typer.Exit(1) from None
    typer.echo(f"Wrote the {what} to {path}.")


def cohorts_or_exit(text: str | None) -> list[int] | None:
    """`--cohort 2024` or `--cohort 2023,2024,2025`: leaving years, or a clear message and exit 2."""
    if text is None:
        return None
    years = [part.strip() for part in text.split(",") if part.strip()]
    if not years or not all(y.isdigit() and 1990 <= int(y) <= 2100 for y in years):
        typer.echo(f"--cohort takes leaving years, e.g. 2024 or 2023,2024,2025 (not {text!r}).", err=True)
        raise typer.Exit(2)
    return sorted({int(y) for y in years})


@report_app.command("destinations")
def destinations(
    year_after: int = typer.Option(1, "--year-after", min=1, max=build.MAX_YEARS_AFTER, help="year after leaving"),
    by: Breakdown | None = typer.Option(
        None,
        "--by",
        help="break down by this roster field; without it, every breakdown (one query), or gender for --csv/--png/--html",
    ),
    cohort: str | None = typer.Option(
        None, "--cohort", help="only leavers of this year, e.g. 2024; several side by side: 2023,2024,2025"
    ),
    csv_file: Path | None = typer.Option(None, "--csv", help="also write the table as CSV (opens in Excel)"),
    xlsx_file: Path | None = typer.Option(None, "--xlsx", help="also write the table as an Excel workbook"),
    png_file: Path | None = typer.Option(None, "--png", help="also write a stacked bar chart as PNG"),
    html_file: Path | None = typer.Option(None, "--html", help="also write the table and chart as one HTML page"),
    suppress_small: bool = typer.Option(False, "--suppress-small", help=SUPPRESS_HELP),
    school: str | None = typer.Option(None, "--school", help="school name, when the database holds several"),
) -> None:
    """Where leavers went in a year after leaving, by destination group and one breakdown, with DfE figures beside."""
    from reports.charts import stacked_bars
    from reports.export import to_csv
    from reports.html import report_html
    from reports.xlsx import to_xlsx

    cohorts = cohorts_or_exit(cohort)
    if by is None and (csv_file or png_file or html_file):
        by = Breakdown.gender  # one breakdown per CSV, chart or page: gender, as before --by was optional
    if by is None:
        _all_destinations(year_after, cohort, cohorts, xlsx_file, suppress_small, school)
        return

    def make(session: Session, found: School, settings: Settings, today: date) -> Table:
        return build.destinations(
            session, found, settings, today=today, year_after_leaving=year_after, by=by, cohorts=cohorts or ()
        )

    detail = f"cli: destinations year {year_after} by {by.value}" + (f" cohort {cohort}" if cohort else "")
    table = _build(school, make, detail)
    print_table(table, suppress_small)
    _print_national(build.national_comparison(table, by, suppress_small=suppress_small))
    if csv_file is not None:
        _write(csv_file, to_csv(table, suppress_small=suppress_small), "CSV")
    if xlsx_file is not None:
        _write(xlsx_file, to_xlsx([table], suppress_small=suppress_small), "workbook")
    chart = None
    if png_file is not None or html_file is not None:
        chart = stacked_bars(table, suppress_small=suppress_small, columns=len(GROUPS))
    if png_file is not None and chart is not None:
        _write(png_file, chart, "chart")
    if html_file is not None:
        alt = f"Stacked bars: {table.title}, each bar 100% of a group's leavers."
        page = report_html(table, suppress_small=suppress_small, chart=chart, alt=alt)
        _write(html_file, page.encode("utf-8"), "HTML page")


def _all_destinations(
    year_after: int,
    cohort: str | None,
    cohorts: list[int] | None,
    xlsx_file: Path | None,
    suppress_small: bool,
    school: str | None,
) -> None:
    """Every breakdown of a year, from one query (`build.destinations_by`), each table with DfE's figures."""

    def make(session: Session, found: School, settings: Settings, today: date) -> list[Table]:
        return build.destinations_by(
            session, found, settings, today=today, year_after_leaving=year_after, cohorts=cohorts or ()
        )

    detail = f"cli: destinations year {year_after} by every breakdown" + (f" cohort {cohort}" if cohort else "")
    tables = _build(school, make, detail)
    for by, table in zip(Breakdown, tables, strict=True):
        print_table(table, suppress_small)
        _print_national(build.national_comparison(table, by, suppress_small=suppress_small))
        Console().print()
    if xlsx_file is not None:
        from reports.xlsx import to_xlsx

        _write(xlsx_file, to_xlsx(tables, suppress_small=suppress_small), "workbook")


@report_app.command("benchmark3")
def benchmark3(
    csv_file: Path | None = typer.Option(
        None, "--csv", help="also write the page's year-group figures as one CSV table (opens in Excel)"
    ),
    html_file: Path | None = typer.Option(None, "--html", help="also write the whole evidence page as HTML"),
    xlsx_file: Path | None = typer.Option(None, "--xlsx", help="also write every evidence table, a sheet each"),
    suppress_small: bool = typer.Option(False, "--suppress-small", help=SUPPRESS_HELP),
    school: str | None = typer.Option(None, "--school", help="school name, when the database holds several"),
) -> None:
    """Gatsby Benchmark 3 evidence: pupils on roll by year group and targeted group, and three leaving cohorts."""
    from reports.evidence import year_groups
    from reports.export import to_csv
    from reports.html import evidence_html

    def make(session: Session, school_row: School, settings: Settings, today: date) -> Evidence:
        return build.benchmark3_evidence(session, school_row, settings, today=today)

    evidence = _build(school, make, "cli: benchmark3")
    console = Console()
    console.print(evidence.title, width=WIDTH)
    for criterion in evidence.criteria:
        console.print(f"\n{criterion.name}: {criterion.evidence}", width=WIDTH)
        for table in criterion.tables:
            print_table(table, suppress_small, console)
    if csv_file is not None:
        # The page's own year-group figures, hidden where the page hides them: a CSV suppressed on
        # its own could show a number the page hides (or hide one the page shows, giving others away).
        _write(csv_file, to_csv(year_groups(evidence), suppress_small=suppress_small), "CSV")
    if xlsx_file is not None:
        from reports.xlsx import to_xlsx

        tables = [t for c in evidence.criteria for t in c.tables]
        _write(xlsx_file, to_xlsx(tables, suppress_small=suppress_small), "workbook")
    if html_file is not None:
        _write(html_file, evidence_html(evidence, suppress_small=suppress_small).encode("utf-8"), "evidence page")


def _beside(path: Path, part: str) -> Path:
    """`eq.csv` and "interests" give `eq-interests.csv`: one file per table of a report with several."""
    return path.with_name(f"{path.stem}-{part}{path.suffix}")


@report_app.command("equality")
def equality(
    by: Breakdown = typer.Option(Breakdown.gender, "--by", help="break down by this roster field"),
    year_after: int = typer.Option(1, "--year-after", min=1, max=build.MAX_YEARS_AFTER, help="year after leaving"),
    csv_file: Path | None = typer.Option(
        None, "--csv", help="also write each table as CSV: FILE-interests.csv and FILE-destinations.csv"
    ),
    xlsx_file: Path | None = typer.Option(None, "--xlsx", help="also write both tables as a workbook, a sheet each"),
    png_file: Path | None = typer.Option(
        None, "--png", help="also write a chart per table: FILE-interests.png and FILE-destinations.png"
    ),
    html_file: Path | None = typer.Option(None, "--html", help="also write both tables and charts as one HTML page"),
    suppress_small: bool = typer.Option(False, "--suppress-small", help=SUPPRESS_HELP),
    school: str | None = typer.Option(None, "--school", help="school name, when the database holds several"),
) -> None:
    """Pupils' career interests and leavers' destinations per sector, by gender (or --by), unclassified shown."""
    from reports import equality as lens
    from reports.export import to_csv
    from reports.html import Part, tables_html
    from reports.xlsx import to_xlsx
    from storage.equality import alumni_courses, pupil_interests

    def make(session: Session, found: School, settings: Settings, today: date) -> tuple[Table, Table]:
        assert found.id is not None
        return lens.tables(
            pupil_interests(session, found.id, by),
            alumni_courses(session, found.id, by, year_after),
            by=by,
            year_after_leaving=year_after,
            extra=sector_keywords(found),
            school_name=found.name,
        )

    found = _build(school, make, f"cli: equality by {by.value} year {year_after}")
    for table in found:
        print_table(table, suppress_small)
    parts = dict(zip(EQUALITY_PARTS, found, strict=True))
    if csv_file is not None:
        for part, table in parts.items():
            _write(_beside(csv_file, part), to_csv(table, suppress_small=suppress_small), "CSV")
    if xlsx_file is not None:
        _write(xlsx_file, to_xlsx(found, suppress_small=suppress_small), "workbook")
    if png_file is None and html_file is None:
        return
    charts = {part: lens.chart(table, suppress_small=suppress_small) for part, table in parts.items()}
    if png_file is not None:
        for part, (png, _) in charts.items():
            _write(_beside(png_file, part), png, "chart")
    if html_file is not None:
        title = found[0].title.split(": ", 1)[0] + ": equality lens" if ": " in found[0].title else "Equality lens"
        page = tables_html(title, [Part(parts[p], *charts[p]) for p in EQUALITY_PARTS], suppress_small=suppress_small)
        _write(html_file, page.encode("utf-8"), "HTML page")


EQUALITY_PARTS = ("interests", "destinations")


def print_alumni(title: str, rows: Sequence[Sequence[str]], console: Console | None = None) -> None:
    """The list at most 80 columns wide: long cells wrap inside their column, never cut."""
    from rich import box

    from reports.alumni import HEADER, HOW_TO_REACH, NOBODY

    console = console or Console()
    if not rows:
        console.print(title, NOBODY, sep="\n", width=WIDTH)
        return
    rich = RichTable(title=title, box=box.SIMPLE, title_justify="left", expand=True)
    # What they do now is the longest cell: it gets the most room; the leaving year never wraps.
    for header, ratio in zip(HEADER, (3, 3, None, 6, 3), strict=True):
        if ratio is None:
            rich.add_column(header, no_wrap=True, width=4)
        else:
            rich.add_column(header, overflow="fold", ratio=ratio)
    for row in rows:
        rich.add_row(*row)
    console.print(rich, width=WIDTH)
    console.print(HOW_TO_REACH, width=WIDTH)


@report_app.command("alumni")
def alumni(
    csv_file: Path | None = typer.Option(None, "--csv", help="also write the list as CSV (opens in Excel)"),
    xlsx_file: Path | None = typer.Option(None, "--xlsx", help="also write the list as an Excel workbook"),
    html_file: Path | None = typer.Option(None, "--html", help="also write the list as an HTML page"),
    school: str | None = typer.Option(None, "--school", help="school name, when the database holds several"),
) -> None:
    """Alumni who said they would help current pupils, by the sector of what they do now, for talks and mentoring."""
    from reports.alumni import HEADER, HOW_TO_REACH, STAFF_ONLY, by_sector, rows, title, to_csv
    from reports.html import list_html
    from reports.xlsx import list_xlsx
    from storage.willing_alumni import record_shown, willing_alumni

    def make(session: Session, found: School, settings: Settings, today: date) -> tuple[str, list[list[str]]]:
        assert found.id is not None
        shown = willing_alumni(session, found.id)
        record_shown(session, found.id, shown, actor_id=None, now=utcnow())
        return title(found.name), rows(by_sector(shown, sector_keywords(found)))

    heading, found = _build(school, make, "cli: alumni who can help")
    print_alumni(heading, found)
    notes = (HOW_TO_REACH, STAFF_ONLY)
    if csv_file is not None:
        _write(csv_file, to_csv(found), "CSV")
    if xlsx_file is not None:
        _write(xlsx_file, list_xlsx(heading, HEADER, found, notes), "workbook")
    if html_file is not None:
        _write(html_file, list_html(heading, HEADER, found, notes).encode("utf-8"), "HTML page")


def register(app: typer.Typer) -> None:
    app.add_typer(report_app, name="report")
