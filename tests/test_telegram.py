"""The Telegram adapter: the real python-telegram-bot `Application` against the fake Bot API over loopback."""

from __future__ import annotations

import asyncio
import logging
import socket
import time
from collections.abc import AsyncIterator, Callable
from contextlib import asynccontextmanager
from datetime import date, timedelta
from pathlib import Path
from typing import Any

import pytest
from aiohttp import web
from hypothesis import given, settings
from hypothesis import strategies as st
from sqlalchemy import Engine, func
from sqlmodel import select
from telegram import Bot, Update

from bot.channels.telegram.adapter import EXPIRED_BUTTON, start_telegram
from bot.channels.telegram.ordering import ChatOrderedProcessor
from bot.channels.telegram.rendering import CALLBACK_LIMIT, ButtonData, Renderer, split_text, units
from bot.channels.telegram.transport import TelegramTransport, base_urls, open_transport
from bot.channels.telegram.webhook import SECRET_HEADER, WEBHOOK_KEY, WEBHOOK_PATH, mount_webhook
from bot.http import BOUND_PORTS, build_app, start_http
from bot.runner import serve
from core.delivery import Delivery
from core.settings import Settings, load_settings
from handlers import Button, Dispatcher, Reply, texts
from reports.charts import PNG_SIGNATURE
from scheduler.sender import Sender
from storage import identities, leavers, seed
from storage.db import transaction
from storage.models import (
    AuditEvent,
    ConversationState,
    JournalEntry,
    OutboxMessage,
    ProcessedUpdate,
    StaffRole,
    utcnow,
)
from tests.fakes.telegram_api import Call, FakeTelegram

SIXTH_FORMER_DOB = date(2007, 9, 1)  # 16 or over on any date these tests run
PUPIL_CHAT = 70001
TUTOR_CHAT = 80001
SENDS = {"sendMessage", "sendPhoto", "sendDocument"}


@pytest.fixture
async def fake() -> AsyncIterator[FakeTelegram]:
    async with FakeTelegram() as server:
        yield server


def tg_settings(fake: FakeTelegram, **overrides: Any) -> Settings:
    return load_settings(
        database_url="sqlite://",
        telegram_bot_token=fake.token,
        telegram_api_base_url=fake.base_url,
        public_url="https://waymark.school.example",
        **overrides,
    )


@asynccontextmanager
async def running(fake: FakeTelegram, engine: Engine, **overrides: Any) -> AsyncIterator[Dispatcher]:
    """Waymark's Telegram adapter, polling the fake, for the length of the block."""
    settings = tg_settings(fake, **overrides)
    dispatcher = Dispatcher(engine, settings)
    stop = await start_telegram(settings, dispatcher, poll_timeout=1)
    try:
        yield dispatcher
    finally:
        await stop()


async def say(
    fake: FakeTelegram, chat_id: int, text: str, count: int = 1, *, timeout: float = 5.0, **kw: Any
) -> list[Call]:
    mark = fake.mark()
    fake.message(chat_id, text, **kw)
    return await fake.replies(chat_id, count, since=mark, methods=SENDS, timeout=timeout)


async def press(fake: FakeTelegram, chat_id: int, label: str, count: int = 1, methods: set[str] = SENDS) -> list[Call]:
    """Press a button; waits for `count` new messages (or, with methods={"editMessageText"}, edits)."""
    mark = fake.mark()
    fake.press_label(chat_id, label)
    return await fake.replies(chat_id, count, since=mark, methods=methods)


async def eventually(check: Callable[[], bool], timeout: float = 5.0) -> None:
    deadline = time.monotonic() + timeout
    while not check():
        if time.monotonic() > deadline:
            raise AssertionError("condition not met in time")
        await asyncio.sleep(0.02)


def texts_of(calls: list[Call]) -> str:
    return "\n".join(c.text for c in calls)


def count_rows(engine: Engine, model: Any) -> int:
    with transaction(engine, write=False) as s:
        return int(s.exec(select(func.count()).select_from(model)).one())


# ------------------------------------------------------------------------------------------ journeys


