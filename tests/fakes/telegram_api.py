"""A stand-in for Telegram's Bot API on 127.0.0.1, speaking the real HTTP/JSON protocol.

python-telegram-bot posts every call to `<base_url><token>/<method>`, form-encoded (multipart when a
file is attached), with every non-string value as a JSON string; the answer is
`{"ok": true, "result": ...}` or `{"ok": false, "error_code": ..., "description": ...}`.

Usable from tests and benchmarks, on the current event loop::

    fake = FakeTelegram()
    await fake.start()
    app = ApplicationBuilder().token(fake.token).base_url(fake.base_url).build()
    ...
    await fake.stop()

or in a thread of its own (`fake.start_in_thread()` / `fake.stop_thread()`), e.g. when the code under
test owns its loop. Injecting updates and reading calls is safe from any thread; `wait_for`/`replies`
work from any event loop.

What it can be told to do:

- `fail_next(n, status=429, retry_after=2)` / `fail_next(n, status=500)`: the next n send calls fail;
- `fail_chat(chat_id, status=403)` (blocked), `fail_chat(chat_id, status=400)` (chat not found);
- `hold_chat(chat_id)` / `release_chat(chat_id)`: sends to a chat wait unanswered (listed in
  `holding`) until released, e.g. to catch the bot with a reply in hand;
- `FakeTelegram(enforce_limits=True)`: Telegram's ~30 messages/s overall and 1/s per chat, answered
  with 429 and `retry_after` like the real server.
"""

from __future__ import annotations

import asyncio
import itertools
import json
import math
import re
import threading
import time
from collections import deque
from collections.abc import Callable, Iterable
from dataclasses import dataclass, field
from typing import Any
from urllib.parse import urlsplit

from aiohttp import ClientSession, web

TOKEN = "123456:TEST-token-for-the-fake-bot-api"

# Methods that put a message in front of a person: faults and rate limits apply to these.
SEND_METHODS = frozenset({"sendMessage", "sendPhoto", "sendDocument", "editMessageText", "editMessageReplyMarkup"})
# What a test usually means by "the bot answered".
REPLY_METHODS = frozenset({"sendMessage", "sendPhoto", "sendDocument", "editMessageText"})
# Parameters python-telegram-bot sends as JSON strings; everything else arrives as a plain string.
JSON_PARAMS = frozenset(
    {
        "reply_markup",
        "commands",
        "scope",
        "allowed_updates",
        "entities",
        "caption_entities",
        "reply_parameters",
        "link_preview_options",
        "show_alert",
        "disable_notification",
        "protect_content",
        "drop_pending_updates",
        "max_connections",
    }
)
INT_PARAMS = frozenset({"message_id", "offset", "limit", "timeout", "cache_time"})
DEFAULT_DESCRIPTIONS = {
    400: "Bad Request: chat not found",
    403: "Forbidden: bot was blocked by the user",
    429: "Too Many Requests: retry after {retry_after}",
    500: "Internal Server Error",
    502: "Bad Gateway",
}


@dataclass
class Call:
    """One request the bot made, as the fake understood it."""

    method: str
    params: dict[str, Any]
    files: dict[str, bytes]
    at: float  # time.perf_counter() when it arrived
    status: int = 200  # what the fake answered
    result: Any = None  # the "result" it answered with (e.g. the Message sent), when ok

    @property
    def chat_id(self) -> int | str | None:
        return self.params.get("chat_id")

    @property
    def text(self) -> str:
        return str(self.params.get("text") or self.params.get("caption") or "")

    @property
    def ok(self) -> bool:
        return self.status == 200

    def button_labels(self) -> list[str]:
        markup = self.params.get("reply_markup") or {}
        return [b["text"] for row in markup.get("inline_keyboard", []) for b in row]

    def buttons(self) -> list[tuple[str, str]]:
        """(label, callback_data) of every inline button, in order."""
        markup = self.params.get("reply_markup") or {}
        return [(b["text"], b.get("callback_data", "")) for row in markup.get("inline_keyboard", []) for b in row]


