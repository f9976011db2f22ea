"""python-telegram-bot's HTTP layer on aiohttp: `AiohttpRequest`, a `telegram.request.BaseRequest`.

Why: python-telegram-bot's default layer (httpx/httpcore) cost most of the ~1.9 ms of CPU the
outbox sender spent per message (cProfile under bench/campaign_bench.py). aiohttp is already
Waymark's web server, and its client is cheaper per request. Only the transport changes:
`telegram.Bot` above it still turns answers into `RetryAfter`, `Forbidden`, `BadRequest` and so
on, so every error path stays python-telegram-bot's.

Timeouts, per call (python-telegram-bot passes them with every request; getUpdates long polls add
their poll time to the read timeout):

- pool: how long to wait for a free connection. Enforced here with a semaphore of the pool's size,
  so it means exactly that and nothing else; running out raises `TimedOut` naming the pool.
- connect: opening the TCP (and TLS) connection (aiohttp's `sock_connect`).
- read: the longest silence while waiting for the answer (aiohttp's `sock_read`).
- write: aiohttp has no per-write timer, so the whole request (connect + write + read) is bounded
  by their sum instead: a stalled upload still ends, a little later than its write timeout alone.

Bodies, as python-telegram-bot's own layer sends them: plain calls form-encoded (lists and objects
as JSON text, e.g. `reply_markup`), calls that attach files as multipart/form-data with every other
parameter as a text field.
"""

from __future__ import annotations

import asyncio
import json
from typing import Any
from urllib.parse import urlencode, urlsplit

import aiohttp
from aiohttp.helpers import get_env_proxy_for_url
from telegram._utils.defaultvalue import DefaultValue
from telegram._utils.types import ODVInput
from telegram.error import NetworkError, TimedOut
from telegram.request import BaseRequest, RequestData
from yarl import URL

FORM_HEADERS = {"Content-Type": "application/x-www-form-urlencoded"}
JSON_HEADERS = {"Content-Type": "application/json"}
Proxy = tuple[URL | None, aiohttp.BasicAuth | None]


def _or_default(value: ODVInput[float], default: float | None) -> float | None:
    """A per-call timeout, or this object's default when the caller left it unset."""
    return default if isinstance(value, DefaultValue) else value


def _sum_or_none(*parts: float | None) -> float | None:
    """The sum of several timeouts; no bound at all if any of them is unbounded."""
    total = 0.0
    for part in parts:
        if part is None:
            return None
        total += part
    return total


