"""The administrator's commands: init, staff, codes, chat and demo (import-roster and staff import: bot/roster_cli.py).

`bot/cli.py` calls `register(app)`. Each command is a thin edge: read the arguments and settings,
call `storage`, print what happened in words an office manager understands.
"""

from __future__ import annotations

import asyncio
import json
import os
import signal
import socket
import sys
from collections.abc import Callable, Iterator
from contextlib import contextmanager
from dataclasses import replace
from datetime import date
from pathlib import Path
from typing import TypeVar

import typer
from sqlalchemy import Engine
from sqlmodel import Session

from bot.channels.console import ConsoleChat, Persona
from bot.cli_base import _fail, _one_person, _open, _safe_url, _settings, _sqlite_path, school_app
from core.csvsafe import SafeDictWriter
from core.reach import can_be_reached
from core.settings import Settings
from handlers import Dispatcher, linking
from handlers.concern_work import no_dsl_warning, unreached_dsl_warning
from handlers.risk import DEFAULT_WEIGHTS, WEIGHT_NAMES, WeightError, parse_weight, weights_from_json, weights_to_json
from storage import audit, concerns, crypto, identities, schools
from storage import codes as enrolment_codes
from storage import demo as demo_school
from storage.db import make_engine, transaction
from storage.journal import skills_framework
from storage.migrate import current_revision
from storage.models import Person, Role, School, utcnow
from storage.people import for_codes
from storage.schools import SchoolChoice, SettingError, all_schools, school_named
from storage.staff import StaffError, add_staff, parse_roles, roles_text

DEMO_DB = Path("demo/waymark-demo.db")
_In = TypeVar("_In")
_Out = TypeVar("_Out")

staff_app = typer.Typer(help="Members of staff: tutors, careers leaders, safeguarding leads.", no_args_is_help=True)
holidays_app = typer.Typer(
    help="School holidays: no reminders or check-ins go out on these days.", no_args_is_help=True
)
school_safeguarding_app = typer.Typer(
    help="When an unacknowledged safeguarding alert is sent again, and who else is told.", no_args_is_help=True
)


def _school_name(settings: Settings, school: str | None) -> str:
    return school or settings.school_name


@contextmanager
def _at_school(settings: Settings, school: str | None) -> Iterator[tuple[Session, SchoolChoice]]:
    """One unit of work on the configured database, at the named school (created when it is new)."""
    engine = _open(settings)
    try:
        with transaction(engine) as session:
            yield session, school_named(session, _school_name(settings, school))
    finally:
        engine.dispose()


# --- init ---------------------------------------------------------------------------------------


def _ensure_secrets(settings: Settings, env_file: Path) -> str | None:
    """Write an encryption key and a code secret to .env when they are not set; a message when a
    new key was written, None when one was set already. Never replaces either."""
    lines = []
    if not settings.encryption_key:
        lines += [
            "# Written by `waymark init`. Back it up: without it, staff-only notes and safeguarding records",
            "# cannot be read. Never share it or commit it.",
            f"WAYMARK_ENCRYPTION_KEY={crypto.new_key()}",
        ]
    if not settings.code_secret:
        lines += [
            "# Keys the hash of enrolment codes; changing it only stops codes that are not used yet.",
            f"WAYMARK_CODE_SECRET={enrolment_codes.new_secret()}",
        ]
    if not lines:
        return None
    existing = env_file.read_text(encoding="utf-8") if env_file.exists() else ""
    # Created 0600 from the first byte: the key is never readable by others, not even for a moment.
    descriptor = os.open(env_file, os.O_WRONLY | os.O_APPEND | os.O_CREAT, 0o600)
    with os.fdopen(descriptor, "a", encoding="utf-8") as handle:
        if existing and not existing.endswith("\n"):
            handle.write("\n")
        handle.write(f"# {date.today().isoformat()}\n" + "\n".join(lines) + "\n")
    env_file.chmod(0o600)
    if settings.encryption_key:
        return None
    return (
        f"A new encryption key for staff-only notes was written to {env_file.resolve()}.\n"
        "BACK IT UP now (e.g. in the school's password manager): if it is lost, staff-only notes cannot be read."
    )


