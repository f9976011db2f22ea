"""Hostile input on every channel's adapter: random Unicode, control characters, huge and odd
numbers, and forged button data, typed as text, as every command's argument and as button presses,
each through the channel's own parsing and rendering code, in-process (no server per example):

- Telegram: the raw update JSON read by python-telegram-bot (`Update.de_json`), screened as a
  getUpdates batch, turned into an `Incoming` (`to_incoming`), replies drawn as inline keyboards
  and messages cut to Telegram's limit;
- Slack: message events, `/waymark` commands and block-action bodies through the adapter's event
  readers, replies drawn as Block Kit;
- the web chat: WebSocket frames through `Live._on_message` on a real (unopened) WebSocket, the
  transcript drawn as the chat page and the JSON the socket sends;
- the terminal: lines through `ConsoleChat.handle`.

No exception may escape, nothing may be logged at ERROR, and no transcript line may hold a
character the databases refuse. WAYMARK_TEST_EXAMPLES sets how many (2,000 by default).
"""

from __future__ import annotations

import asyncio
import io
import json
import logging
import os
from collections.abc import Iterator
from dataclasses import dataclass
from datetime import UTC, datetime
from typing import Any

import pytest
from aiohttp import web
from hypothesis import HealthCheck, given, settings
from hypothesis import strategies as st
from sqlalchemy import Engine, event
from sqlmodel import select
from telegram import Update

from bot.channels.console import ConsoleChat
from bot.channels.slack.events import command_text, message_incoming, press_incoming
from bot.channels.slack.rendering import messages_for
from bot.channels.telegram.rendering import ButtonData, keyboard, split_text, to_incoming
from bot.channels.telegram.unreadable import screen_batch
from bot.channels.web import pages
from bot.channels.web.live import Connection, Live
from bot.channels.web.session import Sessions
from core.characters import has_refused_characters
from core.messages import Incoming
from core.settings import load_settings
from handlers import Dispatcher
from storage import crypto, seed
from storage.db import transaction
from storage.models import Person, StaffRole, TranscriptLine
from tests.test_properties import COMMAND_NAMES, FORGED

EXAMPLES = int(os.environ.get("WAYMARK_TEST_EXAMPLES", "2000"))
NOW = datetime(2026, 11, 23, 10, 0, tzinfo=UTC)
CHANNELS = ("telegram", "slack", "web", "console")
WHO = ("pupil", "tutor", "leader", "dsl", "stranger")

numbers = st.one_of(
    st.integers(-(10**30), 10**30).map(str),
    st.sampled_from(["²", "¹²", "٣", "１２", "1_000", "0x10", "1e9", "9" * 40, "-0", "+1", "NaN", "∞"]),
)
hostile_text = st.one_of(
    st.text(max_size=40),  # every code point but lone surrogates, control characters included
    st.text(alphabet=st.characters(categories=["Cc", "Cf", "Zl", "Zp", "Mn"]), max_size=12),
    numbers,
    st.sampled_from(
        ["\x00", "a\x00b", "\ud800x", "\u202ehidden", "\u200b", "x" * 4001, "$\\undefinedmacro{x}$", "=1+1"]
    ),
)
argument = st.one_of(hostile_text, st.builds(lambda n: f"done {n}", numbers), st.sampled_from(["", "2", "done 1"]))
typed_command = st.builds(lambda n, a: f"/{n} {a}", st.sampled_from(COMMAND_NAMES), argument)
forged_button = st.one_of(
    st.sampled_from(FORGED).map(lambda f: f.format(action=9, app=9, advice=9, person=9, concern=9)),
    st.builds(lambda f, n: f.split(":")[0] + ":" + n, st.sampled_from(FORGED), numbers),
    hostile_text,
)
message = st.one_of(
    st.tuples(st.just("text"), st.one_of(hostile_text, typed_command)),
    st.tuples(st.just("button"), forged_button),
)


class ErrorLog(logging.Handler):
    def __init__(self) -> None:
        super().__init__(logging.ERROR)
        self.records: list[logging.LogRecord] = []

    def emit(self, record: logging.LogRecord) -> None:
        self.records.append(record)


@dataclass
class School:
    engine: Engine
    dispatcher: Dispatcher
    people: dict[str, Person]
    live: Live
    loop: asyncio.AbstractEventLoop
    codec: ButtonData
    consoles: dict[str, tuple[ConsoleChat, io.StringIO]]


def linked_id(channel: str, who: str) -> str:
    return {"telegram": "7000", "slack": "U", "web": "web-", "console": "console-"}[channel] + str(WHO.index(who) + 1)


def _no_fsync(dbapi_connection: Any, _record: Any) -> None:
    dbapi_connection.execute("PRAGMA synchronous=OFF")  # thousands of commits, none of them precious


