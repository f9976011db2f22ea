"""The same journeys on every channel: each driven through its real library and its real wire.

Telegram: python-telegram-bot in webhook mode against the fake Bot API (a webhook POST is answered
only once its update is handled, so every reply is in by then). Slack: slack-bolt on Waymark's HTTP
server, signed requests, the real slack-sdk client against the fake Web API. The web chat: only
HTTP, as a browser (`/signin`, `/send`, the WebSocket) on `bot.http`. The terminal: `ConsoleChat`
with its output captured.

Each journey asks a driver what the platform offers (a group chat, redelivered updates, linking
by code) and skips, saying why, where the platform has no such thing. Limits and names come from
`core.platforms.PLATFORMS`, the same table the channels read.
"""

from __future__ import annotations

import asyncio
import io
import itertools
import json
import re
from collections.abc import AsyncIterator, Callable
from contextlib import asynccontextmanager
from dataclasses import dataclass, field
from datetime import date
from typing import Any, Protocol

import pytest
from sqlalchemy import Engine, func
from sqlmodel import select

from bot.channels.console import ConsoleChat
from bot.channels.telegram.rendering import units
from bot.http import BOUND_PORTS, start_http
from core.platforms import PLATFORMS
from core.settings import load_settings
from handlers import Dispatcher
from storage import identities, seed
from storage.db import transaction
from storage.models import AdviceRecord, JournalEntry, Person, StaffRole
from tests.fakes.slack_api import FakeSlack
from tests.fakes.telegram_api import FakeTelegram
from tests.test_slack import Running
from tests.test_slack import running as slack_running
from tests.test_telegram import SENDS, webhook_mode
from tests.web_client import Browser

SIXTH_FORMER_DOB = date(2007, 9, 1)  # 16 or over on any date these tests run
# A journal entry no chat message takes whole: over Slack's 3,000 escaped characters and, with its
# emoji counting two, over Telegram's 4,096 UTF-16 units; under the engine's 4,000 characters.
LONG_ENTRY = ("🐾🐾🐾 vet & " * 390).strip()
REFLECTION = "Work experience at the vet"


class Driver(Protocol):
    """One channel, as people meet it. `who` is "pupil", "tutor" or "stranger"."""

    platform: str
    measure: Callable[[str], int]  # how the platform counts one message's length
    links_by_code: bool
    has_groups: bool
    has_redelivery: bool

    async def enrol(self, who: str, person: Person, code: str) -> list[str]: ...
    async def say(self, who: str, text: str) -> list[str]: ...
    async def press(self, who: str, label: str) -> list[str]: ...
    async def say_in_group(self, who: str, text: str) -> list[str]: ...
    async def say_twice(self, who: str, text: str) -> tuple[list[str], list[str]]: ...


# ---------------------------------------------------------------------------- Telegram


@dataclass
class TelegramDriver:
    fake: FakeTelegram
    platform: str = "telegram"
    measure: Callable[[str], int] = units
    links_by_code: bool = True
    has_groups: bool = True
    has_redelivery: bool = True
    chats: dict[str, int] = field(default_factory=lambda: {"pupil": 70001, "tutor": 80001, "stranger": 90001})

    async def _deliver(self, chat_id: int, update: dict[str, Any]) -> list[str]:
        mark = self.fake.mark()
        assert await self.fake.deliver_webhook(update) == 200  # answered once handled, replies sent
        return [c.text for c in self.fake.calls_to(chat_id, SENDS, since=mark)]

    async def enrol(self, who: str, person: Person, code: str) -> list[str]:
        return await self.say(who, f"/start {code}")

    async def say(self, who: str, text: str) -> list[str]:
        chat = self.chats[who]
        return await self._deliver(chat, self.fake.message(chat, text))

    async def press(self, who: str, label: str) -> list[str]:
        chat = self.chats[who]
        return await self._deliver(chat, self.fake.press_label(chat, label))

    async def say_in_group(self, who: str, text: str) -> list[str]:
        group = -100_000 - self.chats[who]
        return await self._deliver(group, self.fake.group_message(group, text, user_id=self.chats[who]))

    async def say_twice(self, who: str, text: str) -> tuple[list[str], list[str]]:
        chat = self.chats[who]
        update = self.fake.message(chat, text)
        return await self._deliver(chat, update), await self._deliver(chat, update)


@asynccontextmanager
async def telegram(engine: Engine) -> AsyncIterator[Driver]:
    async with FakeTelegram() as fake, webhook_mode(fake, engine):
        yield TelegramDriver(fake)


# ---------------------------------------------------------------------------- Slack


def slack_user(who: str) -> str:
    return "U" + who.upper()


