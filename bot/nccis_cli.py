"""`waymark export-nccis` and `waymark import-destinations --source la`: the local authority exchange."""

from __future__ import annotations

from enum import StrEnum
from pathlib import Path

import typer

from bot.cli_base import _fail, _open, _settings
from reports import nccis
from storage import audit
from storage import nccis as la
from storage.db import transaction
from storage.models import School, utcnow
from storage.reports import find_school


class Source(StrEnum):
    la = "la"


def _school(session_school: School | None, name: str | None) -> School:
    if session_school is None:
        raise _fail(f"No school called {name!r}." if name else "There is more than one school: name one with --school.")
    return session_school


def export_nccis(
    out: Path = typer.Option(..., "--out", help="the CSV file to write for the local authority"),
    school: str | None = typer.Option(None, "--school", help="school name, when the database holds several"),
) -> None:
    """One row per young person the LA tracks: UPN, names, birth date, gender, ethnicity, SEN, NCCIS activity."""
    settings = _settings()
    engine = _open(settings)
    today = utcnow().astimezone(settings.zone).date()
    try:
        with transaction(engine) as session:
            found = _school(find_school(session, school), school)
            assert found.id is not None
            rows = la.tracked(session, found, today)
            written = nccis.write(nccis.young_person(t) for t in rows)
            try:
                out.write_text(written.text, encoding="utf-8", newline="")
            except OSError as exc:
                raise _fail(f"Could not write {out}: {exc.strerror or exc}.") from None
            subjects = [t.person.id for t in rows if t.person.id is not None]
            audit.record_listed(
                session, school_id=found.id, actor_id=None, subject_ids=subjects, now=utcnow(), detail=la.EXPORT_NCCIS
            )
    finally:
        engine.dispose()
    typer.echo(f"Wrote {written.rows} young people to {out}.")
    if written.not_mapped:
        counts = ", ".join(f"{code} ({n})" for code, n in sorted(written.not_mapped.items()))
        typer.echo(f"Ethnicity not mapped to an NCCIS code, left blank: {counts}.")


def import_destinations(
    file: Path = typer.Argument(..., help="the CSV from the local authority (the columns export-nccis writes)"),
    source: Source = typer.Option(..., "--source", help="who the activities come from: la (the local authority)"),
    school: str | None = typer.Option(None, "--school", help="school name, when the database holds several"),
    skip_invalid: bool = typer.Option(False, "--skip-invalid", help="import the usable rows and list the others"),
) -> None:
    """Take in the LA's activity codes for alumni: each counts from the date the LA ascertained it."""
    try:
        text = file.read_text(encoding="utf-8")
    except (OSError, UnicodeDecodeError) as exc:
        raise _fail(f"Could not read {file} as UTF-8 text: {exc}.") from None
    found = nccis.read(text)
    for problem in found.problems:
        typer.echo(f"Line {problem.line}: {problem.reason}.", err=True)
    if found.problems and not skip_invalid:
        raise _fail("Nothing imported. Fix those lines, or add --skip-invalid to import the rest.")
    engine = _open(_settings())
    try:
        with transaction(engine) as session:
            into = _school(find_school(session, school), school)
            assert into.id is not None
            added, unknown = la.record_la(
                session,
                into.id,
                [la.LaActivity(a.upn, a.code, a.provider, a.ascertained) for a in found.activities],
                utcnow(),
            )
    finally:
        engine.dispose()
    typer.echo(f"Imported {added} activities from the {source.value.upper()} file.")
    if found.unascertained:
        typer.echo(f"{found.unascertained} rows have no date ascertained yet: nothing to take in from them.")
    if unknown:
        typer.echo(f"Not former pupils of this school, left out: {', '.join(unknown)}.")


def register(app: typer.Typer) -> None:
    app.command("export-nccis")(export_nccis)
    app.command("import-destinations")(import_destinations)