@pytest.fixture
def school(sqlite_only: Engine) -> Iterator[School]:
    event.listen(sqlite_only, "connect", _no_fsync)
    sqlite_only.dispose()
    sch = seed.school(sqlite_only)
    tutor = seed.staff(sqlite_only, sch.id, "Sam", "Patel", role=StaffRole.tutor)
    people = {
        "pupil": seed.pupil(sqlite_only, sch.id, "Amira", "Khan", tutor_id=tutor.id),
        "tutor": tutor,
        "leader": seed.staff(sqlite_only, sch.id, "Lee", "Morgan", role=StaffRole.leader),
        "dsl": seed.staff(sqlite_only, sch.id, "Dee", "Lead", role=StaffRole.dsl),
    }
    for channel in ("telegram", "slack", "web"):
        for who, person in people.items():
            seed.link(sqlite_only, person, channel, linked_id(channel, who))
    settings = load_settings(database_url="sqlite://", encryption_key=crypto.new_key())
    dispatcher = Dispatcher(sqlite_only, settings, clock=lambda: NOW)
    loop = asyncio.new_event_loop()
    live = Live(dispatcher, Sessions(sqlite_only, dispatcher.clock, "http://127.0.0.1"))
    consoles = {}
    for who, person in people.items():
        out = io.StringIO()
        assert person.id is not None
        consoles[who] = (ConsoleChat(dispatcher, person.id, stdout=out), out)
    yield School(sqlite_only, dispatcher, people, live, loop, ButtonData(), consoles)
    loop.close()


# --- one message through one channel's adapter ---------------------------------------------------------


def via_telegram(school: School, who: str, kind: str, value: str, update_id: int) -> None:
    chat = {"id": int(linked_id("telegram", who)), "type": "private", "first_name": "P"}
    sender = {"id": chat["id"], "is_bot": False, "first_name": "P"}
    shown = {"message_id": 1, "date": 0, "chat": chat, "from": sender, "text": "?"}
    if kind == "text":
        raw: dict[str, Any] = {"update_id": update_id, "message": {**shown, "text": value}}
    else:  # Telegram carries at most 64 bytes of callback data; a forged client sends what it likes
        query = {"id": str(update_id), "from": sender, "chat_instance": "1", "data": value, "message": shown}
        raw = {"update_id": update_id, "callback_query": query}
    screened, bad = screen_batch(json.dumps({"ok": True, "result": [raw]}).encode())
    assert not bad and json.loads(screened)["result"] == [raw]
    update = Update.de_json(raw, None)
    assert update is not None
    incoming = to_incoming(update, school.codec)
    assert incoming is not None
    for reply in school.dispatcher.dispatch(incoming):
        keyboard(reply.buttons, school.codec)
        assert all(part for part in split_text(reply.text)) or not reply.text


def via_slack(school: School, who: str, kind: str, value: str, update_id: int) -> None:
    user = linked_id("slack", who)
    channel = "D" + user
    incoming: Incoming | None
    if kind == "button":
        body = {"user": {"id": user}, "channel": {"id": channel}, "trigger_id": f"t{update_id}"}
        incoming = press_incoming({**body, "actions": [{"action_id": "wm:0", "value": value}]})
    elif value.startswith("/"):  # typed after /waymark
        incoming = Incoming("slack", channel, user, text=command_text(value[1:]), update_id=f"command:{update_id}")
    else:
        event = {"type": "message", "user": user, "text": value, "channel": channel, "channel_type": "im"}
        incoming = message_incoming(event, f"Ev{update_id}")
    assert incoming is not None
    for reply in school.dispatcher.dispatch(incoming):
        messages_for(reply.text, reply.buttons)


def via_web(school: School, who: str, kind: str, value: str, update_id: int) -> None:
    external_id = linked_id("web", who)
    frame = json.dumps({kind: value, "mid": f"m{update_id}"})
    conn = Connection(web.WebSocketResponse(), external_id, 0, "", 0)  # never opened: sends go nowhere
    conn.checked_at = float("inf")  # no session to recheck: the frame is what is under test

    async def run() -> None:
        assert await school.live._on_message(conn, frame) in (True, False)

    school.loop.run_until_complete(run())
    with transaction(school.engine, write=False) as s:
        lines = list(s.exec(select(TranscriptLine).where(TranscriptLine.identity_key == f"web:{external_id}")))
    views = pages.line_views(lines[-6:], {}, school.dispatcher.settings.keyring)
    json.dumps([v.as_json() for v in views], ensure_ascii=False).encode("utf-8")
    pages.chat_page("Test Academy", "Amira", "csrf", views, "nonce", max_text=4000).encode("utf-8")


def via_console(school: School, who: str, kind: str, value: str, update_id: int) -> None:
    if who == "stranger":
        return  # the terminal is opened as a person by the administrator: there are no strangers
    chat, out = school.consoles[who]
    line = value.replace("\n", " ").replace("\r", " ")
    if kind == "button":
        chat.show(chat.send(button=value))
    else:
        chat.handle(line)
    out.seek(0)
    out.truncate()


VIA = {"telegram": via_telegram, "slack": via_slack, "web": via_web, "console": via_console}


def test_no_exception_escapes_any_channel(school: School) -> None:
    errors = ErrorLog()
    logging.getLogger().addHandler(errors)
    counter = iter(range(1, 10**9))
    try:

        @settings(
            max_examples=EXAMPLES,
            deadline=None,
            database=None,
            suppress_health_check=[HealthCheck.too_slow, HealthCheck.data_too_large],
        )
        @given(st.sampled_from(CHANNELS), st.sampled_from(WHO), message)
        def one(channel: str, who: str, sent: tuple[str, str]) -> None:
            kind, value = sent
            VIA[channel](school, who, kind, value, next(counter))
            assert not errors.records, [r.getMessage() for r in errors.records]

        one()
    finally:
        logging.getLogger().removeHandler(errors)
    with transaction(school.engine, write=False) as s:
        shown = s.exec(select(TranscriptLine.text)).all()
    assert shown and not any(has_refused_characters(text) for text in shown)
