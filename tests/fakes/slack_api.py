"""A stand-in for Slack on 127.0.0.1: its Web API (what the bot calls) and its signed requests
to the bot (events, slash commands, button presses).

slack-sdk posts each Web API call to `<base_url><method>` as JSON or form data with a Bearer token,
and expects `{"ok": true, ...}` or `{"ok": false, "error": "..."}` (HTTP 429 with `Retry-After`
when rate limited). `files_upload_v2` asks `files.getUploadURLExternal` for an upload URL, POSTs the
bytes there, then calls `files.completeUploadExternal`.

    async with FakeSlack() as fake:
        client = AsyncWebClient(token=fake.token, base_url=fake.base_url)
        fake.fail_next(1, status=429, retry_after=3)     # the next send is rate limited
        fake.fail_channel("D404", "channel_not_found")  # every send there fails

`SlackSender` signs requests with the signing secret as Slack does (v0 HMAC-SHA256 over
`v0:<timestamp>:<body>`) and POSTs them to the bot's events URL.
"""

from __future__ import annotations

import asyncio
import itertools
import json
import time
from dataclasses import dataclass, field
from typing import Any
from urllib.parse import urlencode

from aiohttp import ClientSession, web
from slack_sdk.signature import SignatureVerifier

TOKEN = "xoxb-test-token-for-the-fake-slack"
SIGNING_SECRET = "fake-signing-secret-0123456789abcdef"
BOT_USER = "UWAYMARKBOT"
BOT_ID = "BWAYMARK"
TEAM = "TSCHOOL"
# Calls that put something in front of a person: faults apply to these.
SEND_METHODS = frozenset({"chat.postMessage", "chat.update", "files.completeUploadExternal"})
SECTION_TEXT_LIMIT = 3000  # Slack refuses a section block whose text is longer (invalid_blocks)


@dataclass
class Call:
    method: str
    params: dict[str, Any]
    at: float = field(default_factory=time.monotonic)
    ts: str = ""  # the message's timestamp (its id), as answered

    @property
    def channel(self) -> str:
        return str(self.params.get("channel") or self.params.get("channel_id") or "")

    @property
    def text(self) -> str:
        return str(self.params.get("text") or self.params.get("initial_comment") or "")

    @property
    def blocks(self) -> list[dict[str, Any]]:
        raw = self.params.get("blocks") or []
        return json.loads(raw) if isinstance(raw, str) else list(raw)

    def buttons(self) -> dict[str, str]:
        """label -> value of the buttons in this message."""
        return {
            e["text"]["text"]: e["value"]
            for b in self.blocks
            if b.get("type") == "actions"
            for e in b.get("elements", [])
            if e.get("type") == "button"
        }


