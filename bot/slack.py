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
from collections.abc import Awaitable, Callable, Coroutine, Sequence
from concurrent.futures import ThreadPoolExecutor
from dataclasses import dataclass
from typing import Any, TypeVar

import aiohttp
from aiohttp import web
from slack_bolt.adapter.aiohttp import to_aiohttp_response, to_bolt_request
from slack_bolt.async_app import AsyncAck, AsyncApp
from slack_sdk.errors import SlackApiError
from slack_sdk.web.async_client import AsyncWebClient

from core.delivery import Delivery, SendOutcome
from core.messages import Button, Incoming, Reply
from core.settings import Settings
from handlers import Dispatcher
from handlers.registry import ALIASES, COMMANDS, load_conversations
from storage import identities
from storage.db import transaction
from storage.models import utcnow

log = logging.getLogger("waymark.slack")

PLATFORM = "slack"
EVENTS_PATH = "/slack/events"
SLASH_COMMAND = "/waymark"
SECTION_LIMIT = 3000  # characters of a section block's text, after escaping
ROWS_PER_MESSAGE = 49  # 50 blocks per message, one of them the text
BUTTONS_PER_ROW = 25  # elements of an actions block
LABEL_LIMIT = 75  # a button's plain_text
VALUE_LIMIT = 2000  # a button's value
ACTION_PREFIX = "wm"
EMPTY_TEXT_WITH_BUTTONS = "Pick one:"
ANSWERED_IN_DM = "I've answered in our direct messages (Apps → Waymark)."
MAX_ATTEMPTS = 5
MAX_WAIT = 60.0  # never sleep longer than this on one 429 while someone waits for an answer
NETWORK_BACKOFF = (0.5, 1.0, 2.0, 4.0)
DB_THREADS = 16  # PostgreSQL: below the engine's pool
# Slack will refuse every later message to this conversation too.
UNREACHABLE_ERRORS = frozenset(
    {"channel_not_found", "is_archived", "user_not_found", "account_inactive", "user_disabled", "not_in_channel"}
)
# Message subtypes that are a person saying something; the rest (edits, joins, deletions) are not.
SAID_SUBTYPES = frozenset({None, "file_share"})

T = TypeVar("T")


# ---------------------------------------------------------------------------- pure rules


def escape(text: str) -> str:
    """Slack mrkdwn's three control characters; everything else arrives as typed."""
    return text.replace("&", "&amp;").replace("<", "&lt;").replace(">", "&gt;")


_LINK = re.compile(r"<([^<>|]*)(?:\|([^<>]*))?>")


def from_slack(text: str) -> str:
    """What the person typed: Slack sends links as `<url|label>` and escapes `&`, `<`, `>`."""
    plain = _LINK.sub(lambda m: m.group(2) if m.group(2) is not None else m.group(1).removeprefix("mailto:"), text)
    return plain.replace("&lt;", "<").replace("&gt;", ">").replace("&amp;", "&")


def escaped_length(text: str) -> int:
    return len(text) + 4 * text.count("&") + 3 * (text.count("<") + text.count(">"))


def split_text(text: str, limit: int = SECTION_LIMIT) -> list[str]:
    """Pieces whose escaped length is at most `limit`, cut at a paragraph, line or word when possible."""
    if escaped_length(text) <= limit:
        return [text] if text else []
    parts: list[str] = []
    rest = text
    while escaped_length(rest) > limit:
        head = _prefix_within(rest, limit)
        cut = _best_break(head)
        piece, rest = rest[:cut].rstrip(), rest[cut:].lstrip("\n ")
        if piece:
            parts.append(piece)
    if rest.strip():
        parts.append(rest)
    return parts


def _prefix_within(text: str, limit: int) -> str:
    count = 0
    for index, char in enumerate(text):
        count += escaped_length(char)
        if count > limit:
            return text[:index]
    return text


def _best_break(head: str) -> int:
    floor = len(head) // 2
    for sep in ("\n\n", "\n", " "):
        at = head.rfind(sep)
        if at > floor:
            return at + len(sep)
    return len(head)


def section(text: str) -> dict[str, Any]:
    # verbatim: no automatic linking of names and addresses people typed.
    return {"type": "section", "text": {"type": "mrkdwn", "text": escape(text), "verbatim": True}}


