"""`waymark safeguarding`: the safeguarding lead's work at a terminal, and the school's phrase lists.

    waymark safeguarding list
    waymark safeguarding show ID --as EMAIL
    waymark safeguarding ack ID --as EMAIL
    waymark safeguarding note ID TEXT --as EMAIL
    waymark safeguarding close ID --outcome monitoring --as EMAIL
    waymark safeguarding phrases list|add CATEGORY PHRASE|remove CATEGORY PHRASE

Whoever acts is named with --as and must be a safeguarding lead of that school: the terminal gets no
more than the chat would give them, and the same words and audit events (handlers/concern_work.py).
"""

from __future__ import annotations

from collections.abc import Callable, Iterator
from contextlib import contextmanager
from dataclasses import dataclass

import typer
from sqlmodel import Session

from bot.cli import settings_or_exit
from bot.keys_cli import verify_or_exit
from core.settings import Settings
from handlers import access, concern_work, phrase_changes
from storage import audit, concerns, crypto
from storage.db import make_engine, transaction
from storage.migrate import upgrade
from storage.models import Concern, ConcernOutcome, Person, School, utcnow
from storage.phrases import SchoolPhrases, phrases_of, set_phrases
from storage.reports import find_school
from storage.staff import find_by_email

CHANNEL = "cli"  # where the audit log says the DSL acted
LISTED = 50

safeguarding_app = typer.Typer(
    help="Safeguarding concerns (list, show, ack, note, close) and the school's phrase lists.", no_args_is_help=True
)
phrases_app = typer.Typer(
    help="The phrases that raise a concern: the defaults and this school's changes.", no_args_is_help=True
)

SCHOOL_HELP = "school name (default WAYMARK_SCHOOL_NAME, or the only school)"
AS_HELP = "the email of the safeguarding lead who acts (they must be a DSL of this school)"


def _fail(message: str, code: int = 1) -> typer.Exit:
    typer.echo(message, err=True)
    return typer.Exit(code)


@dataclass
class At:
    session: Session
    school: School
    settings: Settings


@contextmanager
def _at(school: str | None) -> Iterator[At]:
    """One unit of work at an existing school (never creates one)."""
    settings = settings_or_exit()
    engine = make_engine(settings.database_url)
    try:
        upgrade(engine)
        verify_or_exit(engine, settings)
        with transaction(engine) as session:
            found = find_school(session, school or settings.school_name) or (
                find_school(session, None) if school is None else None
            )
            if found is None or found.id is None:
                raise _fail(f"No school called {school or settings.school_name!r}. Check the name with --school.")
            yield At(session, found, settings)
    finally:
        engine.dispose()


def _dsl(at: At, email: str) -> Person:
    person = find_by_email(at.session, at.school.id or 0, email)
    if person is None or person.status != "active" or not access.is_dsl(person):
        raise _fail(
            f"{email} is not a safeguarding lead (DSL) at {at.school.name}. "
            "Name one with --as; `waymark staff list` shows everyone's roles."
        )
    return person


def _concern(at: At, concern_id: int) -> Concern:
    found = concerns.get(at.session, at.school.id or 0, concern_id)
    if found is None:
        raise _fail(f"There is no concern #{concern_id} at {at.school.name}.")
    return found


@dataclass(frozen=True)
class OnConcern:
    at: At
    dsl: Person
    concern: Concern
    acting: concern_work.Acting


@contextmanager
def _on_concern(school: str | None, email: str, concern_id: int) -> Iterator[OnConcern]:
    """One DSL's unit of work on one concern of their school; anyone else, or another number, is refused."""
    with _at(school) as at:
        dsl = _dsl(at, email)
        yield OnConcern(at, dsl, _concern(at, concern_id), concern_work.Acting(dsl, CHANNEL, utcnow()))


# --- concerns ------------------------------------------------------------------------------------


@safeguarding_app.command("list")
def list_concerns(
    as_: str | None = typer.Option(None, "--as", help="the safeguarding lead asking, for the audit log"),
    school: str | None = typer.Option(None, "--school", help=SCHOOL_HELP),
) -> None:
    """Open concerns, oldest not acknowledged first (pupil, form, category, when; never the words). Audited."""
    with _at(school) as at:
        assert at.school.id is not None
        actor = _dsl(at, as_).id if as_ is not None else None
        found = concern_work.open_list(at.session, at.school.id, LISTED)
        lines = [concern_work.list_line(at.session, c, at.settings.zone) for c in found[:LISTED]]
        audit.record_listed(
            at.session,
            school_id=at.school.id,
            actor_id=actor,
            subject_ids=[c.subject_id for c in found[:LISTED]],
            now=utcnow(),
            detail=f"safeguarding list, {CHANNEL}",
        )
        more = len(found) > LISTED
        has_dsl = bool(concerns.dsls(at.session, at.school.id))
        name = at.school.name
    typer.echo("\n".join(lines) if lines else f"No open safeguarding concerns at {name}.")
    if more:
        typer.echo(f"Only the first {LISTED} are shown: `waymark safeguarding show ID --as EMAIL` opens any.")
    if not has_dsl:
        typer.echo(concern_work.no_dsl_warning(name), err=True)


