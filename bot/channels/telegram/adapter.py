"""The Telegram channel: python-telegram-bot's `Application` in front of `handlers.Dispatcher`.

    Telegram -> (polling | webhook on Waymark's aiohttp server) -> Update -> Incoming
             -> dispatch (in a thread, one transaction) -> [Reply] -> inline keyboards, photos, files

Holds no business rules: it translates updates and replies, answers button presses, keeps each
chat's updates in order (without letting one busy chat hold up the rest), honours Telegram's flood
control (a 429 pauses every reply, `FloodGate`), keeps each chat's "/" menu to the person's roles,
answers a webhook request only once its update is handled, and marks accounts that blocked the bot
as unreachable so the outbox stops trying them. `TelegramTransport` is the outbox sender's way out.
"""

from __future__ import annotations

import logging
from collections import OrderedDict
from collections.abc import Awaitable, Callable
from datetime import timedelta
from typing import Any

from aiohttp import web
from telegram import Bot, BotCommandScopeChat, BotCommandScopeDefault, InlineKeyboardMarkup, Message, Update
from telegram.error import TelegramError
from telegram.ext import Application, ApplicationBuilder, ContextTypes, TypeHandler

from bot.channels.base import ChannelWork, answer_press
from bot.channels.retry import FloodGate, Unreachable
from bot.channels.telegram.errors import call_with_retry
from bot.channels.telegram.ordering import ChatOrderedProcessor
from bot.channels.telegram.rendering import (
    PLATFORM,
    ButtonData,
    Renderer,
    bot_commands,
    keyboard_data,
    to_incoming,
)
from bot.channels.telegram.request import AiohttpRequest
from bot.channels.telegram.transport import base_urls
from bot.channels.telegram.unreadable import Keeper, UpdatesRequest
from bot.channels.telegram.webhook import WEBHOOK_KEY, WEBHOOK_PATH, WebhookReceiver, mount_webhook, webhook_secret
from core.messages import Incoming, Reply
from core.settings import Settings
from handlers import Dispatcher, parse_command

log = logging.getLogger("waymark.telegram")

# Edits are not asked for: an edited message is not a new answer, and journals must not fill twice.
# Channel posts are asked for so that a channel the bot was added to hears, once per post, that
# Waymark works in private chats only (nothing from it is stored).
ALLOWED_UPDATES = ["message", "callback_query", "channel_post", "my_chat_member"]
MENUS_REMEMBERED = 100_000  # chats whose "/" menu this process remembers setting
EXPIRED_BUTTON = "That button is too old to use now. Send /help to see what you can do."


