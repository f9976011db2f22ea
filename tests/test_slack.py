"""The Slack adapter: the real slack-bolt app on Waymark's aiohttp server, signed requests over
loopback, and the real slack-sdk client talking to the fake Web API in tests/fakes/slack_api.py."""

from __future__ import annotations

import asyncio
import json
import logging
import re
from collections.abc import AsyncIterator
from contextlib import asynccontextmanager
from dataclasses import dataclass
from datetime import date
from typing import Any

import pytest
from sqlalchemy import Engine, func
from sqlmodel import select

from bot.channels.slack.adapter import ANSWERED_IN_DM, EVENTS_KEY, EVENTS_PATH, Renderer, SlackAdapter, start_slack
from bot.channels.slack.events import command_text
from bot.channels.slack.rendering import SECTION_LIMIT, escape, from_slack, messages_for, slack_wording, split_text
from bot.channels.slack.transport import SlackTransport, make_client
from bot.http import BOUND_PORTS, build_app, start_http
from bot.runner import serve
from core.delivery import Delivery
from core.settings import load_settings
from handlers import Button, Dispatcher, Reply, texts
from storage import codes, identities, outbox, seed
from storage.db import transaction
from storage.models import (
    AdviceRecord,
    AuditEvent,
    ConversationState,
    JournalEntry,
    OutboxMessage,
    ProcessedUpdate,
    StaffRole,
    utcnow,
)
from tests.fakes.slack_api import SIGNING_SECRET, Call, FakeSlack, SlackSender, until

TUTOR = "USAMTUTOR"
PUPIL = "UAMIRA"
STRANGER = "USTRANGER"
SIXTH_FORMER_DOB = date(2007, 9, 1)


@dataclass
class Running:
    fake: FakeSlack
    slack: SlackSender
    adapter: SlackAdapter
    engine: Engine

    async def settle(self) -> None:
        await self.adapter.drain()

    async def say(self, user: str, text: str, **kw: Any) -> list[Call]:
        mark = len(self.fake.calls)
        status, _ = await self.slack.message(user, text, **kw)
        assert status == 200
        await self.settle()
        return [c for c in self.fake.calls[mark:] if c.method == "chat.postMessage"]

    async def command(self, user: str, text: str, **kw: Any) -> list[Call]:
        mark = len(self.fake.calls)
        status, _ = await self.slack.command(user, text, **kw)
        assert status == 200
        await self.settle()
        return [c for c in self.fake.calls[mark:] if c.method == "chat.postMessage"]

    async def press(self, user: str, label: str) -> list[Call]:
        """Press `label` on the latest message to this user that has it."""
        channel = "D" + user.lstrip("U")
        message = next(c for c in reversed(self.fake.sent(channel)) if label in c.buttons())
        mark = len(self.fake.calls)
        status, _ = await self.slack.press(user, message, label)
        assert status == 200
        await self.settle()
        return [c for c in self.fake.calls[mark:] if c.method in {"chat.postMessage", "chat.update"}]


@pytest.fixture
async def fake() -> AsyncIterator[FakeSlack]:
    async with FakeSlack() as server:
        yield server


@asynccontextmanager
async def running(fake: FakeSlack, engine: Engine) -> AsyncIterator[Running]:
    """Waymark's HTTP server on 127.0.0.1:0 with the Slack adapter mounted, for the block's length."""
    settings = load_settings(
        database_url="sqlite://",
        slack_bot_token=fake.token,
        slack_signing_secret=SIGNING_SECRET,
        slack_api_base_url=fake.base_url,
        http_host="127.0.0.1",
        http_port=0,
        public_url="https://waymark.school.example",
    )
    dispatcher = Dispatcher(engine, settings)
    app = build_app(settings, dispatcher)
    slack_stop = await start_slack(settings, dispatcher, app)
    http_stop, app = await start_http(settings, dispatcher, app=app)
    adapter = app[EVENTS_KEY].adapter
    assert adapter is not None
    url = f"http://127.0.0.1:{app[BOUND_PORTS][0]}{EVENTS_PATH}"
    try:
        yield Running(fake, SlackSender(url), adapter, engine)
    finally:
        await http_stop()
        await slack_stop()  # waits for the work in hand before the fake goes


def texts_of(calls: list[Call]) -> str:
    return "\n".join(c.text for c in calls)


def count(engine: Engine, model: Any) -> int:
    with transaction(engine, write=False) as s:
        return int(s.exec(select(func.count()).select_from(model)).one())


