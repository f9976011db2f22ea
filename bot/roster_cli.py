"""`waymark import-roster` and `waymark staff import`: files from the MIS, read and checked by
`storage.roster` and `storage.mis`, with what was understood and what went wrong printed in
words an office manager understands (problems grouped, one line each)."""

from __future__ import annotations

from collections.abc import Iterator
from contextlib import contextmanager
from pathlib import Path
from typing import BinaryIO

import typer
from rich.console import Console
from rich.progress import BarColumn, MofNCompleteColumn, Progress, TextColumn, TimeElapsedColumn
from sqlmodel import Session

from bot.admin_cli import _at_school, _fail, _settings
from storage import roster
from storage.mis import headers, reader
from storage.mis.problems import Problems
from storage.mis.staff_file import read_staff
from storage.staff import StaffError, import_staff

GROUPS_SHOWN = 30  # distinct problems printed; the rest are counted
MISSING_SHOWN = 30


class _DryRun(Exception):
    """Raised inside the unit of work so that it rolls back: a dry run writes nothing."""


@contextmanager
def _opened(file: Path) -> Iterator[BinaryIO]:
    try:
        handle = file.open("rb")
    except OSError as exc:
        raise _fail(f"Cannot read {file}: {exc.strerror or exc}") from None
    with handle:
        yield handle


def _print_problems(problems: Problems, *, err: bool = True) -> None:
    for line in problems.summary(GROUPS_SHOWN):
        typer.echo(f"  {line}", err=err)


def _describe(source: roster.RosterReader) -> None:
    plan = source.plan
    layout = (
        f"Layout recognised: {plan.profile}" if plan.profile else "Layout: not one we know; columns matched by name"
    )
    typer.echo(f"{layout}. Encoding: {source.encoding.label}.")
    typer.echo("Columns used: " + ", ".join(f"{name} <- {header!r}" for name, header in plan.used.items()))
    if plan.ignored:
        typer.echo("Columns ignored: " + ", ".join(plan.ignored))
    if plan.equality_notes:
        typer.echo("Equality and age columns not in this file:")
        for note in plan.equality_notes:
            typer.echo(f"  {note}")


def import_roster(
    file: Path = typer.Argument(..., help="CSV from the MIS, with a header row (see the README for the columns)"),
    skip_invalid: bool = typer.Option(False, "--skip-invalid", help="import the valid rows and list the others"),
    strict: bool = typer.Option(
        False, "--strict", help="refuse a file without every equality column (SEND, FSM, pupil premium, ...)"
    ),
    dry_run: bool = typer.Option(False, "--dry-run", help="check the file and print what would change; write nothing"),
    map_: list[str] = typer.Option(
        [], "--map", help='a column we do not recognise, "Their Header=our_field"; repeat for several'
    ),
    school: str | None = typer.Option(None, "--school", help="school name (default WAYMARK_SCHOOL_NAME)"),
) -> None:
    """Add or update pupils from a roster CSV (by UPN); pupils not in the file are reported, never deleted."""
    settings = _settings()
    try:
        mapped = headers.parse_map(map_)
    except headers.HeaderError as exc:
        raise _fail(str(exc)) from None
    with _opened(file) as handle:
        try:
            source = roster.RosterReader(handle, mapped=mapped)
        except roster.RosterFileError as exc:
            raise _fail(f"{file}: {exc}. Nothing was imported.") from None
        _describe(source)
        if strict and source.plan.equality_notes:
            raise _fail(
                f"--strict: {file} lacks {len(source.plan.equality_notes)} equality column(s), listed above. "
                'Nothing was imported. Add them to the export, name them with --map "Header=field", or leave out --strict.'
            )
        try:
            with _at_school(settings, school) as (session, choice):
                assert choice.school.id is not None
                result = _write(session, choice.school.id, source)
                if source.problems and not skip_invalid:
                    typer.echo(f"Problems in {file}, one line each:", err=True)
                    _print_problems(source.problems)
                    # Leaving the block with an exception rolls everything back, the new school too.
                    raise _fail(
                        f"Nothing was imported: {source.problems.lines} row(s) with problems in {file}. Fix them and "
                        "run the same command again, or add --skip-invalid to import the valid rows now."
                    )
                school_name, created = choice.school.name, choice.created
                if dry_run:
                    raise _DryRun
        except _DryRun:
            _report(source, result, school_name, dry_run=True)
            return
    if created:
        typer.echo(f"New school created: {school_name}")
    _report(source, result, school_name, dry_run=False)


