"""The web chat over real HTTP: aiohttp's server on 127.0.0.1, browsers played by aiohttp client sessions."""

from __future__ import annotations

import asyncio
import json
import re
import struct
import time
import zlib
from collections.abc import AsyncIterator, Iterator
from contextlib import contextmanager
from dataclasses import dataclass
from datetime import UTC, datetime, timedelta
from typing import Any

import aiohttp
import pytest
from aiohttp.test_utils import TestServer
from sqlalchemy import Engine, event
from sqlalchemy.exc import OperationalError
from sqlmodel import select

from bot.channels.web import WEB_CHAT, pages
from bot.channels.web.session import CSP, SESSION_COOKIE, client_address
from bot.http import build_app
from core.retention import DEFAULTS, Duration, schedule_from_json, schedule_to_json
from core.settings import Settings, load_settings
from handlers import Dispatcher, texts
from storage import (
    chatfiles,
    checkin_links,
    codes,
    crypto,
    identities,
    outbox,
    seed,
    signin_limits,
    transcript,
    websessions,
)
from storage.db import transaction
from storage.models import Person, Role, StaffRole, TranscriptLine, WebSession
from storage.models import School as SchoolRow
from tests.chat import Chat
from tests.web_client import Browser, hidden, read_ack, read_lines


class Clock:
    def __init__(self) -> None:
        self.now = datetime.now(UTC)

    def __call__(self) -> datetime:
        return self.now


@dataclass
class Site:
    server: TestServer
    engine: Engine
    clock: Clock
    settings: Settings

    @property
    def base(self) -> str:
        return str(self.server.make_url("")).rstrip("/")


async def start_site(engine: Engine, public_url: str = "http://localhost:8080") -> Site:
    settings = load_settings(database_url="sqlite://", public_url=public_url, school_name="Test Academy")
    clock = Clock()
    app = build_app(settings, Dispatcher(engine, settings, clock=clock))
    app[WEB_CHAT].outbox_poll_seconds = 0.05
    server = TestServer(app, host="127.0.0.1", port=0)
    await server.start_server()
    return Site(server, engine, clock, settings)


@pytest.fixture
async def site(engine: Engine) -> AsyncIterator[Site]:
    s = await start_site(engine)
    yield s
    await s.server.close()


@pytest.fixture
async def browsers(site: Site) -> AsyncIterator[list[Browser]]:
    made = [Browser(site) for _ in range(3)]
    yield made
    for b in made:
        await b.close()


@contextmanager
def counting_transactions(engine: Engine) -> Iterator[list[int]]:
    """How many transactions the database saw inside the block."""
    began = [0]

    def on_begin(_conn: Any) -> None:
        began[0] += 1

    event.listen(engine, "begin", on_begin)
    try:
        yield began
    finally:
        event.remove(engine, "begin", on_begin)


def pupil_with_code(engine: Engine, given: str = "Amira", days: int = 30) -> tuple[Person, str]:
    school = seed.school(engine)
    person = seed.pupil(engine, school.id, given, "Khan")
    return person, seed.code_for(engine, person, days=days)


# --- sign in ------------------------------------------------------------------------------


async def test_good_code_signs_in_with_a_strict_http_only_cookie(site: Site, browsers: list[Browser]) -> None:
    _, code = pupil_with_code(site.engine)
    response = await browsers[0].sign_in(code.lower())  # any case, as typed on a phone
    assert response.status == 303 and response.headers["Location"] == "/chat"
    cookie = next(h for h in response.headers.getall("Set-Cookie") if h.startswith(f"{SESSION_COOKIE}="))
    assert "HttpOnly" in cookie and "SameSite=Strict" in cookie and "Path=/" in cookie
    assert "Secure" not in cookie  # plain http in this test; see the https case below
    token = cookie.split(";")[0].split("=", 1)[1]
    assert len(token) >= 22  # 128 bits, url-safe base64
    with transaction(site.engine) as s:
        row = s.exec(select(WebSession)).one()
        assert row.token_hash == websessions.token_hash(token) and token not in row.token_hash
    status, html = await browsers[0].page("/chat")
    assert status == 200
    assert "Welcome to Waymark, Amira" in html and "Test Academy" in html
    assert 'name="button" value="/reflect"' in html  # the menu, as large choice buttons
    assert code not in html  # the used code is not shown back


async def test_a_sign_in_is_one_transaction(site: Site, browsers: list[Browser]) -> None:
    _, code = pupil_with_code(site.engine)
    b = browsers[0]
    status, html = await b.page("/signin")
    assert status == 200
    with counting_transactions(site.engine) as began:
        async with b.http.post(
            "/signin", data={"code": code, "csrf": hidden(html, "csrf")}, allow_redirects=False
        ) as r:
            assert r.status == 303
    assert began == [1]  # check the code, link with /start, end the old session, start the new one


async def test_cookie_is_secure_behind_https(engine: Engine) -> None:
    site = await start_site(engine, public_url="https://waymark.school.example")
    browser = Browser(site)
    try:
        _, code = pupil_with_code(engine)
        response = await browser.sign_in(code)
        cookies = response.headers.getall("Set-Cookie")
        assert cookies and all("Secure" in c and "SameSite=Strict" in c and "HttpOnly" in c for c in cookies)
    finally:
        await browser.close()
        await site.server.close()