def init() -> None:
    """Create the database, or bring it up to date; safe to run again at any time."""
    message = _ensure_secrets(_settings(), Path(".env"))
    settings = _settings()  # again: with what was just written to .env
    engine = _open(settings)
    try:
        with transaction(engine) as session:
            schools = all_schools(session)
            if not schools:
                schools = [school_named(session, settings.school_name).school]
        revision = current_revision(engine)
    finally:
        engine.dispose()
    typer.echo(f"Database ready: {_safe_url(settings.database_url)} (schema {revision}).")
    typer.echo("Schools: " + ", ".join(s.name for s in schools))
    if message:
        typer.echo(message)
    else:
        typer.echo("Encryption key for staff-only notes: set.")


# --- staff --------------------------------------------------------------------------------------


@staff_app.command("add")
def staff_add(
    email: str = typer.Argument(..., help="their school email address"),
    name: str = typer.Argument(..., help='their name, in quotes: "Sam Patel"'),
    role: list[str] = typer.Option(
        ...,
        "--role",
        help="tutor, leader (careers leader) or dsl (safeguarding lead); repeat it for several roles "
        "(--role leader --role dsl), the first is their main role",
    ),
    school: str | None = typer.Option(None, "--school", help="school name (default WAYMARK_SCHOOL_NAME)"),
) -> None:
    """Add a member of staff, or change the name and roles of one already added (by email)."""
    try:
        parse_roles(role)
    except StaffError as exc:
        raise _fail(str(exc)) from None
    settings = _settings()
    with _at_school(settings, school) as (session, choice):
        assert choice.school.id is not None
        try:
            result = add_staff(session, choice.school.id, email, name, role[0], also=role[1:])
        except StaffError as exc:
            raise _fail(str(exc)) from None
        person, school_name, roles = result.person, choice.school.name, roles_text(result.person)
    verb = "Added" if result.created else "Updated"
    typer.echo(f"{verb} {person.full_name} <{person.email}> as {roles} at {school_name}.")
    typer.echo(
        f"Next: `waymark codes --role staff --out staff-codes.csv` gives {person.given_name} a code to link a chat."
    )


@staff_app.command("list")
def staff_list(school: str | None = typer.Option(None, "--school", help="school name")) -> None:
    """Everyone on the staff list, with their roles; a plain warning when the school has no safeguarding
    lead, or a lead no alert reaches unless their web chat page is open."""
    settings = _settings()
    with _at_school(settings, school) as (session, choice):
        assert choice.school.id is not None
        people = for_codes(session, choice.school.id, Role.staff.value)
        lines = [f"{p.email}\t{p.full_name}\t{roles_text(p)}" for p in people]
        leads = concerns.dsls(session, choice.school.id)
        unreached = [
            lead.full_name
            for lead in leads
            if not can_be_reached(
                [i.platform for i in identities.identities_of(session, lead.id or 0) if i.unreachable_at is None],
                has_email=bool(settings.smtp_url) and "@" in (lead.email or ""),
            )
        ]
        school_name = choice.school.name
    typer.echo(
        "\n".join(lines) if lines else "No staff yet: add them with `waymark staff add EMAIL NAME --role tutor`."
    )
    if not leads:
        typer.echo(no_dsl_warning(school_name))
    elif unreached:
        typer.echo(unreached_dsl_warning(unreached))


# --- school settings ----------------------------------------------------------------------------

SCHOOL_OPTION_HELP = "school name (default WAYMARK_SCHOOL_NAME)"


