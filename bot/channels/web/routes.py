"""The web chat's routes: each parses the request, calls a step, and draws a page or redirects.

Signing in, using a check-in link and signing out are steps in `handlers.signin` (one transaction
each); messages go through `Live.send`, the same `dispatch` as every other channel. Reads always go
through the session's own chat account: an id from a URL or a message never reaches anyone else's
conversation.
"""

from __future__ import annotations

import asyncio
import contextlib
from collections.abc import AsyncIterator
from dataclasses import dataclass, field
from pathlib import Path

from aiohttp import web

from bot.channels.web import media, pages
from bot.channels.web.live import MAX_WS_MESSAGE, Connection, Live, earlier_lines, recent_lines
from bot.channels.web.session import (
    BROWSER_COOKIE,
    SESSION_COOKIE,
    Sessions,
    Visit,
    browser_csrf,
    browser_id,
    new_browser_id,
    request_address,
)
from bot.connections import Tally, is_loopback
from core.numbers import whole_number
from core.settings import Settings
from handlers import Dispatcher, common, signin, texts
from handlers.engine import MAX_TEXT
from storage import schools, websessions
from storage.db import transaction

STATIC_DIR = Path(__file__).parent / "static"


@dataclass
class WebChat:
    """What the routes share: `request.app[WEB_CHAT]`."""

    settings: Settings
    dispatcher: Dispatcher
    sessions: Sessions
    live: Live
    outbox_poll_seconds: float = 2.0
    sockets: Tally = field(default_factory=Tally)  # chat pages open, per session and per address


WEB_CHAT = web.AppKey("waymark_web_chat", WebChat)


def _html(body: str, status: int = 200) -> web.Response:
    return web.Response(text=body, status=status, content_type="text/html", charset="utf-8")


def _see_other(location: str) -> web.Response:
    """A redirect we can still set cookies on (returning an HTTPException is deprecated in aiohttp)."""
    return web.Response(status=303, headers={"Location": location})


async def _site_name(chat: WebChat) -> str:
    """The name at the top of pages seen before signing in: the school's own, when the database
    holds one school (it may have been named with --school rather than WAYMARK_SCHOOL_NAME)."""

    def read() -> str | None:
        with transaction(chat.dispatcher.engine, write=False) as s:
            return schools.only_school_name(s)

    return await asyncio.to_thread(read) or chat.settings.school_name


def _refuse_chat_form(chat: WebChat, request: web.Request, csrf: str, visit: Visit, title: str) -> web.Response | None:
    """A 403 page when a chat-page form is not from our page with this session's token; None when it is."""
    if chat.sessions.form_ok(request, csrf, visit.row.csrf_token):
        return None
    page = pages.message_page(chat.settings.school_name, title, pages.BAD_FORM, link=("/chat", "Back to the chat"))
    return _html(page, 403)


# --- signing in -----------------------------------------------------------------------------------


async def index(request: web.Request) -> web.StreamResponse:
    raise web.HTTPSeeOther("/chat" if await request.app[WEB_CHAT].sessions.current(request) else "/signin")


async def signin_get(request: web.Request) -> web.StreamResponse:
    chat = request.app[WEB_CHAT]
    school = await _site_name(chat)
    browser = browser_id(request) or new_browser_id()
    code = request.query.get("code", "").strip()[:40]
    if code:
        # A sign-in link (a QR code, an email) only fills the code in: the pupil presses Sign in.
        # Using the code on a GET would let mail scanners use it up, and let another site sign a
        # browser in to an account of its choosing.
        response = _html(pages.signin_page(school, browser_csrf(browser), code=code, from_link=True))
    else:
        if await chat.sessions.current(request) is not None:
            raise web.HTTPSeeOther("/chat")
        notice = pages.SIGNED_OUT if request.query.get("out") else None
        response = _html(pages.signin_page(school, browser_csrf(browser), notice=notice))
    chat.sessions.keep_browser(request, response, browser)
    return response


