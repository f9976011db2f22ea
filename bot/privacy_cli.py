"""Children's data at the terminal: erasure, retention and the audit log.

    waymark erase UPN|EMAIL [--school NAME] [--yes] [--all]
    waymark retention run [--dry-run] [--school NAME]
    waymark school retention [KIND=DURATION ...] [--school NAME]
    waymark audit [--pupil UPN] [--staff EMAIL] [--since DATE] [--csv FILE]

Thin edges over storage.erasure, storage.retention and storage.audit_log: read the arguments,
call storage, say what happened in words a data protection officer understands.
"""

from __future__ import annotations

from datetime import UTC, date, datetime, time
from pathlib import Path
from typing import TYPE_CHECKING

import typer

from bot.cli_base import _fail, _one_person, _open, _settings, school_app
from core.retention import KINDS, DurationError, parse_change, schedule_from_json, schedule_to_json
from storage import audit_log, erasure, retention
from storage.db import transaction
from storage.erasure import MARKER_PREFIX
from storage.models import Person, School, utcnow
from storage.reports import find_school

if TYPE_CHECKING:
    from rich.console import Console

retention_app = typer.Typer(
    help="The retention schedule: remove what is kept longer than it says.", no_args_is_help=True
)
CONSOLE_WIDTH = 80


def _console() -> Console:
    from rich.console import Console  # here: only the commands that print a table need Rich

    return Console(width=CONSOLE_WIDTH)


# --- erase --------------------------------------------------------------------------------------


def _describe(person: Person) -> str:
    key = person.upn or person.email or f"#{person.id}"
    return f"{person.full_name} ({person.role}, {key})"


def _confirmed(question: str) -> bool:
    """Yes only when someone typed it: no terminal to answer (a script without --yes) is a no."""
    try:
        return typer.confirm(question, default=False)
    except typer.Abort:
        typer.echo("")
        return False


def erase(
    key: str = typer.Argument(..., help="the person's UPN (pupils, alumni) or email (staff, alumni)"),
    school: str | None = typer.Option(None, "--school", help="school name, when the UPN or email is in several"),
    yes: bool = typer.Option(False, "--yes", help="do not ask to confirm (for scripts)"),
    all_: bool = typer.Option(
        False, "--all", help="an alumnus: drop the anonymous row kept for destination reports too"
    ),
) -> None:
    """Erase everything held about one person; the audit trail stays with an anonymous marker."""
    engine = _open(_settings())
    try:
        with transaction(engine, write=False) as session:
            person = _one_person(session, key, school)
            reason = erasure.refusal(session, person, utcnow().date())
            if reason:
                raise _fail(f"Not erased: {reason}")
            plan = erasure.plan(session, person)
            assert person.id is not None
            person_id, who = person.id, _describe(person)
        typer.echo(f"Erasing {who} removes:")
        for table, count in plan.rows.items():
            typer.echo(f"  {count:>7}  {table}")
        typer.echo(f"  {plan.audit_events:>7}  audit entries kept, the person replaced by an anonymous marker")
        if plan.keeps_statistics and not all_:
            typer.echo("  One anonymous row stays for destination reports (school, leaving date, destinations,")
            typer.echo("  report breakdowns; no name, no id). Add --all to drop it too.")
        if plan.keeps_staff_placeholder:
            typer.echo("  What they wrote in pupils' records stays there, signed 'Former member of staff'.")
        if not yes and not _confirmed("Erase for good? This cannot be undone"):
            raise _fail("Nothing erased.")
        try:
            done, files = erasure.erase_and_scrub(
                engine, person_id, now=utcnow(), keep_statistics=not all_, why="waymark erase (cli)"
            )
        except erasure.ErasureRefused as exc:
            raise _fail(f"Not erased: {exc}") from None
    finally:
        engine.dispose()
    typer.echo(f"Erased {who}: {sum(done.rows.values())} rows in {len(done.rows)} tables; {files}.")


# --- retention ----------------------------------------------------------------------------------


def _schools(session_school: str | None, engine_school: list[School]) -> list[School]:
    if session_school is None:
        return engine_school
    wanted = [s for s in engine_school if s.name.casefold() == session_school.casefold()]
    if not wanted:
        raise _fail(f"No school called {session_school!r}.")
    return wanted