# ---------------------------------------------------------------------------- conversations


async def test_tutor_links_logs_advice_with_buttons_and_the_pupil_is_told(engine: Engine, fake: FakeSlack) -> None:
    school = seed.school(engine)
    tutor = seed.staff(engine, school.id, "Sam", "Patel", role=StaffRole.tutor)
    amira = seed.pupil(engine, school.id, "Amira", "Khan", year_group=12, dob=SIXTH_FORMER_DOB, tutor_id=tutor.id)
    seed.link(engine, amira, "slack", "D" + PUPIL.lstrip("U"))
    code = seed.code_for(engine, tutor)
    async with running(fake, engine) as bot:
        linked = await bot.command(TUTOR, f"link {code}")
        assert linked and all(c.channel == "DSAMTUTOR" for c in linked)  # answered in the DM
        assert "Sam" in texts_of(linked)
        assert fake.calls_of("conversations.open")[0].params["users"] == TUTOR
        await bot.command(TUTOR, "log")
        await bot.say(TUTOR, "Amira")
        await bot.press(TUTOR, "Amira Khan (11A)")
        await bot.press(TUTOR, "Tutor check-in")
        await bot.say(TUTOR, "Talked about A-level choices & apprenticeships")
        await bot.say(TUTOR, "Visit the college open day")
        await bot.press(TUTOR, "No due date")
        await bot.press(TUTOR, "Done")
        summary = await bot.press(TUTOR, "No staff note")
        assert "Check this before saving" in texts_of(summary)
        assert "choices &amp; apprenticeships" in texts_of(summary)  # escaped for mrkdwn
        saved = await bot.press(TUTOR, "Save")
        assert "Amira" in texts_of(saved)
        # The pressed question loses its buttons and shows the choice.
        update = next(c for c in saved if c.method == "chat.update")
        assert update.params["ts"] == summary[-1].ts
        assert not update.buttons() and "» Save" in json.dumps(update.blocks, ensure_ascii=False)
    with transaction(engine, write=False) as s:
        record = s.exec(select(AdviceRecord).where(AdviceRecord.pupil_id == amira.id)).one()
        assert record.staff_id == tutor.id
        row = s.exec(select(OutboxMessage).where(OutboxMessage.person_id == amira.id)).one()
    assert row.platform == "slack" and row.chat_id == "DAMIRA" and "/record" in row.text
    # Nothing has been said to the pupil's conversation by the tutor's; the outbox delivers it.
    assert fake.sent("DAMIRA") == []
    transport = SlackTransport(make_client(load_settings(slack_bot_token=fake.token, slack_api_base_url=fake.base_url)))
    outcome = await transport.send(row.chat_id, row.text, [[Button("My record", "/record")]])
    assert outcome.result is Delivery.sent
    (told,) = fake.sent("DAMIRA")
    assert told.buttons() == {"My record": "/record"}


async def test_stranger_learns_nothing(sqlite_only: Engine, fake: FakeSlack) -> None:
    engine = sqlite_only
    school = seed.school(engine)
    seed.pupil(engine, school.id, "Amira", "Khan", dob=SIXTH_FORMER_DOB)
    async with running(fake, engine) as bot:
        for text in ("/record", "/pupil Amira", "Amira Khan", "/log Amira"):
            reply = await bot.say(STRANGER, text)
            assert reply and "Amira" not in texts_of(reply) and "Khan" not in texts_of(reply)
        wrong = await bot.command(STRANGER, "link WRONG-CODE1")
        assert "Amira" not in texts_of(wrong)
        await bot.command(STRANGER, "pupil Amira")
        # `/waymark` alone in a channel: a private "see your DMs" there, help in the DM.
        status, ack = await bot.slack.command(STRANGER, "", channel="CSTAFFROOM")
        await bot.settle()
        assert status == 200 and ANSWERED_IN_DM in ack
        assert "enrolment code" in fake.sent("DSTRANGER")[-1].text
    said = texts_of(fake.sent("DSTRANGER"))
    assert escape(slack_wording(texts.NOT_LINKED)) in said and escape(texts.WRONG_CODE) in said
    assert "Amira" not in said and "Khan" not in said
    assert fake.sent("CSTAFFROOM") == []
    assert count(engine, AuditEvent) == 0


