"""The `waymark` command line (DESIGN.md, "Command line").

Each command lives in its own module (the table COMMANDS below), imported only when that command
runs: `waymark export-person` loads the subject access code and never the chat engine, the report
builder or the demo school. A new process pays only for what it uses (BENCHMARKS.md, "Start-up of
the person-level commands"). `waymark --help` still lists every command, and loads every module to
do it.
"""

from __future__ import annotations

import importlib
from collections.abc import Iterator, MutableMapping
from typing import Any

import typer
from typer._click import Context
from typer.core import TyperCommand, TyperGroup

from core.settings import Settings, SettingsError, load_settings

# Every command and group, in the order `waymark --help` lists them, with the modules whose
# `register(app)` adds it. A group may gather commands from several modules (`school`: its own
# settings in admin_cli, sectors in sectors_cli, retention in privacy_cli). `run` is defined here.
# tests/test_cli_lazy.py checks this table against registering every bot/*_cli.py module.
COMMANDS: dict[str, tuple[str, ...]] = {
    "init": ("bot.admin_cli",),
    "import-roster": ("bot.admin_cli",),  # admin_cli registers bot.roster_cli's commands
    "codes": ("bot.admin_cli",),
    "chat": ("bot.admin_cli",),
    "unlink": ("bot.admin_cli",),
    "demo": ("bot.admin_cli",),
    "export-person": ("bot.subject_access_cli",),
    "erase": ("bot.privacy_cli",),
    "audit": ("bot.privacy_cli",),
    "rotate-key": ("bot.keys_cli",),
    "export-nccis": ("bot.nccis_cli",),
    "import-destinations": ("bot.nccis_cli",),
    "staff": ("bot.admin_cli",),
    "school": ("bot.admin_cli", "bot.sectors_cli", "bot.privacy_cli"),
    "campaign": ("bot.campaign_cli",),
    "report": ("bot.report_cli",),
    "safeguarding": ("bot.safeguarding_cli",),
    "retention": ("bot.privacy_cli",),
    "destination": ("bot.destination_cli",),
}

# The modules registered so far, all into one private Typer: a module registers once per process
# (tests invoke the app many times), and sub-apps shared between modules (`school`) see them all.
_loaded = typer.Typer()
_registered: set[str] = set()


def _import_and_register(module: str) -> None:
    if module in _registered:
        return
    try:
        mod = importlib.import_module(module)
    except ModuleNotFoundError as exc:
        if exc.name != module:
            raise
        return  # a command module not in this checkout: its commands are simply absent
    mod.register(_loaded)
    _registered.add(module)


def load_command(name: str) -> TyperCommand | TyperGroup | None:
    """The click command for `name`, importing (once) the modules that define it."""
    modules = COMMANDS.get(name)
    if modules is None:
        return None
    for module in modules:
        _import_and_register(module)
    found: Any = typer.main.get_group(_loaded).commands.get(name)
    return found


class _Commands(MutableMapping[str, Any]):
    """The root group's commands: `run` at hand, the rest loaded on first use. Its keys are every
    name (for help, usage errors and "Did you mean ...?") without importing anything."""

    def __init__(self, ready: MutableMapping[str, Any]) -> None:
        self._ready = dict(ready)

    def __getitem__(self, name: str) -> Any:
        if name not in self._ready:
            command = load_command(name)
            if command is None:
                raise KeyError(name)
            self._ready[name] = command
        return self._ready[name]

    def __setitem__(self, name: str, command: Any) -> None:
        self._ready[name] = command

    def __delitem__(self, name: str) -> None:
        del self._ready[name]

    def __iter__(self) -> Iterator[str]:
        return iter([*(n for n in self._ready if n not in COMMANDS), *COMMANDS])

    def __len__(self) -> int:
        return len(set(self._ready) | set(COMMANDS))


class LazyGroup(TyperGroup):
    def __init__(self, **attrs: Any) -> None:
        super().__init__(**attrs)
        self.commands = _Commands(self.commands)

    def get_command(self, ctx: Context, cmd_name: str) -> Any:
        try:
            return self.commands[cmd_name]
        except KeyError:
            return None

    def list_commands(self, ctx: Context) -> list[str]:
        return list(self.commands)


app = typer.Typer(
    cls=LazyGroup, help="Waymark: careers journals, advice records and alumni destinations.", no_args_is_help=True
)


@app.callback()
def _root() -> None:
    # A callback makes Typer build a group even though `run` is the only command it sees here.
    pass


def settings_or_exit() -> Settings:
    """Settings, or one clear line naming the bad variable and exit code 2."""
    try:
        return load_settings()
    except SettingsError as exc:
        typer.echo(f"Configuration error: {exc}", err=True)
        raise typer.Exit(2) from None


@app.command()
def run() -> None:
    """Run every configured platform, the scheduler and the sender."""
    from bot.keys_cli import require_key
    from bot.runner import main
    from handlers.safeguarding import ModelError, default_classifier

    settings = settings_or_exit()
    require_key(settings)
    try:
        default_classifier()  # screening without its model would miss disclosures: refuse to start
    except ModelError as exc:
        typer.echo(f"Safeguarding screening cannot start: {exc}", err=True)
        raise typer.Exit(2) from None
    main(settings)