async def test_pupil_enrols_by_deep_link_reflects_with_buttons_and_reads_record(
    engine: Engine, fake: FakeTelegram
) -> None:
    school = seed.school(engine)
    amira = seed.pupil(engine, school.id, "Amira", "Khan", year_group=12, form="12B", dob=SIXTH_FORMER_DOB)
    code = seed.code_for(engine, amira)
    async with running(fake, engine):
        mark = fake.mark()
        fake.start_link(PUPIL_CHAT, code)
        welcome = await fake.replies(PUPIL_CHAT, 3, since=mark)
        assert "Welcome to Waymark, Amira" in welcome[0].text
        assert "Reflect" in welcome[-1].button_labels()
        with transaction(engine, write=False) as s:
            linked = identities.person_for(s, "telegram", str(PUPIL_CHAT))
            assert linked is not None and linked.id == amira.id
        # The "/" menu of this chat now lists what a pupil can do; the default one only the basics.
        await eventually(lambda: "reflect" in fake.commands_for_chat(PUPIL_CHAT))
        assert "log" not in fake.commands_for_chat(PUPIL_CHAT)
        assert "reflect" not in fake.commands_for_chat(None) and "help" in fake.commands_for_chat(None)

        await press(fake, PUPIL_CHAT, "Reflect")
        asked = await say(fake, PUPIL_CHAT, "Helped run the Year 7 science club")
        assert "Which skills" in asked[0].text
        skills_message = fake.calls_to(PUPIL_CHAT, {"sendMessage"})[-1]
        # Ticking a skill edits the same question in place rather than sending a new one.
        ticked = await press(fake, PUPIL_CHAT, "Listening", methods={"editMessageText"})
        assert ticked[-1].method == "editMessageText"
        assert ticked[-1].params["message_id"] == skills_message.result["message_id"]
        await press(fake, PUPIL_CHAT, "Speaking", methods={"editMessageText"})
        shown = fake.labels(PUPIL_CHAT)
        assert "✓ Listening" in shown and "✓ Speaking" in shown
        assert len(fake.calls_to(PUPIL_CHAT, {"sendMessage"})) == len(welcome) + 2  # no new message per tick
        answered = await press(fake, PUPIL_CHAT, "Done")
        assert any("What did you learn" in c.text for c in answered)
        saved = await say(fake, PUPIL_CHAT, "I like explaining things")
        assert "Saved to your journal" in saved[0].text and "Listening, Speaking" in saved[0].text
        assert all(c.params.get("parse_mode") is None for c in fake.calls_to(PUPIL_CHAT))
        assert fake.calls_of("answerCallbackQuery")  # every press was answered

        record = await say(fake, PUPIL_CHAT, "/record")
        assert "Year 7 science club" in record[0].text
    with transaction(engine, write=False) as s:
        entries = s.exec(select(JournalEntry).where(JournalEntry.person_id == amira.id)).all()
        assert len(entries) == 1


async def test_tutor_logs_advice_with_buttons_and_the_pupil_is_told(engine: Engine, fake: FakeTelegram) -> None:
    school = seed.school(engine)
    tutor = seed.staff(engine, school.id, "Sam", "Patel", role=StaffRole.tutor)
    amira = seed.pupil(engine, school.id, "Amira", "Khan", year_group=12, dob=SIXTH_FORMER_DOB, tutor_id=tutor.id)
    seed.link(engine, amira, "telegram", str(PUPIL_CHAT))
    tutor_code = seed.code_for(engine, tutor)
    async with running(fake, engine):
        mark = fake.mark()
        fake.start_link(TUTOR_CHAT, tutor_code)
        await fake.replies(TUTOR_CHAT, 3, since=mark)
        await eventually(lambda: "log" in fake.commands_for_chat(TUTOR_CHAT))
        await press(fake, TUTOR_CHAT, "Log advice")
        await say(fake, TUTOR_CHAT, "Amira")
        await press(fake, TUTOR_CHAT, "Amira Khan")
        await press(fake, TUTOR_CHAT, "Tutor check-in")
        await say(fake, TUTOR_CHAT, "Talked about A-level choices and apprenticeships")
        await say(fake, TUTOR_CHAT, "Visit the college open day")
        await press(fake, TUTOR_CHAT, "No due date")
        await press(fake, TUTOR_CHAT, "Done")
        summary = await press(fake, TUTOR_CHAT, "No staff note")
        assert "Check this before saving" in texts_of(summary)
        saved = await press(fake, TUTOR_CHAT, "Save")
        assert "Amira" in texts_of(saved)
    with transaction(engine, write=False) as s:
        rows = s.exec(
            select(OutboxMessage).where(OutboxMessage.platform == "telegram", OutboxMessage.chat_id == str(PUPIL_CHAT))
        ).all()
    assert len(rows) == 1 and "/record" in rows[0].text
    # Nothing about the tutor's chat account ever reaches the pupil's chat, and the reverse.
    assert fake.calls_to(PUPIL_CHAT) == []
    # The outbox sender of `waymark run` delivers it through the Telegram transport.
    transport, close = await open_transport(tg_settings(fake))
    try:
        sender = Sender(engine, {"telegram": transport}, poll_interval=0.05)
        assert await sender.run_until_settled(5)
    finally:
        await close()
    told = fake.calls_to(PUPIL_CHAT)
    assert [c.method for c in told] == ["sendMessage"] and told[0].text == rows[0].text
    with transaction(engine, write=False) as s:
        sent = s.exec(select(OutboxMessage).where(OutboxMessage.id == rows[0].id)).one()
    assert sent.status == "sent"


async def test_stranger_learns_nothing(sqlite_only: Engine, fake: FakeTelegram) -> None:
    engine = sqlite_only
    school = seed.school(engine)
    seed.pupil(engine, school.id, "Amira", "Khan", dob=SIXTH_FORMER_DOB)
    async with running(fake, engine):
        for text in ("/record", "/pupil Amira", "Amira Khan", "/start WRONG-CODE1", "/log Amira"):
            reply = await say(fake, 99999, text)
            assert "Amira" not in reply[0].text and "Khan" not in reply[0].text
        assert texts.NOT_LINKED in texts_of(fake.calls_to(99999))
        assert texts.WRONG_CODE in texts_of(fake.calls_to(99999))
        assert fake.commands_for_chat(99999) == fake.commands_for_chat(None)


