"""`waymark school sectors add|remove|list`: a school's own keywords for sorting interests into sectors."""

from __future__ import annotations

import typer

from bot.admin_cli import SCHOOL_OPTION_HELP, _at_school, _fail, _settings, school_app
from reports.sectors import SECTORS, label
from storage import schools

sectors_app = typer.Typer(
    help="The school's own keywords for the equality lens, e.g. a local employer's name.", no_args_is_help=True
)
KEYS = ", ".join(s.key for s in SECTORS)
MAX_KEYWORD = 60


@sectors_app.command("add")
def add(
    keyword: str = typer.Argument(..., help='a word or phrase, e.g. "Sellafield"'),
    sector: str = typer.Argument(..., help=f"one of {KEYS}"),
    school: str | None = typer.Option(None, "--school", help=SCHOOL_OPTION_HELP),
) -> None:
    """Count text naming KEYWORD in SECTOR; a school's own keywords are tried before ours."""
    word = " ".join(keyword.casefold().split())
    if sector not in {s.key for s in SECTORS}:
        raise _fail(f"Nothing was changed: {sector!r} is not a sector. Choose one of {KEYS}.")
    if not word or len(word) > MAX_KEYWORD:
        raise _fail(f"Nothing was changed: give a keyword of 1 to {MAX_KEYWORD} characters.")
    with _at_school(_settings(), school) as (session, choice):
        rules = schools.sector_keywords(choice.school)
        rules[word] = sector
        schools.set_sector_keywords(session, choice.school, rules)
    typer.echo(f"{word!r} now counts as {label(sector)}.")


@sectors_app.command("remove")
def remove(
    keyword: str = typer.Argument(..., help="the keyword to forget"),
    school: str | None = typer.Option(None, "--school", help=SCHOOL_OPTION_HELP),
) -> None:
    """Forget one of the school's keywords (ours stay)."""
    word = " ".join(keyword.casefold().split())
    with _at_school(_settings(), school) as (session, choice):
        rules = schools.sector_keywords(choice.school)
        if rules.pop(word, None) is None:
            raise _fail(f"{word!r} is not one of the school's keywords (see `waymark school sectors list`).")
        schools.set_sector_keywords(session, choice.school, rules)
    typer.echo(f"Removed {word!r}.")


@sectors_app.command("list")
def list_(school: str | None = typer.Option(None, "--school", help=SCHOOL_OPTION_HELP)) -> None:
    """The school's own keywords and their sectors."""
    with _at_school(_settings(), school) as (_session, choice):
        rules = schools.sector_keywords(choice.school)
    if not rules:
        typer.echo('No keywords of the school\'s own yet. Add one: waymark school sectors add "Sellafield" stem')
    for word, sector in rules.items():
        typer.echo(f"{word}: {label(sector)}")


def register(app: typer.Typer) -> None:
    school_app.add_typer(sectors_app, name="sectors")
