"""`waymark export-person UPN|EMAIL --out DIR`: subject access, everything held about one person.

Writes record.json, record.html and record.pdf (reports/subject_access.py) and records the export
in the audit log, in one transaction: an export that fails half-way leaves no audit entry claiming
it happened, and one that succeeds always has its entry.
"""

from __future__ import annotations

from pathlib import Path

import typer

from bot.cli_base import _one_person, _open, _settings
from reports import subject_access as render
from storage import audit, subject_access
from storage.db import transaction
from storage.models import utcnow


def export_person(
    key: str = typer.Argument(..., metavar="UPN|EMAIL", help="the pupil's or alumnus's UPN, or an email"),
    out: Path = typer.Option(..., "--out", help="directory for record.json, record.html and record.pdf"),
    school: str | None = typer.Option(None, "--school", help="school name, when the UPN or email is in several"),
) -> None:
    """Subject access: everything held about one person, as JSON, HTML and PDF (audited)."""
    settings = _settings()
    engine = _open(settings)
    try:
        with transaction(engine) as session:
            person = _one_person(session, key, school)
            now = utcnow()
            record = subject_access.collect(session, person, settings.encryption_key, now)
            try:
                written = render.write_all(record, out)
            except OSError as exc:
                typer.echo(f"Cannot write to {out}: {exc.strerror or exc}. Nothing was exported.", err=True)
                raise typer.Exit(1) from None
            rows = sum(len(p.entries) for p in record.parts)
            review = [p.info.title for p in record.parts if p.info.review and p.entries]
            audit.record(
                session,
                school_id=person.school_id,
                actor_id=None,
                action=audit.EXPORT_RECORD,
                subject_id=person.id,
                now=now,
                detail=f"waymark export-person: {rows} rows to {out}",
            )
            name = person.full_name
    finally:
        engine.dispose()
    typer.echo(f"Exported {rows} rows held about {name}: " + ", ".join(str(p) for p in written))
    if review:
        typer.echo(
            f"Review before release: {', '.join(review)} (staff-only notes and safeguarding records are included, "
            "marked for the data protection officer)."
        )


def register(app: typer.Typer) -> None:
    app.command("export-person")(export_person)
