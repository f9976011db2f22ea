"""Telegram's shape of a message: neutral replies as texts, inline keyboards, photos and files, and
updates as neutral `Incoming`s. Pure rules, and the `Renderer` that sends one chat's replies."""

from __future__ import annotations

import hashlib
import logging
from collections import OrderedDict
from collections.abc import Awaitable
from dataclasses import dataclass, field

from telegram import (
    Bot,
    BotCommand,
    InlineKeyboardButton,
    InlineKeyboardMarkup,
    InputFile,
    Message,
    Update,
)
from telegram.error import BadRequest

from bot.channels.retry import FloodGate
from bot.channels.telegram.errors import call_with_retry
from bot.channels.text import EMPTY_TEXT_WITH_BUTTONS
from bot.channels.text import split_text as split_measured
from core.labels import shorten
from core.messages import DANGER, PRIMARY, Button, Incoming, Reply
from core.platforms import PLATFORMS, Platform
from handlers.menus import commands_for

log = logging.getLogger("waymark.telegram")

PLATFORM = Platform.telegram.value
_LIMIT = PLATFORMS[PLATFORM].text_limit
assert _LIMIT is not None
TEXT_LIMIT: int = _LIMIT  # Telegram's limit for one message, in UTF-16 code units
CAPTION_LIMIT = 1024
CALLBACK_LIMIT = 64  # bytes of callback_data
LABEL_LIMIT = 64  # characters of a button's text: Telegram sets none, but longer ones are cut mid-word by the app
# Inline button styles (Telegram apps from February 2026; older ones show the button plain, so the
# label must say it all).
TELEGRAM_STYLES = {PRIMARY, DANGER}
LONG_DATA_PREFIX = "~"  # callback_data standing for longer data kept in this process
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


def units(text: str) -> int:
    """Length as Telegram counts it: UTF-16 code units (an emoji outside the BMP counts 2)."""
    return len(text.encode("utf-16-le")) // 2


def split_text(text: str, limit: int = TEXT_LIMIT) -> list[str]:
    """Cut a long text into Telegram messages of at most `limit` UTF-16 units (never half an emoji)."""
    return split_measured(text, limit, units)


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
    rows = [
        [
            InlineKeyboardButton(
                shorten(b.label, LABEL_LIMIT) or "\u2026",
                callback_data=codec.encode(b.data),
                style=b.style if b.style in TELEGRAM_STYLES else None,
            )
            for b in row
        ]
        for row in buttons
    ]
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