async def test_group_chat_is_refused_and_nothing_is_stored(sqlite_only: Engine, fake: FakeTelegram) -> None:
    engine = sqlite_only
    school = seed.school(engine)
    amira = seed.pupil(engine, school.id, dob=SIXTH_FORMER_DOB)
    code = seed.code_for(engine, amira)
    async with running(fake, engine):
        group = -100200300
        reply = await say(fake, group, f"/start {code}", user_id=555, chat_type="group")
        assert reply[0].text == texts.PRIVATE_ONLY
        reply = await say(fake, group, "I helped at the open day", user_id=555, chat_type="supergroup")
        assert reply[0].text == texts.PRIVATE_ONLY
    assert count_rows(engine, ProcessedUpdate) == 0
    assert count_rows(engine, ConversationState) == 0
    with transaction(engine, write=False) as s:
        assert identities.person_for(s, "telegram", "555") is None


async def test_same_update_twice_is_handled_once(sqlite_only: Engine, fake: FakeTelegram) -> None:
    engine = sqlite_only
    school = seed.school(engine)
    amira = seed.pupil(engine, school.id, dob=SIXTH_FORMER_DOB)
    seed.link(engine, amira, "telegram", str(PUPIL_CHAT))
    async with running(fake, engine):
        # A low id on purpose: ids turn random after a quiet week, so "greater than the last" is no test.
        first = await say(fake, PUPIL_CHAT, "/help", update_id=5_000_000)
        assert first
        mark = fake.mark()
        fake.message(PUPIL_CHAT, "/reflect Went to the NHS careers talk", update_id=42)
        await fake.replies(PUPIL_CHAT, 1, since=mark)
        fake.message(PUPIL_CHAT, "/reflect Went to the NHS careers talk", update_id=42)  # redelivered
        await say(fake, PUPIL_CHAT, "/privacy")  # same chat, so in order: the duplicate went before it
        saved = [c for c in fake.calls_to(PUPIL_CHAT, since=mark) if "Saved to your journal" in c.text]
        assert len(saved) == 1
    assert count_rows(engine, JournalEntry) == 1


async def test_restart_mid_conversation_carries_on(sqlite_only: Engine, fake: FakeTelegram) -> None:
    engine = sqlite_only
    school = seed.school(engine)
    amira = seed.pupil(engine, school.id, dob=SIXTH_FORMER_DOB)
    seed.link(engine, amira, "telegram", str(PUPIL_CHAT))
    async with running(fake, engine):
        asked = await say(fake, PUPIL_CHAT, "/reflect")
        assert "What did you do" in asked[0].text
    # A new process: a new Application and Dispatcher on the same database.
    async with running(fake, engine):
        asked = await say(fake, PUPIL_CHAT, "Mentored a Year 8 pupil in maths")
        assert "Which skills" in asked[0].text
        await press(fake, PUPIL_CHAT, "Done")
        saved = await press(fake, PUPIL_CHAT, "Skip")
        assert "Mentored a Year 8 pupil" in texts_of(saved)


async def test_one_chat_in_order_with_awkward_input(sqlite_only: Engine, fake: FakeTelegram) -> None:
    engine = sqlite_only
    school = seed.school(engine)
    amira = seed.pupil(engine, school.id, dob=SIXTH_FORMER_DOB)
    seed.link(engine, amira, "telegram", str(PUPIL_CHAT))
    awkward = ["<b>Tom & Jerry</b> *bold* _x_", "مرحبا بالعالم 😀👍🏽", "x" * 3990]
    async with running(fake, engine):
        mark = fake.mark()
        for text in awkward:
            fake.message(PUPIL_CHAT, f"/reflect {text}")
        replies = await fake.replies(PUPIL_CHAT, 3, since=mark)
        assert "<b>Tom & Jerry</b> *bold*" in replies[0].text  # exactly as typed: no parse mode
        assert "مرحبا" in replies[1].text and "x" * 50 in replies[2].text
        too_long = await say(fake, PUPIL_CHAT, "y" * 10_000)
        assert "10,000 characters" in too_long[0].text
        photo_mark = fake.mark()
        fake.photo(PUPIL_CHAT, caption="my certificate")
        photo = await fake.replies(PUPIL_CHAT, 1, since=photo_mark)
        assert texts.TEXT_ONLY in photo[0].text
        unknown = await say(fake, PUPIL_CHAT, "/frobnicate")
        assert "/frobnicate" in unknown[0].text
    with transaction(engine, write=False) as s:
        stored = [e.text for e in s.exec(select(JournalEntry).order_by(JournalEntry.id)).all()]  # type: ignore[arg-type]
    assert stored == awkward


