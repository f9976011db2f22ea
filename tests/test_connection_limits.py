"""The HTTP server holds under idle and greedy clients: connections without headers are closed after
the header timeout, slow bodies after the body timeout, connections and chat pages are limited;
all bounded in count and time, on loopback."""

from __future__ import annotations

import asyncio
import json
import logging
import re
import time
from collections.abc import AsyncIterator
from contextlib import asynccontextmanager
from typing import Any

import aiohttp
import pytest
from sqlalchemy import Engine, event
from sqlmodel import col, select

from bot.channels.web.session import client_address
from bot.connections import GuardedSite, is_loopback, normalised
from bot.http import BOUND_PORTS, SITE, start_http
from core.settings import load_settings
from handlers import Dispatcher
from storage import transcript
from storage.db import transaction
from storage.models import TranscriptLine, utcnow
from tests.test_web import pupil_with_code
from tests.web_client import Browser, hidden


@asynccontextmanager
async def server(engine: Engine, **limits: Any) -> AsyncIterator[tuple[str, int, GuardedSite]]:
    settings = load_settings(
        database_url="sqlite://", http_host="127.0.0.1", http_port=0, public_url="http://127.0.0.1", **limits
    )
    stop, app = await start_http(settings, Dispatcher(engine, settings))
    try:
        yield "127.0.0.1", app[BOUND_PORTS][0], app[SITE][0]
    finally:
        await stop()


async def closed_by_server(reader: asyncio.StreamReader, within: float) -> bool:
    try:
        return await asyncio.wait_for(reader.read(), within) == b""  # EOF: the server closed it
    except (ConnectionResetError, BrokenPipeError):
        return True
    except TimeoutError:
        return False


def test_loopback_in_every_spelling() -> None:
    for address in ("127.0.0.1", "127.0.0.2", "::1", "::ffff:127.0.0.1"):
        assert is_loopback(address), address
    for address in ("10.0.0.1", "::ffff:10.0.0.1", "2001:db8::1", "unknown", ""):
        assert not is_loopback(address), address
    assert normalised("::ffff:10.0.0.1") == "10.0.0.1"
    # A reverse proxy on this machine reaching us over a dual-stack socket is believed about the client.
    assert client_address("::ffff:127.0.0.1", "203.0.113.9") == "203.0.113.9"
    assert client_address("::ffff:10.0.0.1", "203.0.113.9") == "10.0.0.1"


async def test_fifty_idle_connections_are_closed_after_the_header_timeout(sqlite_only: Engine) -> None:
    async with server(sqlite_only, http_header_timeout=0.5) as (host, port, site):
        opened = [await asyncio.open_connection(host, port) for _ in range(50)]
        for n, (_, writer) in enumerate(opened):
            if n % 2:  # half send part of a request line and then nothing more
                writer.write(b"POST /signin HTTP/1.1\r\nHost: x\r\n")
        await asyncio.sleep(0.1)
        assert site.guard is not None and site.guard.open >= 50
        # Meanwhile a real request is answered at once, and so is one whose headers come in pieces;
        # only those two ever reach aiohttp (the idle ones cost no handler of its own).
        async with aiohttp.ClientSession() as http, http.get(f"http://{host}:{port}/healthz") as r:
            assert r.status == 200
        reader, writer = await asyncio.open_connection(host, port)
        for piece in (b"GET /healthz HTTP/1.1\r\nHo", b"st: x\r\nConnection: close\r\n\r", b"\n"):
            writer.write(piece)
            await asyncio.sleep(0.05)
        assert (await reader.read()).startswith(b"HTTP/1.1 200")
        writer.close()
        assert site.guard.handed == 2
        started = time.monotonic()
        results = await asyncio.gather(*(closed_by_server(reader, 3.0) for reader, _ in opened))
        assert all(results) and time.monotonic() - started < 3.0
        assert site.guard.timed_out >= 50 and site.guard.open == 0
        for _, writer in opened:
            writer.close()