@retention_app.command("run")
def retention_run(
    dry_run: bool = typer.Option(False, "--dry-run", help="list what a real run removes, and remove nothing"),
    school: str | None = typer.Option(None, "--school", help="one school (default: every school)"),
) -> None:
    """Apply every school's retention schedule now (the daily job does the same)."""
    settings = _settings()
    engine = _open(settings)
    try:
        with transaction(engine, write=False) as session:
            from sqlmodel import select

            chosen = _schools(school, list(session.exec(select(School)).all()))
            ids = [s.id for s in chosen if s.id is not None]
        total = 0
        for item in retention.run(engine, ids, now=utcnow(), campaign_years=settings.campaign_years, dry_run=dry_run):
            total += 1
            typer.echo(f"{item.kind:<16} {item.table:<18} {item.row_id:>9}  {item.why}")
    finally:
        engine.dispose()
    verb = "would remove" if dry_run else "removed"
    typer.echo(f"Retention {verb} {total} record(s).")


def school_retention(
    changes: list[str] = typer.Argument(None, help="KIND=DURATION, e.g. transcripts=2y or careers_record=age:25"),
    school: str | None = typer.Option(None, "--school", help="school name"),
) -> None:
    """Show the retention schedule, or change it (90d, 1y, 6y, age:25)."""
    try:
        parsed = [parse_change(c) for c in changes or []]
    except DurationError as exc:
        raise _fail(str(exc), 2) from None
    settings = _settings()
    engine = _open(settings)
    try:
        with transaction(engine) as session:
            found = find_school(session, school or settings.school_name) or find_school(session, None)
            if found is None:
                raise _fail("No such school: name it with --school.")
            schedule = schedule_from_json(found.retention)
            if parsed:
                schedule.update(dict(parsed))
                found.retention = schedule_to_json(schedule)
                session.add(found)
            name = found.name
    finally:
        engine.dispose()
    from rich.table import Table

    table = Table(title=f"Retention at {name}", width=CONSOLE_WIDTH)
    table.add_column("kind", no_wrap=True)
    table.add_column("kept", no_wrap=True)
    table.add_column("after", overflow="fold")
    table.add_column("what", overflow="fold")
    for kind in KINDS:
        table.add_row(kind.name, str(schedule[kind.name]), kind.after, kind.what)
    _console().print(table)


# --- audit --------------------------------------------------------------------------------------


def audit(
    pupil: str | None = typer.Option(
        None, "--pupil", help="events about this pupil or alumnus (UPN), or an erased person (erased-...)"
    ),
    staff: str | None = typer.Option(None, "--staff", help="events by this member of staff (email)"),
    since: str | None = typer.Option(None, "--since", help="events on or after this date (YYYY-MM-DD)"),
    csv_file: Path | None = typer.Option(None, "--csv", help="write every matching event to this CSV file"),
    school: str | None = typer.Option(None, "--school", help="school name, when the UPN or email is in several"),
) -> None:
    """Who read, exported, erased, unlinked or changed what, when, and through which channel."""
    start: datetime | None = None
    if since:
        try:
            start = datetime.combine(date.fromisoformat(since), time(), UTC)
        except ValueError:
            raise _fail(f"--since {since!r} is not a date: write it as YYYY-MM-DD.", 2) from None
    engine = _open(_settings())
    try:
        with transaction(engine, write=False) as session:
            marker = pupil.strip().lower() if pupil and pupil.strip().lower().startswith(MARKER_PREFIX) else None
            subject_id = _one_person(session, pupil, school).id if pupil and not marker else None
            actor_id = _one_person(session, staff, school).id if staff else None
            if csv_file is not None:
                with csv_file.open("w", newline="", encoding="utf-8-sig") as handle:
                    count = audit_log.write_csv(
                        session, handle, subject_id=subject_id, actor_id=actor_id, since=start, marker=marker
                    )
                shown = None
            else:
                shown = audit_log.events(session, subject_id=subject_id, actor_id=actor_id, since=start, marker=marker)
    finally:
        engine.dispose()
    if shown is None:
        typer.echo(f"Wrote {count} audit event(s) to {csv_file}.")
        return
    from rich.table import Table

    table = Table(width=CONSOLE_WIDTH, title="Audit log", caption=f"{len(shown)} event(s), oldest first")
    table.add_column("when (UTC)", no_wrap=True)
    table.add_column("who", overflow="fold")
    table.add_column("did", overflow="fold")
    table.add_column("about", overflow="fold")
    table.add_column("channel, detail", overflow="fold")
    for row in shown:
        table.add_row(row.at, row.actor, row.action, row.subject, row.detail)
    _console().print(table)


def register(app: typer.Typer) -> None:
    app.command("erase")(erase)
    app.add_typer(retention_app, name="retention")
    school_app.command("retention")(school_retention)
    app.command("audit")(audit)