async def test_leader_report_arrives_as_text_chart_and_csv(engine: Engine, fake: FakeTelegram) -> None:
    school = seed.school(engine)
    leader = seed.staff(engine, school.id, "Lee", "Grant", role=StaffRole.leader)
    seed.link(engine, leader, "telegram", str(TUTOR_CHAT))
    for n in range(3):
        seed.pupil(engine, school.id, f"Pupil{n}", "Test", year_group=11, dob=SIXTH_FORMER_DOB)
    async with running(fake, engine):
        menu = await say(fake, TUTOR_CHAT, "/report")
        assert "Benchmark 3 summary" in menu[0].button_labels()
        mark = fake.mark()
        fake.press_label(TUTOR_CHAT, "Benchmark 3 summary")
        await fake.wait_for(lambda: len(fake.calls_to(TUTOR_CHAT, {"sendDocument"}, mark)) == 1)
        sent = fake.calls_to(TUTOR_CHAT, SENDS | {"editMessageText"}, mark)
    # The table replaces the menu it was picked from (same buttons under it), then chart and file.
    assert [c.method for c in sent] == ["editMessageText", "sendPhoto", "sendDocument"]
    assert "Benchmark 3 summary" in sent[0].text and "Year 11: 3 pupils" in sent[0].text
    photo, document = sent[1], sent[2]
    assert photo.files["photo"].startswith(PNG_SIGNATURE) and "Chart" in photo.params["caption"]
    # The evidence page for governors, as a file (the table above is the summary in the chat).
    assert document.params["document"].startswith("<file benchmark3-") and document.params["document"].endswith(
        ".html>"
    )
    assert document.files["document"].decode("utf-8").lstrip().lower().startswith("<!doctype html")
    assert "evidence page" in document.params["caption"]
    with transaction(engine, write=False) as s:
        assert s.exec(select(AuditEvent).where(AuditEvent.actor_id == leader.id)).all()  # exports are audited


async def test_menu_follows_the_person_when_their_role_changes(engine: Engine, fake: FakeTelegram) -> None:
    school = seed.school(engine)
    amira = seed.pupil(
        engine, school.id, year_group=13, dob=SIXTH_FORMER_DOB, leaving_date=date.today() - timedelta(days=3)
    )
    seed.link(engine, amira, "telegram", str(PUPIL_CHAT))

    def menu_calls() -> list[Call]:
        return [c for c in fake.calls_of("setMyCommands") if (c.params.get("scope") or {}).get("chat_id") == PUPIL_CHAT]

    async with running(fake, engine):
        await say(fake, PUPIL_CHAT, "/help")  # the first message this process sees from the chat
        await eventually(lambda: len(menu_calls()) == 1)
        assert "reflect" in fake.commands_for_chat(PUPIL_CHAT)
        await say(fake, PUPIL_CHAT, "/privacy")
        await say(fake, PUPIL_CHAT, "/help")  # same chat, in order: any menu call for /privacy came before
        assert len(menu_calls()) == 1  # nothing changed: no call
        with transaction(engine) as s:
            assert leavers.graduate(s, date.today(), utcnow()) == 1  # left school: now an alumnus
        await say(fake, PUPIL_CHAT, "/help")
        await eventually(lambda: len(menu_calls()) == 2)
        menu = fake.commands_for_chat(PUPIL_CHAT)
        assert "destination" in menu and "reflect" not in menu
        await say(fake, PUPIL_CHAT, "/privacy")
        await say(fake, PUPIL_CHAT, "/help")
        assert len(menu_calls()) == 2
        # After /unlink the chat's menu is back to what anyone may do.
        await say(fake, PUPIL_CHAT, "/unlink")
        await eventually(lambda: len(menu_calls()) == 3)
        assert fake.commands_for_chat(PUPIL_CHAT) == fake.commands_for_chat(None)


async def test_blocking_the_bot_marks_the_identity_unreachable(engine: Engine, fake: FakeTelegram) -> None:
    school = seed.school(engine)
    amira = seed.pupil(engine, school.id, dob=SIXTH_FORMER_DOB)
    seed.link(engine, amira, "telegram", str(PUPIL_CHAT))

    def unreachable() -> str | None:
        with transaction(engine, write=False) as s:
            identity = identities.find(s, "telegram", str(PUPIL_CHAT))
            assert identity is not None
            return identity.unreachable_reason if identity.unreachable_at else None

    async with running(fake, engine):
        await say(fake, PUPIL_CHAT, "/help")
        assert unreachable() is None
        mark = fake.mark()
        fake.member_update(PUPIL_CHAT, "kicked")  # what Telegram sends when someone blocks the bot
        await eventually(lambda: unreachable() is not None)
        assert fake.calls_to(PUPIL_CHAT, SENDS, mark) == []  # nothing is said to a chat that blocked us
    assert "blocked" in (unreachable() or "")


async def test_a_channel_is_told_private_chats_only_and_nothing_is_stored(engine: Engine, fake: FakeTelegram) -> None:
    channel = -1001234567890
    async with running(fake, engine):
        mark = fake.mark()
        fake.channel_post(channel, "/start ABCDE12345")
        fake.channel_post(channel, "Open evening on Thursday")
        await eventually(lambda: len(fake.calls_to(channel, SENDS, mark)) == 2)
        await say(fake, 99999, "/help")
        assert [c.text for c in fake.calls_to(channel, SENDS, mark)] == [texts.PRIVATE_ONLY, texts.PRIVATE_ONLY]
        assert fake.calls_to(channel, {"setMyCommands"}, mark) == []
    assert count_rows(engine, ProcessedUpdate) == 1  # the /help only
    with transaction(engine, write=False) as s:
        assert identities.find(s, "telegram", str(channel)) is None
        assert not s.exec(select(ConversationState).where(ConversationState.external_id == str(channel))).all()


