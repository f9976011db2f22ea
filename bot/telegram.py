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

import asyncio
import hashlib
import hmac
import json
import logging
import secrets
import time
from collections import OrderedDict
from collections.abc import Awaitable, Callable, Sequence
from concurrent.futures import ThreadPoolExecutor
from dataclasses import dataclass, field
from datetime import timedelta
from typing import Any, TypeVar

from aiohttp import web
from telegram import (
    Bot,
    BotCommand,
    BotCommandScopeChat,
    BotCommandScopeDefault,
    InlineKeyboardButton,
    InlineKeyboardMarkup,
    InputFile,
    Message,
    Update,
)
from telegram.error import BadRequest, Forbidden, NetworkError, RetryAfter, TelegramError, TimedOut
from telegram.ext import Application, ApplicationBuilder, BaseUpdateProcessor, ContextTypes, TypeHandler

from bot.telegram_http import AiohttpRequest, PlainForm
from core.delivery import Delivery, SendOutcome
from core.messages import Button, Incoming, Reply
from core.settings import Settings
from handlers import Dispatcher, parse_command
from handlers.menus import commands_for
from storage import identities
from storage.db import transaction
from storage.models import utcnow

log = logging.getLogger("waymark.telegram")

PLATFORM = "telegram"
WEBHOOK_PATH = "/telegram/webhook"
SECRET_HEADER = "X-Telegram-Bot-Api-Secret-Token"
WEBHOOK_ANSWER_WITHIN = 20.0  # seconds: a webhook update still in hand then is answered 503 (Telegram resends)
TEXT_LIMIT = 4096  # Telegram's limit for one message, in UTF-16 code units
CAPTION_LIMIT = 1024
CALLBACK_LIMIT = 64  # bytes of callback_data
LONG_DATA_PREFIX = "~"  # callback_data standing for longer data kept in this process
# Edits are not asked for: an edited message is not a new answer, and journals must not fill twice.
# Channel posts are asked for so that a channel the bot was added to hears, once per post, that
# Waymark works in private chats only (nothing from it is stored).
ALLOWED_UPDATES = ["message", "callback_query", "channel_post", "my_chat_member"]
MAX_ATTEMPTS = 5
DB_THREADS = 16  # PostgreSQL: below the engine's pool (10 + 20 overflow)
MENUS_REMEMBERED = 100_000  # chats whose "/" menu this process remembers setting
UNLIMITED_WAITING = 2**31  # python-telegram-bot's own update semaphore: never the limit (see ChatOrderedProcessor)
NETWORK_BACKOFF = (0.5, 1.0, 2.0, 4.0)
EMPTY_TEXT_WITH_BUTTONS = "Pick one:"
EXPIRED_BUTTON = "That button is too old to use now. Send /help to see what you can do."
ATTACHMENT_KINDS = (
    "photo",
    "sticker",
    "voice",
    "video",
    "video_note",
    "audio",
    "document",
    "animation",
    "contact",
    "location",
    "venue",
    "poll",
    "dice",
)
# Unrecoverable for a chat: Telegram will refuse every later message too.
UNREACHABLE_PHRASES = (
    "bot was blocked by the user",
    "user is deactivated",
    "bot can't initiate conversation",
    "chat not found",
    "bot was kicked",
    "not enough rights to send",
)

T = TypeVar("T")


# ---------------------------------------------------------------------------- pure rendering rules


def units(text: str) -> int:
    """Length as Telegram counts it: UTF-16 code units (an emoji outside the BMP counts 2)."""
    return len(text.encode("utf-16-le")) // 2


def split_text(text: str, limit: int = TEXT_LIMIT) -> list[str]:
    """Cut a long text into messages of at most `limit`, at a paragraph, line or word if there is one."""
    if units(text) <= limit:
        return [text] if text else []
    parts: list[str] = []
    rest = text
    while units(rest) > limit:
        head = _prefix_within(rest, limit)
        cut = _best_break(head)
        piece, rest = rest[:cut].rstrip(), rest[cut:].lstrip("\n ")
        if piece:
            parts.append(piece)
    if rest.strip():
        parts.append(rest)
    return parts


def _prefix_within(text: str, limit: int) -> str:
    """The longest prefix of `text` within `limit` code units (never half an emoji)."""
    count = 0
    for index, char in enumerate(text):
        count += 2 if ord(char) > 0xFFFF else 1
        if count > limit:
            return text[:index]
    return text


def _best_break(head: str) -> int:
    """Where to cut `head`: after the last paragraph, line or space in its second half, else its end."""
    floor = len(head) // 2
    for sep in ("\n\n", "\n", " "):
        at = head.rfind(sep)
        if at > floor:
            return at + len(sep)
    return len(head)


