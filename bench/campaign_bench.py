"""Benchmark: the yearly check-in campaign through the fake Telegram server (not part of the tests).

    .venv/bin/python bench/campaign_bench.py                 # 100,000 unlimited + 3,000 at 30 msg/s
    .venv/bin/python bench/campaign_bench.py --alumni 20000 --limited 0 --lanes 8 --http httpx
    .venv/bin/python bench/campaign_bench.py --alumni 10000 --limited 0 --profile /tmp/send.prof

Part 1: a campaign to N alumni with Telegram's 30 msg/s limit lifted. The campaign's own decision
run (scheduler.campaign.run_checkins) queues the check-ins, then the real sender delivers them
through python-telegram-bot (on bot.channels.telegram.request.AiohttpRequest, or httpx with --http httpx)
to the fake Bot API, which runs in a process of its own so that its
CPU is not counted as ours. Prints time and CPU per message, and the sender process's memory
(sampled every second: it should stay flat, as rows are streamed in small batches).

Part 2: M alumni with the limit in place (the sender's defaults: 30 msg/s, one lane): the
sustained rate the fake server saw, as a share of 30 msg/s.
"""

from __future__ import annotations

import argparse
import asyncio
import multiprocessing as mp
import os
import resource
import sys
import tempfile
import time
from datetime import date, timedelta
from multiprocessing.connection import Connection
from pathlib import Path

sys.path.insert(0, str(Path(__file__).resolve().parents[1]))
os.environ.setdefault("PTB_TIMEDELTA", "1")
os.environ["NO_PROXY"] = "127.0.0.1,localhost"

import handlers  # noqa: F401  (before scheduler.campaign: they import each other)
from core.calendar import leaving_range, nominal_start, scheduled_campaign_year
from core.platforms import SendLimits
from core.settings import Settings, load_settings
from scheduler.campaign import run_checkins
from scheduler.sender import Sender
from storage import seed
from storage.db import make_engine, transaction
from storage.migrate import upgrade
from storage.models import utcnow
from storage.outbox import count_by_status

FIRST_CHAT = 1_000_000


def fake_server(conn: Connection) -> None:
    """The fake Bot API in its own process; answers 'stats' with (sends, first, last arrival times)."""
    from tests.fakes.telegram_api import FakeTelegram

    fake = FakeTelegram()
    fake.start_in_thread()
    conn.send((fake.token, fake.base_url))
    while True:
        request = conn.recv()
        if request == "stop":
            fake.stop_thread()
            conn.send("stopped")
            return
        sends = [c.at for c in fake.calls_of("sendMessage") if c.ok]
        distinct = len({c.chat_id for c in fake.calls_of("sendMessage") if c.ok})
        conn.send((len(sends), distinct, min(sends, default=0.0), max(sends, default=0.0), time.process_time()))
        if request == "reset":
            with fake._lock:
                fake.calls.clear()


def open_window(today: date) -> Settings:
    for back in range(40):
        start = today - timedelta(days=back)
        if start.day <= 28:
            settings = load_settings(campaign_start_month=start.month, campaign_start_day=start.day, quiet_hours=False)
            if scheduled_campaign_year(today, settings.campaign) is not None:
                return settings
    raise SystemExit("could not open a campaign window today")


def seed_alumni(engine, settings: Settings, n: int, first_chat: int) -> None:  # type: ignore[no-untyped-def]
    """n consenting alumni with Telegram accounts, inserted in bulk (benchmark set-up, not product code)."""
    today = utcnow().astimezone(settings.zone).date()
    year = scheduled_campaign_year(today, settings.campaign)
    assert year is not None
    leaving = max(
        leaving_range(year, settings.campaign)[0], nominal_start(year, settings.campaign) - timedelta(days=100)
    )
    with transaction(engine) as session:
        school = seed.school(session, "Bench Academy")
        school_id = school.id
    assert school_id is not None
    step = 5000
    for start in range(0, n, step):
        with transaction(engine) as session:
            seed.consenting_alumni(
                session, school_id, min(n, start + step) - start, leaving=leaving, first_chat=first_chat + start
            )


def rss_mb() -> float:
    with open("/proc/self/statm") as f:
        return int(f.read().split()[1]) * os.sysconf("SC_PAGE_SIZE") / 1e6


async def deliver(
    engine, base_url: str, token: str, *, lanes: int, unlimited: bool, http: str
) -> tuple[float, float, list[float], Sender]:  # type: ignore[no-untyped-def]
    from telegram import Bot
    from telegram.request import BaseRequest, HTTPXRequest

    from bot.channels.telegram.request import AiohttpRequest
    from bot.channels.telegram.transport import TelegramTransport

    request: BaseRequest
    if http == "httpx":  # python-telegram-bot's default, for comparison
        request = HTTPXRequest(connection_pool_size=max(8, lanes))
    else:
        request = AiohttpRequest(max(8, lanes), pool_timeout=10.0)
    bot = Bot(token, base_url=base_url, request=request)
    samples: list[float] = []
    async with bot:
        limits = {"telegram": SendLimits(per_second=None)} if unlimited else None
        sender = Sender(engine, {"telegram": TelegramTransport(bot)}, limits=limits, lanes=lanes, poll_interval=0.05)

        async def sample() -> None:
            while True:
                samples.append(rss_mb())
                await asyncio.sleep(1.0)

        sampler = asyncio.create_task(sample())
        cpu0, t0 = time.process_time(), time.perf_counter()
        settled = await sender.run_until_settled(timeout=3600, check_every=0.5)
        wall, cpu = time.perf_counter() - t0, time.process_time() - cpu0
        sampler.cancel()
        assert settled, "the outbox did not drain"
    return wall, cpu, samples, sender