async def test_at_the_connection_limit_new_connections_wait_rather_than_being_closed(sqlite_only: Engine) -> None:
    """At the limit the server stops accepting: the next connection waits in the backlog, costing
    the server nothing, and is served as soon as one closes (accept-and-close in a loop cost so
    much CPU that pupils waited seconds)."""
    async with server(sqlite_only, http_max_connections=10, http_header_timeout=5) as (host, port, site):
        held = [await asyncio.open_connection(host, port) for _ in range(10)]
        await asyncio.sleep(0.1)
        reader, writer = await asyncio.open_connection(host, port)
        writer.write(b"GET /healthz HTTP/1.1\r\nHost: x\r\nConnection: close\r\n\r\n")
        with pytest.raises(TimeoutError):
            await asyncio.wait_for(reader.read(1), 0.5)  # not accepted yet, and not closed
        assert site.guard is not None and site.guard.open == 10 and site.pauses >= 1
        assert site.guard.refused == 0
        held[0][1].close()
        answer = await asyncio.wait_for(reader.read(), 3.0)
        assert answer.startswith(b"HTTP/1.1 200")
        for _, w in [*held, (reader, writer)]:
            w.close()


async def test_the_header_timeout_covers_every_request_on_a_kept_alive_connection(sqlite_only: Engine) -> None:
    async with server(sqlite_only, http_header_timeout=0.5) as (host, port, site):
        reader, writer = await asyncio.open_connection(host, port)
        for _ in range(2):  # two whole requests, the second sent after more than the timeout
            writer.write(b"GET /healthz HTTP/1.1\r\nHost: x\r\n\r\n")
            head = await asyncio.wait_for(reader.readuntil(b"\r\n\r\n"), 3.0)
            assert head.startswith(b"HTTP/1.1 200")
            length = next(int(h.split(b":")[1]) for h in head.split(b"\r\n") if h.lower().startswith(b"content-length"))
            await reader.readexactly(length)
            await asyncio.sleep(0.7)
        assert site.guard is not None
        timed_out = site.guard.timed_out
        started = time.monotonic()
        writer.write(b"GET /healthz HTTP/1.1\r\nHost: x\r\n")  # a third whose headers never end
        assert await closed_by_server(reader, 3.0)
        assert time.monotonic() - started < 2.0 and site.guard.timed_out == timed_out + 1
        writer.close()


async def test_a_body_that_never_finishes_gets_408(sqlite_only: Engine) -> None:
    async with server(sqlite_only, http_body_timeout=0.5) as (host, port, _):
        reader, writer = await asyncio.open_connection(host, port)
        writer.write(b"POST /signin HTTP/1.1\r\nHost: x\r\nContent-Type: application/x-www-form-urlencoded\r\n")
        writer.write(b"Content-Length: 100\r\n\r\ncode=AB")
        answer = await asyncio.wait_for(reader.read(200), 3.0)
        assert answer.startswith(b"HTTP/1.1 408")
        writer.close()


async def test_chat_pages_are_limited_per_session(sqlite_only: Engine) -> None:
    _, code = pupil_with_code(sqlite_only)
    async with server(sqlite_only, web_sockets_per_session=3) as (host, port, _):

        class Site:
            base = f"http://{host}:{port}"

        b = Browser(Site())
        try:
            await b.sign_in(code)
            csrf = await b.chat_csrf()
            pages = [await b.ws(csrf) for _ in range(3)]
            with pytest.raises(aiohttp.WSServerHandshakeError) as refused:
                await b.ws(csrf)
            assert refused.value.status == 429
            await pages[0].close()
            await asyncio.sleep(0.1)
            pages[0] = await b.ws(csrf)  # one closed: room for another
            for page in pages:
                await page.close()
        finally:
            await b.close()


