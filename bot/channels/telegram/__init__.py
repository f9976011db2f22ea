"""The Telegram channel, one module per concern:

- `adapter`: python-telegram-bot's Application in front of the dispatcher; start and stop
- `rendering`: replies as messages, keyboards, photos and files; updates as `Incoming`
- `ordering`: each chat's updates in order, without one chat holding up the rest
- `webhook`: the `/telegram/webhook` route and its secret
- `transport`: the outbox sender's way to Telegram
- `errors`: Telegram's errors read as outcomes, and the retry loop on them
- `request`: python-telegram-bot's HTTP layer on aiohttp

This module imports none of them until `waymark run` calls its hooks.
"""

from __future__ import annotations

from aiohttp import web

from bot.channels.registry import Served, Stop
from core.delivery import Transport
from core.settings import Settings
from handlers import Dispatcher


async def _mount(settings: Settings, dispatcher: Dispatcher, app: web.Application) -> Stop | None:
    if settings.telegram_bot_token and settings.telegram_webhook_url:
        from bot.channels.telegram.webhook import mount_webhook

        mount_webhook(app)  # answers 503 until the adapter is attached: Telegram tries again
    return None


async def _start(settings: Settings, dispatcher: Dispatcher, app: web.Application) -> Stop | None:
    if not settings.telegram_bot_token:
        return None
    from bot.channels.telegram.adapter import start_telegram

    # After the server listens: Telegram posts to the webhook as soon as setWebhook returns.
    # Stopped before the server closes, so the updates in hand finish and are answered first.
    return await start_telegram(settings, dispatcher, app)


async def _transport(settings: Settings) -> tuple[Transport, Stop | None] | None:
    if not settings.telegram_bot_token:
        return None
    from bot.channels.telegram.transport import open_transport

    return await open_transport(settings)


SERVED = Served(before_http=_mount, after_http=_start, open_transport=_transport)