class TelegramAdapter(ChannelWork):
    """Turns updates into `dispatch` calls and replies into Bot API calls."""

    def __init__(self, dispatcher: Dispatcher, db_threads: int | None = None) -> None:
        super().__init__(dispatcher, PLATFORM, db_threads)
        self.codec = ButtonData()
        self.gate = FloodGate()
        # chat -> roles its "/" menu was last set for, in this process (bounded: least recent go first)
        self._menus: OrderedDict[int, frozenset[str]] = OrderedDict()

    def _dispatch(self, incoming: Incoming) -> tuple[list[Reply], frozenset[str] | None]:
        """The replies, and who the person is after this step (None when nothing was committed)."""
        roles: list[frozenset[str]] = []
        replies = self.dispatcher.dispatch(incoming, on_roles=roles.append)
        return replies, (roles[0] if roles else None)

    async def on_update(self, update: object, _context: ContextTypes.DEFAULT_TYPE) -> None:
        if not isinstance(update, Update):
            return
        bot = update.get_bot()
        query = update.callback_query
        incoming = to_incoming(update, self.codec)
        if incoming is None:
            await self._on_member_change(update)
            return
        if query is not None and incoming.button is None and query.data is not None:
            await self._answer(lambda: query.answer(EXPIRED_BUTTON, show_alert=True))
            return
        replies, roles = await self.in_db_thread(self._dispatch, incoming)
        renderer = Renderer(bot, self.codec, self.gate)
        chat_id = int(incoming.chat_id)
        try:
            if query is not None:
                await self._answer(query.answer)
                replies = await self._on_press(renderer, query.message, incoming.button, replies)
            for reply in replies:
                await renderer.send(chat_id, reply)
        except Unreachable as exc:
            log.info("telegram chat %s unreachable: %s", chat_id, exc)
            await self.mark_unreachable(incoming.chat_id, str(exc))
            return
        if incoming.chat_type == "private" and roles is not None:
            await self._refresh_menu(bot, chat_id, roles, linking=_may_change_link(incoming))

    async def _answer(self, call: Callable[[], Awaitable[bool]]) -> None:
        try:
            await call_with_retry(call, what="answerCallbackQuery")
        except (TelegramError, Unreachable) as exc:  # the press is still handled
            log.debug("answerCallbackQuery failed: %s", exc)

    async def _on_press(
        self, renderer: Renderer, pressed: object, data: str | None, replies: list[Reply]
    ) -> list[Reply]:
        """Edit the pressed question in place when the answer is the same question updated
        (e.g. ticking skills); otherwise note the choice under it and send the replies below."""
        if not isinstance(pressed, Message):
            return replies
        shown = pressed.reply_markup
        return await answer_press(
            keyboard_data(shown),
            replies,
            edit=lambda reply: renderer.edit(pressed, reply),
            settle=lambda: renderer.settle(pressed, _label_for(shown, self.codec, data)),
            encode=self.codec.encode,
        )

    async def _on_member_change(self, update: Update) -> None:
        """A person who blocks the bot shows up as "kicked": stop the outbox trying them at once."""
        change = update.my_chat_member
        if change is None or change.chat.type != "private":
            return
        if change.new_chat_member.status == "kicked":
            await self.mark_unreachable(str(change.chat.id), "bot was blocked by the user")

    async def _refresh_menu(self, bot: Bot, chat_id: int, roles: frozenset[str], *, linking: bool) -> None:
        """Keep this chat's "/" menu to what the person may do now (a pupil who left sees the alumni one).

        `roles` come from the step just dispatched, so this costs no query; setMyCommands is called
        only when they differ from what this process last set for the chat. After a restart that is
        once per chat, which also brings menus up to date with a new version's commands. A chat
        never linked keeps the default menu, unless this message may have unlinked it.
        """
        known = self._menus.get(chat_id)
        if known == roles or (known is None and not roles and not linking):
            if known is not None:
                self._menus.move_to_end(chat_id)
            return
        try:
            await call_with_retry(
                lambda: bot.set_my_commands(bot_commands(set(roles)), scope=BotCommandScopeChat(chat_id)),
                what="setMyCommands",
                gate=self.gate,
            )
        except (TelegramError, Unreachable) as exc:
            log.warning("could not set the command menu for chat %s: %s", chat_id, exc)
            return
        self._menus[chat_id] = roles
        self._menus.move_to_end(chat_id)
        while len(self._menus) > MENUS_REMEMBERED:
            self._menus.popitem(last=False)


def _label_for(markup: InlineKeyboardMarkup | None, codec: ButtonData, data: str | None) -> str | None:
    if markup is None or data is None:
        return None
    for row in markup.inline_keyboard:
        for button in row:
            if button.callback_data is not None and codec.decode(str(button.callback_data)) == data:
                return button.text
    return None


def _may_change_link(incoming: Incoming) -> bool:
    """Messages after which the chat may have been linked or unlinked."""
    raw = incoming.button if incoming.button is not None else incoming.text
    parsed = parse_command(raw)
    if parsed is not None:
        return parsed[0] in {"start", "link", "unlink"}
    text = (incoming.text or "").strip()
    return 0 < len(text) <= 16 and " " not in text  # an enrolment code typed on its own


