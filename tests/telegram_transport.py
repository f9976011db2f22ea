"""A Telegram transport for the sender's tests, pointed at the fake Bot API.

Uses `bot.telegram.TelegramTransport` when the Telegram adapter provides it; until then a minimal
one built on the same real python-telegram-bot `Bot`, mapping the Bot API's errors the same way.
"""

from __future__ import annotations

from collections.abc import AsyncIterator
from contextlib import asynccontextmanager
from datetime import timedelta

from telegram import Bot, InlineKeyboardButton, InlineKeyboardMarkup
from telegram.error import BadRequest, Forbidden, NetworkError, RetryAfter, TelegramError
from telegram.request import HTTPXRequest

from handlers.types import Button
from scheduler.transport import Delivery, SendOutcome, Transport
from tests.fakes.telegram_api import FakeTelegram


class _BotTransport:
    platform = "telegram"

    def __init__(self, bot: Bot) -> None:
        self.bot = bot

    async def send(self, chat_id: str, text: str, buttons: list[list[Button]]) -> SendOutcome:
        markup = (
            InlineKeyboardMarkup(
                [[InlineKeyboardButton(b.label, callback_data=b.data) for b in row] for row in buttons]
            )
            if buttons
            else None
        )
        try:
            await self.bot.send_message(chat_id=int(chat_id), text=text, reply_markup=markup)
        except RetryAfter as exc:
            wait = exc.retry_after
            seconds = wait.total_seconds() if isinstance(wait, timedelta) else float(wait)
            return SendOutcome(Delivery.retry, retry_after=seconds, error=str(exc))
        except Forbidden as exc:
            return SendOutcome(Delivery.unreachable, error=str(exc))
        except BadRequest as exc:
            if "not found" in str(exc).lower():
                return SendOutcome(Delivery.unreachable, error=str(exc))
            return SendOutcome(Delivery.failed, error=str(exc))
        except NetworkError as exc:
            return SendOutcome(Delivery.retry, error=str(exc))
        except TelegramError as exc:
            return SendOutcome(Delivery.retry, error=str(exc))
        return SendOutcome(Delivery.sent)


@asynccontextmanager
async def telegram_transport(fake: FakeTelegram, pool: int = 16) -> AsyncIterator[Transport]:
    request = HTTPXRequest(connection_pool_size=pool)
    bot = Bot(fake.token, base_url=fake.base_url, request=request)
    async with bot:
        yield _BotTransport(bot)