def action_rows(buttons: list[list[Button]]) -> list[dict[str, Any]]:
    """One `actions` block per row of buttons; action_id unique within the message, value the data."""
    blocks: list[dict[str, Any]] = []
    for r, row in enumerate(buttons):
        usable = [b for b in row if len(b.data) <= VALUE_LIMIT]
        if len(usable) < len(row):
            log.warning("slack: dropped a button whose data is over %d characters", VALUE_LIMIT)
        for start in range(0, len(usable), BUTTONS_PER_ROW):
            elements = [
                {
                    "type": "button",
                    "action_id": f"{ACTION_PREFIX}:{r}:{start + c}",
                    "text": {"type": "plain_text", "text": _label(b.label), "emoji": True},
                    "value": b.data,
                }
                for c, b in enumerate(usable[start : start + BUTTONS_PER_ROW])
            ]
            blocks.append({"type": "actions", "block_id": f"{ACTION_PREFIX}-row-{r}-{start}", "elements": elements})
    return blocks


def _label(label: str) -> str:
    label = label.strip() or "…"
    return label if len(label) <= LABEL_LIMIT else label[: LABEL_LIMIT - 1] + "…"


@dataclass(frozen=True)
class Message:
    """One chat.postMessage: fallback text (for notifications) and blocks."""

    text: str
    blocks: list[dict[str, Any]]


_COMMAND_MENTION = re.compile(r"(?<![\w/:.])/([a-z]+)\b")


def slack_wording(text: str) -> str:
    """`/record` -> `/waymark record`: Slack takes any message starting with "/" as its own command,
    so the typed form that works there goes through the app's one slash command."""
    load_conversations()

    def reword(match: re.Match[str]) -> str:
        name = match.group(1)
        known = name in COMMANDS or name in ALIASES
        return f"/waymark {name}" if known and name != "waymark" else match.group(0)

    return _COMMAND_MENTION.sub(reword, text)


def messages_for(text: str, buttons: list[list[Button]]) -> list[Message]:
    """A reply as Slack messages: the text split under the section limit, the buttons on the last one."""
    rows = action_rows(buttons)
    parts = split_text(slack_wording(text))
    if not parts:
        if not rows:
            return []
        parts = [EMPTY_TEXT_WITH_BUTTONS]
    out = [Message(escape(p), [section(p)]) for p in parts]
    last = out.pop()
    chunks = [rows[i : i + ROWS_PER_MESSAGE] for i in range(0, len(rows), ROWS_PER_MESSAGE)] or [[]]
    out.append(Message(last.text, last.blocks + chunks[0]))
    out += [Message(EMPTY_TEXT_WITH_BUTTONS, [section(EMPTY_TEXT_WITH_BUTTONS), *chunk]) for chunk in chunks[1:]]
    return out


def command_text(text: str) -> str:
    """`/waymark record` -> `/record`; `/waymark link CODE` -> `/link CODE`; `/waymark` -> `/help`."""
    words = from_slack(text).strip().lstrip("/").strip()
    return f"/{words}" if words else "/help"


def chat_type(channel_type: str | None, channel_id: str) -> str:
    """`im` is a direct message; anything else (channel, group, mpim) is a group to refuse."""
    if channel_type is not None:
        return "private" if channel_type == "im" else "group"
    return "private" if channel_id.startswith("D") else "group"


def message_incoming(event: dict[str, Any], event_id: str | None) -> Incoming | None:
    """A message event as an Incoming; None for the bot's own messages, edits, joins and the like."""
    if event.get("bot_id") or event.get("subtype") not in SAID_SUBTYPES or not event.get("user"):
        return None
    channel = str(event.get("channel", ""))
    attachment = "file" if event.get("files") or event.get("subtype") == "file_share" else None
    raw = event.get("text")
    return Incoming(
        platform=PLATFORM,
        chat_id=channel,
        user_id=str(event["user"]),
        # Words sent with a file are not trusted as an answer: the person meant to send the file.
        text=None if attachment or raw is None else from_slack(str(raw)),
        update_id=event_id,
        chat_type=chat_type(event.get("channel_type"), channel),
        attachment=attachment,
    )


def press_incoming(body: dict[str, Any]) -> Incoming | None:
    actions = body.get("actions") or []
    user = (body.get("user") or {}).get("id")
    channel = (body.get("channel") or {}).get("id") or (body.get("container") or {}).get("channel_id")
    if not actions or not user or not channel:
        return None
    value = actions[0].get("value")
    if value is None:
        return None
    trigger = body.get("trigger_id") or actions[0].get("action_ts")
    return Incoming(
        platform=PLATFORM,
        chat_id=str(channel),
        user_id=str(user),
        button=str(value),
        update_id=f"press:{trigger}" if trigger else None,
        chat_type=chat_type(None, str(channel)),
    )