@dataclass
class SlackDriver:
    bot: Running
    platform: str = "slack"
    measure: Callable[[str], int] = len  # message texts arrive escaped, as Slack counts them
    links_by_code: bool = True
    has_groups: bool = True
    has_redelivery: bool = True
    _events: itertools.count[int] = field(default_factory=itertools.count)

    async def enrol(self, who: str, person: Person, code: str) -> list[str]:
        return [c.text for c in await self.bot.command(slack_user(who), f"link {code}")]

    async def say(self, who: str, text: str) -> list[str]:
        return [c.text for c in await self.bot.say(slack_user(who), text)]

    async def press(self, who: str, label: str) -> list[str]:
        # chat.update calls settle the pressed question; the answers are the new messages.
        return [c.text for c in await self.bot.press(slack_user(who), label) if c.method == "chat.postMessage"]

    async def say_in_group(self, who: str, text: str) -> list[str]:
        return [c.text for c in await self.bot.say(slack_user(who), text, channel="CSTAFFROOM", channel_type="channel")]

    async def say_twice(self, who: str, text: str) -> tuple[list[str], list[str]]:
        user = slack_user(who)
        event = {"type": "message", "user": user, "text": text, "channel": "D" + user[1:], "channel_type": "im"}
        body = self.bot.slack.event_body(event, event_id=f"EvTWICE{next(self._events)}")
        answers: list[list[str]] = []
        for headers in ({}, {"X-Slack-Retry-Num": "1", "X-Slack-Retry-Reason": "http_timeout"}):
            mark = len(self.bot.fake.calls)
            assert (await self.bot.slack.post(body, "application/json", headers=headers))[0] == 200
            await self.bot.settle()
            answers.append([c.text for c in self.bot.fake.calls[mark:] if c.method == "chat.postMessage"])
        return answers[0], answers[1]


@asynccontextmanager
async def slack(engine: Engine) -> AsyncIterator[Driver]:
    async with FakeSlack() as fake, slack_running(fake, engine) as bot:
        yield SlackDriver(bot)


# ---------------------------------------------------------------------------- the web chat


@dataclass
class WebDriver:
    """Browsers on Waymark's own HTTP server: the sign-in form, the `/send` form, the WebSocket's lines."""

    base: str
    platform: str = "web"
    measure: Callable[[str], int] = len
    links_by_code: bool = True
    has_groups: bool = False
    has_redelivery: bool = True  # a page resends a message with the same id after a dropped connection
    browsers: dict[str, Browser] = field(default_factory=dict)
    seen: dict[str, int] = field(default_factory=dict)  # the last transcript line each browser has read
    buttons: dict[str, dict[str, str]] = field(default_factory=dict)  # label -> data on the latest lines
    _mids: itertools.count[int] = field(default_factory=itertools.count)

    def browser(self, who: str) -> Browser:
        if who not in self.browsers:
            self.browsers[who] = Browser(self)
        return self.browsers[who]

    async def _new_lines(self, who: str) -> list[str]:
        """The bot's lines since this browser last looked, as the page's WebSocket sends them."""
        b = self.browser(who)
        ws = await b.ws(await b.chat_csrf(), after=self.seen.get(who, 0))
        try:
            message = json.loads((await asyncio.wait_for(ws.receive(), 1.0)).data)
        except TimeoutError:
            return []  # nothing new: the socket sends nothing until there is
        finally:
            await ws.close()
        lines = message["lines"]
        self.seen[who] = max(line["id"] for line in lines)
        out = [line for line in lines if line["dir"] == "out"]
        self.buttons[who] = {c["label"]: c["data"] for line in out for row in line["buttons"] for c in row}
        return [line["text"] for line in out]

    async def enrol(self, who: str, person: Person, code: str) -> list[str]:
        response = await self.browser(who).sign_in(code)
        assert response.status == 303
        return await self._new_lines(who)

    async def _post(self, who: str, field_name: str, value: str, mid: str | None = None) -> list[str]:
        b = self.browser(who)
        if b.cookie("wm_session") is None:  # not signed in: the form sends them to sign in, nothing else
            async with b.http.post("/send", data={field_name: value, "csrf": "none"}, allow_redirects=False) as r:
                return [f"{r.status} {await r.text()}"]
        form = {field_name: value, "csrf": await b.chat_csrf(), "mid": mid or f"m{next(self._mids)}"}
        async with b.http.post("/send", data=form, allow_redirects=False) as r:
            assert r.status == 303, await r.text()  # handled before the answer: the lines are in
        return await self._new_lines(who)

    async def say(self, who: str, text: str) -> list[str]:
        return await self._post(who, "text", text)

    async def press(self, who: str, label: str) -> list[str]:
        data = next(d for shown, d in self.buttons.get(who, {}).items() if label in shown)
        return await self._post(who, "button", data)

    async def say_in_group(self, who: str, text: str) -> list[str]:
        raise AssertionError("the web chat has no group chats")

    async def say_twice(self, who: str, text: str) -> tuple[list[str], list[str]]:
        mid = f"twice{next(self._mids)}"
        return await self._post(who, "text", text, mid), await self._post(who, "text", text, mid)