async def test_channel_message_is_refused_and_nothing_is_stored(sqlite_only: Engine, fake: FakeSlack) -> None:
    engine = sqlite_only
    school = seed.school(engine)
    tutor = seed.staff(engine, school.id)
    code = seed.code_for(engine, tutor)
    async with running(fake, engine) as bot:
        reply = await bot.say(TUTOR, f"/link {code}", channel="CSTAFFROOM", channel_type="channel")
        assert [c.text for c in reply] == [escape(texts.PRIVATE_ONLY)]
        reply = await bot.say(TUTOR, "I spoke to Amira about college", channel="GPRIVATE", channel_type="group")
        assert [c.channel for c in reply] == ["GPRIVATE"] and reply[0].text == escape(texts.PRIVATE_ONLY)
    assert count(engine, ProcessedUpdate) == 0
    assert count(engine, ConversationState) == 0
    with transaction(engine, write=False) as s:
        assert identities.person_for(s, "slack", TUTOR) is None


async def test_under_sixteens_are_sent_to_the_web_chat_and_wrong_codes_lock_out(
    sqlite_only: Engine, fake: FakeSlack
) -> None:
    engine = sqlite_only
    school = seed.school(engine)
    young = seed.pupil(engine, school.id, "Amira", "Khan", year_group=9, dob=date(2012, 5, 1))
    code = seed.code_for(engine, young)
    async with running(fake, engine) as bot:
        await bot.command(PUPIL, f"link {code}")
        said = texts_of(fake.sent("DAMIRA"))
        assert "only for people aged 16 and over" in said and "web chat" in said
        for n in range(5):
            await bot.command(STRANGER, f"link WRONGCODE{n}")
        await bot.command(STRANGER, f"link {code}")  # a good code, but the account is locked now
        assert escape(texts.LOCKED_OUT) in texts_of(fake.sent("DSTRANGER")[-1:])
    with transaction(engine, write=False) as s:
        assert identities.person_for(s, "slack", PUPIL) is None
        assert identities.person_for(s, "slack", STRANGER) is None
        # The refused code still works on the web chat, where there is no age limit.
        assert codes.find_valid(s, code, now=utcnow()) is not None


async def test_redelivered_event_is_handled_once(sqlite_only: Engine, fake: FakeSlack) -> None:
    engine = sqlite_only
    school = seed.school(engine)
    amira = seed.pupil(engine, school.id, dob=SIXTH_FORMER_DOB)
    seed.link(engine, amira, "slack", PUPIL)
    async with running(fake, engine) as bot:
        body = bot.slack.event_body(
            {"type": "message", "user": PUPIL, "text": "/reflect Went to the NHS careers talk", "channel": "DAMIRA",
             "channel_type": "im", "ts": "1.1"},
            event_id="Ev0RETRYME",
        )  # fmt: skip
        assert (await bot.slack.post(body, "application/json"))[0] == 200
        await bot.settle()
        first = len(fake.sent("DAMIRA"))
        assert first >= 1
        retry = {"X-Slack-Retry-Num": "1", "X-Slack-Retry-Reason": "http_timeout"}
        assert (await bot.slack.post(body, "application/json", headers=retry))[0] == 200
        await bot.settle()
        assert len(fake.sent("DAMIRA")) == first  # no second answer
    with transaction(engine, write=False) as s:
        assert len(s.exec(select(JournalEntry).where(JournalEntry.person_id == amira.id)).all()) == 1


async def test_bad_or_stale_signature_gets_401_and_nothing_is_processed(sqlite_only: Engine, fake: FakeSlack) -> None:
    engine = sqlite_only
    school = seed.school(engine)
    amira = seed.pupil(engine, school.id, dob=SIXTH_FORMER_DOB)
    seed.link(engine, amira, "slack", PUPIL)
    async with running(fake, engine) as bot:
        body = bot.slack.event_body({"type": "message", "user": PUPIL, "text": "/reflect forged", "channel": "DAMIRA"})
        status, _ = await bot.slack.post(body, "application/json", signature="v0=" + "0" * 64)
        assert status == 401
        status, _ = await bot.slack.post(body, "application/json", age=6 * 60)  # correctly signed, too old
        assert status == 401
        forged = SlackSender(bot.slack.url, secret="someone-else's-secret")
        assert (await forged.message(PUPIL, "/reflect forged again"))[0] == 401
        await bot.settle()
    assert fake.sent() == []
    assert count(engine, ProcessedUpdate) == 0 and count(engine, JournalEntry) == 0


