"""The Slack channel (staff, direct messages), one module per concern:

- `adapter`: slack-bolt's AsyncApp on `/slack/events` in front of the dispatcher; start and stop
- `rendering`: replies as Block Kit messages (escaped sections, button rows)
- `events`: events, slash commands and presses as `Incoming`
- `transport`: the outbox sender's way to Slack, and the Web API client
- `errors`: Slack's errors read as outcomes, and the retry loop on them

This module imports none of them until `waymark run` calls its hooks.
"""

from __future__ import annotations

from aiohttp import web

from bot.channels.registry import Served, Stop
from core.delivery import Transport
from core.settings import Settings
from handlers import Dispatcher


async def _start(settings: Settings, dispatcher: Dispatcher, app: web.Application) -> Stop | None:
    if not (settings.slack_bot_token and settings.slack_signing_secret):
        return None
    from bot.channels.slack.adapter import start_slack  # mounts /slack/events before the server starts

    return await start_slack(settings, dispatcher, app)


async def _transport(settings: Settings) -> tuple[Transport, Stop | None] | None:
    if not settings.slack_bot_token:
        return None
    from bot.channels.slack.transport import open_transport

    return await open_transport(settings)


SERVED = Served(before_http=_start, open_transport=_transport)
