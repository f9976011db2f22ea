"""The Slack channel for staff: slack-bolt's `AsyncApp` in front of `handlers.Dispatcher`.

    Slack -> POST /slack/events (signed) -> bolt: verify, ack at once -> Incoming
          -> dispatch (in a thread, one transaction) -> [Reply] -> Block Kit messages, file uploads

Direct messages only: a message in a channel is answered "direct messages only" and nothing is
stored (the engine's rule for `chat_type != "private"`). `/waymark WORD ARGS` is the typed command
`/WORD ARGS`, answered in the person's direct messages. Slack redelivers events it thinks were not
acknowledged; the engine drops a second delivery of an `event_id`. `SlackTransport` is the outbox
sender's way out. Socket Mode is not supported: HTTP only.
"""

from __future__ import annotations

import asyncio
import logging
import re
from collections.abc import Awaitable, Callable, Coroutine
from dataclasses import dataclass
from typing import Any

import aiohttp
from aiohttp import web
from slack_bolt.adapter.aiohttp import to_aiohttp_response
from slack_bolt.async_app import AsyncAck, AsyncApp
from slack_bolt.error import BoltError
from slack_bolt.request.async_request import AsyncBoltRequest
from slack_bolt.request.internals import extract_team_id
from slack_sdk.errors import SlackApiError
from slack_sdk.signature import SignatureVerifier
from slack_sdk.web.async_client import AsyncWebClient
from sqlalchemy import Engine
from sqlalchemy.exc import DBAPIError

from bot.channels.base import ChannelWork, answer_press
from bot.channels.ordering import ChatLines
from bot.channels.retry import Unreachable
from bot.channels.slack.errors import call_with_retry
from bot.channels.slack.events import command_text, message_incoming, press_incoming
from bot.channels.slack.rendering import (
    ACTION_PREFIX,
    PLATFORM,
    Message,
    messages_for,
    pressed_values,
    settled,
)
from bot.channels.slack.transport import make_client
from core.messages import Incoming, Reply
from core.numbers import whole_number
from core.settings import Settings
from handlers import Dispatcher
from storage import slack_requests
from storage.db import problem_line, transaction
from storage.models import utcnow

log = logging.getLogger("waymark.slack")

EVENTS_PATH = "/slack/events"
TIMESTAMP_HEADER, SIGNATURE_HEADER = "X-Slack-Request-Timestamp", "X-Slack-Signature"
TIMESTAMP_MAX = 10**12  # seconds: beyond any real clock, within what int() reads at once
SLASH_COMMAND = "/waymark"
ANSWERED_IN_DM = "I've answered in our direct messages (Apps → Waymark)."


@dataclass
class Renderer:
    """Sends neutral replies to one conversation as Block Kit messages and file uploads."""

    client: AsyncWebClient

    async def send(self, channel: str, reply: Reply) -> None:
        if reply.image is not None:
            await self._upload(channel, reply.image, reply.image_name)
        if reply.file is not None:
            await self._upload(channel, reply.file, reply.file_name)
        for message in messages_for(reply.text, reply.buttons):
            await self.post(channel, message)

    async def post(self, channel: str, message: Message) -> None:
        await call_with_retry(
            lambda: self.client.chat_postMessage(channel=channel, text=message.text, blocks=message.blocks),
            what="chat.postMessage",
        )

    async def _upload(self, channel: str, content: bytes, name: str) -> None:
        await call_with_retry(
            lambda: self.client.files_upload_v2(channel=channel, content=content, filename=name, title=name),
            what="files_upload_v2",
        )

    async def update(self, channel: str, ts: str, message: Message) -> None:
        try:
            await call_with_retry(
                lambda: self.client.chat_update(channel=channel, ts=ts, text=message.text, blocks=message.blocks),
                what="chat.update",
            )
        except SlackApiError as exc:  # too old to edit, or gone: the edit was only a nicety
            log.debug("chat.update refused: %s", exc)


