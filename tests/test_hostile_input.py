"""Crafted input gets a clear answer, never a 500, a traceback or a database error: numbers people
type, ids in addresses, malformed JSON and frames, NUL and other control characters (PostgreSQL
refuses NUL), on SQLite and PostgreSQL, through the real web chat and Slack endpoints on loopback."""

from __future__ import annotations

import asyncio
import json
import logging
import time
from collections.abc import AsyncIterator
from typing import Any

import pytest
from aiohttp import ClientSession, WSMsgType
from sqlalchemy import Engine, func
from sqlmodel import select

from bot.channels.web.live import UNREADABLE
from core.characters import has_refused_characters
from core.numbers import MAX_ID, whole_number
from handlers import texts
from storage import seed
from storage.db import transaction
from storage.models import JournalEntry, StaffRole, TranscriptLine
from tests.conftest import MakeChat
from tests.fakes.slack_api import TEAM, FakeSlack
from tests.test_slack import running as slack_running
from tests.test_web import Site, pupil_with_code, start_site
from tests.web_client import Browser

HUGE = "99999999999999999999"


def test_whole_numbers_are_ascii_digits_within_range() -> None:
    assert whole_number("12") == 12 and whole_number("0") == 0
    assert whole_number(str(MAX_ID)) == MAX_ID
    for odd in ("²", "٣", "１２", "1_000", " 1", "+1", "-1", "1.0", "", None, HUGE, str(MAX_ID + 1), "0x1"):
        assert whole_number(odd) is None, odd
    assert whole_number("5", low=1, high=4) is None and whole_number("4", low=1, high=4) == 4


def test_refused_characters() -> None:
    for bad in ("a\x00b", "\x07", "x\x1by", "\x7f", "\x85", "\ud800"):
        assert has_refused_characters(bad), repr(bad)
    for fine in ("tab\there", "two\nlines\r\n", "émoji 🚀 مرحبا", "", None):
        assert not has_refused_characters(fine), repr(fine)


def test_numbers_typed_by_a_pupil_get_a_clear_answer(engine: Engine, chat: MakeChat) -> None:
    school = seed.school(engine)
    tutor = seed.staff(engine, school.id, "Sam", "Patel", role=StaffRole.tutor)
    pupil = seed.pupil(engine, school.id, "Amira", "Khan", tutor_id=tutor.id)
    advice = seed.advice(engine, pupil, tutor, "guidance", "Talked about college")
    seed.action(engine, pupil, advice, "Visit the college open day")
    amira = chat("amira", pupil)
    for text in ("/actions done ²", f"/actions done {HUGE}", "/actions done ١", "/actions done -1"):
        reply = " ".join(r.text for r in amira.say(text))
        assert "couldn't find that action" in reply, text
    for text in ("/record ²", f"/record {HUGE}", "/record ٣"):
        assert "Your record" in amira.say(text)[0].text, text
    sam = chat("sam", tutor)
    for text in ("/caseload ²", f"/caseload {HUGE}", f"/pupil {HUGE}", "/attention ١١"):
        assert sam.say(text), text  # an answer, not an exception
    for data in (f"pupil:{HUGE}", "skill:²", f"app:{HUGE}"):
        assert amira.press_data(data)


def test_a_nul_or_control_character_is_refused_kindly_and_nothing_breaks(engine: Engine, chat: MakeChat) -> None:
    school = seed.school(engine)
    pupil = seed.pupil(engine, school.id, "Amira", "Khan")
    web = chat("web-amira", pupil, platform="web")  # the web chat keeps a transcript: no NUL may reach it
    for text in ("/reflect Helped\x00 at the vet", "hello\x1b[31m", "\x00"):
        replies = web.say(text)
        assert texts.CONTROL_CHARACTERS in replies[0].text, text
    assert "Saved to your journal" in web.say("/reflect Helped at the vet")[0].text
    with transaction(engine, write=False) as s:
        assert [e.text for e in s.exec(select(JournalEntry)).all()] == ["Helped at the vet"]
        shown = [line.text for line in s.exec(select(TranscriptLine)).all()]
    assert not any(has_refused_characters(line) for line in shown)
    assert "/reflect Helped\ufffd at the vet" in shown


def test_the_transcript_keeps_no_more_than_the_engine_does(engine: Engine, chat: MakeChat) -> None:
    school = seed.school(engine)
    web = chat("web-amira", seed.pupil(engine, school.id, "Amira", "Khan"), platform="web")
    web.say("x" * 500_000)
    with transaction(engine, write=False) as s:
        longest = s.exec(select(func.max(func.length(TranscriptLine.text)))).one()
    assert longest is not None and longest <= 4_001


# --- the web chat over HTTP -------------------------------------------------------------------------


@pytest.fixture
async def site(sqlite_only: Engine) -> AsyncIterator[Site]:
    s = await start_site(sqlite_only)
    yield s
    await s.server.close()


