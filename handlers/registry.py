"""Commands and conversation steps register here; `handlers.engine` routes to them.

A command is what a person asks for (`/reflect`); a step is a point inside a conversation
(`reflect.skills`) that the next message answers. Conversations declare both through a
`handlers.flow.Flow`, so the router never needs editing when a conversation is added. A second
command, alias or step of the same name is refused when its module is imported: two modules
silently overwriting each other is how a conversation goes missing.
"""

from __future__ import annotations

from collections.abc import Callable
from dataclasses import dataclass
from typing import TYPE_CHECKING

from core.messages import Reply
from handlers.context import Context

if TYPE_CHECKING:
    from handlers.flow import Flow

Handler = Callable[[Context], list[Reply]]


class DuplicateName(Exception):
    """Two registrations under one name: a programming error, raised at import."""


@dataclass(frozen=True)
class Command:
    name: str
    roles: frozenset[str]  # Role values plus staff roles ("tutor", "leader", "dsl"); "anyone" for all
    summary: str
    handler: Handler
    menu_label: str | None = None  # shown as a menu button for these roles when set
    order: int = 100
    flow: Flow | None = None  # the conversation this command starts, if any
    moves_to: frozenset[str] = frozenset()  # the steps it may start at


@dataclass(frozen=True)
class Step:
    name: str  # "reflect.skills": the flow's name, a dot, the step's own name
    flow: Flow
    handler: Handler
    moves_to: frozenset[str]  # steps the next message may be answered at; a step may always stay put


COMMANDS: dict[str, Command] = {}
STEPS: dict[str, Step] = {}
ALIASES: dict[str, str] = {}
IDLE: list[Command] = []  # at most one: what typed text outside any conversation starts


def load_conversations() -> None:
    """Import every conversation module once, so COMMANDS and STEPS are complete."""
    import importlib

    importlib.import_module("handlers.conversations")


def _refuse_taken(name: str, what: str) -> None:
    if name in COMMANDS or name in ALIASES:
        raise DuplicateName(f"{what} /{name} is registered twice: the command or alias /{name} already exists")


def add_command(command: Command, aliases: tuple[str, ...] = ()) -> None:
    _refuse_taken(command.name, "command")
    for alias in aliases:
        if alias == command.name or aliases.count(alias) > 1:
            raise DuplicateName(f"alias /{alias} of /{command.name} is given twice")
        _refuse_taken(alias, f"alias of /{command.name}")
    COMMANDS[command.name] = command
    for alias in aliases:
        ALIASES[alias] = command.name


def add_step(step: Step) -> None:
    if step.name in STEPS:
        raise DuplicateName(f"step {step.name!r} is registered twice")
    STEPS[step.name] = step


def add_idle(command: Command) -> None:
    if IDLE:
        raise DuplicateName(f"typed text outside a conversation is already handled by {IDLE[0].name!r}")
    IDLE.append(command)


def command(
    name: str,
    *,
    roles: set[str],
    summary: str,
    menu_label: str | None = None,
    order: int = 100,
    aliases: tuple[str, ...] = (),
) -> Callable[[Handler], Handler]:
    """A command that answers at once and starts no conversation (/help, /caseload, /report ...)."""

    def register(func: Handler) -> Handler:
        add_command(Command(name, frozenset(roles), summary, func, menu_label, order), aliases)
        return func

    return register
