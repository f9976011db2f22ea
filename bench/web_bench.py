"""Web chat benchmark: one `waymark run` process holding many open chat pages while some of them talk.

    .venv/bin/python bench/web_bench.py                   # 1,000 pages, 100 sending one message a second, 30 s
    .venv/bin/python bench/web_bench.py --pages 200 --senders 20 --seconds 10

Seeds a temporary SQLite database with pupils, web chat accounts and sessions (through storage/),
starts the real `waymark run` on it as a subprocess (loopback, a free port), opens one WebSocket per
page like the chat page does, and lets the talking pages send open-loop: each sends one message a
second on a fixed schedule whether or not the last one was answered, so a slow server shows up as
growing latency instead of fewer messages. Each message carries its own id in its text; its latency
is the time from sending it to the bot's answer to that message arriving on the page.

Prints messages per second, latency percentiles, the server's memory and CPU, and the weight of the
chat page (HTML + CSS + JS) for a new pupil and for one with a conversation of 50-odd lines.
Not a test: it prints figures.
"""

from __future__ import annotations

import argparse
import asyncio
import os
import re
import secrets
import shutil
import socket
import statistics
import subprocess
import sys
import tempfile
import time
from pathlib import Path

import aiohttp
from sqlmodel import select

ROOT = Path(__file__).resolve().parent.parent
sys.path.insert(0, str(ROOT))

from storage import codes, crypto, identities, seed, websessions  # noqa: E402
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


def free_port() -> int:
    with socket.socket() as sock:
        sock.bind(("127.0.0.1", 0))
        return int(sock.getsockname()[1])


# The code secret the benchmark's server is given, so codes seeded for it are issued under the same one.
CODE_SECRET = codes.new_secret()


def server_env(url: str, port: int) -> dict[str, str]:
    """The environment for a benchmark's own `waymark run` on loopback: a fresh encryption key and the
    code secret (both required since keys are checked), and no chat platforms or mail of the caller's."""
    env = {
        **os.environ,
        "WAYMARK_DATABASE_URL": url,
        "WAYMARK_HTTP_HOST": "127.0.0.1",
        "WAYMARK_HTTP_PORT": str(port),
        "WAYMARK_PUBLIC_URL": f"http://127.0.0.1:{port}",
        "WAYMARK_ENCRYPTION_KEY": crypto.new_key(),
        "WAYMARK_CODE_SECRET": CODE_SECRET,
    }
    for name in ("TELEGRAM_BOT_TOKEN", "SLACK_BOT_TOKEN", "SLACK_APP_TOKEN", "WAYMARK_SMTP_URL"):
        env.pop(name, None)
    return env


def rss_mb(pid: int) -> float:
    try:
        text = Path(f"/proc/{pid}/status").read_text()
    except OSError:
        return 0.0
    match = re.search(r"VmRSS:\s+(\d+) kB", text)
    return int(match.group(1)) / 1024 if match else 0.0


async def wait_ready(base: str, proc: subprocess.Popen[bytes], timeout: float = 60) -> None:
    deadline = time.monotonic() + timeout
    async with aiohttp.ClientSession() as http:
        while time.monotonic() < deadline:
            if proc.poll() is not None:
                raise SystemExit(f"waymark run exited with {proc.returncode}")
            try:
                async with http.get(f"{base}/healthz") as r:
                    if r.status == 200:
                        return
            except aiohttp.ClientError:
                pass
            await asyncio.sleep(0.2)
    raise SystemExit("waymark run did not start in time")


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


def cpu_seconds(pid: int) -> float:
    try:
        fields = Path(f"/proc/{pid}/stat").read_text().rsplit(")", 1)[1].split()
    except OSError:
        return 0.0
    return (int(fields[11]) + int(fields[12])) / os.sysconf("SC_CLK_TCK")  # utime + stime


async def run(args: argparse.Namespace) -> None:
    workdir = Path(tempfile.mkdtemp(prefix="waymark-bench-"))
    url = f"sqlite:///{workdir / 'bench.db'}"
    print(f"seeding {args.pages} pupils with web sessions in {url} ...")
    sessions = signed_in_pupils(url, args.pages + 1)  # the last one builds a conversation for the page weight
    port = free_port()
    env = server_env(url, port)
    waymark = shutil.which("waymark", path=str(ROOT / ".venv" / "bin")) or "waymark"
    log = open(workdir / "server.log", "wb")  # noqa: SIM115
    proc = subprocess.Popen([waymark, "run"], cwd=workdir, env=env, stdout=log, stderr=subprocess.STDOUT)
    base = f"http://127.0.0.1:{port}"
    try:
        await wait_ready(base, proc)
        rss_idle = rss_mb(proc.pid)
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
            rss_open = rss_mb(proc.pid)
            peak = [rss_open]

            async def sample() -> None:
                while True:
                    peak[0] = max(peak[0], rss_mb(proc.pid))
                    await asyncio.sleep(0.5)

            sampler = asyncio.create_task(sample())
            began = time.perf_counter() + 0.2
            cpu_before = cpu_seconds(proc.pid)
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
            cpu_used = cpu_seconds(proc.pid) - cpu_before
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
        print(f"server: `waymark run` (pid {proc.pid}), SQLite, {os.cpu_count()} cores")
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
        print(f"page weight, new pupil: {weighs(weight)} (goal < 100 KB; icon {weight['icon']} B)")
        print(f"page weight, {chatty_lines}-line conversation: {weighs(weight_chatty)}")
    finally:
        proc.terminate()
        try:
            proc.wait(timeout=20)
        except subprocess.TimeoutExpired:
            proc.kill()
            proc.wait()
        log.close()
        if not args.keep:
            shutil.rmtree(workdir, ignore_errors=True)
        else:
            print(f"kept {workdir}")


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    parser.add_argument("--pages", type=int, default=1000)
    parser.add_argument("--senders", type=int, default=100)
    parser.add_argument("--seconds", type=float, default=30)
    parser.add_argument("--conversation-rounds", type=int, default=5, help="rounds of 5 messages for the page weight")
    parser.add_argument("--keep", action="store_true", help="keep the database and server log")
    asyncio.run(run(parser.parse_args()))


if __name__ == "__main__":
    main()