async def test_sign_in_link_fills_in_the_code_and_one_press_signs_in(site: Site, browsers: list[Browser]) -> None:
    _, code = pupil_with_code(site.engine)
    b = browsers[0]
    # Opening the link (as a mail scanner or another site would) signs nobody in and uses nothing up.
    status, html = await b.page(f"/signin?code={code}")
    assert status == 200 and b.cookie(SESSION_COOKIE) is None
    assert f'name="code" type="text" value="{code}"' in html and "Press Sign in" in html
    assert html.count("<form") == 1 and 'method="post" action="/signin"' in html
    with transaction(site.engine) as s:
        assert codes.find_valid(s, code, now=site.clock.now) is not None
    # The one button on the page posts the form, with its CSRF token.
    async with b.http.post("/signin", data={"code": code, "csrf": "forged"}, allow_redirects=False) as r:
        assert r.status == 403
    async with b.http.post("/signin", data={"code": code, "csrf": hidden(html, "csrf")}, allow_redirects=False) as r:
        assert r.status == 303 and r.headers["Location"] == "/chat"
    assert (await b.page("/chat"))[0] == 200


async def test_wrong_used_and_expired_codes_are_refused_alike(site: Site, browsers: list[Browser]) -> None:
    _, code = pupil_with_code(site.engine)
    _, expired = pupil_with_code(site.engine, "Ben", days=-1)
    first, second = browsers[0], browsers[1]
    assert (await first.sign_in(code)).status == 303
    for attempt in (code, expired, "ZZZZZ-ZZZZZ"):
        response = await second.sign_in(attempt)
        assert response.status == 400
        assert second.cookie(SESSION_COOKIE) is None
    status, html = await second.page("/chat")
    assert status == 303  # still not signed in
    _, html = await second.page("/signin?code=<b>x</b>")
    assert "<b>x</b>" not in html and 'value="&lt;b&gt;x&lt;/b&gt;"' in html
    async with second.http.post(
        "/signin", data={"code": "<b>x</b>", "csrf": hidden(html, "csrf")}, allow_redirects=False
    ) as r:
        html = await r.text()
    assert "<b>x</b>" not in html
    assert texts.WRONG_CODE.split(".")[0].replace("'", "&#x27;") in html
    assert "Ben" not in html and "Amira" not in html


async def sign_in_page_text(b: Browser, code: str, headers: dict[str, str] | None = None) -> str:
    _, html = await b.page("/signin")
    async with b.http.post(
        "/signin", data={"code": code, "csrf": hidden(html, "csrf")}, headers=headers, allow_redirects=False
    ) as r:
        return await r.text()


async def test_five_wrong_codes_lock_the_browser_for_15_minutes(site: Site, browsers: list[Browser]) -> None:
    _, code = pupil_with_code(site.engine)
    guesser = browsers[0]
    for _ in range(5):
        assert (await guesser.sign_in("22222-33333")).status == 400
    assert "Too many codes" in await sign_in_page_text(guesser, code)
    assert guesser.cookie(SESSION_COOKIE) is None
    browser_id = guesser.cookie("wm_browser")
    with transaction(site.engine) as s:
        assert identities.locked_until(s, "web", f"browser:{browser_id}", site.clock.now)
        key = signin_limits.address_hash("127.0.0.1", site.settings.code_secret)
        assert signin_limits.wrong_codes(s, key, site.clock.now) == 5  # counted, never a lock on the address
    # Another pupil on the same school address is not held up by one pupil's typos...
    _, other_code = pupil_with_code(site.engine, "Ben")
    assert (await browsers[1].sign_in(other_code)).status == 303
    # ...and the code still works in the guessing browser once its lockout is over.
    site.clock.now += timedelta(minutes=16)
    assert (await guesser.sign_in(code)).status == 303


async def test_wrong_codes_stop_counting_after_15_minutes(site: Site, browsers: list[Browser]) -> None:
    _, code = pupil_with_code(site.engine)
    b = browsers[0]
    for _ in range(4):
        assert (await b.sign_in("22222-33333")).status == 400
    site.clock.now += timedelta(minutes=15, seconds=1)
    # Four typos a while ago and one now are not five in a row: no lockout.
    assert "Too many codes" not in await sign_in_page_text(b, "22222-33333")
    assert (await b.sign_in(code)).status == 303