def part(
    label: str,
    n: int,
    first_chat: int,
    *,
    lanes: int,
    unlimited: bool,
    db_url: str | None,
    conn: Connection,
    token: str,
    base_url: str,
    http: str,
    profile: str | None = None,
) -> None:
    tmp = tempfile.mkdtemp(prefix="waymark-bench-")
    url = db_url or f"sqlite:///{tmp}/bench.db"
    settings = open_window(utcnow().astimezone(load_settings().zone).date())
    engine = make_engine(url)
    upgrade(engine)
    t = time.perf_counter()
    seed_alumni(engine, settings, n, first_chat)
    seeded = time.perf_counter() - t
    t, cpu0 = time.perf_counter(), time.process_time()
    result = run_checkins(engine, settings, utcnow())
    queued, queue_cpu = time.perf_counter() - t, time.process_time() - cpu0
    print(f"\n== {label}: {n:,} alumni ({engine.dialect.name}) ==")
    print(
        f"seeded in {seeded:.1f} s; campaign decision queued {result.sent:,} check-ins in {queued:.1f} s "
        f"({queue_cpu / max(1, result.sent) * 1e6:.0f} µs CPU each)"
    )
    rss_before = rss_mb()
    conn.send("stats")
    *_, server_cpu0 = conn.recv()
    run = deliver(engine, base_url, token, lanes=lanes, unlimited=unlimited, http=http)
    if profile and unlimited:
        import cProfile

        profiler = cProfile.Profile()
        wall, cpu, samples, sender = profiler.runcall(asyncio.run, run)
        profiler.dump_stats(profile)
        print(f"profile written to {profile} (timings inflated by the profiler)")
    else:
        wall, cpu, samples, sender = asyncio.run(run)
    conn.send("reset")
    sends, distinct, first, last, server_cpu1 = conn.recv()
    with transaction(engine, write=False) as session:
        statuses = count_by_status(session, "telegram")
    print(f"sent {sender.stats.sent:,} (fake server received {sends:,} to {distinct:,} chats); outbox: {statuses}")
    print(
        f"time {wall:.1f} s = {sender.stats.sent / wall:,.0f} msg/s; sender CPU {cpu:.1f} s = "
        f"{cpu / max(1, sender.stats.sent) * 1e6:.0f} µs per message ({lanes} lane(s)); "
        f"fake server CPU {server_cpu1 - server_cpu0:.1f} s; load average {os.getloadavg()[0]:.2f}"
    )
    print(
        f"sender memory: {rss_before:.0f} MB before sending, samples min {min(samples):.0f} / max {max(samples):.0f} MB; "
        f"peak RSS of the process {resource.getrusage(resource.RUSAGE_SELF).ru_maxrss / 1e3:.0f} MB"
    )
    if not unlimited and sends > 1:
        rate = (sends - 1) / (last - first)
        print(f"sustained rate at the server: {rate:.2f} msg/s = {rate / 30 * 100:.1f}% of 30 msg/s")
    engine.dispose()


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    parser.add_argument("--alumni", type=int, default=100_000, help="part 1 size (limit lifted)")
    parser.add_argument("--limited", type=int, default=3_000, help="part 2 size (30 msg/s); 0 skips")
    parser.add_argument("--lanes", type=int, default=64, help="sender lanes for part 1 (default 64)")
    parser.add_argument("--http", choices=("aiohttp", "httpx"), default="aiohttp", help="HTTP layer under the Bot")
    parser.add_argument("--profile", metavar="FILE", help="cProfile the sending of part 1 into FILE")
    parser.add_argument("--database-url", default=None, help="default: a temporary SQLite file per part")
    args = parser.parse_args()

    here, there = mp.Pipe()
    server = mp.get_context("spawn").Process(target=fake_server, args=(there,), daemon=True)
    server.start()
    token, base_url = here.recv()
    try:
        if args.alumni:
            part(
                "limit lifted",
                args.alumni,
                FIRST_CHAT,
                lanes=args.lanes,
                unlimited=True,
                db_url=args.database_url,
                conn=here,
                token=token,
                base_url=base_url,
                http=args.http,
                profile=args.profile,
            )
        if args.limited:
            part(
                "Telegram's 30 msg/s in place",
                args.limited,
                FIRST_CHAT + 10_000_000,
                lanes=1,
                unlimited=False,
                db_url=args.database_url,
                conn=here,
                token=token,
                base_url=base_url,
                http=args.http,
            )
    finally:
        here.send("stop")
        here.recv()
        server.join(10)


if __name__ == "__main__":
    main()
