"""Abuse benchmark: 100 pupils chat while one client holds 1,000 idle connections and tries 200
chat pages on one session, against the real `waymark run` on loopback.

    .venv/bin/python bench/abuse_bench.py                       # 100 pupils, 1,000 idle, 200 sockets, 20 s
    .venv/bin/python bench/abuse_bench.py --pupils 50 --idle 500 --seconds 10

Two phases of the same length on the same server: the floor (the pupils alone) and the abuse (the
pupils while the abuser keeps 1,000 connections open that send half a request and then nothing,
reopening each one the server closes, and opens 200 WebSockets on one session). Prints the pupils'
p99 send-to-answer latency and the server's memory in each phase, what the server refused and
closed, and the load average beside each figure (the machine is shared: read them together).

The abuser connects from loopback, which the per-address limits leave alone (a reverse proxy on the
same machine connects from there), so this measures the total connection limit and the header
timeout, not the per-address one. Not a test: it prints figures.
"""

from __future__ import annotations

import argparse
import asyncio
import contextlib
import os
import shutil
import sys
import tempfile
import time
from pathlib import Path

import aiohttp

ROOT = Path(__file__).resolve().parent.parent
sys.path.insert(0, str(ROOT))

from bench.server import rss_mb, waymark_run  # noqa: E402
from bench.web_bench import Page, open_page, sender, signed_in_pupils  # noqa: E402


def load() -> str:
    one, five, _ = os.getloadavg()
    return f"load {one:.2f}/{five:.2f} on {os.cpu_count()} cores"


def p99(pages: list[Page]) -> tuple[float, int]:
    lat = sorted(x for p in pages for x in p.latencies)
    return (lat[min(len(lat) - 1, int(0.99 * len(lat)))] * 1000 if lat else float("nan")), len(lat)


async def chat_phase(pages: list[Page], seconds: float, pid: int) -> tuple[float, int, int, float]:
    """The pupils talk for `seconds`: (p99 ms, answered, unanswered, peak RSS MB)."""
    for page in pages:
        page.latencies.clear()
    peak = [rss_mb(pid)]

    async def sample() -> None:
        while True:
            peak[0] = max(peak[0], rss_mb(pid))
            await asyncio.sleep(0.5)

    sampler = asyncio.create_task(sample())
    began = time.perf_counter() + 0.2
    await asyncio.gather(*(sender(p, seconds, began + i / max(1, len(pages))) for i, p in enumerate(pages)))
    deadline = time.perf_counter() + 10
    while any(p.sent for p in pages) and time.perf_counter() < deadline:
        await asyncio.sleep(0.1)
    sampler.cancel()
    unanswered = sum(len(p.sent) for p in pages)
    for page in pages:
        page.sent.clear()
    latency, answered = p99(pages)
    return latency, answered, unanswered, peak[0]


async def idle_connection(host: str, port: int, stop: asyncio.Event, closed: list[int]) -> None:
    """Half a request, then nothing; when the server closes it, open another."""
    while not stop.is_set():
        try:
            reader, writer = await asyncio.open_connection(host, port)
            writer.write(b"POST /signin HTTP/1.1\r\nHost: x\r\n")
            read = asyncio.ensure_future(reader.read())
            waiting = asyncio.ensure_future(stop.wait())
            done, _ = await asyncio.wait({read, waiting}, return_when=asyncio.FIRST_COMPLETED)
            for task in (read, waiting):
                task.cancel()
            writer.close()
            if read in done:
                closed[0] += 1
                await asyncio.sleep(0.1)  # then straight back (a little gentler on a shared machine)
        except OSError:
            closed[0] += 1
            await asyncio.sleep(0.5)


async def many_sockets(
    http: aiohttp.ClientSession, base: str, token: str, csrf: str, count: int
) -> tuple[int, list[Page]]:
    """Open `count` chat pages on one session: (refused, opened)."""
    refused, opened = 0, []
    for _ in range(count):
        try:
            opened.append(await open_page(http, base, token, csrf))
        except aiohttp.ClientError:  # 429 over the per-session limit, or closed over the connection limit
            refused += 1
    return refused, opened


async def run(args: argparse.Namespace) -> None:
    workdir = Path(tempfile.mkdtemp(prefix="waymark-abuse-"))
    url = f"sqlite:///{workdir / 'bench.db'}"
    sessions = signed_in_pupils(url, args.pupils + 1)
    server = contextlib.AsyncExitStack()  # the server is stopped in `finally` below
    try:
        proc = await server.enter_async_context(waymark_run(url, workdir))  # bench/server.py
        base, host, port = proc.base, "127.0.0.1", proc.port
        async with aiohttp.ClientSession(connector=aiohttp.TCPConnector(limit=0)) as http:
            pupils = [await open_page(http, base, t, c) for t, c in sessions[:-1]]
            # A few seconds not counted: each pupil's first messages load the conversations and warm
            # the database's cache, which otherwise land in the floor and make it look worse than the abuse.
            await chat_phase(pupils, args.warmup, proc.pid)
            rss_start = rss_mb(proc.pid)
            floor = await chat_phase(pupils, args.seconds, proc.pid)
            floor_load = load()
            stop, closed = asyncio.Event(), [0]
            idlers = [asyncio.create_task(idle_connection(host, port, stop, closed)) for _ in range(args.idle)]
            abuser_token, abuser_csrf = sessions[-1]
            refused, extra = await many_sockets(http, base, abuser_token, abuser_csrf, args.sockets)
            await asyncio.sleep(1.0)
            abused = await chat_phase(pupils, args.seconds, proc.pid)
            abused_load = load()
            stop.set()
            await asyncio.gather(*idlers, return_exceptions=True)
            for page in [*pupils, *extra]:
                await page.ws.close()
        rss_end = rss_mb(proc.pid)
        print()
        print(f"server: `waymark run` (pid {proc.pid}), SQLite; {args.pupils} pupils, one message a second each")
        print(
            f"floor (pupils alone, {args.seconds:.0f} s): p99 {floor[0]:.1f} ms, {floor[1]} answered, "
            f"{floor[2]} unanswered, peak RSS {floor[3]:.0f} MB  [{floor_load}]"
        )
        print(
            f"abuse ({args.idle} idle connections + {args.sockets} sockets on one session, {args.seconds:.0f} s): "
            f"p99 {abused[0]:.1f} ms, {abused[1]} answered, {abused[2]} unanswered, peak RSS {abused[3]:.0f} MB  "
            f"[{abused_load}]"
        )
        print(
            f"goal: p99 < 150 ms and memory flat; RSS {rss_start:.0f} MB after the {args.warmup:.0f} s warm-up, "
            f"{rss_end:.0f} MB after"
        )
        print(
            f"the abuser: {closed[0]} idle connections closed or refused by the server; "
            f"{refused} of {args.sockets} chat pages refused (429, or closed at the connection limit), {len(extra)} opened"
        )
    finally:
        await server.aclose()
        if not args.keep:
            shutil.rmtree(workdir, ignore_errors=True)
        else:
            print(f"kept {workdir}")


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    parser.add_argument("--pupils", type=int, default=100)
    parser.add_argument("--idle", type=int, default=1000)
    parser.add_argument("--sockets", type=int, default=200)
    parser.add_argument("--seconds", type=float, default=20)
    parser.add_argument("--warmup", type=float, default=5, help="seconds of chat before the floor, not counted")
    parser.add_argument("--keep", action="store_true", help="keep the database and server log")
    asyncio.run(run(parser.parse_args()))


if __name__ == "__main__":
    main()