class AiohttpRequest(BaseRequest):
    """One `aiohttp.ClientSession` with a keep-alive pool of `pool_size` connections.

    Use two: one for the general calls and a small one (`pool_size=1`) for getUpdates, whose long
    poll would otherwise hold a connection the replies need. `initialize()` opens the session
    (python-telegram-bot calls it from `Bot.initialize`), `shutdown()` closes it; a shut-down
    object can be initialised again.
    """

    def __init__(
        self,
        pool_size: int = 256,
        *,
        read_timeout: float | None = 5.0,
        write_timeout: float | None = 5.0,
        connect_timeout: float | None = 5.0,
        pool_timeout: float | None = 1.0,
        media_write_timeout: float | None = 20.0,
        trust_env: bool = True,
    ) -> None:
        self.pool_size = max(1, pool_size)
        self._read_timeout = read_timeout
        self.write_timeout = write_timeout
        self.connect_timeout = connect_timeout
        self.pool_timeout = pool_timeout
        self.media_write_timeout = media_write_timeout
        # Like httpx under python-telegram-bot: HTTP(S)_PROXY and NO_PROXY from the environment apply.
        # Looked up here once per scheme and host: aiohttp's own trust_env looks them (and ~/.netrc)
        # up in a worker thread on every request, two thread hops per message for the sender.
        self.trust_env = trust_env
        self._proxies: dict[tuple[str, str], Proxy] = {}
        self._session: aiohttp.ClientSession | None = None
        self._slots: asyncio.Semaphore | None = None

    @property
    def read_timeout(self) -> float | None:
        return self._read_timeout

    async def initialize(self) -> None:
        if self._session is not None and not self._session.closed:
            return
        connector = aiohttp.TCPConnector(limit=self.pool_size, limit_per_host=self.pool_size, keepalive_timeout=60)
        self._session = aiohttp.ClientSession(
            connector=connector,
            trust_env=False,  # the environment's proxy is passed per request (_proxy_for)
            timeout=aiohttp.ClientTimeout(total=None),  # set per call in do_request
        )
        self._slots = asyncio.Semaphore(self.pool_size)

    def _proxy_for(self, url: str) -> Proxy:
        """HTTP(S)_PROXY for this URL unless NO_PROXY exempts its host (as aiohttp's trust_env would)."""
        parts = urlsplit(url)
        key = (parts.scheme, parts.hostname or "")
        if key not in self._proxies:
            try:
                self._proxies[key] = get_env_proxy_for_url(URL(url)) if self.trust_env else (None, None)
            except LookupError:  # no proxy set, or NO_PROXY names the host
                self._proxies[key] = (None, None)
        return self._proxies[key]

    async def shutdown(self) -> None:
        session, self._session = self._session, None
        if session is not None and not session.closed:
            await session.close()

    async def do_request(
        self,
        url: str,
        method: str,
        request_data: RequestData | None = None,
        read_timeout: ODVInput[float] = BaseRequest.DEFAULT_NONE,
        write_timeout: ODVInput[float] = BaseRequest.DEFAULT_NONE,
        connect_timeout: ODVInput[float] = BaseRequest.DEFAULT_NONE,
        pool_timeout: ODVInput[float] = BaseRequest.DEFAULT_NONE,
    ) -> tuple[int, bytes]:
        if self._session is None or self._session.closed:
            await self.initialize()
        session, slots = self._session, self._slots
        assert session is not None and slots is not None

        files = request_data.multipart_data if request_data is not None else None
        read = _or_default(read_timeout, self._read_timeout)
        connect = _or_default(connect_timeout, self.connect_timeout)
        pool = _or_default(pool_timeout, self.pool_timeout)
        write = _or_default(write_timeout, self.media_write_timeout if files else self.write_timeout)

        try:
            if pool is None or not slots.locked():  # a free slot is taken at once, even with a zero timeout
                await slots.acquire()
            else:
                await asyncio.wait_for(slots.acquire(), pool)
        except TimeoutError as exc:
            raise TimedOut(
                f"no free connection within {pool:g}s: all {self.pool_size} are busy "
                "(raise the pool size or the pool timeout)"
            ) from exc
        try:
            timeout = aiohttp.ClientTimeout(
                total=_sum_or_none(connect, write, read), sock_connect=connect, sock_read=read
            )
            proxy, proxy_auth = self._proxy_for(url)
            kwargs: dict[str, Any] = {"timeout": timeout, "proxy": proxy, "proxy_auth": proxy_auth}
            if request_data is not None:
                if files:
                    kwargs["data"] = _multipart(request_data)
                elif isinstance(request_data, PlainForm):
                    kwargs["data"] = request_data.json_body()
                    kwargs["headers"] = JSON_HEADERS
                else:
                    kwargs["data"] = request_data.url_encoded_parameters().encode("ascii")
                    kwargs["headers"] = FORM_HEADERS
            async with session.request(method, url, **kwargs) as response:
                return response.status, await response.read()
        except TimeoutError as exc:  # aiohttp's ServerTimeoutError is one too
            raise TimedOut(f"Telegram did not answer in time ({type(exc).__name__})") from exc
        except aiohttp.ClientError as exc:
            raise NetworkError(f"aiohttp.{type(exc).__name__}: {exc}") from exc
        finally:
            slots.release()


class PlainForm(RequestData):  # type: ignore[misc]  # marked @final; only its public properties are overridden
    """sendMessage's fields, built by the outbox sender itself (no files).

    `Bot.send_message` builds a parameter object per field and parses every answer into a
    `Message` the sender never reads; this skips both and still goes through `BaseRequest.post`,
    so answers keep python-telegram-bot's meaning (`RetryAfter`, `Forbidden`, `BadRequest`,
    `NetworkError`). `fields` are plain strings; `json_fields` are already JSON text (a keyboard
    serialised once per campaign). `AiohttpRequest` sends it as a JSON body (json.dumps is
    several times cheaper than form-encoding the text); any other `BaseRequest` (httpx) gets the
    usual form fields.
    """

    __slots__ = ("_fields", "_json_fields")

    def __init__(self, fields: dict[str, str], json_fields: dict[str, str] | None = None) -> None:
        super().__init__()
        self._fields = fields
        self._json_fields = json_fields or {}

    @property
    def parameters(self) -> dict[str, Any]:
        return {**self._fields, **{k: json.loads(v) for k, v in self._json_fields.items()}}

    @property
    def json_parameters(self) -> dict[str, str]:
        return {**self._fields, **self._json_fields}

    def url_encoded_parameters(self, encode_kwargs: dict[str, Any] | None = None) -> str:
        return urlencode(self.json_parameters, **(encode_kwargs or {}))

    def json_body(self) -> bytes:
        body = json.dumps(self._fields, ensure_ascii=False)
        for name, raw in self._json_fields.items():  # spliced in as they are: no second encoding
            body = f"{body[:-1]}, {json.dumps(name)}: {raw}}}"
        return body.encode("utf-8")


def _multipart(request_data: RequestData) -> aiohttp.FormData:
    """Files as file parts, every other parameter as a text field (JSON for lists and objects)."""
    form = aiohttp.FormData()
    for name, value in request_data.json_parameters.items():
        form.add_field(name, value)
    for name, (filename, content, mimetype) in request_data.multipart_data.items():
        form.add_field(name, content, filename=filename, content_type=mimetype)
    return form


__all__ = ("AiohttpRequest", "PlainForm")
