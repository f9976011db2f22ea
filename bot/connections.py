"""Bounds on the HTTP server's connections, which aiohttp does not set itself.

aiohttp's server has no header-read timeout: a client that opens a connection and sends half a
request (or nothing) holds a file handle for as long as it likes, and 1,000 of them took the
server down. `GuardedSite` listens like `aiohttp.web.TCPSite`, but each connection goes through
`Guard` first:

- at most `max_connections` open at once, and `max_per_address` from one address (loopback, where
  a reverse proxy on the same machine connects from, is not limited per address: the proxy is);
  a connection over the per-address limit is closed at once;
- at the limit the site stops accepting, so further connections wait in the kernel's backlog
  rather than being accepted and closed at once;
- each request's headers must be complete within `header_timeout` seconds of its first byte (of
  the connection, for the first request), or the connection is closed; between requests aiohttp's
  keep-alive timeout closes idle connections.

`read_body_within` bounds the time to read a request's body the same way.
"""

from __future__ import annotations

import asyncio
import ipaddress
import logging
import socket
from collections import Counter
from collections.abc import Awaitable, Callable
from dataclasses import dataclass
from typing import Any

from aiohttp import web

log = logging.getLogger(__name__)

HEADERS_END = b"\r\n\r\n"
MAX_HELD = 64 * 1024  # a first request's headers held before aiohttp sees them (its own limits are lower)


@dataclass(frozen=True)
class Limits:
    max_connections: int = 800
    max_per_address: int = 200
    header_timeout: float = 10.0


def _unmapped(address: str) -> ipaddress.IPv4Address | ipaddress.IPv6Address | None:
    """The address, with IPv4 written as IPv6 (`::ffff:10.0.0.1`, a dual-stack socket's form) as IPv4."""
    try:
        ip = ipaddress.ip_address(address.split("%", 1)[0])
    except ValueError:
        return None
    if isinstance(ip, ipaddress.IPv6Address) and ip.ipv4_mapped is not None:
        return ip.ipv4_mapped
    return ip


def is_loopback(address: str) -> bool:
    """127.0.0.1, ::1, and `::ffff:127.0.0.1`."""
    ip = _unmapped(address)
    return ip is not None and ip.is_loopback


def normalised(address: str) -> str:
    """One spelling per address: `::ffff:10.0.0.1` counts as `10.0.0.1`."""
    ip = _unmapped(address)
    return address if ip is None else str(ip)


class Guard:
    """The protocol factory in front of aiohttp's: counts connections and times their first headers."""

    def __init__(
        self, make: Callable[[], asyncio.Protocol], limits: Limits, room_again: Callable[[], None] = lambda: None
    ) -> None:
        self.make = make
        self.limits = limits
        self.room_again = room_again  # told when a counted connection closes
        self.open = 0
        self.by_address: Counter[str] = Counter()
        self.refused = 0
        self.timed_out = 0
        self.handed = 0  # connections whose first headers were complete, handed to aiohttp

    def __call__(self) -> asyncio.Protocol:
        return _Guarded(self)