async def signin_post(request: web.Request) -> web.StreamResponse:
    chat = request.app[WEB_CHAT]
    form = await request.post()
    browser = browser_id(request)
    if browser is None:
        fresh = new_browser_id()
        page = pages.signin_page(await _site_name(chat), browser_csrf(fresh), error=pages.NO_COOKIES)
        response = _html(page, 403)
        chat.sessions.set_cookie(response, BROWSER_COOKIE, fresh)
        return response
    csrf = browser_csrf(browser)
    if not chat.sessions.form_ok(request, str(form.get("csrf", "")), csrf):
        return _html(pages.signin_page(await _site_name(chat), csrf, error=pages.BAD_FORM), 403)
    code = str(form.get("code", ""))
    address = request_address(request)

    async def attempt(turn_taken: bool) -> signin.SignIn:
        return await asyncio.to_thread(
            signin.sign_in,
            chat.dispatcher,
            code,
            browser_id=browser,
            address=address,
            previous_token=request.cookies.get(SESSION_COOKIE),
            turn_taken=turn_taken,
        )

    result = await attempt(turn_taken=False)
    if result.wait is not None:  # a slowed address: its turn (the database's, shared by every process)
        await asyncio.sleep(result.wait)
        result = await attempt(turn_taken=True)
    if result.token is None:
        page = pages.signin_page(await _site_name(chat), csrf, error=result.problem, code=code[:40])
        return _html(page, 400)
    response = _see_other("/chat")
    chat.sessions.set_cookie(response, SESSION_COOKIE, result.token)
    return response


async def checkin_get(request: web.Request) -> web.StreamResponse:
    # Opening the link shows a button rather than signing in at once: mail scanners open every
    # link in an email, and would otherwise use up the alumnus's one-time link.
    chat = request.app[WEB_CHAT]
    school = await _site_name(chat)
    token = request.match_info["token"]
    engine, now = chat.dispatcher.engine, chat.dispatcher.clock()
    if not await asyncio.to_thread(signin.link_works, engine, token, now):
        return _html(pages.message_page(school, "Link not working", pages.LINK_INVALID), 404)
    browser = browser_id(request) or new_browser_id()
    response = _html(pages.checkin_page(school, browser_csrf(browser), token))
    chat.sessions.keep_browser(request, response, browser)
    return response


async def checkin_post(request: web.Request) -> web.StreamResponse:
    chat = request.app[WEB_CHAT]
    token = request.match_info["token"]
    form = await request.post()
    browser = browser_id(request)
    if browser is None or not chat.sessions.form_ok(request, str(form.get("csrf", "")), browser_csrf(browser)):
        page = pages.message_page(
            await _site_name(chat), "Please try again", pages.BAD_FORM, link=(f"/c/{token}", "Back")
        )
        return _html(page, 403)
    previous = request.cookies.get(SESSION_COOKIE)
    session_token = await asyncio.to_thread(signin.claim_link, chat.dispatcher, token, previous_token=previous)
    if session_token is None:
        return _html(pages.message_page(await _site_name(chat), "Link not working", pages.LINK_INVALID), 404)
    response = _see_other("/chat")
    chat.sessions.set_cookie(response, SESSION_COOKIE, session_token)
    return response


async def signout_post(request: web.Request) -> web.StreamResponse:
    chat = request.app[WEB_CHAT]
    visit = await chat.sessions.current(request)
    response = _see_other("/signin?out=1")
    chat.sessions.clear_session(response)
    if visit is None:
        return response
    form = await request.post()
    refused = _refuse_chat_form(chat, request, str(form.get("csrf", "")), visit, "Still signed in")
    if refused is not None:
        return refused
    await asyncio.to_thread(signin.sign_out, chat.dispatcher.engine, visit.row, chat.dispatcher.clock())
    await chat.live.hub.sign_out(visit.row.external_id)
    return response


# --- the chat -------------------------------------------------------------------------------------


