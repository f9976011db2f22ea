"""Say something as a person and read the reply: whole conversations through `dispatch`."""

from __future__ import annotations

import itertools
from datetime import UTC, datetime

from handlers import Dispatcher, Incoming, Reply

_update_ids = itertools.count(1)
FIXED_NOW = datetime(2026, 11, 23, 10, 0, tzinfo=UTC)  # a Monday in term time
BUTTON_DATA_LIMIT = 64  # bytes: Telegram's callback_data limit


class Chat:
    """One chat account talking to the bot, keeping the last replies so a test can press their buttons."""

    def __init__(self, dispatcher: Dispatcher, user_id: str, platform: str = "console") -> None:
        self.dispatcher = dispatcher
        self.user_id = user_id
        self.platform = platform
        self.last: list[Reply] = []
        self.sent = 0  # every message typed and every button pressed: the effort a job takes

    def _send(self, **fields: object) -> list[Reply]:
        incoming = Incoming(
            platform=self.platform,
            chat_id=self.user_id,
            user_id=self.user_id,
            update_id=str(next(_update_ids)),
            **fields,  # type: ignore[arg-type]
        )
        self.sent += 1
        self.last = self.dispatcher.dispatch(incoming)
        for reply in self.last:
            for row in reply.buttons:
                for button in row:
                    # Telegram carries 64 bytes of button data; longer data would live only in one
                    # process's memory (bot/channels/telegram/rendering.py, ButtonData) and die with a restart.
                    assert len(button.data.encode("utf-8")) <= BUTTON_DATA_LIMIT, (
                        f"button data too long: {button.data!r}"
                    )
        return self.last

    def say(self, text: str) -> list[Reply]:
        return self._send(text=text)

    def send_photo(self) -> list[Reply]:
        return self._send(attachment="photo")

    def press(self, label: str) -> list[Reply]:
        """Press the button with this label (or data) among the last replies."""
        for reply in self.last:
            for row in reply.buttons:
                for button in row:
                    if label in (button.label, button.data):
                        return self._send(button=button.data)
        shown = [b.label for r in self.last for row in r.buttons for b in row]
        raise AssertionError(f"no button {label!r} among {shown}")

    def press_data(self, data: str) -> list[Reply]:
        """Send button data as a forged client could, whether or not it was offered."""
        return self._send(button=data)

    @property
    def text(self) -> str:
        """Everything the last replies said, joined."""
        return "\n".join(r.text for r in self.last)

    def buttons(self) -> list[str]:
        return [b.label for r in self.last for row in r.buttons for b in row]


class Clock:
    """A clock a test sets by hand (`clock.now = ...`, `clock.now += ...`); the dispatcher calls it."""

    def __init__(self, now: datetime = FIXED_NOW) -> None:
        self.now = now

    def __call__(self) -> datetime:
        return self.now
