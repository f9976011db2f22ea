"""A conversation declared as a flow: who may be in it, what it gathers, its steps and their moves.

    REFLECT = Flow("reflect", roles={"pupil"}, draft=ReflectDraft, refusal=answers.NOT_A_PUPIL)
    WHAT = REFLECT.state("what")            # "reflect.what", declared once
    SKILLS = REFLECT.state("skills")

    @REFLECT.command("reflect", summary=..., moves_to={WHAT})
    def reflect(ctx): ...

    @REFLECT.step(WHAT, moves_to={SKILLS})
    def what(ctx):
        REFLECT.draft(ctx).what = answers.typed(ctx)
        ctx.goto(SKILLS)

The engine checks the flow's roles before every step, so a person whose role changed between two
messages gets the flow's refusal and steps never check it by hand. `ctx.goto` refuses a move its step
did not declare, so the declared moves are the real ones; tests/test_flows.py holds every flow's
`.mmd` diagram to them. The draft (a dataclass, every field with a default) is what the steps
gather: it is stored as JSON with the conversation state and read back field by field; a stored
shape that no longer fits (an older version, a hand edit) is treated like an unknown step.
"""

from __future__ import annotations

import dataclasses
import types
from collections.abc import Callable, Collection
from typing import Any, Generic, Protocol, TypeVar, Union, get_args, get_origin, get_type_hints, runtime_checkable

from core.messages import Reply
from handlers import texts
from handlers.context import Context
from handlers.menus import main_menu
from handlers.registry import STEPS, Command, DuplicateName, Handler, Step, add_command, add_idle, add_step

D = TypeVar("D")

FLOWS: dict[str, Flow[Any]] = {}


@dataclasses.dataclass
class NoDraft:
    """For a flow that gathers nothing between its steps."""


@runtime_checkable
class KeepsWork(Protocol):
    """A draft whose flow saves as it goes (a reflection is saved once its text is typed): stopping
    it must not say that nothing was saved."""

    def kept(self) -> bool: ...


class Flow(Generic[D]):
    def __init__(
        self,
        name: str,
        *,
        roles: Collection[str],
        draft: type[D],
        refusal: str = texts.NOT_FOR_YOU,
        refusal_menu: bool = False,
        admits: Callable[[Context], bool] | None = None,
        noun: str = "",
    ) -> None:
        """`refusal` answers a person the flow no longer admits (and ends it); `admits` narrows `roles`.
        `noun` ("log") names what the flow gathers: with it, and a draft that counts its answers
        (handlers/discard.py), stopping a draft worth keeping asks first."""
        if name in FLOWS:
            raise DuplicateName(f"flow {name!r} is declared twice")
        if not dataclasses.is_dataclass(draft):
            raise TypeError(f"the draft of flow {name!r} must be a dataclass")
        missing = [f.name for f in dataclasses.fields(draft) if _no_default(f)]
        if missing:
            raise TypeError(f"every field of {draft.__name__} needs a default (a new draft is empty): {missing}")
        self.name = name
        self.roles = frozenset(roles)
        self.draft_type = draft
        self.refusal = refusal
        self.refusal_menu = refusal_menu
        self._admits = admits
        self.noun = noun
        self.states: list[str] = []  # declared step names, in order
        self.entries: list[Command] = []  # commands (and the idle-text offer) that start this flow
        FLOWS[name] = self

    # --- declaring -------------------------------------------------------------------------------

    def state(self, short: str) -> str:
        """Declare a step name of this flow once: "what" -> "reflect.what"."""
        full = f"{self.name}.{short}"
        if full in self.states:
            raise DuplicateName(f"step {full!r} is declared twice")
        self.states.append(full)
        return full

    def step(self, name: str, *, moves_to: Collection[str] = ()) -> Callable[[Handler], Handler]:
        if name not in self.states:
            raise ValueError(f"step {name!r} is not declared by flow {self.name!r}: declare it with .state() first")

        def register(func: Handler) -> Handler:
            add_step(Step(name, self, func, frozenset(moves_to)))
            return func

        return register

    def command(
        self,
        name: str,
        *,
        summary: str,
        roles: Collection[str] | None = None,
        menu_label: str | None = None,
        order: int = 100,
        aliases: tuple[str, ...] = (),
        moves_to: Collection[str] = (),
    ) -> Callable[[Handler], Handler]:
        """A command that starts this flow at one of `moves_to` (or answers at once). Roles default to the flow's."""

        def register(func: Handler) -> Handler:
            entry = Command(
                name,
                frozenset(roles if roles is not None else self.roles),
                summary,
                func,
                menu_label,
                order,
                self,
                frozenset(moves_to),
            )
            add_command(entry, aliases)
            self.entries.append(entry)
            return func

        return register

    def on_idle_text(self, *, moves_to: Collection[str]) -> Callable[[Handler], Handler]:
        """Typed text outside any conversation, from someone this flow admits (an empty answer: the menu)."""

        def register(func: Handler) -> Handler:
            entry = Command("(typed text)", self.roles, "", func, None, 100, self, frozenset(moves_to))
            add_idle(entry)
            self.entries.append(entry)
            return func

        return register

    # --- running ---------------------------------------------------------------------------------

    def draft(self, ctx: Context) -> D:
        """What this conversation has gathered so far; an empty draft when it has just started."""
        if not isinstance(ctx.draft, self.draft_type):
            ctx.draft = self.draft_type()
        return ctx.draft

    def admits(self, ctx: Context) -> bool:
        if not self.roles & ctx.roles:
            return False
        return self._admits is None or self._admits(ctx)

    def refuse(self, ctx: Context) -> list[Reply]:
        ctx.end()
        return [Reply(self.refusal, buttons=main_menu(ctx) if self.refusal_menu else [])]

    def restore(self, stored: dict[str, Any]) -> D | None:
        """The draft saved with the state, or None when its shape no longer fits this flow."""
        try:
            return _restore(self.draft_type, stored)
        except _Misfit:
            return None


