"""Live delivery: the chat pages open in this process, and what reaches them over their WebSocket.

    page --(text or button)--> Incoming(platform="web") --> Dispatcher.dispatch (a thread)
    page <--(new transcript lines)-- transcript <-- the engine, and outbox rows for this account

Pages are fed from the transcript, never from replies in memory, so a reload, a second tab or a
second process all show the same thing. Outbox rows (check-ins, reminders) for an account with a
page open are moved into its conversation every few seconds; a closed page gets them when it opens.
"""

from __future__ import annotations

import asyncio
import contextlib
import json
import logging
import re
from collections.abc import Callable
from dataclasses import dataclass, field
from datetime import datetime
from typing import Any

from aiohttp import WSMsgType, web
from sqlalchemy import Engine
from sqlmodel import Session

from bot.channels.web import pages
from bot.channels.web.session import Sessions
from core.keyring import Keyring
from handlers import Dispatcher, Incoming, Reply, texts
from storage import websessions
from storage.db import transaction
from storage.models import TranscriptLine

log = logging.getLogger(__name__)

WEB = websessions.WEB
RECHECK_SESSION_SECONDS = 30.0
MAX_WS_MESSAGE = 512 * 1024
_MID = re.compile(r"^[A-Za-z0-9_-]{1,64}$")
UNREADABLE = "I couldn't read that. Please reload the page."
NOT_KEPT = frozenset({texts.TRY_AGAIN, texts.NOT_SAVED})


# --- the database, one transaction per call, run in a thread --------------------------------------


def deliver(engine: Engine, external_ids: list[str], now: datetime) -> list[str]:
    """Move waiting outbox rows of these accounts into their conversations; returns who got some."""
    if not external_ids:
        return []
    with transaction(engine, write=False) as s:
        waiting = []
        for start in range(0, len(external_ids), 500):
            waiting += websessions.chats_with_mail(s, external_ids[start : start + 500])
    delivered = []
    for external_id in waiting:
        with transaction(engine) as s:
            if websessions.deliver_outbox(s, external_id, now):
                delivered.append(external_id)
    return delivered


def earlier_lines(engine: Engine, external_id: str, before_id: int, limit: int) -> list[TranscriptLine]:
    """The `limit` lines before line `before_id`, oldest first: a page of "Earlier messages"."""
    with transaction(engine, write=False) as s:
        return websessions.recent_lines(s, external_id, limit, before_id)


def recent_lines(engine: Engine, external_id: str, now: datetime, limit: int) -> list[TranscriptLine]:
    """The last `limit` lines of the conversation as a page opening now shows it, with any waiting
    outbox rows in it (WAYMARK_WEB_CHAT_PAGE_LINES: a page and a first frame stay small however long
    the conversation grows)."""
    deliver(engine, [external_id], now)
    with transaction(engine, write=False) as s:
        return websessions.recent_lines(s, external_id, limit)


def _lines_after(engine: Engine, external_id: str, after: int | None) -> tuple[list[TranscriptLine], bool]:
    """(lines after `after`, still linked); no lines asked for (None) when no page is open."""
    with transaction(engine, write=False) as s:
        lines = websessions.lines_after(s, external_id, after) if after is not None else []
        return lines, websessions.is_linked(s, external_id)


def _step_and_lines(
    dispatcher: Dispatcher, incoming: Incoming, after: int | None
) -> tuple[list[Reply], list[TranscriptLine], bool]:
    """One message's step and then the lines it added, in one trip to a worker thread and, when the
    step commits, in its own transaction: the lines are read before its commit, and the step's own
    answer says whether the account is still linked (no roles after /unlink). On PostgreSQL that is
    three round trips fewer per message than a transaction of their own (a pool ping, BEGIN, COMMIT)."""
    roles: list[frozenset[str]] = []
    read: list[list[TranscriptLine]] = []

    def lines_in_step(session: Session) -> None:
        if after is not None:
            read.append(websessions.lines_after(session, incoming.user_id, after))

    replies = dispatcher.dispatch(incoming, on_roles=roles.append, within=lines_in_step)
    if roles and (read or after is None):  # committed: what was read inside it stands
        return replies, read[0] if read else [], bool(roles[0])
    # Not heard: a redelivery or a step that did not commit, so read afresh (and ask about the link).
    lines, linked = _lines_after(dispatcher.engine, incoming.user_id, after)
    return replies, lines, linked


# --- the pages open in this process ---------------------------------------------------------------


@dataclass(frozen=True)
class Fetched:
    """Lines read after a step: those after `after`, and whether the account is still linked."""

    after: int
    lines: list[TranscriptLine]
    linked: bool


@dataclass(frozen=True)
class Sent:
    """What became of one message: whether the step that reads it committed, and what the engine
    answered when it did not ("try again" on a full disk), which no transcript line will carry."""

    saved: bool
    problem: str = ""
    # With `Live.send(..., after=)`: the new lines from `after` on and whether still linked, read in
    # the same worker trip as the step (None: not read, `Live.sync` reads them).
    fetched: Fetched | None = None


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

    async def send_lines(self, lines: list[TranscriptLine], keys: Keyring) -> None:
        views = pages.line_views(lines, self.labels, keys)
        await self.send({"type": "lines", "lines": [v.as_json() for v in views]})


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

    async def sign_out(self, external_id: str) -> None:
        """Tell every open page of this account it is signed out, and close it."""
        for conn in list(self.connections.get(external_id, ())):
            await conn.send({"type": "signed_out"})
            await conn.ws.close()

    async def close_every(self) -> None:
        for conns in list(self.connections.values()):
            for conn in list(conns):
                await conn.ws.close(code=1001, message=b"server shutting down")