async def test_a_flooding_chat_does_not_hold_up_the_others(engine: Engine, fake: FakeTelegram) -> None:
    flooder, other = 71001, 71002
    async with running(fake, engine):
        fake.hold_chat(flooder)  # its first reply stays in hand: its later updates must wait their turn
        try:
            for n in range(80):  # more than the adapter's 64 concurrent updates
                fake.message(flooder, f"/help {n}")
            await fake.wait_for(lambda: len(fake.holding) == 1)
            started = time.monotonic()
            answered = await say(fake, other, "/help", timeout=3)
            assert answered and time.monotonic() - started < 2.0
            assert len(fake.holding) == 1 and fake.calls_to(flooder) == []  # still in hand, still in line
        finally:
            fake.release_chat(flooder)
        replies = await fake.replies(flooder, 80, timeout=20)
    assert len(replies) == 80


# ------------------------------------------------------------------------------------------ webhook


def free_port() -> int:
    with socket.socket() as probe:
        probe.bind(("127.0.0.1", 0))
        return int(probe.getsockname()[1])


@asynccontextmanager
async def waymark_http(
    fake: FakeTelegram, engine: Engine, **overrides: Any
) -> AsyncIterator[tuple[web.Application, str, Dispatcher]]:
    """Waymark's own HTTP server (bot.http) with the webhook route, listening; yields (app, webhook url)."""
    settings = tg_settings(fake, http_host="127.0.0.1", http_port=0, **overrides)
    dispatcher = Dispatcher(engine, settings)
    app = build_app(settings, dispatcher)
    mount_webhook(app)  # before the server starts, as `waymark run` does
    stop_http, app = await start_http(settings, dispatcher, app=app)
    try:
        yield app, f"http://127.0.0.1:{app[BOUND_PORTS][0]}{WEBHOOK_PATH}", dispatcher
    finally:
        await stop_http()


@asynccontextmanager
async def webhook_mode(
    fake: FakeTelegram, engine: Engine, secret: str = "s3cret-Value_1"
) -> AsyncIterator[web.Application]:
    async with waymark_http(fake, engine) as (app, url, _):
        settings = tg_settings(fake, telegram_webhook_url=url, telegram_webhook_secret=secret)
        stop = await start_telegram(settings, Dispatcher(engine, settings), app)
        try:
            yield app
        finally:
            await stop()


async def test_webhook_needs_the_secret(engine: Engine, fake: FakeTelegram) -> None:
    school = seed.school(engine)
    amira = seed.pupil(engine, school.id, dob=SIXTH_FORMER_DOB)
    seed.link(engine, amira, "telegram", str(PUPIL_CHAT))
    async with waymark_http(fake, engine) as (app, url, _):
        settings = tg_settings(fake, telegram_webhook_url=url, telegram_webhook_secret="s3cret-Value_1")
        early = await fake.deliver_webhook(fake.text_update(PUPIL_CHAT, "/help"), secret="s3cret-Value_1", url=url)
        assert early == 503  # not attached yet: Telegram keeps the update and tries again
        stop = await start_telegram(settings, Dispatcher(engine, settings), app)
        try:
            assert fake.webhook is not None
            assert fake.webhook["url"] == url and fake.webhook["secret_token"] == "s3cret-Value_1"
            assert fake.webhook_reachable is True
            assert fake.calls_of("getUpdates") == []
            for secret in (None, "", "wrong", "s3cret-Value_"):
                status = await fake.deliver_webhook(fake.text_update(PUPIL_CHAT, "/reflect forged"), secret=secret)
                assert status == 403
            mark = fake.mark()
            status = await fake.deliver_webhook(fake.text_update(PUPIL_CHAT, "/reflect Work experience at the vet"))
            assert status == 200
            reply = fake.calls_to(PUPIL_CHAT, since=mark)  # answered 200 only once the reply had gone
            assert len(reply) == 1 and "Work experience at the vet" in reply[0].text
            # Telegram redelivers when unsure: the same update twice is one journal entry.
            update = fake.text_update(PUPIL_CHAT, "/reflect Mock interview")
            assert await fake.deliver_webhook(update) == 200
            assert await fake.deliver_webhook(update) == 200
            assert len(fake.calls_to(PUPIL_CHAT, since=mark)) == 2
        finally:
            await stop()
        # Stopped: what Telegram sends now is refused, so it keeps it for the next process.
        assert await fake.deliver_webhook(fake.text_update(PUPIL_CHAT, "/help"), url=url) == 503
    with transaction(engine, write=False) as s:
        stored = sorted(e.text for e in s.exec(select(JournalEntry)).all())
    assert stored == ["Mock interview", "Work experience at the vet"]
    assert SECRET_HEADER == "X-Telegram-Bot-Api-Secret-Token"


