"""Abuse benchmark: 100 pupils chat while one client holds 1,000 idle connections and tries 200
chat pages on one session, against the real `waymark run` on loopback.

    .venv/bin/python bench/abuse_bench.py                       # 100 pupils, 1,000 idle, 200 sockets
    .venv/bin/python bench/abuse_bench.py --pupils 20 --rounds 3 --seconds 10

Phases of the same length on the same server, in turns (`--rounds` of: the pupils alone, then the
pupils under the abuse), so load from elsewhere on a shared machine falls on both kinds alike. The
abuser runs in a process of its own (one client, one address): it keeps 1,000 connections open that
send half a request and then nothing, reopening each one the server closes, and tries 200
WebSockets on one session, holding those it gets. Before the rounds, the abuse runs once with
nobody talking, to measure its own cost to the server in CPU, which unlike latency does not depend
on how busy the machine is.

Prints, for each kind of phase, the pupils' p99 (and median) send-to-answer latency, the server's
peak memory and CPU seconds per second, how busy the whole machine was, this client's own
event-loop lag (is the measurement itself starved?), and the round trip of /healthz asked every
20 ms (answered in the server's event loop without the database: stalls of the loop itself, apart
from the pupils' database work); then what the server refused and closed, and the load average
beside each figure (the machine is shared: read them together).

The abuser connects from loopback, which the per-address limits leave alone (a reverse proxy on the
same machine connects from there), so this measures the total connection limit and the header
timeout, not the per-address one: its idle connections hold every place, and its own chat pages
wait behind them. Not a test: it prints figures.
"""

from __future__ import annotations

import argparse
import asyncio
import contextlib
import multiprocessing
import os
import shutil
import statistics
import sys
import tempfile
import time
from collections.abc import AsyncIterator
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

import aiohttp

ROOT = Path(__file__).resolve().parent.parent
sys.path.insert(0, str(ROOT))

from bench.server import cpu_seconds, rss_mb, waymark_run  # noqa: E402
from bench.web_bench import Page, open_page, sender, signed_in_pupils  # noqa: E402


def load() -> str:
    one, five, _ = os.getloadavg()
    return f"load {one:.2f}/{five:.2f} on {os.cpu_count()} cores"


def machine_times() -> tuple[float, float]:
    """(busy, all) CPU time of the whole machine so far, in clock ticks, from /proc/stat: how much
    of the machine the other helpers' work, this benchmark and the server took."""
    try:
        ticks = [int(x) for x in Path("/proc/stat").read_text().splitlines()[0].split()[1:]]
    except (OSError, ValueError):
        return 0.0, 0.0
    idle = ticks[3] + (ticks[4] if len(ticks) > 4 else 0)  # idle and iowait
    return float(sum(ticks) - idle), float(sum(ticks))


async def server_cpu_over(pid: int, seconds: float) -> float:
    """The server's CPU seconds per second over the next `seconds`."""
    before, began = cpu_seconds(pid), time.perf_counter()
    await asyncio.sleep(seconds)
    return (cpu_seconds(pid) - before) / (time.perf_counter() - began)


def percentile(values: list[float], share: float) -> float:
    ordered = sorted(values)
    return ordered[min(len(ordered) - 1, int(share * len(ordered)))] if ordered else float("nan")


@dataclass
class Phase:
    """One stretch of the pupils chatting, with or without the abuse."""

    abused: bool
    latencies: list[float] = field(default_factory=list)  # seconds, send to answer
    unanswered: int = 0
    peak_rss: float = 0.0
    server_cpu: float = 0.0  # CPU seconds per second of the phase
    lag_p99: float = 0.0  # this process's own event-loop lateness (ms): is the measuring client starved?
    machine_busy: float = 0.0  # share of the machine's CPU time busy (every process, not only ours)
    probes: list[float] = field(default_factory=list)  # /healthz round trips (s): the server's event loop alone
    load: str = ""


