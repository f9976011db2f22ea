"""The `/telegram/webhook` route on Waymark's aiohttp server, and its secret."""

from __future__ import annotations

import asyncio
import hashlib
import hmac
import logging
import secrets
from typing import Any

from aiohttp import web
from telegram import Update
from telegram.ext import Application

from bot.channels.telegram.ordering import ChatOrderedProcessor
from bot.channels.telegram.unreadable import Keeper, unreadable_of
from core.settings import Settings

log = logging.getLogger("waymark.telegram")

WEBHOOK_PATH = "/telegram/webhook"
SECRET_HEADER = "X-Telegram-Bot-Api-Secret-Token"
WEBHOOK_ANSWER_WITHIN = 20.0  # seconds: a webhook update still in hand then is answered 503 (Telegram resends)


class WebhookReceiver:
    """The `/telegram/webhook` route on Waymark's aiohttp server.

    Mount it before the server starts (`mount_webhook(app)`); it answers 503 until an Application
    is attached. Every request must carry the secret header, compared in constant time.

    An update is answered 200 only once it has been processed: its step committed and its replies
    sent. Telegram keeps an update it got no 2xx for and sends it again, so a process killed
    mid-update (even by SIGKILL) loses nothing: the next one gets it, and a redelivery of one that
    had committed is dropped by the stored update id. An update still in hand after `answer_within`
    seconds (a long flood-control wait) is answered 503 and keeps going; the redelivery is dropped
    the same way if it finished.
    """

    def __init__(self, answer_within: float = WEBHOOK_ANSWER_WITHIN) -> None:
        self.application: Application[Any, Any, Any, Any, Any, Any] | None = None
        self.secret = ""
        self.answer_within = answer_within
        self.keeper: Keeper | None = None

    def attach(self, application: Application[Any, Any, Any, Any, Any, Any], secret: str, keeper: Keeper) -> None:
        self.application, self.secret, self.keeper = application, secret, keeper

    def detach(self) -> None:
        self.application = None

    async def handle(self, request: web.Request) -> web.Response:
        application = self.application
        if application is None or not application.running:
            # Starting or stopping: Telegram keeps the update and tries again. Nothing is read.
            return web.Response(status=503, text="not ready")
        given = request.headers.get(SECRET_HEADER, "")
        if not self.secret or not hmac.compare_digest(given.encode(), self.secret.encode()):
            log.warning("telegram webhook request without the right secret from %s", request.remote)
            return web.Response(status=403, text="forbidden")
        try:
            data = await request.json()
        except (ValueError, RecursionError):
            return web.Response(status=400, text="not a Telegram update")
        try:
            update = Update.de_json(data, application.bot)
        except Exception as exc:  # the library raises TypeError, ValueError, KeyError... for bad shapes
            bad = unreadable_of(data, exc)
            if bad is None:
                return web.Response(status=400, text="not a Telegram update")
            # Answered 200: Telegram would otherwise send it again and hold every update behind it.
            if self.keeper is not None:
                await self.keeper([bad])
            return web.Response(text="skipped")
        if update is None:
            return web.Response(status=400, text="empty update")
        if self.application is not application or not application.running:
            # It began stopping while the body arrived: an update queued now would never be handled.
            return web.Response(status=503, text="not ready")
        processor = application.update_processor
        if not isinstance(processor, ChatOrderedProcessor):
            await application.update_queue.put(update)  # not ours to watch: take it and say so
            return web.Response(text="ok")
        done = processor.expect(update)
        try:
            await application.update_queue.put(update)  # through the queue: in order with the rest
            await asyncio.wait_for(asyncio.shield(done), self.answer_within)
        except TimeoutError:
            log.warning(
                "telegram update %s still in hand after %.0fs: answered 503", update.update_id, self.answer_within
            )
            return web.Response(status=503, text="still working on it")
        finally:
            processor.forget(update)
        return web.Response(text="ok")


WEBHOOK_KEY = web.AppKey("telegram_webhook", WebhookReceiver)


def mount_webhook(app: web.Application) -> WebhookReceiver:
    """Add the webhook route to an aiohttp app that has not started yet (idempotent)."""
    existing = app.get(WEBHOOK_KEY)
    if existing is not None:
        return existing
    receiver = WebhookReceiver()
    app[WEBHOOK_KEY] = receiver
    app.router.add_post(WEBHOOK_PATH, receiver.handle)
    return receiver


def webhook_secret(settings: Settings) -> str:
    """TELEGRAM_WEBHOOK_SECRET, or one made from the token (stable across restarts and processes)."""
    if settings.telegram_webhook_secret:
        return settings.telegram_webhook_secret
    assert settings.telegram_bot_token
    return hmac.new(b"waymark-webhook", settings.telegram_bot_token.encode(), hashlib.sha256).hexdigest()


def new_secret() -> str:
    """A value for TELEGRAM_WEBHOOK_SECRET (Telegram allows A-Z, a-z, 0-9, _ and -, up to 256)."""
    return secrets.token_urlsafe(48)
