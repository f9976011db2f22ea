"""Which channels `waymark run` starts, found from the table of platforms rather than listed by hand.

Every platform in `core.platforms.PLATFORMS` whose module `bot.channels.<name>` offers `SERVED`
takes part; each hook checks its own settings and does nothing when its platform is not configured.
The hooks import their libraries only when called, so an unconfigured channel costs no import.
"""

from __future__ import annotations

import importlib
import importlib.util
from collections.abc import Awaitable, Callable
from dataclasses import dataclass

from aiohttp import web

from core.delivery import Transport
from core.platforms import PLATFORMS
from core.settings import Settings
from handlers import Dispatcher

Stop = Callable[[], Awaitable[None]]
# Called with the HTTP app (routes may be added only before it starts); an async stop, or None.
HttpHook = Callable[[Settings, Dispatcher, web.Application], Awaitable[Stop | None]]
# The outbox sender's way out and how to close it (None: nothing to close); None when not configured.
TransportHook = Callable[[Settings], Awaitable[tuple[Transport, Stop | None] | None]]


@dataclass(frozen=True)
class Served:
    """How one channel joins `waymark run`."""

    before_http: HttpHook | None = None  # mount routes, start what answers on them
    after_http: HttpHook | None = None  # start what needs the server listening (e.g. setWebhook)
    open_transport: TransportHook | None = None


def served() -> list[tuple[str, Served]]:
    """(platform, hooks) for every channel in the table that has a module offering `SERVED`, in table order."""
    found: list[tuple[str, Served]] = []
    for name in PLATFORMS:
        module_name = f"{__package__}.{name}"
        if importlib.util.find_spec(module_name) is None:
            continue
        hooks = getattr(importlib.import_module(module_name), "SERVED", None)
        if isinstance(hooks, Served):
            found.append((name, hooks))
    return found