async def test_one_pupils_wrong_codes_slow_the_address_but_never_lock_a_classmate_out(
    site: Site, browsers: list[Browser]
) -> None:
    """A school shares one address (behind the HTTPS proxy on this machine, from X-Forwarded-For)."""
    _, code = pupil_with_code(site.engine)
    _, later_code = pupil_with_code(site.engine, "Ben")
    school = {"X-Forwarded-For": "198.51.100.9, 203.0.113.7"}  # the proxy added the last one
    b = browsers[0]

    async def typos(count: int) -> str:
        html = ""
        for i in range(count):
            if i % 4 == 0:
                b.forget_cookies()  # a new browser before its own limit of 5
            html = await sign_in_page_text(b, "22222-33333", school)
        return html

    started = time.monotonic()
    assert "Too many codes" not in await typos(29)
    b.forget_cookies()
    assert (await b.sign_in(code, school)).status == 303  # not slowed yet: 29 wrong codes
    assert time.monotonic() - started < site.settings.signin_slow_down_seconds * 5
    assert "Too many codes" not in await typos(2)  # the 30th and 31st: never a lock on the address
    # A classmate's good code from the same address still works: slowed, never refused.
    started = time.monotonic()
    assert (await browsers[1].sign_in(later_code, school)).status == 303
    assert time.monotonic() - started >= site.settings.signin_slow_down_seconds
    with transaction(site.engine) as s:
        key = signin_limits.address_hash("203.0.113.7", site.settings.code_secret)
        assert signin_limits.is_slowed(s, key, site.clock.now)  # slowed, never locked (tests/test_shared_limits.py)
    # Another address (another school on the same server) is not slowed.
    _, third_code = pupil_with_code(site.engine, "Cai")
    started = time.monotonic()
    assert (await browsers[2].sign_in(third_code, {"X-Forwarded-For": "192.0.2.1"})).status == 303
    assert time.monotonic() - started < site.settings.signin_slow_down_seconds


def test_forwarded_for_is_believed_only_from_loopback() -> None:
    assert client_address("127.0.0.1", "203.0.113.7") == "203.0.113.7"
    assert client_address("::1", "10.0.0.1, 203.0.113.7") == "203.0.113.7"  # the proxy's own entry
    assert client_address("127.0.0.1", "not an address") == "127.0.0.1"
    assert client_address("127.0.0.1", None) == "127.0.0.1"
    # From anywhere else the client could have written the header itself.
    assert client_address("198.51.100.4", "203.0.113.7") == "198.51.100.4"
    assert client_address(None, "203.0.113.7") == "unknown"


# --- CSRF, origins, unauthenticated --------------------------------------------------------


async def test_state_changing_requests_need_the_csrf_token(site: Site, browsers: list[Browser]) -> None:
    _, code = pupil_with_code(site.engine)
    b = browsers[0]
    async with b.http.post("/signin", data={"code": code, "csrf": "forged"}, allow_redirects=False) as r:
        assert r.status == 403
    assert (await b.sign_in(code)).status == 303
    csrf = await b.chat_csrf()
    with transaction(site.engine) as s:
        before = len(s.exec(select(TranscriptLine)).all())
    async with b.http.post("/send", data={"text": "hello", "csrf": "forged"}, allow_redirects=False) as r:
        assert r.status == 403
    async with b.http.post(
        "/send", data={"text": "hello", "csrf": csrf}, headers={"Origin": "https://evil.example"}, allow_redirects=False
    ) as r:
        assert r.status == 403
    async with b.http.post("/signout", data={"csrf": "forged"}, allow_redirects=False) as r:
        assert r.status == 403
    with transaction(site.engine) as s:
        assert len(s.exec(select(TranscriptLine)).all()) == before  # nothing was dispatched
    for origin, token in (("https://evil.example", csrf), (site.base, "forged")):
        with pytest.raises(aiohttp.WSServerHandshakeError) as refused:
            await b.ws(token, origin=origin)
        assert refused.value.status == 403
    async with b.http.post("/send", data={"text": "hello", "csrf": csrf}, allow_redirects=False) as r:
        assert r.status == 303 and r.headers["Location"].startswith("/chat")
    assert (await b.page("/chat"))[0] == 200


async def test_unauthenticated_requests_get_nothing(site: Site, browsers: list[Browser]) -> None:
    _, code = pupil_with_code(site.engine)
    owner = browsers[0]
    await owner.sign_in(code)
    await owner.chat_csrf()
    stranger = browsers[1]
    assert (await stranger.page("/chat"))[0] == 303
    assert (await stranger.page("/"))[0] == 303
    with transaction(site.engine) as s:
        line_ids = [line.id for line in s.exec(select(TranscriptLine)).all()]
    for line_id in line_ids:
        status, body = await stranger.page(f"/media/{line_id}")
        assert status == 404 and "Amira" not in body
    with pytest.raises(aiohttp.WSServerHandshakeError) as refused:
        await stranger.ws("anything")
    assert refused.value.status == 401
    async with stranger.http.post("/send", data={"text": "/record", "csrf": "x"}, allow_redirects=False) as r:
        assert r.status == 303 and r.headers["Location"] == "/signin"
    # A made-up session cookie is no better than none.
    stranger.http.cookie_jar.update_cookies({SESSION_COOKIE: websessions.new_token()})
    assert (await stranger.page("/chat"))[0] == 303