def steps_of(flow: Flow[Any]) -> list[Step]:
    return [STEPS[name] for name in flow.states if name in STEPS]


def check_moves() -> list[str]:
    """Every declared move and entry names a registered step of its own flow; every declared name is a step."""
    problems = []
    for flow in FLOWS.values():
        for name in flow.states:
            if name not in STEPS:
                problems.append(f"{name}: declared but no step is registered for it")
        movers: list[Step | Command] = [*steps_of(flow), *flow.entries]
        for mover in movers:
            for target in sorted(mover.moves_to):
                if target not in STEPS or STEPS[target].flow is not flow:
                    problems.append(f"{flow.name}: {mover.name} moves to {target!r}, not a step of this flow")
    return problems


class _Misfit(Exception):
    pass


def _no_default(field: dataclasses.Field[Any]) -> bool:
    return field.default is dataclasses.MISSING and field.default_factory is dataclasses.MISSING


def _restore(cls: type[D], stored: object) -> D:
    if not isinstance(stored, dict):
        raise _Misfit
    hints = get_type_hints(cls)
    names = {f.name for f in dataclasses.fields(cls)}  # type: ignore[arg-type]
    if set(stored) - names:
        raise _Misfit  # a field this version does not have
    return cls(**{key: _convert(value, hints[key]) for key, value in stored.items()})


def _convert(value: object, hint: Any) -> Any:
    origin = get_origin(hint)
    if origin in (Union, types.UnionType):
        for option in get_args(hint):
            try:
                return _convert(value, option)
            except _Misfit:
                continue
        raise _Misfit
    if origin is list:
        if not isinstance(value, list):
            raise _Misfit
        (item,) = get_args(hint)
        return [_convert(v, item) for v in value]
    if hint is type(None):
        if value is not None:
            raise _Misfit
        return None
    if isinstance(hint, type) and dataclasses.is_dataclass(hint):
        return _restore(hint, value)
    if hint is int and isinstance(value, bool):
        raise _Misfit  # JSON true is not a number
    if hint in (str, int, bool) and isinstance(value, hint):
        return value
    raise _Misfit