async def chat_phase(
    pages: list[Page], seconds: float, pid: int, abused: bool, http: aiohttp.ClientSession, base: str
) -> Phase:
    """The pupils talk for `seconds`, open loop, and every answer is awaited (up to 10 s more).
    Meanwhile /healthz is asked every 20 ms on a kept-alive connection: it is answered in the
    server's event loop without the database, so its round trip shows stalls of the loop itself
    (e.g. a burst of connections closing and opening) apart from the pupils' database work."""
    for page in pages:
        page.latencies.clear()
    phase = Phase(abused, peak_rss=rss_mb(pid))
    lags: list[float] = []

    async def sample() -> None:
        while True:
            phase.peak_rss = max(phase.peak_rss, rss_mb(pid))
            asked = time.perf_counter()
            await asyncio.sleep(0.05)
            lags.append(time.perf_counter() - asked - 0.05)

    async def probe() -> None:
        while True:
            asked = time.perf_counter()
            async with http.get(f"{base}/healthz") as r:
                await r.read()
            phase.probes.append(time.perf_counter() - asked)
            await asyncio.sleep(0.02)

    sampler, prober = asyncio.create_task(sample()), asyncio.create_task(probe())
    cpu_before, machine_before, began = cpu_seconds(pid), machine_times(), time.perf_counter() + 0.2
    await asyncio.gather(*(sender(p, seconds, began + i / max(1, len(pages))) for i, p in enumerate(pages)))
    phase.server_cpu = (cpu_seconds(pid) - cpu_before) / max(0.001, time.perf_counter() - began)
    machine_after = machine_times()
    phase.machine_busy = (machine_after[0] - machine_before[0]) / max(1.0, machine_after[1] - machine_before[1])
    deadline = time.perf_counter() + 10
    while any(p.sent for p in pages) and time.perf_counter() < deadline:
        await asyncio.sleep(0.1)
    sampler.cancel()
    prober.cancel()
    phase.load = load()
    phase.unanswered = sum(len(p.sent) for p in pages)
    for page in pages:
        page.sent.clear()
        phase.latencies += page.latencies
    phase.lag_p99 = percentile(lags, 0.99) * 1000
    return phase


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


@dataclass(frozen=True)
class AbuserReport:
    closed: int  # idle connections the server closed (header timeout) or refused
    refused: int  # chat pages refused
    opened: int  # chat pages opened (held until the end)
    sockets_took: float  # seconds to try every chat page
    cpu: float  # the abuser's own CPU seconds per second


@dataclass(frozen=True)
class Abuser:
    """What the abuser process is told: where, how much, and the session whose pages it opens."""

    base: str
    host: str
    port: int
    idle: int
    sockets: int
    token: str
    csrf: str


async def abuse(plan: Abuser, ready: Any, stop: Any, report: Any) -> None:
    """The abuser's own event loop: holds `plan.idle` half-open connections and tries `plan.sockets`
    chat pages on one session (then sets `ready`) until `stop` is set, then reports."""
    cpu_before, began = time.process_time(), time.perf_counter()
    ended, closed = asyncio.Event(), [0]
    idlers = [asyncio.create_task(idle_connection(plan.host, plan.port, ended, closed)) for _ in range(plan.idle)]
    async with aiohttp.ClientSession(connector=aiohttp.TCPConnector(limit=0)) as http:
        refused, extra = await many_sockets(http, plan.base, plan.token, plan.csrf, plan.sockets)
        sockets_took = time.perf_counter() - began
        ready.set()
        while not stop.is_set():
            await asyncio.sleep(0.1)
        ended.set()
        await asyncio.gather(*idlers, return_exceptions=True)
        for page in extra:
            await page.ws.close()
    cpu = (time.process_time() - cpu_before) / (time.perf_counter() - began)
    report.put(AbuserReport(closed[0], refused, len(extra), sockets_took, cpu))


def abuser_process(plan: Abuser, ready: Any, stop: Any, report: Any) -> None:
    asyncio.run(abuse(plan, ready, stop, report))


def summary(name: str, phases: list[Phase]) -> str:
    latencies = [x for p in phases for x in p.latencies]
    probes = [x for p in phases for x in p.probes]
    return (
        f"{name}: p99 {percentile(latencies, 0.99) * 1000:.1f} ms (median {percentile(latencies, 0.5) * 1000:.1f}), "
        f"{len(latencies)} answered, {sum(p.unanswered for p in phases)} unanswered, "
        f"peak RSS {max(p.peak_rss for p in phases):.0f} MB, "
        f"server CPU {statistics.fmean(p.server_cpu for p in phases):.2f} s/s, "
        f"machine busy {statistics.fmean(p.machine_busy for p in phases):.0%}, "
        f"client loop lag p99 {max(p.lag_p99 for p in phases):.0f} ms; /healthz p99 {percentile(probes, 0.99) * 1000:.0f} ms, "
        f"max {max(probes, default=float('nan')) * 1000:.0f} ms  [{'; '.join(p.load for p in phases)}]"
    )


