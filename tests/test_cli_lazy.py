"""`waymark` loads a command's module only when that command runs (bot/cli.py), and opens a
database already at the newest schema without Alembic (storage/migrate.py): what makes
`waymark export-person` and `waymark erase` start in well under a second (BENCHMARKS.md).

Each check runs in a new interpreter, as the console script does: what a process imports is the
thing under test, and this test process has imported everything already.
"""

from __future__ import annotations

import json
import os
import subprocess
import sys
from pathlib import Path

from storage import seed
from storage.db import make_engine, transaction
from storage.migrate import head_revision, newest_script, upgrade

ROOT = Path(__file__).resolve().parent.parent

# Every command's click signature: its path, help and each parameter's names, defaults and help.
SIGNATURES = """
import json, sys
from typer.main import get_command

def walk(command, path, out):
    params = [
        [type(p).__name__, p.name, list(p.opts), list(p.secondary_opts), p.required, repr(p.default),
         getattr(p, "help", None), getattr(p, "hidden", False), p.metavar]
        for p in command.params
    ]
    out.append([" ".join(path), command.help, command.short_help, command.hidden, params])
    if hasattr(command, "list_commands"):
        for name in command.list_commands(None):
            walk(command.get_command(None, name), [*path, name], out)
    return out
"""

# Both trees from one interpreter: first as bot/cli.py loads them (lazily), then the reference,
# every bot/*_cli.py module imported and registered at once as bot/cli.py did before it loaded
# them lazily (`run` and the root as bot/cli.py defines them). Registering a module a second time
# only repeats a sub-app's command under the same name, which the click group keeps once.
BOTH = (
    SIGNATURES
    + """
import importlib, pathlib
import typer
import bot.cli

print(json.dumps(walk(get_command(bot.cli.app), ["waymark"], [])))
eager = typer.Typer(help=bot.cli.app.info.help, no_args_is_help=True)
eager.command()(bot.cli.run)
# The order bot/cli.py registered them in, then any module added since.
order = ["admin_cli", "campaign_cli", "report_cli", "safeguarding_cli", "subject_access_cli", "privacy_cli",
         "keys_cli", "destination_cli", "nccis_cli", "sectors_cli"]
found = sorted(p.stem for p in pathlib.Path("bot").glob("*_cli.py"))
for stem in [*order, *(s for s in found if s not in order)]:
    if stem != "roster_cli":  # registered by admin_cli, with the staff sub-app it adds to
        importlib.import_module(f"bot.{stem}").register(eager)
print(json.dumps(walk(get_command(eager), ["waymark"], [])))
"""
)

# Runs the command in-process as the console script would, then reports what it imported.
IMPORTS = """
import atexit, json, sys
atexit.register(lambda: print("MODULES " + json.dumps(sorted(sys.modules))))
from bot.cli import app
app(prog_name="waymark")
"""

HEAVY = {
    "alembic": "migrations (the database is at the newest schema already)",
    "handlers.engine": "the chat engine",
    "bot.channels": "the chat channels",
    "bot.admin_cli": "the administrator's commands",
    "telegram": "python-telegram-bot",
    "slack_bolt": "Slack",
    "aiohttp": "the web server",
    "matplotlib": "charts",
    "openpyxl": "spreadsheets",
    "rich": "tables on the terminal",
    "reports.build": "the report builder",
    "scheduler": "the scheduler",
    "apscheduler": "the scheduler",
}


def _python(code: str, *args: str, env: dict[str, str] | None = None, cwd: Path = ROOT) -> str:
    ran = subprocess.run(
        [sys.executable, "-c", code, *args],
        cwd=cwd,
        env={"PATH": os.environ.get("PATH", ""), "PYTHONPATH": str(ROOT), **(env or {})},
        stdin=subprocess.DEVNULL,
        capture_output=True,
        text=True,
        timeout=120,
    )
    assert ran.returncode == 0, ran.stderr
    return ran.stdout


def _imported(stdout: str) -> set[str]:
    line = next(line for line in stdout.splitlines() if line.startswith("MODULES "))
    return set(json.loads(line.removeprefix("MODULES ")))


def test_the_lazy_table_lists_every_command_with_the_same_names_options_and_help() -> None:
    """Every command every bot/*_cli.py module registers is in bot.cli.COMMANDS, in the order
    `waymark --help` showed them, with the same options and help: a command added to a module but
    not to the table fails here."""
    lazy, eager = (json.loads(line) for line in _python(BOTH).splitlines())
    assert [c[0] for c in lazy] == [c[0] for c in eager]
    assert lazy == eager


def test_migrate_reads_the_newest_revision_from_the_script_names() -> None:
    assert newest_script() == head_revision()


def test_person_level_commands_import_only_what_they_use(tmp_path: Path) -> None:
    """`waymark export-person` and `waymark erase` in a new process, against a database at the
    newest schema: neither loads Alembic, the chat engine, the channels, the report builder or
    Rich; only export-person loads fpdf2 (it writes the PDF)."""
    url = f"sqlite:///{tmp_path / 'school.db'}"
    engine = make_engine(url)
    upgrade(engine)
    with transaction(engine) as session:
        school = seed.school(session, "Hillside Academy")
        first, second = seed.numbered_pupils(session, school.id or 0, 2, year_group=10, form="10A")
        upns = [first.upn or "", second.upn or ""]
    engine.dispose()
    env = {"WAYMARK_DATABASE_URL": url, "WAYMARK_SCHOOL_NAME": "Hillside Academy"}

    exported = _python(IMPORTS, "export-person", upns[0], "--out", str(tmp_path / "out"), env=env, cwd=tmp_path)
    assert "Exported" in exported and (tmp_path / "out" / "record.pdf").exists()
    erased = _python(IMPORTS, "erase", upns[1], "--yes", env=env, cwd=tmp_path)
    assert "Erased" in erased
    for stdout in (exported, erased):
        modules = _imported(stdout)
        loaded = {name: why for name, why in HEAVY.items() if name in modules or any(
            m.startswith(name + ".") for m in modules)}  # fmt: skip
        assert loaded == {}
    assert "fpdf" in _imported(exported)
    assert "fpdf" not in _imported(erased)


def test_a_database_behind_the_newest_schema_is_still_migrated(tmp_path: Path) -> None:
    """The fast path only skips Alembic at the newest revision: an older database still upgrades."""
    from alembic import command

    from storage.migrate import alembic_config, current_revision

    engine = make_engine(f"sqlite:///{tmp_path / 'old.db'}")
    try:
        config = alembic_config()
        with engine.begin() as connection:
            config.attributes["connection"] = connection
            command.upgrade(config, "0008")
        assert current_revision(engine) == "0008"
        upgrade(engine)
        assert current_revision(engine) == head_revision()
    finally:
        engine.dispose()
