"""`bot.channels.telegram.request.AiohttpRequest`: python-telegram-bot's HTTP layer on aiohttp, against the fake Bot API.

The journeys in test_telegram.py and test_sender.py already run on it; these cover what they
don't: uploads reaching the server byte for byte, each kind of timeout, and transport failures
surfacing as python-telegram-bot's own errors.
"""

from __future__ import annotations

import asyncio
import json
import socket
import time
from collections.abc import AsyncIterator

import pytest
from telegram import Bot, InlineKeyboardButton, InlineKeyboardMarkup, InputFile
from telegram.error import BadRequest, NetworkError, RetryAfter, TimedOut
from telegram.request import HTTPXRequest, RequestData
from telegram.request._requestparameter import RequestParameter

from bot.channels.telegram.request import AiohttpRequest, PlainForm
from tests.fakes.telegram_api import FakeTelegram


@pytest.fixture
async def fake() -> AsyncIterator[FakeTelegram]:
    async with FakeTelegram() as server:
        yield server


def make_bot(fake: FakeTelegram, **timeouts: float) -> Bot:
    return Bot(
        fake.token,
        base_url=fake.base_url,
        request=AiohttpRequest(4, **timeouts),
        get_updates_request=AiohttpRequest(1, **timeouts),
    )


def long_poll(fake: FakeTelegram, seconds: int) -> tuple[str, RequestData]:
    """A raw getUpdates request that the fake holds for `seconds` (there are no updates)."""
    return (
        f"{fake.base_url}{fake.token}/getUpdates",
        RequestData([RequestParameter.from_input("timeout", seconds)]),
    )


async def test_a_document_upload_arrives_byte_for_byte_with_its_fields(fake: FakeTelegram) -> None:
    content = bytes(range(256)) * 300  # every byte value, CR/LF and NUL included, ~75 kB
    caption = "Plan for Zoë 🎓 <b>&amp; \u202eRTL\u202c"
    async with make_bot(fake) as bot:
        message = await bot.send_document(
            42,
            InputFile(content, filename="careers plan.pdf", attach=False),
            caption=caption,
            reply_markup=InlineKeyboardMarkup([[InlineKeyboardButton("Got it", callback_data="ok")]]),
        )
    [call] = fake.calls_of("sendDocument")
    assert call.files["document"] == content
    assert call.params["caption"] == caption
    assert call.params["chat_id"] == 42
    assert call.buttons() == [("Got it", "ok")]  # a JSON field inside the multipart body
    assert "careers" in call.params["document"]
    assert message.document is not None and message.document.file_size == len(content)


async def test_a_photo_upload_and_a_plain_message_share_one_session(fake: FakeTelegram) -> None:
    photo = b"\x89PNG\r\n\x1a\n" + b"\x00\xff" * 1000
    async with make_bot(fake) as bot:
        await bot.send_photo(7, InputFile(photo, filename="chart.png"), caption="Your skills")
        await bot.send_message(7, "a & b < c > d", reply_markup=None)
    photo_call, text_call = fake.calls_to(7)
    assert photo_call.files["photo"] == photo
    assert text_call.params["text"] == "a & b < c > d"
    assert not text_call.files


async def test_a_read_timeout_ends_a_request_the_server_holds(fake: FakeTelegram) -> None:
    request = AiohttpRequest(2, read_timeout=5.0)
    await request.initialize()
    try:
        url, data = long_poll(fake, 3)
        started = time.monotonic()
        with pytest.raises(TimedOut):
            await request.post(url, data, read_timeout=0.3)
        assert time.monotonic() - started < 2.0
    finally:
        await request.shutdown()


async def test_a_long_poll_longer_than_the_read_timeout_still_succeeds(fake: FakeTelegram) -> None:
    # python-telegram-bot adds the poll's own timeout to the read timeout for getUpdates.
    async with make_bot(fake, read_timeout=0.2) as bot:
        started = time.monotonic()
        assert await bot.get_updates(timeout=1) == ()
        assert time.monotonic() - started >= 0.9
        fake.message(5, "hello")
        [update] = await bot.get_updates(timeout=1)
    assert update.message is not None and update.message.text == "hello"