def outcome_for(error: SlackApiError) -> SendOutcome:
    """Map a Web API error to what the outbox sender should do next."""
    status = error.response.status_code
    code = str(error.response.get("error", "") or "") if isinstance(error.response.data, dict) else ""
    if status == 429 or code == "ratelimited":
        return SendOutcome(Delivery.retry, retry_after(error), code or "ratelimited")
    if code in UNREACHABLE_ERRORS:
        return SendOutcome(Delivery.unreachable, error=code)
    if status >= 500 or code in {"internal_error", "service_unavailable", "fatal_error", "request_timeout"}:
        return SendOutcome(Delivery.retry, error=code or f"HTTP {status}")
    return SendOutcome(Delivery.failed, error=code or f"HTTP {status}")


def retry_after(error: SlackApiError) -> float:
    raw = error.response.headers.get("Retry-After") or error.response.headers.get("retry-after")
    try:
        return max(0.0, float(raw)) if raw is not None else 1.0
    except ValueError:
        return 1.0


# ---------------------------------------------------------------------------- sending


class Unreachable(Exception):
    """Slack will never deliver to this conversation (not found, archived, account gone)."""


NETWORK_ERRORS = (aiohttp.ClientError, asyncio.TimeoutError, OSError)


async def call_with_retry(make: Callable[[], Awaitable[T]], *, what: str) -> T:
    """One Web API call, waiting out 429s and retrying 5xx/network errors; raise Unreachable or the error."""
    for attempt in range(MAX_ATTEMPTS):
        last = attempt == MAX_ATTEMPTS - 1
        try:
            return await make()
        except SlackApiError as exc:
            outcome = outcome_for(exc)
            if outcome.result is Delivery.unreachable:
                raise Unreachable(outcome.error) from exc
            if outcome.result is not Delivery.retry or last:
                raise
            wait = min(MAX_WAIT, outcome.retry_after or NETWORK_BACKOFF[min(attempt, len(NETWORK_BACKOFF) - 1)])
            log.warning("slack %s: %s, waiting %.1fs", what, outcome.error, wait)
            await asyncio.sleep(wait)
        except NETWORK_ERRORS as exc:
            if last:
                raise
            wait = NETWORK_BACKOFF[min(attempt, len(NETWORK_BACKOFF) - 1)]
            log.warning("slack network error on %s (%s): retrying in %.1fs", what, exc, wait)
            await asyncio.sleep(wait)
    raise AssertionError("unreachable: the last attempt returns or raises")


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


def pressed_values(blocks: list[dict[str, Any]]) -> dict[str, str]:
    """value -> label of the buttons shown in a message's blocks."""
    found: dict[str, str] = {}
    for block in blocks:
        if block.get("type") != "actions":
            continue
        for element in block.get("elements", []):
            if element.get("type") == "button" and "value" in element:
                found[str(element["value"])] = str((element.get("text") or {}).get("text", ""))
    return found


def settled(blocks: list[dict[str, Any]], fallback: str, label: str | None) -> Message:
    """The pressed question without its buttons, with the choice noted under it."""
    kept = [b for b in blocks if b.get("type") != "actions"]
    if label:
        kept.append({"type": "context", "elements": [{"type": "mrkdwn", "text": f"» {escape(label)}"}]})
    return Message(fallback or EMPTY_TEXT_WITH_BUTTONS, kept)


class SlackTransport:
    """The outbox sender's way to Slack (core.delivery.Transport): one attempt per call."""

    platform = PLATFORM

    def __init__(self, client: AsyncWebClient) -> None:
        self.client = client

    async def send(self, chat_id: str, text: str, buttons: list[list[Button]]) -> SendOutcome:
        try:
            for message in messages_for(text, buttons) or [Message(escape(text), [])]:
                await self.client.chat_postMessage(channel=chat_id, text=message.text, blocks=message.blocks)
        except SlackApiError as exc:
            return outcome_for(exc)
        except NETWORK_ERRORS as exc:
            return SendOutcome(Delivery.retry, error=f"network: {exc}"[:200])
        return SendOutcome(Delivery.sent)


# ---------------------------------------------------------------------------- the adapter