@safeguarding_app.command("show")
def show(
    concern_id: int = typer.Argument(..., help="the concern's number, from `waymark safeguarding list`"),
    as_: str = typer.Option(..., "--as", help=AS_HELP),
    school: str | None = typer.Option(None, "--school", help=SCHOOL_HELP),
) -> None:
    """One concern: the pupil's words in context, their tutor, earlier concerns, the notes. Audited."""
    with _on_concern(school, as_, concern_id) as on:
        key, zone = on.at.settings.keyring, on.at.settings.zone
        text = concern_work.show(on.at.session, on.concern, key, on.acting, zone)
    typer.echo(text)


@safeguarding_app.command("ack")
def ack(
    concern_id: int = typer.Argument(..., help="the concern's number"),
    as_: str = typer.Option(..., "--as", help=AS_HELP),
    school: str | None = typer.Option(None, "--school", help=SCHOOL_HELP),
) -> None:
    """Acknowledge a concern: you have taken it on, and its escalation stops."""
    with _on_concern(school, as_, concern_id) as on:
        done = concern_work.acknowledge(on.at.session, on.concern, on.acting)
        state = on.concern.status
    if not done:
        raise _fail(f"Concern #{concern_id} was {state} already; nothing changed.")
    typer.echo(f"Concern #{concern_id} acknowledged by {on.dsl.full_name}.")


@safeguarding_app.command("note")
def note(
    concern_id: int = typer.Argument(..., help="the concern's number"),
    text: str = typer.Argument(..., help="the note, in quotes; encrypted, read only by safeguarding leads"),
    as_: str = typer.Option(..., "--as", help=AS_HELP),
    school: str | None = typer.Option(None, "--school", help=SCHOOL_HELP),
) -> None:
    """Add a note to a concern (encrypted like staff-only notes)."""
    if not text.strip():
        raise _fail("The note is empty; write it in quotes after the number.")
    with _on_concern(school, as_, concern_id) as on:
        try:
            concern_work.add_note(on.at.session, on.concern, text.strip(), on.at.settings.keyring, on.acting)
        except crypto.NoKeyError:
            raise _fail(
                "WAYMARK_ENCRYPTION_KEY is not set, and notes are never stored unencrypted: nothing was saved. "
                "`waymark init` makes a key.",
                2,
            ) from None
    typer.echo(f"Note added to concern #{concern_id}.")


@safeguarding_app.command("close")
def close(
    concern_id: int = typer.Argument(..., help="the concern's number"),
    outcome: ConcernOutcome = typer.Option(..., "--outcome", help="what was decided"),
    as_: str = typer.Option(..., "--as", help=AS_HELP),
    school: str | None = typer.Option(None, "--school", help=SCHOOL_HELP),
) -> None:
    """Close a concern with its outcome."""
    with _on_concern(school, as_, concern_id) as on:
        done = concern_work.close(on.at.session, on.concern, outcome, on.acting)
    if not done:
        raise _fail(f"Concern #{concern_id} was closed already; nothing changed.")
    typer.echo(f"Concern #{concern_id} closed: {concern_work.OUTCOMES[outcome]}.")


# --- phrases -------------------------------------------------------------------------------------


@phrases_app.command("list")
def phrases_list(school: str | None = typer.Option(None, "--school", help=SCHOOL_HELP)) -> None:
    """Every list as it stands for this school: the defaults, the school's additions, its removals."""
    with _at(school) as at:
        current = phrases_of(at.school)
    typer.echo("\n".join(phrase_changes.listing(current)))


@phrases_app.command("add")
def phrases_add(
    category: str = typer.Argument(
        ..., help="a category (e.g. self_harm), or quiet for a context that keeps talk quiet"
    ),
    phrase: str = typer.Argument(..., help="the phrase, in quotes"),
    school: str | None = typer.Option(None, "--school", help=SCHOOL_HELP),
) -> None:
    """Add a phrase to one category's list for this school (category "quiet": a context whose words
    raise nothing, from the lists or the trained classifier)."""
    _change(school, lambda current: phrase_changes.add(current, category, phrase))


@phrases_app.command("remove")
def phrases_remove(
    category: str = typer.Argument(..., help="the category the phrase is listed in"),
    phrase: str = typer.Argument(..., help="the phrase, in quotes"),
    school: str | None = typer.Option(None, "--school", help=SCHOOL_HELP),
) -> None:
    """Take a phrase out of this school's lists (a default, or one the school added). The trained
    classifier still screens every message: to keep words quiet, add them as a quiet context."""
    _change(school, lambda current: phrase_changes.remove(current, category, phrase))


def _change(school: str | None, make: Callable[[SchoolPhrases], phrase_changes.Changed]) -> None:
    with _at(school) as at:
        try:
            changed = make(phrases_of(at.school))
        except phrase_changes.PhraseChangeError as exc:
            raise _fail(f"Nothing changed: {exc}.") from None
        set_phrases(at.school, changed.phrases)
        at.session.add(at.school)
    typer.echo(changed.said)


def register(app: typer.Typer) -> None:
    safeguarding_app.add_typer(phrases_app, name="phrases")
    app.add_typer(safeguarding_app, name="safeguarding")
