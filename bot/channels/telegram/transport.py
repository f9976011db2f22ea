"""The outbox sender's way to Telegram, and the Bot it talks through."""

from __future__ import annotations

import json
from collections.abc import Awaitable, Callable
from dataclasses import replace

from telegram import Bot

from bot.channels.telegram.errors import classify
from bot.channels.telegram.rendering import PLATFORM, ButtonData, keyboard, split_text
from bot.channels.telegram.request import AiohttpRequest, PlainForm
from bot.channels.text import EMPTY_TEXT_WITH_BUTTONS, rest_after
from core.delivery import Delivery, SendOutcome
from core.messages import Button
from core.settings import Settings


def base_urls(configured: str | None) -> tuple[str, str] | None:
    """TELEGRAM_API_BASE_URL as python-telegram-bot wants it: `http://host:8081` and `.../bot` both work."""
    if not configured:
        return None
    url = configured.rstrip("/")
    if "{token}" in url:
        return url, url.replace("/bot", "/file/bot", 1)
    root = url.removesuffix("/bot")
    return f"{root}/bot", f"{root}/file/bot"


class TelegramTransport:
    """The outbox sender's way to Telegram (core.delivery.Transport).

    It posts sendMessage through the bot's own request object (`BaseRequest.post`) with fields it
    builds itself, each keyboard's JSON once per campaign, and does not parse the answer into a
    `Message` it would never read: `Bot.send_message` did both for every message and cost most of
    the sender's CPU (BENCHMARKS.md). `post` still raises python-telegram-bot's own errors
    (RetryAfter, Forbidden, BadRequest, NetworkError), so their meaning is unchanged.
    """

    platform = PLATFORM

    def __init__(self, bot: Bot, codec: ButtonData | None = None) -> None:
        self.bot = bot
        self.codec = codec or ButtonData()
        # A campaign sends the same buttons to thousands: serialise each keyboard once.
        self._keyboards: dict[tuple[tuple[tuple[str, str], ...], ...], str | None] = {}

    def _keyboard(self, buttons: list[list[Button]]) -> str | None:
        key = tuple(tuple((b.label, b.data) for b in row) for row in buttons)
        if key not in self._keyboards:
            if len(self._keyboards) >= 256:
                self._keyboards.clear()
            markup = keyboard(buttons, self.codec)
            self._keyboards[key] = (
                json.dumps(markup.to_dict(), ensure_ascii=False, separators=(",", ":")) if markup else None
            )
        return self._keyboards[key]

    async def send(self, chat_id: str, text: str, buttons: list[list[Button]]) -> SendOutcome:
        # One attempt per call: the sender owns retries, so a 429 comes back with its wait.
        markup = self._keyboard(buttons)
        parts = split_text(text) or [EMPTY_TEXT_WITH_BUTTONS]
        request, url = self.bot.request, f"{self.bot.base_url}/sendMessage"
        # A private chat's id is a number (sent as one); a channel's may be "@name".
        numeric = chat_id.lstrip("-").isdigit()
        numeric_id, named_id = ({"chat_id": chat_id}, {}) if numeric else ({}, {"chat_id": chat_id})
        done = 0
        try:
            for part in parts:
                raw = dict(numeric_id)  # JSON text spliced in as is
                if markup is not None and done == len(parts) - 1:
                    raw["reply_markup"] = markup  # buttons go under the last part
                await request.post(url, PlainForm({**named_id, "text": part}, raw))
                done += 1
        except Exception as exc:
            outcome = classify(exc)
            if outcome is None:
                raise
            if outcome.result is Delivery.retry:  # what did not go out is sent later, not the whole text again
                return replace(outcome, remaining_text=rest_after(text, parts, done))
            return outcome
        return SendOutcome(Delivery.sent)


async def open_transport(
    settings: Settings, pool_size: int = 8
) -> tuple[TelegramTransport, Callable[[], Awaitable[None]]]:
    """A `TelegramTransport` for the outbox sender, on its own Bot (honours TELEGRAM_API_BASE_URL); and its close."""
    assert settings.telegram_bot_token, "TELEGRAM_BOT_TOKEN is not set"
    urls = base_urls(settings.telegram_api_base_url)
    request = AiohttpRequest(pool_size, pool_timeout=10.0)
    if urls is None:
        bot = Bot(settings.telegram_bot_token, request=request)
    else:
        bot = Bot(settings.telegram_bot_token, base_url=urls[0], base_file_url=urls[1], request=request)
    await bot.initialize()
    return TelegramTransport(bot), bot.shutdown