async def test_a_pupil_cannot_read_another_pupils_messages_by_changing_ids(site: Site, browsers: list[Browser]) -> None:
    school = seed.school(site.engine)
    amira = seed.pupil(site.engine, school.id, "Amira", "Khan")
    ben = seed.pupil(site.engine, school.id, "Ben", "Okafor")
    a, b = browsers[0], browsers[1]
    await a.sign_in(seed.code_for(site.engine, amira))
    await b.sign_in(seed.code_for(site.engine, ben))
    b_csrf = await b.chat_csrf()
    async with b.http.post("/send", data={"text": "Ben's secret plan", "csrf": b_csrf}, allow_redirects=False):
        pass
    with transaction(site.engine) as s:
        ben_ext = s.exec(select(WebSession).where(WebSession.person_id == ben.id)).one().external_id
        image_id = chatfiles.offer(s, f"web:{ben_ext}", ben.id, "c.png", "image/png", tiny_png(), site.clock.now)
        line = transcript.record(
            s, f"web:{ben_ext}", ben.id, "out", "Ben's chart", site.clock.now, {"image": "c.png", "image_id": image_id}
        )
        s.flush()
        chart_id = line.id
        ben_ids = [row.id for row in s.exec(select(TranscriptLine).where(TranscriptLine.person_id == ben.id)).all()]
    assert (await b.page(f"/media/{chart_id}"))[0] == 200  # Ben sees his own chart
    for line_id in ben_ids:
        assert (await a.page(f"/media/{line_id}"))[0] == 404
    status, html = await a.page("/chat")
    assert status == 200
    assert "Ben" not in html and "secret plan" not in html
    ws = await a.ws(await a.chat_csrf(), after=0)
    lines = await read_lines(ws)
    await ws.close()
    assert lines and all("Ben" not in line["text"] for line in lines)
    assert {line["id"] for line in lines}.isdisjoint(ben_ids)


# --- messages --------------------------------------------------------------------------------


async def test_a_10000_character_message_gets_a_clear_answer_and_is_cut_to_the_limit(
    site: Site, browsers: list[Browser]
) -> None:
    _, code = pupil_with_code(site.engine)
    b = browsers[0]
    await b.sign_in(code)
    csrf = await b.chat_csrf()
    ws = await b.ws(csrf, after=10**9)
    long_text = ("Work experience at the vet's 🐾 " * 400)[:10_000]
    await ws.send_json({"text": long_text, "mid": "m1"})
    lines = await read_lines(ws)
    await ws.close()
    # The transcript keeps what the engine would (4,000 characters), so no one can fill the disk with it.
    assert lines[0]["dir"] == "in" and lines[0]["text"] == long_text[:4000] + "\u2026"
    assert "10,000 characters" in lines[-1]["text"] and "shorter parts" in lines[-1]["text"]


async def test_markup_comes_back_as_text(site: Site, browsers: list[Browser]) -> None:
    _, code = pupil_with_code(site.engine)
    b = browsers[0]
    await b.sign_in(code)
    csrf = await b.chat_csrf()
    markup = '<script>alert("x")</script> <img src=x onerror=alert(1)> & *bold* `code` مرحبا'
    async with b.http.post("/send", data={"text": markup, "csrf": csrf}, allow_redirects=False) as r:
        assert r.status == 303
    status, html = await b.page("/chat")
    assert status == 200
    assert "<script>alert" not in html and "<img src=x" not in html
    assert "&lt;script&gt;alert(&quot;x&quot;)&lt;/script&gt; &lt;img src=x onerror=alert(1)&gt; &amp; *bold*" in html
    ws = await b.ws(csrf, after=0)
    lines = await read_lines(ws)
    await ws.close()
    assert markup in [line["text"] for line in lines]  # raw text, for textContent


@contextmanager
def database_full(engine: Engine) -> Iterator[None]:
    """Every write fails as a database on a full disk does; reads still work."""

    def refuse(_conn: Any, _cursor: Any, statement: str, *_args: Any) -> None:
        if statement.lstrip().upper().startswith(("INSERT", "UPDATE", "DELETE")):
            raise OperationalError(statement, {}, Exception("database or disk is full"))

    event.listen(engine, "before_cursor_execute", refuse)
    try:
        yield
    finally:
        event.remove(engine, "before_cursor_execute", refuse)


def pupil_lines(engine: Engine, text: str) -> int:
    with transaction(engine, write=False) as s:
        lines = s.exec(select(TranscriptLine).where(TranscriptLine.direction == "in")).all()
        return sum(1 for line in lines if line.text == text)


async def test_every_message_gets_a_receipt_and_one_not_saved_says_why(site: Site, browsers: list[Browser]) -> None:
    _, code = pupil_with_code(site.engine)
    b = browsers[0]
    await b.sign_in(code)
    ws = await b.ws(await b.chat_csrf(), after=10**9)
    with database_full(site.engine):
        await ws.send_json({"text": "Went to the careers fair", "mid": "m1"})
        ack = await read_ack(ws)
    assert ack == {"type": "ack", "mid": "m1", "saved": False, "text": texts.TRY_AGAIN}  # the engine's words
    assert pupil_lines(site.engine, "Went to the careers fair") == 0
    await ws.send_json({"text": "Went to the careers fair", "mid": "m1"})  # the page sends it again
    assert (await read_ack(ws))["saved"] is True
    await ws.send_json({"text": "Went to the careers fair", "mid": "m1"})  # and once more, after a reconnect
    assert (await read_ack(ws))["saved"] is True  # already kept: saved, and not kept twice
    await ws.close()
    assert pupil_lines(site.engine, "Went to the careers fair") == 1