@school_app.command("show")
def school_show(school: str | None = typer.Option(None, "--school", help=SCHOOL_OPTION_HELP)) -> None:
    """Everything this school has set: skills, holidays, at-risk-of-NEET weights and safeguarding escalation."""
    settings = _settings()
    with _at_school(settings, school) as (_session, choice):
        row = choice.school
        skills = skills_framework(row)
        ranges = schools.holidays_of(row)
        weights = weights_from_json(row.risk_weights)
        contacts = schools.contacts_of(row)
    typer.echo(f"School: {row.name}")
    default_note = " (the default Skills Builder eight)" if not row.skills else ""
    typer.echo(f"Skills framework{default_note}: {', '.join(skills)}")
    if ranges:
        typer.echo("Holidays: " + ", ".join(schools.format_range(r) for r in ranges))
    else:
        typer.echo("Holidays: none set (bank holidays in England are always quiet days)")
    typer.echo("At-risk-of-NEET weights (* set by the school):")
    for name in WEIGHT_NAMES:
        value = getattr(weights, name)
        mark = "*" if value != getattr(DEFAULT_WEIGHTS, name) else " "
        typer.echo(f"  {mark} {name}={value:g}")
    typer.echo(f"Safeguarding: unacknowledged alerts escalate after {row.safeguarding_escalate_minutes} minutes")
    typer.echo(f"Safeguarding escalation contacts: {', '.join(contacts) or 'none (only the DSLs are told)'}")


@school_app.command("skills")
def school_skills(
    skills: str | None = typer.Argument(None, help='the skills, separated by commas: "Listening, Speaking, Teamwork"'),
    default: bool = typer.Option(False, "--default", help="go back to the eight Skills Builder essential skills"),
    school: str | None = typer.Option(None, "--school", help=SCHOOL_OPTION_HELP),
) -> None:
    """Set the skills pupils pick from when they reflect (or --default)."""
    if default == (skills is not None):
        raise _fail('Give the skills in quotes ("Listening, Speaking, Teamwork") or --default, not both.')
    try:
        names = schools.parse_skills(skills) if skills is not None else None
    except SettingError as exc:
        raise _fail(f"Nothing was changed: {exc}.") from None
    settings = _settings()
    with _at_school(settings, school) as (session, choice):
        schools.set_skills(session, choice.school, names)
        now_set = skills_framework(choice.school)
        name = choice.school.name
    typer.echo(f"Skills framework for {name}: {', '.join(now_set)}")


def _parse_range(text: str) -> tuple[date, date]:
    try:
        return schools.parse_range(text)
    except SettingError as exc:
        raise _fail(f"Nothing was changed: {exc}.") from None


@holidays_app.command("add")
def holidays_add(
    days: str = typer.Argument(..., help="first..last day, e.g. 2026-12-21..2027-01-01 (or one date)"),
    school: str | None = typer.Option(None, "--school", help=SCHOOL_OPTION_HELP),
) -> None:
    """Add a school holiday (both days included)."""
    wanted = _parse_range(days)
    settings = _settings()
    with _at_school(settings, school) as (session, choice):
        added = schools.add_holiday(session, choice.school, wanted)
        name = choice.school.name
    if added:
        typer.echo(f"Holiday added for {name}: {schools.format_range(wanted)}")
    else:
        typer.echo(f"{schools.format_range(wanted)} is already a holiday at {name}; nothing changed.")


@holidays_app.command("remove")
def holidays_remove(
    days: str = typer.Argument(..., help="the holiday exactly as `waymark school holidays list` shows it"),
    school: str | None = typer.Option(None, "--school", help=SCHOOL_OPTION_HELP),
) -> None:
    """Remove a school holiday."""
    wanted = _parse_range(days)
    settings = _settings()
    with _at_school(settings, school) as (session, choice):
        removed = schools.remove_holiday(session, choice.school, wanted)
        name = choice.school.name
    if not removed:
        raise _fail(f"{name} has no holiday {schools.format_range(wanted)}; see `waymark school holidays list`.")
    typer.echo(f"Holiday removed for {name}: {schools.format_range(wanted)}")