async def _chat_page(chat: WebChat, visit: Visit, *, status: str = "", draft: str = "") -> str:
    engine, now = chat.dispatcher.engine, chat.dispatcher.clock()
    # One line more than a page shows: whether there are earlier ones to link to.
    shown = chat.settings.web_chat_page_lines
    lines = await asyncio.to_thread(recent_lines, engine, visit.row.external_id, now, shown + 1)
    more = len(lines) > shown
    school = visit.school or chat.settings.school_name
    views = pages.line_views(lines[1:] if more else lines, {}, chat.dispatcher.settings.keyring)
    return pages.chat_page(
        school,
        visit.person.known_as,
        visit.row.csrf_token,
        views,
        websessions.new_token(),
        max_text=MAX_TEXT,
        status=status,
        draft=draft,
        earlier=more,
    )


async def chat_get(request: web.Request) -> web.StreamResponse:
    chat = request.app[WEB_CHAT]
    visit = await chat.sessions.current(request)
    if visit is None:
        raise web.HTTPSeeOther("/signin")
    engine = chat.dispatcher.engine
    school = visit.school or chat.settings.school_name
    shown = chat.settings.web_chat_page_lines
    if "before" in request.query:
        before = whole_number(request.query["before"], low=1)
        if before is None:
            raise web.HTTPSeeOther("/chat")  # a link typed wrong: the chat itself, nothing lost
        lines = await asyncio.to_thread(earlier_lines, engine, visit.row.external_id, before, shown + 1)
        more = len(lines) > shown
        return _html(
            pages.earlier_page(
                school, pages.line_views(lines[1:] if more else lines, {}, chat.dispatcher.settings.keyring), more
            )
        )
    return _html(await _chat_page(chat, visit))


async def signout_get(request: web.Request) -> web.StreamResponse:
    """Signing out asks first, and says what it means."""
    chat = request.app[WEB_CHAT]
    visit = await chat.sessions.current(request)
    if visit is None:
        raise web.HTTPSeeOther("/signin")
    return _html(pages.signout_page(visit.school or chat.settings.school_name, visit.row.csrf_token))


async def send_post(request: web.Request) -> web.StreamResponse:
    """The chat without JavaScript (or where WebSockets are blocked): one form post per message."""
    chat = request.app[WEB_CHAT]
    visit = await chat.sessions.current(request)
    if visit is None:
        raise web.HTTPSeeOther("/signin")
    form = await request.post()
    refused = _refuse_chat_form(chat, request, str(form.get("csrf", "")), visit, "Not sent")
    if refused is not None:
        return refused
    button, text = form.get("button"), form.get("text")
    mid = str(form.get("mid", "")) or None
    external_id = visit.row.external_id
    if isinstance(button, str) and button:
        sent = await chat.live.send(external_id, None, button, mid)
    elif isinstance(text, str) and text.strip():
        sent = await chat.live.send(external_id, text, None, mid)
    else:
        return _html(await _chat_page(chat, visit, status=pages.EMPTY_SEND))
    if not await chat.live.sync(external_id):
        response = _see_other("/signin?out=1")
        chat.sessions.clear_session(response)
        return response
    if not sent.saved:  # what was typed comes back in the box, with what went wrong
        draft = text if isinstance(text, str) and not button else ""
        return _html(await _chat_page(chat, visit, status=sent.problem, draft=draft))
    raise web.HTTPSeeOther("/chat#latest")


async def ws_get(request: web.Request) -> web.StreamResponse:
    chat = request.app[WEB_CHAT]
    visit = await chat.sessions.current(request)
    if visit is None:
        raise web.HTTPUnauthorized(text="Sign in first.")
    row = visit.row
    # A WebSocket is not covered by SameSite everywhere: check where the page came from.
    if request.headers.get("Origin") is None or not chat.sessions.origin_ok(request):
        raise web.HTTPForbidden(text="Wrong origin.")
    if not chat.sessions.form_ok(request, request.query.get("csrf", ""), row.csrf_token):
        raise web.HTTPForbidden(text="Reload the page.")
    after = whole_number(request.query.get("after", "0")) or 0
    # A page needs one socket; a few more for tabs. Without a limit one pupil opened 3,000 in 6 s.
    address = request_address(request)
    limits = {f"session:{row.id}": chat.settings.web_sockets_per_session}
    if not is_loopback(address):
        limits[f"address:{address}"] = chat.settings.web_sockets_per_address
    if not chat.sockets.take(limits):
        raise web.HTTPTooManyRequests(text="Too many chat pages are open. Close some and reload this one.")
    try:
        ws = web.WebSocketResponse(heartbeat=30, max_msg_size=MAX_WS_MESSAGE)
        await ws.prepare(request)
        assert row.id is not None
        conn = Connection(ws, row.external_id, row.id, request.cookies.get(SESSION_COOKIE, ""), after)
        await chat.live.serve(ws, conn, after)
        return ws
    finally:
        chat.sockets.give_back(list(limits))


