"""Web chat benchmarks against one real `waymark run` process, in two modes.

    .venv/bin/python bench/web_bench.py pages            # 1,000 open pages, 100 sending one message a second, 30 s
    .venv/bin/python bench/web_bench.py pages --pages 200 --senders 20 --seconds 10
    .venv/bin/python bench/web_bench.py lesson --postgres postgresql://postgres@127.0.0.1:5432/test
    .venv/bin/python bench/web_bench.py lesson --quick   # 50 pupils, 20 s: under a minute, SQLite only

**pages**: seeds a temporary SQLite database with pupils, web chat accounts and sessions (through
storage/), opens one WebSocket per page like the chat page does, and lets the talking pages send
open-loop: each sends one message a second on a fixed schedule whether or not the last one was
answered, so a slow server shows up as growing latency instead of fewer messages. Each message carries
its own id in its text; its latency is the time from sending it to the bot's answer to that message
arriving on the page. Prints messages per second, latency percentiles, the server's memory and CPU,
and the weight of the chat page (HTML + CSS + JS) for a new pupil and for one with a conversation of
50-odd lines.

**lesson** (the careers-lesson burst): a class-load of pupils (300) sign in within 60 s, each with
their own code through the real sign-in form (GET, then POST with the form's CSRF token, in a
browser-like cookie jar), open the chat's WebSocket, and take a guided reflection's five steps
(Reflect, what they did, a skill, Done, what they learned) at human pace over five minutes. On SQLite,
and on PostgreSQL with `--postgres` (a schema of its own), then the floor: the same clients against a
bare aiohttp WebSocket echo server (bench/server.py). A step's latency is from sending it to the bot's
answer arriving; the reflection follows the choices the bot offers, so a reworded flow still runs.
Prints steps answered, p50/p99, server CPU per step and memory, with the load average beside each.

Not a test: it prints figures.
"""

from __future__ import annotations

import argparse
import asyncio
import os
import random
import re
import secrets
import shutil
import statistics
import sys
import tempfile
import time
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

import aiohttp
from sqlmodel import select

ROOT = Path(__file__).resolve().parent.parent
sys.path.insert(0, str(ROOT))

from bench.server import (  # noqa: E402
    CODE_SECRET,
    cpu_seconds,
    database,
    echo_server,
    load_average,
    rss_mb,
    waymark_run,
)
from storage import codes, identities, seed, websessions  # noqa: E402
from storage.db import make_engine, transaction  # noqa: E402
from storage.migrate import upgrade  # noqa: E402
from storage.models import WebSession, utcnow  # noqa: E402


def signed_in_pupils(url: str, pages: int) -> list[tuple[str, str]]:
    """Pupils with a signed-in web chat each: [(session token, csrf token)]."""
    engine = make_engine(url)
    upgrade(engine)
    now = utcnow()
    tokens: list[tuple[str, str]] = []
    with transaction(engine) as s:
        school = seed.school(s, "Bench Academy")
        assert school.id is not None
        people = seed.numbered_pupils(s, school.id, pages, year_group=10)
        for person in people:
            assert person.id is not None
            external_id = websessions.new_external_id()
            identities.link(s, person, "web", external_id, external_id, now)
            token = websessions.create(s, person.id, external_id, now)
            tokens.append((token, ""))
        s.flush()
        by_hash = {row.token_hash: row.csrf_token for row in s.exec(select(WebSession)).all()}
    engine.dispose()
    return [(token, by_hash[websessions.token_hash(token)]) for token, _ in tokens]


async def page_weight(base: str, token: str) -> dict[str, int]:
    sizes: dict[str, int] = {}
    async with aiohttp.ClientSession(cookies={"wm_session": token}) as http:
        for name, path in (
            ("HTML", "/chat"),
            ("CSS", "/static/app.css"),
            ("JS", "/static/chat.js"),
            ("icon", "/static/icon.svg"),
        ):
            async with http.get(base + path, allow_redirects=False) as r:
                sizes[name] = len(await r.read())
    return sizes


MESSAGE_ID = re.compile(r"\[m:([0-9a-f]+)\]")


