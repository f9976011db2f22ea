"""Sessions and CSRF in the web chat: the cookies, where a request came from, who is signed in.

Two cookies, both HttpOnly, SameSite=Strict, and Secure behind https:

- `wm_browser`: a random id per browser. The sign-in forms' CSRF token is derived from it (a
  double submit), and wrong codes count against it.
- `wm_session`: the session token (128 random bits; the database keeps only its SHA-256). Forms on
  the chat page and the WebSocket carry that session's own CSRF token.

A state-changing request must also come from our own pages when the browser says where from.
"""

from __future__ import annotations

import asyncio
import hashlib
import hmac
import ipaddress
import re
from collections.abc import Callable
from dataclasses import dataclass
from datetime import datetime
from urllib.parse import urlparse

from aiohttp import web
from sqlalchemy import Engine

from bot.connections import is_loopback, normalised
from storage import websessions
from storage.db import transaction
from storage.models import Person, School, WebSession

SESSION_COOKIE = "wm_session"
BROWSER_COOKIE = "wm_browser"
SESSION_MAX_AGE = int(websessions.IDLE_LIMIT.total_seconds())
REFRESH_COOKIE = web.RequestKey("waymark_refresh_session_cookie", str)
_BROWSER_ID = re.compile(r"[0-9a-f]{32}")


def client_address(remote: str | None, forwarded_for: str | None) -> str:
    """The address to count wrong sign-in codes against.

    Behind a reverse proxy on the same machine every request comes from loopback, so there (and only
    there) we believe the proxy's X-Forwarded-For. Its last entry is the one the proxy added itself;
    anything before it came from the client and could be made up. From any other address the
    header could be forged by the client, so it is ignored.
    """
    remote = normalised(remote) if remote else "unknown"
    if forwarded_for and is_loopback(remote):
        last = forwarded_for.split(",")[-1].strip()
        if _ip(last) is not None:
            return last
    return remote


def _ip(text: str) -> ipaddress.IPv4Address | ipaddress.IPv6Address | None:
    try:
        return ipaddress.ip_address(text)
    except ValueError:
        return None


def request_address(request: web.Request) -> str:
    return client_address(request.remote, request.headers.get("X-Forwarded-For"))


def browser_id(request: web.Request) -> str | None:
    """This browser's id from its cookie; None without one (or with a made-up one)."""
    value = request.cookies.get(BROWSER_COOKIE)
    return value if value and _BROWSER_ID.fullmatch(value) else None


def new_browser_id() -> str:
    return websessions.new_external_id()  # the same 128 random bits, in hex


def browser_csrf(browser: str) -> str:
    """The sign-in forms' token, derived from the browser's secret cookie (double submit)."""
    return hashlib.sha256(f"waymark-signin:{browser}".encode()).hexdigest()[:32]


@dataclass(frozen=True)
class Visit:
    """A signed-in request: its session, the person, and the name of their school (if it has one)."""

    row: WebSession
    person: Person
    school: str | None


def load_visit(engine: Engine, token: str | None, now: datetime) -> tuple[Visit, bool] | None:
    """(visit, touched), touched when this visit moved the session's 30 days on; None when signed out."""
    with transaction(engine, write=False) as s:
        row = websessions.find(s, token, now)
        person = s.get(Person, row.person_id) if row else None
        school = s.get(School, person.school_id) if person else None
    if row is None or person is None:
        return None
    touched = websessions.needs_touch(row, now)
    if touched:
        assert row.id is not None
        with transaction(engine) as s:
            websessions.touch(s, row.id, now)
    return Visit(row, person, school.name if school else None), touched


class Sessions:
    """Cookies and checks for one site (its public address decides Secure and our own origin)."""

    def __init__(self, engine: Engine, clock: Callable[[], datetime], public_url: str) -> None:
        self.engine = engine
        self.clock = clock
        self.secure = public_url.lower().startswith("https://")
        public = urlparse(public_url)
        self.public_origin = f"{public.scheme}://{public.netloc}".lower()

    def origin_ok(self, request: web.Request) -> bool:
        """A state-changing request must come from our own pages (when the browser says where from)."""
        origin = request.headers.get("Origin")
        if origin is None:
            return True  # old browsers omit it; the CSRF token still has to match
        allowed = {self.public_origin, f"{request.scheme}://{request.host}".lower()}
        return origin.lower() in allowed

    def form_ok(self, request: web.Request, sent: str, expected: str) -> bool:
        """A form from our own page, carrying the token it was given."""
        return self.origin_ok(request) and hmac.compare_digest(sent, expected)

    def set_cookie(self, response: web.StreamResponse, name: str, value: str) -> None:
        response.set_cookie(
            name, value, max_age=SESSION_MAX_AGE, path="/", httponly=True, samesite="Strict", secure=self.secure
        )

    def clear_session(self, response: web.StreamResponse) -> None:
        response.del_cookie(SESSION_COOKIE, path="/", samesite="Strict", secure=self.secure, httponly=True)

    def keep_browser(self, request: web.Request, response: web.StreamResponse, browser: str) -> None:
        """Give the browser its id cookie, unless it sent this one already."""
        if request.cookies.get(BROWSER_COOKIE) != browser:
            self.set_cookie(response, BROWSER_COOKIE, browser)

    async def current(self, request: web.Request) -> Visit | None:
        """Who is signed in on this request, if anyone."""
        token = request.cookies.get(SESSION_COOKIE)
        if not token:
            return None
        found = await asyncio.to_thread(load_visit, self.engine, token, self.clock())
        if found is None:
            return None
        visit, touched = found
        if touched:
            # The database's 30 days started again; the browser's copy of the cookie must too, or it
            # would drop the cookie 30 days after sign-in however often the pupil comes back.
            request[REFRESH_COOKIE] = token
        return visit

    async def still_live(self, token: str, session_id: int) -> bool:
        """Whether this session is still signed in (an open page checks now and then)."""
        found = await asyncio.to_thread(load_visit, self.engine, token, self.clock())
        return found is not None and found[0].row.id == session_id

    async def add_headers(self, request: web.Request, response: web.StreamResponse) -> None:
        """Every response: the security headers, and the renewed session cookie when a visit touched it."""
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
            self.set_cookie(renewed, SESSION_COOKIE, token)
            headers.add("Set-Cookie", renewed.cookies[SESSION_COOKIE].output(header="").strip())


CSP = "; ".join(
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
