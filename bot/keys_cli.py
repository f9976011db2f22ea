"""The encryption key at the command line: the check every command makes, and `waymark rotate-key`.

A key is required to run; a key the database was not written with (or a malformed one, refused
by the settings) stops the command with one line that names WAYMARK_ENCRYPTION_KEY.
"""

from __future__ import annotations

import typer
from sqlalchemy import Engine

from core.settings import Settings
from storage import crypto, keycheck, rekey
from storage.db import make_engine, transaction
from storage.keycheck import KeyCheckError, KeyState
from storage.migrate import upgrade


def verify_or_exit(engine: Engine, settings: Settings, *, required: bool = True) -> KeyState | None:
    """The database's key state, or one clear line and exit code 2. Without `required`, a process
    with no key at all (e.g. a roster import) may go on: it reads and writes nothing encrypted."""
    if not settings.encryption_key and not required:
        return None
    try:
        with transaction(engine) as session:
            return keycheck.verify(session, settings.keyring)
    except KeyCheckError as exc:
        engine.dispose()
        typer.echo(f"Configuration error: {exc}", err=True)
        raise typer.Exit(2) from None


def require_key(settings: Settings) -> None:
    """Before `waymark run` starts anything: both secrets are set, and the database is reachable and
    written with this key."""
    if not settings.code_secret:
        typer.echo(
            "Configuration error: WAYMARK_CODE_SECRET is not set. Run `waymark init` to write one to .env.", err=True
        )
        raise typer.Exit(2)
    engine = make_engine(settings.database_url)
    try:
        upgrade(engine)
    except Exception as exc:  # unreachable server, wrong password, read-only file...
        engine.dispose()
        typer.echo(f"Cannot open the database (WAYMARK_DATABASE_URL): {str(exc).splitlines()[0]}", err=True)
        raise typer.Exit(2) from None
    try:
        if verify_or_exit(engine, settings) is KeyState.rotating:
            typer.echo(
                "The database is still written with a key in WAYMARK_PREVIOUS_ENCRYPTION_KEYS: "
                "run `waymark rotate-key` once every process has the new settings.",
                err=True,
            )
    finally:
        engine.dispose()


def rotate_key(
    generate: bool = typer.Option(False, "--generate", help="only print a new key to put in WAYMARK_ENCRYPTION_KEY"),
    batch: int = typer.Option(rekey.BATCH, "--batch", min=1, max=100_000, help="rows per transaction"),
) -> None:
    """Re-encrypt every staff-only note and safeguarding record with a new WAYMARK_ENCRYPTION_KEY.

    Put the new key in WAYMARK_ENCRYPTION_KEY and the old one in WAYMARK_PREVIOUS_ENCRYPTION_KEYS,
    restart every Waymark process with those settings, then run this. Safe to stop and run again.
    """
    if generate:
        typer.echo(crypto.new_key())
        return
    from bot.cli import settings_or_exit  # here, not at the top: bot.cli imports this module

    settings = settings_or_exit()
    engine = make_engine(settings.database_url)
    try:
        upgrade(engine)
        state = verify_or_exit(engine, settings)
        if state is KeyState.current and not settings.keyring.previous:
            typer.echo(
                "Nothing to rotate: the database is written with WAYMARK_ENCRYPTION_KEY and no old key is set. "
                "To change keys: `waymark rotate-key --generate`, put the new key in WAYMARK_ENCRYPTION_KEY and "
                "the old one in WAYMARK_PREVIOUS_ENCRYPTION_KEYS, then run this again."
            )
            return
        results = rekey.rotate_all(engine, settings.keyring, batch=batch, progress=_progress)
    except KeyCheckError as exc:
        typer.echo(f"Configuration error: {exc}", err=True)
        raise typer.Exit(2) from None
    finally:
        engine.dispose()
    rotated = sum(r.rotated for r in results)
    unreadable = sum(r.unreadable for r in results)
    typer.echo(f"Done: {rotated} value(s) re-encrypted; the database is now written with WAYMARK_ENCRYPTION_KEY.")
    if unreadable:
        where = ", ".join(f"{r.column} ({r.unreadable})" for r in results if r.unreadable)
        typer.echo(
            f"{unreadable} value(s) could not be read with any key given and were left as they are: {where}. "
            "If you have another old key, add it to WAYMARK_PREVIOUS_ENCRYPTION_KEYS and run this again; "
            "keep every old key until then."
        )
        return
    typer.echo(
        "The old key may now be removed: take it out of WAYMARK_PREVIOUS_ENCRYPTION_KEYS and restart every "
        "Waymark process. Keep a backup of it until your database backups made before today have expired."
    )


def _progress(done: rekey.Rotated) -> None:
    typer.echo(f"  {done.column}: {done.rotated} re-encrypted so far", err=True)


def register(app: typer.Typer) -> None:
    app.command("rotate-key")(rotate_key)
