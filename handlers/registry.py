"""Commands and conversation states register here; `handlers.engine` routes to them.

A command is what a person asks for (`/reflect`); a state is a step inside a conversation
(`reflect.skills`) that the next message answers. Modules in `handlers/` declare both with the
decorators below, so the router never needs editing when a conversation is added.
"""

from __future__ import annotations

from collections.abc import Callable
from dataclasses import dataclass

from core.messages import Reply
from handlers.context import Context

Handler = Callable[[Context], list[Reply]]


@dataclass(frozen=True)
class Command:
    name: str
    roles: frozenset[str]  # Role values plus staff roles ("tutor", "leader", "dsl"); "anyone" for all
    summary: str
    handler: Handler
    menu_label: str | None = None  # shown as a menu button for these roles when set
    order: int = 100


COMMANDS: dict[str, Command] = {}
STATES: dict[str, Handler] = {}
ALIASES: dict[str, str] = {}


def load_conversations() -> None:
    """Import every conversation module once, so COMMANDS and STATES are complete."""
    import importlib

    importlib.import_module("handlers.conversations")


def command(
    name: str,
    *,
    roles: set[str],
    summary: str,
    menu_label: str | None = None,
    order: int = 100,
    aliases: tuple[str, ...] = (),
) -> Callable[[Handler], Handler]:
    def register(func: Handler) -> Handler:
        COMMANDS[name] = Command(name, frozenset(roles), summary, func, menu_label, order)
        for alias in aliases:
            ALIASES[alias] = name
        return func

    return register


def state(name: str) -> Callable[[Handler], Handler]:
    def register(func: Handler) -> Handler:
        STATES[name] = func
        return func

    return register
