"""The web chat: the school's own channel, for every pupil of any age.

    browser --(form POST or WebSocket)--> Incoming(platform="web") --> Dispatcher.dispatch (a thread)
    page <--(WebSocket: new transcript lines)-- transcript <-- engine, and outbox rows for this account

Every message goes through the same `dispatch` as every other channel; this module only signs
people in, keeps sessions, and shows the conversation the engine records for platform "web".
The page is rebuilt from the transcript, so a reload, a second tab or a second process all show
the same thing. Reads always go through the session's own chat account: an id from a URL or a
message never reaches anyone else's conversation.
"""

from __future__ import annotations

import asyncio
import base64
import contextlib
import hashlib
import hmac
import ipaddress
import json
import logging
import re
from collections.abc import AsyncIterator
from dataclasses import dataclass, field
from datetime import datetime
from pathlib import Path
from typing import Any
from urllib.parse import urlparse

from aiohttp import WSMsgType, web

from bot import webpages
from core.settings import Settings
from handlers import Dispatcher, Incoming, texts
from storage import checkin_links, codes, identities, schools, websessions
from storage.db import transaction
from storage.models import Person, School, WebSession

log = logging.getLogger(__name__)

STATIC_DIR = Path(__file__).parent / "static"
SESSION_COOKIE = "wm_session"
BROWSER_COOKIE = "wm_browser"
WEB = websessions.WEB
SESSION_MAX_AGE = int(websessions.IDLE_LIMIT.total_seconds())
RECHECK_SESSION_SECONDS = 30.0
MAX_WS_MESSAGE = 512 * 1024
_MID = re.compile(r"^[A-Za-z0-9_-]{1,64}$")

BAD_FORM = "This page was open too long or came from somewhere else. Reload the page and try again."
NO_COOKIES = (
    "Your browser blocked the cookie Waymark needs to sign you in. Allow cookies for this site, then try again."
)
LINK_INVALID = (
    "This link doesn't work any more. Links last 30 days and work once. "
    "Ask your old school's careers team for a new one if you'd like to tell them what you're doing."
)
REFRESH_COOKIE = web.RequestKey("waymark_refresh_session_cookie", str)
SIGNED_OUT = "You're signed out. To use Waymark on this device again you'll need a new code from your tutor."


def client_address(remote: str | None, forwarded_for: str | None) -> str:
    """The address to count wrong sign-in codes against.

    Behind a reverse proxy on the same machine every request comes from loopback, so there (and only
    there) we believe the proxy's X-Forwarded-For. Its last entry is the one the proxy added itself;
    anything before it came from the client and could be made up. From any other address the
    header could be forged by the client, so it is ignored.
    """
    remote = remote or "unknown"
    proxy = _ip(remote)
    if forwarded_for and proxy is not None and proxy.is_loopback:
        last = forwarded_for.split(",")[-1].strip()
        if _ip(last) is not None:
            return last
    return remote


def _ip(text: str) -> ipaddress.IPv4Address | ipaddress.IPv6Address | None:
    try:
        return ipaddress.ip_address(text)
    except ValueError:
        return None


@dataclass(eq=False)
class Connection:
    """One open chat page."""

    ws: web.WebSocketResponse
    external_id: str
    session_id: int
    token: str
    cursor: int  # the last transcript line id this page has
    labels: dict[str, str] = field(default_factory=dict)
    checked_at: float = 0.0

    async def send(self, message: dict[str, Any]) -> None:
        if not self.ws.closed:
            with contextlib.suppress(ConnectionError, RuntimeError):
                await self.ws.send_str(json.dumps(message, ensure_ascii=False))


class Hub:
    """The pages open in this process, by web chat account."""

    def __init__(self) -> None:
        self.connections: dict[str, set[Connection]] = {}
        self._locks: dict[str, asyncio.Lock] = {}

    def add(self, conn: Connection) -> None:
        self.connections.setdefault(conn.external_id, set()).add(conn)

    def remove(self, conn: Connection) -> None:
        conns = self.connections.get(conn.external_id)
        if conns is not None:
            conns.discard(conn)
            if not conns:
                del self.connections[conn.external_id]
                self._locks.pop(conn.external_id, None)

    def lock(self, external_id: str) -> asyncio.Lock:
        return self._locks.setdefault(external_id, asyncio.Lock())

    def count(self) -> int:
        return sum(len(c) for c in self.connections.values())