def is_unreachable(error: TelegramError) -> bool:
    """403 blocked / deactivated / can't initiate, 400 chat not found: never worth retrying."""
    message = error.message.lower()
    if isinstance(error, Forbidden):
        return True
    return isinstance(error, BadRequest) and any(p in message for p in UNREACHABLE_PHRASES)


def retry_seconds(error: RetryAfter) -> float:
    wait = error.retry_after
    return wait.total_seconds() if isinstance(wait, timedelta) else float(wait)


class ButtonData:
    """callback_data is limited to 64 bytes: longer button data travels as a short token.

    The token is a hash of the data, kept in a bounded map in this process. A press of a token the
    process no longer knows (after a restart) is answered "too old", never guessed at.
    """

    def __init__(self, capacity: int = 20_000) -> None:
        self.capacity = capacity
        self._long: OrderedDict[str, str] = OrderedDict()

    def encode(self, data: str) -> str:
        if len(data.encode("utf-8")) <= CALLBACK_LIMIT and not data.startswith(LONG_DATA_PREFIX):
            return data
        token = LONG_DATA_PREFIX + hashlib.sha256(data.encode("utf-8")).hexdigest()[:40]
        self._long[token] = data
        self._long.move_to_end(token)
        while len(self._long) > self.capacity:
            self._long.popitem(last=False)
        return token

    def decode(self, raw: str) -> str | None:
        if not raw.startswith(LONG_DATA_PREFIX):
            return raw
        return self._long.get(raw)


def keyboard(buttons: list[list[Button]], codec: ButtonData) -> InlineKeyboardMarkup | None:
    rows = [[InlineKeyboardButton(b.label[:200], callback_data=codec.encode(b.data)) for b in row] for row in buttons]
    rows = [row for row in rows if row]
    return InlineKeyboardMarkup(rows) if rows else None


def keyboard_data(markup: InlineKeyboardMarkup | None) -> frozenset[str]:
    if markup is None:
        return frozenset()
    return frozenset(str(b.callback_data) for row in markup.inline_keyboard for b in row if b.callback_data)


def to_incoming(update: Update, codec: ButtonData) -> Incoming | None:
    """The neutral message for an update; None for updates that carry nothing to answer."""
    update_id = str(update.update_id)
    query = update.callback_query
    if query is not None:
        message = query.message
        chat = message.chat if message is not None else None
        chat_id = str(chat.id) if chat is not None else str(query.from_user.id)
        return Incoming(
            platform=PLATFORM,
            chat_id=chat_id,
            user_id=str(query.from_user.id),
            button=codec.decode(query.data or "") if query.data is not None else None,
            update_id=update_id,
            chat_type=_chat_type(chat.type if chat else "private"),
        )
    # A channel post has no sender: it becomes an Incoming of chat type "channel", which dispatch
    # answers with "private chats only" before storing anything.
    message = update.message or update.channel_post
    if message is None:
        return None
    sender = message.from_user
    user_id = str(sender.id) if sender is not None else str(message.chat.id)
    attachment = next((kind for kind in ATTACHMENT_KINDS if getattr(message, kind, None)), None)
    text = message.text if message.text is not None else message.caption
    if attachment and message.caption is not None:
        text = None  # a caption is not an answer we can trust the person meant as one
    return Incoming(
        platform=PLATFORM,
        chat_id=str(message.chat.id),
        user_id=user_id,
        text=text,
        update_id=update_id,
        chat_type=_chat_type(message.chat.type),
        attachment=attachment,
    )


def _chat_type(kind: str) -> str:
    return {"private": "private", "channel": "channel"}.get(kind, "group")


def bot_commands(roles: set[str]) -> list[BotCommand]:
    """The "/" menu for a person with these roles (Telegram: lowercase names, short descriptions)."""
    return [BotCommand(c.name, c.summary[:256] or c.name) for c in commands_for(roles) if c.name.isascii()]


def base_urls(configured: str | None) -> tuple[str, str] | None:
    """TELEGRAM_API_BASE_URL as python-telegram-bot wants it: `http://host:8081` and `.../bot` both work."""
    if not configured:
        return None
    url = configured.rstrip("/")
    if "{token}" in url:
        return url, url.replace("/bot", "/file/bot", 1)
    root = url.removesuffix("/bot")
    return f"{root}/bot", f"{root}/file/bot"


# ---------------------------------------------------------------------------- ordering


