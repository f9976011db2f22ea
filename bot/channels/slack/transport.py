"""The outbox sender's way to Slack, and the Web API client it talks through."""

from __future__ import annotations

from collections.abc import Awaitable, Callable

import aiohttp
from slack_sdk.web.async_client import AsyncWebClient

from bot.channels.slack.errors import classify
from bot.channels.slack.rendering import PLATFORM, Message, escape, messages_for
from core.delivery import Delivery, SendOutcome
from core.messages import Button
from core.settings import Settings


def make_client(settings: Settings, session: aiohttp.ClientSession | None = None) -> AsyncWebClient:
    assert settings.slack_bot_token, "SLACK_BOT_TOKEN is not set"
    base = settings.slack_api_base_url or AsyncWebClient.BASE_URL
    return AsyncWebClient(token=settings.slack_bot_token, base_url=base.rstrip("/") + "/", session=session)


class SlackTransport:
    """The outbox sender's way to Slack (core.delivery.Transport): one attempt per call."""

    platform = PLATFORM

    def __init__(self, client: AsyncWebClient) -> None:
        self.client = client

    async def send(self, chat_id: str, text: str, buttons: list[list[Button]]) -> SendOutcome:
        try:
            for message in messages_for(text, buttons) or [Message(escape(text), [])]:
                await self.client.chat_postMessage(channel=chat_id, text=message.text, blocks=message.blocks)
        except Exception as exc:
            outcome = classify(exc)
            if outcome is None:
                raise
            return outcome
        return SendOutcome(Delivery.sent)


async def open_transport(settings: Settings) -> tuple[SlackTransport, Callable[[], Awaitable[None]]]:
    """A `SlackTransport` for the outbox sender on its own connection pool; and its close."""
    session = aiohttp.ClientSession(timeout=aiohttp.ClientTimeout(total=30))
    return SlackTransport(make_client(settings, session)), session.close