class Live:
    """Messages from pages to the dispatcher, and new lines back to every open page."""

    def __init__(self, dispatcher: Dispatcher, sessions: Sessions) -> None:
        self.dispatcher = dispatcher
        self.engine = dispatcher.engine
        self.clock: Callable[[], datetime] = dispatcher.clock
        self.sessions = sessions
        self.hub = Hub()

    async def send(
        self, external_id: str, text: str | None, button: str | None, mid: str | None, after: int | None = None
    ) -> Sent:
        """Send one message as this account (from a form or a page), and whether it was kept. The
        caller then brings the pages up to date (`sync`). With `after` (the pages' lowest cursor), the
        lines from there are read in the same worker trip, for `sync` to hand out."""
        update_id = f"{external_id}:{mid}" if mid and _MID.match(mid) else None
        incoming = Incoming(
            platform=WEB, chat_id=external_id, user_id=external_id, text=text, button=button, update_id=update_id
        )
        fetched: Fetched | None = None
        try:
            if after is None:
                replies = await asyncio.to_thread(self.dispatcher.dispatch, incoming)
            else:
                replies, lines, linked = await asyncio.to_thread(_step_and_lines, self.dispatcher, incoming, after)
                fetched = Fetched(after, lines, linked)
        except Exception:  # anything unforeseen: the page keeps the message and says it wasn't saved
            log.exception("web message not handled")
            replies = [Reply(texts.NOT_SAVED)]
        # The engine answers exactly these when its step rolled back (and nothing, [], for an id it
        # has kept before): read from its answer rather than asked of the database again, which
        # would add a thread and a query to every message.
        failed = [r.text for r in replies if r.text in NOT_KEPT]
        return Sent(saved=not failed, problem=" ".join(failed), fetched=fetched)

    def lowest_cursor(self, external_id: str) -> int | None:
        """Where the least up-to-date open page of this account is; None when none is open."""
        conns = self.hub.connections.get(external_id, ())
        return min((c.cursor for c in conns), default=0) if conns else None

    async def sync(self, external_id: str, fetched: Fetched | None = None) -> bool:
        """Send every open page of this account the lines it has not got; False once it is unlinked
        (/unlink ended its sessions: its pages are told so and closed). `fetched`: lines (and whether
        still linked) already read from a cursor no later than any page's, as `send` reads them;
        cursors only move on, so a page is sent only what is newer than its own."""
        async with self.hub.lock(external_id):
            conns = list(self.hub.connections.get(external_id, ()))
            after = self.lowest_cursor(external_id)
            if fetched is not None and after is not None and after >= fetched.after:
                lines, linked = fetched.lines, fetched.linked
            else:  # nothing read yet, or a page has opened since with an older cursor
                lines, linked = await asyncio.to_thread(_lines_after, self.engine, external_id, after)
            for conn in conns:
                fresh = [line for line in lines if line.id is not None and line.id > conn.cursor]
                if fresh:
                    await conn.send_lines(fresh, self.dispatcher.settings.keyring)
                    conn.cursor = fresh[-1].id or conn.cursor
        if not linked:
            await self.hub.sign_out(external_id)
        return linked

    async def serve(self, ws: web.WebSocketResponse, conn: Connection, after: int) -> None:
        """One open page, from the lines it has not got until it closes."""
        conn.checked_at = asyncio.get_running_loop().time()
        async with self.hub.lock(conn.external_id):
            limit = self.dispatcher.settings.web_chat_page_lines
            lines = await asyncio.to_thread(recent_lines, self.engine, conn.external_id, self.clock(), limit)
            views = pages.line_views(
                lines, conn.labels, self.dispatcher.settings.keyring
            )  # learns the labels of buttons on show
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
                if not await self._on_message(conn, msg.data):
                    break
        finally:
            self.hub.remove(conn)

    async def _on_message(self, conn: Connection, data: str) -> bool:
        """Handle one message from a page; False when the page is to close."""
        try:
            message = json.loads(data)
        except (ValueError, RecursionError):  # e.g. 100,000 nested "[" is deeper than the parser goes
            message = None
        if not isinstance(message, dict):
            await conn.send({"type": "error", "text": UNREADABLE})
            return True
        now = asyncio.get_running_loop().time()
        if now - conn.checked_at >= RECHECK_SESSION_SECONDS:
            conn.checked_at = now
            if not await self.sessions.still_live(conn.token, conn.session_id):
                await conn.send({"type": "signed_out"})
                await conn.ws.close()
                return False
        text, button, mid = message.get("text"), message.get("button"), message.get("mid")
        mid = mid if isinstance(mid, str) else None
        # The step and the lines it adds in one worker trip: from the lowest cursor now, which is
        # never later than any page's when the lines are handed out (cursors only move on).
        after = self.lowest_cursor(conn.external_id)
        if isinstance(button, str) and button:
            sent = await self.send(conn.external_id, None, button[:200], mid, after)
        elif isinstance(text, str) and text.strip():
            sent = await self.send(conn.external_id, text, None, mid, after)
        else:
            return True
        # The receipt first, so the page can stop holding the message; then the lines it brought.
        await conn.send({"type": "ack", "mid": mid, "saved": sent.saved, "text": sent.problem})
        return await self.sync(conn.external_id, sent.fetched)

    async def deliver_waiting(self) -> None:
        """Bring outbox rows (check-ins, reminders) to the pages open now."""
        try:
            delivered = await asyncio.to_thread(deliver, self.engine, list(self.hub.connections), self.clock())
            for external_id in delivered:
                await self.sync(external_id)
        except Exception:  # a database hiccup must not stop deliveries for good
            log.exception("web outbox delivery failed; trying again shortly")