class ChatOrderedProcessor(BaseUpdateProcessor):
    """Different chats concurrently, one chat strictly in arrival order.

    python-telegram-bot takes one of its concurrency slots *before* it calls `do_process_update`,
    so a chat's updates waiting for their turn there would hold slots: a chat that sends faster
    than it is answered could fill every slot and stall every other chat. Here that semaphore is
    given no effective limit and the real slots (`max_slots`) are taken only by the update at the
    head of its chat's line, for as long as it is processed. A chat's waiting updates cost a task
    each (they did before too) and no slot.

    `expect(update)` gives a future that completes once that update has been processed (the
    webhook answers Telegram only then).
    """

    def __init__(self, max_concurrent_updates: int = 64) -> None:
        super().__init__(UNLIMITED_WAITING)
        self.max_slots = max_concurrent_updates
        self._slots = asyncio.Semaphore(max_concurrent_updates)
        self._locks: dict[int, asyncio.Lock] = {}
        self._users: dict[int, int] = {}
        self._expected: dict[int, tuple[object, asyncio.Future[None]]] = {}

    def expect(self, update: object) -> asyncio.Future[None]:
        """A future resolved when `update` (this very object) has been processed, however it ended."""
        future: asyncio.Future[None] = asyncio.get_running_loop().create_future()
        self._expected[id(update)] = (update, future)  # holding `update` keeps its id() unique
        return future

    def forget(self, update: object) -> None:
        self._expected.pop(id(update), None)

    async def do_process_update(self, update: object, coroutine: Awaitable[Any]) -> None:
        chat = update.effective_chat if isinstance(update, Update) else None
        try:
            if chat is None:
                async with self._slots:
                    await coroutine
                return
            key = chat.id
            lock = self._locks.setdefault(key, asyncio.Lock())
            self._users[key] = self._users.get(key, 0) + 1
            try:
                # First in line for this chat (asyncio.Lock wakes its waiters in order), then a slot
                # shared with the other chats: only the head of each chat's line ever holds one.
                async with lock, self._slots:
                    await coroutine
            finally:
                self._users[key] -= 1
                if not self._users[key]:  # nobody else waiting: forget the chat, keep memory flat
                    del self._users[key]
                    del self._locks[key]
        finally:
            expected = self._expected.pop(id(update), None)
            if expected is not None and not expected[1].done():
                expected[1].set_result(None)

    async def initialize(self) -> None:
        return None

    async def shutdown(self) -> None:
        return None


# ---------------------------------------------------------------------------- sending


class Unreachable(Exception):
    """Telegram will never deliver to this chat (blocked, deactivated, not found)."""


class FloodGate:
    """Telegram's 429 speaks for the whole bot: once one reply is told to wait, every reply waits.

    Without it, each reply in hand would try once more, get its own 429 and wait on its own, so the
    bot kept knocking at the rate Telegram had just refused. One gate per Application; the outbox
    sender has its own pause (scheduler.sender.Pacer).
    """

    def __init__(self) -> None:
        self.open_at = 0.0  # time.monotonic() before which nothing is sent

    def close_for(self, seconds: float) -> None:
        self.open_at = max(self.open_at, time.monotonic() + seconds)

    async def wait(self) -> None:
        while (left := self.open_at - time.monotonic()) > 0:
            await asyncio.sleep(left)


async def call_with_retry(make: Callable[[], Awaitable[T]], *, what: str = "send", gate: FloodGate | None = None) -> T:
    """Run one Bot API call, waiting out 429s and retrying network errors; raise Unreachable or the error.

    With a `gate`, the call first waits for any 429 pause another call was given, and a 429 it gets
    pauses every call that shares the gate.
    """
    for attempt in range(MAX_ATTEMPTS):
        try:
            if gate is not None:
                await gate.wait()
            return await make()
        except RetryAfter as exc:
            wait = retry_seconds(exc)
            log.warning("telegram flood control on %s: waiting %.1fs", what, wait)
            if gate is not None:
                gate.close_for(wait)
            else:
                await asyncio.sleep(wait)
        except (BadRequest, Forbidden) as exc:
            if is_unreachable(exc):
                raise Unreachable(exc.message) from exc
            raise
        except (TimedOut, NetworkError) as exc:
            if attempt == MAX_ATTEMPTS - 1:
                raise
            wait = NETWORK_BACKOFF[min(attempt, len(NETWORK_BACKOFF) - 1)]
            log.warning("telegram network error on %s (%s): retrying in %.1fs", what, exc.message, wait)
            await asyncio.sleep(wait)
    if gate is not None:
        await gate.wait()
    return await make()  # the last word after repeated flood control