@asynccontextmanager
async def web(engine: Engine) -> AsyncIterator[Driver]:
    settings = load_settings(
        database_url="sqlite://", http_host="127.0.0.1", http_port=0, public_url="http://127.0.0.1"
    )
    stop, app = await start_http(settings, Dispatcher(engine, settings))
    driver = WebDriver(f"http://127.0.0.1:{app[BOUND_PORTS][0]}")
    try:
        yield driver
    finally:
        for b in driver.browsers.values():
            await b.close()
        await stop()


# ---------------------------------------------------------------------------- the terminal


@dataclass
class ConsoleDriver:
    """The terminal: the administrator opens it as a person (trusted, no code); replies are its output."""

    dispatcher: Dispatcher
    platform: str = "console"
    measure: Callable[[str], int] = len
    links_by_code: bool = False
    has_groups: bool = False
    has_redelivery: bool = False
    chats: dict[str, tuple[ConsoleChat, io.StringIO]] = field(default_factory=dict)

    async def enrol(self, who: str, person: Person, code: str) -> list[str]:
        assert person.id is not None
        out = io.StringIO()
        self.chats[who] = (ConsoleChat(self.dispatcher, person.id, stdout=out), out)
        return await self.say(who, "/start")

    async def _line(self, who: str, line: str) -> list[str]:
        chat, out = self.chats[who]
        mark = len(out.getvalue())
        assert await asyncio.to_thread(chat.handle, line)
        return [out.getvalue()[mark:]]

    async def say(self, who: str, text: str) -> list[str]:
        return await self._line(who, text)

    async def press(self, who: str, label: str) -> list[str]:
        _, out = self.chats[who]
        choices = re.findall(r"^\s*(\d+)\. (.*)$", out.getvalue(), re.MULTILINE)  # as the screen shows them
        number = next(n for n, shown in reversed(choices) if label in shown)
        return await self._line(who, number)  # typing a choice's number presses it

    async def say_in_group(self, who: str, text: str) -> list[str]:
        raise AssertionError("the terminal has no group chats")

    async def say_twice(self, who: str, text: str) -> tuple[list[str], list[str]]:
        raise AssertionError("the terminal never redelivers a line")


@asynccontextmanager
async def console(engine: Engine) -> AsyncIterator[Driver]:
    yield ConsoleDriver(Dispatcher(engine, load_settings(database_url="sqlite://")))


CHANNELS = {"telegram": telegram, "slack": slack, "web": web, "console": console}


@pytest.fixture(params=sorted(CHANNELS))
async def channel(request: pytest.FixtureRequest, sqlite_only: Engine) -> AsyncIterator[Driver]:
    async with CHANNELS[request.param](sqlite_only) as driver:
        assert driver.platform in PLATFORMS and PLATFORMS[driver.platform].inbound
        yield driver


def test_every_inbound_platform_has_the_contract() -> None:
    inbound = {name for name, facts in PLATFORMS.items() if facts.inbound}
    assert inbound == set(CHANNELS)


# ---------------------------------------------------------------------------- the journeys


@dataclass
class School:
    engine: Engine
    pupil: Person
    tutor: Person


def a_school(engine: Engine) -> School:
    school = seed.school(engine)
    tutor = seed.staff(engine, school.id, "Sam", "Patel", role=StaffRole.tutor)
    pupil = seed.pupil(
        engine, school.id, "Amira", "Khan", year_group=12, form="12B", dob=SIXTH_FORMER_DOB, tutor_id=tutor.id
    )
    return School(engine, pupil, tutor)


async def enrolled(channel: Driver, school: School, who: str = "pupil") -> list[str]:
    person = school.pupil if who == "pupil" else school.tutor
    return await channel.enrol(who, person, seed.code_for(school.engine, person))


def journal(engine: Engine, person: Person) -> list[str]:
    with transaction(engine, write=False) as s:
        return [e.text for e in s.exec(select(JournalEntry).where(JournalEntry.person_id == person.id)).all()]


def said(replies: list[str]) -> str:
    return "\n".join(replies)


async def test_link_with_a_code(channel: Driver, sqlite_only: Engine) -> None:
    school = a_school(sqlite_only)
    welcome = said(await enrolled(channel, school))
    assert "Amira" in welcome
    with transaction(sqlite_only, write=False) as s:
        linked = identities.identities_of(s, school.pupil.id)
    assert [i.platform for i in linked] == [channel.platform]
    if channel.links_by_code:
        assert "Welcome to Waymark, Amira" in welcome