async def test_without_javascript_a_message_not_saved_comes_back_in_the_box(
    site: Site, browsers: list[Browser]
) -> None:
    _, code = pupil_with_code(site.engine)
    b = browsers[0]
    await b.sign_in(code)
    csrf = await b.chat_csrf()
    with database_full(site.engine):
        async with b.http.post("/send", data={"text": "Went to <the> fair", "csrf": csrf, "mid": "f1"}) as r:
            html = await r.text()
    assert r.status == 200 and texts.TRY_AGAIN.replace("'", "&#x27;") in html
    assert ">Went to &lt;the&gt; fair</textarea>" in html
    async with b.http.post("/send", data={"text": "  ", "csrf": csrf, "mid": "f2"}) as r:
        assert pages.EMPTY_SEND in await r.text()  # an empty send says what to do


async def test_sign_out_asks_first(site: Site, browsers: list[Browser]) -> None:
    _, code = pupil_with_code(site.engine)
    b = browsers[0]
    await b.sign_in(code)
    status, html = await b.page("/signout")
    assert status == 200 and "new code from your tutor" in html and 'action="/signout"' in html
    assert (await b.page("/chat"))[0] == 200  # asking signed nobody out


def test_a_button_from_an_older_message_shows_its_label_never_its_data() -> None:
    def line(i: int, direction: str, text: str, payload: dict[str, Any] | None = None) -> TranscriptLine:
        return TranscriptLine(
            id=i, identity_key="web:x", direction=direction, text=text, payload=json.dumps(payload or {})
        )

    skills = {"buttons": [[{"label": "Teamwork", "data": "sk:1"}]]}
    yes_no = {"buttons": [[{"label": "Yes", "data": "yes"}]]}
    views = pages.line_views(
        [
            line(1, "out", "Which skills?", skills),
            line(2, "out", "A reminder", yes_no),  # newer buttons came in between
            line(3, "in", "sk:1", {"pressed": True}),
            line(4, "in", "sk:9", {"pressed": True}),  # a label no longer known
            line(5, "in", "sk:9"),  # typed, not pressed: shown as typed
        ],
        {},
        None,  # no sealed lines here
    )
    assert [v.text for v in views[2:]] == ["Teamwork", pages.OLD_BUTTON, "sk:9"]


async def test_buttons_work_from_the_form_and_the_socket_and_show_their_labels(
    site: Site, browsers: list[Browser]
) -> None:
    _, code = pupil_with_code(site.engine)
    b = browsers[0]
    await b.sign_in(code)
    csrf = await b.chat_csrf()
    async with b.http.post("/send", data={"button": "/reflect", "csrf": csrf, "mid": "abc"}, allow_redirects=False):
        pass
    status, html = await b.page("/chat")
    assert status == 200
    assert "What did you do?" in html and ">Reflect</p>" in html  # the label, not "/reflect"
    ws = await b.ws(csrf, after=10**9)
    await ws.send_json({"text": "Helped run the Year 7 science club", "mid": "m2"})
    lines = await read_lines(ws)
    skills = lines[-1]["buttons"]
    teamwork = next(b for row in skills for b in row if b["label"] == "Teamwork")
    await ws.send_json({"button": teamwork["data"], "mid": "m3"})
    lines = await read_lines(ws)
    assert lines[0] == {**lines[0], "dir": "in", "text": "Teamwork"}
    assert "Picked so far: Teamwork" in lines[-1]["text"]
    await ws.send_json({"button": teamwork["data"], "mid": "m3"})  # a resend with the same id is dropped
    await ws.send_json({"text": "/cancel", "mid": "m4"})
    lines = await read_lines(ws)
    await ws.close()
    assert lines[0]["text"] == "/cancel"


async def test_outbox_messages_reach_closed_and_open_pages(site: Site, browsers: list[Browser]) -> None:
    pupil, code = pupil_with_code(site.engine)
    b = browsers[0]
    await b.sign_in(code)
    with transaction(site.engine) as s:
        outbox.notify_person(
            s, key="reminder:1", person_id=pupil.id, text="Your action is due on Friday.", now=site.clock.now
        )  # type: ignore[arg-type]
    status, html = await b.page("/chat")  # written while the page was closed
    assert "Your action is due on Friday." in html
    csrf = hidden(html, "csrf")
    # As the page's script does: ask for what came after the last line the page holds. The next
    # message may land while the socket is still opening, and must still reach this page.
    last_id = re.search(r'data-last-id="(\d+)"', html)
    assert last_id
    ws = await b.ws(csrf, after=int(last_id.group(1)))
    with transaction(site.engine) as s:
        outbox.notify_person(
            s, key="reminder:2", person_id=pupil.id, text="A new message from the careers team.", now=site.clock.now
        )  # type: ignore[arg-type]
    lines = await read_lines(ws)
    await ws.close()
    assert lines[-1]["text"] == "A new message from the careers team."
    status, html = await b.page("/chat")
    assert status == 200
    assert html.count("A new message from the careers team.") == 1  # delivered once, kept in the transcript