async def test_webhook_answers_only_once_the_update_is_handled(engine: Engine, fake: FakeTelegram) -> None:
    school = seed.school(engine)
    amira = seed.pupil(engine, school.id, dob=SIXTH_FORMER_DOB)
    seed.link(engine, amira, "telegram", str(PUPIL_CHAT))
    async with webhook_mode(fake, engine) as app:
        fake.hold_chat(PUPIL_CHAT)
        try:
            posting = asyncio.create_task(fake.deliver_webhook(fake.text_update(PUPIL_CHAT, "/reflect Open day")))
            await fake.wait_for(lambda: len(fake.holding) == 1)
            await asyncio.sleep(0.2)
            assert not posting.done()  # the reply is in hand: no 200 yet, so a kill now loses nothing
        finally:
            fake.release_chat(PUPIL_CHAT)
        assert await posting == 200
        assert "Open day" in fake.calls_to(PUPIL_CHAT)[-1].text

        # Still in hand after `answer_within`: 503, so Telegram sends it again; the step goes on.
        app[WEBHOOK_KEY].answer_within = 0.3
        fake.hold_chat(PUPIL_CHAT)
        slow = fake.text_update(PUPIL_CHAT, "/reflect Careers fair")
        started = time.monotonic()
        assert await fake.deliver_webhook(slow) == 503
        assert 0.25 < time.monotonic() - started < 2
        fake.release_chat(PUPIL_CHAT)
        await fake.replies(PUPIL_CHAT, 2)
        mark = fake.mark()
        assert await fake.deliver_webhook(slow) == 200  # the redelivery: already handled, said once
        assert fake.calls_to(PUPIL_CHAT, since=mark) == []
    assert count_rows(engine, JournalEntry) == 2


async def test_waymark_run_registers_the_webhook_once_listening_and_logs_how_it_runs(
    tmp_path: Path, fake: FakeTelegram, caplog: pytest.LogCaptureFixture
) -> None:
    """`waymark run`'s own start-up (bot.runner.serve): webhook, then back to polling."""
    port = free_port()
    url = f"http://127.0.0.1:{port}{WEBHOOK_PATH}"
    database = f"sqlite:///{tmp_path / 'run.db'}"
    common: dict[str, Any] = {
        "database_url": database,
        "telegram_bot_token": fake.token,
        "telegram_api_base_url": fake.base_url,
        "http_host": "127.0.0.1",
        "http_port": port,
        "quiet_hours": False,
    }

    async def run(settings: Settings, body: Callable[[], Any]) -> None:
        stop = asyncio.Event()
        server = asyncio.create_task(serve(settings, stop))
        try:
            await fake.wait_for(lambda: "telegram: " in caplog.text and " as @" in caplog.text, timeout=10)
            await body()
        finally:
            stop.set()
            await asyncio.wait_for(server, 15)

    async def webhook_checks() -> None:
        assert fake.webhook is not None and fake.webhook["url"] == url
        assert fake.webhook_reachable is True  # the server listened before Telegram was told
        mark = fake.mark()
        assert await fake.deliver_webhook(fake.text_update(99999, "/record")) == 200
        assert texts.NOT_LINKED in fake.calls_to(99999, since=mark)[0].text

    caplog.set_level(logging.INFO, logger="waymark")
    await run(load_settings(**common, telegram_webhook_url=url, telegram_webhook_secret="abc_123"), webhook_checks)
    assert f"telegram: webhook {url} (route {WEBHOOK_PATH}) as @waymark_test_bot, database {database}" in caplog.text
    assert fake.calls_of("getUpdates") == []
    caplog.clear()

    async def polling_checks() -> None:
        assert fake.webhook is None and fake.calls_of("deleteWebhook")  # Telegram stops posting
        reply = await say(fake, 99998, "/record")
        assert texts.NOT_LINKED in reply[0].text

    await run(load_settings(**common, telegram_webhook_url=None), polling_checks)
    assert f"telegram: long polling as @waymark_test_bot, database {database}" in caplog.text
    assert "telegram: stopped" in caplog.text


# ------------------------------------------------------------------------------------------ failures


async def test_429_storm_is_waited_out(sqlite_only: Engine, fake: FakeTelegram) -> None:
    engine = sqlite_only
    school = seed.school(engine)
    amira = seed.pupil(engine, school.id, dob=SIXTH_FORMER_DOB)
    seed.link(engine, amira, "telegram", str(PUPIL_CHAT))
    async with running(fake, engine):
        fake.fail_next(2, status=429, retry_after=1, methods={"sendMessage"})
        started = time.monotonic()
        reply = await say(
            fake,
            PUPIL_CHAT,
            "/reflect Careers fair",
        )
        elapsed = time.monotonic() - started
    assert "Careers fair" in reply[0].text
    refused = [c for c in fake.calls_of("sendMessage") if c.status == 429]
    assert len(refused) == 2
    assert elapsed >= 1.9  # it waited retry_after each time rather than hammering
    assert count_rows(engine, JournalEntry) == 1


async def test_a_429_pauses_every_reply_not_just_the_one_refused(engine: Engine, fake: FakeTelegram) -> None:
    first, second = 72001, 72002
    async with running(fake, engine):
        mark = fake.mark()
        fake.fail_next(1, status=429, retry_after=1, methods={"sendMessage"})
        fake.message(first, "/record")
        await fake.wait_for(lambda: any(c.status == 429 for c in fake.calls_of("sendMessage", mark)))
        refused = next(c for c in fake.calls_of("sendMessage", mark) if c.status == 429)
        other = await say(fake, second, "/record")  # another chat, while Telegram's pause runs
        retried = await fake.replies(first, 1, since=mark)
    # Telegram said "wait 1 s" to the bot: the other chat's reply waited too, rather than knocking.
    assert other[0].at - refused.at >= 0.95
    assert retried[0].at - refused.at >= 0.95
    assert [c.status for c in fake.calls_of("sendMessage", mark)].count(429) == 1