class Page:
    """One open chat page: what it sent, and when each answer arrived."""

    def __init__(self, ws: aiohttp.ClientWebSocketResponse) -> None:
        self.ws = ws
        self.sent: dict[str, float] = {}  # message id -> when it was sent, until answered
        self.latencies: list[float] = []
        self.answered = asyncio.Event()

    async def listen(self) -> None:
        asking: str | None = None  # the message the next bot line answers
        async for msg in self.ws:
            if msg.type != aiohttp.WSMsgType.TEXT:
                continue
            arrived = time.perf_counter()
            data = msg.json()
            if data.get("type") != "lines":
                continue
            for line in data["lines"]:
                if line["dir"] == "in":
                    found = MESSAGE_ID.search(line["text"])
                    asking = found.group(1) if found else None
                elif asking is not None:
                    sent = self.sent.pop(asking, None)
                    if sent is not None:
                        self.latencies.append(arrived - sent)
                    asking = None
                    self.answered.set()

    async def say(self, text: str) -> None:
        message_id = secrets.token_hex(6)
        self.sent[message_id] = time.perf_counter()
        await self.ws.send_json({"text": f"{text} [m:{message_id}]", "mid": message_id})


async def open_page(http: aiohttp.ClientSession, base: str, token: str, csrf: str) -> Page:
    ws = await http.ws_connect(
        f"{base.replace('http', 'ws', 1)}/ws?csrf={csrf}&after=0",
        headers={"Cookie": f"wm_session={token}"},
        origin=base,
        heartbeat=None,
    )
    page = Page(ws)
    asyncio.get_running_loop().create_task(page.listen())
    return page


async def sender(page: Page, seconds: float, start: float) -> int:
    """Open loop: one message a second on the schedule, never waiting for answers. Returns how many."""
    tick, n = start, 0
    while tick < start + seconds:
        await asyncio.sleep(max(0.0, tick - time.perf_counter()))
        n += 1
        await page.say(f"Helped at the open evening, message {n}")
        tick += 1.0
    return n


# A pupil's usual visits, sent one by one to build a realistic conversation for the page weight.
CONVERSATION = [
    "/reflect",
    "Helped run the Year 7 science club at lunchtime, setting up experiments",
    "/cancel",
    "/record",
    "/help",
]


async def converse(page: Page, rounds: int) -> None:
    for _ in range(rounds):
        for text in CONVERSATION:
            page.answered.clear()
            await page.say(text)
            await asyncio.wait_for(page.answered.wait(), timeout=30)
    await asyncio.sleep(0.5)  # any further lines of the last answer


async def run_pages(args: argparse.Namespace) -> None:
    workdir = Path(tempfile.mkdtemp(prefix="waymark-bench-"))
    url = f"sqlite:///{workdir / 'bench.db'}"
    print(f"seeding {args.pages} pupils with web sessions in {url} ...")
    sessions = signed_in_pupils(url, args.pages + 1)  # the last one builds a conversation for the page weight
    try:
        # The server's default limit (800 connections at once) is below the pages this opens.
        limit = {"WAYMARK_HTTP_MAX_CONNECTIONS": str(args.pages + 200)}
        async with waymark_run(url, workdir, settings=limit) as server:
            await pages_under_load(args, server.base, server.pid, sessions)
    finally:
        if not args.keep:
            shutil.rmtree(workdir, ignore_errors=True)
        else:
            print(f"kept {workdir}")