class _Guarded(asyncio.Protocol):
    """One connection: passes everything to aiohttp's handler, timing each request's headers.

    aiohttp's handler (a parser, timers and a task per connection) is made only once the first
    request's headers are complete: until then the bytes are held here (at most MAX_HELD). A
    connection that never finishes its headers, the usual abuse, so costs only this small object and
    its timer, made and dropped without aiohttp; under 1,000 of them the work of opening and closing
    handlers came in bursts that stalled the event loop while pupils were chatting.

    The clock starts when the connection is made, and again at the first byte of each later request
    on a kept-alive connection (the idle time between requests is aiohttp's keep-alive timeout); it
    stops at the end of the headers, or when `timed_requests` sees the request reach the handler
    (which also covers headers that arrived pipelined behind the previous request).
    """

    def __init__(self, guard: Guard) -> None:
        self.guard = guard
        self.inner: asyncio.Protocol | None = None  # aiohttp's handler, made only for a connection let in
        self.address = ""
        self.counted = False
        self.waiting_for_headers = True  # between requests: the next bytes start a request's headers
        self.tail = b""  # the last bytes seen, for a header end split across two reads
        self.timer: asyncio.TimerHandle | None = None
        self.transport: asyncio.Transport | None = None
        self.held = bytearray()  # the first request's bytes, until its headers are complete

    def connection_made(self, transport: asyncio.BaseTransport) -> None:
        assert isinstance(transport, asyncio.Transport)
        self.transport = transport
        peer = transport.get_extra_info("peername")
        self.address = normalised(str(peer[0])) if isinstance(peer, tuple) and peer else "unknown"
        guard, limits = self.guard, self.guard.limits
        over_total = guard.open >= limits.max_connections
        over_address = not is_loopback(self.address) and guard.by_address[self.address] >= limits.max_per_address
        if over_total or over_address:
            guard.refused += 1
            if guard.refused in (1, 10, 100) or guard.refused % 1000 == 0:
                what = "connections in all" if over_total else f"connections from {self.address}"
                log.warning("http: too many %s; closing new ones (%d so far)", what, guard.refused)
            transport.abort()
            return
        self.counted = True
        guard.open += 1
        guard.by_address[self.address] += 1
        self._start_clock()

    def _start_clock(self) -> None:
        if self.timer is None:
            self.timer = asyncio.get_running_loop().call_later(self.guard.limits.header_timeout, self._too_slow)

    def _stop_clock(self) -> None:
        self.waiting_for_headers = False
        self.tail = b""
        if self.timer is not None:
            self.timer.cancel()
            self.timer = None

    def _too_slow(self) -> None:
        self.timer = None
        self.guard.timed_out += 1
        if self.transport is not None:
            self.transport.abort()

    def request_started(self) -> None:
        self._stop_clock()

    def request_finished(self) -> None:
        self.waiting_for_headers = True

    def data_received(self, data: bytes) -> None:
        headers_done = False
        if self.waiting_for_headers:
            self._start_clock()
            seen = self.tail + data
            if HEADERS_END in seen:
                self._stop_clock()
                headers_done = True
            else:
                self.tail = seen[-(len(HEADERS_END) - 1) :]
        if self.inner is not None:
            self.inner.data_received(data)
            return
        if not self.counted or self.transport is None:
            return
        self.held += data
        if headers_done or len(self.held) > MAX_HELD:  # too long: aiohttp refuses it in its own words
            self.guard.handed += 1
            self.inner = self.guard.make()
            self.inner.connection_made(self.transport)
            held, self.held = bytes(self.held), bytearray()
            self.inner.data_received(held)

    def eof_received(self) -> bool | None:
        return self.inner.eof_received() if self.inner is not None else None

    def connection_lost(self, exc: Exception | None) -> None:
        self._stop_clock()
        if self.counted:
            self.counted = False
            self.guard.open -= 1
            self.guard.by_address[self.address] -= 1
            if self.guard.by_address[self.address] <= 0:
                del self.guard.by_address[self.address]
            self.guard.room_again()
        if self.inner is not None:
            self.inner.connection_lost(exc)

    def pause_writing(self) -> None:
        if self.inner is not None:
            self.inner.pause_writing()

    def resume_writing(self) -> None:
        if self.inner is not None:
            self.inner.resume_writing()


class Tally:
    """Counts of things open per key (a session, an address), each kept under its own limit."""

    def __init__(self) -> None:
        self.open: Counter[str] = Counter()

    def take(self, wanted: dict[str, int]) -> bool:
        """One more for each key if every key is under its limit (key -> limit); False, taking none, if not."""
        if any(self.open[key] >= limit for key, limit in wanted.items()):
            return False
        for key in wanted:
            self.open[key] += 1
        return True

    def give_back(self, keys: list[str]) -> None:
        for key in keys:
            self.open[key] -= 1
            if self.open[key] <= 0:
                del self.open[key]