# --- sessions end ---------------------------------------------------------------------------


async def test_sign_out_ends_the_session_and_unlinks_this_browser(site: Site, browsers: list[Browser]) -> None:
    _, code = pupil_with_code(site.engine)
    b = browsers[0]
    await b.sign_in(code)
    token = b.cookie(SESSION_COOKIE)
    csrf = await b.chat_csrf()
    ws = await b.ws(csrf, after=10**9)
    async with b.http.post("/signout", data={"csrf": csrf}, allow_redirects=False) as r:
        assert r.status == 303 and r.headers["Location"] == "/signin?out=1"
    message = json.loads((await asyncio.wait_for(ws.receive(), 5)).data)
    assert message == {"type": "signed_out"}
    await ws.close()
    assert b.cookie(SESSION_COOKIE) in (None, "")
    b.http.cookie_jar.update_cookies({SESSION_COOKIE: token or ""})  # a copied cookie is dead too
    assert (await b.page("/chat"))[0] == 303
    with transaction(site.engine) as s:
        assert s.exec(select(WebSession)).one().revoked_at is not None
        assert not s.exec(select(identities.ChatIdentity)).all()  # type: ignore[attr-defined]


async def test_unlink_in_the_chat_ends_the_session(site: Site, browsers: list[Browser]) -> None:
    _, code = pupil_with_code(site.engine)
    b = browsers[0]
    await b.sign_in(code)
    ws = await b.ws(await b.chat_csrf(), after=10**9)
    await ws.send_json({"text": "/unlink", "mid": "u1"})
    lines = await read_lines(ws, want=2)
    assert any(line.get("type") == "signed_out" for line in lines)
    await ws.close()
    assert (await b.page("/chat"))[0] == 303


async def test_sessions_expire_after_30_days_unused(site: Site, browsers: list[Browser]) -> None:
    _, code = pupil_with_code(site.engine)
    b = browsers[0]
    await b.sign_in(code)
    site.clock.now += timedelta(days=29)
    assert (await b.page("/chat"))[0] == 200  # used: the 30 days start again
    site.clock.now += timedelta(days=29)
    assert (await b.page("/chat"))[0] == 200
    site.clock.now += timedelta(days=31)
    assert (await b.page("/chat"))[0] == 303


async def test_the_cookie_moves_on_with_the_session_so_daily_use_never_signs_out(
    site: Site, browsers: list[Browser]
) -> None:
    _, code = pupil_with_code(site.engine)
    b = browsers[0]
    await b.sign_in(code)

    async def session_cookie_sent(path: str) -> str | None:
        async with b.http.get(path, allow_redirects=False) as r:
            await r.read()
            return next((h for h in r.headers.getall("Set-Cookie", []) if h.startswith(f"{SESSION_COOKIE}=")), None)

    assert await session_cookie_sent("/chat") is None  # just signed in: nothing to move on yet
    site.clock.now += websessions.TOUCH_EVERY + timedelta(minutes=1)
    cookie = await session_cookie_sent("/chat")
    assert cookie is not None, "the session was touched but the browser's cookie was not renewed"
    assert "Max-Age=2592000" in cookie and "HttpOnly" in cookie and "SameSite=Strict" in cookie
    assert cookie.split(";")[0] == f"{SESSION_COOKIE}={b.cookie(SESSION_COOKIE)}"  # the same session
    assert await session_cookie_sent("/chat") is None  # once an hour at most
    site.clock.now += websessions.TOUCH_EVERY + timedelta(minutes=1)
    assert await session_cookie_sent("/") is not None


async def test_pages_carry_a_strict_content_security_policy(site: Site, browsers: list[Browser]) -> None:
    async with browsers[0].http.get("/signin") as r:
        csp = r.headers["Content-Security-Policy"]
        assert "script-src 'self'" in csp and "unsafe-inline" not in csp and "frame-ancestors 'none'" in csp
        assert r.headers["X-Content-Type-Options"] == "nosniff"
        assert "<script>" not in await r.text()
    async with browsers[0].http.get("/static/chat.js") as r:
        assert r.status == 200 and "textContent" in await r.text()
    async with browsers[0].http.get("/static/../web.py") as r:
        assert r.status in (403, 404)
    _, code = pupil_with_code(site.engine)
    await browsers[0].sign_in(code)
    async with browsers[0].http.get("/chat") as r:
        assert r.status == 200 and r.headers["Content-Security-Policy"] == CSP
        html = await r.text()
    scripts = re.findall(r"<script[^>]*>", html)
    assert scripts == ['<script src="/static/chat.js" defer>']
    assert not re.search(r"<[^>]*\son[a-z]+=", html) and "style=" not in html  # no inline handlers or styles


def tiny_png() -> bytes:
    """A real 1×1 PNG, so a browser can draw it."""

    def chunk(kind: bytes, data: bytes) -> bytes:
        return struct.pack(">I", len(data)) + kind + data + struct.pack(">I", zlib.crc32(kind + data))

    header = struct.pack(">IIBBBBB", 1, 1, 8, 2, 0, 0, 0)
    return (
        b"\x89PNG\r\n\x1a\n"
        + chunk(b"IHDR", header)
        + chunk(b"IDAT", zlib.compress(b"\0\x1d\x5c\x63"))
        + chunk(b"IEND", b"")
    )


