"""`waymark campaign status` and `waymark campaign run-now`: the yearly alumni check-in, for the careers leader."""

from __future__ import annotations

import typer
from rich.console import Console
from rich.progress import BarColumn, MofNCompleteColumn, Progress, TextColumn, TimeElapsedColumn
from rich.table import Table
from sqlalchemy import Engine

from bot.cli import settings_or_exit
from core import calendar
from scheduler import campaign
from storage import checkins
from storage.db import make_engine, transaction
from storage.migrate import upgrade
from storage.models import utcnow
from storage.reports import find_school

campaign_app = typer.Typer(help="The yearly alumni check-in campaign.", no_args_is_help=True)
SCHOOL_HELP = "only this school's alumni (default: every school in the database)"


def _school_id(engine: Engine, name: str | None) -> int | None:
    """The school `--school` names (any case), or None for every school; an unknown name stops here."""
    if name is None:
        return None
    with transaction(engine, write=False) as session:
        school = find_school(session, name)
    if school is None:
        typer.echo(f"No school called {name!r}. Check the name with `waymark init`.", err=True)
        raise typer.Exit(1)
    return school.id


@campaign_app.command("status")
def status(school: str | None = typer.Option(None, "--school", help=SCHOOL_HELP)) -> None:
    """Per campaign year and cohort (year left): due, waiting, sent, answered, reminded, opted out, unreachable, failed."""
    settings = settings_or_exit()
    engine = make_engine(settings.database_url)
    upgrade(engine)
    school_id = _school_id(engine, school)
    now = utcnow()
    today = now.astimezone(settings.zone).date()
    year = calendar.run_now_campaign_year(today, settings.campaign)
    with transaction(engine, write=False) as session:
        rows = {(r.campaign_year, r.cohort): r for r in checkins.status_counts(session, school_id)}
        due = checkins.due_counts(session, year, *calendar.leaving_range(year, settings.campaign), school_id)
    for cohort, count in due.items():
        row = rows.get((year, cohort)) or checkins.CampaignCounts(year, cohort, 0, 0, 0, 0, 0, 0, 0)
        rows[(year, cohort)] = checkins.CampaignCounts(**{**row.__dict__, "due": count})
    engine.dispose()
    console = Console()
    opens = calendar.campaign_opens(year, settings.campaign)
    window = "open" if calendar.scheduled_campaign_year(today, settings.campaign) == year else "not open today"
    console.print(f"Campaign {year}: opens {opens:%a %d %b %Y} for {settings.campaign_window_days} days ({window}).")
    if not rows:
        console.print("No check-ins yet, and nobody is due. Leavers are asked for consent in their last summer term.")
        return
    table = Table(
        "Campaign", "Left in", "Due", "Waiting", "Sent", "Answered", "Reminded", "Opted out", "Unreachable", "Failed"
    )
    for (_, _), r in sorted(rows.items()):
        counts = (r.due, r.waiting, r.sent, r.answered, r.reminded, r.opted_out, r.unreachable, r.failed)
        table.add_row(str(r.campaign_year), str(r.cohort), *(str(n) for n in counts))
    console.print(table)
    console.print(
        "Due: not asked yet this year. Waiting: queued, not delivered yet. Sent: the check-in was delivered. "
        "Failed: the check-in or a reminder could not be delivered."
    )


@campaign_app.command("run-now")
def run_now(school: str | None = typer.Option(None, "--school", help=SCHOOL_HELP)) -> None:
    """Send this year's check-ins now instead of waiting for the campaign to open (safe to repeat)."""
    settings = settings_or_exit()
    engine = make_engine(settings.database_url)
    upgrade(engine)
    school_id = _school_id(engine, school)
    now = utcnow()
    graduated = campaign.run_leavers(engine, settings, now)
    year = calendar.run_now_campaign_year(now.astimezone(settings.zone).date(), settings.campaign)
    total = campaign.count_due(engine, settings, year, school_id)
    console = Console()
    if graduated:
        console.print(f"{graduated} pupils whose leaving date has passed are now alumni.")
    with Progress(
        TextColumn(f"Campaign {year}"), BarColumn(), MofNCompleteColumn(), TimeElapsedColumn(), console=console
    ) as progress:
        task = progress.add_task("check-ins", total=total)
        result = campaign.run_checkins(
            engine, settings, now, force=True, progress=lambda n: progress.advance(task, n), school_id=school_id
        )
    reminders = campaign.run_reminders(engine, settings, now, school_id=school_id)
    engine.dispose()
    console.print(
        f"Campaign {year}: {result.sent} check-ins queued, {result.unreachable} alumni with no way to reach them, "
        f"{reminders.sent} reminders queued. Run `waymark campaign status` to follow answers."
    )


def register(app: typer.Typer) -> None:
    app.add_typer(campaign_app, name="campaign")
