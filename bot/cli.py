"""The `waymark` command line (DESIGN.md, "Command line")."""

from __future__ import annotations

import typer

from core.settings import Settings, SettingsError, load_settings

app = typer.Typer(help="Waymark: careers journals, advice records and alumni destinations.", no_args_is_help=True)


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


# Commands owned by other modules are registered below, each in its own file:
#   init, import-roster, staff, codes, demo, chat -> bot/admin_cli.py
#   campaign                                     -> bot/campaign_cli.py
#   report                                       -> bot/report_cli.py
#   safeguarding                                 -> bot/safeguarding_cli.py
#   export-person                                -> bot/subject_access_cli.py
#   erase, retention, audit, school retention    -> bot/privacy_cli.py
#   rotate-key                                   -> bot/keys_cli.py
#   destination refine                          -> bot/destination_cli.py
#   export-nccis, import-destinations            -> bot/nccis_cli.py
#   school sectors                              -> bot/sectors_cli.py
def _register() -> None:
    import importlib

    for module in (
        "bot.admin_cli",
        "bot.campaign_cli",
        "bot.report_cli",
        "bot.safeguarding_cli",
        "bot.subject_access_cli",
        "bot.privacy_cli",
        "bot.keys_cli",
        "bot.destination_cli",
        "bot.nccis_cli",
        "bot.sectors_cli",
    ):
        try:
            mod = importlib.import_module(module)
        except ModuleNotFoundError as exc:
            if exc.name != module:
                raise
            continue
        mod.register(app)


_register()
