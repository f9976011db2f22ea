"""The menu of buttons each role sees, built from the registered commands."""

from __future__ import annotations

from core.messages import Button
from handlers.context import Context
from handlers.registry import COMMANDS, Command, load_conversations


def allowed(command: Command, roles: set[str]) -> bool:
    return "anyone" in command.roles or bool(command.roles & roles)


def commands_for(roles: set[str]) -> list[Command]:
    """Commands a person with these roles may use, in menu order."""
    load_conversations()
    return sorted((c for c in COMMANDS.values() if allowed(c, roles)), key=lambda c: (c.order, c.name))


def main_menu(ctx: Context, per_row: int = 2) -> list[list[Button]]:
    if ctx.person is None:
        return []
    buttons = [Button(c.menu_label, f"/{c.name}") for c in commands_for(ctx.roles) if c.menu_label]
    return [buttons[i : i + per_row] for i in range(0, len(buttons), per_row)]