async def test_blocked_bot_marks_identity_unreachable(sqlite_only: Engine, fake: FakeTelegram) -> None:
    engine = sqlite_only
    school = seed.school(engine)
    amira = seed.pupil(engine, school.id, dob=SIXTH_FORMER_DOB)
    seed.link(engine, amira, "telegram", str(PUPIL_CHAT))
    ben = seed.pupil(engine, school.id, "Ben", "Ode", dob=SIXTH_FORMER_DOB)
    seed.link(engine, ben, "telegram", "70002")

    def reason(user: str) -> str | None:
        with transaction(engine, write=False) as s:
            identity = identities.find(s, "telegram", user)
            assert identity is not None
            return identity.unreachable_reason if identity.unreachable_at else None

    async with running(fake, engine):
        fake.fail_chat(PUPIL_CHAT, status=403)
        fake.message(PUPIL_CHAT, "/help")
        await eventually(lambda: reason(str(PUPIL_CHAT)) is not None)
        assert "blocked" in (reason(str(PUPIL_CHAT)) or "")
        fake.fail_chat(70002, status=400)  # "chat not found"
        fake.message(70002, "/help")
        await eventually(lambda: reason("70002") is not None)
        assert "chat not found" in (reason("70002") or "").lower()
    # Each was tried once: a permanent refusal is not retried.
    assert len([c for c in fake.calls_of("sendMessage") if c.chat_id == PUPIL_CHAT]) == 1


async def test_network_errors_are_retried(sqlite_only: Engine, fake: FakeTelegram) -> None:
    engine = sqlite_only
    school = seed.school(engine)
    amira = seed.pupil(engine, school.id, dob=SIXTH_FORMER_DOB)
    seed.link(engine, amira, "telegram", str(PUPIL_CHAT))
    async with running(fake, engine):
        fake.fail_next(1, status=500, methods={"sendMessage"})
        reply = await say(fake, PUPIL_CHAT, "/help")
    assert reply and [c.status for c in fake.calls_of("sendMessage")] == [500, 200]


async def test_expired_long_button_is_answered_not_guessed(sqlite_only: Engine, fake: FakeTelegram) -> None:
    engine = sqlite_only
    school = seed.school(engine)
    amira = seed.pupil(engine, school.id, dob=SIXTH_FORMER_DOB)
    seed.link(engine, amira, "telegram", str(PUPIL_CHAT))
    async with running(fake, engine):
        mark = fake.mark()
        fake.press(PUPIL_CHAT, "~" + "0" * 40)  # a token from before a restart
        answers = await fake.replies(PUPIL_CHAT, 0, since=mark)
        await fake.wait_for(lambda: len(fake.calls_of("answerCallbackQuery", mark)) == 1)
        answer = fake.calls_of("answerCallbackQuery", mark)[0]
        assert answer.params["text"] == EXPIRED_BUTTON and answer.params["show_alert"] is True
        assert answers == []
    assert count_rows(engine, ProcessedUpdate) == 0


# ------------------------------------------------------------------------------------------ rendering


async def test_photos_documents_long_text_and_long_button_data(fake: FakeTelegram) -> None:
    async with Bot(fake.token, base_url=fake.base_url) as bot:
        renderer = Renderer(bot)
        await renderer.send(PUPIL_CHAT, Reply("Destinations 2026", image=b"\x89PNG-chart", image_name="dest.png"))
        await renderer.send(PUPIL_CHAT, Reply("Your record", file=b"date,entry\n", file_name="record.csv"))
        long_line = "word " * 2000
        await renderer.send(PUPIL_CHAT, Reply(long_line, buttons=[[Button("Pick", "pick:" + "9" * 100)]]))
        await renderer.send(PUPIL_CHAT, Reply("x" * 2000, image=b"png"))  # too long for a caption
    photo = fake.calls_of("sendPhoto")
    assert photo[0].files["photo"] == b"\x89PNG-chart" and photo[0].params["caption"] == "Destinations 2026"
    document = fake.calls_of("sendDocument")[0]
    assert document.files["document"] == b"date,entry\n" and document.params["caption"] == "Your record"
    texts_sent = [c for c in fake.calls_of("sendMessage")]
    long_parts = texts_sent[:-1]
    assert len(long_parts) == 3 and all(units(c.text) <= 4096 for c in long_parts)
    assert "".join(c.text + " " for c in long_parts).split() == long_line.split()
    assert all(not c.text.endswith("wor") for c in long_parts)  # cut between words
    assert long_parts[-1].buttons() and not long_parts[0].buttons()  # buttons under the last part
    data = long_parts[-1].buttons()[0][1]
    assert len(data.encode()) <= CALLBACK_LIMIT and renderer.codec.decode(data) == "pick:" + "9" * 100
    assert texts_sent[-1].text == "x" * 2000 and photo[1].params.get("caption") is None