async def test_reflect_then_record(channel: Driver, sqlite_only: Engine) -> None:
    school = a_school(sqlite_only)
    await enrolled(channel, school)
    saved = said(await channel.say("pupil", f"/reflect {REFLECTION}"))
    assert "Saved to your journal" in saved and REFLECTION in saved
    assert journal(sqlite_only, school.pupil) == [REFLECTION]
    record = said(await channel.say("pupil", "/record"))
    assert "Your record" in record and REFLECTION in record


async def test_a_stranger_learns_nothing(channel: Driver, sqlite_only: Engine) -> None:
    if not channel.links_by_code:
        pytest.skip(f"{PLATFORMS[channel.platform].label} is opened as a person by the administrator: no strangers")
    school = a_school(sqlite_only)
    await enrolled(channel, school)
    await channel.say("pupil", f"/reflect {REFLECTION}")
    for text in ("/record", "/pupil Amira", "Amira Khan", "/reflect I am Amira"):
        reply = said(await channel.say("stranger", text))
        assert reply and "Amira" not in reply and "Khan" not in reply and REFLECTION not in reply
    assert journal(sqlite_only, school.pupil) == [REFLECTION]


async def test_an_over_long_reply_is_split_within_the_platforms_limit(channel: Driver, sqlite_only: Engine) -> None:
    school = a_school(sqlite_only)
    await enrolled(channel, school)
    await channel.say("pupil", f"/reflect {LONG_ENTRY}")
    assert journal(sqlite_only, school.pupil) == [LONG_ENTRY]
    await enrolled(channel, school, "tutor")
    await channel.say("tutor", "/pupil Amira")
    shown = await channel.press("tutor", "Amira Khan (12B)")
    limit = PLATFORMS[channel.platform].text_limit
    if limit is not None:
        assert channel.measure(LONG_ENTRY) > limit  # no one message could take it
        assert all(channel.measure(message) <= limit for message in shown)
    # Nothing is lost in the cuts (never through a character: an emoji is one, or two UTF-16 units).
    assert said(shown).count("🐾") == LONG_ENTRY.count("🐾")


async def test_a_group_chat_is_told_to_talk_privately_and_nothing_is_kept(channel: Driver, sqlite_only: Engine) -> None:
    if not channel.has_groups:
        pytest.skip(f"{PLATFORMS[channel.platform].label} has no group chats")
    school = a_school(sqlite_only)
    await enrolled(channel, school)
    reply = said(await channel.say_in_group("pupil", f"/reflect {REFLECTION}"))
    assert reply and "Amira" not in reply and REFLECTION not in reply
    assert "private" in reply.lower() or "direct message" in reply.lower()
    assert journal(sqlite_only, school.pupil) == []


async def test_a_redelivered_update_is_handled_once(channel: Driver, sqlite_only: Engine) -> None:
    if not channel.has_redelivery:
        pytest.skip(f"{PLATFORMS[channel.platform].label} never delivers a message twice")
    school = a_school(sqlite_only)
    await enrolled(channel, school)
    first, second = await channel.say_twice("pupil", f"/reflect {REFLECTION}")
    assert "Saved to your journal" in said(first)
    assert "Saved to your journal" not in said(second)
    assert journal(sqlite_only, school.pupil) == [REFLECTION]
    with transaction(sqlite_only, write=False) as s:
        assert s.exec(select(func.count()).select_from(JournalEntry)).one() == 1


async def test_discarding_a_log_asks_first_and_keep_editing_loses_nothing(channel: Driver, sqlite_only: Engine) -> None:
    school = a_school(sqlite_only)
    await enrolled(channel, school, "tutor")
    await channel.say("tutor", "/log Amira")
    await channel.press("tutor", "Amira Khan (12B)")
    await channel.press("tutor", "Tutor check-in")
    await channel.say("tutor", "Talked about sixth form.\nAgreed: Visit the college open day by 12 Dec")
    summary = said(await channel.press("tutor", "No staff note"))
    assert "Check this before saving" in summary
    for stop in ("press", "say"):  # the Discard log… button, then /cancel typed: both ask first
        asked = await (
            channel.press("tutor", "Discard log\u2026") if stop == "press" else channel.say("tutor", "/cancel")
        )
        assert "Discard this log?" in said(asked)
        again = said(await channel.press("tutor", "Keep editing"))
        assert "Check this before saving" in again and "Visit the college open day" in again
    await channel.say("tutor", "/cancel")
    assert "nothing from that log was saved" in said(await channel.press("tutor", "Discard"))
    with transaction(sqlite_only, write=False) as s:
        assert s.exec(select(func.count()).select_from(AdviceRecord)).one() == 0