async def test_own_messages_edits_and_files(sqlite_only: Engine, fake: FakeSlack) -> None:
    engine = sqlite_only
    school = seed.school(engine)
    amira = seed.pupil(engine, school.id, dob=SIXTH_FORMER_DOB)
    seed.link(engine, amira, "slack", PUPIL)
    async with running(fake, engine) as bot:
        assert await bot.say(PUPIL, "hello from me", bot_id="BWAYMARK") == []
        assert await bot.say(PUPIL, "edited", subtype="message_changed") == []
        assert await bot.say(PUPIL, "joined", subtype="channel_join") == []
        upload = await bot.say(PUPIL, "here is my CV", subtype="file_share", files=[{"id": "F1", "name": "cv.pdf"}])
        assert len(upload) == 1 and "text" in upload[0].text.lower()
    assert count(engine, JournalEntry) == 0


async def test_markup_is_escaped_and_links_read_back(sqlite_only: Engine, fake: FakeSlack) -> None:
    engine = sqlite_only
    school = seed.school(engine)
    amira = seed.pupil(engine, school.id, dob=SIXTH_FORMER_DOB)
    seed.link(engine, amira, "slack", PUPIL)
    typed = "I <b>loved</b> the R&D lab & <!channel> *bold* مرحبا 🎉"
    async with running(fake, engine) as bot:
        # Slack escapes what people type; the journal keeps what they typed.
        await bot.say(PUPIL, "/reflect " + escape(typed))
        record = await bot.say(PUPIL, "/record")
    with transaction(engine, write=False) as s:
        entry = s.exec(select(JournalEntry)).one()
    assert entry.text == typed
    shown = texts_of(record)
    assert escape(typed) in shown and "<b>" not in shown and "<!channel>" not in shown
    for call in record:
        for block in call.blocks:
            if block["type"] == "section":
                assert "<" not in block["text"]["text"] and block["text"]["type"] == "mrkdwn"


# ---------------------------------------------------------------------------- the outbox transport


async def test_transport_maps_slack_errors(fake: FakeSlack) -> None:
    client = make_client(load_settings(slack_bot_token=fake.token, slack_api_base_url=fake.base_url))
    transport = SlackTransport(client)
    fake.fail_next(1, status=429, retry_after=7)
    limited = await transport.send("DSAM", "Your check-in", [])
    assert limited.result is Delivery.retry and limited.retry_after == 7
    fake.fail_channel("DGONE", "channel_not_found")
    fake.fail_channel("DOLD", "is_archived")
    fake.fail_channel("DLEFT", "account_inactive")
    for channel in ("DGONE", "DOLD", "DLEFT"):
        assert (await transport.send(channel, "hi", [])).result is Delivery.unreachable
    fake.fail_next(1, status=500, error="internal_error")
    assert (await transport.send("DSAM", "hi", [])).result is Delivery.retry
    fake.fail_next(1, status=200, error="invalid_blocks")
    failed = await transport.send("DSAM", "hi", [])
    assert failed.result is Delivery.failed and failed.error == "invalid_blocks"
    assert (await transport.send("DSAM", "hi", [])).result is Delivery.sent


async def test_transport_network_error_is_retry() -> None:
    client = make_client(load_settings(slack_bot_token="xoxb-x", slack_api_base_url="http://127.0.0.1:9/api/"))
    outcome = await SlackTransport(client).send("DSAM", "hi", [])
    assert outcome.result is Delivery.retry


async def test_replies_wait_out_a_rate_limit(sqlite_only: Engine, fake: FakeSlack) -> None:
    engine = sqlite_only
    school = seed.school(engine)
    amira = seed.pupil(engine, school.id, dob=SIXTH_FORMER_DOB)
    seed.link(engine, amira, "slack", PUPIL)
    async with running(fake, engine) as bot:
        fake.fail_next(1, status=429, retry_after=0.2)
        reply = await bot.say(PUPIL, "/help")
    assert len(reply) == 2 and reply[1].text  # refused once, then delivered


async def test_images_and_files_are_uploaded(sqlite_only: Engine, fake: FakeSlack) -> None:
    client = make_client(load_settings(slack_bot_token=fake.token, slack_api_base_url=fake.base_url))
    renderer = Renderer(client)
    await renderer.send("DSAM", Reply("Your chart", image=b"\x89PNG fake", image_name="chart.png"))
    await renderer.send("DSAM", Reply("", file=b"a,b\n1,2\n", file_name="record.csv"))
    assert [data for _, data in fake.uploads] == [b"\x89PNG fake", b"a,b\n1,2\n"]
    completed = fake.calls_of("files.completeUploadExternal")
    assert [c.channel for c in completed] == ["DSAM", "DSAM"]
    assert [c.text for c in fake.sent("DSAM")] == ["Your chart"]


