"""`waymark run`: one process with the HTTP server (web chat, Telegram webhook, Slack endpoint),
the Telegram adapter, the scheduler and the outbox sender. Several may run against PostgreSQL."""

from __future__ import annotations

import asyncio
import logging
import signal

from sqlalchemy import Engine

from bot.heap import freeze_startup_objects
from core.settings import Settings
from handlers import Dispatcher
from handlers.concern_work import no_dsl_warning
from handlers.safeguarding.book import default_book
from storage.db import make_engine, transaction
from storage.migrate import upgrade
from storage.models import StaffRole
from storage.people import schools_without

log = logging.getLogger("waymark")


async def serve(settings: Settings, stop: asyncio.Event) -> None:
    engine = make_engine(settings.database_url)
    upgrade(engine)
    warn_without_dsl(engine)
    dispatcher = Dispatcher(engine, settings)
    # Each part starts here and returns an async "stop" callable; they stop in reverse order.
    stoppers = []
    from bot.channels.registry import served
    from bot.http import build_app, start_http  # the one aiohttp server: web chat, webhooks
    from core.delivery import Transport
    from scheduler.service import start_background

    channels = served()  # every platform in core.platforms with a channel that `waymark run` starts
    # Routes must be added before the server starts (aiohttp freezes them): channels that need an
    # endpoint (Telegram webhook, Slack events) get the app first, then it starts listening.
    http_app = build_app(settings, dispatcher)
    for _name, hooks in channels:
        if hooks.before_http is not None and (stopper := await hooks.before_http(settings, dispatcher, http_app)):
            stoppers.append(stopper)
    http_stop, http_app = await start_http(settings, dispatcher, app=http_app)
    stoppers.append(http_stop)
    for _name, hooks in channels:
        if hooks.after_http is not None and (stopper := await hooks.after_http(settings, dispatcher, http_app)):
            stoppers.append(stopper)
    # The outbox sender delivers through these; each is closed after the sender has stopped.
    transports: dict[str, Transport] = {}
    for name, hooks in channels:
        opened = await hooks.open_transport(settings) if hooks.open_transport is not None else None
        if opened is not None:
            transports[name], close = opened
            if close is not None:
                stoppers.append(close)
    stoppers.append(await start_background(settings, engine, transports))
    # The default safeguarding phrase book (some 700,000 small objects, about 0.8 s of CPU) is built
    # now rather than by the first message screened: that message would wait for it, every step
    # behind it too, and, built after the freeze below, every full garbage collection would walk it.
    default_book()
    frozen = freeze_startup_objects()
    log.info(
        "waymark running: http port %s, database %s (%d start-up objects kept out of garbage collection)",
        settings.http_port,
        engine.url.render_as_string(),
        frozen,
    )
    await stop.wait()
    for stopper in reversed(stoppers):
        await stopper()
    engine.dispose()


def warn_without_dsl(engine: Engine) -> None:
    """A school with no safeguarding lead: its concerns are recorded, but nobody would be alerted."""
    with transaction(engine, write=False) as session:
        for school in schools_without(session, StaffRole.dsl):
            log.warning(no_dsl_warning(school.name))


def main(settings: Settings) -> None:
    logging.basicConfig(level=logging.INFO, format="%(asctime)s %(levelname)s %(name)s: %(message)s")

    async def _main() -> None:
        stop = asyncio.Event()
        loop = asyncio.get_running_loop()
        for sig in (signal.SIGTERM, signal.SIGINT):
            loop.add_signal_handler(sig, stop.set)
        await serve(settings, stop)

    asyncio.run(_main())