@dataclass
class Renderer:
    """Sends neutral replies to one chat as Telegram messages, photos and documents."""

    bot: Bot
    codec: ButtonData = field(default_factory=ButtonData)
    gate: FloodGate | None = None  # shared by every reply of one Application

    async def send(self, chat_id: int | str, reply: Reply) -> list[Message]:
        markup = keyboard(reply.buttons, self.codec)
        text = reply.text
        sent: list[Message] = []
        if reply.image is not None or reply.file is not None:
            caption = text if text and units(text) <= CAPTION_LIMIT else None
            if text and caption is None:
                sent += await self._text(chat_id, text, None)
            sent.append(await self._media(chat_id, reply, caption, markup))
            return sent
        if not text.strip():
            if markup is None:
                return []
            text = EMPTY_TEXT_WITH_BUTTONS
        return await self._text(chat_id, text, markup)

    async def _text(self, chat_id: int | str, text: str, markup: InlineKeyboardMarkup | None) -> list[Message]:
        parts = split_text(text)
        sent: list[Message] = []
        for index, part in enumerate(parts):
            buttons = markup if index == len(parts) - 1 else None

            def send(part: str = part, buttons: InlineKeyboardMarkup | None = buttons) -> Awaitable[Message]:
                # No parse mode: people's own words (<, &, *, _) arrive exactly as they were typed.
                return self.bot.send_message(chat_id, part, reply_markup=buttons)

            sent.append(await call_with_retry(send, what="sendMessage", gate=self.gate))
        return sent

    async def _media(
        self, chat_id: int | str, reply: Reply, caption: str | None, markup: InlineKeyboardMarkup | None
    ) -> Message:
        if reply.image is not None:
            image = InputFile(reply.image, filename=reply.image_name)
            return await call_with_retry(
                lambda: self.bot.send_photo(chat_id, image, caption=caption, reply_markup=markup),
                what="sendPhoto",
                gate=self.gate,
            )
        assert reply.file is not None
        document = InputFile(reply.file, filename=reply.file_name, attach=False)
        return await call_with_retry(
            lambda: self.bot.send_document(chat_id, document, caption=caption, reply_markup=markup),
            what="sendDocument",
            gate=self.gate,
        )

    async def edit(self, message: Message, reply: Reply) -> bool:
        """Show `reply` in place of the bot's `message` (a question whose buttons changed)."""
        if units(reply.text) > TEXT_LIMIT or not reply.text.strip() or reply.image or reply.file:
            return False
        try:
            await call_with_retry(
                lambda: self.bot.edit_message_text(
                    reply.text,
                    chat_id=message.chat.id,
                    message_id=message.message_id,
                    reply_markup=keyboard(reply.buttons, self.codec),
                ),
                what="editMessageText",
                gate=self.gate,
            )
        except BadRequest as exc:
            # "message is not modified" or too old to edit: the edit was only a nicety.
            log.debug("edit refused: %s", exc.message)
            return "not modified" in exc.message.lower()
        return True

    async def settle(self, message: Message, chosen: str | None) -> None:
        """Take the buttons off a question once answered, noting the choice under it."""
        try:
            if message.text and chosen and units(message.text) + units(chosen) + 4 <= TEXT_LIMIT:
                await call_with_retry(
                    lambda: self.bot.edit_message_text(
                        f"{message.text}\n\n» {chosen}", chat_id=message.chat.id, message_id=message.message_id
                    ),
                    what="editMessageText",
                    gate=self.gate,
                )
            elif message.reply_markup is not None:
                await call_with_retry(
                    lambda: self.bot.edit_message_reply_markup(
                        chat_id=message.chat.id, message_id=message.message_id, reply_markup=None
                    ),
                    what="editMessageReplyMarkup",
                    gate=self.gate,
                )
        except BadRequest as exc:
            log.debug("could not settle pressed message: %s", exc.message)


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
        except RetryAfter as exc:
            return SendOutcome(Delivery.retry, retry_seconds(exc), exc.message, rest_after(text, parts, done))
        except (BadRequest, Forbidden) as exc:
            if is_unreachable(exc):
                return SendOutcome(Delivery.unreachable, error=exc.message)
            return SendOutcome(Delivery.failed, error=exc.message)
        except (TimedOut, NetworkError) as exc:  # includes 5xx answers
            return SendOutcome(Delivery.retry, error=exc.message, remaining_text=rest_after(text, parts, done))
        except TelegramError as exc:
            return SendOutcome(Delivery.failed, error=exc.message)
        return SendOutcome(Delivery.sent)


