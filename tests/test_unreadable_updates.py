"""An update python-telegram-bot cannot read is skipped, logged once without its content, kept for
review, and never holds up the updates after it: polling and webhook, against the fake Bot API."""

from __future__ import annotations

import json
import logging
from typing import Any

import pytest
from aiohttp import ClientSession
from sqlalchemy import Engine
from sqlmodel import select

from bot.channels.telegram.unreadable import screen_batch, unreadable_of
from handlers import texts
from storage import crypto, unreadable
from storage.db import transaction
from storage.models import UnreadableUpdate, utcnow
from tests.fakes.telegram_api import FakeTelegram
from tests.test_telegram import SENDS, fake, running, texts_of, webhook_mode

__all__ = ["fake"]  # the fixture, used by name

SECRET_WORDS = "my secret poll question"


def a_poll_the_library_cannot_read() -> dict[str, Any]:
    """A poll as an older Bot API sent it: without fields python-telegram-bot 22.8 requires."""
    options = [{"text": "yes", "voter_count": 1}, {"text": "no", "voter_count": 0}]
    return {"poll": {"id": "5", "question": SECRET_WORDS, "options": options, "total_voter_count": 1}}


KEY = crypto.new_key()


def test_the_sender_is_kept_where_the_update_names_one() -> None:
    message = {"update_id": 9, "message": {"from": {"id": 4242, "is_bot": False}, "chat": {"id": 4242}}}
    answer = {"update_id": 10, "poll_answer": {"poll_id": "5", "user": {"id": 77}}}
    assert (found := unreadable_of(message, TypeError())) is not None and found.sender == 4242
    assert (found := unreadable_of(answer, TypeError())) is not None and found.sender == 77
    assert (found := unreadable_of({"update_id": 11, "poll": {"id": "5"}}, TypeError())) is not None
    assert found.sender is None


def kept(engine: Engine) -> list[UnreadableUpdate]:
    with transaction(engine, write=False) as s:
        return unreadable.latest(s)


def test_a_batch_keeps_its_good_updates_and_a_bare_id_for_the_bad() -> None:
    good = {"update_id": 1, "message": {"message_id": 1, "date": 0, "chat": {"id": 7, "type": "private"}, "text": "hi"}}
    bad = {"update_id": 2, **a_poll_the_library_cannot_read()}
    payload = b'{"ok": true, "result": [' + b",".join(json.dumps(u).encode() for u in (good, bad)) + b"]}"
    screened, found = screen_batch(payload)
    assert [(f.update_id, f.kind) for f in found] == [(2, "poll")]
    assert b'"text": "hi"' in screened and SECRET_WORDS.encode() not in screened
    assert screen_batch(b'{"ok": true, "result": []}') == (b'{"ok": true, "result": []}', [])
    assert screen_batch(b"[" * 100_000)[1] == []  # not an answer at all: left to the library


def test_the_table_is_bounded_and_keeps_each_update_once(sqlite_only: Engine, monkeypatch: pytest.MonkeyPatch) -> None:
    monkeypatch.setattr(unreadable, "KEEP", 3)
    with transaction(sqlite_only) as s:
        assert unreadable.keep(s, "telegram", "1", "poll", "{}", utcnow(), key=KEY)
        assert not unreadable.keep(s, "telegram", "1", "poll", "{}", utcnow(), key=KEY)
        for n in range(2, 7):
            unreadable.keep(s, "telegram", str(n), "poll", "{}", utcnow(), key=KEY)
    assert [row.update_id for row in kept(sqlite_only)] == ["6", "5", "4"]


async def test_polling_skips_an_unreadable_update_between_two_good_ones(
    sqlite_only: Engine, fake: FakeTelegram, caplog: pytest.LogCaptureFixture
) -> None:
    first = fake.message(90001, "hello")
    bad = fake.inject(a_poll_the_library_cannot_read())
    last = fake.message(90002, "hello again")
    caplog.set_level(logging.INFO)
    async with running(fake, sqlite_only, encryption_key=KEY):
        assert texts.NOT_LINKED in texts_of(await fake.replies(90001, 1, methods=SENDS))
        assert texts.NOT_LINKED in texts_of(await fake.replies(90002, 1, methods=SENDS))
        # The offset moved past it: a later poll asks for updates after the last good one.
        await fake.wait_for(
            lambda: any(int(c.params.get("offset") or 0) > last["update_id"] for c in fake.calls_of("getUpdates"))
        )
    assert first["update_id"] < bad["update_id"] < last["update_id"]
    rows = kept(sqlite_only)
    assert [(r.update_id, r.kind) for r in rows] == [(str(bad["update_id"]), "poll")]
    # Kept encrypted (it may hold a pupil's words), with the account it came from for subject access.
    assert SECRET_WORDS.encode() not in rows[0].raw and SECRET_WORDS in crypto.decrypt(KEY, rows[0].raw)
    assert rows[0].identity_key is None  # a poll names no sender
    said = [r.getMessage() for r in caplog.records if str(bad["update_id"]) in r.getMessage()]
    assert len(said) == 1 and "poll" in said[0]
    assert SECRET_WORDS not in caplog.text
    assert "Traceback" not in caplog.text


async def test_the_webhook_answers_200_for_an_unreadable_update_and_goes_on(
    sqlite_only: Engine, fake: FakeTelegram, caplog: pytest.LogCaptureFixture
) -> None:
    caplog.set_level(logging.INFO)
    async with webhook_mode(fake, sqlite_only):
        assert await fake.deliver_webhook(fake.text_update(90001, "hello")) == 200
        bad = {"update_id": 424242, **a_poll_the_library_cannot_read()}
        assert await fake.deliver_webhook(bad) == 200
        assert await fake.deliver_webhook(bad) == 200  # Telegram's retry: still 200, kept once, said once
        assert await fake.deliver_webhook(fake.text_update(90002, "hello again")) == 200
        assert texts.NOT_LINKED in texts_of(fake.calls_to(90001, SENDS))
        assert texts.NOT_LINKED in texts_of(fake.calls_to(90002, SENDS))
    assert [(r.update_id, r.kind) for r in kept(sqlite_only)] == [("424242", "poll")]
    assert len([r for r in caplog.records if "424242" in r.getMessage()]) == 1
    assert SECRET_WORDS not in caplog.text


async def test_the_webhook_refuses_what_is_not_json_in_a_line(sqlite_only: Engine, fake: FakeTelegram) -> None:
    async with webhook_mode(fake, sqlite_only):
        url, token = fake.webhook["url"], fake.webhook["secret_token"]
        async with ClientSession() as http:
            for body in ("[" * 100_000, "{not json"):
                headers = {"X-Telegram-Bot-Api-Secret-Token": token, "Content-Type": "application/json"}
                async with http.post(url, data=body, headers=headers) as response:
                    assert response.status == 400
    with transaction(sqlite_only, write=False) as s:
        assert s.exec(select(UnreadableUpdate)).all() == []