async def pages_under_load(args: argparse.Namespace, base: str, pid: int, sessions: list[tuple[str, str]]) -> None:
    rss_idle = rss_mb(pid)
    talker_sessions, (chatty_token, chatty_csrf) = sessions[:-1], sessions[-1]
    weight = await page_weight(base, talker_sessions[0][0])
    connector = aiohttp.TCPConnector(limit=0)
    async with aiohttp.ClientSession(connector=connector) as http:
        chatty = await open_page(http, base, chatty_token, chatty_csrf)
        await converse(chatty, rounds=args.conversation_rounds)
        await chatty.ws.close()
        weight_chatty = await page_weight(base, chatty_token)
        async with http.get(base + "/chat", headers={"Cookie": f"wm_session={chatty_token}"}) as r:
            chatty_lines = (await r.text()).count('<li class="msg')
        opened = time.perf_counter()
        pages: list[Page] = []
        for start in range(0, len(talker_sessions), 100):
            pages += await asyncio.gather(
                *(open_page(http, base, t, c) for t, c in talker_sessions[start : start + 100])
            )
        open_seconds = time.perf_counter() - opened
        await asyncio.sleep(1.0)
        rss_open = rss_mb(pid)
        peak = [rss_open]

        async def sample() -> None:
            while True:
                peak[0] = max(peak[0], rss_mb(pid))
                await asyncio.sleep(0.5)

        sampler = asyncio.create_task(sample())
        began = time.perf_counter() + 0.2
        cpu_before = cpu_seconds(pid)
        talkers = pages[: args.senders]
        # Spread the senders over the second, as real people would be.
        counts = await asyncio.gather(
            *(sender(p, args.seconds, began + i / max(1, len(talkers))) for i, p in enumerate(talkers))
        )
        sent_total = sum(counts)
        deadline = time.perf_counter() + 10  # late answers still count, up to 10 s after the last send
        while any(p.sent for p in talkers) and time.perf_counter() < deadline:
            await asyncio.sleep(0.1)
        elapsed = time.perf_counter() - began
        cpu_used = cpu_seconds(pid) - cpu_before
        sampler.cancel()
        unanswered = sum(len(p.sent) for p in talkers)
        still_open = sum(1 for p in pages if not p.ws.closed)
        for page in pages:
            await page.ws.close()
    lat = sorted(x for p in talkers for x in p.latencies)

    def pct(q: float) -> float:
        return lat[min(len(lat) - 1, int(q * len(lat)))] * 1000 if lat else float("nan")

    def weighs(w: dict[str, int]) -> str:
        total = w["HTML"] + w["CSS"] + w["JS"]
        return (
            f"HTML {w['HTML'] / 1024:.1f} KB + CSS {w['CSS'] / 1024:.1f} KB + JS {w['JS'] / 1024:.1f} KB"
            f" = {total / 1024:.1f} KB"
        )

    print()
    print(f"server: `waymark run` (pid {pid}), SQLite, {os.cpu_count()} cores; {load_average()}")
    print(
        f"open chat pages (WebSockets): {len(pages)} opened in {open_seconds:.1f} s, {still_open} still open at the end"
    )
    print(f"senders: {len(talkers)}, one message a second each on a schedule (open loop), for {args.seconds:.0f} s")
    print(
        f"messages: {sent_total} sent, {len(lat)} answered ({len(lat) / elapsed:.1f} messages/s), "
        f"{unanswered} unanswered 10 s after the last send"
    )
    print(
        f"latency send -> answer on the page: p50 {pct(0.50):.1f} ms, p90 {pct(0.90):.1f} ms, "
        f"p99 {pct(0.99):.1f} ms, max {lat[-1] * 1000 if lat else float('nan'):.1f} ms, "
        f"mean {statistics.fmean(lat) * 1000 if lat else float('nan'):.1f} ms  (goal: p99 < 150 ms)"
    )
    print(
        f"server CPU during the load: {cpu_used:.1f} s in {elapsed:.1f} s ({100 * cpu_used / elapsed:.0f}% of one core)"
    )
    print(f"server memory (RSS): {rss_idle:.0f} MB idle, {rss_open:.0f} MB with pages open, {peak[0]:.0f} MB peak")
    print(f"at the end: {load_average()}")
    print(f"page weight, new pupil: {weighs(weight)} (goal < 100 KB; icon {weight['icon']} B)")
    print(f"page weight, {chatty_lines}-line conversation: {weighs(weight_chatty)}")


# --- the careers-lesson burst -----------------------------------------------------------------------

LESSON_STEPS = 5
QUICK = {"pupils": 50, "signin_seconds": 5.0, "minutes": 1 / 3}  # --quick: SQLite and the floor in under a minute


def pupils_with_codes(url: str, count: int) -> list[str]:
    engine = make_engine(url)
    upgrade(engine)
    with transaction(engine) as s:
        school = seed.school(s, "Lesson Academy")
        assert school.id is not None
        people = seed.numbered_pupils(s, school.id, count, year_group=9)
        issued = [codes.issue(s, person, days=1, secret=CODE_SECRET).code for person in people]
    engine.dispose()
    return issued


@dataclass
class Pupil:
    code: str
    latencies: list[float] = field(default_factory=list)
    answered: int = 0
    buttons: list[dict[str, str]] = field(default_factory=list)
    problem: str = ""


def _form_csrf(page: str) -> str:
    return page.split('name="csrf" value="', 1)[1].split('"', 1)[0] if 'name="csrf" value="' in page else ""