class WebChat:
    """The web chat's routes, bound to one dispatcher."""

    def __init__(self, settings: Settings, dispatcher: Dispatcher, outbox_poll_seconds: float = 2.0) -> None:
        self.settings = settings
        self.dispatcher = dispatcher
        self.engine = dispatcher.engine
        self.hub = Hub()
        self.outbox_poll_seconds = outbox_poll_seconds
        self.secure_cookies = settings.public_url.lower().startswith("https://")
        public = urlparse(settings.public_url)
        self.public_origin = f"{public.scheme}://{public.netloc}".lower()

    def now(self) -> datetime:
        return self.dispatcher.clock()

    # --- helpers ---------------------------------------------------------------------------

    async def _db(self, func: Any, *args: Any) -> Any:
        return await asyncio.to_thread(func, *args)

    def _origin_ok(self, request: web.Request) -> bool:
        """A state-changing request must come from our own pages (when the browser says where from)."""
        origin = request.headers.get("Origin")
        if origin is None:
            return True  # old browsers omit it; the CSRF token still has to match
        allowed = {self.public_origin, f"{request.scheme}://{request.host}".lower()}
        return origin.lower() in allowed

    def _set_cookie(self, response: web.StreamResponse, name: str, value: str) -> None:
        response.set_cookie(
            name,
            value,
            max_age=SESSION_MAX_AGE,
            path="/",
            httponly=True,
            samesite="Strict",
            secure=self.secure_cookies,
        )

    def _clear_session_cookie(self, response: web.StreamResponse) -> None:
        response.del_cookie(SESSION_COOKIE, path="/", samesite="Strict", secure=self.secure_cookies, httponly=True)

    @staticmethod
    def _browser_csrf(browser_id: str) -> str:
        """The sign-in form's token, derived from the browser's secret cookie (double submit)."""
        return hashlib.sha256(f"waymark-signin:{browser_id}".encode()).hexdigest()[:32]

    def _browser_id(self, request: web.Request) -> str | None:
        value = request.cookies.get(BROWSER_COOKIE)
        return value if value and re.fullmatch(r"[0-9a-f]{32}", value) else None

    def _school_name(self, person: Person | None = None) -> str:
        if person is not None:
            with transaction(self.engine, write=False) as s:
                school = s.get(School, person.school_id)
                if school is not None:
                    return school.name
        return self.settings.school_name

    def _site_name(self) -> str:
        """The name at the top of pages seen before signing in: the school's own, when the database
        holds one school (it may have been named with --school rather than WAYMARK_SCHOOL_NAME)."""
        with transaction(self.engine, write=False) as s:
            return schools.only_school_name(s) or self.settings.school_name

    def _html(self, body: str, status: int = 200) -> web.Response:
        return web.Response(text=body, status=status, content_type="text/html", charset="utf-8")

    def _refuse_chat_form(self, request: web.Request, csrf: str, row: WebSession, title: str) -> web.Response | None:
        """A 403 page when a chat-page form is not from our page with this session's token; None when it is."""
        if self._origin_ok(request) and hmac.compare_digest(csrf, row.csrf_token):
            return None
        page = webpages.message_page(self.settings.school_name, title, BAD_FORM, link=("/chat", "Back to the chat"))
        return self._html(page, 403)

    # --- sessions --------------------------------------------------------------------------

    def _load_session(self, token: str | None) -> tuple[WebSession, Person, bool] | None:
        """(session, person, touched): touched when this visit moved the session's 30 days on."""
        now = self.now()
        with transaction(self.engine, write=False) as s:
            row = websessions.find(s, token, now)
            person = s.get(Person, row.person_id) if row else None
        if row is None or person is None:
            return None
        touched = websessions.needs_touch(row, now)
        if touched:
            assert row.id is not None
            with transaction(self.engine) as s:
                websessions.touch(s, row.id, now)
        return row, person, touched

    async def session_of(self, request: web.Request) -> tuple[WebSession, Person] | None:
        token = request.cookies.get(SESSION_COOKIE)
        if not token:
            return None
        result: tuple[WebSession, Person, bool] | None = await self._db(self._load_session, token)
        if result is None:
            return None
        row, person, touched = result
        if touched:
            # The database's 30 days started again; the browser's copy of the cookie must too, or it
            # would drop the cookie 30 days after sign-in however often the pupil comes back.
            request[REFRESH_COOKIE] = token
        return row, person

    def _end_previous(self, token: str | None) -> str | None:
        """A new sign-in in a browser that still had a session: the old account is signed out."""
        now = self.now()
        with transaction(self.engine) as s:
            row = websessions.find(s, token, now)
            if row is None:
                return None
            websessions.sign_out(s, row, now)
            return row.external_id

    # --- sign in with a code ---------------------------------------------------------------

    def _check_code(self, code: str, limits: dict[str, int]) -> str | None:
        """None when the code is usable; otherwise what to tell the person. Counts wrong codes."""
        now = self.now()
        with transaction(self.engine) as s:
            if any(identities.locked_until(s, WEB, key, now) for key in limits):
                return texts.LOCKED_OUT
            if len(code) <= 40 and codes.find_valid(s, code, now=now) is not None:
                return None
            locked = [identities.record_wrong_code(s, WEB, key, now, limit) for key, limit in limits.items()]
            return texts.LOCKED_OUT if any(locked) else texts.WRONG_CODE

    def _finish_signin(self, external_id: str, keys: list[str]) -> str | None:
        now = self.now()
        with transaction(self.engine) as s:
            person = identities.person_for(s, WEB, external_id)
            if person is None or person.id is None:
                return None
            for key in keys:
                identities.clear_wrong_codes(s, WEB, key)
            return websessions.create(s, person.id, external_id, now)

    async def sign_in(self, request: web.Request, code: str) -> tuple[str | None, str]:
        """(session token, "") on success, or (None, what went wrong)."""
        code = code.strip()
        browser_id = self._browser_id(request)
        address = client_address(request.remote, request.headers.get("X-Forwarded-For"))
        limits = {f"ip:{address}": websessions.MAX_WRONG_CODES_PER_ADDRESS}
        if browser_id:
            limits[f"browser:{browser_id}"] = websessions.MAX_WRONG_CODES_PER_BROWSER
        problem: str | None = await self._db(self._check_code, code, limits)
        if problem is not None:
            return None, problem
        await self._db(self._end_previous, request.cookies.get(SESSION_COOKIE))
        external_id = websessions.new_external_id()
        # The same /start as every channel: it links the account, greets, and records the transcript.
        incoming = Incoming(
            platform=WEB,
            chat_id=external_id,
            user_id=external_id,
            text=f"/start {codes.normalise(code)}",
            update_id=f"{external_id}:signin",
        )
        await asyncio.to_thread(self.dispatcher.dispatch, incoming)
        token: str | None = await self._db(self._finish_signin, external_id, list(limits))
        if token is None:
            return None, texts.WRONG_CODE  # used by someone else a moment ago
        return token, ""

    def _with_browser_cookie(self, request: web.Request, response: web.StreamResponse, browser_id: str) -> None:
        if request.cookies.get(BROWSER_COOKIE) != browser_id:
            self._set_cookie(response, BROWSER_COOKIE, browser_id)

    def _ensure_browser(self, request: web.Request) -> str:
        return self._browser_id(request) or websessions.new_external_id()

    async def signin_get(self, request: web.Request) -> web.StreamResponse:
        school = await self._db(self._site_name)
        browser_id = self._ensure_browser(request)
        csrf = self._browser_csrf(browser_id)
        code = request.query.get("code", "").strip()[:40]
        if code:
            # A sign-in link (a QR code, an email) only fills the code in: the pupil presses Sign in.
            # Using the code on a GET would let mail scanners use it up, and let another site sign a
            # browser in to an account of its choosing.
            response = self._html(webpages.signin_page(school, csrf, code=code, from_link=True))
        else:
            if await self.session_of(request) is not None:
                raise web.HTTPSeeOther("/chat")
            notice = SIGNED_OUT if request.query.get("out") else None
            response = self._html(webpages.signin_page(school, csrf, notice=notice))
        self._with_browser_cookie(request, response, browser_id)
        return response

    async def signin_post(self, request: web.Request) -> web.StreamResponse:
        school = await self._db(self._site_name)
        form = await request.post()
        browser_id = self._browser_id(request)
        if browser_id is None:
            fresh = websessions.new_external_id()
            response = self._html(webpages.signin_page(school, self._browser_csrf(fresh), error=NO_COOKIES), 403)
            self._set_cookie(response, BROWSER_COOKIE, fresh)
            return response
        csrf = str(form.get("csrf", ""))
        if not self._origin_ok(request) or not hmac.compare_digest(csrf, self._browser_csrf(browser_id)):
            return self._html(webpages.signin_page(school, self._browser_csrf(browser_id), error=BAD_FORM), 403)
        code = str(form.get("code", ""))
        token, problem = await self.sign_in(request, code)
        if token is None:
            return self._html(
                webpages.signin_page(school, self._browser_csrf(browser_id), error=problem, code=code[:40]), 400
            )
        response = _see_other("/chat")
        self._set_cookie(response, SESSION_COOKIE, token)
        return response

    # --- the chat page ---------------------------------------------------------------------

    def _deliver(self, external_ids: list[str]) -> list[str]:
        """Move waiting outbox rows of these accounts into their conversations; returns who got some."""
        if not external_ids:
            return []
        with transaction(self.engine, write=False) as s:
            waiting = []
            for start in range(0, len(external_ids), 500):
                waiting += websessions.chats_with_mail(s, external_ids[start : start + 500])
        now = self.now()
        delivered = []
        for external_id in waiting:
            with transaction(self.engine) as s:
                if websessions.deliver_outbox(s, external_id, now):
                    delivered.append(external_id)
        return delivered

    def _page_lines(self, external_id: str) -> list[webpages.LineView]:
        self._deliver([external_id])
        with transaction(self.engine, write=False) as s:
            lines = websessions.recent_lines(s, external_id)
        return webpages.line_views(lines, {})

    async def index(self, request: web.Request) -> web.StreamResponse:
        raise web.HTTPSeeOther("/chat" if await self.session_of(request) else "/signin")

    async def chat_get(self, request: web.Request) -> web.StreamResponse:
        found = await self.session_of(request)
        if found is None:
            raise web.HTTPSeeOther("/signin")
        row, person = found
        views = await self._db(self._page_lines, row.external_id)
        school = await self._db(self._school_name, person)
        page = webpages.chat_page(school, person.given_name, row.csrf_token, views, websessions.new_token())
        return self._html(page)

    async def _dispatch(self, row: WebSession, text: str | None, button: str | None, mid: str | None) -> bool:
        """Send one message as this session's account; False when the account is no longer linked."""
        update_id = f"{row.external_id}:{mid}" if mid and _MID.match(mid) else None
        incoming = Incoming(
            platform=WEB,
            chat_id=row.external_id,
            user_id=row.external_id,
            text=text,
            button=button,
            update_id=update_id,
        )
        await asyncio.to_thread(self.dispatcher.dispatch, incoming)
        return await self.sync(row.external_id)

    async def send_post(self, request: web.Request) -> web.StreamResponse:
        found = await self.session_of(request)
        if found is None:
            raise web.HTTPSeeOther("/signin")
        row, _ = found
        form = await request.post()
        refused = self._refuse_chat_form(request, str(form.get("csrf", "")), row, "Not sent")
        if refused is not None:
            return refused
        button = form.get("button")
        text = form.get("text")
        mid = str(form.get("mid", "")) or None
        if isinstance(button, str) and button:
            linked = await self._dispatch(row, None, button, mid)
        elif isinstance(text, str) and text.strip():
            linked = await self._dispatch(row, text, None, mid)
        else:
            raise web.HTTPSeeOther("/chat")
        if not linked:
            response = _see_other("/signin?out=1")
            self._clear_session_cookie(response)
            return response
        raise web.HTTPSeeOther("/chat#message")

    def _sign_out(self, row: WebSession) -> None:
        with transaction(self.engine) as s:
            websessions.sign_out(s, row, self.now())

    async def signout_post(self, request: web.Request) -> web.StreamResponse:
        found = await self.session_of(request)
        response = _see_other("/signin?out=1")
        self._clear_session_cookie(response)
        if found is None:
            return response
        row, _ = found
        form = await request.post()
        refused = self._refuse_chat_form(request, str(form.get("csrf", "")), row, "Still signed in")
        if refused is not None:
            return refused
        await self._db(self._sign_out, row)
        await self._close_all(row.external_id)
        return response

    async def _close_all(self, external_id: str) -> None:
        for conn in list(self.hub.connections.get(external_id, ())):
            await conn.send({"type": "signed_out"})
            await conn.ws.close()

    # --- images and files ------------------------------------------------------------------

    def _media(self, external_id: str, line_id: int) -> tuple[bytes, str, str | None] | None:
        with transaction(self.engine, write=False) as s:
            line = websessions.line_of(s, external_id, line_id)
        if line is None or line.direction != "out":
            return None
        try:
            payload = json.loads(line.payload or "{}")
        except ValueError:
            return None
        if payload.get("image_b64"):
            return base64.b64decode(payload["image_b64"]), "image/png", None
        if payload.get("file_b64"):
            name = re.sub(r"[^A-Za-z0-9._-]", "_", str(payload.get("file") or "download"))[:80]
            kind = str(payload.get("file_type") or "application/octet-stream")
            return base64.b64decode(payload["file_b64"]), kind, name
        return None

    async def media_get(self, request: web.Request) -> web.StreamResponse:
        found = await self.session_of(request)
        if found is None:
            raise web.HTTPNotFound()
        try:
            line_id = int(request.match_info["line_id"])
        except ValueError:
            raise web.HTTPNotFound() from None
        media = await self._db(self._media, found[0].external_id, line_id)
        if media is None:
            raise web.HTTPNotFound()
        body, kind, download_name = media
        response = web.Response(body=body, content_type=kind)
        if download_name:
            response.headers["Content-Disposition"] = f'attachment; filename="{download_name}"'
        return response

    # --- live updates ----------------------------------------------------------------------

    def _read_after(self, external_id: str, after: int) -> tuple[list[Any], bool]:
        with transaction(self.engine, write=False) as s:
            return websessions.lines_after(s, external_id, after), websessions.is_linked(s, external_id)

    def _recent_for_socket(self, external_id: str) -> tuple[list[Any], bool]:
        self._deliver([external_id])
        with transaction(self.engine, write=False) as s:
            return websessions.recent_lines(s, external_id), websessions.is_linked(s, external_id)

    def _revoke_identity(self, external_id: str) -> None:
        with transaction(self.engine) as s:
            websessions.revoke_for_identity(s, external_id, self.now())

    async def sync(self, external_id: str) -> bool:
        """Send every open page of this account the lines it has not got; False once it is unlinked."""
        async with self.hub.lock(external_id):
            conns = list(self.hub.connections.get(external_id, ()))
            after = min((c.cursor for c in conns), default=0)
            if conns:
                lines, linked = await self._db(self._read_after, external_id, after)
            else:
                linked = await self._db(self._is_linked, external_id)
                lines = []
            for conn in conns:
                fresh = [line for line in lines if line.id > conn.cursor]
                if fresh:
                    views = webpages.line_views(fresh, conn.labels)
                    await conn.send({"type": "lines", "lines": [v.as_json() for v in views]})
                    conn.cursor = fresh[-1].id
        if not linked:
            await self._db(self._revoke_identity, external_id)
            await self._close_all(external_id)
        return bool(linked)

    def _is_linked(self, external_id: str) -> bool:
        with transaction(self.engine, write=False) as s:
            return websessions.is_linked(s, external_id)

    async def ws_get(self, request: web.Request) -> web.StreamResponse:
        found = await self.session_of(request)
        if found is None:
            raise web.HTTPUnauthorized(text="Sign in first.")
        row, _ = found
        # A WebSocket is not covered by SameSite everywhere: check where the page came from.
        if request.headers.get("Origin") is None or not self._origin_ok(request):
            raise web.HTTPForbidden(text="Wrong origin.")
        if not hmac.compare_digest(request.query.get("csrf", ""), row.csrf_token):
            raise web.HTTPForbidden(text="Reload the page.")
        try:
            after = max(0, int(request.query.get("after", "0")))
        except ValueError:
            after = 0
        ws = web.WebSocketResponse(heartbeat=30, max_msg_size=MAX_WS_MESSAGE)
        await ws.prepare(request)
        assert row.id is not None
        conn = Connection(ws, row.external_id, row.id, request.cookies.get(SESSION_COOKIE, ""), after)
        conn.checked_at = asyncio.get_running_loop().time()
        async with self.hub.lock(row.external_id):
            lines, _linked = await self._db(self._recent_for_socket, row.external_id)
            views = webpages.line_views(lines, conn.labels)  # learns the labels of buttons on show
            fresh = [v for v in views if v.id > after]
            if fresh:
                await conn.send({"type": "lines", "lines": [v.as_json() for v in fresh]})
            # A page cannot have seen lines that do not exist yet; a made-up number must not mute it.
            conn.cursor = min(after, views[-1].id if views else 0)
            self.hub.add(conn)
        try:
            async for msg in ws:
                if msg.type != WSMsgType.TEXT:
                    continue
                if not await self._handle_ws_message(conn, msg.data):
                    break
        finally:
            self.hub.remove(conn)
        return ws

    async def _still_signed_in(self, conn: Connection) -> bool:
        now = asyncio.get_running_loop().time()
        if now - conn.checked_at < RECHECK_SESSION_SECONDS:
            return True
        found: tuple[WebSession, Person, bool] | None = await self._db(self._load_session, conn.token)
        conn.checked_at = now
        return found is not None and found[0].id == conn.session_id

    async def _handle_ws_message(self, conn: Connection, data: str) -> bool:
        try:
            message = json.loads(data)
        except ValueError:
            message = None
        if not isinstance(message, dict):
            await conn.send({"type": "error", "text": "I couldn't read that. Please reload the page."})
            return True
        if not await self._still_signed_in(conn):
            await conn.send({"type": "signed_out"})
            await conn.ws.close()
            return False
        text, button, mid = message.get("text"), message.get("button"), message.get("mid")
        row = WebSession(id=conn.session_id, token_hash="", person_id=0, external_id=conn.external_id, csrf_token="")
        mid = mid if isinstance(mid, str) else None
        if isinstance(button, str) and button:
            return await self._dispatch(row, None, button[:200], mid)
        if isinstance(text, str) and text.strip():
            return await self._dispatch(row, text, None, mid)
        return True

    async def poll_outbox(self) -> None:
        """Bring outbox messages (check-ins, reminders) to pages that are open, every few seconds."""
        while True:
            await asyncio.sleep(self.outbox_poll_seconds)
            try:
                delivered = await self._db(self._deliver, list(self.hub.connections))
                for external_id in delivered:
                    await self.sync(external_id)
            except Exception:  # a database hiccup must not stop deliveries for good
                log.exception("web outbox delivery failed; trying again shortly")

    # --- the one-time alumni link ----------------------------------------------------------

    def _link_is_valid(self, token: str) -> bool:
        with transaction(self.engine, write=False) as s:
            return checkin_links.find_valid(s, token, self.now()) is not None

    def _use_link(self, token: str) -> tuple[str, str] | None:
        now = self.now()
        with transaction(self.engine) as s:
            found = checkin_links.find_valid(s, token, now)
            if found is None:
                return None
            link, person = found
            assert person.id is not None
            if not checkin_links.claim(s, link, now):
                return None
            external_id = websessions.new_external_id()
            identities.link(s, person, WEB, external_id, external_id, now)
            return external_id, websessions.create(s, person.id, external_id, now)

    async def checkin_get(self, request: web.Request) -> web.StreamResponse:
        # Opening the link shows a button rather than signing in at once: mail scanners open every
        # link in an email, and would otherwise use up the alumnus's one-time link.
        school = await self._db(self._site_name)
        token = request.match_info["token"]
        if not await self._db(self._link_is_valid, token):
            return self._html(webpages.message_page(school, "Link not working", LINK_INVALID), 404)
        browser_id = self._ensure_browser(request)
        response = self._html(webpages.checkin_page(school, self._browser_csrf(browser_id), token))
        self._with_browser_cookie(request, response, browser_id)
        return response

    async def checkin_post(self, request: web.Request) -> web.StreamResponse:
        school = await self._db(self._site_name)
        token = request.match_info["token"]
        form = await request.post()
        browser_id = self._browser_id(request)
        csrf = str(form.get("csrf", ""))
        if (
            browser_id is None
            or not self._origin_ok(request)
            or not hmac.compare_digest(csrf, self._browser_csrf(browser_id))
        ):
            return self._html(
                webpages.message_page(school, "Please try again", BAD_FORM, link=(f"/c/{token}", "Back")), 403
            )
        # The link first: a wrong or used link must not sign out whoever uses this browser now.
        used = await self._db(self._use_link, token)
        if used is None:
            return self._html(webpages.message_page(school, "Link not working", LINK_INVALID), 404)
        await self._db(self._end_previous, request.cookies.get(SESSION_COOKIE))
        external_id, session_token = used
        incoming = Incoming(
            platform=WEB,
            chat_id=external_id,
            user_id=external_id,
            text="/destination",
            update_id=f"{external_id}:checkin",
        )
        await asyncio.to_thread(self.dispatcher.dispatch, incoming)
        response = _see_other("/chat")
        self._set_cookie(response, SESSION_COOKIE, session_token)
        return response

    async def healthz(self, request: web.Request) -> web.StreamResponse:
        return web.Response(text=f"ok {self.hub.count()} open pages\n")