@dataclass
class _Fault:
    status: int
    description: str
    retry_after: int | None
    remaining: int | None  # None: until cleared
    methods: frozenset[str]
    chat_id: int | None = None


@dataclass
class _Pending:
    update: dict[str, Any]
    delivered: bool = False


@dataclass
class _Waiter:
    loop: asyncio.AbstractEventLoop
    event: asyncio.Event = field(default_factory=asyncio.Event)


def _as_chat_id(value: str) -> int | str:
    try:
        return int(value)
    except ValueError:
        return value  # "@channelname"


class FakeTelegram:
    """A fake Bot API server. Start it, point python-telegram-bot's `base_url` at `base_url`."""

    def __init__(
        self,
        token: str = TOKEN,
        *,
        username: str = "waymark_test_bot",
        enforce_limits: bool = False,
        overall_per_second: int = 30,
        per_chat_per_second: float = 1.0,
    ) -> None:
        self.token = token
        self.bot_user = {
            "id": int(token.split(":", 1)[0]),
            "is_bot": True,
            "first_name": "Waymark",
            "username": username,
            "can_join_groups": False,
            "can_read_all_group_messages": False,
            "supports_inline_queries": False,
        }
        self.enforce_limits = enforce_limits
        self.overall_per_second = overall_per_second
        self.per_chat_interval = 1.0 / per_chat_per_second
        self.calls: list[Call] = []
        self.webhook: dict[str, Any] | None = None  # what setWebhook was given
        self.commands: dict[str, list[dict[str, Any]]] = {}  # scope (JSON) -> commands
        self.rate_limited = 0  # 429s answered because of the limits
        # Called on the server's loop after every call is recorded (benchmarks use it to time replies).
        self.on_call: Callable[[Call], None] | None = None
        self._lock = threading.RLock()
        self._pending: list[_Pending] = []
        self._update_ids = itertools.count(1000)
        self._message_ids: dict[int | str, itertools.count[int]] = {}
        self._messages: dict[tuple[int | str, int], dict[str, Any]] = {}  # the bot's messages, as sent/edited
        self._chats: dict[int | str, dict[str, Any]] = {}
        self._faults: list[_Fault] = []
        self._held: set[int | str] = set()  # chats whose sends wait until released
        self.holding: list[Call] = []  # calls waiting for their chat's release, in arrival order
        # Whether the webhook URL accepted a TCP connection at the moment setWebhook was called
        # (None: not a loopback URL, not tried). Telegram starts posting to it right away.
        self.webhook_reachable: bool | None = None
        self._sent_times: deque[float] = deque()
        self._chat_last_sent: dict[int | str, float] = {}
        self._waiters: list[_Waiter] = []
        self._closing = False
        self._runner: web.AppRunner | None = None
        self._loop: asyncio.AbstractEventLoop | None = None
        self._thread: threading.Thread | None = None
        self.port = 0

    # ------------------------------------------------------------------ lifecycle

    @property
    def base_url(self) -> str:
        """Give this to `ApplicationBuilder().base_url(...)`; the token is appended by the library."""
        return f"http://127.0.0.1:{self.port}/bot"

    async def start(self) -> str:
        """Serve on the running loop, on a free loopback port; returns `base_url`."""
        app = web.Application(client_max_size=64 * 1024 * 1024)
        app.router.add_route("*", "/bot{token}/{method}", self._handle)
        self._runner = web.AppRunner(app, access_log=None)
        await self._runner.setup()
        site = web.TCPSite(self._runner, "127.0.0.1", 0)
        await site.start()
        server = site._server
        assert server is not None
        self.port = server.sockets[0].getsockname()[1]  # type: ignore[attr-defined]
        self._loop = asyncio.get_running_loop()
        self._closing = False
        return self.base_url

    async def stop(self) -> None:
        self._closing = True
        self._notify()  # long polls answer at once
        if self._runner is not None:
            await self._runner.cleanup()
            self._runner = None

    def start_in_thread(self) -> str:
        """Serve from a thread with its own event loop (for code that owns the caller's loop)."""
        ready = threading.Event()
        loop = asyncio.new_event_loop()

        def run() -> None:
            asyncio.set_event_loop(loop)
            loop.run_until_complete(self.start())
            ready.set()
            loop.run_forever()
            loop.run_until_complete(self.stop())
            loop.close()

        self._thread = threading.Thread(target=run, name="fake-telegram", daemon=True)
        self._thread.start()
        if not ready.wait(10):
            raise RuntimeError("fake Telegram server did not start")
        return self.base_url

    def stop_thread(self) -> None:
        if self._thread is None or self._loop is None:
            return
        self._closing = True
        self._notify()
        self._loop.call_soon_threadsafe(self._loop.stop)
        self._thread.join(10)
        self._thread = None

    async def __aenter__(self) -> FakeTelegram:
        await self.start()
        return self

    async def __aexit__(self, *exc: object) -> None:
        await self.stop()

    # ------------------------------------------------------------------ faults and limits

    def fail_next(
        self,
        n: int = 1,
        *,
        status: int = 429,
        retry_after: int | None = None,
        description: str | None = None,
        methods: Iterable[str] = SEND_METHODS,
    ) -> None:
        """The next `n` calls of these methods fail with `status` (429 carries `retry_after`, default 1)."""
        if status == 429 and retry_after is None:
            retry_after = 1
        self._add_fault(status, description, retry_after, n, methods, None)

    def fail_chat(
        self,
        chat_id: int,
        *,
        status: int = 403,
        description: str | None = None,
        retry_after: int | None = None,
        times: int | None = None,
        methods: Iterable[str] = SEND_METHODS,
    ) -> None:
        """Sends to this chat fail (403 blocked by default; 400 "chat not found"), for `times` or until cleared."""
        self._add_fault(status, description, retry_after, times, methods, int(chat_id))

    def hold_chat(self, chat_id: int) -> None:
        """Sends to this chat wait, unanswered, until `release_chat` (a reply "in hand"); see `holding`."""
        with self._lock:
            self._held.add(chat_id)

    def release_chat(self, chat_id: int) -> None:
        with self._lock:
            self._held.discard(chat_id)
        self._notify()

    def clear_faults(self) -> None:
        with self._lock:
            self._faults.clear()

    def _add_fault(
        self,
        status: int,
        description: str | None,
        retry_after: int | None,
        remaining: int | None,
        methods: Iterable[str],
        chat_id: int | None,
    ) -> None:
        text = description or DEFAULT_DESCRIPTIONS.get(status, f"Error {status}")
        fault = _Fault(
            status, text.format(retry_after=retry_after), retry_after, remaining, frozenset(methods), chat_id
        )
        with self._lock:
            self._faults.append(fault)

    def _fault_for(self, method: str, chat_id: Any) -> _Fault | None:
        with self._lock:
            for fault in self._faults:
                if method not in fault.methods:
                    continue
                if fault.chat_id is not None and fault.chat_id != chat_id:
                    continue
                if fault.remaining is not None:
                    fault.remaining -= 1
                    if fault.remaining <= 0:
                        self._faults.remove(fault)
                return fault
        return None

    def _over_limit(self, chat_id: Any, now: float) -> float | None:
        """Seconds to wait when this send would break Telegram's limits, else None (and it counts)."""
        with self._lock:
            while self._sent_times and now - self._sent_times[0] >= 1.0:
                self._sent_times.popleft()
            wait = 0.0
            if len(self._sent_times) >= self.overall_per_second:
                wait = 1.0 - (now - self._sent_times[0])
            last = self._chat_last_sent.get(chat_id)
            if last is not None and now - last < self.per_chat_interval:
                wait = max(wait, self.per_chat_interval - (now - last))
            if wait > 0:
                self.rate_limited += 1
                return wait
            self._sent_times.append(now)
            self._chat_last_sent[chat_id] = now
            return None

    # ------------------------------------------------------------------ updates in

    def inject(self, update: dict[str, Any]) -> dict[str, Any]:
        """Queue a raw update for getUpdates (an `update_id` is added if missing); returns it."""
        with self._lock:
            update.setdefault("update_id", next(self._update_ids))
            self._pending.append(_Pending(update))
        self._notify()
        return update

    def chat(
        self, chat_id: int, *, chat_type: str = "private", first_name: str = "Pupil", title: str = "Group"
    ) -> dict[str, Any]:
        chat: dict[str, Any] = {"id": chat_id, "type": chat_type}
        if chat_type == "private":
            chat["first_name"] = first_name
        else:
            chat["title"] = title
        with self._lock:
            self._chats[chat_id] = chat
        return chat

    def _user(self, user_id: int, first_name: str = "Pupil") -> dict[str, Any]:
        return {"id": user_id, "is_bot": False, "first_name": first_name, "language_code": "en"}

    def _message(
        self, chat_id: int, user_id: int | None, chat_type: str, first_name: str = "Pupil", **content: Any
    ) -> dict[str, Any]:
        sender = user_id if user_id is not None else chat_id
        return {
            "message_id": self._next_message_id(chat_id),
            "date": int(time.time()),
            "chat": self.chat(chat_id, chat_type=chat_type, first_name=first_name),
            "from": self._user(sender, first_name),
            **content,
        }

    def message(
        self,
        chat_id: int,
        text: str,
        *,
        user_id: int | None = None,
        chat_type: str = "private",
        first_name: str = "Pupil",
        update_id: int | None = None,
    ) -> dict[str, Any]:
        """A person types `text` (commands get a bot_command entity, as Telegram adds)."""
        content: dict[str, Any] = {"text": text}
        if text.startswith("/"):
            length = len(text.split(" ", 1)[0].encode("utf-16-le")) // 2
            content["entities"] = [{"type": "bot_command", "offset": 0, "length": length}]
        update: dict[str, Any] = {"message": self._message(chat_id, user_id, chat_type, first_name, **content)}
        if update_id is not None:
            update["update_id"] = update_id
        return self.inject(update)

    def start_link(self, chat_id: int, code: str, **kw: Any) -> dict[str, Any]:
        """Opening `https://t.me/<bot>?start=CODE` sends the bot `/start CODE`."""
        return self.message(chat_id, f"/start {code}", **kw)

    def group_message(self, chat_id: int, text: str, *, user_id: int = 1, chat_type: str = "group") -> dict[str, Any]:
        return self.message(chat_id, text, user_id=user_id, chat_type=chat_type)

    def attachment(self, chat_id: int, kind: str = "photo", *, caption: str | None = None) -> dict[str, Any]:
        """A photo, sticker, voice note or document arrives."""
        blobs: dict[str, Any] = {
            "photo": [{"file_id": "ph1", "file_unique_id": "u-ph1", "width": 90, "height": 90, "file_size": 1200}],
            "sticker": {
                "file_id": "st1",
                "file_unique_id": "u-st1",
                "type": "regular",
                "width": 512,
                "height": 512,
                "is_animated": False,
                "is_video": False,
            },
            "voice": {"file_id": "vo1", "file_unique_id": "u-vo1", "duration": 3},
            "document": {"file_id": "do1", "file_unique_id": "u-do1", "file_name": "cv.pdf"},
        }
        content: dict[str, Any] = {kind: blobs[kind]}
        if caption:
            content["caption"] = caption
        return self.inject({"message": self._message(chat_id, None, "private", **content)})

    def member_update(self, chat_id: int, status: str = "kicked", *, old_status: str = "member") -> dict[str, Any]:
        """The person changes the bot's standing in their private chat ("kicked": they blocked it)."""
        bot = {k: v for k, v in self.bot_user.items() if k in {"id", "is_bot", "first_name", "username"}}
        change = {
            "chat": self.chat(chat_id),
            "from": self._user(chat_id),
            "date": int(time.time()),
            "old_chat_member": {"status": old_status, "user": bot},
            "new_chat_member": {"status": status, "user": bot, **({"until_date": 0} if status == "kicked" else {})},
        }
        return self.inject({"my_chat_member": change})

    def channel_post(self, chat_id: int, text: str, *, title: str = "School news") -> dict[str, Any]:
        """A post in a channel the bot is in (channel posts carry no sender)."""
        post = {
            "message_id": self._next_message_id(chat_id),
            "date": int(time.time()),
            "chat": self.chat(chat_id, chat_type="channel", title=title),
            "sender_chat": {"id": chat_id, "type": "channel", "title": title},
            "text": text,
        }
        return self.inject({"channel_post": post})

    def photo(self, chat_id: int, *, caption: str | None = None) -> dict[str, Any]:
        return self.attachment(chat_id, "photo", caption=caption)

    def press(
        self, chat_id: int, data: str, *, message_id: int | None = None, user_id: int | None = None
    ) -> dict[str, Any]:
        """A person presses an inline button carrying `data` (on the bot's message `message_id`)."""
        with self._lock:
            if message_id is None:
                message_id = self._latest_with_data(chat_id, data)
            message = self._messages.get((chat_id, message_id)) if message_id is not None else None
        if message is None:  # a forged or very old press: Telegram still delivers it
            message = {
                "message_id": message_id or 1,
                "date": int(time.time()),
                "chat": self.chat(chat_id),
                "text": "?",
            }
        query = {
            "id": str(next(self._update_ids)),
            "from": self._user(user_id if user_id is not None else chat_id),
            "chat_instance": f"ci{chat_id}",
            "data": data,
            "message": json.loads(json.dumps(message)),
        }
        return self.inject({"callback_query": query})

    def press_label(self, chat_id: int, label: str) -> dict[str, Any]:
        """Press the most recent button in this chat whose label contains `label`."""
        with self._lock:
            for (chat, message_id), message in reversed(list(self._messages.items())):
                if chat != chat_id:
                    continue
                for row in (message.get("reply_markup") or {}).get("inline_keyboard", []):
                    for button in row:
                        if label in button["text"]:
                            return self.press(chat_id, button["callback_data"], message_id=message_id)
        raise AssertionError(f"no button {label!r} in chat {chat_id}: {self.labels(chat_id)}")

    def _latest_with_data(self, chat_id: int, data: str) -> int | None:
        for (chat, message_id), message in reversed(list(self._messages.items())):
            if chat != chat_id:
                continue
            for row in (message.get("reply_markup") or {}).get("inline_keyboard", []):
                if any(b.get("callback_data") == data for b in row):
                    return message_id
        return None

    def labels(self, chat_id: int) -> list[str]:
        """Labels of the buttons currently on screen in this chat (all messages)."""
        with self._lock:
            return [
                b["text"]
                for (chat, _), m in self._messages.items()
                if chat == chat_id
                for row in (m.get("reply_markup") or {}).get("inline_keyboard", [])
                for b in row
            ]

    def bot_message(self, chat_id: int, message_id: int) -> dict[str, Any] | None:
        with self._lock:
            return self._messages.get((chat_id, message_id))

    async def deliver_webhook(
        self, update: dict[str, Any], *, secret: str | None = "use-registered", url: str | None = None
    ) -> int:
        """POST an update to the registered webhook as Telegram does; returns the HTTP status."""
        with self._lock:
            update.setdefault("update_id", next(self._update_ids))
        registered = self.webhook or {}
        target = url or registered.get("url")
        assert target, "setWebhook was never called"
        headers = {"Content-Type": "application/json"}
        token = registered.get("secret_token") if secret == "use-registered" else secret
        if token is not None:
            headers["X-Telegram-Bot-Api-Secret-Token"] = token
        async with ClientSession() as http, http.post(target, data=json.dumps(update), headers=headers) as response:
            await response.read()
            return response.status

    def text_update(self, chat_id: int, text: str, *, chat_type: str = "private") -> dict[str, Any]:
        """Build (without queueing) a text message update, e.g. for `deliver_webhook`."""
        with self._lock:
            return {
                "update_id": next(self._update_ids),
                "message": self._message(chat_id, None, chat_type, text=text),
            }

    # ------------------------------------------------------------------ calls out

    def calls_to(self, chat_id: int, methods: Iterable[str] = REPLY_METHODS, since: int = 0) -> list[Call]:
        wanted = frozenset(methods)
        with self._lock:
            return [c for c in self.calls[since:] if c.method in wanted and c.chat_id == chat_id and c.ok]

    def calls_of(self, method: str, since: int = 0) -> list[Call]:
        with self._lock:
            return [c for c in self.calls[since:] if c.method == method]

    def mark(self) -> int:
        """A bookmark in the call log: pass it as `since` to see only what came after."""
        with self._lock:
            return len(self.calls)

    async def wait_for(self, predicate: Callable[[], bool], timeout: float = 5.0) -> None:
        """Wait (on any event loop) until `predicate()` holds, re-checking after every call the bot makes."""
        waiter = _Waiter(asyncio.get_running_loop())
        with self._lock:
            self._waiters.append(waiter)
        deadline = time.monotonic() + timeout
        try:
            while not predicate():
                remaining = deadline - time.monotonic()
                if remaining <= 0:
                    raise TimeoutError(
                        f"waited {timeout}s; last calls: {[(c.method, c.text[:60]) for c in self.calls[-5:]]}"
                    )
                waiter.event.clear()
                if predicate():
                    break
                try:
                    await asyncio.wait_for(waiter.event.wait(), remaining)
                except TimeoutError:
                    continue
        finally:
            with self._lock:
                self._waiters.remove(waiter)

    async def replies(
        self,
        chat_id: int,
        count: int = 1,
        *,
        since: int = 0,
        timeout: float = 5.0,
        methods: Iterable[str] = REPLY_METHODS,
    ) -> list[Call]:
        """Wait for `count` successful replies to this chat after bookmark `since`; returns all of them."""
        await self.wait_for(lambda: len(self.calls_to(chat_id, methods, since)) >= count, timeout)
        return self.calls_to(chat_id, methods, since)

    def _notify(self) -> None:
        with self._lock:
            waiters = list(self._waiters)
        for waiter in waiters:
            try:
                running = asyncio.get_running_loop()
            except RuntimeError:
                running = None
            if running is waiter.loop:
                waiter.event.set()
            elif not waiter.loop.is_closed():
                waiter.loop.call_soon_threadsafe(waiter.event.set)

    # ------------------------------------------------------------------ the HTTP side

    async def _handle(self, request: web.Request) -> web.Response:
        if request.match_info["token"] != self.token:
            return web.json_response({"ok": False, "error_code": 401, "description": "Unauthorized"}, status=401)
        method = request.match_info["method"]
        try:
            params, files = await self._read_params(request)
        except ValueError as exc:  # malformed JSON or number: Telegram answers 400
            return self._error(400, f"Bad Request: can't parse parameters: {exc}")
        call = Call(method, params, files, time.perf_counter())
        handler = getattr(self, f"_api_{method}", None)
        response = await self._answer(call, handler)
        call.status = response.status
        with self._lock:
            self.calls.append(call)
        if self.on_call is not None:
            self.on_call(call)
        self._notify()
        return response

    async def _answer(self, call: Call, handler: Any) -> web.Response:
        if handler is None:
            return self._error(404, "Not Found: method not found")
        if call.method in SEND_METHODS and call.chat_id in self._held:
            with self._lock:
                self.holding.append(call)
            self._notify()
            try:
                await self.wait_for(lambda: call.chat_id not in self._held, timeout=60)
            finally:
                with self._lock:
                    self.holding.remove(call)
        fault = self._fault_for(call.method, call.chat_id)
        if fault is not None:
            return self._error(fault.status, fault.description, fault.retry_after)
        if self.enforce_limits and call.method in SEND_METHODS:
            wait = self._over_limit(call.chat_id, call.at)
            if wait is not None:
                retry_after = max(1, math.ceil(wait))
                return self._error(429, f"Too Many Requests: retry after {retry_after}", retry_after)
        try:
            call.result = await handler(call)
        except _ApiError as exc:
            return self._error(exc.status, exc.description)
        return web.json_response({"ok": True, "result": call.result})

    @staticmethod
    def _error(status: int, description: str, retry_after: int | None = None) -> web.Response:
        body: dict[str, Any] = {"ok": False, "error_code": status, "description": description}
        if retry_after is not None:
            body["parameters"] = {"retry_after": retry_after}
        return web.json_response(body, status=status)

    @staticmethod
    async def _read_params(request: web.Request) -> tuple[dict[str, Any], dict[str, bytes]]:
        params: dict[str, Any] = dict(request.query)
        files: dict[str, bytes] = {}
        if request.content_type == "application/json":
            body = await request.json() if request.can_read_body else {}
            params.update(body)
            return params, files
        form = await request.post()
        for name, value in form.items():
            if isinstance(value, web.FileField):
                files[name] = value.file.read()
                params[name] = f"<file {value.filename}>"
            elif name in JSON_PARAMS:
                params[name] = json.loads(value)
            elif name in INT_PARAMS:
                number = float(value)
                params[name] = int(number) if number.is_integer() else number
            elif name == "chat_id":
                params[name] = _as_chat_id(str(value))
            else:
                params[name] = value
        return params, files

    def _next_message_id(self, chat_id: int | str) -> int:
        with self._lock:
            counter = self._message_ids.setdefault(chat_id, itertools.count(1))
            return next(counter)

    def _store_bot_message(self, call: Call, **content: Any) -> dict[str, Any]:
        chat_id = call.chat_id
        if chat_id is None:
            raise _ApiError(400, "Bad Request: chat_id is empty")
        with self._lock:
            chat = self._chats.get(chat_id) or {"id": chat_id, "type": "private", "first_name": "Pupil"}
        message: dict[str, Any] = {
            "message_id": self._next_message_id(chat_id),
            "date": int(time.time()),
            "chat": chat,
            "from": self.bot_user,
            **content,
        }
        if call.params.get("reply_markup"):
            message["reply_markup"] = call.params["reply_markup"]
        with self._lock:
            self._messages[(chat_id, message["message_id"])] = message
        return message

    # Each _api_<method> answers one Bot API method; the names are Telegram's.

    async def _api_getMe(self, call: Call) -> Any:
        return self.bot_user

    async def _api_getUpdates(self, call: Call) -> Any:
        offset = int(call.params.get("offset") or 0)
        limit = int(call.params.get("limit") or 100)
        timeout = float(call.params.get("timeout") or 0)
        waiter = _Waiter(asyncio.get_running_loop())
        with self._lock:
            self._waiters.append(waiter)
        deadline = time.monotonic() + timeout
        try:
            while True:
                waiter.event.clear()
                with self._lock:
                    if offset:
                        # Telegram forgets every update below the offset once it has been handed out.
                        self._pending = [
                            p for p in self._pending if not (p.delivered and p.update["update_id"] < offset)
                        ]
                    batch = self._pending[:limit]
                    for pending in batch:
                        pending.delivered = True
                if batch or self._closing:
                    return [p.update for p in batch]
                remaining = deadline - time.monotonic()
                if remaining <= 0:
                    return []
                try:
                    await asyncio.wait_for(waiter.event.wait(), remaining)
                except TimeoutError:
                    return []
        finally:
            with self._lock:
                self._waiters.remove(waiter)

    async def _api_sendMessage(self, call: Call) -> Any:
        text = call.params.get("text") or ""
        if not text.strip():
            raise _ApiError(400, "Bad Request: message text is empty")
        if len(text.encode("utf-16-le")) // 2 > 4096:  # Telegram counts UTF-16 code units
            raise _ApiError(400, "Bad Request: message is too long")
        return self._store_bot_message(call, text=text)

    async def _api_sendPhoto(self, call: Call) -> Any:
        size = len(call.files.get("photo", b""))
        photo = [{"file_id": f"photo{call.at}", "file_unique_id": "p", "width": 800, "height": 600, "file_size": size}]
        extra = {"caption": call.params["caption"]} if call.params.get("caption") else {}
        return self._store_bot_message(call, photo=photo, **extra)

    async def _api_sendDocument(self, call: Call) -> Any:
        body = call.files.get("document", b"")
        if "document" in call.files and not body:
            raise _ApiError(400, "Bad Request: file must be non-empty")
        document = {"file_id": f"doc{call.at}", "file_unique_id": "d", "file_size": len(body)}
        named = re.fullmatch(r"<file (.+)>", str(call.params.get("document", "")))
        if named:  # Telegram gives back the name the file was sent under
            document["file_name"] = named.group(1)
        extra = {"caption": call.params["caption"]} if call.params.get("caption") else {}
        return self._store_bot_message(call, document=document, **extra)

    def _edit(self, call: Call, **changes: Any) -> dict[str, Any]:
        key = (call.chat_id, int(call.params.get("message_id") or 0))
        with self._lock:
            message = self._messages.get(key)  # type: ignore[arg-type]
            if message is None:
                raise _ApiError(400, "Bad Request: message to edit not found")
            before = (message.get("text"), message.get("reply_markup"))
            message.update(changes)
            if call.params.get("reply_markup"):
                message["reply_markup"] = call.params["reply_markup"]
            else:
                message.pop("reply_markup", None)
            if (message.get("text"), message.get("reply_markup")) == before:
                raise _ApiError(400, "Bad Request: message is not modified")
            message["edit_date"] = int(time.time())
            return dict(message)

    async def _api_editMessageText(self, call: Call) -> Any:
        text = call.params.get("text") or ""
        if not text.strip():
            raise _ApiError(400, "Bad Request: message text is empty")
        return self._edit(call, text=text)

    async def _api_editMessageReplyMarkup(self, call: Call) -> Any:
        return self._edit(call)

    async def _api_answerCallbackQuery(self, call: Call) -> Any:
        return True

    async def _api_setMyCommands(self, call: Call) -> Any:
        scope = json.dumps(call.params.get("scope") or {"type": "default"}, sort_keys=True)
        with self._lock:
            self.commands[scope] = list(call.params.get("commands") or [])
        return True

    def commands_for_chat(self, chat_id: int | None = None) -> list[str]:
        """Command names the menu shows: the chat's own scope if set, else the default."""
        with self._lock:
            if chat_id is not None:
                key = json.dumps({"chat_id": chat_id, "type": "chat"}, sort_keys=True)
                if key in self.commands:
                    return [c["command"] for c in self.commands[key]]
            default = self.commands.get(json.dumps({"type": "default"}, sort_keys=True), [])
            return [c["command"] for c in default]

    async def _api_setWebhook(self, call: Call) -> Any:
        with self._lock:
            self.webhook = dict(call.params)
        self.webhook_reachable = await _listening(str(call.params.get("url") or ""))
        return True

    async def _api_deleteWebhook(self, call: Call) -> Any:
        with self._lock:
            self.webhook = None
        return True

    async def _api_getWebhookInfo(self, call: Call) -> Any:
        url = (self.webhook or {}).get("url", "")
        return {"url": url, "has_custom_certificate": False, "pending_update_count": len(self._pending)}


async def _listening(url: str) -> bool | None:
    """Does a loopback URL accept a TCP connection now? None for any other host (never dialled)."""
    parsed = urlsplit(url)
    if parsed.hostname not in {"127.0.0.1", "localhost"} or parsed.port is None:
        return None
    try:
        _, writer = await asyncio.wait_for(asyncio.open_connection(parsed.hostname, parsed.port), 2)
    except (OSError, TimeoutError):
        return False
    writer.close()
    await writer.wait_closed()
    return True


class _ApiError(Exception):
    def __init__(self, status: int, description: str) -> None:
        super().__init__(description)
        self.status = status
        self.description = description