async def take_lesson(pupil: Pupil, base: str, signin_at: float, step_gap: float, waymark: bool) -> None:
    """Sign in (Waymark only), open the chat, and take the five steps at human pace."""
    async with aiohttp.ClientSession(cookie_jar=aiohttp.CookieJar(unsafe=True)) as http:
        await asyncio.sleep(max(0.0, signin_at - time.perf_counter()))
        csrf = ""
        if waymark:
            async with http.get(f"{base}/signin") as r:
                form = await r.text()
            async with http.post(f"{base}/signin", data={"code": pupil.code, "csrf": _form_csrf(form)}) as r:
                page = await r.text()
            csrf = _form_csrf(page)
            if not csrf or "/signout" not in page:
                pupil.problem = "sign-in failed"
                return
        ws = await http.ws_connect(f"{base.replace('http', 'ws', 1)}/ws?csrf={csrf}&after=0", origin=base)
        answer: asyncio.Queue[float] = asyncio.Queue()

        async def listen() -> None:
            async for msg in ws:
                data = msg.json()
                if data.get("type") != "lines":
                    continue
                outs = [line for line in data["lines"] if line["dir"] == "out"]
                for line in outs:
                    if line.get("buttons"):
                        pupil.buttons = [b for row in line["buttons"] for b in row]
                if outs:
                    answer.put_nowait(time.perf_counter())

        listener = asyncio.create_task(listen())
        await asyncio.sleep(0.5)
        while not answer.empty():  # the welcome and anything else before the first step
            answer.get_nowait()
        plan: list[dict[str, Any]] = [
            {"button": "/reflect"},
            {"text": "Helped run the Year 9 careers stall at lunchtime"},
            {"choose": "first"},
            {"choose": "Done"},
            {"text": "I can talk to adults I don't know"},
        ]
        for step in plan:
            await asyncio.sleep(step_gap * random.uniform(0.7, 1.3))
            if "choose" in step:
                done = [b for b in pupil.buttons if b["label"] == "Done"]
                offered = [b for b in pupil.buttons if b["label"] != "Done"] if step["choose"] == "first" else done
                step = {"button": offered[0]["data"]} if offered else {"text": step["choose"]}
            sent = time.perf_counter()
            await ws.send_json({**step, "mid": secrets.token_hex(6)})
            try:
                arrived = await asyncio.wait_for(answer.get(), timeout=30)
            except TimeoutError:
                continue
            pupil.latencies.append(arrived - sent)
            pupil.answered += 1
            await asyncio.sleep(0.2)
            while not answer.empty():  # further lines of the same answer
                answer.get_nowait()
        await ws.close()
        listener.cancel()


@dataclass
class LessonResult:
    answered: int
    steps: int
    failed: int
    p50_ms: float
    p99_ms: float
    max_ms: float
    cpu_s: float
    elapsed_s: float
    rss_start: float
    rss_peak: float
    load: str

    @property
    def cpu_ms_per_step(self) -> float:
        return 1000 * self.cpu_s / self.answered if self.answered else float("nan")

    def line(self) -> str:
        return (
            f"{self.answered} of {self.steps} steps answered ({self.failed} sign-ins failed); "
            f"p50 {self.p50_ms:.1f} ms, p99 {self.p99_ms:.1f} ms, max {self.max_ms:.1f} ms; "
            f"server CPU {self.cpu_s:.1f} s in {self.elapsed_s:.0f} s ({self.cpu_ms_per_step:.2f} ms per step, "
            f"sign-ins included); memory {self.rss_start:.0f} -> {self.rss_peak:.0f} MB peak; {self.load}"
        )


async def lesson(base: str, pid: int, pupil_codes: list[str], args: argparse.Namespace, waymark: bool) -> LessonResult:
    pupils = [Pupil(code) for code in pupil_codes]
    step_gap = (args.minutes * 60 - args.signin_seconds) / LESSON_STEPS
    start = time.perf_counter() + 0.5
    cpu_before, rss_before = cpu_seconds(pid), rss_mb(pid)
    peak = [rss_before]

    async def sample() -> None:
        while True:
            peak[0] = max(peak[0], rss_mb(pid))
            await asyncio.sleep(1.0)

    sampler = asyncio.create_task(sample())
    await asyncio.gather(
        *(
            take_lesson(p, base, start + args.signin_seconds * i / len(pupils), step_gap, waymark)
            for i, p in enumerate(pupils)
        )
    )
    elapsed = time.perf_counter() - start
    cpu = cpu_seconds(pid) - cpu_before
    sampler.cancel()
    lat = sorted(x for p in pupils for x in p.latencies)

    def pct(q: float) -> float:
        return lat[min(len(lat) - 1, int(q * len(lat)))] * 1000 if lat else float("nan")

    return LessonResult(
        answered=sum(p.answered for p in pupils),
        steps=len(pupils) * LESSON_STEPS,
        failed=sum(1 for p in pupils if p.problem),
        p50_ms=pct(0.5),
        p99_ms=pct(0.99),
        max_ms=lat[-1] * 1000 if lat else float("nan"),
        cpu_s=cpu,
        elapsed_s=elapsed,
        rss_start=rss_before,
        rss_peak=peak[0],
        load=load_average(),
    )