async def media_get(request: web.Request) -> web.StreamResponse:
    chat = request.app[WEB_CHAT]
    visit = await chat.sessions.current(request)
    if visit is None:
        raise web.HTTPNotFound()
    line_id = whole_number(request.match_info["line_id"])
    if line_id is None:
        raise web.HTTPNotFound()
    found = await asyncio.to_thread(media.find, chat.dispatcher.engine, visit.row.external_id, line_id)
    if found is None:
        raise web.HTTPNotFound()
    response = web.Response(body=found.body, content_type=found.content_type)
    if found.download_name:
        response.headers["Content-Disposition"] = f'attachment; filename="{found.download_name}"'
    return response


async def privacy_get(request: web.Request) -> web.StreamResponse:
    """The notice, quoting the reader's school's retention schedule (handlers.common.web_privacy)."""
    chat = request.app[WEB_CHAT]
    visit = await chat.sessions.current(request)
    person_id = visit.person.id if visit is not None else None

    def read() -> tuple[str | None, str]:
        with transaction(chat.dispatcher.engine, write=False) as s:
            return common.web_privacy(s, person_id)

    school, for_pupils = await asyncio.to_thread(read)
    page = pages.privacy_page(
        school or chat.settings.school_name, for_pupils, texts.PRIVACY_STAFF, texts.ALUMNI_READERS
    )
    return _html(page)


async def healthz(request: web.Request) -> web.StreamResponse:
    return web.Response(text=f"ok {request.app[WEB_CHAT].live.hub.count()} open pages\n")


# --- mounting -------------------------------------------------------------------------------------


def install(
    app: web.Application, settings: Settings, dispatcher: Dispatcher, outbox_poll_seconds: float = 2.0
) -> WebChat:
    """Mount the web chat on an application that has not started yet."""
    sessions = Sessions(dispatcher.engine, dispatcher.clock, settings.public_url)
    chat = WebChat(settings, dispatcher, sessions, Live(dispatcher, sessions), outbox_poll_seconds)
    app[WEB_CHAT] = chat
    router = app.router
    router.add_get("/", index)
    router.add_get("/signin", signin_get)
    router.add_post("/signin", signin_post)
    router.add_get("/chat", chat_get)
    router.add_post("/send", send_post)
    router.add_get("/signout", signout_get)
    router.add_post("/signout", signout_post)
    router.add_get("/ws", ws_get)
    router.add_get(r"/media/{line_id}", media_get)
    router.add_get(r"/c/{token}", checkin_get)
    router.add_post(r"/c/{token}", checkin_post)
    router.add_get("/healthz", healthz)
    router.add_get("/privacy", privacy_get)
    router.add_static("/static/", STATIC_DIR, show_index=False, follow_symlinks=False)
    app.on_response_prepare.append(sessions.add_headers)

    async def poll_outbox() -> None:
        """Bring outbox messages (check-ins, reminders) to pages that are open, every few seconds."""
        while True:
            await asyncio.sleep(chat.outbox_poll_seconds)
            await chat.live.deliver_waiting()

    async def background(_app: web.Application) -> AsyncIterator[None]:
        task = asyncio.create_task(poll_outbox())
        yield
        task.cancel()
        with contextlib.suppress(asyncio.CancelledError):
            await task

    async def close_pages(_app: web.Application) -> None:
        await chat.live.hub.close_every()

    app.cleanup_ctx.append(background)
    app.on_shutdown.append(close_pages)
    return chat