def rest_after(text: str, parts: list[str], done: int) -> str | None:
    """What is left of `text` once its first `done` parts (from split_text) went out; None if none did."""
    if done <= 0 or done >= len(parts):
        return None
    at = 0
    for part in parts[:done]:  # parts are pieces of the text, in order, with whitespace between
        found = text.find(part, at)
        if found < 0:
            return "\n".join(parts[done:])
        at = found + len(part)
    start = text.find(parts[done], at)
    return text[start:] if start >= 0 else "\n".join(parts[done:])


# ---------------------------------------------------------------------------- the adapter


class TelegramAdapter:
    """Turns updates into `dispatch` calls and replies into Bot API calls."""

    def __init__(self, dispatcher: Dispatcher, db_threads: int | None = None) -> None:
        self.dispatcher = dispatcher
        self.codec = ButtonData()
        self.gate = FloodGate()
        # chat -> roles its "/" menu was last set for, in this process (bounded: least recent go first)
        self._menus: OrderedDict[int, frozenset[str]] = OrderedDict()
        # SQLite has one writer: threads queueing on its lock sleep in its busy handler (measured p99
        # ~2 s at 32 chats), so one thread writes there; PostgreSQL gets as many as its pool allows.
        if db_threads is None:
            db_threads = 1 if dispatcher.engine.dialect.name == "sqlite" else DB_THREADS
        self._db = ThreadPoolExecutor(max_workers=db_threads, thread_name_prefix="waymark-telegram-db")

    async def _in_db_thread(self, func: Callable[..., T], *args: Any) -> T:
        return await asyncio.get_running_loop().run_in_executor(self._db, func, *args)

    def close(self) -> None:
        self._db.shutdown(wait=True)

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
        replies, roles = await self._in_db_thread(self._dispatch, incoming)
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
            await self._in_db_thread(self._mark_unreachable, incoming.chat_id, str(exc))
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
        if replies and replies[0].buttons and shown is not None:
            fresh = frozenset(self.codec.encode(b.data) for row in replies[0].buttons for b in row)
            if fresh == keyboard_data(shown) and await renderer.edit(pressed, replies[0]):
                return replies[1:]
        label = _label_for(shown, self.codec, data)
        await renderer.settle(pressed, label)
        return replies

    async def _on_member_change(self, update: Update) -> None:
        """A person who blocks the bot shows up as "kicked": stop the outbox trying them at once."""
        change = update.my_chat_member
        if change is None or change.chat.type != "private":
            return
        if change.new_chat_member.status == "kicked":
            await self._in_db_thread(self._mark_unreachable, str(change.chat.id), "bot was blocked by the user")

    def _mark_unreachable(self, chat_id: str, reason: str) -> None:
        with transaction(self.dispatcher.engine) as session:
            identities.mark_unreachable(session, PLATFORM, chat_id, reason[:200], utcnow())

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


# ---------------------------------------------------------------------------- webhook


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

    def attach(self, application: Application[Any, Any, Any, Any, Any, Any], secret: str) -> None:
        self.application, self.secret = application, secret

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
            update = Update.de_json(data, application.bot)
        except (ValueError, TypeError, KeyError) as exc:
            return web.Response(status=400, text=f"not a Telegram update: {exc}")
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


# ---------------------------------------------------------------------------- start and stop


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
        .get_updates_request(AiohttpRequest(1))
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


def webhook_secret(settings: Settings) -> str:
    """TELEGRAM_WEBHOOK_SECRET, or one made from the token (stable across restarts and processes)."""
    if settings.telegram_webhook_secret:
        return settings.telegram_webhook_secret
    assert settings.telegram_bot_token
    return hmac.new(b"waymark-webhook", settings.telegram_bot_token.encode(), hashlib.sha256).hexdigest()


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
                    f"the HTTP server started before {WEBHOOK_PATH} was mounted: call bot.telegram.mount_webhook(app) "
                    "before starting it"
                )
            receiver = mount_webhook(http_app)
    await application.initialize()
    await application.bot.set_my_commands(bot_commands(set()), scope=BotCommandScopeDefault())
    await application.start()
    database = dispatcher.engine.url.render_as_string(hide_password=True)
    if webhook_url and receiver is not None:
        secret = webhook_secret(settings)
        receiver.attach(application, secret)
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


def new_secret() -> str:
    """A value for TELEGRAM_WEBHOOK_SECRET (Telegram allows A-Z, a-z, 0-9, _ and -, up to 256)."""
    return secrets.token_urlsafe(48)


__all__: Sequence[str] = (
    "ButtonData",
    "ChatOrderedProcessor",
    "FloodGate",
    "Renderer",
    "TelegramAdapter",
    "TelegramTransport",
    "WebhookReceiver",
    "build_application",
    "mount_webhook",
    "open_transport",
    "split_text",
    "start_telegram",
    "to_incoming",
)