def _see_other(location: str) -> web.Response:
    """A redirect we can still set cookies on (returning an HTTPException is deprecated in aiohttp)."""
    return web.Response(status=303, headers={"Location": location})


def _content_security_policy() -> str:
    return "; ".join(
        [
            "default-src 'none'",
            "script-src 'self'",
            "style-src 'self'",
            "img-src 'self'",
            "connect-src 'self'",
            "form-action 'self'",
            "base-uri 'none'",
            "frame-ancestors 'none'",
        ]
    )


CSP = _content_security_policy()


async def _security_headers(request: web.Request, response: web.StreamResponse) -> None:
    headers = response.headers
    headers.setdefault("Content-Security-Policy", CSP)
    headers.setdefault("X-Content-Type-Options", "nosniff")
    # same-origin, not no-referrer: with no-referrer Chrome sends "Origin: null" on our own forms.
    headers.setdefault("Referrer-Policy", "same-origin")  # a /c/<token> never leaks to another site
    headers.setdefault("X-Frame-Options", "DENY")
    if not request.path.startswith("/static/"):
        headers.setdefault("Cache-Control", "no-store")
    token = request.get(REFRESH_COOKIE)
    # By now aiohttp has turned the response's cookies into headers, so the renewed cookie is added
    # as a header too (unless the handler set or cleared the session cookie itself).
    if token and not any(h.startswith(f"{SESSION_COOKIE}=") for h in headers.getall("Set-Cookie", [])):
        renewed = web.StreamResponse()
        request.app[WEB_CHAT]._set_cookie(renewed, SESSION_COOKIE, token)
        headers.add("Set-Cookie", renewed.cookies[SESSION_COOKIE].output(header="").strip())