def record_media(engine: Engine, person_id: int, now: datetime) -> tuple[int, int]:
    """An image and a file in this pupil's web conversation, as the engine records them."""
    with transaction(engine) as s:
        external_id = s.exec(select(WebSession).where(WebSession.person_id == person_id)).one().external_id
        chat = f"web:{external_id}"
        image_id = chatfiles.offer(s, chat, person_id, "skills.png", "image/png", tiny_png(), now)
        chart = transcript.record(
            s, chat, person_id, "out", "Your skills so far", now, {"image": "skills.png", "image_id": image_id}
        )
        file_id = chatfiles.offer(s, chat, person_id, "My plan (Y10).csv", "text/csv", b"when,what\n", now)
        plan = transcript.record(
            s,
            chat,
            person_id,
            "out",
            "Your action plan",
            now,
            {"file": "My plan (Y10).csv", "file_type": "text/csv", "file_id": file_id},
        )
        s.flush()
        assert chart.id is not None and plan.id is not None
        return chart.id, plan.id


async def test_images_show_inline_and_files_download(site: Site, browsers: list[Browser]) -> None:
    pupil, code = pupil_with_code(site.engine)
    b = browsers[0]
    await b.sign_in(code)
    csrf = await b.chat_csrf()
    chart_id, plan_id = record_media(site.engine, pupil.id, site.clock.now)  # type: ignore[arg-type]
    status, html = await b.page("/chat")
    assert status == 200
    # New messages are announced: the conversation is a polite live region.
    assert re.search(r'<div id="log" class="log" role="log" aria-live="polite" aria-label="Conversation"', html)
    assert f'<img class="media" src="/media/{chart_id}" alt="skills.png">' in html
    assert (
        f'<a class="file" href="/media/{plan_id}" download="My plan (Y10).csv">Download My plan (Y10).csv</a>' in html
    )
    async with b.http.get(f"/media/{chart_id}") as r:
        assert r.status == 200 and r.content_type == "image/png" and await r.read() == tiny_png()
        assert "Content-Disposition" not in r.headers  # shown, not downloaded
    async with b.http.get(f"/media/{plan_id}") as r:
        assert r.status == 200 and r.content_type == "text/csv" and await r.read() == b"when,what\n"
        assert r.headers["Content-Disposition"] == 'attachment; filename="My_plan__Y10_.csv"'
    ws = await b.ws(csrf, after=chart_id - 1)
    lines = await read_lines(ws, want=2)
    await ws.close()
    assert lines[0]["image"] == {"url": f"/media/{chart_id}", "name": "skills.png", "alt": "skills.png"}
    assert lines[1]["file"] == {"url": f"/media/{plan_id}", "name": "My plan (Y10).csv"}


# --- the alumni link -------------------------------------------------------------------------


def alumnus_link(engine: Engine, now: datetime, days: int = 30) -> tuple[Person, str]:
    school = seed.school(engine)
    with transaction(engine) as s:
        person = Person(school_id=school.id, role=Role.alumnus, status="left", given_name="Kai", family_name="Lee")
        s.add(person)
        s.flush()
        return person, checkin_links.issue_link(s, person, now, days=days)


async def test_checkin_link_signs_the_alumnus_in_once_and_starts_the_checkin(
    site: Site, browsers: list[Browser]
) -> None:
    _, token = alumnus_link(site.engine, site.clock.now)
    b = browsers[0]
    status, html = await b.page(f"/c/{token}")
    assert status == 200 and "Start my check-in" in html and "Kai" not in html
    csrf = hidden(html, "csrf")
    async with b.http.post(f"/c/{token}", data={"csrf": "forged"}, allow_redirects=False) as r:
        assert r.status == 403
    async with b.http.post(f"/c/{token}", data={"csrf": csrf}, allow_redirects=False) as r:
        assert r.status == 303 and r.headers["Location"] == "/chat"
    status, html = await b.page("/chat")
    assert status == 200
    assert status == 200 and "Where are you now?" in html and "Kai" in html
    with transaction(site.engine) as s:
        assert token not in json.dumps([link.token_hash for link in s.exec(select(checkin_links.CheckinLink)).all()])  # type: ignore[attr-defined]
    # Used, wrong and expired links all get the same page, which names nobody.
    _, expired = alumnus_link(site.engine, site.clock.now - timedelta(days=31))
    pages = []
    for t in (token, "not-a-real-token", expired):
        status, body = await browsers[1].page(f"/c/{t}")
        assert status == 404
        pages.append(body)
    assert pages[0] == pages[1] == pages[2] and "Kai" not in pages[0]