async def test_a_full_pool_times_out_naming_the_pool(fake: FakeTelegram) -> None:
    request = AiohttpRequest(1, read_timeout=5.0)
    await request.initialize()
    try:
        url, data = long_poll(fake, 2)
        holder = asyncio.create_task(request.post(url, data))
        while not fake._waiters:  # until the fake holds the long poll: the only connection is busy
            await asyncio.sleep(0.01)
        with pytest.raises(TimedOut, match="no free connection"):
            await request.post(f"{fake.base_url}{fake.token}/getMe", pool_timeout=0.1)
        assert await holder == []  # the held request itself finishes normally
        assert (await request.post(f"{fake.base_url}{fake.token}/getMe", pool_timeout=0.1))["username"]
    finally:
        await request.shutdown()


async def test_error_answers_keep_python_telegram_bots_meaning(fake: FakeTelegram) -> None:
    async with make_bot(fake) as bot:
        fake.fail_next(status=429, retry_after=3)
        with pytest.raises(RetryAfter) as flood:
            await bot.send_message(1, "hi")
        assert flood.value.retry_after.total_seconds() == 3  # type: ignore[union-attr]
        fake.fail_next(status=400, description="Bad Request: chat not found")
        with pytest.raises(BadRequest, match=r"(?i)chat not found"):
            await bot.send_message(1, "hi")
        fake.fail_next(status=500)
        with pytest.raises(NetworkError):
            await bot.send_message(1, "hi")


async def test_a_server_that_is_not_there_is_a_network_error() -> None:
    with socket.socket() as probe:  # a port nobody listens on
        probe.bind(("127.0.0.1", 0))
        port = probe.getsockname()[1]
    request = AiohttpRequest(1, connect_timeout=1.0)
    try:
        with pytest.raises(NetworkError) as refused:
            await request.post(f"http://127.0.0.1:{port}/bot1:x/getMe")
        assert not isinstance(refused.value, TimedOut)
        assert "aiohttp" in refused.value.message
    finally:
        await request.shutdown()


async def test_it_can_be_shut_down_and_used_again(fake: FakeTelegram) -> None:
    request = AiohttpRequest(1)
    url = f"{fake.base_url}{fake.token}/getMe"
    async with request:
        assert (await request.post(url))["id"]
    async with request:
        assert (await request.post(url))["id"]
    assert request.read_timeout == 5.0


@pytest.mark.parametrize("layer", ["aiohttp", "httpx"])
async def test_a_plain_form_posts_the_same_message_on_either_layer(fake: FakeTelegram, layer: str) -> None:
    """The outbox sender's own sendMessage fields: JSON on aiohttp, form fields on httpx, one meaning."""
    request = AiohttpRequest(2) if layer == "aiohttp" else HTTPXRequest()
    url = f"{fake.base_url}{fake.token}/sendMessage"
    markup = json.dumps(
        {"inline_keyboard": [[{"text": "Zoë's page 🎓", "callback_data": "dest:240"}]]}, ensure_ascii=False
    )
    async with request:
        result = await request.post(
            url, PlainForm({"text": "a & b < c\nZoë 🎓"}, {"chat_id": "42", "reply_markup": markup})
        )
        assert isinstance(result, dict) and result["text"] == "a & b < c\nZoë 🎓"
        fake.fail_next(status=429, retry_after=2)
        with pytest.raises(RetryAfter):  # python-telegram-bot's error mapping still applies
            await request.post(url, PlainForm({"chat_id": "@channel", "text": "hi"}))
    [call] = [c for c in fake.calls_of("sendMessage") if c.ok]
    assert call.chat_id == 42 and call.text == "a & b < c\nZoë 🎓"
    assert call.buttons() == [("Zoë's page 🎓", "dest:240")]


async def test_the_environments_proxy_and_no_proxy_still_apply(
    fake: FakeTelegram, monkeypatch: pytest.MonkeyPatch
) -> None:
    with socket.socket() as probe:  # a proxy nobody runs
        probe.bind(("127.0.0.1", 0))
        port = probe.getsockname()[1]
    monkeypatch.setenv("HTTP_PROXY", f"http://127.0.0.1:{port}")
    monkeypatch.setenv("NO_PROXY", "localhost")
    url = f"{fake.base_url}{fake.token}/getMe"
    async with AiohttpRequest(1, connect_timeout=1.0) as proxied:
        with pytest.raises(NetworkError):  # went to the proxy, which is not there
            await proxied.post(url)
    monkeypatch.setenv("NO_PROXY", "127.0.0.1,localhost")
    async with AiohttpRequest(1) as direct:
        assert (await direct.post(url))["username"]
    async with AiohttpRequest(1, connect_timeout=1.0, trust_env=False) as ignoring:
        monkeypatch.setenv("NO_PROXY", "localhost")
        assert (await ignoring.post(url))["username"]
