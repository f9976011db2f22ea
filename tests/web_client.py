"""A browser on the web chat, over real HTTP: its own cookies, the sign-in form, the chat page, the WebSocket."""

from __future__ import annotations

import asyncio
import json
import re
from typing import Any, Protocol

import aiohttp


class Served(Protocol):
    @property
    def base(self) -> str: ...  # e.g. http://127.0.0.1:PORT


class Browser:
    """One browser: its own cookies."""

    def __init__(self, site: Served) -> None:
        self.site = site
        self.http = aiohttp.ClientSession(base_url=site.base, cookie_jar=aiohttp.CookieJar(unsafe=True))

    async def close(self) -> None:
        await self.http.close()

    def cookie(self, name: str) -> str | None:
        for c in self.http.cookie_jar:
            if c.key == name:
                return c.value
        return None

    async def page(self, path: str) -> tuple[int, str]:
        async with self.http.get(path, allow_redirects=False) as r:
            return r.status, (await r.read()).decode("utf-8", errors="replace")

    async def sign_in(self, code: str, headers: dict[str, str] | None = None) -> aiohttp.ClientResponse:
        status, html = await self.page("/signin")
        assert status == 200
        csrf = hidden(html, "csrf")
        async with self.http.post(
            "/signin", data={"code": code, "csrf": csrf}, headers=headers, allow_redirects=False
        ) as r:
            await r.read()
            return r

    def forget_cookies(self) -> None:
        """As a browser with its cookies cleared (or a private window) would be."""
        self.http.cookie_jar.clear()

    async def chat_csrf(self) -> str:
        status, html = await self.page("/chat")
        assert status == 200, html
        return hidden(html, "csrf")

    async def ws(self, csrf: str, after: int = 0, origin: str | None = None) -> aiohttp.ClientWebSocketResponse:
        return await self.http.ws_connect(f"/ws?csrf={csrf}&after={after}", origin=origin or self.site.base)


def hidden(html: str, name: str) -> str:
    match = re.search(rf'name="{name}" value="([^"]*)"', html)
    assert match, f"no hidden {name} in page"
    return match.group(1)


async def read_lines(ws: aiohttp.ClientWebSocketResponse, want: int = 1, timeout: float = 5.0) -> list[dict[str, Any]]:
    """Lines the server pushed, until at least `want` bot lines arrived."""
    got: list[dict[str, Any]] = []

    async def collect() -> None:
        while sum(1 for line in got if line["dir"] == "out") < want:
            message = json.loads((await ws.receive()).data)
            if message["type"] == "ack":  # the receipt for a message sent: see `read_ack`
                continue
            if message["type"] == "lines":
                got.extend(message["lines"])
            else:
                got.append({"dir": "out", "type": message["type"], "text": ""})

    await asyncio.wait_for(collect(), timeout)
    return got


async def read_ack(ws: aiohttp.ClientWebSocketResponse, timeout: float = 5.0) -> dict[str, Any]:
    """The server's receipt for the message sent last: {"mid", "saved", "text"}; lines before it are skipped."""

    async def wait() -> dict[str, Any]:
        while True:
            message: dict[str, Any] = json.loads((await ws.receive()).data)
            if message["type"] == "ack":
                return message

    return await asyncio.wait_for(wait(), timeout)