async def run_lesson(args: argparse.Namespace) -> None:
    if args.quick:
        for name, value in QUICK.items():
            setattr(args, name, value)
    how = (
        f"{args.pupils} pupils signing in over {args.signin_seconds:.0f} s, five steps each over "
        f"{args.minutes * 60:.0f} s, one process"
    )
    workdir = Path(tempfile.mkdtemp(prefix="waymark-lesson-"))
    results: list[tuple[str, LessonResult]] = []
    try:
        for postgres in [*([""] if not args.no_sqlite else []), *([args.postgres] if args.postgres else [])]:
            with database(postgres, workdir, "lesson") as (url, kind):
                print(f"seeding {args.pupils} pupils with sign-in codes ({kind}) ...  {load_average()}")
                pupil_codes = pupils_with_codes(url, args.pupils)
                profile = Path(args.profile.replace("KIND", kind.lower())) if args.profile else None
                async with waymark_run(url, workdir, profile) as server:
                    result = await lesson(server.base, server.pid, pupil_codes, args, True)
                print(f"Waymark ({kind}), {how}: {result.line()}")
                results.append((f"Waymark, {kind}", result))
        async with echo_server(workdir) as echo:
            floor = await lesson(echo.base, echo.pid, pupil_codes, args, False)
        print(f"floor: bare aiohttp echo, same clients: {floor.line()}")
        print()
        print(f"{'':22} {'answered':>12} {'p99 ms':>8} {'CPU ms/step':>12} {'x floor':>8}  load average")
        for name, r in [*results, ("floor (aiohttp echo)", floor)]:
            times = r.cpu_ms_per_step / floor.cpu_ms_per_step if floor.cpu_ms_per_step else float("nan")
            print(
                f"{name:22} {r.answered:>5}/{r.steps:<6} {r.p99_ms:>8.1f} {r.cpu_ms_per_step:>12.2f} {times:>8.1f}  "
                f"{r.load.removeprefix('load average ')}"
            )
        print("goal: every step answered, p99 < 150 ms")
    finally:
        if args.keep:
            print(f"kept {workdir}")
        else:
            shutil.rmtree(workdir, ignore_errors=True)


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    modes = parser.add_subparsers(dest="mode")
    pages = modes.add_parser("pages", help="many open chat pages, some talking (the default)")
    pages.add_argument("--pages", type=int, default=1000)
    pages.add_argument("--senders", type=int, default=100)
    pages.add_argument("--seconds", type=float, default=30)
    pages.add_argument("--conversation-rounds", type=int, default=5, help="rounds of 5 messages for the page weight")
    lesson_mode = modes.add_parser("lesson", help="the careers-lesson burst, and the echo floor")
    lesson_mode.add_argument("--pupils", type=int, default=300)
    lesson_mode.add_argument("--signin-seconds", type=float, default=60)
    lesson_mode.add_argument("--minutes", type=float, default=5, help="the lesson: sign-in and all five steps")
    lesson_mode.add_argument("--postgres", default="", help="also on this PostgreSQL database (a schema of its own)")
    lesson_mode.add_argument(
        "--profile", default="", help="run Waymark under cProfile into this file (KIND in it: sqlite or postgresql)"
    )
    lesson_mode.add_argument("--no-sqlite", action="store_true", help="PostgreSQL (and the floor) only")
    lesson_mode.add_argument("--quick", action="store_true", help="50 pupils over 20 s: a run under a minute")
    for mode in (pages, lesson_mode):
        mode.add_argument("--keep", action="store_true", help="keep the work folder and the servers' logs")
    argv = sys.argv[1:]
    args = parser.parse_args(argv if argv[:1] in (["pages"], ["lesson"], ["-h"], ["--help"]) else ["pages", *argv])
    asyncio.run(run_lesson(args) if args.mode == "lesson" else run_pages(args))


if __name__ == "__main__":
    main()