async def test_web_ids_out_of_range_are_404_and_frames_out_of_shape_get_words(
    site: Site, caplog: pytest.LogCaptureFixture
) -> None:
    _, code = pupil_with_code(site.engine)
    b = Browser(site)
    try:
        await b.sign_in(code)
        for path in (f"/media/{HUGE}", "/media/²", "/media/-1", f"/media/{MAX_ID + 1}"):
            assert (await b.page(path))[0] == 404, path
        csrf = await b.chat_csrf()
        ws = await b.ws(csrf, after=int(HUGE))  # a made-up cursor: ignored, not an overflow
        for frame in ("[" * 100_000, "{not json", '"\\ud800"', json.dumps({"text": "hi\x00"})):
            await ws.send_str(frame)
        errors, lines = [], []
        while not any(texts.CONTROL_CHARACTERS in line for line in lines):
            message = json.loads((await asyncio.wait_for(ws.receive(), 5)).data)
            if message["type"] == "error":
                errors.append(message["text"])
            elif message["type"] == "ack":  # a receipt: the engine's words when the message was not saved
                lines += [message["text"] or ""]
            else:
                lines += [line["text"] for line in message["lines"] if line["dir"] == "out"]
        assert errors == [UNREADABLE] * 3
        await ws.send_json({"text": "/help", "mid": "after-all-that"})
        while True:  # the socket still works
            message = json.loads((await asyncio.wait_for(ws.receive(), 5)).data)
            if message["type"] == "lines" and any(line["dir"] == "out" for line in message["lines"]):
                break
        await ws.close()
        assert ws.close_code is not None and (await ws.receive()).type in (WSMsgType.CLOSED, WSMsgType.CLOSE)
    finally:
        await b.close()
    assert "Traceback" not in caplog.text and "Error handling request" not in caplog.text


# --- Slack --------------------------------------------------------------------------------------------


async def test_slack_refuses_unsigned_and_malformed_bodies_quietly_and_a_replay_runs_once(
    sqlite_only: Engine, caplog: pytest.LogCaptureFixture
) -> None:
    caplog.set_level(logging.DEBUG)
    school = seed.school(sqlite_only)
    tutor = seed.staff(sqlite_only, school.id, "Sam", "Patel", role=StaffRole.tutor)
    async with FakeSlack() as fake, slack_running(fake, sqlite_only) as bot:
        url = bot.slack.url
        # Unsigned: refused before anything reads it, and the words never reach the log.
        unsigned = {"Content-Type": "application/json"}
        async with ClientSession() as http, http.post(url, data="{not json secretword", headers=unsigned) as r:
            assert r.status == 401
        status, _ = await bot.slack.post("{not json", "application/json")  # signed, yet not JSON
        assert status == 400
        status, _ = await bot.slack.post("[" * 100_000, "application/json")
        assert status == 400
        # A signed command sent twice as it was (same timestamp and signature) runs once.
        code = seed.code_for(sqlite_only, tutor)
        body = f"command=%2Fwaymark&text=link+{code}&user_id=USAM&team_id={TEAM}&channel_id=DSAM&channel_name=directmessage"
        timestamp = str(int(time.time()))
        signature = bot.slack.verifier.generate_signature(timestamp=timestamp, body=body)
        headers: dict[str, Any] = {"X-Slack-Request-Timestamp": timestamp, "X-Slack-Signature": signature}
        headers["Content-Type"] = "application/x-www-form-urlencoded"
        async with ClientSession() as http:
            for _ in range(2):
                async with http.post(url, data=body, headers=headers) as r:
                    assert r.status == 200
        await bot.settle()
        welcomes = [c for c in fake.calls if c.method == "chat.postMessage" and "Welcome" in c.text]
        assert len(welcomes) == 1
    assert "secretword" not in caplog.text
    assert "Traceback" not in caplog.text


async def test_slack_ignores_a_signed_event_from_another_workspace(sqlite_only: Engine) -> None:
    school = seed.school(sqlite_only)
    tutor = seed.staff(sqlite_only, school.id, "Sam", "Patel", role=StaffRole.tutor)
    seed.link(sqlite_only, tutor, "slack", "USAM")
    async with FakeSlack() as fake, slack_running(fake, sqlite_only) as bot:
        event = {"type": "message", "user": "USAM", "text": "/help", "channel": "DSAM", "channel_type": "im"}
        ours = json.loads(bot.slack.event_body(event))
        theirs = {**ours, "event_id": "EvOTHER", "team_id": "TOTHER", "authorizations": [{"team_id": "TOTHER"}]}
        assert (await bot.slack.post(json.dumps(theirs), "application/json"))[0] == 200
        await bot.settle()
        assert not [c for c in fake.calls if c.method == "chat.postMessage"]
        assert (await bot.slack.post(json.dumps(ours), "application/json"))[0] == 200
        await bot.settle()
        assert [c for c in fake.calls if c.method == "chat.postMessage"]