async def run(args: argparse.Namespace) -> None:
    workdir = Path(tempfile.mkdtemp(prefix="waymark-abuse-"))
    url = f"sqlite:///{workdir / 'bench.db'}"
    sessions = signed_in_pupils(url, args.pupils + 1)
    server = contextlib.AsyncExitStack()  # the server is stopped in `finally` below
    try:
        proc = await server.enter_async_context(waymark_run(url, workdir))  # bench/server.py
        base, host, port = proc.base, "127.0.0.1", proc.port
        context = multiprocessing.get_context("spawn")  # the abuser has its own process and event loop
        phases: list[Phase] = []
        # /healthz on one connection kept open throughout: a new one would wait for a place while
        # the abuser holds them all, which is the connection limit at work, not a stall of the loop.
        probing = aiohttp.ClientSession(connector=aiohttp.TCPConnector(limit=1, keepalive_timeout=3600))
        async with probing, aiohttp.ClientSession(connector=aiohttp.TCPConnector(limit=0)) as http:
            pupils = [await open_page(http, base, t, c) for t, c in sessions[:-1]]
            # A few seconds not counted: each pupil's first messages load the conversations and warm
            # the database's cache, which otherwise land in the floor and make it look worse than the abuse.
            await chat_phase(pupils, args.warmup, proc.pid, False, probing, base)
            rss_start = rss_mb(proc.pid)
            plan = Abuser(base, host, port, args.idle, args.sockets, *sessions[-1])
            reports: list[AbuserReport] = []
            opening_cpu: list[float] = []  # the server's CPU s/s while the chat pages are tried

            @contextlib.asynccontextmanager
            async def abusing() -> AsyncIterator[None]:
                """The abuser in its own process for the block, once its pages are tried and its idle
                connections have had `settle` seconds to fill the server's places."""
                ready, stop, report = context.Event(), context.Event(), context.Queue()
                abuser = context.Process(target=abuser_process, args=(plan, ready, stop, report))
                cpu_before, began = cpu_seconds(proc.pid), time.perf_counter()
                abuser.start()
                await asyncio.to_thread(ready.wait, 120)
                opening_cpu.append((cpu_seconds(proc.pid) - cpu_before) / (time.perf_counter() - began))
                await asyncio.sleep(args.settle)
                yield
                stop.set()
                reports.append(await asyncio.to_thread(report.get, True, 60))
                await asyncio.to_thread(abuser.join, 30)

            # What the abuse alone costs the server, with the pupils' pages open and silent: CPU does
            # not depend on how busy the shared machine is, as latency does.
            quiet_cpu = await server_cpu_over(proc.pid, args.seconds)
            async with abusing():
                abuse_cpu = await server_cpu_over(proc.pid, args.seconds)  # a whole header timeout or more
            # Floor and abuse in turns, so a burst of load from elsewhere on a shared machine falls
            # on both kinds alike rather than on one whole phase.
            for _ in range(args.rounds):
                phases.append(await chat_phase(pupils, args.seconds, proc.pid, False, probing, base))
                async with abusing():
                    phases.append(await chat_phase(pupils, args.seconds, proc.pid, True, probing, base))
            for page in pupils:
                await page.ws.close()
        rss_end = rss_mb(proc.pid)
        print()
        print(
            f"server: `waymark run` (pid {proc.pid}), SQLite; {args.pupils} pupils, one message a second each; "
            f"{args.rounds} rounds of {args.seconds:.0f} s alone then {args.seconds:.0f} s under the abuse"
        )
        print(
            f"no one talking: server CPU {quiet_cpu:.3f} s/s alone, {abuse_cpu:.3f} s/s under the abuse "
            f"(the abuse's own cost)  [{load()}]"
        )
        print(summary("floor (pupils alone)", [p for p in phases if not p.abused]))
        print(
            summary(
                f"abuse ({args.idle} idle connections + {args.sockets} sockets on one session)",
                [p for p in phases if p.abused],
            )
        )
        print(
            f"goal: p99 < 150 ms and memory flat; RSS {rss_start:.0f} MB after the {args.warmup:.0f} s warm-up, "
            f"{rss_end:.0f} MB after  [{load()}]"
        )
        last = reports[-1]
        print(
            f"the abuser (its own process, up to {max(r.cpu for r in reports):.2f} CPU s/s): "
            f"{sum(r.closed for r in reports)} idle connections closed or refused by the server; "
            f"{last.refused} of {args.sockets} chat pages refused (429, or closed at the connection limit), "
            f"{last.opened} opened; trying them took {statistics.fmean(r.sockets_took for r in reports):.1f} s, "
            f"the server {statistics.fmean(opening_cpu):.2f} CPU s/s meanwhile"
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
    parser.add_argument("--seconds", type=float, default=10, help="each phase")
    parser.add_argument("--rounds", type=int, default=2, help="floor-then-abuse rounds")
    parser.add_argument("--settle", type=float, default=2, help="seconds of abuse before measuring it")
    parser.add_argument("--warmup", type=float, default=5, help="seconds of chat before the floor, not counted")
    parser.add_argument("--keep", action="store_true", help="keep the database and server log")
    asyncio.run(run(parser.parse_args()))


if __name__ == "__main__":
    main()
