"""The Telegram adapter's outbox transport, on a real python-telegram-bot `Bot` pointed at the fake Bot API."""

from __future__ import annotations

from collections.abc import AsyncIterator
from contextlib import asynccontextmanager

from telegram import Bot

from bot.channels.telegram.request import AiohttpRequest
from bot.channels.telegram.transport import TelegramTransport
from tests.fakes.telegram_api import FakeTelegram


@asynccontextmanager
async def telegram_transport(fake: FakeTelegram, pool: int = 16) -> AsyncIterator[TelegramTransport]:
    """On the HTTP layer `waymark run` uses; `pool` connections, so several sender lanes are not
    queued behind one another. (tests/test_telegram_http.py covers the same form on httpx.)"""
    bot = Bot(fake.token, base_url=fake.base_url, request=AiohttpRequest(pool, pool_timeout=10.0))
    async with bot:
        yield TelegramTransport(bot)