async def test_a_wrong_or_used_checkin_link_signs_nobody_out(site: Site, browsers: list[Browser]) -> None:
    _, code = pupil_with_code(site.engine)
    _, token = alumnus_link(site.engine, site.clock.now)
    pupil, alumnus = browsers[0], browsers[1]
    await pupil.sign_in(code)
    _, html = await pupil.page(f"/c/{token}")  # a real link, to get this browser's form token
    csrf = hidden(html, "csrf")
    _, alumnus_html = await alumnus.page(f"/c/{token}")
    async with alumnus.http.post(f"/c/{token}", data={"csrf": hidden(alumnus_html, "csrf")}, allow_redirects=False):
        pass  # now used
    for wrong in ("not-a-real-token", token):
        async with pupil.http.post(f"/c/{wrong}", data={"csrf": csrf}, allow_redirects=False) as r:
            assert r.status == 404
        assert (await pupil.page("/chat"))[0] == 200, "a link that does not work signed the pupil out"
    with transaction(site.engine) as s:
        assert sum(1 for row in s.exec(select(WebSession)).all() if row.revoked_at is None) == 2


async def test_checkin_links_are_for_alumni_only(site: Site) -> None:
    pupil, _ = pupil_with_code(site.engine)
    with transaction(site.engine) as s, pytest.raises(ValueError):
        checkin_links.issue_link(s, pupil, site.clock.now)


async def test_pages_before_sign_in_carry_the_school_name_from_the_database(
    site: Site, browsers: list[Browser]
) -> None:
    seed.school(site.engine, "Hillside Academy")  # named with --school, not WAYMARK_SCHOOL_NAME
    status, html = await browsers[0].page("/signin")
    assert status == 200 and "Hillside Academy" in html and "Test Academy" not in html
    seed.school(site.engine, "Valley School")  # a trust's server: no one name fits every pupil
    status, html = await browsers[1].page("/signin")
    assert status == 200 and "Test Academy" in html and "Hillside" not in html


# --- privacy and safeguarding -----------------------------------------------------------------


async def test_every_page_links_to_the_privacy_notice_and_it_says_what_the_chat_says(
    site: Site, browsers: list[Browser]
) -> None:
    _, code = pupil_with_code(site.engine)
    b = browsers[0]
    status, html = await b.page("/privacy")  # anyone, signed in or not
    assert status == 200
    for paragraph in [
        *texts.PRIVACY.split("\n\n"),
        *texts.PRIVACY_STAFF.split("\n\n"),
        texts.ALUMNI_READERS,
    ]:
        assert paragraph.replace("'", "&#x27;") in html
    assert "safeguarding lead" in html and "/worried" in html
    assert 'href="/privacy"' in (await b.page("/signin"))[1]
    await b.sign_in(code)
    assert 'href="/privacy"' in (await b.page("/chat"))[1]


async def test_the_privacy_page_quotes_the_readers_school_retention_schedule(
    site: Site, browsers: list[Browser]
) -> None:
    """Set with `waymark school retention`: the one school on the server, to anyone; on a server with
    several, a signed-in reader's own school's, and the defaults to a reader not signed in."""
    pupil, code = pupil_with_code(site.engine)
    with transaction(site.engine) as session:
        row = session.get(SchoolRow, pupil.school_id)
        assert row is not None
        row.retention = schedule_to_json(
            {**DEFAULTS, "transcripts": Duration(years=2), "careers_record": Duration(age=30)}
        )
        session.add(row)
        school_name = row.name
    ours = texts.keeping(schedule_from_json(row.retention))
    default = texts.keeping(DEFAULTS)

    def quoted(html: str) -> str:
        return html.replace("&#x27;", "'")

    _, html = await browsers[0].page("/privacy")  # not signed in, one school on the server
    assert all(p in quoted(html) for p in ours.split("\n\n")) and "web chat: 2 years after" in html
    assert "30th birthday" in html and "1 year after your last message" not in html and school_name in html

    seed.school(site.engine, "Valley School")  # a trust's server now
    _, html = await browsers[0].page("/privacy")
    assert all(p in quoted(html) for p in default.split("\n\n")) and "2 years after" not in html
    await browsers[1].sign_in(code)
    _, html = await browsers[1].page("/privacy")  # signed in: their own school's
    assert "web chat: 2 years after your last message" in html and "30th birthday" in html
    assert school_name in html


async def test_a_dsl_page_shows_the_alert_as_soon_as_it_is_open(site: Site, browsers: list[Browser]) -> None:
    school = seed.school(site.engine)
    pupil = seed.pupil(site.engine, school.id, "Amira", "Khan", form="9C")
    lead = seed.staff(site.engine, school.id, "Dee", "Lead", role=StaffRole.dsl)
    b = browsers[0]
    await b.sign_in(seed.code_for(site.engine, lead))
    seed.link(site.engine, pupil, "console", "p1")
    keyed = load_settings(database_url="sqlite://", encryption_key=crypto.new_key())
    Chat(Dispatcher(site.engine, keyed, clock=site.clock), "p1").say("/reflect Quokkaberry he hits me when he is drunk")
    status, html = await b.page("/chat")
    assert status == 200
    assert "Safeguarding concern" in html and "Amira Khan, 9C." in html and "Open" in html  # alert_text's wording
    assert "Quokkaberry" not in html and "drunk" not in html  # a random token is unlikely to hold it