async def test_the_page_and_the_first_frame_carry_only_the_last_lines(sqlite_only: Engine) -> None:
    _, code = pupil_with_code(sqlite_only)
    async with server(sqlite_only, web_chat_page_lines=10) as (host, port, _):

        class Site:
            base = f"http://{host}:{port}"

        b = Browser(Site())
        try:
            await b.sign_in(code)
            with transaction(sqlite_only) as s:
                key = s.exec(select(TranscriptLine.identity_key)).first()
                assert key is not None
                for n in range(40):
                    transcript.record(s, key, None, "in", f"line number {n:02d}", utcnow())
            status, html = await b.page("/chat")
            assert status == 200 and "line number 39" in html and "line number 30" in html
            assert "line number 29" not in html
            ws = await b.ws(hidden(html, "csrf"))
            first = json.loads((await asyncio.wait_for(ws.receive(), 5)).data)
            assert len(first["lines"]) == 10 and first["lines"][0]["text"] == "line number 30"
            await ws.close()
        finally:
            await b.close()


async def test_earlier_messages_page_back_through_the_whole_conversation(sqlite_only: Engine) -> None:
    """The chat shows the last lines and links to earlier ones; following "Earlier messages" from
    page to page shows every older line once, in order, on plain pages (no script, no composer)."""
    _, code = pupil_with_code(sqlite_only)
    _, someone_else = pupil_with_code(sqlite_only)
    async with server(sqlite_only, web_chat_page_lines=10) as (host, port, _):

        class Site:
            base = f"http://{host}:{port}"

        other = Browser(Site())
        b = Browser(Site())
        try:
            await other.sign_in(someone_else)
            await b.sign_in(code)
            with transaction(sqlite_only) as s:
                key = s.exec(select(TranscriptLine.identity_key).order_by(col(TranscriptLine.id).desc())).first()
                assert key is not None
                for n in range(35):
                    transcript.record(s, key, None, "in", f"line number {n:02d}", utcnow())
            status, html = await b.page("/chat")
            assert status == 200 and "line number 34" in html and "line number 24" not in html
            seen = re.findall(r"line number (\d\d)", html)
            pages_followed = 0
            while (link := re.search(r'href="(/chat\?before=\d+)">Earlier messages', html)) is not None:
                status, html = await b.page(link.group(1))
                assert status == 200 and "<script" not in html and 'id="composer"' not in html
                assert "Back to the latest messages" in html
                seen = re.findall(r"line number (\d\d)", html) + seen
                pages_followed += 1
            assert seen == [f"{n:02d}" for n in range(35)]  # every line once, oldest first
            assert pages_followed >= 3
            # The other pupil's earlier messages are theirs: paging from the newest id finds none of these.
            _, theirs = await other.page("/chat?before=2147483647")
            assert "line number" not in theirs
            for wrong in ("abc", "-1", "0", "²", "99999999999999999999"):
                status, _ = await b.page(f"/chat?before={wrong}")
                assert status == 303, wrong  # back to the chat, nothing lost
        finally:
            await b.close()
            await other.close()


async def test_a_read_only_database_gives_one_line_and_the_server_recovers(
    sqlite_only: Engine, caplog: pytest.LogCaptureFixture
) -> None:
    """As a full disk or a read-only file does: every write fails. Tests run as root, which file
    permissions do not stop, so SQLite's own `query_only` makes the database refuse writes."""
    _, code = pupil_with_code(sqlite_only)
    read_only = [False]

    def maybe_read_only(dbapi_connection: Any, _record: Any) -> None:
        if read_only[0]:
            dbapi_connection.execute("PRAGMA query_only=ON")

    event.listen(sqlite_only, "connect", maybe_read_only)
    async with server(sqlite_only) as (host, port, _):

        class Site:
            base = f"http://{host}:{port}"

        b = Browser(Site())
        try:
            read_only[0] = True
            sqlite_only.dispose()
            _, html = await b.page("/signin")
            caplog.clear()
            async with b.http.post("/signin", data={"code": code, "csrf": hidden(html, "csrf")}) as r:
                assert r.status == 503 and "try again in a minute" in await r.text()
            errors = [rec for rec in caplog.records if rec.levelno >= logging.ERROR]
            assert len(errors) == 1 and "readonly database" in errors[0].getMessage()
            assert "Traceback" not in caplog.text and code not in caplog.text
            read_only[0] = False
            sqlite_only.dispose()  # the database is back: no restart
            assert (await b.sign_in(code)).status == 303
        finally:
            await b.close()
