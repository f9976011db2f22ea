"""What every command module needs and nothing more: settings, the database opened and checked, one
person found by UPN or email, a clear failure line; and the `school` sub-app, which several modules
add commands to.

Kept light on purpose (bot/cli.py imports a command's module only when it runs): nothing here
imports the chat engine, the channels, the reports or Alembic, so a person-level command such as
`waymark export-person` or `waymark erase` loads little beyond the database code.
"""

from __future__ import annotations

from pathlib import Path

import typer
from sqlalchemy import Engine
from sqlalchemy.engine import make_url
from sqlmodel import Session

from bot.keys_cli import verify_or_exit
from core.settings import Settings
from storage.db import make_engine
from storage.migrate import upgrade
from storage.models import Person
from storage.people import by_upn_or_email
from storage.schools import all_schools

school_app = typer.Typer(
    help="The school's own settings: skills framework, holidays, at-risk-of-NEET weights.", no_args_is_help=True
)


def _settings() -> Settings:
    from bot.cli import settings_or_exit  # here, not at the top: bot.cli is the entry point

    return settings_or_exit()


def _fail(message: str, code: int = 1) -> typer.Exit:
    typer.echo(message, err=True)
    return typer.Exit(code)


def _sqlite_path(url: str) -> Path | None:
    parsed = make_url(url)
    if parsed.get_backend_name() != "sqlite" or not parsed.database or parsed.database == ":memory:":
        return None
    return Path(parsed.database)


def _safe_url(url: str) -> str:
    return make_url(url).render_as_string(hide_password=True)


def _open(settings: Settings, *, required_key: bool = False) -> Engine:
    """The configured database, created or brought up to date (every command may be the first),
    and written with WAYMARK_ENCRYPTION_KEY (required by commands that read or write notes)."""
    path = _sqlite_path(settings.database_url)
    if path is not None:
        path.parent.mkdir(parents=True, exist_ok=True)
    engine = make_engine(settings.database_url)
    try:
        upgrade(engine)
    except Exception as exc:  # unreachable server, wrong password, read-only file...
        engine.dispose()
        raise _fail(
            f"Cannot open the database WAYMARK_DATABASE_URL={_safe_url(settings.database_url)}: {exc}", 2
        ) from None
    verify_or_exit(engine, settings, required=required_key)
    return engine


def _one_person(session: Session, key: str, school: str | None) -> Person:
    """The one person with this UPN or email (in the named school), or a clear exit."""
    school_id = None
    if school:
        matches = [s for s in all_schools(session) if s.name.casefold() == school.casefold()]
        if not matches:
            raise _fail(f"No school called {school!r}.")
        school_id = matches[0].id
    people = by_upn_or_email(session, key, school_id)
    if not people:
        raise _fail(f"Nobody has the UPN or email {key!r}. Check the roster (`waymark import-roster`) or staff list.")
    if len(people) > 1:
        raise _fail(f"{key!r} is in more than one school: add --school NAME.")
    return people[0]