class FakeSlack:
    """Slack's Web API on 127.0.0.1:<free port>, on the event loop that starts it."""

    def __init__(self) -> None:
        self.token = TOKEN
        self.calls: list[Call] = []
        self.uploads: list[tuple[str, bytes]] = []  # (file id, bytes received at the upload URL)
        # What files.getUploadURLExternal was told of each file (Slack requires both): the bytes
        # uploaded must be as many as the `length` declared.
        self.declared: dict[str, tuple[str, int]] = {}  # file id -> (filename, length)
        self._ts = itertools.count(1)
        self._files = itertools.count(1)
        self._failures: list[tuple[int, str, float | None]] = []  # (status, error, retry_after)
        self._bad_channels: dict[str, str] = {}
        self._runner: web.AppRunner | None = None
        self.port = 0

    @property
    def base_url(self) -> str:
        return f"http://127.0.0.1:{self.port}/api/"

    async def __aenter__(self) -> FakeSlack:
        app = web.Application(client_max_size=20 * 1024 * 1024)
        app.router.add_post("/api/{method}", self._api)
        app.router.add_post("/upload/{file_id}", self._upload)
        self._runner = web.AppRunner(app, access_log=None)
        await self._runner.setup()
        site = web.TCPSite(self._runner, "127.0.0.1", 0)
        await site.start()
        address = self._runner.addresses[0]
        self.port = int(address[1])
        return self

    async def __aexit__(self, *exc: object) -> None:
        if self._runner is not None:
            await self._runner.cleanup()

    # -- what a test can ask for

    def fail_next(self, count: int, *, status: int = 429, error: str = "ratelimited", retry_after: float | None = 1):
        self._failures += [(status, error, retry_after if status == 429 else None)] * count

    def fail_channel(self, channel: str, error: str = "channel_not_found") -> None:
        self._bad_channels[channel] = error

    def sent(self, channel: str | None = None) -> list[Call]:
        """chat.postMessage calls (to one channel, if given), in order."""
        return [c for c in self.calls if c.method == "chat.postMessage" and (channel is None or c.channel == channel)]

    def calls_of(self, method: str) -> list[Call]:
        return [c for c in self.calls if c.method == method]

    # -- the Web API

    async def _api(self, request: web.Request) -> web.Response:
        method = request.match_info["method"]
        if request.headers.get("Authorization") != f"Bearer {self.token}":
            return web.json_response({"ok": False, "error": "invalid_auth"})
        params = await _params(request)
        call = Call(method, params)
        self.calls.append(call)
        if method in SEND_METHODS:
            if call.channel in self._bad_channels:
                return web.json_response({"ok": False, "error": self._bad_channels[call.channel]})
            if self._failures:
                status, error, retry_after = self._failures.pop(0)
                headers = {"Retry-After": f"{retry_after:g}"} if retry_after is not None else {}
                return web.json_response({"ok": False, "error": error}, status=status, headers=headers)
        answer = self._answer(method, params, request)
        call.ts = str(answer.get("ts", ""))
        return web.json_response(answer)

    def _answer(self, method: str, params: dict[str, Any], request: web.Request) -> dict[str, Any]:
        if method == "auth.test":
            return {"ok": True, "user_id": BOT_USER, "bot_id": BOT_ID, "team_id": TEAM, "user": "waymark"}
        if method == "conversations.open":
            return {"ok": True, "channel": {"id": "D" + str(params.get("users", "")).lstrip("U")}}
        if method in {"chat.postMessage", "chat.update"}:
            if any(len(text) > SECTION_TEXT_LIMIT for text in _section_texts(params.get("blocks"))):
                return {"ok": False, "error": "invalid_blocks"}
            ts = str(params.get("ts") or f"{1700000000 + next(self._ts)}.000100")
            return {"ok": True, "channel": params.get("channel"), "ts": ts, "message": {"text": params.get("text")}}
        if method == "files.getUploadURLExternal":
            if not params.get("filename") or not str(params.get("length", "")).isdigit():
                return {"ok": False, "error": "invalid_arguments"}
            file_id = f"F{next(self._files):06d}"
            self.declared[file_id] = (str(params["filename"]), int(params["length"]))
            return {"ok": True, "file_id": file_id, "upload_url": f"http://127.0.0.1:{self.port}/upload/{file_id}"}
        if method == "files.completeUploadExternal":
            files = params.get("files")
            listed = json.loads(files) if isinstance(files, str) else files or []
            return {"ok": True, "files": [{"id": f["id"], "title": f.get("title", "")} for f in listed]}
        if method == "files.info":
            return {"ok": True, "file": {"id": params.get("file"), "shares": {}}}
        return {"ok": False, "error": "unknown_method"}

    async def _upload(self, request: web.Request) -> web.Response:
        self.uploads.append((request.match_info["file_id"], await request.read()))
        return web.Response(text=f"OK - {len(self.uploads[-1][1])}", content_type="text/plain")


async def _params(request: web.Request) -> dict[str, Any]:
    if request.content_type == "application/json":
        body = await request.json()
        return dict(body) if isinstance(body, dict) else {}
    if request.content_type == "multipart/form-data":
        form = await request.post()
        return {k: v for k, v in form.items() if isinstance(v, str)}
    form = await request.post()
    query = dict(request.query)
    return {**query, **{k: v for k, v in form.items() if isinstance(v, str)}}