WEB_CHAT = web.AppKey("waymark_web_chat", WebChat)


def install(
    app: web.Application, settings: Settings, dispatcher: Dispatcher, outbox_poll_seconds: float = 2.0
) -> WebChat:
    """Mount the web chat on an application that has not started yet."""
    chat = WebChat(settings, dispatcher, outbox_poll_seconds)
    app[WEB_CHAT] = chat
    router = app.router
    router.add_get("/", chat.index)
    router.add_get("/signin", chat.signin_get)
    router.add_post("/signin", chat.signin_post)
    router.add_get("/chat", chat.chat_get)
    router.add_post("/send", chat.send_post)
    router.add_post("/signout", chat.signout_post)
    router.add_get("/ws", chat.ws_get)
    router.add_get(r"/media/{line_id}", chat.media_get)
    router.add_get(r"/c/{token}", chat.checkin_get)
    router.add_post(r"/c/{token}", chat.checkin_post)
    router.add_get("/healthz", chat.healthz)
    router.add_static("/static/", STATIC_DIR, show_index=False, follow_symlinks=False)
    app.on_response_prepare.append(_security_headers)

    async def background(_app: web.Application) -> AsyncIterator[None]:
        task = asyncio.create_task(chat.poll_outbox())
        yield
        task.cancel()
        with contextlib.suppress(asyncio.CancelledError):
            await task

    async def close_pages(_app: web.Application) -> None:
        for conns in list(chat.hub.connections.values()):
            for conn in list(conns):
                await conn.ws.close(code=1001, message=b"server shutting down")

    app.cleanup_ctx.append(background)
    app.on_shutdown.append(close_pages)
    return chat
