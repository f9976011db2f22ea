"""`waymark run`: one process with the HTTP server (web chat, Telegram webhook, Slack endpoint),
the Telegram adapter, the scheduler and the outbox sender. Several may run against PostgreSQL."""

from __future__ import annotations

import asyncio
import logging
import signal

from bot.heap import freeze_startup_objects
from core.settings import Settings
from handlers import Dispatcher
from storage.db import make_engine
from storage.migrate import upgrade

log = logging.getLogger("waymark")


async def serve(settings: Settings, stop: asyncio.Event) -> None:
    engine = make_engine(settings.database_url)
    upgrade(engine)
    dispatcher = Dispatcher(engine, settings)
    # Each part starts here and returns an async "stop" callable; they stop in reverse order.
    stoppers = []
    from bot.http import build_app, start_http  # the one aiohttp server: web chat, webhooks

    # Routes must be added before the server starts (aiohttp freezes them): adapters that need an
    # endpoint (Telegram webhook, Slack events) get the app first, then it starts listening.
    http_app = build_app(settings, dispatcher)
    if settings.telegram_bot_token and settings.telegram_webhook_url:
        from bot.telegram import mount_webhook

        mount_webhook(http_app)  # answers 503 until the adapter is attached: Telegram tries again
    if settings.slack_bot_token and settings.slack_signing_secret:
        from bot.slack import start_slack  # mounts /slack/events before the server starts

        stoppers.append(await start_slack(settings, dispatcher, http_app))
    http_stop, http_app = await start_http(settings, dispatcher, app=http_app)
    stoppers.append(http_stop)
    if settings.telegram_bot_token:
        from bot.telegram import start_telegram

        # After the server listens: Telegram posts to the webhook as soon as setWebhook returns.
        # Stopped before the server closes, so the updates in hand finish and are answered first.
        stoppers.append(await start_telegram(settings, dispatcher, http_app))
    from core.delivery import Transport
    from scheduler.service import start_background

    # The outbox sender delivers through these; email is added by the service when WAYMARK_SMTP_URL is set.
    transports: dict[str, Transport] = {}
    if settings.telegram_bot_token:
        from bot.telegram import open_transport

        telegram_transport, close_transport = await open_transport(settings)
        transports["telegram"] = telegram_transport
        stoppers.append(close_transport)  # closed after the sender has stopped
    if settings.slack_bot_token:
        from bot.slack import open_transport as open_slack_transport

        slack_transport, close_slack = await open_slack_transport(settings)
        transports["slack"] = slack_transport
        stoppers.append(close_slack)
    if settings.smtp_url:
        from bot.email import EmailTransport

        transports["email"] = EmailTransport(settings)
    stoppers.append(await start_background(settings, engine, transports))
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


def main(settings: Settings) -> None:
    logging.basicConfig(level=logging.INFO, format="%(asctime)s %(levelname)s %(name)s: %(message)s")

    async def _main() -> None:
        stop = asyncio.Event()
        loop = asyncio.get_running_loop()
        for sig in (signal.SIGTERM, signal.SIGINT):
            loop.add_signal_handler(sig, stop.set)
        await serve(settings, stop)

    asyncio.run(_main())