def _write(session: Session, school_id: int, source: roster.RosterReader) -> roster.ImportResult:
    progress = Progress(
        TextColumn("Importing"),
        BarColumn(),
        MofNCompleteColumn(),
        TimeElapsedColumn(),
        console=Console(stderr=True),
        transient=True,
    )
    with progress:
        # Line breaks less the header: the rows, unless cells hold line breaks or the last has none.
        task = progress.add_task("rows", total=max(source.encoding.lines - 1, 1))
        result = roster.import_roster(session, school_id, source, progress=lambda n: progress.advance(task, n))
        progress.update(task, total=source.rows_read, completed=source.rows_read)
    return result


def _report(source: roster.RosterReader, result: roster.ImportResult, school_name: str, *, dry_run: bool) -> None:
    counts = (
        f"{result.added} added, {result.updated} updated, {result.unchanged} unchanged, {len(result.missing)} missing."
    )
    if dry_run:
        typer.echo(f"Dry run for {school_name}, nothing was written. The import would give: {counts}")
    else:
        typer.echo(f"Roster imported for {school_name}: {counts}")
    if result.reactivated:
        typer.echo(f"{result.reactivated} pupil(s) marked missing before are back on roll.")
    if result.missing:
        typer.echo(
            "Not in this file (would be kept, marked 'missing'):"
            if dry_run
            else "Not in this file (kept, marked 'missing'; nothing was deleted):"
        )
        for line in result.missing[:MISSING_SHOWN]:
            typer.echo(f"  {line}")
        if len(result.missing) > MISSING_SHOWN:
            typer.echo(f"  ... and {len(result.missing) - MISSING_SHOWN} more")
    if source.notes:
        typer.echo("Worth knowing:")
        _print_problems(source.notes, err=False)
    if source.problems:
        typer.echo(f"{'Would skip' if dry_run else 'Skipped'} {source.problems.lines} row(s) with problems:")
        _print_problems(source.problems, err=False)


def staff_import(
    file: Path = typer.Argument(..., help="CSV of staff: email, name (or first name and surname), role"),
    dry_run: bool = typer.Option(False, "--dry-run", help="check the file and print what would change; write nothing"),
    school: str | None = typer.Option(None, "--school", help="school name (default WAYMARK_SCHOOL_NAME)"),
) -> None:
    """Add or update many members of staff from a CSV, by email; importing the same file again changes nothing."""
    settings = _settings()
    with _opened(file) as handle:
        try:
            staff = read_staff(handle)
        except reader.FileError as exc:
            raise _fail(f"{file}: {exc}. Nothing was imported.") from None
    typer.echo("Columns used: " + ", ".join(f"{name} <- {header!r}" for name, header in staff.used.items()))
    if "role" not in staff.used:
        typer.echo("No role column: everyone in the file is added as a tutor.")
    if staff.problems:
        typer.echo(f"Problems in {file}, one line each:", err=True)
        _print_problems(staff.problems)
        raise _fail(f"Nothing was imported: {staff.problems.lines} row(s) with problems. Fix them and run it again.")
    try:
        with _at_school(settings, school) as (session, choice):
            assert choice.school.id is not None
            try:
                result = import_staff(session, choice.school.id, staff.rows)
            except StaffError as exc:
                raise _fail(f"{exc}. Nothing was imported.") from None
            school_name = choice.school.name
            if dry_run:
                raise _DryRun
    except _DryRun:
        typer.echo(
            f"Dry run for {school_name}, nothing was written. The import would give: {result.added} added, "
            f"{result.updated} updated, {result.unchanged} unchanged."
        )
        return
    typer.echo(
        f"Staff imported for {school_name}: {result.added} added, {result.updated} updated, {result.unchanged} unchanged."
    )
    typer.echo("Next: `waymark codes --role staff --out staff-codes.csv` gives each a code to link a chat.")


def register(app: typer.Typer, staff_app: typer.Typer) -> None:
    app.command("import-roster")(import_roster)
    staff_app.command("import")(staff_import)