@settings(max_examples=200, deadline=None)
@given(st.text(alphabet=st.sampled_from(["a", "b", " ", "\n", "😀", "é"]), max_size=700), st.integers(20, 200))
def test_split_text_keeps_every_word_within_the_limit(text: str, limit: int) -> None:
    parts = split_text(text, limit)
    assert all(0 < units(p) <= limit for p in parts)
    assert "".join(parts).split() == text.split() or " ".join(parts).split() == text.split()


def test_button_data_round_trip() -> None:
    codec = ButtonData(capacity=2)
    assert codec.encode("sk:3") == "sk:3"
    long = [f"/pupil {'x' * 80}{i}" for i in range(3)]
    tokens = [codec.encode(d) for d in long]
    assert all(len(t.encode()) <= CALLBACK_LIMIT for t in tokens)
    assert codec.decode(tokens[2]) == long[2]
    assert codec.decode(tokens[0]) is None  # forgotten beyond capacity: refused, not guessed
    assert codec.decode(codec.encode("~looks-like-a-token")) == "~looks-like-a-token"


def test_base_url_forms() -> None:
    assert base_urls("http://localhost:8081") == ("http://localhost:8081/bot", "http://localhost:8081/file/bot")
    assert base_urls("http://localhost:8081/bot/") == ("http://localhost:8081/bot", "http://localhost:8081/file/bot")
    assert base_urls(None) is None


async def test_chats_run_concurrently_but_each_in_order() -> None:
    processor = ChatOrderedProcessor(8)
    order: list[str] = []
    release_a = asyncio.Event()

    def update(chat_id: int, n: int) -> Update:
        return Update.de_json(
            {"update_id": n, "message": {"message_id": n, "date": 0, "chat": {"id": chat_id, "type": "private"}}},
            None,
        )

    async def step(name: str, wait: asyncio.Event | None = None) -> None:
        order.append(f"{name} start")
        if wait is not None:
            await wait.wait()
        order.append(f"{name} end")

    tasks = [
        asyncio.create_task(processor.process_update(update(1, 1), step("a1", release_a))),
        asyncio.create_task(processor.process_update(update(1, 2), step("a2"))),
        asyncio.create_task(processor.process_update(update(2, 3), step("b1"))),
    ]
    await asyncio.sleep(0.05)
    assert order == ["a1 start", "b1 start", "b1 end"]  # chat 2 did not wait for chat 1
    release_a.set()
    await asyncio.gather(*tasks)
    assert order[3:] == ["a1 end", "a2 start", "a2 end"]  # chat 1 kept its order


# ------------------------------------------------------------------------------------------ outbox transport


async def test_transport_maps_telegram_answers_to_outcomes(fake: FakeTelegram) -> None:
    async with Bot(fake.token, base_url=fake.base_url) as bot:
        transport = TelegramTransport(bot)
        ok = await transport.send("501", "Where are you now?", [[Button("University", "dest:240")]])
        assert ok.result == Delivery.sent
        fake.fail_next(1, status=429, retry_after=7)
        limited = await transport.send("501", "again", [])
        assert limited.result == Delivery.retry and limited.retry_after == 7
        fake.fail_next(1, status=500)
        assert (await transport.send("501", "again", [])).result == Delivery.retry
        fake.fail_chat(502, status=403, description="Forbidden: user is deactivated")
        assert (await transport.send("502", "hi", [])).result == Delivery.unreachable
        fake.fail_chat(503, status=403, description="Forbidden: bot can't initiate conversation with a user")
        assert (await transport.send("503", "hi", [])).result == Delivery.unreachable
        fake.fail_chat(504, status=400)
        assert (await transport.send("504", "hi", [])).result == Delivery.unreachable
        fake.fail_chat(505, status=400, description="Bad Request: can't parse entities")
        failed = await transport.send("505", "hi", [])
        assert failed.result == Delivery.failed and "parse entities" in failed.error
    sent = fake.calls_of("sendMessage")[0]
    assert sent.buttons() == [("University", "dest:240")]


async def test_fake_enforces_telegram_limits_when_asked() -> None:
    async with FakeTelegram(enforce_limits=True, overall_per_second=3) as fake:
        async with Bot(fake.token, base_url=fake.base_url) as bot:
            transport = TelegramTransport(bot)
            assert (await transport.send("1", "one", [])).result == Delivery.sent
            second = await transport.send("1", "two", [])  # same chat within a second
            assert second.result == Delivery.retry and second.retry_after == 1
            assert (await transport.send("2", "x", [])).result == Delivery.sent
            assert (await transport.send("3", "x", [])).result == Delivery.sent
            over = await transport.send("4", "x", [])  # fourth in a second overall
            assert over.result == Delivery.retry
        assert fake.rate_limited == 2


def test_fake_runs_in_its_own_thread() -> None:
    fake = FakeTelegram()
    fake.start_in_thread()
    try:

        async def talk() -> list[Call]:
            async with Bot(fake.token, base_url=fake.base_url) as bot:
                fake.message(1, "/start")
                updates = await bot.get_updates(timeout=2)
                assert updates[0].message is not None and updates[0].message.text == "/start"
                await bot.send_message(1, "hello")
            return await fake.replies(1, 1)

        calls = asyncio.run(talk())
        assert calls[0].text == "hello"
    finally:
        fake.stop_thread()