@holidays_app.command("list")
def holidays_list(school: str | None = typer.Option(None, "--school", help=SCHOOL_OPTION_HELP)) -> None:
    """The school's holidays, earliest first."""
    settings = _settings()
    with _at_school(settings, school) as (_session, choice):
        ranges = schools.holidays_of(choice.school)
        name = choice.school.name
    if not ranges:
        typer.echo(f"No holidays set for {name}. Add one: waymark school holidays add 2026-12-21..2027-01-01")
    for days in ranges:
        typer.echo(schools.format_range(days))


@school_app.command("risk-weights")
def school_risk_weights(
    changes: list[str] | None = typer.Argument(None, help="NAME=N ..., e.g. looked_after=3 threshold=4"),
    default: bool = typer.Option(False, "--default", help="go back to the default weights"),
    school: str | None = typer.Option(None, "--school", help=SCHOOL_OPTION_HELP),
) -> None:
    """Change the weights of the at-risk-of-NEET score (see `waymark school show` for the names)."""
    if default == bool(changes):
        raise _fail("Give one or more NAME=N (e.g. looked_after=3) or --default. Names: " + ", ".join(WEIGHT_NAMES))
    parsed: dict[str, int | float] = {}
    for change in changes or []:
        key, equals, value = change.partition("=")
        try:
            if not equals:
                raise WeightError(f"{change!r}: write NAME=N, e.g. looked_after=3")
            parsed[key.strip()] = parse_weight(key.strip(), value)
        except WeightError as exc:
            raise _fail(f"Nothing was changed: {exc}.") from None
    settings = _settings()
    with _at_school(settings, school) as (session, choice):
        current = DEFAULT_WEIGHTS if default else weights_from_json(choice.school.risk_weights)
        updated = replace(current, **parsed)  # type: ignore[arg-type]
        schools.set_risk_weights(session, choice.school, weights_to_json(updated))
        name = choice.school.name
    shown = ", ".join(f"{k}={getattr(updated, k):g}" for k in parsed) if parsed else "all back to the defaults"
    typer.echo(f"At-risk-of-NEET weights for {name}: {shown}. Staff see the new flags at once.")


def _checked(parse: Callable[[_In], _Out], value: _In) -> _Out:
    """The parsed setting, or the reason it cannot be used and exit code 1."""
    try:
        return parse(value)
    except SettingError as exc:
        raise _fail(f"Nothing was changed: {exc}.") from None


def _change_school(school: str | None, change: Callable[[Session, School], None]) -> str:
    """Apply one change to the named school in one transaction; its name, to say what was done."""
    with _at_school(_settings(), school) as (session, choice):
        change(session, choice.school)
        return choice.school.name


@school_safeguarding_app.command("escalate-after")
def school_safeguarding_escalate_after(
    minutes: str = typer.Argument(..., help="minutes an alert may wait unacknowledged, e.g. 60"),
    school: str | None = typer.Option(None, "--school", help=SCHOOL_OPTION_HELP),
) -> None:
    """How long an alert may wait unacknowledged before it is sent again and the contacts are told."""
    wanted = _checked(schools.parse_escalate_minutes, minutes)
    name = _change_school(school, lambda session, row: schools.set_escalate_minutes(session, row, wanted))
    typer.echo(
        f"{name}: a safeguarding alert nobody acknowledges within {wanted} minutes is sent again to every DSL "
        "and told to the escalation contacts."
    )


@school_safeguarding_app.command("contacts")
def school_safeguarding_contacts(
    addresses: list[str] | None = typer.Argument(None, help="email addresses, e.g. the head's; none clears them"),
    school: str | None = typer.Option(None, "--school", help=SCHOOL_OPTION_HELP),
) -> None:
    """Who is emailed, besides the DSLs, when an alert waits too long (never the words or the category)."""
    wanted = _checked(schools.parse_contacts, addresses or [])
    name = _change_school(school, lambda session, row: schools.set_contacts(session, row, wanted))
    if wanted:
        typer.echo(f"Safeguarding escalation contacts for {name}: {', '.join(wanted)}")
    else:
        typer.echo(f"No safeguarding escalation contacts for {name}: only the DSLs are told when an alert waits.")


# --- codes --------------------------------------------------------------------------------------