class SlackSender:
    """Slack's side of the bot's `/slack/events` endpoint: signed events, commands and presses."""

    def __init__(self, url: str, secret: str = SIGNING_SECRET) -> None:
        self.url = url
        self.verifier = SignatureVerifier(secret)
        self._events = itertools.count(1)
        self._triggers = itertools.count(1)

    async def post(
        self,
        body: str,
        content_type: str,
        *,
        age: float = 0,
        signature: str | None = None,
        headers: dict[str, str] | None = None,
    ) -> tuple[int, str]:
        timestamp = str(int(time.time() - age))
        sig = signature or self.verifier.generate_signature(timestamp=timestamp, body=body)
        sent = {
            "Content-Type": content_type,
            "X-Slack-Request-Timestamp": timestamp,
            "X-Slack-Signature": sig,
            **(headers or {}),
        }
        async with ClientSession() as session, session.post(self.url, data=body.encode(), headers=sent) as res:
            return res.status, await res.text()

    def event_body(self, event: dict[str, Any], event_id: str | None = None) -> str:
        return json.dumps(
            {
                "token": "legacy",
                "team_id": TEAM,
                "api_app_id": "AWAYMARK",
                "type": "event_callback",
                "event_id": event_id or f"Ev{next(self._events):08d}",
                "event_time": int(time.time()),
                "event": event,
                "authorizations": [{"team_id": TEAM, "user_id": BOT_USER, "is_bot": True}],
            }
        )

    async def message(
        self, user: str, text: str, *, channel: str | None = None, channel_type: str = "im", **extra: Any
    ) -> tuple[int, str]:
        event = {
            "type": "message",
            "user": user,
            "text": text,
            "channel": channel or "D" + user.lstrip("U"),
            "channel_type": channel_type,
            "ts": f"{time.time():.6f}",
            **extra,
        }
        return await self.post(self.event_body(event), "application/json")

    async def command(self, user: str, text: str, *, channel: str | None = None) -> tuple[int, str]:
        dm = "D" + user.lstrip("U")
        form = {
            "command": "/waymark",
            "text": text,
            "user_id": user,
            "team_id": TEAM,
            "channel_id": channel or dm,
            "channel_name": "directmessage" if channel in (None, dm) else "staffroom",
            "trigger_id": f"trig.{next(self._triggers)}",
            "response_url": "http://127.0.0.1:9/unused",
        }
        return await self.post(urlencode(form), "application/x-www-form-urlencoded")

    async def press(self, user: str, message: Call, label: str) -> tuple[int, str]:
        """Press the button labelled `label` in a message the bot posted."""
        value = message.buttons()[label]
        action_id = next(
            e["action_id"]
            for b in message.blocks
            if b.get("type") == "actions"
            for e in b["elements"]
            if e.get("value") == value
        )
        return await self.press_value(user, message, value, action_id)

    async def press_value(self, user: str, message: Call, value: str, action_id: str = "wm:0:0") -> tuple[int, str]:
        payload = {
            "type": "block_actions",
            "team": {"id": TEAM},
            "user": {"id": user},
            "api_app_id": "AWAYMARK",
            "trigger_id": f"trig.{next(self._triggers)}",
            "container": {"type": "message", "channel_id": message.channel, "message_ts": message.ts},
            "channel": {"id": message.channel, "name": "directmessage"},
            "message": {"type": "message", "ts": message.ts, "text": message.text, "blocks": message.blocks},
            "actions": [
                {"type": "button", "action_id": action_id, "block_id": "b", "value": value, "action_ts": "1.1"}
            ],
        }
        return await self.post(urlencode({"payload": json.dumps(payload)}), "application/x-www-form-urlencoded")


def _section_texts(blocks: Any) -> list[str]:
    listed = json.loads(blocks) if isinstance(blocks, str) else blocks or []
    return [str(b["text"].get("text", "")) for b in listed if b.get("type") == "section" and b.get("text")]


async def until(condition: Any, timeout: float = 5.0) -> None:
    """Wait (on this loop) until `condition()` is true."""
    deadline = time.monotonic() + timeout
    while not condition():
        if time.monotonic() > deadline:
            raise AssertionError("timed out waiting for the fake Slack")
        await asyncio.sleep(0.01)
