"""`waymark destination refine UPN YEAR CODE`: staff make an alumnus's NCCIS code precise (680 to 610-670)."""

from __future__ import annotations

import typer

from bot.cli_base import _fail, _one_person, _open, _settings
from storage import refine as refining
from storage.db import transaction
from storage.destinations import CODE_LABELS, by_code
from storage.models import Role, utcnow

destination_app = typer.Typer(help="Alumni destinations: refine a code for the local authority.", no_args_is_help=True)


@destination_app.command("refine")
def refine(
    upn: str = typer.Argument(..., help="the alumnus's UPN"),
    year: int = typer.Argument(..., min=1, help="year after leaving, e.g. 1"),
    code: int = typer.Argument(..., help="the finer NCCIS code, e.g. 640 for 'not working' (680)"),
    school: str | None = typer.Option(None, "--school", help="school name, when the UPN is in several"),
) -> None:
    """Replace the code counted for one year with a finer one of the same kind; the alumnus's answer is kept."""
    engine = _open(_settings())
    try:
        with transaction(engine) as session:
            person = _one_person(session, upn, school)
            if person.role != Role.alumnus:
                raise _fail(f"{upn} is not a former pupil: only alumni have destinations.")
            done = refining.refine(session, person, year, code, now=utcnow(), actor_id=None)
            if isinstance(done, refining.Refused):
                raise _fail(f"Not changed: {done.reason}")
    finally:
        engine.dispose()
    category = by_code(code)
    assert category is not None
    meaning = CODE_LABELS.get(code, category.label.lower())
    typer.echo(f"Year {year} after leaving is now NCCIS {code} ({meaning}) for {upn}.")


def register(app: typer.Typer) -> None:
    app.add_typer(destination_app, name="destination")