class GuardedSite(web.TCPSite):
    """`web.TCPSite` with every connection through a `Guard` (`site.guard`, for tests and /healthz),
    which accepts no more connections while `max_connections` are open.

    Accepting a connection only to close it costs as much as serving a small request: an abuser
    reconnecting in a loop made about 900 of them a second and pupils waited seconds for answers.
    So at the limit the site stops accepting (the listening socket leaves the event loop) and new
    connections wait in the kernel's backlog until one closes; asyncio has no public pause for a
    server, so the site binds its own sockets and accepts from them itself.
    """

    def __init__(self, runner: web.BaseRunner, host: str, port: int, limits: Limits, **kwargs: Any) -> None:
        super().__init__(runner, host, port, **kwargs)
        self.limits = limits
        self.guard: Guard | None = None
        self.pauses = 0  # times accepting stopped at the limit
        self._listening: list[socket.socket] = []
        self._accepting = False
        self._arriving = 0  # accepted, not yet counted by the guard
        self._connecting: set[asyncio.Task[None]] = set()

    async def start(self) -> None:
        await web.BaseSite.start(self)  # registers with the runner, as TCPSite.start does first
        server = self._runner.server
        assert server is not None
        self.guard = Guard(server, self.limits, room_again=self._room_again)
        self._listening = _listen(self._host or "0.0.0.0", self._port, self._backlog, self._reuse_address)
        self._server = _Listening(self._listening, self._stop_accepting)  # type: ignore[assignment]
        self._bound_port = self._listening[0].getsockname()[1] if self._listening else self._port
        self._start_accepting()

    def _full(self) -> bool:
        assert self.guard is not None
        return self.guard.open + self._arriving >= self.limits.max_connections

    def _start_accepting(self) -> None:
        if self._accepting or not self._listening:
            return
        loop = asyncio.get_running_loop()
        for sock in self._listening:
            loop.add_reader(sock.fileno(), self._accept_from, sock)
        self._accepting = True

    def _stop_accepting(self) -> None:
        if not self._accepting:
            return
        loop = asyncio.get_running_loop()
        for sock in self._listening:
            loop.remove_reader(sock.fileno())
        self._accepting = False

    def _room_again(self) -> None:
        if not self._accepting and self._listening and not self._full():
            self._start_accepting()

    def _accept_from(self, sock: socket.socket) -> None:
        loop = asyncio.get_running_loop()
        for _ in range(self._backlog):  # as asyncio does: take what is waiting, then back to the loop
            if self._full():
                self._stop_accepting()
                self.pauses += 1
                if self.pauses in (1, 10, 100) or self.pauses % 1000 == 0:
                    log.warning(
                        "http: %d connections open, the limit; new ones wait until one closes (%d times so far)",
                        self.limits.max_connections,
                        self.pauses,
                    )
                return
            try:
                conn, _ = sock.accept()
            except (BlockingIOError, InterruptedError, ConnectionAbortedError):
                return
            except OSError as exc:  # out of file handles: wait for one to close rather than spin
                log.warning("http: could not accept a connection: %s", exc.strerror or exc)
                self._stop_accepting()
                loop.call_later(1.0, self._room_again)
                return
            conn.setblocking(False)
            self._arriving += 1
            task = loop.create_task(self._connect(conn))
            self._connecting.add(task)
            task.add_done_callback(self._connecting.discard)

    async def _connect(self, conn: socket.socket) -> None:
        assert self.guard is not None
        try:
            await asyncio.get_running_loop().connect_accepted_socket(self.guard, conn)
        except OSError:
            conn.close()
        finally:
            self._arriving -= 1
            self._room_again()


class _Listening:
    """What `web.BaseSite.stop` and `AppRunner.addresses` need of an `asyncio.Server`."""

    def __init__(self, sockets: list[socket.socket], stop_accepting: Callable[[], None]) -> None:
        self.sockets = sockets
        self._stop_accepting = stop_accepting

    def close(self) -> None:
        self._stop_accepting()
        for sock in self.sockets:
            sock.close()
        self.sockets.clear()  # the site's own list: a connection closing later does not start accepting again

    async def wait_closed(self) -> None:
        return None


def _listen(host: str, port: int, backlog: int, reuse_address: bool | None) -> list[socket.socket]:
    """Listening sockets for every address `host` names, as `loop.create_server` would bind them."""
    found = socket.getaddrinfo(host, port, type=socket.SOCK_STREAM, flags=socket.AI_PASSIVE)
    sockets: list[socket.socket] = []
    try:
        for family, kind, proto, _, address in dict.fromkeys(found):
            sock = socket.socket(family, kind, proto)
            sockets.append(sock)
            if reuse_address is not False:
                sock.setsockopt(socket.SOL_SOCKET, socket.SO_REUSEADDR, 1)
            if family == socket.AF_INET6:
                sock.setsockopt(socket.IPPROTO_IPV6, socket.IPV6_V6ONLY, 1)
            sock.bind(address)
            sock.listen(backlog)
            sock.setblocking(False)
    except OSError:
        for sock in sockets:
            sock.close()
        raise
    return sockets


@web.middleware
async def timed_requests(
    request: web.Request, handler: Callable[[web.Request], Awaitable[web.StreamResponse]]
) -> web.StreamResponse:
    """Middleware: tells the connection's guard a request has reached the handler (its headers are
    in) and when it is done, so the next request's headers on the same connection are timed too."""
    transport = request.transport
    guarded = transport.get_protocol() if transport is not None else None
    if not isinstance(guarded, _Guarded):
        return await handler(request)
    guarded.request_started()
    try:
        return await handler(request)
    finally:
        guarded.request_finished()


def read_body_within(seconds: float) -> Callable[..., Awaitable[web.StreamResponse]]:
    """Middleware: a request's body is read in full within `seconds` (aiohttp keeps it for the
    handler's `post()`, `json()` and `text()`), or the request gets 408."""

    @web.middleware
    async def middleware(
        request: web.Request, handler: Callable[[web.Request], Awaitable[web.StreamResponse]]
    ) -> web.StreamResponse:
        if request.can_read_body:
            try:
                await asyncio.wait_for(request.read(), seconds)
            except TimeoutError:
                raise web.HTTPRequestTimeout(text="The request took too long to arrive.") from None
        return await handler(request)

    return middleware