class SlackAdapter(ChannelWork):
    """Bolt listeners that ack at once and hand the work to tracked tasks, one conversation at a time."""

    def __init__(self, dispatcher: Dispatcher, client: AsyncWebClient, db_threads: int | None = None) -> None:
        super().__init__(dispatcher, PLATFORM, db_threads)
        self.client = client
        self.renderer = Renderer(client)
        self._tasks: set[asyncio.Task[None]] = set()
        self._lines = ChatLines()
        self._dm: dict[str, str] = {}  # Slack user id -> their direct message channel with the bot

    # -- bolt listeners

    def install(self, app: AsyncApp) -> None:
        app.event("message")(self.on_message)
        app.command(SLASH_COMMAND)(self.on_command)
        app.action(re.compile(rf"^{ACTION_PREFIX}:"))(self.on_press)
        app.error(self.on_error)

    async def on_message(self, event: dict[str, Any], body: dict[str, Any]) -> None:
        # Bolt acknowledges the event once this returns; the work runs after, in a task.
        incoming = message_incoming(event, body.get("event_id"))
        if incoming is not None:
            self._spawn(incoming.chat_id, self._handle(incoming))

    async def on_command(self, ack: AsyncAck, command: dict[str, Any]) -> None:
        in_dm = str(command.get("channel_name", "")) == "directmessage"
        if in_dm:
            await ack()
        else:  # only the person sees this (an ephemeral answer); the rest goes to their DMs
            await ack(text=ANSWERED_IN_DM)
        user = str(command.get("user_id", ""))
        if not user:
            return
        text = command_text(str(command.get("text", "")))
        trigger = command.get("trigger_id")
        self._spawn(user, self._handle_command(user, text, f"command:{trigger}" if trigger else None))

    async def on_press(self, ack: AsyncAck, body: dict[str, Any]) -> None:
        await ack()
        incoming = press_incoming(body)
        if incoming is not None:
            self._spawn(incoming.chat_id, self._handle(incoming, pressed=body.get("message")))

    async def on_error(self, error: Exception, body: dict[str, Any]) -> None:
        log.error("slack request failed (%s)", body.get("type", "?"), exc_info=error)

    # -- the work, after the ack

    def _spawn(self, key: str, work: Coroutine[Any, Any, None]) -> None:
        task = asyncio.get_running_loop().create_task(self._in_order(key, work))
        self._tasks.add(task)
        task.add_done_callback(self._tasks.discard)

    async def _in_order(self, key: str, work: Coroutine[Any, Any, None]) -> None:
        """One conversation's messages strictly in arrival order; different ones concurrently."""
        try:
            async with self._lines.turn(key):
                await work
        except Exception:
            log.exception("slack: handling a message failed")

    async def drain(self) -> None:
        """Wait for every message in hand (used when stopping, and by tests)."""
        while self._tasks:
            await asyncio.gather(*list(self._tasks), return_exceptions=True)

    async def _handle_command(self, user: str, text: str, update_id: str | None) -> None:
        channel = await self._dm_channel(user)
        await self._handle(Incoming(PLATFORM, channel, user, text=text, update_id=update_id, chat_type="private"))

    async def _dm_channel(self, user: str) -> str:
        known = self._dm.get(user)
        if known is None:
            opened = await call_with_retry(
                lambda: self.client.conversations_open(users=user), what="conversations.open"
            )
            known = str(opened["channel"]["id"])
            self._dm[user] = known
        return known

    async def _handle(self, incoming: Incoming, pressed: dict[str, Any] | None = None) -> None:
        replies = await self.in_db_thread(self.dispatcher.dispatch, incoming)
        try:
            if pressed is not None and incoming.button is not None:
                replies = await self._settle(incoming.chat_id, pressed, incoming.button, replies)
            for reply in replies:
                await self.renderer.send(incoming.chat_id, reply)
        except Unreachable as exc:
            log.info("slack conversation %s unreachable: %s", incoming.chat_id, exc)
            await self.mark_unreachable(incoming.chat_id, str(exc))

    async def _settle(self, channel: str, pressed: dict[str, Any], data: str, replies: list[Reply]) -> list[Reply]:
        """Update the pressed question in place when the answer is the same question changed (ticking
        skills); otherwise take its buttons off, note the choice, and send the replies below it."""
        ts = pressed.get("ts")
        blocks = pressed.get("blocks") or []
        if not ts or not isinstance(blocks, list):
            return replies
        shown = pressed_values(blocks)

        async def edit(reply: Reply) -> bool:
            rendered = messages_for(reply.text, reply.buttons)
            if len(rendered) != 1:
                return False
            await self.renderer.update(channel, str(ts), rendered[0])
            return True

        async def settle() -> None:
            await self.renderer.update(channel, str(ts), settled(blocks, str(pressed.get("text", "")), shown.get(data)))

        return await answer_press(frozenset(shown), replies, edit=edit, settle=settle)


def build_app(settings: Settings, dispatcher: Dispatcher, client: AsyncWebClient) -> tuple[AsyncApp, SlackAdapter]:
    assert settings.slack_signing_secret, "SLACK_SIGNING_SECRET is not set"
    app = AsyncApp(
        client=client,
        signing_secret=settings.slack_signing_secret,
        # Our listeners only queue the work (tracked tasks, see SlackAdapter) and return, so the
        # answer Slack wants within 3 seconds goes at once, and stopping can wait for the work.
        process_before_response=True,
        logger=logging.getLogger("waymark.slack.bolt"),
    )
    adapter = SlackAdapter(dispatcher, client)
    adapter.install(app)
    return app, adapter