class SlackAdapter:
    """Bolt listeners that ack at once and hand the work to tracked tasks, one conversation at a time."""

    def __init__(self, dispatcher: Dispatcher, client: AsyncWebClient, db_threads: int | None = None) -> None:
        self.dispatcher = dispatcher
        self.client = client
        self.renderer = Renderer(client)
        if db_threads is None:  # SQLite has one writer: more threads only queue on its lock
            db_threads = 1 if dispatcher.engine.dialect.name == "sqlite" else DB_THREADS
        self._db = ThreadPoolExecutor(max_workers=db_threads, thread_name_prefix="waymark-slack-db")
        self._tasks: set[asyncio.Task[None]] = set()
        self._locks: dict[str, asyncio.Lock] = {}
        self._waiting: dict[str, int] = {}
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
        lock = self._locks.setdefault(key, asyncio.Lock())
        self._waiting[key] = self._waiting.get(key, 0) + 1
        try:
            async with lock:
                await work
        except Exception:
            log.exception("slack: handling a message failed")
        finally:
            self._waiting[key] -= 1
            if not self._waiting[key]:
                del self._waiting[key], self._locks[key]

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
        loop = asyncio.get_running_loop()
        replies = await loop.run_in_executor(self._db, self.dispatcher.dispatch, incoming)
        try:
            if pressed is not None and incoming.button is not None:
                replies = await self._settle(incoming.chat_id, pressed, incoming.button, replies)
            for reply in replies:
                await self.renderer.send(incoming.chat_id, reply)
        except Unreachable as exc:
            log.info("slack conversation %s unreachable: %s", incoming.chat_id, exc)
            await loop.run_in_executor(self._db, self._mark_unreachable, incoming.chat_id, str(exc))

    async def _settle(self, channel: str, pressed: dict[str, Any], data: str, replies: list[Reply]) -> list[Reply]:
        """Update the pressed question in place when the answer is the same question changed (ticking
        skills); otherwise take its buttons off, note the choice, and send the replies below it."""
        ts = pressed.get("ts")
        blocks = pressed.get("blocks") or []
        if not ts or not isinstance(blocks, list):
            return replies
        shown = pressed_values(blocks)
        if replies and replies[0].buttons and not (replies[0].image or replies[0].file):
            fresh = {b.data for row in replies[0].buttons for b in row}
            rendered = messages_for(replies[0].text, replies[0].buttons)
            if fresh == set(shown) and len(rendered) == 1:
                await self.renderer.update(channel, str(ts), rendered[0])
                return replies[1:]
        await self.renderer.update(channel, str(ts), settled(blocks, str(pressed.get("text", "")), shown.get(data)))
        return replies

    def _mark_unreachable(self, chat_id: str, reason: str) -> None:
        with transaction(self.dispatcher.engine) as session:
            identities.mark_unreachable(session, PLATFORM, chat_id, reason[:200], utcnow())

    def close(self) -> None:
        self._db.shutdown(wait=True)


# ---------------------------------------------------------------------------- start and stop


def make_client(settings: Settings, session: aiohttp.ClientSession | None = None) -> AsyncWebClient:
    assert settings.slack_bot_token, "SLACK_BOT_TOKEN is not set"
    base = settings.slack_api_base_url or AsyncWebClient.BASE_URL
    return AsyncWebClient(token=settings.slack_bot_token, base_url=base.rstrip("/") + "/", session=session)


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
    """The `/slack/events` route: 503 until a bolt app is attached, then bolt verifies and dispatches."""

    def __init__(self) -> None:
        self.app: AsyncApp | None = None
        self.adapter: SlackAdapter | None = None

    async def handle(self, request: web.Request) -> web.Response:
        app = self.app
        if app is None:
            return web.Response(status=503, text="not ready")  # Slack retries the event later
        bolt_response = await app.async_dispatch(await to_bolt_request(request))
        return await to_aiohttp_response(bolt_response)


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
    log.info("slack: events at %s%s", settings.public_url.rstrip("/"), EVENTS_PATH)

    async def stop() -> None:
        receiver.app = receiver.adapter = None
        await adapter.drain()
        adapter.close()
        await session.close()
        log.info("slack: stopped")

    return stop


async def open_transport(settings: Settings) -> tuple[SlackTransport, Callable[[], Awaitable[None]]]:
    """A `SlackTransport` for the outbox sender on its own connection pool; and its close."""
    session = aiohttp.ClientSession(timeout=aiohttp.ClientTimeout(total=30))
    return SlackTransport(make_client(settings, session)), session.close


__all__: Sequence[str] = (
    "EventsReceiver",
    "Renderer",
    "SlackAdapter",
    "SlackTransport",
    "build_app",
    "command_text",
    "escape",
    "messages_for",
    "mount_events",
    "open_transport",
    "split_text",
    "start_slack",
)