def codes(
    out: Path = typer.Option(..., "--out", help="the CSV file to write (keep it safe: it holds the codes)"),
    form: str | None = typer.Option(None, "--form", help="only this form, e.g. 10A"),
    role: str = typer.Option("pupil", "--role", help="pupil or staff"),
    days: int = typer.Option(
        enrolment_codes.DEFAULT_DAYS, "--days", min=1, max=365, help="days until the codes expire"
    ),
    school: str | None = typer.Option(None, "--school", help="school name (default WAYMARK_SCHOOL_NAME)"),
) -> None:
    """One-time enrolment codes as a CSV (name, form, code, expiry, links); older unused codes stop working."""
    if role not in (Role.pupil.value, Role.staff.value):
        raise _fail(f"--role {role!r}: use pupil or staff")
    settings = _settings()
    rows: list[dict[str, str]] = []
    with _at_school(settings, school) as (session, choice):
        assert choice.school.id is not None
        people = for_codes(session, choice.school.id, role, form)
        if not people:
            who = f"{role}s in form {form}" if form else f"{role}s"
            raise _fail(f"No {who} at {choice.school.name}. Nothing was written.")
        for person in people:
            issued = enrolment_codes.issue(session, person, days=days, secret=settings.code_secret)
            rows.append(_code_row(settings, person.full_name, person.form or "", issued.code, issued))
    out.parent.mkdir(parents=True, exist_ok=True)
    fields = ["name", "form", "code", "expires", "web_link"]
    if settings.telegram_bot_username:
        fields.append("telegram_link")
    # Written private to this user: the file holds live codes.
    fd = os.open(out, os.O_WRONLY | os.O_CREAT | os.O_TRUNC, 0o600)
    with os.fdopen(fd, "w", encoding="utf-8-sig", newline="") as handle:
        writer = SafeDictWriter(handle, fields)  # names come from the roster: never written as formulas
        writer.writeheader()
        writer.writerows(rows)
    typer.echo(f"Wrote {len(rows)} code(s) to {out}; they expire in {days} days and work once each.")
    typer.echo("Keep the file safe and delete it once the codes are handed out. Older unused codes no longer work.")


def _code_row(
    settings: Settings, name: str, form: str, code: str, issued: enrolment_codes.IssuedCode
) -> dict[str, str]:
    base = settings.public_url.rstrip("/")
    row = {
        "name": name,
        "form": form,
        "code": enrolment_codes.pretty(code),
        "expires": issued.expires_at.astimezone(settings.zone).date().isoformat(),
        "web_link": f"{base}/signin?code={code}",
    }
    if settings.telegram_bot_username:
        row["telegram_link"] = f"https://t.me/{settings.telegram_bot_username.lstrip('@')}?start={code}"
    return row


# --- chat ---------------------------------------------------------------------------------------


def chat(
    as_: str = typer.Option(..., "--as", help="the UPN of a pupil or the email of a member of staff or alumnus"),
    school: str | None = typer.Option(None, "--school", help="school name, when the UPN or email is in several"),
) -> None:
    """Chat with the bot in this terminal as that person (for administrators: no code needed)."""
    settings = _settings()
    engine = _open(settings, required_key=True)
    try:
        with transaction(engine, write=False) as session:
            person_id = _one_person(session, as_, school).id
        assert person_id is not None
        ConsoleChat(Dispatcher(engine, settings), person_id).run()
    finally:
        engine.dispose()


# --- unlink -------------------------------------------------------------------------------------