class EventsReceiver:
    """The `/slack/events` route: 503 until a bolt app is attached, then bolt verifies and dispatches.

    The signature is checked here first, so a request that is not Slack's is refused in one quiet
    line before anything reads its body: bolt would parse it first (a 500 on a body that is not
    JSON) and log the whole of it (message text) when the signature is wrong. A signed request seen
    before (same timestamp and signature: a replay), by this process or any other on the database,
    is answered without being handled again (storage.slack_requests).
    """

    def __init__(self) -> None:
        self.app: AsyncApp | None = None
        self.adapter: SlackAdapter | None = None
        self.verifier: SignatureVerifier | None = None
        self.engine: Engine | None = None  # where the requests already seen are kept, for every process
        self.team_id: str | None = None  # the workspace the bot token belongs to (auth.test)

    def _first_time(self, timestamp: int, signature: str) -> bool:
        assert self.engine is not None
        with transaction(self.engine) as session:
            return slack_requests.first_time(session, timestamp, signature, utcnow())

    async def handle(self, request: web.Request) -> web.Response:
        app, verifier = self.app, self.verifier
        if app is None or verifier is None or self.engine is None:
            return web.Response(status=503, text="not ready")  # Slack retries the event later
        body = await request.text()
        timestamp = request.headers.get(TIMESTAMP_HEADER, "")
        signature = request.headers.get(SIGNATURE_HEADER, "")
        # slack_sdk's check raises on a timestamp that is not a number: refused before it looks.
        if whole_number(timestamp, high=TIMESTAMP_MAX) is None or not verifier.is_valid(body, timestamp, signature):
            log.info("slack: refused a request without a valid signature from %s", request.remote)
            return web.Response(status=401, text="invalid request")
        try:
            first = await asyncio.to_thread(self._first_time, int(timestamp), signature)
        except DBAPIError as exc:  # the database is away: Slack retries an event later (signed afresh)
            log.warning("slack: cannot check for a replay (%s); asked Slack to retry", problem_line(exc))
            return web.Response(status=503, text="try again")
        if not first:
            log.info("slack: a replayed request (timestamp %s) answered without handling it", timestamp)
            return web.Response(status=200, text="")
        try:
            bolt_request = await to_bolt_request_from(body, request)
        except (ValueError, RecursionError, BoltError):
            return web.Response(status=400, text="not a Slack request")
        team = extract_team_id(bolt_request.body)
        if self.team_id and team and team != self.team_id:
            # Signed with our secret, yet from another workspace (an app installed in two): not our people.
            log.info("slack: a request from another workspace (%s) ignored", team)
            return web.Response(status=200, text="")
        bolt_response = await app.async_dispatch(bolt_request)
        return await to_aiohttp_response(bolt_response)


async def to_bolt_request_from(body: str, request: web.Request) -> AsyncBoltRequest:
    """bolt's own request from a body already read (it parses the body here)."""
    return AsyncBoltRequest(body=body, query=request.query_string, headers=dict(request.headers))


EVENTS_KEY = web.AppKey("slack_events", EventsReceiver)


def mount_events(app: web.Application) -> EventsReceiver:
    """Add the events route to an aiohttp app that has not started yet (idempotent)."""
    existing = app.get(EVENTS_KEY)
    if existing is not None:
        return existing
    if app.frozen:
        raise RuntimeError(f"the HTTP server started before {EVENTS_PATH} was mounted: mount it before starting")
    receiver = EventsReceiver()
    app[EVENTS_KEY] = receiver
    app.router.add_post(EVENTS_PATH, receiver.handle)
    return receiver


async def start_slack(
    settings: Settings, dispatcher: Dispatcher, http_app: web.Application
) -> Callable[[], Awaitable[None]]:
    """Mount `/slack/events` on Waymark's (not yet started) HTTP app; returns `stop`.

    `stop` refuses new requests (503: Slack retries them), finishes the messages in hand, then
    closes the connection pool.
    """
    if settings.slack_app_token:
        log.warning("slack: SLACK_APP_TOKEN is set but Socket Mode is not supported; using HTTP at %s", EVENTS_PATH)
    receiver = mount_events(http_app)
    session = aiohttp.ClientSession(timeout=aiohttp.ClientTimeout(total=30))
    client = make_client(settings, session)
    app, adapter = build_app(settings, dispatcher, client)
    receiver.app, receiver.adapter = app, adapter
    receiver.engine = dispatcher.engine
    receiver.verifier = SignatureVerifier(settings.slack_signing_secret or "")
    try:
        receiver.team_id = (await client.auth_test()).get("team_id")
    except (SlackApiError, aiohttp.ClientError, TimeoutError) as exc:
        log.warning("slack: could not learn the workspace (auth.test): %s; requests are not checked against it", exc)
    log.info("slack: events at %s%s", settings.public_url.rstrip("/"), EVENTS_PATH)

    async def stop() -> None:
        receiver.app = receiver.adapter = None
        receiver.engine = None
        receiver.verifier = receiver.team_id = None
        await adapter.drain()
        adapter.close()
        await session.close()
        log.info("slack: stopped")

    return stop