def build_application(
    settings: Settings, dispatcher: Dispatcher, *, polling: bool = True, concurrency: int = 64
) -> tuple[Application[Any, Any, Any, Any, Any, Any], TelegramAdapter]:
    assert settings.telegram_bot_token, "TELEGRAM_BOT_TOKEN is not set"
    builder = (
        ApplicationBuilder()
        .token(settings.telegram_bot_token)
        .concurrent_updates(ChatOrderedProcessor(concurrency))
        # aiohttp rather than python-telegram-bot's default httpx: about half the CPU per call.
        .request(AiohttpRequest(max(8, concurrency), pool_timeout=10.0))
        .get_updates_request(UpdatesRequest(Keeper(dispatcher.engine, settings.encryption_key)))
    )
    urls = base_urls(settings.telegram_api_base_url)
    if urls is not None:
        builder = builder.base_url(urls[0]).base_file_url(urls[1])
    if not polling:
        builder = builder.updater(None)
    application = builder.build()
    adapter = TelegramAdapter(dispatcher)
    application.add_handler(TypeHandler(Update, adapter.on_update))
    application.add_error_handler(_log_error)
    return application, adapter


async def _log_error(update: object, context: ContextTypes.DEFAULT_TYPE) -> None:
    log.error("telegram update %s failed", getattr(update, "update_id", "?"), exc_info=context.error)


async def start_telegram(
    settings: Settings,
    dispatcher: Dispatcher,
    http_app: web.Application | None = None,
    *,
    poll_timeout: float = 10.0,
) -> Callable[[], Awaitable[None]]:
    """Start the adapter (polling, or webhook when TELEGRAM_WEBHOOK_URL is set); returns `stop`.

    Webhook mode: mount the route (`mount_webhook`) before the HTTP server starts and call this
    once it listens, because Telegram posts updates as soon as setWebhook returns. Polling mode
    deletes any webhook first (python-telegram-bot's start_polling does), so Telegram lets it poll.

    `stop` stops taking updates, finishes the ones in hand (and answers their webhook requests),
    then closes the connections. Stop it before the HTTP server.
    """
    webhook_url = settings.telegram_webhook_url
    application, adapter = build_application(settings, dispatcher, polling=not webhook_url)
    receiver: WebhookReceiver | None = None
    if webhook_url:
        if http_app is None:
            raise RuntimeError("TELEGRAM_WEBHOOK_URL is set but there is no HTTP server to receive it")
        receiver = http_app.get(WEBHOOK_KEY)
        if receiver is None:
            if http_app.frozen:
                raise RuntimeError(
                    f"the HTTP server started before {WEBHOOK_PATH} was mounted: call bot.channels.telegram.webhook.mount_webhook(app) "
                    "before starting it"
                )
            receiver = mount_webhook(http_app)
    await application.initialize()
    await application.bot.set_my_commands(bot_commands(set()), scope=BotCommandScopeDefault())
    await application.start()
    database = dispatcher.engine.url.render_as_string(hide_password=True)
    if webhook_url and receiver is not None:
        secret = webhook_secret(settings)
        receiver.attach(application, secret, Keeper(dispatcher.engine, settings.encryption_key))
        await application.bot.set_webhook(webhook_url, secret_token=secret, allowed_updates=ALLOWED_UPDATES)
        mode = f"webhook {webhook_url} (route {WEBHOOK_PATH})"
    else:
        assert application.updater is not None
        await application.updater.start_polling(
            timeout=timedelta(seconds=poll_timeout), allowed_updates=ALLOWED_UPDATES, bootstrap_retries=-1
        )
        mode = "long polling"
    log.info("telegram: %s as @%s, database %s", mode, application.bot.username, database)

    async def stop() -> None:
        if receiver is not None:
            receiver.detach()  # Telegram keeps what arrives now and redelivers it to the next process
        if application.updater is not None and application.updater.running:
            await application.updater.stop()
        if application.running:
            await application.stop()  # waits for every update in hand
        await application.shutdown()
        adapter.close()
        log.info("telegram: stopped")

    return stop