def unlink(
    as_: str = typer.Option(..., "--as", help="the UPN of a pupil or the email of a member of staff or alumnus"),
    school: str | None = typer.Option(None, "--school", help="school name, when the UPN or email is in several"),
) -> None:
    """Disconnect every chat account of this person and end their web chat sessions (leaving staff, lost phones)."""
    settings = _settings()
    engine = _open(settings)
    try:
        with transaction(engine) as session:
            person = _one_person(session, as_, school)
            assert person.id is not None
            now = utcnow()
            removed = linking.unlink(session, identities.identities_of(session, person.id), now)
            channels = sorted(set(removed.platforms))
            audit.record(
                session,
                school_id=person.school_id,
                actor_id=None,
                action="unlink_all",
                subject_id=person.id,
                now=now,
                detail=f"waymark unlink: {len(removed.platforms)} chat account(s) on {', '.join(channels) or 'no channel'}",
            )
            name = person.full_name
    finally:
        engine.dispose()
    if not removed.platforms:
        typer.echo(f"{name} had no chat accounts linked; nothing to disconnect.")
        return
    typer.echo(
        f"Disconnected {len(removed.platforms)} chat account(s) of {name} ({', '.join(channels)}); "
        f"{removed.web_sessions_ended} web chat session(s) ended. They need a new code (`waymark codes`) to link again."
    )


# --- demo ---------------------------------------------------------------------------------------


def _port_taken(port: int) -> bool:
    """Whether something already listens on this port of 127.0.0.1 (another demo, another server)."""
    with socket.socket(socket.AF_INET, socket.SOCK_STREAM) as probe:
        # As the server will bind: a port left in TIME_WAIT by a demo just stopped is free.
        probe.setsockopt(socket.SOL_SOCKET, socket.SO_REUSEADDR, 1)
        try:
            probe.bind(("127.0.0.1", port))
        except OSError:
            return True
    return False


def _port_taken_message(port: int) -> str:
    return (
        f"Port {port} is taken: something else is listening there (perhaps a demo that is still running). "
        f'Nothing was changed. Choose another port: make run DEMO_ARGS="--port {port + 1}" '
        f"(or waymark demo --port {port + 1})."
    )


def _links_file(db: Path) -> Path:
    """Beside the demo's database: which port it serves and who its personas are, for `demo --links`."""
    return db.with_name(db.stem + ".links.json")


def _print_links(base: str, personas: list[Persona], issued: dict[str, str]) -> None:
    typer.echo("Sign in as (each link works once, for a day):")
    for persona in personas:
        typer.echo(f"  {persona.title:<15} {persona.name:<16} {base}/signin?code={issued[persona.key]}")


def _demo_links(db: Path) -> None:
    """Fresh sign-in links for the demo that is running (a link works once: a second browser needs a new one)."""
    try:
        running = json.loads(_links_file(db).read_text(encoding="utf-8"))
        port, person_ids = int(running["port"]), {str(k): int(v) for k, v in running["person_ids"].items()}
    except (OSError, ValueError, KeyError, TypeError, AttributeError):
        raise _fail(f"No demo is running from {db}: start one with `make run` (or `waymark demo`).") from None
    if not _port_taken(port):
        raise _fail(f"The demo from {db} is not running any more (nothing on port {port}): start it with `make run`.")
    engine = make_engine(f"sqlite:///{db}")
    try:
        personas = _personas(engine, person_ids)
        _print_links(f"http://localhost:{port}", personas, demo_school.persona_codes(engine, person_ids))
    finally:
        engine.dispose()