# ---------------------------------------------------------------------------- pure rules


def test_command_text() -> None:
    assert command_text("record") == "/record"
    assert command_text("link ABCD-EFGH-JK") == "/link ABCD-EFGH-JK"
    assert command_text("  ") == "/help"
    assert command_text("") == "/help"
    assert command_text("/log Amira") == "/log Amira"


def test_from_slack_reads_links_and_entities() -> None:
    assert from_slack("see <https://x.example/a|the page> &amp; <mailto:a@b.example|a@b.example>") == (
        "see the page & a@b.example"
    )
    assert from_slack("1 &lt; 2 &gt; 0") == "1 < 2 > 0"


def test_long_texts_split_under_the_limit_and_buttons_go_last() -> None:
    text = ("word & <x> " * 2000).strip()
    parts = split_text(text)
    assert len(parts) > 1 and all(len(escape(p)) <= SECTION_LIMIT for p in parts)
    assert " ".join(parts).split() == text.split()
    buttons = [[Button(f"B{r}{c}", f"/x {r} {c}") for c in range(3)] for r in range(60)]
    messages = messages_for(text, buttons)
    assert all(len(m.blocks) <= 50 for m in messages)
    ids = [e["action_id"] for m in messages for b in m.blocks if b["type"] == "actions" for e in b["elements"]]
    assert len(ids) == 180 and len(set(ids)) == 180
    assert not any(b["type"] == "actions" for b in messages[0].blocks)
    assert messages_for("", []) == []
    assert messages_for("", [[Button("Go", "/go")]])[0].text == "Pick one:"


# ---------------------------------------------------------------------------- `waymark run`


class PortWatcher(logging.Handler):
    """Reads the bound port from the HTTP server's "listening on" log line (the app is internal to serve)."""

    def __init__(self) -> None:
        super().__init__()
        self.port: int | None = None

    def emit(self, record: logging.LogRecord) -> None:
        found = re.search(r"listening on http://[^:]+:(\d+)", record.getMessage())
        if found:
            self.port = int(found.group(1))


async def test_waymark_run_serves_slack_events_and_delivers_the_outbox(sqlite_only: Engine, fake: FakeSlack) -> None:
    engine = sqlite_only
    school = seed.school(engine)
    tutor = seed.staff(engine, school.id)
    with transaction(engine) as s:
        identities.link(s, tutor, "slack", TUTOR, "DSAMTUTOR", utcnow())  # Slack user, DM channel
        outbox.enqueue(
            s, key="t:1", person_id=tutor.id, platform="slack", chat_id="DSAMTUTOR", text="Digest", now=utcnow()
        )
    settings = load_settings(
        database_url=engine.url.render_as_string(hide_password=False),
        slack_bot_token=fake.token,
        slack_signing_secret=SIGNING_SECRET,
        slack_api_base_url=fake.base_url,
        http_host="127.0.0.1",
        http_port=0,
        quiet_hours=False,
    )
    watcher = PortWatcher()
    http_log = logging.getLogger("bot.http")
    level = http_log.level
    http_log.setLevel(logging.INFO)
    http_log.addHandler(watcher)
    stop = asyncio.Event()
    task = asyncio.create_task(serve(settings, stop))
    try:
        await until(lambda: watcher.port is not None or task.done(), timeout=10)
        assert not task.done(), task.exception()
        await until(lambda: any(c.text == "Digest" for c in fake.sent("DSAMTUTOR")), timeout=10)
        sender = SlackSender(f"http://127.0.0.1:{watcher.port}{EVENTS_PATH}")
        assert (await sender.message(TUTOR, "/help", channel="DSAMTUTOR"))[0] == 200
        await until(lambda: len(fake.sent("DSAMTUTOR")) >= 2, timeout=10)
    finally:
        stop.set()
        await asyncio.wait_for(task, timeout=15)
        http_log.removeHandler(watcher)
        http_log.setLevel(level)
    assert "/waymark log" in fake.sent("DSAMTUTOR")[-1].text


def test_typed_commands_in_replies_are_worded_for_slack() -> None:
    assert "/waymark start ABCDE-23456" in slack_wording(texts.NOT_LINKED)
    assert slack_wording("Send /help or /record.") == "Send /waymark help or /waymark record."
    # Paths in links and unknown words are left alone.
    assert slack_wording("Open https://school.example/signin or /frobnicate") == (
        "Open https://school.example/signin or /frobnicate"
    )