def demo(
    terminal: bool = typer.Option(False, "--terminal", help="chat in this terminal instead of the web chat"),
    db: Path = typer.Option(DEMO_DB, "--db", help="the demo's own SQLite file (rebuilt each time)"),
    port: int = typer.Option(8080, "--port", min=0, max=65535, help="web chat port (0: any free port)"),
    links: bool = typer.Option(False, "--links", help="print fresh sign-in links for the demo running now"),
) -> None:
    """A made-up school in its own SQLite file, in the web chat (or --terminal). Never touches real data."""
    if links:
        _demo_links(db)
        return
    settings = _settings()
    real = _sqlite_path(settings.database_url)
    if real is not None and real.resolve() == db.resolve():
        raise _fail(f"--db {db} is the real database (WAYMARK_DATABASE_URL); give the demo a file of its own.")
    # Before the demo database is rebuilt: a demo still running on this port keeps its database.
    if not terminal and port != 0 and _port_taken(port):
        raise _fail(_port_taken_message(port))
    key = settings.encryption_key if crypto.has_key(settings.encryption_key) else crypto.new_key()
    built = demo_school.build(db, today=date.today(), now=utcnow(), encryption_key=key)
    demo_settings = settings.model_copy(
        update={
            "database_url": f"sqlite:///{db}",
            "encryption_key": key,
            "previous_encryption_keys": "",
            "http_host": "127.0.0.1",
            "http_port": port,
            "public_url": f"http://localhost:{port}",
            # The demo speaks only on its own channels.
            "telegram_bot_token": None,
            "slack_bot_token": None,
            "slack_app_token": None,
            "smtp_url": None,
        }
    )
    typer.echo(
        f"Demo school '{demo_school.SCHOOL_NAME}' in {db}: {built.pupils} pupils (Years 7-13), 3 tutors, "
        f"a careers leader, {built.alumni} alumni with three years of destinations."
    )
    engine = make_engine(demo_settings.database_url)
    try:
        dispatcher = Dispatcher(engine, demo_settings)
        if terminal:
            _demo_terminal(dispatcher, built)
        else:
            _demo_web(dispatcher, demo_settings, built)
    finally:
        engine.dispose()


def _personas(engine: Engine, person_ids: dict[str, int]) -> list[Persona]:
    personas = []
    with transaction(engine, write=False) as session:
        for key in demo_school.PERSONAS:
            person = session.get(Person, person_ids[key])
            assert person is not None
            personas.append(Persona(key, demo_school.PERSONA_TITLES[key], person_ids[key], person.full_name))
    return personas


def _demo_terminal(dispatcher: Dispatcher, built: demo_school.DemoSchool) -> None:
    personas = _personas(dispatcher.engine, built.person_ids)
    typer.echo("Personas: " + "; ".join(f"{p.name} ({p.title})" for p in personas))
    ConsoleChat(dispatcher, personas[0].person_id, personas=personas).run()


def _demo_web(dispatcher: Dispatcher, settings: Settings, built: demo_school.DemoSchool) -> None:
    try:
        from bot.http import BOUND_PORTS, start_http
    except ImportError as exc:
        raise _fail(
            f"The web chat is not available in this installation ({exc}). Run `waymark demo --terminal` instead."
        ) from None
    personas = _personas(dispatcher.engine, built.person_ids)
    issued = demo_school.persona_codes(dispatcher.engine, built.person_ids)

    async def serve() -> None:
        stop = asyncio.Event()
        loop = asyncio.get_running_loop()
        for sig in (signal.SIGINT, signal.SIGTERM):
            loop.add_signal_handler(sig, stop.set)
        try:
            http_stop, app = await start_http(settings, dispatcher)
        except OSError:  # taken in the moment since we looked
            raise _fail(_port_taken_message(settings.http_port)) from None
        bound = app[BOUND_PORTS][0] if app[BOUND_PORTS] else settings.http_port
        links = _links_file(built.path)
        links.write_text(json.dumps({"port": bound, "person_ids": built.person_ids}), encoding="utf-8")
        _print_links(f"http://localhost:{bound}", personas, issued)
        typer.echo(
            f"Open http://localhost:{bound} in a browser, or one of the links above. "
            "Each link works once: `waymark demo --links` prints new ones. Ctrl+C stops the demo."
        )
        sys.stdout.flush()
        try:
            await stop.wait()
        finally:
            links.unlink(missing_ok=True)
            await http_stop()

    asyncio.run(serve())
    typer.echo("Demo stopped.")


def register(app: typer.Typer) -> None:
    app.command("init")(init)
    from bot import roster_cli  # here: it builds on this module's helpers

    roster_cli.register(app, staff_app)
    app.add_typer(staff_app, name="staff")
    school_app.add_typer(holidays_app, name="holidays")
    school_app.add_typer(school_safeguarding_app, name="safeguarding")
    app.add_typer(school_app, name="school")
    app.command("codes")(codes)
    app.command("chat")(chat)
    app.command("unlink")(unlink)
    app.command("demo")(demo)
